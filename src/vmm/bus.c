/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

void bus_init(Bus *b, const char *name) {
        *b = (Bus) { .name = name };
        pthread_rwlock_init(&b->lock, NULL);
}

void bus_done(Bus *b) {
        free(b->ranges);
        b->ranges = NULL;
        b->n_ranges = 0;
        pthread_rwlock_destroy(&b->lock);
}

/* Index of the first range whose end is above addr (binary search over sorted, disjoint ranges). */
static size_t bus_lower_bound(const Bus *b, uint64_t addr) {
        size_t lo = 0, hi = b->n_ranges;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (b->ranges[mid].base + b->ranges[mid].len <= addr)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static int bus_insert(Bus *b, uint64_t base, uint64_t len, BusHandler handler, void *opaque, const char *name,
                      KError **err) {
        if (len == 0 || base + len < base)
                return kerr_msg(err, KERR_GENERIC, -EINVAL, "%s: invalid range 0x%llx+0x%llx for %s", b->name,
                                (unsigned long long) base, (unsigned long long) len, name);
        size_t i = bus_lower_bound(b, base);
        if (i < b->n_ranges && b->ranges[i].base < base + len)
                return kerr_msg(err, KERR_GENERIC, -EEXIST, "%s: %s at 0x%llx+0x%llx overlaps %s at 0x%llx+0x%llx",
                                b->name, name, (unsigned long long) base, (unsigned long long) len,
                                b->ranges[i].name, (unsigned long long) b->ranges[i].base,
                                (unsigned long long) b->ranges[i].len);
        BusRange *n = realloc(b->ranges, (b->n_ranges + 1) * sizeof(*n));
        if (!n)
                return kerr(err, -ENOMEM, "%s: register %s", b->name, name);
        memmove(n + i + 1, n + i, (b->n_ranges - i) * sizeof(*n));
        n[i] = (BusRange) { .base = base, .len = len, .handler = handler, .opaque = opaque, .name = name };
        b->ranges = n;
        b->n_ranges++;
        return 0;
}

int bus_register(Bus *b, uint64_t base, uint64_t len, BusHandler handler, void *opaque, const char *name,
                 KError **err) {
        pthread_rwlock_wrlock(&b->lock);
        int r = bus_insert(b, base, len, handler, opaque, name, err);
        pthread_rwlock_unlock(&b->lock);
        return r;
}

int bus_unregister(Bus *b, uint64_t base) {
        int r = -ENOENT;
        pthread_rwlock_wrlock(&b->lock);
        size_t i = bus_lower_bound(b, base);
        if (i < b->n_ranges && b->ranges[i].base == base) {
                memmove(b->ranges + i, b->ranges + i + 1, (b->n_ranges - i - 1) * sizeof(*b->ranges));
                b->n_ranges--;
                r = 0;
        }
        pthread_rwlock_unlock(&b->lock);
        return r;
}

bool bus_dispatch(Bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write) {
        bool hit = false;
        pthread_rwlock_rdlock(&b->lock);
        size_t i = bus_lower_bound(b, addr);
        if (i < b->n_ranges) {
                const BusRange *r = &b->ranges[i];
                /* the whole access must fall inside the range: a straddling access goes nowhere */
                if (addr >= r->base && len <= r->len && addr - r->base <= r->len - len) {
                        r->handler(r->opaque, addr - r->base, data, len, is_write);
                        hit = true;
                }
        }
        pthread_rwlock_unlock(&b->lock);
        return hit;
}
