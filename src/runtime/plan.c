/* SPDX-License-Identifier: Apache-2.0 */
#include "plan.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "log.h"
#include "path-util.h"
#include "string-util.h"

/* mount(8) option words -> flags. `clear` words remove the flag (e.g. "rw", "suid").
 * Propagation words go to PlanMount.propagation; "bind"/"rbind" select the mount kind. */
static const struct mount_opt {
        const char *name;
        bool clear;
        unsigned long flag;
        bool propagation;
} mount_opts[] = {
        { "ro",            false, MS_RDONLY,      false },
        { "rw",            true,  MS_RDONLY,      false },
        { "nosuid",        false, MS_NOSUID,      false },
        { "suid",          true,  MS_NOSUID,      false },
        { "nodev",         false, MS_NODEV,       false },
        { "dev",           true,  MS_NODEV,       false },
        { "noexec",        false, MS_NOEXEC,      false },
        { "exec",          true,  MS_NOEXEC,      false },
        { "sync",          false, MS_SYNCHRONOUS, false },
        { "async",         true,  MS_SYNCHRONOUS, false },
        { "dirsync",       false, MS_DIRSYNC,     false },
        { "mand",          false, MS_MANDLOCK,    false },
        { "nomand",        true,  MS_MANDLOCK,    false },
        { "noatime",       false, MS_NOATIME,     false },
        { "atime",         true,  MS_NOATIME,     false },
        { "nodiratime",    false, MS_NODIRATIME,  false },
        { "diratime",      true,  MS_NODIRATIME,  false },
        { "relatime",      false, MS_RELATIME,    false },
        { "norelatime",    true,  MS_RELATIME,    false },
        { "strictatime",   false, MS_STRICTATIME, false },
        { "nostrictatime", true,  MS_STRICTATIME, false },
        { "shared",        false, MS_SHARED,               true },
        { "rshared",       false, MS_SHARED | MS_REC,      true },
        { "slave",         false, MS_SLAVE,                true },
        { "rslave",        false, MS_SLAVE | MS_REC,       true },
        { "private",       false, MS_PRIVATE,              true },
        { "rprivate",      false, MS_PRIVATE | MS_REC,     true },
        { "unbindable",    false, MS_UNBINDABLE,           true },
        { "runbindable",   false, MS_UNBINDABLE | MS_REC,  true },
};

/* Options that are accepted and deliberately ignored. */
static const char *const ignored_opts[] = { "defaults", "tmpcopyup", "remount", NULL };

static int data_append(char **data, const char *opt) {
        char *n;
        if (asprintf(&n, "%s%s%s", *data ? *data : "", *data ? "," : "", opt) < 0)
                return -ENOMEM;
        free(*data);
        *data = n;
        return 0;
}

int plan_parse_mount_options(char *const *options, size_t n, PlanMount *m, KError **err) {
        for (size_t i = 0; i < n; i++) {
                const char *o = options[i];
                bool handled = false;
                if (streq(o, "rro")) {
                        m->recursive_ro = true;
                        continue;
                }
                if (streq(o, "rrw"))
                        continue;       /* recursive read-write: what a mount is unless asked otherwise */
                if (streq(o, "bind") || streq(o, "rbind")) {
                        m->kind = PLAN_MOUNT_BIND;
                        m->recursive = streq(o, "rbind");
                        continue;
                }
                if (strv_contains((char **) ignored_opts, o))
                        continue;
                if (streq(o, "idmap") || streq(o, "ridmap"))
                        return kerr_msg(err, KERR_CONFIG, -EOPNOTSUPP,
                                        "mount %s: option \"%s\" (id-mapped mounts) is not supported",
                                        m->dest, o);
                for (size_t j = 0; j < ELEMENTSOF(mount_opts); j++) {
                        const struct mount_opt *t = &mount_opts[j];
                        if (!streq(o, t->name))
                                continue;
                        if (t->propagation)
                                m->propagation = t->flag;
                        else if (t->clear)
                                m->flags &= ~t->flag;
                        else
                                m->flags |= t->flag;
                        handled = true;
                        break;
                }
                if (!handled && data_append(&m->data, o) < 0)
                        return kerr(err, -ENOMEM, "mount %s", m->dest);
        }
        return 0;
}

static int resolve_against(const char *bundle, const char *p, char **ret) {
        _cleanup_free_ char *joined = path_is_absolute(p) ? strdup(p) : path_join(bundle, p);
        if (!joined)
                return -ENOMEM;
        return path_normalize(joined, false, ret);
}

