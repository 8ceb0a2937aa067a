/* SPDX-License-Identifier: Apache-2.0 */
/* Lazy binding of kapseld's heavy libraries (docs/daemon-memory.md). kapseld is not linked against
 * libcurl, libarchive, libnftnl, libmnl, sqlite (meson leaves them out with --as-needed: every
 * function of theirs that kapseld calls is defined here): each such function is a stub that jumps
 * through a pointer. The pointer first leads to a resolver that dlopen()s the library by its
 * soname, looks the function up and stores its address, so later calls cost one indirect jump.
 * The same mechanism as Windows' delay-loaded DLLs or Implib.so; x86-64 only (meson links the
 * libraries as usual elsewhere). The resolver saves every argument register (integer and vector,
 * and %al of variadic calls such as curl_easy_setopt), so stubs need no prototypes. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lazy.h"
#include "log.h"

#ifdef KAPSELD_LAZY
enum {
#define LAZY_LIB(id) LAZY_LIB_##id,
#define LAZY_SYM(id, sym)
#include "lazy-syms.h"
#undef LAZY_LIB
#undef LAZY_SYM
        _LAZY_LIB_MAX
};

static const char *const sonames[_LAZY_LIB_MAX] = {
#define LAZY_LIB(id) [LAZY_LIB_##id] = LAZY_SONAME_##id,
#define LAZY_SYM(id, sym)
#include "lazy-syms.h"
#undef LAZY_LIB
#undef LAZY_SYM
};

typedef struct LazySym {
        void *fn;               /* first: the stub jumps through it */
        const char *name;
        int lib;
} LazySym;

/* (used: only the asm below calls it, which link-time optimisation would not see) */
void *lazy_resolve(LazySym *s) __attribute__((visibility("hidden"), used));

/* One stub per function: `sym` jumps through lazy_desc_sym.fn, which starts at lazy_res_sym: that
 * hands the descriptor to lazy_common in %r11 (a scratch register of the calling convention). With
 * call frame information, so that debuggers and sanitizers unwind through them. */
#define LAZY_LIB(id)
#define LAZY_SYM(id, sym)                                                                              \
        extern char lazy_res_##sym[] __attribute__((visibility("hidden")));                            \
        __attribute__((visibility("hidden"))) LazySym lazy_desc_##sym = { lazy_res_##sym, #sym, LAZY_LIB_##id }; \
        __asm__(".text\n"                                                                              \
                ".globl " #sym "\n"                                                                    \
                ".type " #sym ", @function\n"                                                          \
                #sym ":\n"                                                                             \
                "\t.cfi_startproc\n"                                                                   \
                "\tjmp *lazy_desc_" #sym "(%rip)\n"                                                    \
                "\t.cfi_endproc\n"                                                                     \
                ".size " #sym ", .-" #sym "\n"                                                         \
                ".globl lazy_res_" #sym "\n"                                                           \
                ".hidden lazy_res_" #sym "\n"                                                          \
                "lazy_res_" #sym ":\n"                                                                 \
                "\t.cfi_startproc\n"                                                                   \
                "\tleaq lazy_desc_" #sym "(%rip), %r11\n"                                              \
                "\tjmp lazy_common\n"                                                                  \
                "\t.cfi_endproc\n");
#include "lazy-syms.h"
#undef LAZY_LIB
#undef LAZY_SYM

/* Entered with the stack as the caller left it for the real function (return address on top) and
 * the descriptor in %r11: save the argument registers (7 pushes keep the 16-byte alignment a call
 * needs), resolve, restore them, and jump to the function as if it had been called directly. */
