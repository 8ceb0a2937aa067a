/* SPDX-License-Identifier: Apache-2.0 */
/* info, version, system df: the engine's documents (sysinfo.h) printed as docker prints them, or
 * through --format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kapsel-cli.h"
#include "prune.h"
#include "string-util.h"
#include "sysinfo.h"
#include "template.h"

/* -f/--format and --help; returns 1 after --help. */
static int parse_format(const char *verb, const char *help_verb, int argc, char **argv, const char **format, bool *verbose,
                        KError **err) {
        static const struct option opts[] = { { "format", required_argument, NULL, 'f' }, { "verbose", no_argument, NULL, 'v' },
                                               { "help", no_argument, NULL, 'h' }, {} };
        int c;
        while ((c = getopt_long(argc, argv, verbose ? "+f:vh" : "+f:h", opts, NULL)) >= 0)
                switch (c) {
                case 'f': *format = optarg; break;
                case 'v':
                        if (!verbose)
                                return k_usage(err, verb, "unknown option --verbose");
                        *verbose = true;
                        break;
                case 'h': k_help(help_verb); return 1;
                default: return k_usage(err, verb, "unknown option");
                }
        if (optind < argc)
                return k_usage(err, verb, "takes no arguments (\"%s\")", argv[optind]);
        return 0;
}

/* A --format: "json" (docker's shorthand for {{json .}}) or a template. */
static int print_template(const char *format, const json_t *doc, KError **err) {
        int r = template_render(streq(format, "json") ? "{{json .}}" : format, doc, stdout, err);
        if (r >= 0)
                putchar('\n');
        return r;
}

static long long jint(const json_t *o, const char *k) {
        return (long long) json_integer_value(json_object_get(o, k));
}

static const char *jstr(const json_t *o, const char *k) {
        return json_string_value(json_object_get(o, k)) ?: "";
}

K_VERB(version) {
        const char *format = NULL;
        int r = parse_format("version", "version", argc, argv, &format, NULL, err);
        if (r != 0)
                return r < 0 ? r : 0;
        json_t *v = sysinfo_version();
        if (!v)
                return kerr(err, -ENOMEM, "version");
        if (format)
                r = print_template(format, v, err);
        else {
                const json_t *c = json_object_get(v, "Client"), *s = json_object_get(v, "Server");
                printf("Client:\n Version:           %s\n OS/Arch:           %s/%s\n\n"
                       "Server: kapsel Engine (no daemon)\n Engine:\n  Version:          %s\n  OS/Arch:          %s/%s\n"
                       "  Kernel:           %s\n  Storage Driver:   %s\n %s:\n  Version:          %s\n",
                       jstr(c, "Version"), jstr(c, "OS"), jstr(c, "Arch"), jstr(s, "Version"), jstr(s, "OS"), jstr(s, "Arch"),
                       jstr(s, "KernelVersion"), jstr(s, "Storage"), jstr(s, "Runtime"), jstr(s, "Version"));
        }
        json_decref(v);
        return r < 0 ? r : 0;
}

K_VERB(info) {
        const char *format = NULL;
        int r = parse_format("info", "info", argc, argv, &format, NULL, err);
        if (r != 0)
                return r < 0 ? r : 0;
        _cleanup_(engine_freep) Engine *e = NULL;
        json_t *i = NULL;
        if ((r = k_open(g, &e, err)) < 0 || (r = sysinfo_info(e, &i, err)) < 0)
                return r;
        if (format)
                r = print_template(format, i, err);
        else {
                char mem[16];
                double m = (double) jint(i, "MemTotal");
                static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
                size_t u = 0;
                for (; m >= 1024 && u + 1 < ELEMENTSOF(units); u++)
                        m /= 1024;
                snprintf(mem, sizeof(mem), "%.4g%s", m, units[u]);
                const json_t *kvm = json_object_get(i, "KVM");
                printf("Client:\n Version:    %s\n Debug Mode: %s\n\nServer:\n"
                       " Containers: %lld\n  Running: %lld\n  Paused: %lld\n  Stopped: %lld\n Images: %lld\n"
                       " Server Version: %s\n Storage Driver: %s\n Cgroup Driver: %s\n Cgroup Version: %s\n"
                       " Runtimes: kapsel-runtime\n Default Runtime: kapsel-runtime\n Kernel Version: %s\n"
                       " Operating System: %s\n OSType: %s\n Architecture: %s\n CPUs: %lld\n Total Memory: %s\n"
                       " Name: %s\n Kapsel Root Dir: %s\n KVM: %s%s%s%s\n",
                       jstr(i, "ServerVersion"), g->debug ? "true" : "false", jint(i, "Containers"),
                       jint(i, "ContainersRunning"), jint(i, "ContainersPaused"), jint(i, "ContainersStopped"),
                       jint(i, "Images"), jstr(i, "ServerVersion"), jstr(i, "Driver"), jstr(i, "CgroupDriver"),
                       jstr(i, "CgroupVersion"), jstr(i, "KernelVersion"), jstr(i, "OperatingSystem"), jstr(i, "OSType"),
                       jstr(i, "Architecture"), jint(i, "NCPU"), mem, jstr(i, "Name"), jstr(i, "KapselRootDir"),
                       json_is_true(json_object_get(kvm, "Available")) ? "available" : "unavailable",
                       *jstr(kvm, "Reason") ? " (" : "", jstr(kvm, "Reason"), *jstr(kvm, "Reason") ? ")" : "");
        }
        json_decref(i);
        return r < 0 ? r : 0;
}