static int plan_mount(const SpecMount *sm, const char *bundle, PlanMount *m, KError **err) {
        int r = path_normalize(sm->destination, false, &m->dest);
        if (r < 0)
                return kerr(err, r, "mount %s", sm->destination);
        if (streq(m->dest, "/"))
                return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                "mount destination \"/\" is not allowed: the rootfs is given by root.path");
        const char *type = sm->type && *sm->type ? sm->type : NULL;
        m->kind = type && streq(type, "bind") ? PLAN_MOUNT_BIND : PLAN_MOUNT_FS;
        r = plan_parse_mount_options(sm->options, sm->n_options, m, err);
        if (r < 0)
                return r;
        if (m->kind == PLAN_MOUNT_FS && !type)
                return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                "mount %s: no type and no \"bind\"/\"rbind\" option; set \"type\"", m->dest);
        if (m->kind == PLAN_MOUNT_FS && (streq(type, "cgroup") || streq(type, "cgroup2")))
                m->kind = PLAN_MOUNT_CGROUP;

        if (m->kind == PLAN_MOUNT_BIND) {
                if (!sm->source)
                        return kerr_msg(err, KERR_CONFIG, -EINVAL, "mount %s: bind mount without a source", m->dest);
                r = resolve_against(bundle, sm->source, &m->source);
        } else {
                m->source = strdup(sm->source ? sm->source : type);
                m->fstype = strdup(type);
                r = m->source && m->fstype ? 0 : -ENOMEM;
        }
        if (r < 0)
                return kerr(err, r, "mount %s", m->dest);
        return 0;
}

