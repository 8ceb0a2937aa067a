/* SPDX-License-Identifier: Apache-2.0 */
#include "cloned-binary.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

int cloned_binary_is_sealed(void) {
        _cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int seals = fcntl(fd, F_GET_SEALS);
        return seals >= 0 && (seals & REQUIRED_SEALS) == REQUIRED_SEALS;
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
        _cleanup_close_ int mfd = memfd_create("kapsel-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (mfd < 0)
                return kerr(err, -errno, "memfd_create for the runtime binary copy");
        for (off_t off = 0; off < st.st_size;) {
                ssize_t n = sendfile(mfd, src, &off, (size_t) (st.st_size - off));
                if (n < 0)
                        return kerr(err, -errno, "copy the runtime binary into a memfd");
                if (n == 0)
                        return kerr(err, -EIO, "short copy of the runtime binary");
        }
        if (fcntl(mfd, F_ADD_SEALS, REQUIRED_SEALS) < 0)
                return kerr(err, -errno, "seal the runtime binary copy");
        fexecve(mfd, argv, environ);
        return kerr(err, -errno, "re-execute the sealed runtime binary copy");
}
