/* SPDX-License-Identifier: Apache-2.0 */
#include "cloned-binary.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define MAX_PHDRS 64

extern char **environ;

int cloned_binary_is_sealed(void) {
        _cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int seals = fcntl(fd, F_GET_SEALS);
        return seals >= 0 && (seals & REQUIRED_SEALS) == REQUIRED_SEALS;
}

/* Running from a read-only overlayfs that refuses a reopen for writing (EROFS): ours, which has no
 * upper layer and so a superblock read-only for good (no remount or mount_setattr makes it
 * writable), or a lower-only image such as composefs. (A read-only overlay with an upper layer
 * passes too; only the host's root could make it writable again. A detached mount is not in
 * mountinfo, so its options cannot be read to tell them apart.) */
int cloned_binary_is_overlay(void) {
        _cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct statfs sfs;
        if (fstatfs(fd, &sfs) < 0 || sfs.f_type != OVERLAYFS_SUPER_MAGIC || !(sfs.f_flags & ST_RDONLY))
                return 0;
        /* before the open below: on an overlay with an upper layer it would copy the file up */
        int w = open("/proc/self/exe", O_WRONLY | O_CLOEXEC);
        if (w >= 0) {
                close(w);
                return 0;
        }
        return errno == EROFS;
}

uint64_t cloned_binary_exec_size(const Elf64_Ehdr *eh, const Elf64_Phdr *ph, size_t n_ph, uint64_t file_size) {
        if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
            eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > n_ph ||
            eh->e_phoff > file_size || eh->e_phnum * sizeof(Elf64_Phdr) > file_size - eh->e_phoff)
                return file_size;
        uint64_t end = eh->e_phoff + eh->e_phnum * sizeof(Elf64_Phdr);
        for (size_t i = 0; i < eh->e_phnum; i++) {
                if (ph[i].p_offset > file_size || ph[i].p_filesz > file_size - ph[i].p_offset)
                        return file_size;       /* not a file we understand: copy all of it */
                if (ph[i].p_offset + ph[i].p_filesz > end)
                        end = ph[i].p_offset + ph[i].p_filesz;
        }
        return end < sizeof(*eh) ? file_size : end;
}

/* How much of the binary execve needs: everything its program headers describe. The section
 * headers and the non-loaded sections after them (debug info: most of a -g build) stay behind. */
static uint64_t exec_size(int fd, uint64_t file_size, Elf64_Ehdr *eh) {
        Elf64_Phdr ph[MAX_PHDRS];
        if (pread(fd, eh, sizeof(*eh), 0) != (ssize_t) sizeof(*eh))
                return file_size;
        size_t n = eh->e_phnum < MAX_PHDRS ? eh->e_phnum : MAX_PHDRS;
        if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
            pread(fd, ph, n * sizeof(Elf64_Phdr), (off_t) eh->e_phoff) != (ssize_t) (n * sizeof(Elf64_Phdr)))
                return file_size;
        return cloned_binary_exec_size(eh, ph, n, file_size);
}

