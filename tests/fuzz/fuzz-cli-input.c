/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz what users and files hand the CLI habits of issue 14: --since/--until times, event and prune
 * filters, a docker config.json's credentials, and an event as the journal reader formats it. The
 * input is split at its first NUL: the first part is tried as a time and as filters, the rest as a
 * config.json and as an event. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "events.h"
#include "prune.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        const char *rest = text + strlen(text) + (strlen(text) < size ? 1 : 0);
        int64_t t;
        (void) events_parse_time(text, 1796613011000000000LL, &t, NULL);
        EventFilter ef = {};
        PruneFilter pf = {};
        (void) event_filter_add(&ef, text, NULL);
        (void) prune_filter_add(&pf, text, NULL);
        json_t *doc = json_loads(rest, JSON_DISABLE_EOF_CHECK, NULL);
        char *user = NULL, *password = NULL;
        if (auth_from_json(doc, text, &user, &password, NULL) == 0 && (!user || !password))
                abort();
        free(user);
        free(password);
        if (doc) {
                (void) event_filter_match(&ef, doc);
                (void) prune_filter_match(&pf, json_object_get(doc, "labels"), 0);
                free(events_format_line(doc));
        }
        json_decref(doc);
        event_filter_done(&ef);
        prune_filter_done(&pf);
        free(text);
        return 0;
}
