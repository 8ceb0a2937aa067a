/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the pure parts of the network layer: CIDR/IPAM math, names, port-map parsing,
 * state round trip, the planned nftables table (golden text), hosts/resolv.conf rendering, modes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "net-addr.h"
#include "net-files.h"
#include "net-plan.h"
#include "net-state.h"
#include "net.h"
#include "string-util.h"

#define IP(a, b, c, d) ((uint32_t) (a) << 24 | (uint32_t) (b) << 16 | (uint32_t) (c) << 8 | (uint32_t) (d))

/* ---- addresses ---- */

static void test_ip4_parse(void **state) {
        uint32_t ip;
        assert_int_equal(ip4_parse("10.88.0.1", &ip), 0);
        assert_int_equal(ip, IP(10, 88, 0, 1));
        assert_int_equal(ip4_parse("255.255.255.255", &ip), 0);
        static const char *const bad[] = { "", "10.88.0", "10.88.0.1.2", "256.0.0.1", "01.2.3.4", "1..2.3",
                                           "1.2.3.4 ", "a.b.c.d", "1.2.3.-4", "1234.1.1.1" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(ip4_parse(bad[i], &ip), -EINVAL);
        char b[IP4_STRLEN];
        assert_string_equal(ip4_format(IP(172, 17, 0, 254), b), "172.17.0.254");
}

static void test_cidr(void **state) {
        Cidr c, d;
        KError *e = NULL;
        assert_int_equal(cidr_parse("10.88.0.0/16", &c, NULL), 0);
        assert_int_equal(c.addr, IP(10, 88, 0, 0));
        assert_int_equal(c.prefix, 16);
        assert_true(cidr_contains(&c, IP(10, 88, 255, 1)));
        assert_false(cidr_contains(&c, IP(10, 89, 0, 1)));
        assert_int_equal(cidr_broadcast(&c), IP(10, 88, 255, 255));

        assert_int_equal(cidr_parse("10.88.1.0/16", &c, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "use 10.88.0.0/16"));
        kerr_free(e);
        static const char *const bad[] = { "10.0.0.0", "10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "10.0.0.0/1a", "/8" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(cidr_parse(bad[i], &c, NULL), -EINVAL);

        assert_int_equal(cidr_parse("10.0.0.0/8", &c, NULL), 0);
        assert_int_equal(cidr_parse("10.200.3.0/24", &d, NULL), 0);
        assert_true(cidr_overlaps(&c, &d));
        assert_true(cidr_overlaps(&d, &c));
        assert_int_equal(cidr_parse("11.0.0.0/24", &d, NULL), 0);
        assert_false(cidr_overlaps(&c, &d));
        char buf[19];
        assert_string_equal(cidr_format(&d, buf), "11.0.0.0/24");
}

static void test_candidates(void **state) {
        Cidr c;
        char b[19];
        assert_true(cidr_candidate(true, 0, &c));
        assert_string_equal(cidr_format(&c, b), "10.88.0.0/16");
        assert_true(cidr_candidate(true, 1, &c));
        assert_string_equal(cidr_format(&c, b), "10.89.0.0/24");
        assert_true(cidr_candidate(false, 0, &c));
        assert_string_equal(cidr_format(&c, b), "10.89.0.0/24");
        assert_true(cidr_candidate(false, 257, &c));
        assert_string_equal(cidr_format(&c, b), "10.90.1.0/24");
        assert_true(cidr_candidate(false, 11 * 256, &c));
        assert_string_equal(cidr_format(&c, b), "172.17.0.0/16");
        assert_false(cidr_candidate(false, 11 * 256 + 15, &c));
        /* No candidate overlaps another. */
        Cidr prev;
        assert_true(cidr_candidate(false, 0, &prev));
        for (size_t i = 1; cidr_candidate(false, i, &c); i++, prev = c)
                assert_false(cidr_overlaps(&prev, &c));
}

static void test_ipam(void **state) {
        Cidr c = { IP(10, 1, 0, 0), 29 };       /* hosts .1 - .6 */
        uint32_t gw = IP(10, 1, 0, 1), ip;
        assert_int_equal(ipam_pick(&c, gw, NULL, 0, &ip), 0);
        assert_int_equal(ip, IP(10, 1, 0, 2));
        uint32_t used[] = { IP(10, 1, 0, 2), IP(10, 1, 0, 4) };
        assert_int_equal(ipam_pick(&c, gw, used, 2, &ip), 0);
        assert_int_equal(ip, IP(10, 1, 0, 3));
        uint32_t full[] = { IP(10, 1, 0, 2), IP(10, 1, 0, 3), IP(10, 1, 0, 4), IP(10, 1, 0, 5), IP(10, 1, 0, 6) };
        assert_int_equal(ipam_pick(&c, gw, full, 5, &ip), -ENOSPC);
        /* A gateway elsewhere frees .1. */
        assert_int_equal(ipam_pick(&c, IP(10, 1, 0, 6), NULL, 0, &ip), 0);
        assert_int_equal(ip, IP(10, 1, 0, 1));
        Cidr tiny = { IP(10, 1, 0, 0), 31 };
        assert_int_equal(ipam_pick(&tiny, 0, NULL, 0, &ip), -ENOSPC);
}

static void test_names(void **state) {
        char mac[18], a[16], b[16];
        mac_from_ip(IP(10, 88, 0, 2), mac);
        assert_string_equal(mac, "02:4b:0a:58:00:02");
        link_name(false, "abc", "bridge", a);
        link_name(false, "abc", "bridge", b);
        assert_string_equal(a, b);
        assert_int_equal(strlen(a), 10);
        assert_true(link_name_is_ours(a));
        link_name(true, "abc", "bridge", b);
        assert_true(b[1] == 't' && link_name_is_ours(b));
        link_name(false, "abc", "other", b);
        assert_string_not_equal(a, b);
        assert_false(link_name_is_ours("eth0"));
        assert_false(link_name_is_ours("kv1234567g"));
        assert_true(net_name_valid("my-net_1.x"));
        assert_false(net_name_valid("-x"));
        assert_false(net_name_valid("a b"));
        assert_false(net_name_valid("../x"));
        assert_true(ifname_valid("kapsel-12345678"));
        assert_false(ifname_valid("kapsel-123456789"));
        assert_false(ifname_valid("a/b"));
}

/* ---- port maps ---- */

static char *ports_str(const char *spec) {
        NetPortMap *m = NULL;
        size_t n = 0;
        if (net_port_parse(spec, &m, &n, NULL) < 0)
                return NULL;
        char *out = calloc(1, 1);
        for (size_t i = 0; i < n; i++) {
                char *s = net_port_format(&m[i]), *j = NULL;
                assert_true(asprintf(&j, "%s%s%s", out, i ? "; " : "", s) >= 0);
                free(out);
                free(s);
                out = j;
        }
        free(m);
        return out;
}

static void test_port_parse(void **state) {
        static const struct {
                const char *spec, *expect;
        } cases[] = {
                { "8080:80", "80/tcp -> 0.0.0.0:8080" },
                { "80", "80/tcp -> 0.0.0.0:0" },
                { "53:53/udp", "53/udp -> 0.0.0.0:53" },
                { "127.0.0.1:8080:80/tcp", "80/tcp -> 127.0.0.1:8080" },
                { "127.0.0.1::80", "80/tcp -> 127.0.0.1:0" },
                { "8000-8002:80-82", "80/tcp -> 0.0.0.0:8000; 81/tcp -> 0.0.0.0:8001; 82/tcp -> 0.0.0.0:8002" },
                { "90-91", "90/tcp -> 0.0.0.0:0; 91/tcp -> 0.0.0.0:0" },
                { "65535:1", "1/tcp -> 0.0.0.0:65535" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *s = ports_str(cases[i].spec);
                assert_non_null(s);
                assert_string_equal(s, cases[i].expect);
                free(s);
        }
        static const char *const bad[] = {
                "", ":", "0:80", "8080:0", "65536:80", "8080:80/sctp", "8080:80/", "a:80", "8080-8081:80",
                "8081-8080:80-81", "1.2.3:8080:80", "::1:8080:80", "8080:80:90:1", "1-2000", "8080 :80", "-5",
                "1.2.3.4:8080:", "080x:80",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                KError *e = NULL;
                NetPortMap *m = NULL;
                size_t n = 0;
                assert_int_equal(net_port_parse(bad[i], &m, &n, &e), -EINVAL);
                assert_non_null(e);
                assert_non_null(strstr(e->msg, bad[i]));
                assert_int_equal(n, 0);
                kerr_free(e);
                free(m);
        }
}

static void test_port_expose(void **state) {
        char *exposed[] = { "80/tcp", "53/udp", "8080", NULL };
        NetPortMap *m = NULL;
        size_t n = 0;
        assert_int_equal(net_port_expose(exposed, &m, &n, NULL), 0);
        assert_int_equal(n, 3);
        assert_int_equal(m[1].proto, IPPROTO_UDP);
        assert_int_equal(m[1].container_port, 53);
        assert_int_equal(m[2].host_port, 0);
        char *bad[] = { "1.2.3.4:80:80", NULL };
        assert_int_equal(net_port_expose(bad, &m, &n, NULL), -EINVAL);
        free(m);
}

/* ---- state and plan ---- */

static const char state_json[] =
        "{\"networks\": ["
        " {\"name\": \"bridge\", \"id\": \"aa\", \"bridge\": \"kapsel0\", \"subnet\": \"10.88.0.0/16\","
        "  \"gateway\": \"10.88.0.1\", \"internal\": false},"
        " {\"name\": \"back\", \"id\": \"bb\", \"bridge\": \"kapsel-bb\", \"subnet\": \"10.89.0.0/24\","
        "  \"gateway\": \"10.89.0.1\", \"internal\": true, \"labels\": [\"a=b\"]}],"
        " \"attachments\": ["
        " {\"instance_id\": \"c1\", \"instance_name\": \"web\", \"network\": \"bridge\", \"aliases\": null,"
        "  \"ifname\": \"kv00000001\", \"guest_ifname\": \"eth0\", \"tap\": false, \"ip\": \"10.88.0.2\","
        "  \"mac\": \"02:4b:0a:58:00:02\", \"ports\": [{\"host_ip\": \"0.0.0.0\", \"host_port\": 8080,"
        "  \"container_port\": 80, \"proto\": \"tcp\"}, {\"host_ip\": \"127.0.0.1\", \"host_port\": 5353,"
        "  \"container_port\": 53, \"proto\": \"udp\"}]},"
        " {\"instance_id\": \"c1\", \"instance_name\": \"web\", \"network\": \"back\", \"aliases\": [\"www\"],"
        "  \"ifname\": \"kv00000002\", \"guest_ifname\": \"eth1\", \"tap\": false, \"ip\": \"10.89.0.2\","
        "  \"mac\": \"02:4b:0a:59:00:02\"},"
        " {\"instance_id\": \"c2\", \"instance_name\": \"db\", \"network\": \"back\", \"aliases\": [\"database\"],"
        "  \"ifname\": \"kt00000003\", \"guest_ifname\": \"eth0\", \"tap\": true, \"ip\": \"10.89.0.3\","
        "  \"mac\": \"02:4b:0a:59:00:03\"}],"
        " \"instances\": [{\"id\": \"c1\", \"hostname\": \"webhost\", \"extra_hosts\": [\"gw:10.0.0.1\"]}]}";

static const char plan_golden[] =
        "table ip kapsel {\n"
        "\tchain prerouting {\n"
        "\t\ttype nat hook prerouting priority -100; policy accept;\n"
        "\t\tfib daddr type local jump ports\n"
        "\t}\n"
        "\tchain output {\n"
        "\t\ttype nat hook output priority -100; policy accept;\n"
        "\t\tfib daddr type local jump ports\n"
        "\t}\n"
        "\tchain ports {\n"
        "\t\tmeta l4proto tcp th dport 8080 dnat to 10.88.0.2:80 comment \"instance c1\"\n"
        "\t\tip daddr 127.0.0.1/32 meta l4proto udp th dport 5353 dnat to 10.88.0.2:53 comment \"instance c1\"\n"
        "\t}\n"
        "\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority 100; policy accept;\n"
        "\t\toifname != \"kapsel0\" ip saddr 10.88.0.0/16 masquerade comment \"network bridge\"\n"
        "\t\toifname \"kapsel0\" ip saddr 127.0.0.0/8 masquerade comment \"network bridge\"\n"
        "\t\toifname \"kapsel0\" ip saddr 10.88.0.0/16 ct status dnat masquerade comment \"network bridge\"\n"
        "\t}\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority 0; policy accept;\n"
        "\t\tiifname \"kapsel0\" oifname \"kapsel0\" accept comment \"network bridge\"\n"
        "\t\toifname \"kapsel0\" ct state established,related accept comment \"network bridge\"\n"
        "\t\toifname \"kapsel0\" ct status dnat accept comment \"network bridge\"\n"
        "\t\toifname \"kapsel0\" drop comment \"network bridge\"\n"
        "\t\tiifname \"kapsel0\" accept comment \"network bridge\"\n"
        "\t\tiifname \"kapsel-bb\" oifname != \"kapsel-bb\" drop comment \"network back\"\n"
        "\t\tiifname \"kapsel-bb\" oifname \"kapsel-bb\" accept comment \"network back\"\n"
        "\t\toifname \"kapsel-bb\" ct state established,related accept comment \"network back\"\n"
        "\t\toifname \"kapsel-bb\" drop comment \"network back\"\n"
        "\t}\n"
        "}\n";

static void test_state_roundtrip(void **state) {
        NetState s = {}, t = {};
        assert_int_equal(net_state_parse(state_json, &s, NULL), 0);
        assert_int_equal(s.n_networks, 2);
        assert_int_equal(s.n_attach, 3);
        assert_true(s.attach[2].tap);
        assert_true(s.networks[1].internal);
        assert_int_equal(s.attach[0].n_ports, 2);
        assert_ptr_equal(net_state_network(&s, "back"), &s.networks[1]);
        assert_ptr_equal(net_state_network(&s, "bb"), &s.networks[1]);
        assert_null(net_state_network(&s, "nope"));
        assert_int_equal(net_state_count_attached(&s, "back"), 2);

        char *text = net_state_format(&s);
        assert_non_null(text);
        assert_int_equal(net_state_parse(text, &t, NULL), 0);
        char *again = net_state_format(&t);
        assert_string_equal(text, again);
        free(text);
        free(again);
        net_state_done(&t);
        net_state_done(&s);

        KError *e = NULL;
        assert_int_equal(net_state_parse("{\"networks\": [{\"name\": 1}]}", &s, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "networks"));
        kerr_free(e);
        assert_int_equal(net_state_parse("[", &s, NULL), -EINVAL);
        assert_int_equal(net_state_parse("", &s, NULL), 0);
        assert_int_equal(s.n_networks, 0);
}

static void test_plan_golden(void **state) {
        NetState s = {};
        NftRule *rules = NULL;
        size_t n = 0;
        assert_int_equal(net_state_parse(state_json, &s, NULL), 0);
        assert_int_equal(net_plan_rules(&s, &rules, &n), 0);
        char *text = net_plan_render(rules, n);
        assert_string_equal(text, plan_golden);
        free(text);
        free(rules);
        net_state_done(&s);
}

/* Detaching an instance removes exactly its rules: the plan without it has no "instance c1". */
static void test_plan_detach(void **state) {
        NetState s = {};
        NftRule *rules = NULL;
        size_t n = 0;
        assert_int_equal(net_state_parse(state_json, &s, NULL), 0);
        net_attach_done(&s.attach[0]);
        array_remove(s.attach, &s.n_attach, sizeof(NetAttach), 0);
        assert_int_equal(net_plan_rules(&s, &rules, &n), 0);
        char *text = net_plan_render(rules, n);
        assert_null(strstr(text, "instance c1"));
        assert_non_null(strstr(text, "network bridge"));
        free(text);
        free(rules);
        net_state_done(&s);
}

/* A tap translating for its guest (a clone): guest_ip survives the state's round trip, plans the
 * bridge table's rules, and is refused where it means nothing (a veth, or equal to ip). */
static void test_plan_xlates(void **state) {
        static const char clone_json[] =
                "{\"networks\": [{\"name\": \"bridge\", \"id\": \"aa\", \"bridge\": \"kapsel0\","
                " \"subnet\": \"10.88.0.0/16\", \"gateway\": \"10.88.0.1\", \"internal\": false}],"
                " \"attachments\": [{\"instance_id\": \"v2\", \"instance_name\": \"clone\", \"network\": \"bridge\","
                " \"aliases\": null, \"ifname\": \"kt00000009\", \"guest_ifname\": \"eth0\", \"tap\": %s,"
                " \"ip\": \"10.88.0.3\", \"mac\": \"02:4b:0a:58:00:03\", \"guest_ip\": \"%s\"}]}";
        char text[1024];
        NetState s = {};
        snprintf(text, sizeof(text), clone_json, "true", "10.88.0.2");
        assert_int_equal(net_state_parse(text, &s, NULL), 0);
        assert_int_equal(s.attach[0].guest_ip, 0x0a580002);
        char *again = net_state_format(&s);
        assert_non_null(strstr(again, "\"guest_ip\": \"10.88.0.2\""));
        free(again);
        NftXlate *x = NULL;
        size_t n = 0;
        assert_int_equal(net_plan_xlates(&s, &x, &n), 0);
        assert_int_equal(n, 1);
        static const uint8_t mac[6] = { 2, 0x4b, 10, 88, 0, 3 }, guest_mac[6] = { 2, 0x4b, 10, 88, 0, 2 };
        assert_memory_equal(x[0].mac, mac, 6);
        assert_memory_equal(x[0].guest_mac, guest_mac, 6);
        char *r = net_plan_render_xlates(x, n);
        assert_non_null(strstr(r, "\t\tiifname \"kt00000009\" ether type ip ip saddr 10.88.0.2 ip saddr set 10.88.0.3\n"));
        assert_non_null(strstr(r, "\t\toifname \"kt00000009\" ether daddr 02:4b:0a:58:00:03 ether daddr set "
                                  "02:4b:0a:58:00:02\n"));
        /* the drops of frames for the guest's own address come before the rewrites */
        const char *drop = strstr(r, "ip daddr 10.88.0.2 drop"), *set = strstr(r, "ip daddr 10.88.0.3 ip daddr set 10.88.0.2");
        assert_non_null(drop);
        assert_non_null(set);
        assert_true(drop < set);
        assert_non_null(strstr(r, "\t\tiifname \"kt00000009\" ether type != ip ether type != arp drop\n"));
        free(r);
        free(x);
        net_state_done(&s);
        /* no translation: no bridge table */
        assert_int_equal(net_state_parse(state_json, &s, NULL), 0);
        assert_int_equal(net_plan_xlates(&s, &x, &n), 0);
        assert_int_equal(n, 0);
        r = net_plan_render_xlates(x, n);
        assert_string_equal(r, "");
        free(r);
        net_state_done(&s);
        snprintf(text, sizeof(text), clone_json, "false", "10.88.0.2");
        assert_int_equal(net_state_parse(text, &s, NULL), -EINVAL);
        snprintf(text, sizeof(text), clone_json, "true", "10.88.0.3");
        assert_int_equal(net_state_parse(text, &s, NULL), -EINVAL);
        snprintf(text, sizeof(text), clone_json, "true", "10.88.0");
        assert_int_equal(net_state_parse(text, &s, NULL), -EINVAL);
}

/* ---- files ---- */

static void test_hosts(void **state) {
        NetState s = {};
        assert_int_equal(net_state_parse(state_json, &s, NULL), 0);
        char *h = net_hosts_render(&s, &s.instances[0], "c1");
        assert_string_equal(h, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                               "10.0.0.1\tgw\n"
                               "10.88.0.2\twebhost web\n"
                               "10.89.0.2\twebhost web www\n"
                               "10.89.0.3\tdb database\n");
        free(h);
        /* c2 has no settings: hostname is its id; it sees c1 on "back" but not c1's default-bridge address. */
        h = net_hosts_render(&s, NULL, "c2");
        assert_non_null(strstr(h, "10.89.0.3\tc2 db database\n"));
        assert_non_null(strstr(h, "10.89.0.2\tweb www\n"));
        assert_null(strstr(h, "10.88.0.2"));
        assert_null(strstr(h, "127.0.1.1"));
        free(h);
        /* no attachment (--network none): the short id resolves to 127.0.1.1 */
        h = net_hosts_render(&s, NULL, "0123456789abcdef0123");
        assert_non_null(strstr(h, "\n127.0.1.1\t0123456789ab\n"));
        free(h);
        char *n = net_hostname_render(NULL, "0123456789abcdef0123");
        assert_string_equal(n, "0123456789ab\n");
        free(n);
        net_state_done(&s);
}

static void test_resolv(void **state) {
        const char *host = "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\n"
                           "search example.org\noptions edns0\n";
        char *r = net_resolv_render(host, NULL);
        assert_string_equal(r, "nameserver 192.0.2.53\nsearch example.org\noptions edns0\n");
        free(r);
        char *dns[] = { "10.0.0.53", NULL }, *search[] = { "a.test", "b.test", NULL };
        NetInstance inst = { .dns = dns, .dns_search = search };
        r = net_resolv_render(host, &inst);
        assert_string_equal(r, "options edns0\nnameserver 10.0.0.53\nsearch a.test b.test\n");
        free(r);
        r = net_resolv_render("nameserver 127.0.0.1\n", NULL);
        assert_string_equal(r, "");
        free(r);
}

static void test_mode(void **state) {
        static const struct {
                const char *in;
                NetModeKind kind;
                const char *arg;
        } cases[] = {
                { "", NET_MODE_BRIDGE, "bridge" },      { "default", NET_MODE_BRIDGE, "bridge" },
                { "host", NET_MODE_HOST, NULL },        { "none", NET_MODE_NONE, NULL },
                { "container:web", NET_MODE_CONTAINER, "web" }, { "mynet", NET_MODE_BRIDGE, "mynet" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                NetMode m = {};
                assert_int_equal(net_mode_parse(cases[i].in, &m, NULL), 0);
                assert_int_equal(m.kind, cases[i].kind);
                const char *got = m.network ? m.network : m.container;
                if (cases[i].arg)
                        assert_string_equal(got, cases[i].arg);
                else
                        assert_null(got);
                net_mode_done(&m);
        }
        NetMode m = {};
        assert_int_equal(net_mode_parse("container:", &m, NULL), -EINVAL);
        assert_int_equal(net_mode_parse("bad name", &m, NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ip4_parse),       cmocka_unit_test(test_cidr),
                cmocka_unit_test(test_candidates),      cmocka_unit_test(test_ipam),
                cmocka_unit_test(test_names),           cmocka_unit_test(test_port_parse),
                cmocka_unit_test(test_port_expose),     cmocka_unit_test(test_state_roundtrip),
                cmocka_unit_test(test_plan_golden),     cmocka_unit_test(test_plan_detach),
                cmocka_unit_test(test_plan_xlates),
                cmocka_unit_test(test_hosts),           cmocka_unit_test(test_resolv),
                cmocka_unit_test(test_mode),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