/* One TYPE row as docker's `system df --format` sees it: Type, TotalCount, Active, Size, Reclaimable. */
static json_t *df_row(const char *type, size_t total, size_t active, uint64_t size, uint64_t reclaimable, bool pct) {
        char sz[16], rec[16], recl[40];
        format_human_size(size, sz);
        format_human_size(reclaimable, rec);
        if (pct)
                snprintf(recl, sizeof(recl), "%s (%d%%)", rec, size ? (int) (reclaimable * 100 / size) : 0);
        else
                snprintf(recl, sizeof(recl), "%s", rec);
        return json_pack("{s:s, s:I, s:I, s:s, s:s}", "Type", type, "TotalCount", (json_int_t) total, "Active",
                         (json_int_t) active, "Size", sz, "Reclaimable", recl);
}

/* Sum one section of the df document: `size_key` per object, active when `use_key` > 0 (or the state
 * is a live one for containers). */
static json_t *df_section(const char *type, const json_t *objs, const char *size_key, const char *use_key) {
        size_t i, active = 0;
        uint64_t size = 0, rec = 0;
        json_t *o;
        json_array_foreach(objs, i, o) {
                const char *st = jstr(o, "State");
                bool on = use_key ? jint(o, use_key) > 0
                                  : streq(st, "running") || streq(st, "paused") || streq(st, "restarting");
                size += (uint64_t) jint(o, size_key);
                active += on;
                rec += on ? 0 : (uint64_t) jint(o, size_key);
        }
        return df_row(type, json_array_size(objs), active, size, rec, true);
}

static void df_verbose(const json_t *df) {
        size_t i;
        json_t *o;
        char sz[16];
        printf("Images space usage:\n\n%-40s%-16s%-12s%s\n", "REPOSITORY:TAG", "IMAGE ID", "SIZE", "CONTAINERS");
        json_array_foreach(json_object_get(df, "Images"), i, o) {
                const json_t *tags = json_object_get(o, "RepoTags");
                format_human_size((uint64_t) jint(o, "Size"), sz);
                const char *id = startswith(jstr(o, "Id"), "sha256:") ?: jstr(o, "Id");
                printf("%-40s%-16.12s%-12s%lld\n", json_array_size(tags) ? json_string_value(json_array_get(tags, 0)) : "<none>",
                       id, sz, jint(o, "Containers"));
        }
        printf("\nContainers space usage:\n\n%-16s%-24s%-12s%-10s%s\n", "CONTAINER ID", "IMAGE", "SIZE", "STATUS", "NAMES");
        json_array_foreach(json_object_get(df, "Containers"), i, o) {
                format_human_size((uint64_t) jint(o, "SizeRw"), sz);
                printf("%-16.12s%-24s%-12s%-10s%s\n", jstr(o, "Id"), jstr(o, "Image"), sz, jstr(o, "State"), jstr(o, "Names"));
        }
        printf("\nLocal Volumes space usage:\n\n%-66s%-8s%s\n", "VOLUME NAME", "LINKS", "SIZE");
        json_array_foreach(json_object_get(df, "Volumes"), i, o) {
                format_human_size((uint64_t) jint(o, "Size"), sz);
                printf("%-66s%-8lld%s\n", jstr(o, "Name"), jint(o, "RefCount"), sz);
        }
        printf("\nBuild cache usage: 0B\n");
}

K_VERB(system_df) {
        const char *format = NULL;
        bool verbose = false;
        int r = parse_format("system df", "system-df", argc, argv, &format, &verbose, err);
        if (r != 0)
                return r < 0 ? r : 0;
        _cleanup_(engine_freep) Engine *e = NULL;
        json_t *df = NULL;
        if ((r = k_open(g, &e, err)) < 0 || (r = sysinfo_df(e, &df, err)) < 0)
                return r;
        if (verbose && !format) {
                df_verbose(df);
                json_decref(df);
                return 0;
        }
        json_t *rows = json_pack("[o, o, o, o]", df_section("Images", json_object_get(df, "Images"), "Size", "Containers"),
                                 df_section("Containers", json_object_get(df, "Containers"), "SizeRw", NULL),
                                 df_section("Local Volumes", json_object_get(df, "Volumes"), "Size", "RefCount"),
                                 df_row("Build Cache", 0, 0, 0, 0, false));
        json_decref(df);
        if (!rows)
                return kerr(err, -ENOMEM, "system df");
        size_t i;
        json_t *row;
        if (!format)
                printf("%-16s%-10s%-10s%-10s%s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
        json_array_foreach(rows, i, row) {
                if (format) {
                        if ((r = print_template(format, row, err)) < 0)
                                break;
                } else
                        printf("%-16s%-10lld%-10lld%-10s%s\n", jstr(row, "Type"), jint(row, "TotalCount"), jint(row, "Active"),
                               jstr(row, "Size"), jstr(row, "Reclaimable"));
        }
        json_decref(rows);
        return r < 0 ? r : 0;
}
