/* SPDX-License-Identifier: Apache-2.0 */
/* The eBPF device filter for cgroup v2, encoded by hand: the program is a short straight
 * line of compares per rule, so an assembler library would add more than it saves.
 *
 * Context (struct bpf_cgroup_dev_ctx): access_type = (access << 16) | type, major, minor;
 * type BPF_DEVCG_DEV_{BLOCK,CHAR}, access a mask of BPF_DEVCG_ACC_{MKNOD,READ,WRITE}. */
#include "cgroup-bpf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#define INSN(c, d, s, o, i) ((struct bpf_insn) { .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define ALU_IMM(op, d, i) INSN(BPF_ALU | (op) | BPF_K, d, 0, 0, i)
#define MOV_REG(d, s) INSN(BPF_ALU | BPF_MOV | BPF_X, d, s, 0, 0)
#define JMP_IMM(op, d, i, o) INSN(BPF_JMP | (op) | BPF_K, d, 0, o, i)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

static unsigned access_mask(const char *access) {
        unsigned m = 0;
        for (const char *c = access; *c; c++)
                m |= *c == 'r' ? BPF_DEVCG_ACC_READ : *c == 'w' ? BPF_DEVCG_ACC_WRITE : *c == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
        return m;
}

int cgroup_bpf_devices_build(const SpecDeviceRule *rules, size_t n, struct bpf_insn **ret, size_t *ret_n) {
        /* prologue 5 + at most 7 per rule + epilogue 2 */
        struct bpf_insn *p = calloc(5 + 7 * n + 2, sizeof(*p));
        if (!p)
                return -ENOMEM;
        size_t k = 0;
        p[k++] = LDX_W(BPF_REG_2, BPF_REG_1, 0);        /* r2 = access_type */
        p[k++] = MOV_REG(BPF_REG_3, BPF_REG_2);
        p[k++] = ALU_IMM(BPF_AND, BPF_REG_3, 0xffff);   /* r3 = type */
        p[k++] = ALU_IMM(BPF_RSH, BPF_REG_2, 16);       /* r2 = access */
        p[k++] = LDX_W(BPF_REG_4, BPF_REG_1, 4);        /* r4 = major */
        /* minor is loaded into r5 by each rule that needs it, keeping the prologue fixed */
        for (size_t i = n; i-- > 0;) {
                const SpecDeviceRule *r = &rules[i];
                size_t jumps[4], nj = 0;
                if (r->type != 'a') {
                        jumps[nj++] = k;
                        p[k++] = JMP_IMM(BPF_JNE, BPF_REG_3, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, 0);
                }
                if (r->major >= 0) {
                        jumps[nj++] = k;
                        p[k++] = JMP_IMM(BPF_JNE, BPF_REG_4, (int32_t) r->major, 0);
                }
                if (r->minor >= 0) {
                        p[k++] = LDX_W(BPF_REG_5, BPF_REG_1, 8);
                        jumps[nj++] = k;
                        p[k++] = JMP_IMM(BPF_JNE, BPF_REG_5, (int32_t) r->minor, 0);
                }
                unsigned acc = access_mask(r->access);
                const unsigned all = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
                /* allow: every requested bit must be granted; deny: any requested bit listed */
                if (r->allow && acc != all) {
                        p[k++] = MOV_REG(BPF_REG_6, BPF_REG_2);
                        p[k++] = ALU_IMM(BPF_AND, BPF_REG_6, (int32_t) (~acc & all));
                        jumps[nj++] = k;
                        p[k++] = JMP_IMM(BPF_JNE, BPF_REG_6, 0, 0);
                } else if (!r->allow && acc != all) {
                        p[k++] = MOV_REG(BPF_REG_6, BPF_REG_2);
                        p[k++] = ALU_IMM(BPF_AND, BPF_REG_6, (int32_t) acc);
                        jumps[nj++] = k;
                        p[k++] = JMP_IMM(BPF_JEQ, BPF_REG_6, 0, 0);
                }
                p[k++] = ALU_IMM(BPF_MOV, BPF_REG_0, r->allow ? 1 : 0);
                p[k++] = EXIT();
                for (size_t j = 0; j < nj; j++)
                        p[jumps[j]].off = (int16_t) (k - jumps[j] - 1);
                /* A rule without conditions decides everything: what would follow is
                 * unreachable, and the verifier refuses unreachable instructions. */
                if (nj == 0) {
                        *ret = p;
                        *ret_n = k;
                        return 0;
                }
        }
        p[k++] = ALU_IMM(BPF_MOV, BPF_REG_0, 0);
        p[k++] = EXIT();
        *ret = p;
        *ret_n = k;
        return 0;
}

