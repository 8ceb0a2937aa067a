/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for `kapsel build`'s parsers (src/build): Dockerfile instructions, directives,
 * continuations, variable substitution, and .dockerignore matching. No root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dockerfile.h"
#include "dockerignore.h"
#include "build-plan.h"
#include "string-util.h"

static Dockerfile *parse_ok(const char *text) {
        Dockerfile *d = NULL;
        KError *e = NULL;
        int r = dockerfile_parse(text, strlen(text), "Dockerfile", &d, &e);
        if (r < 0)
                fail_msg("parse failed: %s", e ? e->msg : "?");
        return d;
}

static char *parse_err(const char *text) {
        Dockerfile *d = NULL;
        KError *e = NULL;
        assert_true(dockerfile_parse(text, strlen(text), "Dockerfile", &d, &e) < 0);
        assert_non_null(e);
        char *m = strdup(e->msg);
        kerr_free(e);
        return m;
}

static void test_instructions(void **state) {
        (void) state;
        Dockerfile *d = parse_ok("FROM --platform=linux/amd64 busybox AS base\n"
                                 "RUN echo hi\n"
                                 "RUN [\"/bin/echo\", \"a b\"]\n"
                                 "CMD [\"sh\"]\n"
                                 "ENTRYPOINT echo x\n"
                                 "ENV A=1 B=\"two words\"\n"
                                 "ENV C legacy value\n"
                                 "ARG X=1 Y\n"
                                 "LABEL a=b \"c d\"=e\n"
                                 "EXPOSE 80 443/udp\n"
                                 "VOLUME [\"/data\"]\n"
                                 "USER nobody\n"
                                 "WORKDIR /app\n"
                                 "COPY --from=base --chown=1:2 --chmod=600 a b /dst/\n"
                                 "ADD x.tar /\n"
                                 "ONBUILD RUN touch /t\n"
                                 "STOPSIGNAL SIGINT\n"
                                 "HEALTHCHECK --interval=5s CMD true\n"
                                 "SHELL [\"/bin/sh\", \"-ec\"]\n"
                                 "maintainer me\n");
        assert_int_equal(d->n, 20);
        assert_int_equal(d->v[0].kind, DF_FROM);
        assert_string_equal(df_flag(&d->v[0], "platform", NULL), "linux/amd64");
        assert_int_equal(d->v[0].n_args, 3);
        assert_string_equal(d->v[0].args[2], "base");
        assert_false(d->v[1].json);
        assert_string_equal(d->v[1].args[0], "echo hi");
        assert_true(d->v[2].json);
        assert_string_equal(d->v[2].args[1], "a b");
        assert_int_equal(d->v[5].n_args, 4);
        assert_string_equal(d->v[5].args[3], "\"two words\"");
        assert_string_equal(d->v[6].args[0], "C");
        assert_string_equal(d->v[6].args[1], "legacy value");
        assert_true(d->v[7].arg_has_default[0]);
        assert_false(d->v[7].arg_has_default[1]);
        assert_string_equal(d->v[8].args[2], "\"c d\"");
        assert_int_equal(d->v[9].n_args, 2);
        assert_true(d->v[10].json);
        assert_string_equal(df_flag(&d->v[13], "chmod", NULL), "600");
        assert_int_equal(d->v[13].n_args, 3);
        assert_int_equal(d->v[15].kind, DF_ONBUILD);
        assert_int_equal(d->v[15].onbuild->kind, DF_RUN);
        assert_string_equal(d->v[17].args[0], "true");
        assert_int_equal(d->v[19].kind, DF_MAINTAINER);
        assert_string_equal(d->v[19].text, "maintainer me");
        dockerfile_free(d);
}

static void test_continuations_and_escape(void **state) {
        (void) state;
        Dockerfile *d = parse_ok("# escape=`\n"
                                 "\n"
                                 "FROM scratch\n"
                                 "RUN echo a `\n"
                                 "# a comment inside\n"
                                 "\n"
                                 "  b\n"
                                 "COPY c:\\dir\\x /y\n");
        assert_int_equal(d->escape, '`');
        assert_int_equal(d->n, 3);
        assert_string_equal(d->v[1].args[0], "echo a   b");
        assert_int_equal(d->v[1].line, 4);
        assert_int_equal(d->v[2].line, 8);
        assert_string_equal(d->v[2].args[0], "c:\\dir\\x");
        dockerfile_free(d);
        /* a form feed separates ENV words (it once made the splitter loop forever: fuzz-dockerfile) */
        d = parse_ok("FROM scratch\nENV a=1\fb=2\n");
        assert_int_equal(d->v[1].n_args, 4);
        dockerfile_free(d);
        /* a directive after an instruction is a comment */
        d = parse_ok("FROM scratch\n# escape=`\nRUN a \\\n b\n");
        assert_int_equal(d->escape, '\\');
        assert_string_equal(d->v[1].args[0], "a  b");
        dockerfile_free(d);
}

