/* SPDX-License-Identifier: Apache-2.0 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json-util.h"
#include "string-util.h"

#define HUB_KEY "https://index.docker.io/v1/"

int auth_config_path(char **ret, KError **err) {
        const char *dir = getenv("DOCKER_CONFIG");
        int n;
        if (dir && *dir)
                n = asprintf(ret, "%s/config.json", dir);
        else {
                const char *home = getenv("HOME");
                if (!home || !*home)
                        return kerr_msg(err, KERR_USAGE, -ENOENT,
                                        "neither DOCKER_CONFIG nor HOME is set: cannot find the credentials file");
                n = asprintf(ret, "%s/.docker/config.json", home);
        }
        return n < 0 ? kerr(err, -ENOMEM, "config path") : 0;
}

int auth_server_key(const char *server, char **ret) {
        static const char *const hub[] = { "", "docker.io", "index.docker.io", "registry-1.docker.io", HUB_KEY };
        for (size_t i = 0; i < ELEMENTSOF(hub); i++)
                if (streq(server, hub[i]))
                        return (*ret = strdup(HUB_KEY)) ? 0 : -ENOMEM;
        const char *s = startswith(server, "https://") ?: startswith(server, "http://") ?: server;
        size_t n = strcspn(s, "/");
        _cleanup_free_ char *host = strndup(s, n);
        if (!host)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(hub); i++)
                if (*hub[i] && streq(host, hub[i]))
                        return (*ret = strdup(HUB_KEY)) ? 0 : -ENOMEM;
        *ret = TAKE_PTR(host);
        return 0;
}

static int decode_auth(const char *b64, const char *server, char **ret_user, char **ret_password, KError **err) {
        size_t len = strlen(b64);
        _cleanup_free_ unsigned char *plain = malloc(len / 4 * 3 + 4);
        if (!plain)
                return kerr(err, -ENOMEM, "credentials");
        int n = len % 4 == 0 ? EVP_DecodeBlock(plain, (const unsigned char *) b64, (int) len) : -1;
        if (n < 0)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "credentials for %s: \"auth\" is not base64", server);
        /* EVP_DecodeBlock counts the padding's zero bytes */
        for (size_t pad = len; pad > 0 && b64[pad - 1] == '=' && n > 0; pad--)
                n--;
        plain[n] = 0;
        char *colon = memchr(plain, ':', (size_t) n);
        if (!colon || strlen((char *) plain) != (size_t) n)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "credentials for %s: \"auth\" is not user:password", server);
        *colon = 0;
        *ret_user = strdup((char *) plain);
        *ret_password = strdup(colon + 1);
        return *ret_user && *ret_password ? 0 : kerr(err, -ENOMEM, "credentials");
}

/* The entry for `key`, or one written with a scheme and/or a path ("http://h:5000/v2/"). */
static const json_t *find_entry(const json_t *auths, const char *key) {
        const json_t *v = json_object_get(auths, key);
        if (v)
                return v;
        const char *k;
        json_t *e;
        json_object_foreach((json_t *) auths, k, e) {
                _cleanup_free_ char *norm = NULL;
                if (auth_server_key(k, &norm) >= 0 && streq(norm, key))
                        return e;
        }
        return NULL;
}

int auth_from_json(const json_t *config, const char *server, char **ret_user, char **ret_password, KError **err) {
        *ret_user = *ret_password = NULL;
        _cleanup_free_ char *key = NULL;
        if (auth_server_key(server, &key) < 0)
                return kerr(err, -ENOMEM, "credentials");
        const json_t *e = find_entry(json_object_get(config, "auths"), key);
        if (!e)
                return -ENOENT;
        const char *b64 = json_string_value(json_object_get(e, "auth"));
        if (b64 && *b64)
                return decode_auth(b64, key, ret_user, ret_password, err);
        const char *u = json_string_value(json_object_get(e, "username"));
        const char *p = json_string_value(json_object_get(e, "password"));
        if (!u || !p)
                return -ENOENT;
        *ret_user = strdup(u);
        *ret_password = strdup(p);
        return *ret_user && *ret_password ? 0 : kerr(err, -ENOMEM, "credentials");
}

/* The parsed file, or an empty object when there is none. */
static int config_read(const char *path, json_t **ret, KError **err) {
        json_error_t je;
        json_t *j = json_load_file(path, 0, &je);
        if (!j) {
                if (access(path, F_OK) < 0 && errno == ENOENT)
                        return (*ret = json_object()) ? 0 : -ENOMEM;
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s: line %d: %s (fix or remove the file)", path, je.line, je.text);
        }
        if (!json_is_object(j)) {
                json_decref(j);
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s: not a JSON object (fix or remove the file)", path);
        }
        *ret = j;
        return 0;
}

