/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the CLI's pure helpers: exact long options (cli-getopt.c) and docker's table
 * layout (cli-table.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli-getopt.h"
#include "cli-keys.h"
#include "cli-table.h"

static const struct option run_opts[] = {
        { "pids-limit", required_argument, NULL, 'P' }, { "name", required_argument, NULL, 'n' },
        { "detach", no_argument, NULL, 'd' },           { "env", required_argument, NULL, 'e' },
        { "help", no_argument, NULL, 'h' },             {}
};

/* Parse argv (NULL-terminated) from the start; the options seen, as a string of their codes. */
static int parse(const char *optstring, char **argv, char *seen) {
        int argc = 0, c;
        while (argv[argc])
                argc++;
        optind = 0;
        opterr = 0;
        while ((c = k_getopt_long(argc, argv, optstring, run_opts, NULL)) >= 0) {
                *seen++ = (char) c;
                if (c == '?')
                        break;
        }
        *seen = 0;
        return optind;
}

static void test_getopt_exact_names_pass(void **state) {
        char seen[16];
        char *argv[] = { "run", "--pids-limit", "5", "--name=x", "-d", "img", NULL };
        parse("+de:", argv, seen);
        assert_string_equal(seen, "Pnd");
        assert_null(k_getopt_bad_option());
}

static void test_getopt_prefix_refused(void **state) {
        char seen[16];
        char *argv[] = { "run", "--pid", "host", "img", NULL };
        parse("+de:", argv, seen);
        assert_string_equal(seen, "?");
        assert_string_equal(k_getopt_bad_option(), "--pid");
        char *argv2[] = { "run", "-d", "--na=x", "img", NULL };
        parse("+de:", argv2, seen);
        assert_string_equal(seen, "?");         /* refused before -d is even returned */
        assert_string_equal(k_getopt_bad_option(), "--na");
}

static void test_getopt_values_and_operands_not_checked(void **state) {
        char seen[16];
        /* values of options, arguments after --, and the command after the image are not options */
        char *argv[] = { "run", "--name", "--pid", "-e", "--nam", "-e--x", "--", "--pi", NULL };
        parse("+de:", argv, seen);
        assert_string_equal(seen, "nee");
        assert_null(k_getopt_bad_option());
        char *argv2[] = { "run", "-d", "img", "sh", "--pi", NULL };
        parse("+de:", argv2, seen);
        assert_string_equal(seen, "d");
        /* without '+' getopt permutes: a later --pi is an option, and refused */
        parse("de:", argv2, seen);
        assert_string_equal(seen, "?");
        assert_string_equal(k_getopt_bad_option(), "--pi");
}

static char *table(const char *text) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(k_table_write(text, f), 0);
        fclose(f);
        return buf;
}

static void test_table_aligns_like_docker(void **state) {
        _cleanup_free_ char *t = table("NAMES\tSTATUS\nweb\tUp 2 seconds\na-much-longer-name\tExited (0)\n");
        assert_string_equal(t, "NAMES                STATUS\n"
                               "web                  Up 2 seconds\n"
                               "a-much-longer-name   Exited (0)\n");
        /* at least 10 wide; UTF-8 counts as characters; the last cell is never padded */
        _cleanup_free_ char *u = table("A\tB\tC\n\"sh -c 'whi…\"\tx\tlast\n");
        assert_string_equal(u, "A               B         C\n"
                               "\"sh -c 'whi…\"   x         last\n");
}

static void test_table_header_from_template(void **state) {
        static const KColumn cols[] = { { "CONTAINER ID", "ID" }, { "NAMES", "Names" }, {} };
        _cleanup_free_ char *h = k_table_header("{{.ID}}\\t{{.Names}}: {{json .Status}} {{.Labels.x}} {{.Foo}}", cols);
        assert_string_equal(h, "CONTAINER ID\tNAMES: STATUS X FOO");
        assert_string_equal(k_table_template("table {{.Names}}"), "{{.Names}}");
        assert_string_equal(k_table_template("table"), "");
        assert_null(k_table_template("tablex"));
        assert_null(k_table_template("{{.Names}}"));
}

static void test_detach_keys(void **state) {
        KDetachKeys k;
        assert_int_equal(k_detach_keys_parse(NULL, &k), 0);
        assert_int_equal(k.len, 2);
        assert_int_equal(k.seq[0], 0x10);
        assert_int_equal(k.seq[1], 0x11);
        assert_int_equal(k_detach_keys_parse("ctrl-a,x,ctrl-@,ctrl-[,ctrl-_", &k), 0);
        assert_int_equal(k.len, 5);
        assert_memory_equal(k.seq, "\x01x\0\x1b\x1f", 5);
        assert_int_equal(k_detach_keys_parse("ctrl-", &k), -EINVAL);
        assert_int_equal(k_detach_keys_parse("ctrl-1", &k), -EINVAL);
        assert_int_equal(k_detach_keys_parse("ab", &k), -EINVAL);
        assert_int_equal(k_detach_keys_parse("a,", &k), -EINVAL);

        uint8_t out[64];
        size_t len;
        assert_int_equal(k_detach_keys_parse("", &k), 0);
        /* ctrl-p alone goes through once the next byte shows it was not the sequence */
        assert_int_equal(k_detach_keys_filter(&k, (const uint8_t *) "ab\x10", 3, out, &len), 0);
        assert_int_equal(len, 2);
        assert_int_equal(k_detach_keys_filter(&k, (const uint8_t *) "c", 1, out, &len), 0);
        assert_int_equal(len, 2);
        assert_memory_equal(out, "\x10" "c", 2);
        /* ctrl-p ctrl-p ctrl-q: the first ctrl-p passes, the sequence detaches, even across reads */
        assert_int_equal(k_detach_keys_filter(&k, (const uint8_t *) "x\x10\x10", 3, out, &len), 0);
        assert_int_equal(len, 2);
        assert_memory_equal(out, "x\x10", 2);
        assert_int_equal(k_detach_keys_filter(&k, (const uint8_t *) "\x11rest", 5, out, &len), 1);
        assert_int_equal(len, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_getopt_exact_names_pass),
                cmocka_unit_test(test_getopt_prefix_refused),
                cmocka_unit_test(test_getopt_values_and_operands_not_checked),
                cmocka_unit_test(test_table_aligns_like_docker),
                cmocka_unit_test(test_table_header_from_template),
                cmocka_unit_test(test_detach_keys),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
