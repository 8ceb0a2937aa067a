/* SPDX-License-Identifier: Apache-2.0 */
/* The guest kernel and its initramfs: kapsel's static guest init plus the kernel modules it loads
 * (a stock Debian kernel has virtio, ext4 and overlayfs as modules). The archive is written here
 * in the newc cpio format (Linux Documentation/driver-api/early-userspace/buffer-format.rst), so no
 * external tool runs at start; it is built once per (kernel version, init binary) and cached. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cleanup.h"
#include "fd-util.h"
#include "path-util.h"
#include "string-util.h"
#include "vm-guest.h"

#define MODULE_MAX (64u << 20)
#define MODULES_DEP_MAX (16u << 20)
#define INIT_MAX (64u << 20)
#define BZIMAGE_HEADER_SIZE 0x600

/* Guest init loads these (plus their dependencies) in order. crc32c: ext4/jbd2 checksums ask the
 * crypto API for it by name, which would need modprobe; crc32c_intel may refuse a CPU without
 * SSE4.2 (the guest ignores ENODEV). */
const char *const vm_initramfs_modules[] = {
        "virtio_pci", "virtio_blk", "virtio_console", "virtio_net", "virtio_rng",
        "crc32c_generic", "crc32c_intel", "ext4", "overlay", NULL,
};

/* ---- kernel ---- */

/* boot.rst: the setup header's kernel_version (offset 0x20E) points (minus 0x200) at a string
 * whose first word is the release, when the header magic "HdrS" is at 0x202. */
static int bzimage_version(const char *path, char **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        unsigned char h[BZIMAGE_HEADER_SIZE + 256];
        ssize_t n = pread(fd, h, sizeof(h) - 1, 0);
        if (n < 0x210 || memcmp(h + 0x202, "HdrS", 4) != 0)
                return -EINVAL;
        size_t off = (size_t) (h[0x20E] | h[0x20F] << 8) + 0x200;
        if (off >= (size_t) n)
                return -EINVAL;
        h[n] = 0;
        size_t len = strcspn((char *) h + off, " ");
        if (len == 0 || off + len >= (size_t) n)
                return -EINVAL;
        *ret = strndup((char *) h + off, len);
        return *ret ? 0 : -ENOMEM;
}

static int kernel_version_of(const char *path, char **ret) {
        const char *base = strrchr(path, '/');
        const char *v = startswith(base ? base + 1 : path, "vmlinuz-");
        if (v && *v) {
                *ret = strdup(v);
                return *ret ? 0 : -ENOMEM;
        }
        return bzimage_version(path, ret);
}

static int newest_kernel(const char *boot_dir, char **ret) {
        _cleanup_(closedirp) DIR *d = opendir(boot_dir);
        if (!d)
                return -errno;
        _cleanup_free_ char *best = NULL;
        struct dirent *de;
        while ((de = readdir(d))) {
                const char *v = startswith(de->d_name, "vmlinuz-");
                if (!v || !*v || (best && strverscmp(v, best) <= 0))
                        continue;
                free(best);
                if (!(best = strdup(v)))
                        return -ENOMEM;
        }
        if (!best)
                return -ENOENT;
        if (asprintf(ret, "%s/vmlinuz-%s", boot_dir, best) < 0)
                return -ENOMEM;
        return 0;
}

int vm_guest_find_kernel_in(const char *boot_dir, const char *override, char **ret_path, char **ret_version,
                            KError **err) {
        _cleanup_free_ char *path = NULL, *version = NULL;
        int r;
        if (override) {
                if (access(override, R_OK) < 0)
                        return kerr_kind(err, KERR_USAGE, -errno, "guest kernel %s", override);
                if (!(path = strdup(override)))
                        return kerr(err, -ENOMEM, "guest kernel");
        } else if ((r = newest_kernel(boot_dir, &path)) < 0)
                return kerr_msg(err, KERR_HOST, r, "no guest kernel: no %s/vmlinuz-* (install linux-image-amd64 "
                                "or pass --kernel)", boot_dir);
        r = kernel_version_of(path, &version);
        if (r < 0)
                return kerr_msg(err, KERR_USAGE, r, "cannot tell the version of kernel %s: name it vmlinuz-<version>",
                                path);
        *ret_path = TAKE_PTR(path);
        if (ret_version)
                *ret_version = TAKE_PTR(version);
        return 0;
}

