/* SPDX-License-Identifier: Apache-2.0 */
/* Dockerfile text -> instructions (see dockerfile.h). Two passes: logical lines (directives at the
 * top, comments, continuations joined) and then one instruction per logical line, its flags and
 * its arguments in the form the instruction takes. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dockerfile.h"
#include "string-util.h"

typedef struct KindInfo {
        const char *name;
        const char *flags;      /* allowed flags, space separated */
        bool expands;           /* docker substitutes variables in its arguments */
} KindInfo;

static const KindInfo kinds[_DF_KIND_MAX] = {
        [DF_FROM] = { "FROM", "platform", true },
        [DF_RUN] = { "RUN", "", false },
        [DF_CMD] = { "CMD", "", false },
        [DF_ENTRYPOINT] = { "ENTRYPOINT", "", false },
        [DF_ENV] = { "ENV", "", true },
        [DF_ARG] = { "ARG", "", true },
        [DF_LABEL] = { "LABEL", "", true },
        [DF_EXPOSE] = { "EXPOSE", "", true },
        [DF_VOLUME] = { "VOLUME", "", true },
        [DF_USER] = { "USER", "", true },
        [DF_WORKDIR] = { "WORKDIR", "", true },
        [DF_COPY] = { "COPY", "from chown chmod", true },
        [DF_ADD] = { "ADD", "chown chmod", true },
        [DF_ONBUILD] = { "ONBUILD", "", false },
        [DF_STOPSIGNAL] = { "STOPSIGNAL", "", true },
        [DF_HEALTHCHECK] = { "HEALTHCHECK", "interval timeout start-period start-interval retries", false },
        [DF_SHELL] = { "SHELL", "", false },
        [DF_MAINTAINER] = { "MAINTAINER", "", false },
};

const char *df_kind_name(DfKind k) {
        return k < _DF_KIND_MAX ? kinds[k].name : "?";
}

bool df_kind_expands(DfKind k) {
        return k < _DF_KIND_MAX && kinds[k].expands;
}

void df_instr_done(DfInstr *i) {
        if (!i)
                return;
        free(i->text);
        strv_free(i->flags);
        strv_free(i->args);
        free(i->arg_has_default);
        if (i->onbuild) {
                df_instr_done(i->onbuild);
                free(i->onbuild);
        }
        *i = (DfInstr) {};
}

void dockerfile_free(Dockerfile *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++)
                df_instr_done(&d->v[i]);
        free(d->v);
        free(d->name);
        free(d);
}

const char *df_flag(const DfInstr *i, const char *name, bool *present) {
        size_t l = strlen(name);
        if (present)
                *present = false;
        for (char **f = i->flags; f && *f; f++)
                if (strncmp(*f + 2, name, l) == 0 && ((*f)[2 + l] == '=' || !(*f)[2 + l])) {
                        if (present)
                                *present = true;
                        return (*f)[2 + l] == '=' ? *f + 3 + l : "";
                }
        return NULL;
}

int df_check_flags(const DfInstr *i, const char *file, KError **err) {
        for (char **f = i->flags; f && *f; f++) {
                size_t l = strcspn(*f + 2, "=");
                const char *allowed = kinds[i->kind].flags;
                bool ok = false;
                for (const char *p = allowed; *p && !ok; p += strcspn(p, " "), p += *p == ' ')
                        ok = strcspn(p, " ") == l && strncmp(p, *f + 2, l) == 0;
                if (!ok)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "%s:%u: %s: unknown flag %.*s (allowed: %s)", file, i->line,
                                        kinds[i->kind].name, (int) l + 2, *f, *allowed ? allowed : "none");
        }
        return 0;
}

/* --- arguments --- */

static const char *skip_ws(const char *s) {
        while (*s == ' ' || *s == '\t')
                s++;
        return s;
}

static char *strip_dup(const char *s) {
        s = skip_ws(s);
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                n--;
        return strndup(s, n);
}

