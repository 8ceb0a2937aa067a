/* SPDX-License-Identifier: Apache-2.0 */
/* `kapsel ps`: docker's columns, filters (-f KEY=VALUE), -n/-l and -s. The rows carry docker's
 * strings (COMMAND quoted and cut, PORTS as 0.0.0.0:8080->80/tcp), so `--format json` and templates
 * show what the table shows. */
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctr-inspect.h"
#include "ctr-ops.h"
#include "image.h"
#include "json-util.h"
#include "kapsel-cli.h"
#include "net.h"
#include "string-util.h"

typedef struct PsFilter {
        char *const *values[16];        /* per key (ps_filter_keys order): the values, OR'ed */
        char **store;                   /* owns the values */
} PsFilter;

static const char *const ps_filter_keys[] = { "name",    "id",     "status", "label",   "ancestor", "exited",
                                              "before", "since", "network", "volume", "kind" };
enum { F_NAME, F_ID, F_STATUS, F_LABEL, F_ANCESTOR, F_EXITED, F_BEFORE, F_SINCE, F_NETWORK, F_VOLUME, F_KIND };

typedef struct PsOpts {
        bool all, no_trunc, size, kind_asked;
        int64_t last;                   /* -n: the last N created (-1: no limit) */
        char **filters;                 /* "key=value", as given */
} PsOpts;

/* docker's COMMAND: cut to 20 characters with "…", then quoted as Go's strconv.Quote */
static char *docker_command(const char *cmd, bool no_trunc) {
        char *buf = NULL;
        size_t size = 0, chars = 0, n = strlen(cmd);
        for (size_t i = 0; i < n; i++)
                chars += ((unsigned char) cmd[i] & 0xc0) != 0x80;
        size_t keep = n;
        if (!no_trunc && chars > 20) {
                size_t seen = 0, i = 0;
                for (; i < n; i++)
                        if (((unsigned char) cmd[i] & 0xc0) != 0x80 && seen++ == 19)
                                break;
                keep = i;
        }
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        fputc('"', f);
        for (size_t i = 0; i < keep; i++) {
                unsigned char c = (unsigned char) cmd[i];
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20)
                        fprintf(f, c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\x%02x", c);
                else
                        fputc(c, f);
        }
        fprintf(f, "%s\"", keep < n ? "…" : "");
        fclose(f);
        return buf;
}

/* docker's "0.0.0.0:8080->80/tcp, 53/udp" */
static char *ports_text(Engine *e, const char *id) {
        NetCtx *ctx;
        _cleanup_free_ NetPortMap *maps = NULL;
        size_t n = 0;
        char *buf = NULL;
        size_t size = 0;
        if (engine_net(e, &ctx, NULL) < 0 || net_ports(ctx, id, &maps, &n, NULL) < 0)
                n = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                struct in_addr a = { htonl(maps[i].host_ip) };
                char ip[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &a, ip, sizeof(ip));
                fprintf(f, "%s%s:%u->%u/%s", i ? ", " : "", ip, maps[i].host_port, maps[i].container_port,
                        maps[i].proto == IPPROTO_UDP ? "udp" : "tcp");
        }
        fclose(f);
        return buf;
}

static uint64_t du_total;
static int du_add(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) path, (void) ftw;
        if (type == FTW_F)
                du_total += (uint64_t) st->st_blocks * 512 > (uint64_t) st->st_size ? (uint64_t) st->st_size
                                                                                   : (uint64_t) st->st_blocks * 512;
        return 0;
}

/* docker's sizes: decimal units, three significant digits ("1.23kB") */
static void human_size(uint64_t b, char buf[static 24]) {
        static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
        double v = (double) b;
        size_t u = 0;
        for (; v >= 1000 && u + 1 < ELEMENTSOF(units); u++)
                v /= 1000;
        snprintf(buf, 24, "%.3g%s", v, units[u]);
}

/* -s: the writable layer and, as docker's "virtual", the image under it */
static char *size_text(Engine *e, const CtrRecord *rec) {
        _cleanup_free_ char *diff = engine_ctr_path(e, rec->id, "diff");
        du_total = 0;
        if (diff)
                (void) nftw(diff, du_add, 16, FTW_PHYS);
        uint64_t upper = du_total, virt = upper;
        ImageStore *s;
        _cleanup_(image_freep) Image *img = NULL;
        if (rec->image_id && engine_images(e, &s, NULL) >= 0 && image_lookup(s, rec->image_id, &img, NULL) >= 0)
                virt += img->size;
        char a[24], b[24], *out = NULL;
        human_size(upper, a);
        human_size(virt, b);
        return asprintf(&out, "%s (virtual %s)", a, b) < 0 ? NULL : out;
}