static int bpf(int cmd, union bpf_attr *attr) {
        return (int) syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/* Detach every device program on the cgroup except `keep`. */
static void detach_others(int cgfd, int keep) {
        uint32_t ids[64], n = ELEMENTSOF(ids);
        union bpf_attr q = { .query = { .target_fd = (uint32_t) cgfd, .attach_type = BPF_CGROUP_DEVICE,
                                        .prog_ids = (uint64_t) (uintptr_t) ids, .prog_cnt = n } };
        if (bpf(BPF_PROG_QUERY, &q) < 0)
                return;
        union bpf_attr info_keep = {};
        struct bpf_prog_info keep_info = {};
        info_keep.info.bpf_fd = (uint32_t) keep;
        info_keep.info.info_len = sizeof(keep_info);
        info_keep.info.info = (uint64_t) (uintptr_t) &keep_info;
        if (bpf(BPF_OBJ_GET_INFO_BY_FD, &info_keep) < 0)
                return;
        for (uint32_t i = 0; i < q.query.prog_cnt; i++) {
                if (ids[i] == keep_info.id)
                        continue;
                union bpf_attr g = { .prog_id = ids[i] };
                int fd = bpf(BPF_PROG_GET_FD_BY_ID, &g);
                if (fd < 0)
                        continue;
                union bpf_attr d = { .target_fd = (uint32_t) cgfd, .attach_bpf_fd = (uint32_t) fd,
                                     .attach_type = BPF_CGROUP_DEVICE };
                (void) bpf(BPF_PROG_DETACH, &d);
                close(fd);
        }
}

int cgroup_bpf_devices_apply(const char *cgroup_dir, const SpecDeviceRule *rules, size_t n, KError **err) {
        _cleanup_free_ struct bpf_insn *prog = NULL;
        size_t len;
        int r = cgroup_bpf_devices_build(rules, n, &prog, &len);
        if (r < 0)
                return kerr(err, r, "build device filter");
        char log_buf[4096] = "";
        union bpf_attr load = {
                .prog_type = BPF_PROG_TYPE_CGROUP_DEVICE,
                .insns = (uint64_t) (uintptr_t) prog,
                .insn_cnt = (uint32_t) len,
                .license = (uint64_t) (uintptr_t) "Apache-2.0",
                .log_buf = (uint64_t) (uintptr_t) log_buf,
                .log_size = sizeof(log_buf),
                .log_level = 1,
        };
        _cleanup_close_ int progfd = bpf(BPF_PROG_LOAD, &load);
        if (progfd < 0)
                return kerr_kind(err, KERR_HOST, -errno, "load the cgroup v2 device filter (%zu rules)%s%s", n,
                                 log_buf[0] ? ": verifier says: " : "", log_buf);
        _cleanup_close_ int cgfd = open(cgroup_dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
        if (cgfd < 0)
                return kerr_kind(err, KERR_HOST, -errno, "open cgroup %s", cgroup_dir);
        union bpf_attr att = { .target_fd = (uint32_t) cgfd, .attach_bpf_fd = (uint32_t) progfd,
                               .attach_type = BPF_CGROUP_DEVICE, .attach_flags = BPF_F_ALLOW_MULTI };
        if (bpf(BPF_PROG_ATTACH, &att) < 0)
                return kerr_kind(err, KERR_HOST, -errno, "attach the device filter to cgroup %s", cgroup_dir);
        detach_others(cgfd, progfd);
        return 0;
}
