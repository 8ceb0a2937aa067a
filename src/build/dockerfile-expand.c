/* SPDX-License-Identifier: Apache-2.0 */
/* Docker's word processing for instruction arguments ("Environment replacement" in the Dockerfile
 * reference): quotes, the escape character and build-variable substitution. Written from the
 * reference's rules: '...' is literal, "..." substitutes, the escape character makes the next
 * character literal (inside "..." only before ", $ and itself), $NAME and ${NAME} substitute,
 * ${NAME:-w} / ${NAME-w} give w when NAME is empty-or-unset / unset, ${NAME:+w} / ${NAME+w} give w
 * when NAME is set-and-non-empty / set. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile.h"
#include "string-util.h"

typedef struct Buf {
        char *p;
        size_t n, cap;
        bool started;           /* a word exists even when empty ("" given) */
} Buf;

static int buf_putn(Buf *b, const char *s, size_t n) {
        if (b->n + n + 1 > b->cap) {
                size_t cap = (b->cap ? b->cap * 2 : 64) + n;
                char *p = realloc(b->p, cap);
                if (!p)
                        return -ENOMEM;
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->n, s, n);
        b->n += n;
        b->p[b->n] = '\0';
        b->started = true;
        return 0;
}

static int buf_putc(Buf *b, char c) {
        return buf_putn(b, &c, 1);
}

typedef struct Lex {
        const char *s;
        size_t i;
        char esc;
        DfLookup lookup;
        void *userdata;
        char ***words;          /* splitting: finished words go here */
        KError **err;
        unsigned depth;
} Lex;

/* Finish the current word (splitting mode). */
static int word_end(Lex *l, Buf *b) {
        if (!l->words || !b->started)
                return 0;
        int r = strv_extend(l->words, b->p ? b->p : "");
        b->n = 0;
        if (b->p)
                b->p[0] = '\0';
        b->started = false;
        return r;
}

static bool name_char(char c) {
        return isalnum((unsigned char) c) || c == '_';
}

static int lex_word(Lex *l, Buf *out, char stop);

