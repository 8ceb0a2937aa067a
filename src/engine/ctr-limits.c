/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctr-limits.h"

static long host_cpus(void) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
                return CPU_COUNT(&set);
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? n : 1;
}

static int cpus_range(const char *what, KError **err) {
        long n = host_cpus();
        return kerr_msg(err, KERR_USAGE, -EINVAL,
                        "--cpus %s: the range of CPUs is from 0.01 to %ld.00, as there %s only %ld CPU%s available", what,
                        n, n == 1 ? "is" : "are", n, n == 1 ? "" : "s");
}

int ctr_check_nano_cpus(int64_t nano, KError **err) {
        if (nano == 0)
                return 0;
        if (nano < 10000000 || nano > (int64_t) host_cpus() * 1000000000) {
                char what[32];
                snprintf(what, sizeof(what), "%.9g", (double) nano / 1e9);
                return cpus_range(what, err);
        }
        return 0;
}

int ctr_parse_cpus(const char *arg, int64_t *ret_nano, KError **err) {
        /* decimal digits with one optional point (and an exponent, as strtod reads): no sign,
         * no "nan", "inf" or hex */
        size_t digits = strspn(arg, "0123456789.eE+-");
        char *end = NULL;
        errno = 0;
        double d = digits == strlen(arg) && *arg && arg[0] != '-' && arg[0] != '+' ? strtod(arg, &end) : NAN;
        if (!end || *end || (errno == ERANGE && d != 0) || !isfinite(d) || d < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--cpus \"%s\": expected a number of CPUs like 0.5 or 2", arg);
        if (d == 0 && strspn(arg, "0.") != strlen(arg))
                return cpus_range(arg, err);       /* 1e-300: too small, not "no limit" */
        if (d != 0 && (d < 0.01 || d > (double) host_cpus()))
                return cpus_range(arg, err);
        *ret_nano = (int64_t) (d * 1e9 + 0.5);
        return 0;
}
