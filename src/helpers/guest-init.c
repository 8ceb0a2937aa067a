/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel-guest-init: pid 1 of a `kapsel run --isolation=vm` guest (issue 7). Static, in the
 * initramfs the host builds (src/engine/vm-initramfs.c). It loads the virtio/ext4/overlay modules,
 * mounts the image disk (vda, read-only) under the instance's writable disk (vdb) as an overlay,
 * applies the config from vdc (schema in src/engine/vm-guest.h), runs the process on hvc0 and
 * reports to the host on ttyS0. Protocol (vm-guest.h): KAPSEL-INIT, KAPSEL-STARTED <pid>,
 * KAPSEL-ERROR <msg>, KAPSEL-EXIT <code> out; KAPSEL-SIGNAL <n> in.
 *
 * The process runs in a mount namespace of its own whose root is the overlay, so init keeps the
 * initramfs view and can unmount every disk cleanly after the process ended: the writable disk and
 * read-write volumes are consistent when the VM resets (the host reads them back with debugfs). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fd-util.h"
#include "guest-init.h"
#include "guest-tar.h"
#include "path-util.h"
#include "string-util.h"
#include "vm-guest.h"

#define CONFIG_MAX (1024 * 1024)
#define DEVICE_TIMEOUT_MS 30000

extern char **environ;

static int console_fd = 2;
static bool mounted_any;
static int root_fd = -1;        /* O_PATH of NEWROOT while setting it up; closed before unmounting */
static char changes_dev[16];    /* a build step: "/dev/vdX" its changes go to (vm-guest.h), or "" */

/* One marker line in one write(), so kernel messages cannot split it. */
void guest_marker(const char *fmt, ...) {
        char line[512];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n > sizeof(line) - 2)
                n = sizeof(line) - 2;
        for (int i = 0; i < n; i++)     /* a message is one line */
                if (line[i] == '\n' || line[i] == '\r')
                        line[i] = ' ';
        line[n++] = '\n';
        (void) write_all(console_fd, line, (size_t) n);
}

