/* SPDX-License-Identifier: Apache-2.0 */
/* Registry credentials in docker's client config: $DOCKER_CONFIG/config.json, else
 * ~/.docker/config.json, {"auths": {"<server>": {"auth": base64("user:password")}}}. Docker Hub is
 * keyed "https://index.docker.io/v1/" as docker does; other servers by host[:port]. Other keys of the
 * file (credsStore, proxies, ...) are kept as they are when we write it. */
#pragma once

#include <jansson.h>

#include "error.h"

/* The config.json path (malloc'd). */
int auth_config_path(char **ret, KError **err);
/* The auths key for a server as a user writes it: "" / "docker.io" / "index.docker.io" /
 * "registry-1.docker.io" -> "https://index.docker.io/v1/"; "https://h:5000/v2/" -> "h:5000". */
int auth_server_key(const char *server, char **ret);
/* Pure: the credentials for `server` in a parsed config.json (an "auth" entry, or "username" and
 * "password"); keys written with a scheme or path match too. -ENOENT when there are none, -EINVAL
 * with a message for a malformed entry. */
int auth_from_json(const json_t *config, const char *server, char **ret_user, char **ret_password, KError **err);
/* Read the config file and look `server` up (-ENOENT: no file or no entry). */
int auth_lookup(const char *server, char **ret_user, char **ret_password, KError **err);
/* Store credentials for `server` (file mode 0600, directory 0700, written atomically). */
int auth_store(const char *server, const char *user, const char *password, KError **err);
/* Forget `server`'s credentials: -ENOENT when there were none. */
int auth_remove(const char *server, KError **err);
/* For RegistryOptions.credentials: auth_lookup by registry host, 0 with NULLs when none. */
int auth_registry_credentials(const char *host, char **ret_user, char **ret_password, void *userdata);
/* docker's X-Registry-Auth header: base64url (padding optional) of {"username","password",
 * "serveraddress"}. Each result is NULL when absent ({} and an identity token alone are
 * anonymous); a usage error for a header that is not that. */
int auth_header_decode(const char *header, char **ret_user, char **ret_password, char **ret_server, KError **err);