int vm_guest_find_kernel(const char *override, char **ret_path, char **ret_version, KError **err) {
        return vm_guest_find_kernel_in("/boot", override, ret_path, ret_version, err);
}

/* ---- modules.dep ---- */

/* "kernel/fs/ext4/ext4.ko" -> "ext4"; '-' becomes '_' as the kernel does for module names. */
static void module_name(const char *path, size_t len, char *buf, size_t size) {
        const char *slash = memrchr(path, '/', len);
        const char *base = slash ? slash + 1 : path;
        size_t n = len - (size_t) (base - path);
        const char *dot = memchr(base, '.', n);
        if (dot)
                n = (size_t) (dot - base);
        if (n >= size)
                n = size - 1;
        for (size_t i = 0; i < n; i++)
                buf[i] = base[i] == '-' ? '_' : base[i];
        buf[n] = 0;
}

typedef struct DepLine {
        const char *path;       /* module path, up to ':' */
        size_t path_len;
        const char *deps;       /* rest of the line */
        size_t deps_len;
} DepLine;

static bool dep_line_find(const char *text, const char *name, DepLine *ret) {
        char buf[128];
        for (const char *p = text; *p;) {
                const char *eol = strchrnul(p, '\n');
                const char *colon = memchr(p, ':', (size_t) (eol - p));
                if (colon) {
                        module_name(p, (size_t) (colon - p), buf, sizeof(buf));
                        if (streq(buf, name)) {
                                *ret = (DepLine) { p, (size_t) (colon - p), colon + 1, (size_t) (eol - colon - 1) };
                                return true;
                        }
                }
                p = *eol ? eol + 1 : eol;
        }
        return false;
}

/* Depth-first: dependencies before the module, each once. Depth bounds a cyclic modules.dep. */
static int plan_visit(const char *text, const char *name, char ***order, unsigned depth) {
        if (depth > 32)
                return -ELOOP;
        DepLine l;
        if (!dep_line_find(text, name, &l))
                return 0;
        _cleanup_free_ char *path = strndup(l.path, l.path_len);
        if (!path)
                return -ENOMEM;
        if (strv_contains(*order, path))
                return 0;
        for (size_t i = 0; i < l.deps_len;) {
                while (i < l.deps_len && (l.deps[i] == ' ' || l.deps[i] == '\t'))
                        i++;
                size_t start = i;
                while (i < l.deps_len && l.deps[i] != ' ' && l.deps[i] != '\t')
                        i++;
                if (i == start)
                        break;
                char dep[128];
                module_name(l.deps + start, i - start, dep, sizeof(dep));
                int r = plan_visit(text, dep, order, depth + 1);
                if (r < 0)
                        return r;
        }
        return strv_contains(*order, path) ? 0 : strv_extend(order, path);
}

int vm_initramfs_plan_modules(const char *modules_dep, const char *const *wanted, char ***ret, KError **err) {
        _cleanup_strv_free_ char **order = calloc(1, sizeof(char *));
        if (!order)
                return kerr(err, -ENOMEM, "module plan");
        for (const char *const *w = wanted; *w; w++) {
                char name[128];
                module_name(*w, strlen(*w), name, sizeof(name));
                int r = plan_visit(modules_dep, name, &order, 0);
                if (r < 0)
                        return kerr(err, r, "module plan for %s", *w);
        }
        *ret = TAKE_PTR(order);
        return 0;
}

/* ---- newc cpio ---- */

struct CpioWriter {
        int fd;
        unsigned ino;
        uint64_t offset;
};

int cpio_writer_new(int fd, CpioWriter **ret) {
        CpioWriter *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (CpioWriter) { .fd = fd, .ino = 1 };
        *ret = w;
        return 0;
}

void cpio_writer_free(CpioWriter *w) {
        free(w);
}

static int cpio_pad(CpioWriter *w) {
        static const char zeros[4];
        size_t pad = (4 - w->offset % 4) % 4;
        w->offset += pad;
        return pad ? write_all(w->fd, zeros, pad) : 0;
}