int auth_lookup(const char *server, char **ret_user, char **ret_password, KError **err) {
        _cleanup_free_ char *path = NULL;
        json_t *cfg = NULL;
        int r = auth_config_path(&path, err);
        if (r < 0 || (r = config_read(path, &cfg, err)) < 0)
                return r;
        r = auth_from_json(cfg, server, ret_user, ret_password, err);
        json_decref(cfg);
        return r;
}

static int config_write(const char *path, json_t *cfg, KError **err) {
        _cleanup_free_ char *dir = strdup(path), *tmp = NULL;
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (!slash || asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
                return kerr(err, -ENOMEM, "config");
        *slash = 0;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return kerr(err, -errno, "create %s", dir);
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);     /* 0600 */
        if (fd < 0)
                return kerr(err, -errno, "create %s", tmp);
        if (json_dumpfd(cfg, fd, JSON_INDENT(8)) < 0 || write(fd, "\n", 1) != 1 || fsync(fd) < 0 || rename(tmp, path) < 0) {
                int r = -errno ?: -EIO;
                (void) unlink(tmp);
                return kerr(err, r, "write %s", path);
        }
        return 0;
}

int auth_store(const char *server, const char *user, const char *password, KError **err) {
        _cleanup_free_ char *path = NULL, *key = NULL, *plain = NULL, *b64 = NULL;
        json_t *cfg = NULL;
        int r = auth_config_path(&path, err);
        if (r < 0 || (r = config_read(path, &cfg, err)) < 0)
                return r;
        int n = asprintf(&plain, "%s:%s", user, password);
        if (n < 0 || auth_server_key(server, &key) < 0 || !(b64 = malloc(4 * (((size_t) n + 2) / 3) + 1))) {
                json_decref(cfg);
                return kerr(err, -ENOMEM, "credentials");
        }
        EVP_EncodeBlock((unsigned char *) b64, (unsigned char *) plain, n);
        json_t *auths = json_object_get(cfg, "auths");
        if (!json_is_object(auths)) {
                auths = json_object();
                json_object_set_new(cfg, "auths", auths);
        }
        json_object_set_new(auths, key, json_pack("{s:s}", "auth", b64));
        r = config_write(path, cfg, err);
        json_decref(cfg);
        return r;
}

int auth_remove(const char *server, KError **err) {
        _cleanup_free_ char *path = NULL, *key = NULL;
        json_t *cfg = NULL;
        int r = auth_config_path(&path, err);
        if (r < 0 || (r = config_read(path, &cfg, err)) < 0)
                return r;
        json_t *auths = json_object_get(cfg, "auths");
        if (auth_server_key(server, &key) < 0)
                r = kerr(err, -ENOMEM, "credentials");
        else if (!json_object_get(auths, key))
                r = -ENOENT;
        else {
                json_object_del(auths, key);
                r = config_write(path, cfg, err);
        }
        json_decref(cfg);
        return r;
}

int auth_registry_credentials(const char *host, char **ret_user, char **ret_password, void *userdata) {
        (void) userdata;
        int r = auth_lookup(host, ret_user, ret_password, NULL);
        return r == -ENOENT ? 0 : r;
}

int auth_header_decode(const char *header, char **ret_user, char **ret_password, char **ret_server, KError **err) {
        *ret_user = *ret_password = *ret_server = NULL;
        size_t len = strlen(header);
        /* URL-safe base64, padding optional: made standard, padded, for EVP_DecodeBlock */
        _cleanup_free_ char *b64 = malloc(len + 4);
        _cleanup_free_ unsigned char *plain = malloc(len / 4 * 3 + 8);
        if (!b64 || !plain)
                return kerr(err, -ENOMEM, "X-Registry-Auth");
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
                b64[n++] = header[i] == '-' ? '+' : header[i] == '_' ? '/' : header[i];
        while (n % 4)
                b64[n++] = '=';
        b64[n] = 0;
        int m = EVP_DecodeBlock(plain, (const unsigned char *) b64, (int) n);
        if (m < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "X-Registry-Auth: not base64 (expected base64url of a JSON object)");
        for (size_t pad = n; pad > 0 && b64[pad - 1] == '=' && m > 0; pad--)
                m--;
        _cleanup_json_ json_t *j = json_loadb((const char *) plain, (size_t) m, 0, NULL);
        if (!json_is_object(j))
                return kerr_msg(err, KERR_USAGE, -EINVAL,
                                "X-Registry-Auth: expected a JSON object like {\"username\":..,\"password\":..}");
        const char *user = json_string_value(json_object_get(j, "username"));
        const char *password = json_string_value(json_object_get(j, "password"));
        const char *server = json_string_value(json_object_get(j, "serveraddress"));
        if (user && *user && (!(*ret_user = strdup(user)) || !(*ret_password = strdup(password ?: ""))))
                return kerr(err, -ENOMEM, "X-Registry-Auth");
        if (server && *server && !(*ret_server = strdup(server)))
                return kerr(err, -ENOMEM, "X-Registry-Auth");
        return 0;
}
