/* SPDX-License-Identifier: Apache-2.0 */
/* docker's detach keys: a key sequence typed on stdin that leaves attach, run -it or exec -it
 * while the container keeps running. Written as docker's --detach-keys: comma-separated keys, each
 * one character or ctrl-<a-z, @, [, \, ], ^, _>; the default is ctrl-p,ctrl-q. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct KDetachKeys {
        uint8_t seq[16];
        size_t len;
        size_t matched;         /* how much of seq the input ended with (held back) */
} KDetachKeys;

#define K_DETACH_KEYS_DEFAULT "ctrl-p,ctrl-q"

/* Parse `spec` (NULL or "": the default). Returns 0 or -EINVAL. */
int k_detach_keys_parse(const char *spec, KDetachKeys *ret);

/* Pass n bytes of input through: what goes on to the container lands in `out` (room for n + 16
 * bytes), *ret_len bytes. Bytes that may start the sequence are held until they do not. Returns 1
 * when the whole sequence was typed (what followed it is dropped), else 0. */
int k_detach_keys_filter(KDetachKeys *k, const uint8_t *buf, size_t n, uint8_t *out, size_t *ret_len);
