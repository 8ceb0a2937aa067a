/* SPDX-License-Identifier: Apache-2.0 */
/* Guest RAM in its own file beside the state stream: byte i of the file is byte i of the backing
 * mapping. Pages of zeros are not written, so the file is sparse (SEEK_HOLE finds them) and a
 * mostly idle 1 GiB guest costs what it uses. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memory-file.h"

#define PAGE 4096u
#define MAX_RUN (1u << 20)      /* one pwrite at most */

static bool page_is_zero(const uint8_t *p) {
        const uint64_t *w = (const uint64_t *) p;
        for (unsigned i = 0; i < PAGE / 8; i++)
                if (w[i])
                        return false;
        return true;
}

static int write_run(int fd, const uint8_t *base, uint64_t off, uint64_t len) {
        while (len > 0) {
                ssize_t n = pwrite(fd, base + off, len, (off_t) off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                off += (uint64_t) n;
                len -= (uint64_t) n;
        }
        return 0;
}

static int write_sparse(int fd, const uint8_t *base, uint64_t len) {
        if (ftruncate(fd, (off_t) len) < 0)
                return -errno;
        uint64_t run = 0, run_len = 0;
        for (uint64_t off = 0; off < len; off += PAGE) {
                bool zero = len - off >= PAGE ? page_is_zero(base + off) : false;
                if (!zero && run_len > 0 && run + run_len == off && run_len < MAX_RUN) {
                        run_len += len - off < PAGE ? len - off : PAGE;
                        continue;
                }
                if (run_len > 0) {
                        int r = write_run(fd, base, run, run_len);
                        if (r < 0)
                                return r;
                        run_len = 0;
                }
                if (!zero) {
                        run = off;
                        run_len = len - off < PAGE ? len - off : PAGE;
                }
        }
        int r = run_len > 0 ? write_run(fd, base, run, run_len) : 0;
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        return r;
}

int memory_file_save(int dirfd, const char *name, const uint8_t *base, uint64_t len, KError **err) {
        char tmp[256];
        if (snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= (int) sizeof(tmp))
                return kerr_msg(err, KERR_GENERIC, -ENAMETOOLONG, "memory file name '%s' too long", name);
        (void) unlinkat(dirfd, tmp, 0);
        _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return kerr(err, -errno, "create memory file '%s'", tmp);
        int r = write_sparse(fd, base, len);
        /* a new name, then rename: a clone may still map the file this one replaces */
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dirfd, tmp, 0);
                return kerr(err, r, "write %llu MiB of guest memory to '%s'", (unsigned long long) (len >> 20), name);
        }
        return 0;
}

int memory_file_open(int dirfd, const char *name, uint64_t len, KError **err) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return kerr(err, -errno, "open memory file '%s'", name);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return kerr(err, -errno, "stat memory file '%s'", name);
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size != len)
                return kerr_msg(err, KERR_CONFIG, -EINVAL,
                                "memory file '%s' is %lld bytes, this VM has %llu bytes of RAM: restore with the "
                                "memory size the snapshot was taken with", name, (long long) st.st_size,
                                (unsigned long long) len);
        return TAKE_FD(fd);
}
