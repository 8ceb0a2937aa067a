/* SPDX-License-Identifier: Apache-2.0 */
/* Scope-bound cleanup (GCC/Clang cleanup attribute) and ownership transfer.
 *
 *   _cleanup_free_ char *s = strdup(x);
 *   _cleanup_close_ int fd = open(...);
 *   return TAKE_PTR(s);          // hand ownership to the caller
 *
 * Every destructor used here accepts NULL / -1, so an early return is always safe. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Define `name##p(type *p)` that calls `func(*p)` when *p is not the "empty" value. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                 \
        static inline void func##p(type *p) {                   \
                if (*p)                                         \
                        func(*p);                               \
        }

/* free() that returns NULL: `p = mfree(p)`. */
static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline void freep(void *p) {
        free(*(void **) p);
}

/* close() that preserves errno and ignores -1; returns -1 so `fd = safe_close(fd)` resets it. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fd) {
        safe_close(*fd);
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* Free a NULL-terminated vector of strings and the vector itself. */
static inline void strv_free(char **v) {
        if (!v)
                return;
        for (char **i = v; *i; i++)
                free(*i);
        free(v);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free)

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Take ownership out of a cleanup variable: returns the value and resets the variable. */
#define TAKE_GENERIC(var, type, empty)                          \
        ({                                                      \
                type *_pvar_ = &(var);                          \
                type _var_ = *_pvar_;                           \
                *_pvar_ = (empty);                              \
                _var_;                                          \
        })
#define TAKE_PTR(p) TAKE_GENERIC(p, typeof(p), NULL)
#define TAKE_FD(fd) TAKE_GENERIC(fd, int, -1)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define STRLEN(s) (sizeof(s "") - 1)
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
