/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "cli-keys.h"
#include "string-util.h"

/* "p" -> 'p', "ctrl-p" -> 0x10, "ctrl-[" -> ESC; -1 when not a key */
static int parse_key(const char *p, size_t len) {
        static const char specials[] = "@[\\]^_";       /* ctrl-@ is NUL, then 27..31 */
        if (len == 1)
                return (uint8_t) *p;
        const char *ctrl = startswith(p, "ctrl-");
        if (!ctrl || len != 6)
                return -1;
        if (ctrl[0] >= 'a' && ctrl[0] <= 'z')
                return ctrl[0] - 'a' + 1;
        const char *sp = ctrl[0] ? strchr(specials, ctrl[0]) : NULL;
        if (!sp)
                return -1;
        return sp == specials ? 0 : 26 + (int) (sp - specials);
}

int k_detach_keys_parse(const char *spec, KDetachKeys *ret) {
        KDetachKeys k = { 0 };
        if (!spec || !*spec)
                spec = K_DETACH_KEYS_DEFAULT;
        for (const char *p = spec; *p;) {
                size_t len = strcspn(p, ",");
                int key = parse_key(p, len);
                if (key < 0 || k.len >= sizeof(k.seq))
                        return -EINVAL;
                k.seq[k.len++] = (uint8_t) key;
                p += len;
                if (*p == ',' && !*++p)
                        return -EINVAL;         /* a trailing comma */
        }
        *ret = k;
        return 0;
}

int k_detach_keys_filter(KDetachKeys *k, const uint8_t *buf, size_t n, uint8_t *out, size_t *ret_len) {
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
                if (buf[i] == k->seq[k->matched]) {
                        if (++k->matched == k->len) {
                                k->matched = 0;
                                *ret_len = o;
                                return 1;
                        }
                        continue;
                }
                /* not the sequence after all: what was held goes on, then this byte may start it anew */
                memcpy(out + o, k->seq, k->matched);
                o += k->matched;
                k->matched = buf[i] == k->seq[0];
                if (!k->matched)
                        out[o++] = buf[i];
        }
        *ret_len = o;
        return 0;
}
