/* SPDX-License-Identifier: Apache-2.0 */
/* The state stream's framing: writer, strict reader, CRC-32C (state.h describes the format). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "le-bytes.h"
#include "state.h"

static uint32_t crc32c_table[256];

static void crc32c_init_table(void) {
        for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;
                for (int k = 0; k < 8; k++)
                        c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
                crc32c_table[i] = c;
        }
}

uint32_t state_crc32c(uint32_t crc, const void *data, size_t len) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, crc32c_init_table);
        const uint8_t *p = data;
        crc = ~crc;
        for (size_t i = 0; i < len; i++)
                crc = crc32c_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
        return ~crc;
}

/* ---- writer ---- */

void state_writer_init(StateWriter *w) {
        *w = (StateWriter) {};
}

void state_writer_done(StateWriter *w) {
        free(w->buf);
        *w = (StateWriter) {};
}

static uint8_t *writer_reserve(StateWriter *w, size_t n) {
        if (w->error)
                return NULL;
        if (n > STATE_MAX_STREAM || w->len + n > STATE_MAX_STREAM) {
                w->error = -EFBIG;
                return NULL;
        }
        if (w->len + n > w->cap) {
                size_t cap = w->cap ? w->cap : 4096;
                while (cap < w->len + n)
                        cap *= 2;
                uint8_t *b = realloc(w->buf, cap);
                if (!b) {
                        w->error = -ENOMEM;
                        return NULL;
                }
                w->buf = b;
                w->cap = cap;
        }
        uint8_t *p = w->buf + w->len;
        w->len += n;
        return p;
}

static void writer_header(StateWriter *w) {
        uint8_t *p = writer_reserve(w, STATE_HEADER_LEN);
        if (!p)
                return;
        memcpy(p, STATE_MAGIC, STATE_MAGIC_LEN);
        le32_write(p + 8, STATE_FORMAT_VERSION);
        le32_write(p + 12, 0);
}

void state_writer_section(StateWriter *w, uint32_t id, uint32_t instance, uint32_t version, const void *data,
                          size_t len) {
        if (w->len == 0)
                writer_header(w);
        if (!w->error && (len > STATE_MAX_SECTION || w->sections + 1 >= STATE_MAX_SECTIONS || id == STATE_SEC_END))
                w->error = -EFBIG;
        uint8_t *p = writer_reserve(w, STATE_SECTION_HEADER_LEN + len);
        if (!p)
                return;
        le32_write(p, id);
        le32_write(p + 4, instance);
        le32_write(p + 8, version);
        le32_write(p + 12, (uint32_t) len);
        if (len)
                memcpy(p + STATE_SECTION_HEADER_LEN, data, len);
        w->sections++;
}

int state_writer_finish(StateWriter *w, const uint8_t **ret_buf, size_t *ret_len, KError **err) {
        if (w->len == 0)
                writer_header(w);
        uint8_t *p = writer_reserve(w, STATE_SECTION_HEADER_LEN + 4);
        if (!p)
                return kerr(err, w->error, "state stream: build (%u sections)", w->sections);
        le32_write(p, STATE_SEC_END);
        le32_write(p + 4, 0);
        le32_write(p + 8, 1);
        le32_write(p + 12, 4);
        le32_write(p + 16, state_crc32c(0, w->buf, w->len - 4));
        *ret_buf = w->buf;
        *ret_len = w->len;
        return 0;
}

/* ---- reader ---- */

/* Every framing error: what is wrong, at which section; the stream is refused as a whole. */
#define bad(err, fmt, ...) kerr_msg(err, KERR_CONFIG, -EBADMSG, "state stream: " fmt, __VA_ARGS__)

