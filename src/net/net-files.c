/* SPDX-License-Identifier: Apache-2.0 */
/* The instance's /etc/hosts, /etc/resolv.conf and /etc/hostname. Rendering is pure; writing
 * happens in place (no rename) because the engine bind-mounts these files and a rename would leave
 * the mount on the old inode. */
#include "net-files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "string-util.h"

/* " name alias..." skipping `skip` (already printed first on the line). */
static void put_names(FILE *f, const NetAttach *a, const char *skip) {
        if (!streq_ptr(a->instance_name, skip))
                fprintf(f, " %s", a->instance_name);
        for (size_t i = 0; a->aliases && a->aliases[i]; i++)
                if (!streq(a->aliases[i], a->instance_name) && !streq_ptr(a->aliases[i], skip))
                        fprintf(f, " %s", a->aliases[i]);
}

static bool shares_user_network(const NetState *s, const char *id, const char *network) {
        if (streq(network, NET_DEFAULT_NETWORK))
                return false;   /* as docker: no name resolution on the default bridge */
        for (size_t i = 0; i < s->n_attach; i++)
                if (streq(s->attach[i].instance_id, id) && streq(s->attach[i].network, network))
                        return true;
        return false;
}

char *net_hostname_render(const NetInstance *inst, const char *id) {
        char *s = NULL;
        if (asprintf(&s, "%s\n", inst && inst->hostname ? inst->hostname : id) < 0)
                return NULL;
        if (!(inst && inst->hostname) && strlen(s) > 13)
                strcpy(s + 12, "\n");   /* short id, as docker */
        return s;
}

char *net_hosts_render(const NetState *s, const NetInstance *inst, const char *id) {
        char *buf = NULL, b[IP4_STRLEN];
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        _cleanup_free_ char *hostname = net_hostname_render(inst, id);
        if (hostname)
                hostname[strcspn(hostname, "\n")] = 0;

        fputs("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", f);
        for (size_t i = 0; inst && inst->extra_hosts && inst->extra_hosts[i]; i++) {
                const char *h = inst->extra_hosts[i], *colon = strchr(h, ':');
                if (colon)
                        fprintf(f, "%s\t%.*s\n", colon + 1, (int) (colon - h), h);
        }
        bool own = false;
        for (size_t i = 0; i < s->n_attach; i++) {
                const NetAttach *a = &s->attach[i];
                if (!streq(a->instance_id, id))
                        continue;
                fprintf(f, "%s\t%s", ip4_format(a->ip, b), hostname ? hostname : id);
                put_names(f, a, hostname ? hostname : id);
                fputc('\n', f);
                own = true;
        }
        /* no address of its own (--network none): the hostname still resolves, as on Debian hosts */
        if (!own)
                fprintf(f, "127.0.1.1\t%s\n", hostname ? hostname : id);
        for (size_t i = 0; i < s->n_attach; i++) {
                const NetAttach *a = &s->attach[i];
                if (streq(a->instance_id, id) || !shares_user_network(s, id, a->network))
                        continue;
                fprintf(f, "%s\t%s", ip4_format(a->ip, b), a->instance_name);
                put_names(f, a, a->instance_name);
                fputc('\n', f);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static bool nameserver_is_loopback(const char *ns) {
        uint32_t ip;
        if (streq(ns, "::1"))
                return true;
        return ip4_parse(ns, &ip) >= 0 && ip4_is_loopback(ip);
}

static void put_line(FILE *f, const char *key, char *const *v) {
        if (!v || !v[0])
                return;
        fputs(key, f);
        for (size_t i = 0; v[i]; i++)
                fprintf(f, " %s", v[i]);
        fputc('\n', f);
}

char *net_resolv_render(const char *host_text, const NetInstance *inst) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        bool own_ns = inst && inst->dns, own_search = inst && inst->dns_search, own_opts = inst && inst->dns_options;
        /* Lines of the host's file we keep: non-loopback nameservers (a loopback resolver on the
         * host is unreachable from the instance's netns) and search/options unless overridden. */
        _cleanup_free_ char *copy = strdup(host_text ? host_text : "");
        char *save = NULL;
        for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
                char key[16], val[256];
                if (sscanf(line, " %15s %255s", key, val) != 2)
                        continue;
                if (streq(key, "nameserver") && !own_ns && !nameserver_is_loopback(val))
                        fprintf(f, "nameserver %s\n", val);
                else if ((streq(key, "search") && !own_search) || (streq(key, "options") && !own_opts))
                        fprintf(f, "%s\n", line);
        }
        if (own_ns)
                put_line(f, "nameserver", inst->dns);
        if (own_search)
                put_line(f, "search", inst->dns_search);
        if (own_opts)
                put_line(f, "options", inst->dns_options);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

int file_write_in_place(const char *path, const char *text) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        size_t len = strlen(text);
        int r = write_all(fd, text, len);
        if (r >= 0 && ftruncate(fd, (off_t) len) < 0)
                r = -errno;
        return r;
}
