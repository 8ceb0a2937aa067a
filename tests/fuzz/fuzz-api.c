/* SPDX-License-Identifier: Apache-2.0 */
/* kapseld's own parsing of untrusted requests (the HTTP framing is libmicrohttpd's): the path with
 * its /vN.NN prefix through the router, then the body through the create-body conversion (docker's
 * Config/HostConfig/NetworkingConfig -> the engine's document), and the same bytes as an
 * X-Registry-Auth header (auth_header_decode). Input: "METHOD PATH\n" + body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "daemon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t head = nl ? (size_t) (nl - data) : size;
        char *line = strndup((const char *) data, head);
        if (!line)
                return 0;
        char *sp = strchr(line, ' ');
        const char *method = line, *path = sp ? sp + 1 : "/";
        if (sp)
                *sp = 0;
        const char *rest;
        char version[16];
        if (router_strip_version(path, &rest, version) == 0) {
                ApiReq rq = { 0 };
                bool known;
                (void) router_match(method, rest, &rq, &known);
                for (size_t i = 0; i < API_MAX_PARAMS; i++)
                        free(rq.params[i]);
        }
        free(line);
        if (!nl)
                return 0;
        char *hdr = strndup((const char *) nl + 1, size - head - 1);
        char *user = NULL, *password = NULL, *server = NULL;
        KError *herr = NULL;
        if (hdr)
                (void) auth_header_decode(hdr, &user, &password, &server, &herr);
        free(user), free(password), free(server), free(hdr);
        kerr_free(herr);
        json_t *body = json_loadb((const char *) nl + 1, size - head - 1, 0, NULL);
        json_t *config = NULL;
        KError *err = NULL;
        if (api_create_body(body, &config, &err) == 0)
                json_decref(config);
        kerr_free(err);
        json_decref(body);
        return 0;
}