static void test_errors(void **state) {
        (void) state;
        char *m = parse_err("FROM busybox\n\nFROBNICATE x\n");
        assert_non_null(strstr(m, "Dockerfile:3"));
        assert_non_null(strstr(m, "FROBNICATE"));
        free(m);
        m = parse_err("FROM busybox\nENV novalue\n");
        assert_non_null(strstr(m, "Dockerfile:2: ENV"));
        free(m);
        m = parse_err("FROM busybox\nCOPY --frm=a b c\n");
        assert_non_null(strstr(m, "--frm"));
        free(m);
        m = parse_err("FROM a b\n");
        assert_non_null(strstr(m, "FROM"));
        free(m);
        m = parse_err("FROM a\nONBUILD FROM b\n");
        assert_non_null(strstr(m, "ONBUILD"));
        free(m);
        m = parse_err("# escape=x\nFROM a\n");
        assert_non_null(strstr(m, "escape"));
        free(m);
        m = parse_err("FROM a\nCOPY onlyone\n");
        assert_non_null(strstr(m, "Dockerfile:2: COPY"));
        free(m);
        m = parse_err("FROM a\nSHELL sh -c\n");
        assert_non_null(strstr(m, "SHELL"));
        free(m);
        m = parse_err("# only a comment\n");
        assert_non_null(strstr(m, "no instructions"));
        free(m);
}

static const char *lookup(void *ud, const char *name) {
        (void) ud;
        if (streq(name, "A"))
                return "alpha";
        if (streq(name, "E"))
                return "";
        if (streq(name, "S"))
                return "x y";
        return NULL;
}

static void expect(const char *in, const char *out) {
        char *r = NULL;
        KError *e = NULL;
        if (dockerfile_expand(in, '\\', lookup, NULL, &r, &e) < 0)
                fail_msg("expand %s: %s", in, e ? e->msg : "?");
        assert_string_equal(r, out);
        free(r);
}

static void test_expand(void **state) {
        (void) state;
        expect("$A", "alpha");
        expect("${A}b", "alphab");
        expect("$Ab", "");
        expect("${U:-def}", "def");
        expect("${E:-def}", "def");
        expect("${E-def}", "");
        expect("${A:+set}", "set");
        expect("${U:+set}", "");
        expect("${E+set}", "set");
        expect("'$A'", "$A");
        expect("\"$A x\"", "alpha x");
        expect("\\$A", "$A");
        expect("a\\ b", "a b");
        expect("\"a\\\"b\"", "a\"b");
        expect("$", "$");
        expect("${U:-${A}}", "alpha");
        expect("${U:-'q r'}", "q r");
        char *r = NULL;
        KError *e = NULL;
        assert_true(dockerfile_expand("\"open", '\\', lookup, NULL, &r, &e) < 0);
        kerr_free(e);
        e = NULL;
        assert_true(dockerfile_expand("${A", '\\', lookup, NULL, &r, &e) < 0);
        kerr_free(e);
        e = NULL;
        assert_true(dockerfile_expand("${U:?must be set}", '\\', lookup, NULL, &r, &e) < 0);
        assert_non_null(strstr(e->msg, "must be set"));
        kerr_free(e);
        char **w = NULL;
        assert_int_equal(dockerfile_expand_words("a \"b c\" $S ''", '\\', lookup, NULL, &w, NULL), 0);
        assert_int_equal(strv_length(w), 5);
        assert_string_equal(w[1], "b c");
        assert_string_equal(w[2], "x");
        assert_string_equal(w[4], "");
        strv_free(w);
}

static void test_glob(void **state) {
        (void) state;
        assert_int_equal(glob_match("*.c", "a.c", false), 1);
        assert_int_equal(glob_match("*.c", "d/a.c", false), 0);
        assert_int_equal(glob_match("a?c", "abc", false), 1);
        assert_int_equal(glob_match("[a-c]x", "bx", false), 1);
        assert_int_equal(glob_match("[^a-c]x", "bx", false), 0);
        assert_int_equal(glob_match("\\*", "*", false), 1);
        assert_int_equal(glob_match("[a", "a", false), -EINVAL);
        assert_int_equal(glob_match("**/*.go", "a/b/c.go", true), 1);
        assert_int_equal(glob_match("**/*.go", "c.go", true), 1);
        assert_int_equal(glob_match("a/**", "a/b/c", true), 1);
        assert_int_equal(glob_match("a/**/b", "a/b", true), 1);
        assert_int_equal(glob_match("a/**/b", "a/x/y/b", true), 1);
        assert_int_equal(glob_match("a/**/b", "ab", true), 0);
}