/* The devices every container gets (runtime-spec config-linux.md "Default Devices"). */
static const struct { const char *path; unsigned major, minor; } default_devices[] = {
        { "/dev/null", 1, 3 }, { "/dev/zero", 1, 5 },    { "/dev/full", 1, 7 },
        { "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
};

/* Device-cgroup allow list matching the default devices plus ptys (as runc/crun do). */
static const SpecDeviceRule default_rules[] = {
        { false, 'a', -1, -1, "rwm" },
        { true, 'c', -1, -1, "m" },  { true, 'b', -1, -1, "m" },
        { true, 'c', 1, 3, "rwm" },  { true, 'c', 1, 5, "rwm" },  { true, 'c', 1, 7, "rwm" },
        { true, 'c', 1, 8, "rwm" },  { true, 'c', 1, 9, "rwm" },  { true, 'c', 5, 0, "rwm" },
        { true, 'c', 5, 1, "rwm" },  { true, 'c', 5, 2, "rwm" },  { true, 'c', 136, -1, "rwm" },
};

static int add_device(Plan *p, const char *path, mode_t mode, dev_t rdev, uid_t uid, gid_t gid) {
        for (size_t i = 0; i < p->n_devices; i++)
                if (streq(p->devices[i].path, path)) {
                        p->devices[i] = (PlanDevice) { p->devices[i].path, mode, rdev, uid, gid };
                        return 0;
                }
        PlanDevice *n = realloc(p->devices, (p->n_devices + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        p->devices = n;
        char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        p->devices[p->n_devices++] = (PlanDevice) { copy, mode, rdev, uid, gid };
        return 0;
}

static int plan_devices(Plan *p, const SpecLinux *l, KError **err) {
        for (size_t i = 0; i < ELEMENTSOF(default_devices); i++)
                if (add_device(p, default_devices[i].path, S_IFCHR | 0666,
                               makedev(default_devices[i].major, default_devices[i].minor), 0, 0) < 0)
                        return kerr(err, -ENOMEM, "devices");
        for (size_t i = 0; l && i < l->n_devices; i++) {
                const SpecDevice *d = &l->devices[i];
                mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
                _cleanup_free_ char *path = NULL;
                int r = path_normalize(d->path, true, &path);
                if (r < 0)
                        return kerr_msg(err, KERR_CONFIG, r, "linux.devices[%zu]: invalid path \"%s\"", i, d->path);
                if (!startswith(path, "/dev/"))
                        return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                        "linux.devices[%zu]: path \"%s\" is not under /dev", i, d->path);
                dev_t rdev = d->type == 'p' ? 0 : makedev((unsigned) d->major, (unsigned) d->minor);
                if (add_device(p, path, type | (d->has_mode ? (d->file_mode & 07777) : 0666), rdev,
                               d->has_uid ? d->uid : 0, d->has_gid ? d->gid : 0) < 0)
                        return kerr(err, -ENOMEM, "devices");
        }
        /* Device cgroup rules, in runc's order so a spec means the same on both: deny all,
         * the spec's own rules, then the default allow list last (a spec-wide "deny a" must
         * not revoke the devices every container needs). A linux.devices entry only creates
         * the node: using it takes a linux.resources.devices allow rule, as with runc. */
        size_t n_spec = l && l->has_resources ? l->resources.n_devices : 0;
        p->device_rules = calloc(ELEMENTSOF(default_rules) + n_spec, sizeof(SpecDeviceRule));
        if (!p->device_rules)
                return kerr(err, -ENOMEM, "devices");
        p->device_rules[p->n_device_rules++] = default_rules[0];
        for (size_t i = 0; i < n_spec; i++)
                p->device_rules[p->n_device_rules++] = l->resources.devices[i];
        for (size_t i = 1; i < ELEMENTSOF(default_rules); i++)
                p->device_rules[p->n_device_rules++] = default_rules[i];
        return 0;
}

static const unsigned long propagation_flags[] = {
        [PROPAGATION_UNSET] = MS_SLAVE | MS_REC,  /* runc's default for "/" */
        [PROPAGATION_PRIVATE] = MS_PRIVATE,        [PROPAGATION_RPRIVATE] = MS_PRIVATE | MS_REC,
        [PROPAGATION_SHARED] = MS_SHARED,          [PROPAGATION_RSHARED] = MS_SHARED | MS_REC,
        [PROPAGATION_SLAVE] = MS_SLAVE,            [PROPAGATION_RSLAVE] = MS_SLAVE | MS_REC,
        [PROPAGATION_UNBINDABLE] = MS_UNBINDABLE,  [PROPAGATION_RUNBINDABLE] = MS_UNBINDABLE | MS_REC,
};

static const int clone_flag_of[_NS_TYPE_MAX] = {
        [NS_PID] = CLONE_NEWPID, [NS_NETWORK] = CLONE_NEWNET, [NS_MOUNT] = CLONE_NEWNS,
        [NS_IPC] = CLONE_NEWIPC, [NS_UTS] = CLONE_NEWUTS,     [NS_USER] = CLONE_NEWUSER,
        [NS_CGROUP] = 0 /* unshared by init after it joined its cgroup */,
        [NS_TIME] = 0 /* unshared by the parent before clone, offsets written first */,
};

int plan_build(const Spec *spec, const char *bundle, Plan **ret, KError **err) {
        _cleanup_(plan_freep) Plan *p = calloc(1, sizeof(*p));
        if (!p)
                return kerr(err, -ENOMEM, "plan");
        const SpecLinux *l = spec->has_linux ? &spec->linux_ : NULL;
        int r;

        if (!spec->root_path)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "root.path is missing");
        r = resolve_against(bundle, spec->root_path, &p->rootfs);
        if (r < 0)
                return kerr(err, r, "root.path");
        p->readonly_root = spec->root_readonly;

        for (size_t i = 0; l && i < l->n_namespaces; i++) {
                const SpecNamespace *ns = &l->namespaces[i];
                if (ns->path) {
                        if (!(p->ns_join[ns->type] = strdup(ns->path)))
                                return kerr(err, -ENOMEM, "plan");
                } else {
                        p->ns_new[ns->type] = true;
                        p->clone_flags |= clone_flag_of[ns->type];
                }
        }
        p->userns = p->ns_new[NS_USER] || p->ns_join[NS_USER];
        /* Without a mount namespace the container shares ours (runtime-spec: it inherits the
         * runtime's): it is chrooted into root.path and nothing is mounted, since every mount
         * would land in the host's namespace. */
        p->no_mount_ns = !p->ns_new[NS_MOUNT] && !p->ns_join[NS_MOUNT];
        if (p->no_mount_ns) {
                if (spec->root_readonly)
                        return kerr_msg(err, KERR_CONFIG, -EINVAL, "root.readonly needs a mount namespace "
                                        "(add {\"type\": \"mount\"} to linux.namespaces)");
                if (spec->process && spec->process->terminal)
                        return kerr_msg(err, KERR_CONFIG, -EINVAL, "process.terminal needs a mount namespace for "
                                        "the container's /dev/console (add {\"type\": \"mount\"} to linux.namespaces)");
                log_warn("linux.namespaces has no mount namespace: the container shares the host's mounts, "
                         "chrooted into root.path (a process with CAP_SYS_CHROOT can leave a chroot); mounts, "
                         "devices, maskedPaths and readonlyPaths are not applied (they would change the host's)");
        }
        p->rootfs_propagation = propagation_flags[l ? l->rootfs_propagation : PROPAGATION_UNSET];

        p->mounts = calloc(spec->n_mounts ? spec->n_mounts : 1, sizeof(PlanMount));
        if (!p->mounts)
                return kerr(err, -ENOMEM, "plan");
        for (size_t i = 0; i < spec->n_mounts; i++) {
                PlanMount *m = &p->mounts[p->n_mounts++];
                r = plan_mount(&spec->mounts[i], bundle, m, err);
                if (r < 0)
                        return kerr_prefix(err, r, "mounts[%zu]", i);
                if (streq(m->dest, "/dev") && m->kind == PLAN_MOUNT_BIND)
                        p->dev_is_bind = true;
                if (streq(m->dest, "/proc") && m->kind == PLAN_MOUNT_FS && streq(m->fstype, "proc"))
                        p->has_proc_mount = true;
        }

        r = plan_devices(p, l, err);
        if (r < 0)
                return r;
        if (l && (strv_copy(l->masked_paths, &p->masked_paths) < 0 ||
                  strv_copy(l->readonly_paths, &p->readonly_paths) < 0))
                return kerr(err, -ENOMEM, "plan");

        *ret = TAKE_PTR(p);
        return 0;
}

void plan_free(Plan *p) {
        if (!p)
                return;
        for (int i = 0; i < _NS_TYPE_MAX; i++)
                free(p->ns_join[i]);
        free(p->rootfs);
        for (size_t i = 0; i < p->n_mounts; i++) {
                free(p->mounts[i].source);
                free(p->mounts[i].dest);
                free(p->mounts[i].fstype);
                free(p->mounts[i].data);
        }
        free(p->mounts);
        for (size_t i = 0; i < p->n_devices; i++)
                free(p->devices[i].path);
        free(p->devices);
        free(p->device_rules);
        strv_free(p->masked_paths);
        strv_free(p->readonly_paths);
        free(p);
}

static void dump_flags(FILE *f, unsigned long flags) {
        static const struct { unsigned long f; const char *n; } names[] = {
                { MS_RDONLY, "ro" },         { MS_NOSUID, "nosuid" },     { MS_NODEV, "nodev" },
                { MS_NOEXEC, "noexec" },     { MS_SYNCHRONOUS, "sync" },  { MS_DIRSYNC, "dirsync" },
                { MS_MANDLOCK, "mand" },     { MS_NOATIME, "noatime" },   { MS_NODIRATIME, "nodiratime" },
                { MS_RELATIME, "relatime" }, { MS_STRICTATIME, "strictatime" },
                { MS_SHARED, "shared" },     { MS_SLAVE, "slave" },       { MS_PRIVATE, "private" },
                { MS_UNBINDABLE, "unbindable" }, { MS_REC, "rec" },
        };
        bool first = true;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (flags & names[i].f) {
                        fprintf(f, "%s%s", first ? "" : ",", names[i].n);
                        first = false;
                }
        if (first)
                fputc('-', f);
}

void plan_dump(const Plan *p, FILE *f) {
        static const char *const kinds[] = { "fs", "bind", "cgroup" };
        fprintf(f, "rootfs %s%s\n", p->rootfs, p->readonly_root ? " ro" : "");
        fprintf(f, "rootfs-propagation ");
        dump_flags(f, p->rootfs_propagation);
        fputc('\n', f);
        for (int i = 0; i < _NS_TYPE_MAX; i++) {
                if (p->ns_new[i])
                        fprintf(f, "namespace %s new\n", spec_ns_type_to_string(i));
                if (p->ns_join[i])
                        fprintf(f, "namespace %s join %s\n", spec_ns_type_to_string(i), p->ns_join[i]);
        }
        if (p->no_mount_ns)
                fprintf(f, "no mount namespace: chroot, nothing mounted\n");
        for (size_t i = 0; i < p->n_mounts; i++) {
                const PlanMount *m = &p->mounts[i];
                fprintf(f, "mount %s %s%s src=%s type=%s flags=", m->dest, kinds[m->kind],
                        m->recursive ? " rec" : "", m->source, m->fstype ? m->fstype : "-");
                dump_flags(f, m->flags);
                fprintf(f, " propagation=");
                dump_flags(f, m->propagation);
                fprintf(f, " data=%s\n", m->data ? m->data : "-");
        }
        for (size_t i = 0; i < p->n_devices; i++) {
                const PlanDevice *d = &p->devices[i];
                fprintf(f, "device %s %c %u:%u %04o %u:%u\n", d->path,
                        S_ISBLK(d->mode) ? 'b' : S_ISFIFO(d->mode) ? 'p' : 'c', major(d->rdev), minor(d->rdev),
                        (unsigned) (d->mode & 07777), (unsigned) d->uid, (unsigned) d->gid);
        }
        for (size_t i = 0; i < p->n_device_rules; i++) {
                const SpecDeviceRule *r = &p->device_rules[i];
                fprintf(f, "device-rule %s %c ", r->allow ? "allow" : "deny", r->type);
                if (r->major < 0) fputc('*', f); else fprintf(f, "%lld", (long long) r->major);
                fputc(':', f);
                if (r->minor < 0) fputc('*', f); else fprintf(f, "%lld", (long long) r->minor);
                fprintf(f, " %s\n", r->access);
        }
        for (size_t i = 0; p->masked_paths && p->masked_paths[i]; i++)
                fprintf(f, "masked %s\n", p->masked_paths[i]);
        for (size_t i = 0; p->readonly_paths && p->readonly_paths[i]; i++)
                fprintf(f, "readonly %s\n", p->readonly_paths[i]);
}
