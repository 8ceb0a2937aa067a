/* SPDX-License-Identifier: Apache-2.0 */
/* Plain structs in and out of sections by field tables, and stream files on disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "le-bytes.h"
#include "state.h"

size_t state_layout_size(const StateLayout *l) {
        size_t n = 0;
        for (size_t i = 0; i < l->n_fields; i++)
                n += (size_t) l->fields[i].size * l->fields[i].count;
        return n;
}

static void put_int(uint8_t *p, const uint8_t *src, uint8_t size) {
        switch (size) {
        case 1:
                *p = *src;
                break;
        case 2: {
                uint16_t v;
                memcpy(&v, src, 2);
                le16_write(p, v);
                break;
        }
        case 4: {
                uint32_t v;
                memcpy(&v, src, 4);
                le32_write(p, v);
                break;
        }
        default: {
                uint64_t v;
                memcpy(&v, src, 8);
                le64_write(p, v);
                break;
        }
        }
}

static void get_int(uint8_t *dst, const uint8_t *p, uint8_t size) {
        switch (size) {
        case 1:
                *dst = *p;
                break;
        case 2: {
                uint16_t v = le16_read(p);
                memcpy(dst, &v, 2);
                break;
        }
        case 4: {
                uint32_t v = le32_read(p);
                memcpy(dst, &v, 4);
                break;
        }
        default: {
                uint64_t v = le64_read(p);
                memcpy(dst, &v, 8);
                break;
        }
        }
}

void state_put(StateWriter *w, const StateLayout *l, uint32_t instance, const void *s) {
        size_t n = state_layout_size(l);
        uint8_t *buf = calloc(1, n ? n : 1);
        if (!buf) {
                if (!w->error)
                        w->error = -ENOMEM;
                return;
        }
        uint8_t *p = buf;
        for (size_t i = 0; i < l->n_fields; i++) {
                const StateField *f = &l->fields[i];
                for (unsigned k = 0; k < f->count; k++, p += f->size)
                        put_int(p, (const uint8_t *) s + f->offset + (size_t) k * f->size, f->size);
        }
        state_writer_section(w, l->id, instance, l->version, buf, n);
        free(buf);
}

int state_decode(const StateLayout *l, const uint8_t *data, size_t len, void *s) {
        if (len != state_layout_size(l))
                return -EBADMSG;
        const uint8_t *p = data;
        for (size_t i = 0; i < l->n_fields; i++) {
                const StateField *f = &l->fields[i];
                for (unsigned k = 0; k < f->count; k++, p += f->size)
                        get_int((uint8_t *) s + f->offset + (size_t) k * f->size, p, f->size);
        }
        return 0;
}

int state_get(StateReader *r, const StateLayout *l, uint32_t instance, void *s, bool *ret_found, KError **err) {
        const StateSection *sec = state_reader_find(r, l->id, instance);
        if (ret_found)
                *ret_found = sec != NULL;
        if (!sec)
                return ret_found ? 0
                                 : kerr_msg(err, KERR_CONFIG, -ENOENT, "state: no %s section (instance %u)", l->name,
                                            instance);
        if (sec->version != l->version)
                return kerr_msg(err, KERR_CONFIG, -EPROTONOSUPPORT,
                                "state: %s section (instance %u) has version %u, this kapsel-vmm reads %u", l->name,
                                instance, sec->version, l->version);
        if (state_decode(l, sec->data, sec->len, s) < 0)
                return kerr_msg(err, KERR_CONFIG, -EBADMSG, "state: %s section (instance %u) is %u bytes, expected %zu",
                                l->name, instance, sec->len, state_layout_size(l));
        return 0;
}

int state_file_read(int dirfd, const char *name, uint8_t **ret_buf, size_t *ret_len, KError **err) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return kerr(err, -errno, "state: open '%s'", name);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return kerr(err, -errno, "state: stat '%s'", name);
        if (!S_ISREG(st.st_mode))
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "state: '%s' is not a regular file", name);
        if (st.st_size > (off_t) STATE_MAX_STREAM)
                return kerr_msg(err, KERR_CONFIG, -EFBIG, "state: '%s' is %lld bytes, a state stream has at most %u",
                                name, (long long) st.st_size, STATE_MAX_STREAM);
        _cleanup_free_ uint8_t *buf = malloc(st.st_size ? (size_t) st.st_size : 1);
        if (!buf)
                return kerr(err, -ENOMEM, "state: read '%s'", name);
        size_t got = 0;
        while (got < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + got, (size_t) st.st_size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return kerr(err, -errno, "state: read '%s'", name);
                if (n == 0)
                        break;          /* shrank under us: the reader reports the truncation */
                got += (size_t) n;
        }
        *ret_buf = TAKE_PTR(buf);
        *ret_len = got;
        return 0;
}

int state_file_write(int dirfd, const char *name, const uint8_t *buf, size_t len, KError **err) {
        char tmp[256];
        if (snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= (int) sizeof(tmp))
                return kerr_msg(err, KERR_GENERIC, -ENAMETOOLONG, "state: file name '%s' too long", name);
        _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return kerr(err, -errno, "state: create '%s'", tmp);
        size_t done = 0;
        while (done < len) {
                ssize_t n = write(fd, buf + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int r = n < 0 ? -errno : -EIO;
                        (void) unlinkat(dirfd, tmp, 0);
                        return kerr(err, r, "state: write '%s'", tmp);
                }
                done += (size_t) n;
        }
        if (fsync(fd) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
                int r = -errno;
                (void) unlinkat(dirfd, tmp, 0);
                return kerr(err, r, "state: save '%s'", name);
        }
        return 0;
}
