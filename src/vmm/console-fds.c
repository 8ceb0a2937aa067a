/* SPDX-License-Identifier: Apache-2.0 */
/* The host ends of the guest's consoles, opened once before the devices exist and owned by the
 * Vm: serial output (stdout or --console-log), serial input (stdin, --serial-in PATH or none) and
 * the virtio console's output and input (stdout/stdin, or --virtio-console-out FILE and none), and
 * the guest agent's channel (--agent-fd N, inherited and taken over as it is). stdin/stdout are
 * duplicated, so every fd here is the Vm's to close. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "string-util.h"
#include "vm.h"

static int dup_std(int fd, const char *what, int *ret, KError **err) {
        *ret = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        return *ret < 0 ? kerr(err, -errno, "%s", what) : 0;
}

static int open_append(const char *opt, const char *path, int *ret, KError **err) {
        *ret = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY | O_CLOEXEC, 0640);
        return *ret < 0 ? kerr_kind(err, KERR_USAGE, -errno, "%s %s", opt, path) : 0;
}

/* A FIFO opened read-write never reads EOF when its last writer goes, so one `echo > FIFO` after
 * another all reach the guest. A regular file cannot be watched by epoll: refused up front. */
static int open_serial_in(const char *path, int *ret, KError **err) {
        _cleanup_close_ int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return kerr_kind(err, KERR_USAGE, -errno, "--serial-in %s", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return kerr(err, -errno, "--serial-in %s", path);
        if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--serial-in %s: not a FIFO or a terminal (mkfifo it)", path);
        *ret = TAKE_FD(fd);
        return 0;
}

/* The agent fd is inherited: take it over (not passed on to anything we might run, non-blocking so
 * the event loop never stalls on it). */
static int take_agent_fd(int fd, int *ret, KError **err) {
        int r = vmm_config_check_agent_fd(fd, err);
        if (r < 0)
                return r;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return kerr(err, -errno, "--agent-fd %d: make it non-blocking and close-on-exec", fd);
        *ret = fd;
        return 0;
}

static int vcon_fds_open(Vm *vm, KError **err) {
        const VmmConfig *c = vm->cfg;
        if (c->virtio_console_out)
                return open_append("--virtio-console-out", c->virtio_console_out, &vm->vcon_out_fd, err);
        int r = dup_std(STDIN_FILENO, "virtio console input on stdin", &vm->vcon_in_fd, err);
        if (r < 0)
                return r;
        return dup_std(STDOUT_FILENO, "virtio console output on stdout", &vm->vcon_out_fd, err);
}

int vm_console_fds_open(Vm *vm, KError **err) {
        const VmmConfig *c = vm->cfg;
        /* plain --virtio-console is the stdio console: it has stdin, the serial port gets none */
        bool vcon_stdio = c->virtio_console && !c->virtio_console_out;
        const char *sin = c->serial_in ? c->serial_in : vcon_stdio ? "none" : "-";
        int r = c->console_log ? open_append("--console-log", c->console_log, &vm->console_fd, err)
                               : dup_std(STDOUT_FILENO, "serial output on stdout", &vm->console_fd, err);
        if (r < 0)
                return r;
        if (streq(sin, "-"))
                r = dup_std(STDIN_FILENO, "serial input on stdin", &vm->serial_in_fd, err);
        else if (!streq(sin, "none"))
                r = open_serial_in(sin, &vm->serial_in_fd, err);
        if (r < 0 || !c->virtio_console)
                return r;
        if ((r = vcon_fds_open(vm, err)) < 0)
                return r;
        return c->agent_fd >= 0 ? take_agent_fd(c->agent_fd, &vm->agent_fd, err) : 0;
}

void vm_console_fds_close(Vm *vm) {
        vm->console_fd = safe_close(vm->console_fd);
        vm->serial_in_fd = safe_close(vm->serial_in_fd);
        vm->vcon_in_fd = safe_close(vm->vcon_in_fd);
        vm->vcon_out_fd = safe_close(vm->vcon_out_fd);
        vm->agent_fd = safe_close(vm->agent_fd);
}
