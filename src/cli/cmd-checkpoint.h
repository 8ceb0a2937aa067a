/* SPDX-License-Identifier: Apache-2.0 */
/* kapsel checkpoint create|ls|rm (cmd-checkpoint.c): docker's checkpoint verbs for --isolation=vm
 * containers, thin callers of the engine's ctr-checkpoint.h. */
#pragma once

#include "kapsel-cli.h"

K_VERB(checkpoint_create);
K_VERB(checkpoint_ls);
K_VERB(checkpoint_rm);