/* A substituted value: split on whitespace only outside quotes when splitting words. */
static int put_value(Lex *l, Buf *b, const char *v, bool quoted) {
        if (!v)
                return 0;
        if (!l->words || quoted)
                return buf_putn(b, v, strlen(v));
        for (; *v; v++) {
                int r = isspace((unsigned char) *v) ? word_end(l, b) : buf_putc(b, *v);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* After '$': a variable reference, or a literal '$'. */
static int lex_dollar(Lex *l, Buf *b, bool quoted) {
        const char *s = l->s;
        if (s[l->i] != '{') {
                size_t start = l->i;
                while (name_char(s[l->i]))
                        l->i++;
                if (l->i == start)
                        return buf_putc(b, '$');
                _cleanup_free_ char *name = strndup(s + start, l->i - start);
                return name ? put_value(l, b, l->lookup ? l->lookup(l->userdata, name) : NULL, quoted) : -ENOMEM;
        }
        size_t start = ++l->i;
        while (name_char(s[l->i]))
                l->i++;
        if (l->i == start)
                return kerr_msg(l->err, KERR_USAGE, -EINVAL, "bad substitution in '%s': missing a name after ${", l->s);
        _cleanup_free_ char *name = strndup(s + start, l->i - start);
        if (!name)
                return -ENOMEM;
        const char *val = l->lookup ? l->lookup(l->userdata, name) : NULL;
        if (s[l->i] == '}') {
                l->i++;
                return put_value(l, b, val, quoted);
        }
        bool colon = s[l->i] == ':';
        if (colon)
                l->i++;
        char op = s[l->i];
        if (op != '-' && op != '+' && op != '?')
                return kerr_msg(l->err, KERR_USAGE, -EINVAL, "bad substitution in '%s': unsupported modifier after ${%s", l->s,
                                name);
        l->i++;
        if (++l->depth > 32)
                return kerr_msg(l->err, KERR_USAGE, -EINVAL, "substitutions nested too deeply in '%s'", l->s);
        Buf w = {};
        char ***saved = l->words;
        l->words = NULL;        /* the word inside ${...} is one value */
        int r = lex_word(l, &w, '}');
        l->words = saved;
        l->depth--;
        if (r >= 0 && l->s[l->i] != '}')
                r = kerr_msg(l->err, KERR_USAGE, -EINVAL, "bad substitution in '%s': missing '}'", l->s);
        l->i++;
        bool set = val != NULL, nonempty = val && *val;
        bool cond = colon ? nonempty : set;
        const char *res = NULL;
        if (r >= 0)
                switch (op) {
                case '-': res = cond ? val : (w.p ? w.p : ""); break;
                case '+': res = cond ? (w.p ? w.p : "") : ""; break;
                default:
                        if (!cond)
                                r = kerr_msg(l->err, KERR_USAGE, -EINVAL, "%s: %s", name, w.p && *w.p ? w.p : "is not set");
                        res = val;
                }
        if (r >= 0)
                r = put_value(l, b, res, quoted);
        free(w.p);
        return r;
}

static int lex_single(Lex *l, Buf *b) {
        const char *end = strchr(l->s + l->i, '\'');
        if (!end)
                return kerr_msg(l->err, KERR_USAGE, -EINVAL, "unterminated single quote in '%s'", l->s);
        int r = buf_putn(b, l->s + l->i, (size_t) (end - (l->s + l->i)));
        l->i = (size_t) (end - l->s) + 1;
        return r;
}

static int lex_double(Lex *l, Buf *b) {
        int r = buf_putn(b, "", 0);
        while (r >= 0) {
                char c = l->s[l->i];
                if (!c)
                        return kerr_msg(l->err, KERR_USAGE, -EINVAL, "unterminated double quote in '%s'", l->s);
                l->i++;
                if (c == '"')
                        return 0;
                if (c == l->esc && (l->s[l->i] == '"' || l->s[l->i] == '$' || l->s[l->i] == l->esc))
                        r = buf_putc(b, l->s[l->i++]);
                else if (c == '$')
                        r = lex_dollar(l, b, true);
                else
                        r = buf_putc(b, c);
        }
        return r;
}

/* Process until the end of the text or an unquoted `stop`. */
static int lex_word(Lex *l, Buf *b, char stop) {
        int r = 0;
        while (r >= 0) {
                char c = l->s[l->i];
                if (!c || (stop && c == stop))
                        return 0;
                l->i++;
                if (c == '\'')
                        r = buf_putn(b, "", 0) < 0 ? -ENOMEM : lex_single(l, b);
                else if (c == '"')
                        r = lex_double(l, b);
                else if (c == l->esc)
                        r = l->s[l->i] ? buf_putc(b, l->s[l->i++]) : buf_putc(b, c);
                else if (c == '$')
                        r = lex_dollar(l, b, false);
                else if (l->words && isspace((unsigned char) c))
                        r = word_end(l, b);
                else
                        r = buf_putc(b, c);
        }
        return r;
}

int dockerfile_expand(const char *word, char escape, DfLookup lookup, void *userdata, char **ret, KError **err) {
        Lex l = { .s = word, .esc = escape, .lookup = lookup, .userdata = userdata, .err = err };
        Buf b = {};
        int r = lex_word(&l, &b, 0);
        if (r >= 0 && !b.p && !(b.p = strdup("")))
                r = -ENOMEM;
        if (r < 0) {
                free(b.p);
                return r == -ENOMEM ? kerr(err, r, "expand '%s'", word) : r;
        }
        *ret = b.p;
        return 0;
}

int dockerfile_expand_words(const char *text, char escape, DfLookup lookup, void *userdata, char ***ret, KError **err) {
        _cleanup_strv_free_ char **words = calloc(1, sizeof(char *));
        if (!words)
                return kerr(err, -ENOMEM, "expand '%s'", text);
        Lex l = { .s = text, .esc = escape, .lookup = lookup, .userdata = userdata, .words = &words, .err = err };
        Buf b = {};
        int r = lex_word(&l, &b, 0);
        if (r >= 0)
                r = word_end(&l, &b);
        free(b.p);
        if (r < 0)
                return r == -ENOMEM ? kerr(err, r, "expand '%s'", text) : r;
        *ret = TAKE_PTR(words);
        return 0;
}
