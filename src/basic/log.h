/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal leveled logging for the CLI programs. Library code does not log errors (it returns
 * them in a KError); it may log debug traces. The sink is stderr, or a file in text or JSON
 * lines (runc's --log/--log-format: {"level":"error","msg":"...","time":"RFC3339"}), which
 * Podman and containerd read back to show a runtime's failure. */
#pragma once

#include <stdbool.h>

#include "cleanup.h"

typedef enum LogLevel { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG } LogLevel;

typedef enum LogFormat { LOG_FORMAT_TEXT, LOG_FORMAT_JSON } LogFormat;

/* Open `path` (append) as the log sink; NULL keeps stderr. Returns negative errno. */
int log_open(const char *path, LogFormat format, LogLevel max_level);
void log_set_max_level(LogLevel level);
void log_set_program(const char *name);
/* Write debug, info and warning lines to stderr as the log file's format (time= level= msg=). */
void log_set_stderr_fields(bool on);
/* Also mirror errors to stderr when a log file is set (runc does; podman expects it). */
void log_msg(LogLevel level, const char *fmt, ...) _printf_(2, 3);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