static void test_dockerignore(void **state) {
        (void) state;
        const char *text = "# comment\n"
                           "*.log\n"
                           "!keep.log\n"
                           "/build/\n"
                           "./tmp\n"
                           "**/*.o\n"
                           "docs\n"
                           "!docs/README.md\n"
                           "  \n";
        DockerIgnore d = {};
        assert_int_equal(dockerignore_parse(text, strlen(text), &d, NULL), 0);
        assert_int_equal(d.n, 7);
        assert_true(d.has_exceptions);
        assert_string_equal(d.patterns[2], "build");
        assert_true(dockerignore_excluded(&d, "a.log"));
        assert_false(dockerignore_excluded(&d, "keep.log"));
        assert_false(dockerignore_excluded(&d, "sub/a.log"));
        assert_true(dockerignore_excluded(&d, "build/x/y"));
        assert_true(dockerignore_excluded(&d, "tmp"));
        assert_true(dockerignore_excluded(&d, "src/deep/x.o"));
        assert_true(dockerignore_excluded(&d, "docs/other"));
        assert_false(dockerignore_excluded(&d, "docs/README.md"));
        assert_false(dockerignore_excluded(&d, "Dockerfile"));
        dockerignore_done(&d);
        assert_true(dockerignore_parse("[x\n", 3, &d, NULL) < 0);
        char *c = dockerignore_clean("./a//b/../c/");
        assert_string_equal(c, "a/c");
        free(c);
        c = dockerignore_clean("/");
        assert_string_equal(c, ".");
        free(c);
}

static int plan_text(const char *text, char *const *args, const char *target, BuildPlan *ret, KError **err) {
        Dockerfile *d = NULL;
        int r = dockerfile_parse(text, strlen(text), "Dockerfile", &d, err);
        return r < 0 ? r : build_plan(d, args, target, ret, err);
}

static void test_plan_stages(void **state) {
        (void) state;
        BuildPlan p;
        char *args[] = { "BASE=alpine", "UNDECLARED=1", NULL };
        assert_int_equal(plan_text("ARG BASE=busybox\nARG TAG\nFROM $BASE AS One\nRUN a\nFROM one AS two\nCOPY --from=0 /a /b\n"
                                   "FROM scratch\n",
                                   args, "two", &p, NULL), 0);
        assert_int_equal(p.n_stages, 3);
        assert_string_equal(p.stages[0].base, "alpine");
        assert_string_equal(p.stages[0].name, "one");
        assert_int_equal(p.stages[1].base_stage, 0);
        assert_int_equal(p.stages[2].base_stage, -1);
        assert_int_equal(p.target, 1);
        assert_int_equal(p.n_steps, 4);
        assert_true(json_is_null(json_object_get(p.global_args, "TAG")));
        ssize_t dep;
        assert_int_equal(plan_resolve_from(&p, 2, "two", &dep, NULL), 0);
        assert_int_equal(dep, 1);
        assert_int_equal(plan_resolve_from(&p, 2, "busybox:1", &dep, NULL), 0);
        assert_int_equal(dep, -1);
        build_plan_done(&p);
        assert_true(plan_is_proxy_arg("https_proxy"));
        assert_false(plan_is_proxy_arg("PATH"));
}

static void plan_fails(const char *text, const char *target, const char *expect) {
        BuildPlan p;
        KError *e = NULL;
        assert_true(plan_text(text, NULL, target, &p, &e) < 0);
        assert_non_null(e);
        if (!strstr(e->msg, expect))
                fail_msg("'%s' does not say '%s'", e->msg, expect);
        kerr_free(e);
}

static void test_plan_refusals(void **state) {
        (void) state;
        plan_fails("FROM a AS x\nCOPY --from=y /a /b\nFROM b AS y\n", NULL, "cycle");
        plan_fails("FROM a AS x\nCOPY --from=x /a /b\n", NULL, "cycle");
        plan_fails("FROM a AS x\nCOPY --from=1 /a /b\nFROM b\n", NULL, "stage 1");
        plan_fails("FROM y AS x\nFROM a AS y\n", NULL, "cycle");
        plan_fails("FROM a AS x\nFROM b AS X\n", NULL, "used twice");
        plan_fails("RUN x\nFROM a\n", NULL, "only ARG");
        plan_fails("ARG X\n", NULL, "no FROM");
        plan_fails("FROM a AS x\n", "z", "--target z");
        plan_fails("ARG B\nFROM $B\n", NULL, "names no image");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_instructions),
                cmocka_unit_test(test_continuations_and_escape),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_expand),
                cmocka_unit_test(test_glob),
                cmocka_unit_test(test_dockerignore),
                cmocka_unit_test(test_plan_stages),
                cmocka_unit_test(test_plan_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
