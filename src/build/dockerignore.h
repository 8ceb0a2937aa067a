/* SPDX-License-Identifier: Apache-2.0 */
/* .dockerignore (Dockerfile reference, ".dockerignore file"): one pattern a line, '#' comments,
 * patterns cleaned like paths (leading '/' and './' dropped, '..' resolved), Go filepath.Match
 * syntax (* ? [class] \escape) plus '**' for any number of directories, '!' for exceptions; the
 * last matching pattern decides. A pattern that matches a directory excludes what is beneath it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef struct DockerIgnore {
        char **patterns;        /* cleaned, without the '!' */
        bool *exception;
        size_t n;
        bool has_exceptions;    /* directories must then be walked even when excluded */
} DockerIgnore;

/* Parse the text of a .dockerignore; a bad pattern (unterminated '[') is an error naming its line. */
int dockerignore_parse(const char *text, size_t len, DockerIgnore *ret, KError **err);
void dockerignore_done(DockerIgnore *d);
/* Is `path` (relative to the context, '/' separated, no leading '/') excluded? */
bool dockerignore_excluded(const DockerIgnore *d, const char *path);

/* Shell-style match of a whole string, '/' never matched by '*', '?' or a class; with
 * `doublestar`, '**' matches any number of path elements. Returns 1 match, 0 no match,
 * -EINVAL for a malformed pattern. */
int glob_match(const char *pattern, const char *str, bool doublestar);
/* Clean a relative path as Go's filepath.Clean would, without leading '/' or './';
 * "" and "." become "."; NULL on ENOMEM. */
char *dockerignore_clean(const char *p);
