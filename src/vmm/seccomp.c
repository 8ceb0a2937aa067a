/* SPDX-License-Identifier: Apache-2.0 */
/* After setup the VMM only runs vCPUs, moves bytes between guest memory and backends, and answers
 * its control socket. Everything else (exec, open, socket, mount, ptrace, ...) kills the whole
 * process: a device-model bug exploited by the guest gets no further than these calls. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "vm.h"

static const int allowed_syscalls[] = {
        /* I/O on already-open fds (console output to a socket is sendmsg(MSG_NOSIGNAL), below; its
         * backpressure only adds and removes the fd in the event loop: epoll_ctl) */
        SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
        SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(preadv2), SCMP_SYS(pwritev2),
        SCMP_SYS(lseek), SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(fallocate), SCMP_SYS(close),
        SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(poll), SCMP_SYS(ppoll),
        /* event loop and control socket */
        SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(eventfd2), SCMP_SYS(accept4),
        SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(shutdown),
        SCMP_SYS(unlink),       /* removing the control socket at exit */
        /* snapshots (control socket "snapshot"): the directory, its two files, the final renames */
        SCMP_SYS(openat), SCMP_SYS(unlinkat), SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(ftruncate),
        /* threads, signals, time, memory */
        SCMP_SYS(futex), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(sigaltstack), SCMP_SYS(tgkill),
        SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(sched_yield), SCMP_SYS(restart_syscall),
        SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday),
        SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(brk), SCMP_SYS(madvise), SCMP_SYS(mprotect),
        SCMP_SYS(getrandom), SCMP_SYS(exit), SCMP_SYS(exit_group),
};

/* ioctls of the run loop: vCPU entry and register reads for error messages, interrupts, doorbells;
 * plus terminal queries stdio makes. */
static const unsigned long allowed_ioctls[] = {
        KVM_RUN, KVM_GET_REGS, KVM_GET_MP_STATE, KVM_IRQ_LINE, KVM_SIGNAL_MSI, KVM_IOEVENTFD, FIONBIO, TCGETS,
        /* snapshots read every vCPU's and the VM's state */
        KVM_GET_SREGS, KVM_GET_FPU, KVM_GET_XSAVE, KVM_GET_XCRS, KVM_GET_MSRS, KVM_GET_LAPIC, KVM_GET_VCPU_EVENTS,
        KVM_GET_DEBUGREGS, KVM_GET_IRQCHIP, KVM_GET_PIT2, KVM_GET_CLOCK,
        /* live migration: dirty page logging on the memory slots */
        KVM_SET_USER_MEMORY_REGION, KVM_GET_DIRTY_LOG,
};

int vm_seccomp_install(KError **err) {
        /* jansson seeds its hash function from /dev/urandom on first use: do it now, open() is gone after */
        json_object_seed(0);
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        if (!ctx)
                return kerr(err, -ENOMEM, "seccomp_init");
        int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);        /* every vCPU thread too */
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(allowed_syscalls); i++)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_syscalls[i], 0);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(allowed_ioctls); i++)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                     SCMP_A1(SCMP_CMP_EQ, allowed_ioctls[i]));
        /* fcntl only to flip O_NONBLOCK (device backends), never to duplicate fds */
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1, SCMP_A1(SCMP_CMP_EQ, F_GETFL));
        if (r >= 0)
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1, SCMP_A1(SCMP_CMP_EQ, F_SETFL));
        if (r >= 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        if (r < 0)
                return kerr(err, r, "install the VMM's seccomp filter");
        return 0;
}