__asm__(".text\n"
        ".globl lazy_common\n"
        ".hidden lazy_common\n"
        ".type lazy_common, @function\n"
        "lazy_common:\n"
        "\t.cfi_startproc\n"
#define PUSH(reg) "\tpushq " reg "\n\t.cfi_adjust_cfa_offset 8\n"
#define POP(reg) "\tpopq " reg "\n\t.cfi_adjust_cfa_offset -8\n"
        PUSH("%rdi") PUSH("%rsi") PUSH("%rdx") PUSH("%rcx") PUSH("%r8") PUSH("%r9") PUSH("%rax")
        "\tsubq $128, %rsp\n"
        "\t.cfi_adjust_cfa_offset 128\n"
        "\tmovdqu %xmm0, 0(%rsp)\n\tmovdqu %xmm1, 16(%rsp)\n\tmovdqu %xmm2, 32(%rsp)\n\tmovdqu %xmm3, 48(%rsp)\n"
        "\tmovdqu %xmm4, 64(%rsp)\n\tmovdqu %xmm5, 80(%rsp)\n\tmovdqu %xmm6, 96(%rsp)\n\tmovdqu %xmm7, 112(%rsp)\n"
        "\tmovq %r11, %rdi\n"
        "\tcall lazy_resolve\n"
        "\tmovq %rax, %r11\n"
        "\tmovdqu 0(%rsp), %xmm0\n\tmovdqu 16(%rsp), %xmm1\n\tmovdqu 32(%rsp), %xmm2\n\tmovdqu 48(%rsp), %xmm3\n"
        "\tmovdqu 64(%rsp), %xmm4\n\tmovdqu 80(%rsp), %xmm5\n\tmovdqu 96(%rsp), %xmm6\n\tmovdqu 112(%rsp), %xmm7\n"
        "\taddq $128, %rsp\n"
        "\t.cfi_adjust_cfa_offset -128\n"
        POP("%rax") POP("%r9") POP("%r8") POP("%rcx") POP("%rdx") POP("%rsi") POP("%rdi")
        "\tjmp *%r11\n"
        "\t.cfi_endproc\n"
        ".size lazy_common, .-lazy_common\n");
#undef PUSH
#undef POP

static LazySym *const all_syms[] = {
#define LAZY_LIB(id)
#define LAZY_SYM(id, sym) &lazy_desc_##sym,
#include "lazy-syms.h"
#undef LAZY_LIB
#undef LAZY_SYM
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *handles[_LAZY_LIB_MAX];

/* A fork while another thread resolves (a first pull loading libcurl's dependencies) must not hand
 * the child a lock no thread of it will ever release: children such as the export's tar writer
 * make their own first calls. */
static void fork_prepare(void) {
        pthread_mutex_lock(&lock);
}

static void fork_done(void) {
        pthread_mutex_unlock(&lock);
}

__attribute__((constructor)) static void lazy_init(void) {
        (void) pthread_atfork(fork_prepare, fork_done, fork_done);
}

/* Under the lock: the address of s's function, or NULL with a message in buf. */
static void *resolve_locked(LazySym *s, char *buf, size_t size) {
        if (!handles[s->lib]) {
                handles[s->lib] = dlopen(sonames[s->lib], RTLD_NOW | RTLD_LOCAL);
                if (!handles[s->lib]) {
                        const char *e = dlerror();
                        snprintf(buf, size, "cannot load %s (%s): reinstall its Debian package (scripts/install-deps.sh build)",
                                 sonames[s->lib], e ?: "unknown error");
                        return NULL;
                }
        }
        void *fn = dlsym(handles[s->lib], s->name);
        if (!fn) {
                snprintf(buf, size, "%s has no function %s: kapseld was built against another version of it; rebuild kapseld",
                         sonames[s->lib], s->name);
                return NULL;
        }
        __atomic_store_n(&s->fn, fn, __ATOMIC_RELEASE);
        return fn;
}

void *lazy_resolve(LazySym *s) {
        char msg[512];
        int saved = errno;      /* the caller may read errno after the real call, as for any call */
        void *fn = NULL;
        /* lazy_check() loaded everything at start, so a failure here is transient (EMFILE while
         * many streams are open, ENOMEM): retry for a second before giving up, as a stub cannot
         * return an error of its own */
        for (int i = 0; !fn && i < 20; i++) {
                if (i > 0)
                        (void) nanosleep(&(struct timespec) { .tv_nsec = 50 * 1000 * 1000 }, NULL);
                pthread_mutex_lock(&lock);
                fn = resolve_locked(s, msg, sizeof(msg));
                pthread_mutex_unlock(&lock);
        }
        if (!fn) {
                log_error("kapseld: %s", msg);
                abort();
        }
        errno = saved;
        return fn;
}

int lazy_check(KError **err) {
        char msg[512];
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < sizeof(all_syms) / sizeof(all_syms[0]); i++)
                if (!resolve_locked(all_syms[i], msg, sizeof(msg))) {
                        pthread_mutex_unlock(&lock);
                        return kerr_msg(err, KERR_HOST, -ENOENT, "%s", msg);
                }
        pthread_mutex_unlock(&lock);
        return 0;
}

#else

int lazy_check(KError **err) {
        (void) err;
        return 0;               /* linked as usual */
}

#endif