static json_t *host_cfg(const CtrRecord *r, const char *key) {
        return json_object_get(json_object_get(r->config, "HostConfig"), key);
}

/* "k=v,k2=v2" for the Labels column */
static char *labels_text(const CtrRecord *r) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        const char *k;
        json_t *v;
        bool first = true;
        json_object_foreach(json_object_get(json_object_get(r->config, "Config"), "Labels"), k, v) {
                fprintf(f, "%s%s=%s", first ? "" : ",", k, json_string_value(v) ?: "");
                first = false;
        }
        fclose(f);
        return buf;
}

/* the networks the container is on: its attachments, else its mode (none, host, container:X) */
static char **networks_of(Engine *e, const CtrRecord *r) {
        char **v = NULL;
        NetCtx *ctx;
        NetAttachment **atts = NULL;
        if (engine_net(e, &ctx, NULL) >= 0 && net_attachments(ctx, r->id, &atts, NULL) >= 0)
                for (NetAttachment **a = atts; a && *a; a++)
                        (void) strv_extend(&v, (*a)->network);
        net_attachments_free(atts);
        const char *mode = json_string_value(host_cfg(r, "NetworkMode"));
        if (!v)
                (void) strv_extend(&v, mode && *mode && !streq(mode, "default") ? mode : NET_DEFAULT_NETWORK);
        return v;
}

static char *strv_join_comma(char *const *v) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        for (size_t i = 0; v && v[i]; i++)
                fprintf(f, "%s%s", i ? "," : "", v[i]);
        fclose(f);
        return buf;
}

/* the volume names and bind sources of -v */
static char **mounts_of(const CtrRecord *r) {
        char **v = NULL;
        size_t i;
        json_t *b;
        json_array_foreach(host_cfg(r, "Binds"), i, b) {
                const char *s = json_string_value(b) ?: "";
                _cleanup_free_ char *src = strndup(s, strcspn(s, ":"));
                if (src)
                        (void) strv_extend(&v, src);
        }
        return v;
}

static json_t *ps_row(Engine *e, const CtrRecord *r, const PsOpts *o) {
        json_t *row = ctr_ps_json(r, o->no_trunc);
        _cleanup_free_ char *cmd = docker_command(json_string_value(json_object_get(row, "Command")) ?: "", o->no_trunc),
                            *ports = ports_text(e, r->id), *labels = labels_text(r), *nets_text = NULL,
                            *mounts_text = NULL, *size = o->size ? size_text(e, r) : NULL;
        _cleanup_strv_free_ char **nets = networks_of(e, r), **mounts = mounts_of(r);
        nets_text = strv_join_comma(nets);
        mounts_text = strv_join_comma(mounts);
        json_object_set_new(row, "Command", json_string(cmd ?: ""));
        json_object_set_new(row, "Ports", json_string(ports ?: ""));
        json_object_set_new(row, "Labels", json_string(labels ?: ""));
        json_object_set_new(row, "Networks", json_string(nets_text ?: ""));
        json_object_set_new(row, "Mounts", json_string(mounts_text ?: ""));
        json_object_set_new(row, "LocalVolumes", json_sprintf("%zu", strv_length(mounts)));
        json_object_set_new(row, "Size", json_string(size ?: ""));
        return row;
}

/* name=REGEX (docker matches names by regular expression) */
static bool match_name(const char *name, const char *re) {
        regex_t rx;
        if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
                return strstr(name, re) != NULL;
        bool m = regexec(&rx, name, 0, NULL, 0) == 0;
        regfree(&rx);
        return m;
}

/* label=KEY or label=KEY=VALUE */
static bool match_label(const CtrRecord *r, const char *want) {
        json_t *labels = json_object_get(json_object_get(r->config, "Config"), "Labels");
        const char *eq = strchr(want, '=');
        _cleanup_free_ char *key = strndup(want, eq ? (size_t) (eq - want) : strlen(want));
        json_t *v = key ? json_object_get(labels, key) : NULL;
        return v && (!eq || streq(json_string_value(v) ?: "", eq + 1));
}

