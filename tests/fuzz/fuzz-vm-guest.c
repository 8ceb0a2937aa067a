/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz what the host reads from a VM guest (untrusted: the guest writes it): the console lines of
 * the guest protocol (vm-guest.h), split at newlines as the host reads them. Also the module plan
 * over arbitrary modules.dep text (a host file, but the parser must not loop or overrun on it). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "vm-guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *p = (const char *) data, *end = p + size;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = nl ? (size_t) (nl - p) + 1 : (size_t) (end - p);
                VmGuestEvent e;
                vm_guest_parse_console_line(p, len, &e);
                if (e.type == VM_GUEST_EVENT_EXIT && (e.value < 0 || e.value > 255))
                        abort();
                if (strlen(e.message) >= sizeof(e.message))
                        abort();
                p += len;
        }
        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        char **order = NULL;
        if (vm_initramfs_plan_modules(text, vm_initramfs_modules, &order, NULL) >= 0)
                strv_free(order);
        free(text);
        return 0;
}
