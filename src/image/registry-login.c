/* SPDX-License-Identifier: Apache-2.0 */
/* `login`: one authenticated request to the registry's API root, so wrong credentials are reported
 * before they are stored. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "registry-client.h"

int registry_login(const char *server, const RegistryOptions *opts, KError **err) {
        _cleanup_free_ char *ref = NULL, *url = NULL;
        /* any repository does: token servers grant a pull scope to whoever authenticates */
        if (asprintf(&ref, "%s/kapsel-login-check:latest", server) < 0)
                return kerr(err, -ENOMEM, "login");
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        int r = registry_client_new(ref, opts, &c, err);
        if (r < 0)
                return kerr_prefix(err, r, "login to %s", server);
        if ((r = registry_client_ping(c, err)) < 0)
                return kerr_prefix(err, r, "login to %s", server);
        if (c->challenge.scheme == REGISTRY_AUTH_NONE)
                return 0;
        if (asprintf(&url, "%s/v2/", c->base) < 0)
                return kerr(err, -ENOMEM, "login");
        HttpRequest req = HTTP_REQUEST_INIT;
        req.method = "GET";
        req.url = url;
        req.max_body = REGISTRY_SMALL_REPLY_MAX;
        _cleanup_(http_response_done) HttpResponse resp = {};
        if ((r = registry_client_do(c, &req, "pull", &resp, err)) < 0)
                return kerr_prefix(err, r, "login to %s", server);
        if (resp.status != 200)
                return kerr_prefix(err, registry_client_status_error(c, &resp, url, err), "login to %s", server);
        return 0;
}
