/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the network layer's parsers of untrusted text: port-map specs (`-p`, and the image's
 * ExposedPorts for -P), subnets and addresses (`network create`), --network modes, and state.json
 * (rendered back and planned, so the plan and formatter see whatever the parser accepts). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "net-addr.h"
#include "net-files.h"
#include "net-plan.h"
#include "net-state.h"
#include "net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_line(const char *s) {
        KError *e = NULL;
        NetPortMap *m = NULL;
        size_t n = 0;
        if (net_port_parse(s, &m, &n, &e) >= 0)
                for (size_t i = 0; i < n; i++)
                        free(net_port_format(&m[i]));
        kerr_free(e);
        char *exposed[] = { (char *) s, NULL };
        (void) net_port_expose(exposed, &m, &n, NULL);
        free(m);

        Cidr c;
        uint32_t ip;
        e = NULL;
        (void) cidr_parse(s, &c, &e);
        kerr_free(e);
        (void) ip4_parse(s, &ip);

        NetMode mode = {};
        if (net_mode_parse(s, &mode, NULL) >= 0)
                net_mode_done(&mode);
}

static void fuzz_state(const char *s) {
        NetState st = {};
        KError *e = NULL;
        if (net_state_parse(s, &st, &e) >= 0) {
                free(net_state_format(&st));
                NftRule *rules = NULL;
                size_t n = 0;
                if (net_plan_rules(&st, &rules, &n) >= 0)
                        free(net_plan_render(rules, n));
                free(rules);
                NftXlate *x = NULL;
                if (net_plan_xlates(&st, &x, &n) >= 0)
                        free(net_plan_render_xlates(x, n));
                free(x);
                for (size_t i = 0; i < st.n_attach; i++)
                        free(net_hosts_render(&st, net_state_instance(&st, st.attach[i].instance_id),
                                              st.attach[i].instance_id));
                net_state_done(&st);
        }
        kerr_free(e);
        free(net_resolv_render(s, NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        fuzz_state(s);
        s[strcspn(s, "\n")] = 0;
        fuzz_line(s);
        free(s);
        return 0;
}
