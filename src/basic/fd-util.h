/* SPDX-License-Identifier: Apache-2.0 */
/* File-descriptor and file I/O helpers. All fds returned are O_CLOEXEC. */
#pragma once

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Read a whole file (at most `max` bytes; more is -EFBIG) into a NUL-terminated buffer. */
int read_full_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len);
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);
/* For files others control (archives, containers' files): `fd` (opened with O_NONBLOCK, so a FIFO
 * could not block the open) must be a regular file: -EINVAL ("not a regular file": a FIFO, device,
 * socket or directory) otherwise; O_NONBLOCK is then cleared. */
int fd_verify_regular(int fd);
/* openat(dirfd, path, O_RDONLY|O_NONBLOCK|O_NOCTTY|`flags`) + fd_verify_regular(). */
int open_regular_at(int dirfd, const char *path, int flags);
/* read_full_file_at() for such files. */
int read_regular_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len);
/* Write `s` to an existing file (no O_CREAT): the cgroupfs/procfs way. */
int write_string_file_at(int dirfd, const char *path, const char *s);
/* Atomically replace `path` under `dirfd` with `data` (temp file + fsync-free rename). */
int write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode);
int write_all(int fd, const void *buf, size_t len);
int read_exact(int fd, void *buf, size_t len);

/* The directory `name` below `dirfd`, opened O_DIRECTORY|O_NOFOLLOW; with `create` it is made first
 * (with `mode`) when missing. Negative errno on failure, and then, when ret_failed_step is not NULL,
 * "create" or "open" there, for the caller's message. */
int open_subdir(int dirfd, const char *name, bool create, mode_t mode, const char **ret_failed_step);

/* Mark every fd >= `from` close-on-exec (close_range, with a /proc/self/fd fallback). */
int fds_cloexec_from(int from);
/* "/proc/self/fd/N" in a caller buffer. */
#define FD_PATH_MAX 32
const char *fd_path(int fd, char buf[static FD_PATH_MAX]);

/* Send / receive one fd over a unix socket (SCM_RIGHTS) with an optional small payload. */
int send_fd(int sock, int fd, const void *data, size_t len);
int recv_fd(int sock, int *ret_fd, void *data, size_t len);

/* A directory stream over `dfd` on a descriptor of its own (dfd stays the caller's, and the stream's
 * position is not shared with it); NULL with errno set, and nothing left open, on failure. */
DIR *opendir_fd(int dfd);
