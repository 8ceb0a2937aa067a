/* SPDX-License-Identifier: Apache-2.0 */
/* One epoll loop for everything asynchronous in the VMM: device backends (serial input, tap,
 * disk completions), the control socket and the exit request. It runs on the main thread; add/del
 * may be called from any thread (vCPU threads re-arm serial input). Handlers run without any loop
 * lock held, so they may add or remove fds themselves. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "vmm-host.h"

typedef struct EventLoop EventLoop;

int event_loop_new(EventLoop **ret, KError **err);
void event_loop_free(EventLoop *l);
int event_loop_add(EventLoop *l, int fd, uint32_t events, VmmFdHandler handler, void *opaque, KError **err);
int event_loop_del(EventLoop *l, int fd);
/* Dispatch until event_loop_quit(). Returns 0 or negative errno from epoll_wait. */
int event_loop_run(EventLoop *l);
/* Make event_loop_run() return; async-signal-safe and callable from any thread. */
void event_loop_quit(EventLoop *l);