/* A JSON array of strings, or false (then the shell form applies). */
static bool parse_json_list(const char *s, char ***ret) {
        s = skip_ws(s);
        if (*s != '[')
                return false;
        json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
        if (!json_is_array(j)) {
                json_decref(j);
                return false;
        }
        char **v = calloc(json_array_size(j) + 1, sizeof(char *));
        size_t i;
        json_t *e;
        bool ok = v != NULL;
        json_array_foreach(j, i, e)
                if (ok && !(json_is_string(e) && (v[i] = strdup(json_string_value(e)))))
                        ok = false;
        json_decref(j);
        if (!ok) {
                strv_free(v);
                return false;
        }
        *ret = v;
        return true;
}

/* Split on whitespace, quotes and escapes kept as written (quote-aware, for ENV/LABEL/ARG). */
static int split_words_raw(const char *s, char esc, char ***ret) {
        _cleanup_strv_free_ char **v = calloc(1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (;;) {
                while (isspace((unsigned char) *s))     /* the same test that ends a word below */
                        s++;
                if (!*s)
                        break;
                const char *start = s;
                char quote = 0;
                for (; *s; s++) {
                        if (*s == esc && s[1]) {
                                s++;
                                continue;
                        }
                        if (quote) {
                                if (*s == quote)
                                        quote = 0;
                        } else if (*s == '"' || *s == '\'')
                                quote = *s;
                        else if (isspace((unsigned char) *s))
                                break;
                }
                _cleanup_free_ char *w = strndup(start, (size_t) (s - start));
                if (!w || strv_extend(&v, w) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* Plain whitespace split (docker does not honour quotes here: COPY, EXPOSE, FROM...). */
static int split_fields(const char *s, char ***ret) {
        _cleanup_strv_free_ char **v = calloc(1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        while (*(s = skip_ws(s))) {
                size_t n = strcspn(s, " \t");
                _cleanup_free_ char *w = strndup(s, n);
                if (!w || strv_extend(&v, w) < 0)
                        return -ENOMEM;
                s += n;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

typedef struct Ctx {
        const char *file;
        unsigned line;
        const char *instr;
        char esc;
        KError **err;
} Ctx;

#define SYNTAX(c, ...) kerr_msg((c)->err, KERR_USAGE, -EINVAL, "%s:%u: %s: " FIRST_ARG(__VA_ARGS__) "%s", (c)->file, (c)->line, (c)->instr REST_ARGS(__VA_ARGS__))
#define FIRST_ARG(a, ...) a
#define REST_ARGS(a, ...) , ##__VA_ARGS__, ""

/* ENV / LABEL: "k=v k2=v2" or the legacy "k v w". */
static int parse_name_values(Ctx *c, const char *rest, DfInstr *i, bool legacy_ok) {
        _cleanup_strv_free_ char **words = NULL;
        if (split_words_raw(rest, c->esc, &words) < 0)
                return -ENOMEM;
        if (!words[0])
                return SYNTAX(c, "needs at least one name=value");
        if (!strchr(words[0], '=')) {
                if (!legacy_ok || !words[1])
                        return SYNTAX(c, "'%s' has no value; write name=value", words[0]);
                const char *r = skip_ws(rest);
                r = skip_ws(r + strcspn(r, " \t"));
                _cleanup_free_ char *val = strip_dup(r);
                if (!val || strv_extend(&i->args, words[0]) < 0 || strv_extend(&i->args, val) < 0)
                        return -ENOMEM;
                i->n_args = 2;
                return 0;
        }
        for (char **w = words; *w; w++) {
                char *eq = strchr(*w, '=');
                if (!eq || eq == *w)
                        return SYNTAX(c, "'%s' is not of the form name=value", *w);
                _cleanup_free_ char *k = strndup(*w, (size_t) (eq - *w));
                if (!k || strv_extend(&i->args, k) < 0 || strv_extend(&i->args, eq + 1) < 0)
                        return -ENOMEM;
                i->n_args += 2;
        }
        return 0;
}

static int parse_arg(Ctx *c, const char *rest, DfInstr *i) {
        _cleanup_strv_free_ char **words = NULL;
        if (split_words_raw(rest, c->esc, &words) < 0)
                return -ENOMEM;
        size_t n = strv_length(words);
        if (n == 0)
                return SYNTAX(c, "needs a name (ARG name[=default])");
        if (!(i->arg_has_default = calloc(n, sizeof(bool))))
                return -ENOMEM;
        for (size_t k = 0; k < n; k++) {
                char *eq = strchr(words[k], '=');
                _cleanup_free_ char *name = eq ? strndup(words[k], (size_t) (eq - words[k])) : strdup(words[k]);
                if (!name || strv_extend(&i->args, name) < 0 || strv_extend(&i->args, eq ? eq + 1 : "") < 0)
                        return -ENOMEM;
                if (!*name)
                        return SYNTAX(c, "'%s' has no name", words[k]);
                i->arg_has_default[k] = eq != NULL;
                i->n_args += 2;
        }
        return 0;
}

static int set_one(Ctx *c, const char *rest, DfInstr *i) {
        _cleanup_free_ char *v = strip_dup(rest);
        if (!v)
                return -ENOMEM;
        if (!*v)
                return SYNTAX(c, "needs an argument");
        if (strv_extend(&i->args, v) < 0)
                return -ENOMEM;
        i->n_args = 1;
        return 0;
}

/* RUN/CMD/ENTRYPOINT/HEALTHCHECK CMD: exec form when a JSON array, else the shell form. */
static int set_cmd(Ctx *c, const char *rest, DfInstr *i, bool required) {
        if (parse_json_list(rest, &i->args)) {
                i->json = true;
                i->n_args = strv_length(i->args);
                if (required && i->n_args == 0)
                        return SYNTAX(c, "needs a command");
                return 0;
        }
        _cleanup_free_ char *v = strip_dup(rest);
        if (!v)
                return -ENOMEM;
        if (required && !*v)
                return SYNTAX(c, "needs a command");
        if (strv_extend(&i->args, v) < 0)
                return -ENOMEM;
        i->n_args = 1;
        return 0;
}

static int set_list(Ctx *c, const char *rest, DfInstr *i, size_t min) {
        if (parse_json_list(rest, &i->args))
                i->json = true;
        else if (split_fields(rest, &i->args) < 0)
                return -ENOMEM;
        i->n_args = strv_length(i->args);
        if (i->n_args < min)
                return min > 1 ? SYNTAX(c, "needs at least %zu arguments", min) : SYNTAX(c, "needs an argument");
        return 0;
}

static int parse_args(Ctx *c, const char *rest, DfInstr *i) {
        switch (i->kind) {
        case DF_FROM: {
                int r = set_list(c, rest, i, 1);
                if (r < 0)
                        return r;
                if (i->json || !(i->n_args == 1 || (i->n_args == 3 && strcasecmp(i->args[1], "AS") == 0)))
                        return SYNTAX(c, "expected FROM [--platform=P] IMAGE [AS NAME]");
                return 0;
        }
        case DF_RUN: return set_cmd(c, rest, i, true);
        case DF_CMD:
        case DF_ENTRYPOINT: return set_cmd(c, rest, i, false);
        case DF_ENV: return parse_name_values(c, rest, i, true);
        case DF_LABEL: return parse_name_values(c, rest, i, true);
        case DF_ARG: return parse_arg(c, rest, i);
        case DF_EXPOSE:
        case DF_VOLUME: return set_list(c, rest, i, 1);
        case DF_COPY:
        case DF_ADD: return set_list(c, rest, i, 2);
        case DF_USER:
        case DF_WORKDIR:
        case DF_STOPSIGNAL:
        case DF_MAINTAINER: return set_one(c, rest, i);
        case DF_SHELL:
                if (!parse_json_list(rest, &i->args) || !i->args[0])
                        return SYNTAX(c, "needs a JSON array, e.g. SHELL [\"/bin/sh\", \"-c\"]");
                i->json = true;
                i->n_args = strv_length(i->args);
                return 0;
        case DF_HEALTHCHECK: {
                const char *r = skip_ws(rest);
                size_t n = strcspn(r, " \t");
                if (n == 4 && strncasecmp(r, "NONE", 4) == 0 && !*skip_ws(r + 4)) {
                        i->hc_none = true;
                        return strv_extend(&i->args, "NONE") < 0 ? -ENOMEM : (i->n_args = 1, 0);
                }
                if (n != 3 || strncasecmp(r, "CMD", 3) != 0)
                        return SYNTAX(c, "expected HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE");
                return set_cmd(c, r + 3, i, true);
        }
        case DF_ONBUILD: {
                i->onbuild = calloc(1, sizeof(DfInstr));
                if (!i->onbuild)
                        return -ENOMEM;
                int r = dockerfile_parse_line(rest, c->esc, c->file, c->line, i->onbuild, c->err);
                if (r < 0)
                        return r;
                DfKind k = i->onbuild->kind;
                if (k == DF_ONBUILD || k == DF_FROM || k == DF_MAINTAINER)
                        return SYNTAX(c, "%s is not allowed as an ONBUILD trigger", kinds[k].name);
                return 0;
        }
        default: return SYNTAX(c, "unsupported");
        }
}

int dockerfile_parse_line(const char *line, char escape, const char *name, unsigned lineno, DfInstr *ret, KError **err) {
        const char *s = skip_ws(line);
        size_t n = strcspn(s, " \t");
        DfInstr i = { .line = lineno };
        i.kind = _DF_KIND_MAX;
        for (size_t k = 0; k < _DF_KIND_MAX; k++)
                if (strlen(kinds[k].name) == n && strncasecmp(kinds[k].name, s, n) == 0)
                        i.kind = (DfKind) k;
        if (i.kind == _DF_KIND_MAX)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "%s:%u: unknown instruction: %.*s", name, lineno, (int) (n > 40 ? 40 : n),
                                s);
        Ctx c = { .file = name, .line = lineno, .instr = kinds[i.kind].name, .esc = escape, .err = err };
        int r = 0;
        if (!(i.text = strip_dup(s)) || !(i.flags = calloc(1, sizeof(char *))))
                r = -ENOMEM;
        const char *rest = skip_ws(s + n);
        /* flags: leading --name[=value] words (not for ONBUILD: they belong to its trigger) */
        while (r >= 0 && i.kind != DF_ONBUILD && startswith(rest, "--")) {
                size_t l = strcspn(rest, " \t");
                _cleanup_free_ char *f = strndup(rest, l);
                if (!f || strv_extend(&i.flags, f) < 0)
                        r = -ENOMEM;
                rest = skip_ws(rest + l);
        }
        if (r >= 0)
                r = df_check_flags(&i, name, err);
        if (r >= 0)
                r = parse_args(&c, rest, &i);
        if (r >= 0 && !i.args && !(i.args = calloc(1, sizeof(char *))))
                r = -ENOMEM;
        if (r < 0) {
                df_instr_done(&i);
                return r == -ENOMEM ? kerr(err, r, "%s:%u", name, lineno) : r;
        }
        *ret = i;
        return 0;
}

/* --- logical lines --- */

typedef struct Reader {
        const char *p, *end;
        unsigned line;          /* of the line just read */
} Reader;

/* Next physical line (without '\n' and a trailing '\r'); false at the end. */
static bool next_line(Reader *rd, const char **ret, size_t *ret_n) {
        if (rd->p >= rd->end)
                return false;
        const char *nl = memchr(rd->p, '\n', (size_t) (rd->end - rd->p));
        size_t n = nl ? (size_t) (nl - rd->p) : (size_t) (rd->end - rd->p);
        *ret = rd->p;
        *ret_n = n > 0 && rd->p[n - 1] == '\r' ? n - 1 : n;
        rd->p += n + (nl ? 1 : 0);
        rd->line++;
        return true;
}

static bool blank_or_comment(const char *s, size_t n) {
        size_t k = 0;
        while (k < n && isspace((unsigned char) s[k]))
                k++;
        return k == n || s[k] == '#';
}

/* "# name=value" at the top; true with name/value when the line is one. */
static bool directive(const char *s, size_t n, char *name, size_t name_max, char *value, size_t value_max) {
        _cleanup_free_ char *l = strndup(s, n);
        if (!l)
                return false;
        const char *p = skip_ws(l);
        if (*p != '#')
                return false;
        p = skip_ws(p + 1);
        size_t k = 0;
        while (isalpha((unsigned char) p[k]) && k + 1 < name_max)
                k++;
        if (k == 0)
                return false;
        snprintf(name, name_max, "%.*s", (int) k, p);
        p = skip_ws(p + k);
        if (*p != '=')
                return false;
        _cleanup_free_ char *v = strip_dup(p + 1);
        snprintf(value, value_max, "%s", v ? v : "");
        return true;
}

/* Strip trailing whitespace; true (and the escape removed) when the line continues. */
static bool continues(char *s, size_t *n, char esc) {
        while (*n > 0 && isspace((unsigned char) s[*n - 1]))
                (*n)--;
        if (*n > 0 && s[*n - 1] == esc) {
                (*n)--;
                s[*n] = '\0';
                return true;
        }
        s[*n] = '\0';
        return false;
}

static int parse_directives(Reader *rd, Dockerfile *d, const char *name, KError **err) {
        bool seen_escape = false;
        for (;;) {
                Reader save = *rd;
                const char *s;
                size_t n;
                char key[32], val[64];
                if (!next_line(rd, &s, &n) || !directive(s, n, key, sizeof(key), val, sizeof(val))) {
                        *rd = save;
                        return 0;
                }
                for (char *k = key; *k; k++)
                        *k = (char) tolower((unsigned char) *k);
                if (!streq(key, "escape"))
                        continue;       /* syntax=, check=: not ours, read as comments */
                if (seen_escape)
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "%s:%u: the escape directive is given twice", name, rd->line);
                if (!streq(val, "\\") && !streq(val, "`"))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "%s:%u: invalid escape character '%s': use \\ or `", name,
                                        rd->line, val);
                d->escape = val[0];
                seen_escape = true;
        }
}

int dockerfile_parse(const char *text, size_t len, const char *name, Dockerfile **ret, KError **err) {
        _cleanup_(dockerfile_freep) Dockerfile *d = calloc(1, sizeof(Dockerfile));
        if (!d || !(d->name = strdup(name)))
                return kerr(err, -ENOMEM, "parse %s", name);
        d->escape = '\\';
        if (memchr(text, '\0', len))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "%s: contains a NUL byte; is it a Dockerfile?", name);
        Reader rd = { .p = text, .end = text + len };
        int r = parse_directives(&rd, d, name, err);
        const char *s;
        size_t n;
        while (r >= 0 && next_line(&rd, &s, &n)) {
                if (blank_or_comment(s, n))
                        continue;
                unsigned start = rd.line;
                _cleanup_free_ char *buf = strndup(s, n);
                size_t blen = n;
                if (!buf)
                        return kerr(err, -ENOMEM, "parse %s", name);
                while (continues(buf, &blen, d->escape)) {
                        bool more = false;
                        while ((more = next_line(&rd, &s, &n)) && blank_or_comment(s, n))
                                ;
                        if (!more)
                                break;
                        char *nb = realloc(buf, blen + n + 1);
                        if (!nb)
                                return kerr(err, -ENOMEM, "parse %s", name);
                        buf = nb;
                        memcpy(buf + blen, s, n);
                        blen += n;
                        buf[blen] = '\0';
                }
                DfInstr *v = realloc(d->v, (d->n + 1) * sizeof(DfInstr));
                if (!v)
                        return kerr(err, -ENOMEM, "parse %s", name);
                d->v = v;
                if ((r = dockerfile_parse_line(buf, d->escape, name, start, &d->v[d->n], err)) >= 0)
                        d->n++;
        }
        if (r < 0)
                return r;
        if (d->n == 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "%s: the file has no instructions", name);
        *ret = TAKE_PTR(d);
        return 0;
}
