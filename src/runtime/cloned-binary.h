/* SPDX-License-Identifier: Apache-2.0 */
/* CVE-2019-5736 defence: a process in the container must never get a writable handle to the
 * runtime binary. Before any command that enters a container, the runtime re-executes itself
 * from a sealed memfd copy, so /proc/<pid>/exe of every runtime process that the container can
 * see (or execute as /proc/self/exe) is an immutable anonymous copy, not the host file.
 *
 * The copy is an independent one per process (runc's "independent data copy", not pages shared
 * with the host file), so it costs memory for as long as the process lives: a long-lived monitor
 * keeps it. Only what execve needs is copied (the bytes the program headers describe); debug
 * sections and section headers, most of a -g build, are left out. */
#pragma once

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* No-op when already running from a sealed memfd; otherwise never returns on success. */
int cloned_binary_ensure(char **argv, KError **err);
/* True when /proc/self/exe is a sealed memfd. */
int cloned_binary_is_sealed(void);

/* The same defence without the copy (runc 1.2's "sealed overlayfs"): re-execute through a
 * private, detached overlayfs that has no upper layer, whose files no one can open for writing
 * (EROFS) and which no remount or mount_setattr can make writable. Costs ~0.2 ms instead of
 * copying the binary (1-4 ms for 1.2 MB) and shares its pages with the host file. Only the
 * host's root (uid 0 in the initial user namespace) mounts it: an overlay made in a user
 * namespace would belong to it. Elsewhere, or when the kernel cannot (before 6.8: no
 * "lowerdir+"), cloned_binary_ensure (the memfd copy). No-op when already running from either. */
int cloned_binary_ensure_zero_copy(char **argv, KError **err);
/* True when /proc/self/exe is on a read-only overlayfs that refuses a reopen for writing (EROFS). */
int cloned_binary_is_overlay(void);
/* Pure: the bytes of an ELF64 file of `file_size` bytes that execve needs: up to the end of the last
 * range a program header describes (and the program header table). `ph` holds the file's first
 * `n_ph` program headers. Anything unexpected (not ELF64, headers out of bounds, more program
 * headers than given) returns `file_size`: the whole file is copied. */
uint64_t cloned_binary_exec_size(const Elf64_Ehdr *eh, const Elf64_Phdr *ph, size_t n_ph, uint64_t file_size);
