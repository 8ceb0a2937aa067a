/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the bzImage setup-header parser and the boot plan built from what it accepts: whatever the
 * header says, the plan stays inside guest RAM and the zero page inside its page. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/boot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        BzImage k;
        if (size < 8 || bzimage_parse(data + 8, size - 8, (uint64_t) 64 << 20, &k, NULL) < 0)
                return 0;
        /* the first 8 bytes choose the RAM size (64 MiB .. 8 GiB) and the initrd size */
        uint64_t ram = (((uint64_t) data[0] << 8 | data[1]) % 4065 + 32) * (2ULL << 20);
        uint64_t initrd = ((uint64_t) data[2] << 24 | (uint64_t) data[3] << 16) + data[4];
        MemLayout l;
        if (mem_layout_plan(ram, &l, NULL) < 0)
                return 0;
        BootPlan *p = malloc(sizeof(*p));
        if (!p)
                return 0;
        if (boot_plan(&k, &l, "console=ttyS0", initrd, p, NULL) == 0) {
                if (p->initrd_size && (p->initrd_addr < p->kernel_end || p->initrd_addr + p->initrd_size > l.low_end))
                        abort();
                if (p->kernel_end > l.low_end || p->n_e820 > 8)
                        abort();
        }
        free(p);
        return 0;
}