/* ancestor=IMAGE: the name as given (with or without :latest) or an image id prefix */
static bool match_ancestor(const CtrRecord *r, const char *want) {
        const char *img = r->image ?: "", *id = r->image_id ?: "";
        size_t wl = strlen(want);
        if (streq(img, want) || (startswith(img, want) && streq(img + wl, ":latest")) ||
            (startswith(want, img) && streq(want + strlen(img), ":latest")))
                return true;
        const char *hex = startswith(id, "sha256:") ?: id, *whex = startswith(want, "sha256:") ?: want;
        return strlen(whex) >= 4 && strspn(whex, "0123456789abcdef") == strlen(whex) && startswith(hex, whex);
}

static bool match_one(Engine *e, const CtrRecord *r, int key, const char *val, CtrRecord *const *all, size_t n) {
        int64_t num;
        switch (key) {
        case F_NAME: return match_name(r->name, val);
        case F_ID: return startswith(r->id, val) != NULL;
        case F_STATUS: return streq(ctr_state_to_string(r->state), val);
        case F_LABEL: return match_label(r, val);
        case F_ANCESTOR: return match_ancestor(r, val);
        case F_EXITED:
                return r->state == CTR_EXITED && parse_int64(val, &num) >= 0 && num == r->exit_code;
        case F_BEFORE:
        case F_SINCE:
                for (size_t i = 0; i < n; i++)
                        if (streq(all[i]->name, val) || startswith(all[i]->id, val))
                                return key == F_BEFORE ? r->created < all[i]->created : r->created > all[i]->created;
                return false;
        case F_NETWORK: {
                _cleanup_strv_free_ char **nets = networks_of(e, r);
                return strv_contains(nets, val);
        }
        case F_VOLUME: {
                size_t i;
                json_t *b;
                json_array_foreach(host_cfg(r, "Binds"), i, b) {
                        const char *s = json_string_value(b) ?: "";
                        size_t sl = strcspn(s, ":");
                        const char *dst = s[sl] ? s + sl + 1 : "";
                        if ((strlen(val) == sl && strncmp(s, val, sl) == 0) ||
                            (startswith(dst, val) && (dst[strlen(val)] == 0 || dst[strlen(val)] == ':')))
                                return true;
                }
                return false;
        }
        case F_KIND: return streq(ctr_kind_to_string(r->kind), val);
        }
        return false;
}

/* every key given matches (AND), each by one of its values (OR), as docker's filters */
static bool ps_match(Engine *e, const CtrRecord *r, char *const *filters, CtrRecord *const *all, size_t n) {
        for (size_t k = 0; k < ELEMENTSOF(ps_filter_keys); k++) {
                bool given = false, hit = false;
                for (char *const *f = filters; f && *f && !hit; f++) {
                        const char *val = startswith(*f, ps_filter_keys[k]);
                        if (!val || *val != '=')
                                continue;
                        given = true;
                        hit = match_one(e, r, (int) k, val + 1, all, n);
                }
                if (given && !hit)
                        return false;
        }
        return true;
}

static int check_filter(const char *f, KError **err) {
        size_t kl = strcspn(f, "=");
        for (size_t k = 0; f[kl] == '=' && k < ELEMENTSOF(ps_filter_keys); k++)
                if (strlen(ps_filter_keys[k]) == kl && strncmp(ps_filter_keys[k], f, kl) == 0) {
                        if (k == F_STATUS && ctr_state_from_string(f + kl + 1) < 0)
                                return k_usage(err, "ps", "--filter \"%s\": status is created, running, paused, "
                                                          "restarting, exited or dead", f);
                        return 0;
                }
        return k_usage(err, "ps", "--filter \"%s\": expected KEY=VALUE with KEY one of name, id, status, label, "
                                  "ancestor, exited, before, since, network, volume, kind", f);
}

