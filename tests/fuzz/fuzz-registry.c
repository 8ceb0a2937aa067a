/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the registry client's parsers of untrusted replies (registry-parse.h): the first byte
 * picks the Content-Type hint, the rest is fed to the manifest/index parser (then platform
 * selection on an index), the WWW-Authenticate parser, the token and error-body parsers and
 * the reference parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "registry-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const content_types[] = {
        NULL, MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_LIST,
        "application/json; charset=utf-8",
};

static void fuzz_manifest(const char *text, size_t len, const char *ctype) {
        KError *e = NULL;
        RegistryManifest *m = NULL;
        if (registry_manifest_parse(text, len, ctype, &m, &e) >= 0 && m->kind == REGISTRY_MANIFEST_INDEX) {
                static const RegistryPlatform wants[] = {
                        { .os = "linux", .architecture = "amd64" },
                        { .os = "linux", .architecture = "arm", .variant = "v7" },
                        { .os = "linux", .architecture = "arm64" },
                };
                for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
                        KError *se = NULL;
                        size_t pick;
                        if (registry_index_select(m, &wants[i], &pick, &se) >= 0 && pick >= m->n_descs)
                                abort();
                        kerr_free(se);
                }
        }
        registry_manifest_free(m);
        kerr_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        const char *ctype = content_types[data[0] % (sizeof(content_types) / sizeof(content_types[0]))];
        /* the parsers that take C strings get a NUL-terminated copy */
        char *text = malloc(size);
        if (!text)
                return 0;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';

        fuzz_manifest(text, size - 1, ctype);

        RegistryChallenge c = {};
        if (registry_challenge_parse(text, &c) >= 0 && c.scheme == REGISTRY_AUTH_NONE)
                abort();
        registry_challenge_done(&c);

        char *token = NULL;
        KError *e = NULL;
        if (registry_token_parse(text, size - 1, &token, &e) >= 0)
                free(token);
        kerr_free(e);

        free(registry_error_summary(text, size - 1));

        RegistryRef r = {};
        e = NULL;
        if (registry_ref_parse(text, &r, &e) >= 0 && r.digest && !registry_digest_valid(r.digest))
                abort();
        registry_ref_done(&r);
        kerr_free(e);
        free(text);
        return 0;
}
