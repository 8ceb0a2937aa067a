/* SPDX-License-Identifier: Apache-2.0 */
/* Dockerfile parsing (docker's classic builder syntax, "Dockerfile reference"): parser directives
 * (`# escape=`), line continuations, comments, every instruction and its flags, and the shell-like
 * word processing that substitutes build variables ($VAR, ${VAR}, ${VAR:-x}, ${VAR:+x}).
 *
 * Parsing is pure: the text becomes a list of instructions whose arguments are still unexpanded;
 * the planner and the executor expand them with the variables in scope at that step
 * (dockerfile_expand), because an ARG or ENV above changes what a later word means. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef enum DfKind {
        DF_FROM,
        DF_RUN,
        DF_CMD,
        DF_ENTRYPOINT,
        DF_ENV,
        DF_ARG,
        DF_LABEL,
        DF_EXPOSE,
        DF_VOLUME,
        DF_USER,
        DF_WORKDIR,
        DF_COPY,
        DF_ADD,
        DF_ONBUILD,
        DF_STOPSIGNAL,
        DF_HEALTHCHECK,
        DF_SHELL,
        DF_MAINTAINER,
        _DF_KIND_MAX,
} DfKind;

typedef struct DfInstr {
        DfKind kind;
        unsigned line;          /* 1-based line of the instruction's first line */
        char *text;             /* "RUN echo hi" as written, continuations joined (for Step lines) */
        char **flags;           /* "--from=x" etc., as written; NULL-terminated, never NULL */
        bool json;              /* exec form (a JSON array was given) */
        /* Arguments, unexpanded:
         *  - exec-form RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK CMD, JSON COPY/ADD/VOLUME: the array items
         *  - shell-form RUN/CMD/ENTRYPOINT/HEALTHCHECK CMD, USER, WORKDIR, STOPSIGNAL, MAINTAINER:
         *    one item, the rest of the line
         *  - ENV, LABEL: pairs key, value (value still quoted as written); ARG: pairs name, default
         *    ("" when absent: `arg_has_default` tells them apart)
         *  - FROM: image [, "AS", name]; COPY/ADD/EXPOSE/VOLUME: whitespace separated words
         *  - HEALTHCHECK NONE: one item "NONE" with json false and kind of check in `hc_none` */
        char **args;
        size_t n_args;
        bool *arg_has_default;  /* ARG only: n_args / 2 entries */
        bool hc_none;           /* HEALTHCHECK NONE */
        struct DfInstr *onbuild;        /* ONBUILD: the trigger instruction */
} DfInstr;

typedef struct Dockerfile {
        char *name;             /* for messages: the path given with -f */
        char escape;            /* '\\' or '`' */
        DfInstr *v;
        size_t n;
} Dockerfile;

/* Parse a whole Dockerfile. Errors name "<name>:<line>" and the instruction (KERR_USAGE). */
int dockerfile_parse(const char *text, size_t len, const char *name, Dockerfile **ret, KError **err);
/* Parse one instruction line (ONBUILD triggers are stored as text in the image and re-parsed). */
int dockerfile_parse_line(const char *line, char escape, const char *name, unsigned lineno, DfInstr *ret, KError **err);
void dockerfile_free(Dockerfile *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(Dockerfile *, dockerfile_free)
void df_instr_done(DfInstr *i);

/* "RUN", "COPY", ... */
const char *df_kind_name(DfKind k);
/* Does docker substitute variables in this instruction's arguments? */
bool df_kind_expands(DfKind k);

/* The value of flag `name` ("from" for --from=x) or NULL; `present` tells whether it was given. */
const char *df_flag(const DfInstr *i, const char *name, bool *present);
/* Flags allowed per instruction; an unknown flag is an error naming it. */
int df_check_flags(const DfInstr *i, const char *file, KError **err);

/* Look a variable up: the value or NULL when unset. */
typedef const char *(*DfLookup)(void *userdata, const char *name);

/* Docker's word processing: quotes removed ('...' literal, "..." with substitution), the escape
 * character taken literally before the next character, $VAR/${VAR}/${VAR:-w}/${VAR:+w}/${VAR-w}/
 * ${VAR+w} substituted. An unterminated quote or brace is an error. */
int dockerfile_expand(const char *word, char escape, DfLookup lookup, void *userdata, char **ret, KError **err);
/* The same, then split into words on unquoted whitespace (EXPOSE, VOLUME, COPY sources...). */
int dockerfile_expand_words(const char *text, char escape, DfLookup lookup, void *userdata, char ***ret, KError **err);