K_VERB(ps) {
        static const struct option opts[] = {
                { "all", no_argument, NULL, 'a' },          { "quiet", no_argument, NULL, 'q' },
                { "no-trunc", no_argument, NULL, 'N' },      { "format", required_argument, NULL, 'F' },
                { "kind", required_argument, NULL, 'k' },    { "filter", required_argument, NULL, 'f' },
                { "last", required_argument, NULL, 'n' },    { "latest", no_argument, NULL, 'l' },
                { "size", no_argument, NULL, 's' },          { "help", no_argument, NULL, 'h' }, {}
        };
        /* docker's columns, in docker's order; the extras only name template headers */
        static const KColumn cols[] = {
                { "CONTAINER ID", "ID" }, { "IMAGE", "Image" }, { "COMMAND", "Command" }, { "CREATED", "RunningFor" },
                { "STATUS", "Status" },   { "PORTS", "Ports" }, { "NAMES", "Names" },    { "KIND", "Kind", .extra = true },
                { "SIZE", "Size", .extra = true }, {}
        }, cols_kind[] = {
                { "CONTAINER ID", "ID" }, { "KIND", "Kind" }, { "IMAGE", "Image" }, { "COMMAND", "Command" },
                { "CREATED", "RunningFor" }, { "STATUS", "Status" }, { "PORTS", "Ports" }, { "NAMES", "Names" },
                { "SIZE", "Size", .extra = true }, {}
        }, cols_size[] = {
                { "CONTAINER ID", "ID" }, { "IMAGE", "Image" }, { "COMMAND", "Command" }, { "CREATED", "RunningFor" },
                { "STATUS", "Status" },   { "PORTS", "Ports" }, { "NAMES", "Names" },    { "SIZE", "Size" },
                { "KIND", "Kind", .extra = true }, {}
        };
        KListFormat f = { .quiet_field = "ID" };
        PsOpts o = { .last = -1 };
        _cleanup_strv_free_ char **filters = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+aqf:n:ls", opts, NULL)) >= 0)
                switch (c) {
                case 'a': o.all = true; break;
                case 'q': f.quiet = true; break;
                case 'N': o.no_trunc = true; break;
                case 'F': f.format = optarg; break;
                case 'k': {
                        if (ctr_kind_from_string(optarg) < 0)
                                return k_usage(err, "ps", "--kind \"%s\": expected container or vm", optarg);
                        o.kind_asked = true;
                        _cleanup_free_ char *kf = NULL;
                        if (asprintf(&kf, "kind=%s", optarg) < 0 || strv_extend(&filters, kf) < 0)
                                return -ENOMEM;
                        break;
                }
                case 'f':
                        if (check_filter(optarg, err) < 0)
                                return -EINVAL;
                        if (strv_extend(&filters, optarg) < 0)
                                return -ENOMEM;
                        break;
                case 'n':
                        if (parse_int64(optarg, &o.last) < 0 || o.last < 0)
                                return k_usage(err, "ps", "--last \"%s\": expected a number of containers", optarg);
                        break;
                case 'l': o.last = 1; break;
                case 's': o.size = true; break;
                case 'h': return k_help("ps");
                default: return k_usage(err, "ps", "unknown option");
                }
        if (optind < argc)
                return k_usage(err, "ps", "unexpected argument \"%s\"", argv[optind]);
        _cleanup_(engine_freep) Engine *e = NULL;
        CtrRecord **list;
        size_t n;
        int r = k_open_list(g, &e, &list, &n, err);
        if (r < 0)
                return r;
        json_t *rows = json_array();
        bool any_vm = false, by_state = false;  /* docker: a status or exited filter needs no -a */
        for (char **fl = filters; fl && *fl; fl++)
                by_state |= startswith(*fl, "status=") || startswith(*fl, "exited=");
        /* newest first, as docker; -n/-l count every state */
        for (size_t i = n; i-- > 0 && (o.last < 0 || (int64_t) json_array_size(rows) < o.last);) {
                bool running = list[i]->state == CTR_RUNNING || list[i]->state == CTR_PAUSED ||
                               list[i]->state == CTR_RESTARTING;
                if (!(o.all || o.last >= 0 || running || by_state) || !ps_match(e, list[i], filters, list, n))
                        continue;
                any_vm |= list[i]->kind == CTR_KIND_VM;
                json_array_append_new(rows, ps_row(e, list[i], &o));
        }
        ctr_record_list_free(list, n);
        /* KIND is kapsel's: shown when asked (--kind) or when micro-VMs are listed */
        r = k_print_list(rows, &f, o.kind_asked || any_vm ? cols_kind : o.size ? cols_size : cols, err);
        json_decref(rows);
        return r < 0 ? r : 0;
}