static int reader_check_header(const uint8_t *buf, size_t len, KError **err) {
        if (len < STATE_HEADER_LEN + STATE_SECTION_HEADER_LEN + 4)
                return bad(err, "truncated: %zu bytes, a stream has at least %d", len,
                           STATE_HEADER_LEN + STATE_SECTION_HEADER_LEN + 4);
        if (len > STATE_MAX_STREAM)
                return bad(err, "too large: %zu bytes, at most %u", len, STATE_MAX_STREAM);
        if (memcmp(buf, STATE_MAGIC, STATE_MAGIC_LEN) != 0)
                return kerr_msg(err, KERR_CONFIG, -EBADMSG,
                                "state stream: bad magic: not a kapsel-vmm snapshot or migration stream");
        uint32_t version = le32_read(buf + 8), flags = le32_read(buf + 12);
        if (version != STATE_FORMAT_VERSION)
                return kerr_msg(err, KERR_CONFIG, -EPROTONOSUPPORT,
                                "state stream: format version %u, this kapsel-vmm reads version %u: "
                                "restore it with the kapsel-vmm that wrote it", version, STATE_FORMAT_VERSION);
        if (flags != 0)
                return bad(err, "unknown header flags 0x%x (this version defines none)", flags);
        return 0;
}

static int reader_add(StateReader *r, const StateSection *s, KError **err) {
        for (size_t i = 0; i < r->n; i++)
                if (r->sections[i].id == s->id && r->sections[i].instance == s->instance)
                        return bad(err, "section 0x%x instance %u appears twice", s->id, s->instance);
        if (r->n + 1 > STATE_MAX_SECTIONS)
                return bad(err, "more than %d sections", STATE_MAX_SECTIONS);
        if (r->n == r->cap) {
                size_t cap = r->cap ? 2 * r->cap : 16;
                StateSection *a = realloc(r->sections, cap * sizeof(*a));
                if (!a)
                        return kerr(err, -ENOMEM, "state stream: index sections");
                r->sections = a;
                r->cap = cap;
        }
        r->sections[r->n++] = *s;
        return 0;
}

int state_reader_parse(StateReader *r, const uint8_t *buf, size_t len, KError **err) {
        *r = (StateReader) {};
        int ret = reader_check_header(buf, len, err);
        size_t pos = STATE_HEADER_LEN;
        bool end = false;
        while (ret >= 0 && !end) {
                if (len - pos < STATE_SECTION_HEADER_LEN) {
                        ret = bad(err, "truncated at byte %zu: no section header and no trailer", pos);
                        break;
                }
                const uint8_t *h = buf + pos;
                StateSection s = { .id = le32_read(h), .instance = le32_read(h + 4), .version = le32_read(h + 8),
                                   .len = le32_read(h + 12), .data = h + STATE_SECTION_HEADER_LEN };
                pos += STATE_SECTION_HEADER_LEN;
                if (s.len > STATE_MAX_SECTION)
                        ret = bad(err, "section 0x%x claims %u bytes, more than a section may hold (%u)", s.id, s.len,
                                  STATE_MAX_SECTION);
                else if (s.len > len - pos)
                        ret = bad(err, "truncated: section 0x%x needs %zu bytes more than the stream has", s.id,
                                  s.len - (len - pos));
                else if (s.id == STATE_SEC_END) {
                        end = true;
                        if (s.len != 4 || s.instance != 0 || s.version != 1)
                                ret = bad(err, "malformed trailer (length %u, version %u)", s.len, s.version);
                        else if (pos + 4 != len)
                                ret = bad(err, "%zu bytes after the trailer", len - pos - 4);
                        else if (le32_read(s.data) != state_crc32c(0, buf, pos))
                                ret = bad(err, "checksum mismatch (stored 0x%08x, computed 0x%08x): the stream is "
                                          "damaged", le32_read(s.data), state_crc32c(0, buf, pos));
                } else {
                        ret = reader_add(r, &s, err);
                        pos += s.len;
                }
        }
        if (ret < 0)
                state_reader_done(r);
        return ret;
}

void state_reader_done(StateReader *r) {
        free(r->sections);
        *r = (StateReader) {};
}

StateSection *state_reader_find(StateReader *r, uint32_t id, uint32_t instance) {
        for (size_t i = 0; i < r->n; i++)
                if (r->sections[i].id == id && r->sections[i].instance == instance) {
                        r->sections[i].used = true;
                        return &r->sections[i];
                }
        return NULL;
}

const StateSection *state_reader_unused(const StateReader *r) {
        for (size_t i = 0; i < r->n; i++)
                if (!r->sections[i].used)
                        return &r->sections[i];
        return NULL;
}