static int cpio_put(CpioWriter *w, const void *data, size_t len) {
        w->offset += len;
        return write_all(w->fd, data, len);
}

/* One entry: 110-byte ASCII header, name + NUL, pad to 4, data, pad to 4 (buffer-format.rst). */
static int cpio_entry(CpioWriter *w, const char *name, mode_t mode, dev_t rdev, const void *data, size_t len) {
        size_t namesize = strlen(name) + 1;
        if (namesize > 4096 || len > UINT32_MAX)
                return -E2BIG;
        char hdr[111];
        snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X",
                 w->ino++, (unsigned) mode, 0u, 0u, S_ISDIR(mode) ? 2u : 1u, 0u, len, 0u, 0u,
                 major(rdev), minor(rdev), namesize, 0u);
        int r = cpio_put(w, hdr, 110);
        if (r >= 0)
                r = cpio_put(w, name, namesize);
        if (r >= 0)
                r = cpio_pad(w);
        if (r >= 0 && len > 0)
                r = cpio_put(w, data, len);
        if (r >= 0)
                r = cpio_pad(w);
        return r;
}

int cpio_add_dir(CpioWriter *w, const char *name, mode_t mode) {
        return cpio_entry(w, name, S_IFDIR | (mode & 07777), 0, NULL, 0);
}

int cpio_add_file(CpioWriter *w, const char *name, mode_t mode, const void *data, size_t len) {
        return cpio_entry(w, name, S_IFREG | (mode & 07777), 0, data, len);
}

int cpio_add_symlink(CpioWriter *w, const char *name, const char *target) {
        return cpio_entry(w, name, S_IFLNK | 0777, 0, target, strlen(target));
}

static int cpio_add_chardev(CpioWriter *w, const char *name, mode_t mode, unsigned maj, unsigned min) {
        return cpio_entry(w, name, S_IFCHR | (mode & 07777), makedev(maj, min), NULL, 0);
}

int cpio_finish(CpioWriter *w) {
        int r = cpio_entry(w, "TRAILER!!!", 0, 0, NULL, 0);
        return r < 0 ? r : fsync(w->fd) < 0 && errno != EINVAL ? -errno : 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(CpioWriter *, cpio_writer_free)

/* ---- the initramfs ---- */

static const char *const initramfs_dirs[] = { "dev", "proc", "sys", "mnt", "newroot", "modules", NULL };

static int add_module(CpioWriter *w, const char *modules_dir, const char *rel, FILE *order, KError **err) {
        size_t l = strlen(rel);
        if (l < 3 || !streq(rel + l - 3, ".ko"))
                return kerr_msg(err, KERR_HOST, -EOPNOTSUPP,
                                "kernel module %s/%s is compressed; the guest needs uncompressed modules", modules_dir,
                                rel);
        _cleanup_free_ char *src = path_join(modules_dir, rel), *data = NULL, *dst = NULL;
        if (!src)
                return kerr(err, -ENOMEM, "initramfs");
        size_t len;
        int r = read_full_file_at(AT_FDCWD, src, MODULE_MAX, &data, &len);
        if (r < 0)
                return kerr(err, r, "read kernel module %s", src);
        const char *base = strrchr(rel, '/');
        base = base ? base + 1 : rel;
        if (asprintf(&dst, "modules/%s", base) < 0)
                return kerr(err, -ENOMEM, "initramfs");
        r = cpio_add_file(w, dst, 0644, data, len);
        if (r < 0)
                return kerr(err, r, "write initramfs entry %s", dst);
        fprintf(order, "%s\n", base);
        return 0;
}

static int add_modules(CpioWriter *w, const char *modules_dir, KError **err) {
        _cleanup_free_ char *dep_path = path_join(modules_dir, "modules.dep"), *dep = NULL, *order = NULL;
        _cleanup_strv_free_ char **plan = NULL;
        if (!dep_path)
                return kerr(err, -ENOMEM, "initramfs");
        int r = read_full_file_at(AT_FDCWD, dep_path, MODULES_DEP_MAX, &dep, NULL);
        if (r < 0)
                return kerr_kind(err, KERR_HOST, r, "read %s (the guest kernel's modules)", dep_path);
        r = vm_initramfs_plan_modules(dep, vm_initramfs_modules, &plan, err);
        if (r < 0)
                return r;
        size_t order_len = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&order, &order_len);
        if (!f)
                return kerr(err, -ENOMEM, "initramfs");
        for (char **m = plan; *m; m++)
                if ((r = add_module(w, modules_dir, *m, f, err)) < 0)
                        return r;
        if (fflush(f) != 0)
                return kerr(err, -ENOMEM, "initramfs");
        r = cpio_add_file(w, "modules/order", 0644, order, order_len);
        return r < 0 ? kerr(err, r, "write initramfs") : 0;
}

