/* SPDX-License-Identifier: Apache-2.0 */
/* kapseld's own parsing of untrusted requests (the HTTP framing is libmicrohttpd's): the path with
 * its /vN.NN prefix through the router, then the body through the create-body conversion (docker's
 * Config/HostConfig/NetworkingConfig -> the engine's document), and the same bytes as an
 * X-Registry-Auth header (auth_header_decode), and POST /build's and import's parsers: the body as
 * buildargs JSON, as a build context tar (the Dockerfile lookup), as import changes (one per line),
 * and RUN output made JSON-safe. Input: "METHOD PATH\n" + body. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "oci.h"
#include "daemon.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_build(const char *body, size_t len) {
        KError *err = NULL;
        char **kv = NULL;
        (void) api_build_kv(body, "buildargs", &kv, &err);
        strv_free(kv);
        kerr_free(err);
        err = NULL;
        /* the body as a context tar */
        int fd = memfd_create("fuzz-context", MFD_CLOEXEC);
        if (fd >= 0) {
                char *df = NULL;
                size_t df_len = 0;
                if (write(fd, body, len) == (ssize_t) len)
                        (void) api_build_dockerfile(fd, NULL, &df, &df_len, &err);
                free(df);
                kerr_free(err);
                err = NULL;
                close(fd);
        }
        /* the body's lines as import changes */
        char **changes = NULL;
        for (const char *p = body; *p;) {
                size_t n = strcspn(p, "\n");
                char *line = strndup(p, n);
                if (line)
                        (void) strv_extend(&changes, line);
                free(line);
                p += n + (p[n] == '\n');
        }
        ImageConfig cfg = { 0 };
        (void) api_import_changes(changes, &cfg, &err);
        image_config_done(&cfg);
        strv_free(changes);
        kerr_free(err);
        char *out = malloc(len + 1);
        if (out)
                (void) api_utf8_clean(body, len, out, len % 2);
        free(out);
}

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
        char *raw = malloc(size - head);
        if (raw) {
                memcpy(raw, nl + 1, size - head - 1);
                raw[size - head - 1] = 0;
                fuzz_build(raw, size - head - 1);
                free(raw);
        }
        json_t *body = json_loadb((const char *) nl + 1, size - head - 1, 0, NULL);
        json_t *config = NULL;
        KError *err = NULL;
        if (api_create_body(body, &config, &err) == 0)
                json_decref(config);
        kerr_free(err);
        json_decref(body);
        return 0;
}
