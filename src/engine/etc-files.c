/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etc-files.h"
#include "fd-util.h"
#include "string-util.h"

static int write_file(const char *ctr_dir, const char *name, const char *text, KError **err) {
        _cleanup_close_ int dfd = open(ctr_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return kerr(err, -errno, "open %s", ctr_dir);
        int r = write_file_atomic_at(dfd, name, text, strlen(text), 0644);
        return r < 0 ? kerr(err, r, "write %s/%s", ctr_dir, name) : 0;
}

/* The host's resolvers, minus loopback ones (they mean nothing inside a network namespace). */
static void host_nameservers(FILE *out) {
        _cleanup_fclose_ FILE *f = fopen("/etc/resolv.conf", "re");
        char line[512];
        while (f && fgets(line, sizeof(line), f)) {
                char addr[256];
                if (sscanf(line, "nameserver %255s", addr) == 1 && !startswith(addr, "127.") && !streq(addr, "::1"))
                        fprintf(out, "nameserver %s\n", addr);
                else if (startswith(line, "search ") || startswith(line, "options "))
                        fputs(line, out);
        }
}

int etc_files_write(const char *ctr_dir, const char *id, const char *name, const json_t *config, const char *ip,
                    KError **err) {
        const json_t *cfg = json_object_get(config, "Config"), *host = json_object_get(config, "HostConfig");
        const char *hostname = json_string_value(json_object_get(cfg, "Hostname"));
        char short_id[13];
        snprintf(short_id, sizeof(short_id), "%s", id);
        if (!hostname || !*hostname)
                hostname = short_id;

        _cleanup_free_ char *hn = NULL, *hosts = NULL, *resolv = NULL;
        size_t len;
        if (asprintf(&hn, "%s\n", hostname) < 0)
                return kerr(err, -ENOMEM, "hostname");
        FILE *f = open_memstream(&hosts, &len);
        if (!f)
                return kerr(err, -ENOMEM, "hosts");
        fprintf(f, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        fprintf(f, "%s\t%s %s\n", ip ?: "127.0.1.1", hostname, name);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(host, "ExtraHosts"), i, e) {
                const char *eh = json_string_value(e) ?: "";
                const char *colon = strchr(eh, ':');
                if (colon)
                        fprintf(f, "%s\t%.*s\n", colon + 1, (int) (colon - eh), eh);
        }
        fclose(f);
        f = open_memstream(&resolv, &len);
        if (!f)
                return kerr(err, -ENOMEM, "resolv.conf");
        json_t *dns = json_object_get(host, "Dns");
        if (json_array_size(dns) > 0)
                json_array_foreach(dns, i, e)
                        fprintf(f, "nameserver %s\n", json_string_value(e) ?: "");
        else
                host_nameservers(f);
        fclose(f);
        int r = write_file(ctr_dir, "hostname", hn, err);
        if (r >= 0)
                r = write_file(ctr_dir, "hosts", hosts, err);
        if (r >= 0)
                r = write_file(ctr_dir, "resolv.conf", resolv, err);
        return r;
}