static int write_initramfs(int fd, const char *modules_dir, const char *init_path, KError **err) {
        _cleanup_(cpio_writer_freep) CpioWriter *w = NULL;
        _cleanup_free_ char *init = NULL;
        size_t init_len;
        int r = read_full_file_at(AT_FDCWD, init_path, INIT_MAX, &init, &init_len);
        if (r < 0)
                return kerr(err, r, "read guest init %s", init_path);
        if ((r = cpio_writer_new(fd, &w)) < 0)
                return kerr(err, r, "initramfs");
        for (const char *const *d = initramfs_dirs; *d && r >= 0; d++)
                r = cpio_add_dir(w, *d, 0755);
        /* the kernel opens /dev/console as init's stdio before running it */
        if (r >= 0)
                r = cpio_add_chardev(w, "dev/console", 0600, 5, 1);
        if (r >= 0)
                r = cpio_add_file(w, "init", 0755, init, init_len);
        if (r < 0)
                return kerr(err, r, "write initramfs");
        if ((r = add_modules(w, modules_dir, err)) < 0)
                return r;
        r = cpio_finish(w);
        return r < 0 ? kerr(err, r, "write initramfs") : 0;
}

int vm_initramfs_build(const char *modules_dir, const char *init_path, const char *out_path, KError **err) {
        _cleanup_close_ int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return kerr(err, -errno, "create initramfs %s", out_path);
        int r = write_initramfs(fd, modules_dir, init_path, err);
        if (r < 0)
                unlink(out_path);
        return r;
}

/* Which build of the guest init this is: its inode, size and modification time. A rebuilt or
 * reinstalled binary gets a new cache entry. (Not a content hash: the monitor, which runs this, stays
 * free of a crypto library, whose relocated data alone is 400 KiB per process.) */
static int file_identity(const char *path, char id[static 64]) {
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        snprintf(id, 64, "%" PRIx64 "-%" PRIx64 "-%" PRIx64, (uint64_t) st.st_ino, (uint64_t) st.st_size,
                 (uint64_t) st.st_mtim.tv_sec * UINT64_C(1000000000) + (uint64_t) st.st_mtim.tv_nsec);
        return 0;
}

int vm_initramfs_ensure(const char *cache_dir, const char *kernel_version, const char *init_path, char **ret_path,
                        KError **err) {
        char id[64];
        int r = file_identity(init_path, id);
        if (r < 0)
                return kerr(err, r, "guest init %s", init_path);
        if (strchr(kernel_version, '/'))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "bad kernel version '%s'", kernel_version);
        _cleanup_free_ char *path = NULL, *tmp = NULL, *modules_dir = NULL;
        if (asprintf(&path, "%s/initramfs-%s-%s.cpio", cache_dir, kernel_version, id) < 0 ||
            asprintf(&tmp, "%s.tmp.%d", path, (int) getpid()) < 0 ||
            asprintf(&modules_dir, "/lib/modules/%s", kernel_version) < 0)
                return kerr(err, -ENOMEM, "initramfs");
        if (access(path, R_OK) == 0) {
                *ret_path = TAKE_PTR(path);
                return 0;
        }
        if (mkdir(cache_dir, 0700) < 0 && errno != EEXIST)
                return kerr(err, -errno, "create %s", cache_dir);
        if ((r = vm_initramfs_build(modules_dir, init_path, tmp, err)) < 0)
                return r;
        if (rename(tmp, path) < 0) {
                r = -errno;
                unlink(tmp);
                return kerr(err, r, "install initramfs %s", path);
        }
        *ret_path = TAKE_PTR(path);
        return 0;
}
