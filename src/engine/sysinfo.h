/* SPDX-License-Identifier: Apache-2.0 */
/* `info`, `version` and `system df` as JSON documents (docker's field names), so the CLI only prints
 * them and a daemon can serve them as they are. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "engine.h"

/* {"Containers","ContainersRunning","ContainersPaused","ContainersStopped","Images","ServerVersion",
 *  "Driver","CgroupDriver","CgroupVersion","KernelVersion","OperatingSystem","OSType","Architecture",
 *  "NCPU","MemTotal","Name","KapselRootDir","KVM":{"Available","Reason"}} */
int sysinfo_info(Engine *e, json_t **ret, KError **err);
/* {"Client":{"Version","OS","Arch"},"Server":{"Version","Runtime","KernelVersion","OS","Arch"}} */
json_t *sysinfo_version(void);
/* docker's /system/df shape: {"Images":[{Id,RepoTags,Size,Containers}],"Containers":[{Id,Names,
 * Image,State,SizeRw}],"Volumes":[{Name,Size,RefCount}],"BuildCache":[]} */
int sysinfo_df(Engine *e, json_t **ret, KError **err);
/* Why /dev/kvm cannot run kapsel's micro-VMs here, or NULL when it looks usable. */
const char *sysinfo_kvm_problem(void);
