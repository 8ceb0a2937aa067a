/* SPDX-License-Identifier: Apache-2.0 */
/* The snapshot sub-verbs of `kapsel vm` (cmd-vm-snapshot.c), dispatched from cmd-vm.c. Each takes
 * argv from its own name: snapshot SUB VM [NAME...], restore VM NAME, clone VM NAME [NEWVM]. */
#pragma once

#include "kapsel-cli.h"

int k_vm_snapshot(const KGlobals *g, int argc, char **argv, KError **err);
int k_vm_restore(const KGlobals *g, int argc, char **argv, KError **err);
int k_vm_clone(const KGlobals *g, int argc, char **argv, KError **err);
