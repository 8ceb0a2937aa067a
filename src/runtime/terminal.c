/* SPDX-License-Identifier: Apache-2.0 */
#include "terminal.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "fd-util.h"
#include "path-util.h"

int terminal_open_pty(int rootfd, uid_t owner, int *ret_slave, KError **err) {
        _cleanup_close_ int master = open_in_root(rootfd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY, 0);
        if (master < 0)
                return kerr(err, master, "open the container's /dev/pts/ptmx (is devpts mounted at /dev/pts?)");
        struct statfs sfs;
        if (fstatfs(master, &sfs) < 0 || sfs.f_type != DEVPTS_SUPER_MAGIC)
                return kerr_msg(err, KERR_CONFIG, -EPERM, "/dev/pts/ptmx in the container is not on devpts");
        int unlock = 0;
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
                return kerr(err, -errno, "unlock the pty");
        /* TIOCGPTPEER opens the peer through the master: no path lookup that could be raced. */
        int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                return kerr(err, -errno, "open the pty peer");
        /* The terminal belongs to the process's user (its group stays devpts' gid= option). */
        if (owner != 0 && fchown(slave, owner, (gid_t) -1) < 0) {
                int r = kerr(err, -errno, "give the pty to uid %u", (unsigned) owner);
                close(slave);
                return r;
        }
        *ret_slave = slave;
        return TAKE_FD(master);
}

int terminal_set_size(int fd, unsigned rows, unsigned cols, KError **err) {
        struct winsize ws = { .ws_row = (unsigned short) rows, .ws_col = (unsigned short) cols };
        if (ioctl(fd, TIOCSWINSZ, &ws) < 0)
                return kerr(err, -errno, "set the terminal size");
        return 0;
}

int terminal_send_master(int console_sock, int master, KError **err) {
        int r = send_fd(console_sock, master, "/dev/ptmx", sizeof("/dev/ptmx"));
        if (r < 0)
                return kerr(err, r, "send the pty master to the console socket");
        return 0;
}

int terminal_become_stdio(int slave, KError **err) {
        if (setsid() < 0 && getsid(0) != getpid())     /* the init and exec'd processes already are leaders */
                return kerr(err, -errno, "setsid");
        if (ioctl(slave, TIOCSCTTY, 0) < 0)
                return kerr(err, -errno, "make the pty the controlling terminal");
        for (int fd = 0; fd < 3; fd++)
                if (dup2(slave, fd) < 0)
                        return kerr(err, -errno, "dup the pty to fd %d", fd);
        return 0;
}

int terminal_connect_socket(const char *path, KError **err) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return kerr_msg(err, KERR_USAGE, -ENAMETOOLONG, "--console-socket path too long: %s", path);
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return kerr(err, -errno, "socket");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return kerr_kind(err, KERR_USAGE, -errno, "connect to --console-socket '%s'", path);
        return TAKE_FD(fd);
}