int cloned_binary_ensure(char **argv, KError **err) {
        int r = cloned_binary_is_sealed();
        if (r > 0)
                return 0;
        _cleanup_close_ int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (src < 0)
                return kerr(err, -errno, "open /proc/self/exe to clone the runtime binary");
        struct stat st;
        if (fstat(src, &st) < 0)
                return kerr(err, -errno, "stat the runtime binary");
        Elf64_Ehdr eh;
        uint64_t size = exec_size(src, (uint64_t) st.st_size, &eh);
        _cleanup_close_ int mfd = memfd_create("kapsel-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (mfd < 0)
                return kerr(err, -errno, "memfd_create for the runtime binary copy");
        for (off_t off = 0; (uint64_t) off < size;) {
                ssize_t n = sendfile(mfd, src, &off, (size_t) (size - (uint64_t) off));
                if (n < 0)
                        return kerr(err, -errno, "copy the runtime binary into a memfd");
                if (n == 0)
                        return kerr(err, -EIO, "short copy of the runtime binary");
        }
        /* a trimmed copy has no section headers: say so, rather than point past its end */
        if (size < (uint64_t) st.st_size) {
                eh.e_shoff = 0;
                eh.e_shnum = 0;
                eh.e_shstrndx = SHN_UNDEF;
                if (pwrite(mfd, &eh, sizeof(eh), 0) != (ssize_t) sizeof(eh))
                        return kerr(err, -errno, "write the runtime binary copy's header");
        }
        if (fcntl(mfd, F_ADD_SEALS, REQUIRED_SEALS) < 0)
                return kerr(err, -errno, "seal the runtime binary copy");
        fexecve(mfd, argv, environ);
        return kerr(err, -errno, "re-execute the sealed runtime binary copy");
}

static int fsconfig_str(int fd, const char *key, const char *value) {
        return (int) syscall(SYS_fsconfig, fd, value ? FSCONFIG_SET_STRING : FSCONFIG_CMD_CREATE, value ? key : NULL,
                             value, 0);
}

/* A detached, read-only overlayfs of the binary's directory (over an empty detached tmpfs: an
 * overlay without an upper layer needs two lower ones), and the binary opened through it. -errno
 * when this host or caller cannot (no CAP_SYS_ADMIN, no "lowerdir+" before Linux 6.8): the
 * caller copies instead. */
static int open_through_overlay(const struct stat *self) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
                return -errno;
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (exe[0] != '/' || !slash || !slash[1] || strstr(exe, " (deleted)"))
                return -ENOENT;
        *slash = 0;
        const char *dir = slash == exe ? "/" : exe, *name = slash + 1;

        _cleanup_close_ int tfs = (int) syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
        if (tfs < 0 || fsconfig_str(tfs, NULL, NULL) < 0)
                return -errno;
        _cleanup_close_ int tmnt = (int) syscall(SYS_fsmount, tfs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
        if (tmnt < 0)
                return -errno;
        char empty[64];
        snprintf(empty, sizeof(empty), "/proc/self/fd/%d", tmnt);
        _cleanup_close_ int ofs = (int) syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
        if (ofs < 0 || fsconfig_str(ofs, "lowerdir+", dir) < 0 || fsconfig_str(ofs, "lowerdir+", empty) < 0 ||
            fsconfig_str(ofs, NULL, NULL) < 0)
                return -errno;
        _cleanup_close_ int omnt = (int) syscall(SYS_fsmount, ofs, FSMOUNT_CLOEXEC,
                                                 MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
        if (omnt < 0)
                return -errno;
        int fd = openat(omnt, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        /* the same file we run (not one that replaced it since) */
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != self->st_size ||
            st.st_mtim.tv_sec != self->st_mtim.tv_sec || st.st_mtim.tv_nsec != self->st_mtim.tv_nsec) {
                close(fd);
                return -ESTALE;
        }
        return fd;
}

/* The full identity map "0 0 4294967295": the initial user namespace, or one that a privileged
 * parent made to stand for it (a sandboxed host, as this project's CI machine: its namespace inode
 * is not the initial one). Only a process privileged in the parent can write that map, so such a
 * namespace's root is the host's root; a rootless engine's cannot have it. */
static bool in_initial_userns(void) {
        _cleanup_close_ int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
        char buf[128];
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = 0;
        unsigned long a, b, c;
        /* one line: "0 0 4294967295" */
        return sscanf(buf, "%lu %lu %lu", &a, &b, &c) == 3 && a == 0 && b == 0 && c == 4294967295UL &&
               strchr(buf, '\n') == buf + n - 1;
}

int cloned_binary_ensure_zero_copy(char **argv, KError **err) {
        int r = cloned_binary_is_overlay();
        if (r > 0 || cloned_binary_is_sealed() > 0)
                return 0;
        /* Only the host's root mounts it: an overlay made in a user namespace belongs to that
         * namespace, whose root (the container's, with rootless engines) could reconfigure it. */
        if (geteuid() != 0 || !in_initial_userns())
                return cloned_binary_ensure(argv, err);
        struct stat self;
        if (stat("/proc/self/exe", &self) < 0)
                return kerr(err, -errno, "stat the runtime binary");
        _cleanup_close_ int fd = open_through_overlay(&self);
        if (fd >= 0)
                (void) syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
        /* only returns when it could not: copy instead */
        return cloned_binary_ensure(argv, err);
}
