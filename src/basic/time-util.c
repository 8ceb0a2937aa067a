/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "string-util.h"
#include "time-util.h"

int parse_duration_ns(const char *s, int64_t *ret) {
        static const struct {
                const char *unit;
                double ns;
        } units[] = { { "ns", 1 }, { "us", 1e3 }, { "µs", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 } };
        double total = 0;
        if (!s || !*s)
                return -EINVAL;
        while (*s) {
                /* only digits and a point: strtod alone would also take signs, blanks, "inf", hex */
                char num[32], *nend;
                size_t n = strspn(s, "0123456789.");
                if (n == 0 || n >= sizeof(num))
                        return -EINVAL;
                memcpy(num, s, n);
                num[n] = 0;
                double v = strtod(num, &nend);
                if (*nend || !(v >= 0))
                        return -EINVAL;
                const char *end = s + n;
                size_t best = 0, best_len = 0;  /* the longest unit that matches: "ms" before "m" */
                for (size_t i = 0; i < ELEMENTSOF(units); i++)
                        if (startswith(end, units[i].unit) && strlen(units[i].unit) > best_len)
                                best = i, best_len = strlen(units[i].unit);
                if (!best_len)
                        return -EINVAL;
                total += v * units[best].ns;
                if (!(total <= 1e18))   /* ~31 years: enough for any timeout, and no overflow */
                        return -EINVAL;
                s = end + best_len;
        }
        *ret = (int64_t) total;
        return 0;
}