static int mountinfo_targets(char ***ret) {
        _cleanup_free_ char *text = NULL;
        int r = read_full_file_at(AT_FDCWD, "/proc/self/mountinfo", 1 << 20, &text, NULL);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **v = calloc(1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                char target[4096];
                if (sscanf(line, "%*s %*s %*s %*s %4095s", target) == 1 &&
                    (startswith(target, NEWROOT) || startswith(target, "/mnt/")) && (r = strv_extend(&v, target)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* A build step's changes: the upper dir as a layer tar on the changes disk, then its header (the
 * tar is flushed first, so a header is only ever found in front of a whole tar). */
static int write_changes(void) {
        _cleanup_close_ int fd = open(changes_dev, O_WRONLY | O_CLOEXEC);
        _cleanup_close_ int ufd = open("/mnt/upper/upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || ufd < 0) {
                guest_marker("KAPSEL-ERROR the step's changes: open %s: %s", fd < 0 ? changes_dev : "the upper dir",
                             strerror(errno));
                return -1;
        }
        GuestTarResult res = { 0 };
        int r = lseek(fd, VM_GUEST_CHANGES_OFFSET, SEEK_SET) < 0 ? -errno : 0;
        if (r >= 0)
                r = guest_tar_write_tree(ufd, fd, GUEST_TAR_OVERLAY_PREFIX, &res);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0) {
                guest_marker("KAPSEL-ERROR the step's changes%s%s: %s", *res.where ? " at /" : "", res.where,
                             r == -ENOSPC ? "more than the changes disk holds" : strerror(-r));
                return -1;
        }
        char head[VM_GUEST_CHANGES_OFFSET] = { 0 };
        snprintf(head, sizeof(head), VM_GUEST_CHANGES_MAGIC "%llu\n", (unsigned long long) res.size);
        if (pwrite(fd, head, sizeof(head), 0) != (ssize_t) sizeof(head) || fsync(fd) < 0) {
                guest_marker("KAPSEL-ERROR the step's changes: write the header: %s", strerror(errno));
                return -1;
        }
        return 0;
}

/* Kill what is left, write a build step's changes, unmount the disks (newest mount first), flush,
 * reset. QEMU -no-reboot and kapsel-vmm (i8042 reset) both end the VM on a reboot; a power-off
 * would need ACPI. */
static _noreturn_ void shutdown_guest(int code) {
        root_fd = safe_close(root_fd);
        kill(-1, SIGKILL);
        while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
                ;
        /* only a step that succeeded has changes to commit; a failed write fails the step */
        if (*changes_dev && code == 0 && write_changes() < 0)
                code = 125;
        _cleanup_strv_free_ char **targets = NULL;
        if (mounted_any && mountinfo_targets(&targets) >= 0)
                for (size_t i = strv_length(targets); i-- > 0;)
                        if (umount2(targets[i], 0) < 0)
                                guest_marker("KAPSEL-WARNING umount %s: %s", targets[i], strerror(errno));
        sync();
        guest_marker("KAPSEL-EXIT %d", code);
        reboot(RB_AUTOBOOT);
        for (;;)
                pause();
}

_noreturn_ void guest_fail(int code, const char *fmt, ...) {
        char msg[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        guest_marker("KAPSEL-ERROR %s", msg);
        shutdown_guest(code);
}

static long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void guest_wait_for(const char *path) {
        long deadline = now_ms() + DEVICE_TIMEOUT_MS;
        while (access(path, F_OK) < 0) {
                if (now_ms() > deadline)
                        guest_fail(125, "%s did not appear within %d s (is the device attached?)", path,
                                   DEVICE_TIMEOUT_MS / 1000);
                usleep(5000);
        }
}

static void must_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
        if (mkdir(dst, 0755) < 0 && errno != EEXIST)
                guest_fail(125, "mkdir %s: %s", dst, strerror(errno));
        if (mount(src, dst, type, flags, data) < 0)
                guest_fail(125, "mount %s (%s) on %s: %s", src, type, dst, strerror(errno));
        mounted_any = true;
}

void guest_set_raw(int fd) {
        struct termios t;
        if (tcgetattr(fd, &t) == 0) {
                cfmakeraw(&t);
                tcsetattr(fd, TCSANOW, &t);
        }
}

static void open_console(void) {
        /* blocking: a marker must not be dropped on a full UART buffer; reads are polled first */
        int fd = open("/dev/ttyS0", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return;
        guest_set_raw(fd);
        console_fd = fd;
}

/* finit_module(2) for each line of /modules/order; already loaded (or built in) is fine, and so
 * is ENODEV (a CPU-specific variant such as crc32c_intel on a CPU without the instruction). */
static void load_modules(void) {
        _cleanup_free_ char *order = NULL;
        if (read_full_file_at(AT_FDCWD, "/modules/order", 1 << 16, &order, NULL) < 0)
                return;
        for (char *name = strtok(order, "\n"); name; name = strtok(NULL, "\n")) {
                _cleanup_free_ char *path = path_join("/modules", name);
                _cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
                if (fd < 0)
                        guest_fail(125, "open module %s: %s", name, strerror(errno));
                if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST && errno != ENODEV)
                        guest_fail(125, "load module %s: %s", name, strerror(errno));
                unlink(path);   /* the initramfs is RAM: give it back */
        }
}

static json_t *read_config(void) {
        guest_wait_for("/dev/vdc");
        _cleanup_close_ int fd = open("/dev/vdc", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                guest_fail(125, "open config disk /dev/vdc: %s", strerror(errno));
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_full_fd(fd, CONFIG_MAX, &buf, &len);
        if (r < 0 && r != -EFBIG)
                guest_fail(125, "read config disk: %s", strerror(-r));
        json_error_t je;
        json_t *cfg = json_loadb(buf, strnlen(buf, len), 0, &je);
        if (!cfg || !json_is_object(cfg))
                guest_fail(125, "config disk: bad JSON at line %d: %s", je.line, je.text);
        if (json_integer_value(json_object_get(cfg, "kapselGuest")) != 1)
                guest_fail(125, "config disk: unknown version (want kapselGuest 1)");
        return cfg;
}

static void mount_root(json_t *cfg) {
        guest_wait_for("/dev/vda");
        guest_wait_for("/dev/vdb");
        must_mount("/dev/vda", "/mnt/lower", "ext4", MS_RDONLY | MS_NODEV, NULL);
        /* noinit_itable: no background zeroing of a sparse disk's inode tables */
        must_mount("/dev/vdb", "/mnt/upper", "ext4", MS_NODEV, "noinit_itable");
        if ((mkdir("/mnt/upper/upper", 0755) < 0 && errno != EEXIST) ||
            (mkdir("/mnt/upper/work", 0700) < 0 && errno != EEXIST))
                guest_fail(125, "prepare writable disk: %s", strerror(errno));
        must_mount("overlay", NEWROOT, "overlay", 0,
                   "lowerdir=/mnt/lower,upperdir=/mnt/upper/upper,workdir=/mnt/upper/work");
}

/* Mount inside the new root; the target is resolved in it (RESOLVE_IN_ROOT), so a symlink in the
 * image cannot send a mount outside. */
void guest_mount_in_root(int rootfd, const char *src, const char *dst, const char *type, unsigned long flags,
                         const char *data) {
        _cleanup_close_ int fd = mkdir_p_in_root(rootfd, dst, 0755);
        if (fd < 0)
                guest_fail(125, "create mount point %s: %s", dst, strerror(-fd));
        char p[FD_PATH_MAX];
        if (mount(src, fd_path(fd, p), type, flags, data) < 0)
                guest_fail(125, "mount %s on %s: %s", type, dst, strerror(errno));
}

static const struct {
        const char *dst, *type;
        unsigned long flags;
        const char *data;
} api_mounts[] = {
        { "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
        { "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
        { "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755" },
        { "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620" },
        { "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
};

static void mount_api(int rootfd) {
        for (size_t i = 0; i < ELEMENTSOF(api_mounts); i++)
                guest_mount_in_root(rootfd, api_mounts[i].type, api_mounts[i].dst, api_mounts[i].type,
                                    api_mounts[i].flags, api_mounts[i].data);
}

static void write_files(int rootfd, json_t *files) {
        const char *path;
        json_t *v;
        json_object_foreach(files, path, v) {
                const char *text = json_string_value(v);
                _cleanup_free_ char *dir = strdup(path);
                char *slash = dir ? strrchr(dir, '/') : NULL;
                if (!text || !slash)
                        guest_fail(125, "config: bad file %s", path);
                *slash = 0;
                _cleanup_close_ int dfd = mkdir_p_in_root(rootfd, *dir ? dir : "/", 0755);
                _cleanup_close_ int fd = open_in_root(rootfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (dfd < 0 || fd < 0 || write_all(fd, text, strlen(text)) < 0)
                        guest_fail(125, "write %s: %s", path, strerror(fd < 0 ? -fd : errno));
        }
}

int main(int argc, char **argv) {
        if (getpid() != 1) {
                fprintf(stderr, "kapsel-guest-init: runs as pid 1 of a kapsel VM guest only\n");
                return 125;
        }
        umask(022);
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
        open_console();
        guest_marker("KAPSEL-INIT");
        load_modules();
        json_t *cfg = read_config();
        mount_root(cfg);
        root_fd = open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                guest_fail(125, "open %s: %s", NEWROOT, strerror(errno));
        mount_api(root_fd);
        guest_mount_config(root_fd, cfg);
        write_files(root_fd, json_object_get(cfg, "files"));
        root_fd = safe_close(root_fd);
        guest_network(json_object_get(cfg, "network"));
        const char *hostname = json_string_value(json_object_get(cfg, "hostname"));
        if (hostname && sethostname(hostname, strlen(hostname)) < 0)
                guest_fail(125, "sethostname %s: %s", hostname, strerror(errno));
        /* a build step (vm-guest.h "changes"): its disk must be there before the command runs */
        const char *changes = json_string_value(json_object_get(cfg, "changes"));
        if (changes) {
                if (strlen(changes) != 3 || !startswith(changes, "vd") || changes[2] < 'd' || changes[2] > 'z')
                        guest_fail(125, "config: \"changes\" must name a disk vdd..vdz");
                snprintf(changes_dev, sizeof(changes_dev), "/dev/%s", changes);
                guest_wait_for(changes_dev);
        }
        guest_wait_for("/dev/hvc0");
        int code = guest_run(cfg, console_fd);
        json_decref(cfg);
        shutdown_guest(code);
}
