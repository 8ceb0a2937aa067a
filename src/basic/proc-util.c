/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "fd-util.h"
#include "proc-util.h"

#define PROC_FILE_MAX (64 * 1024)
#define PROC_CMDLINE_MAX (4 << 20)      /* above ARG_MAX's usual 2 MiB: a long one is still shown */

bool proc_top_row(pid_t pid, char *buf, size_t size) {
        char path[64], uid[16] = "?";
        _cleanup_free_ char *cmd = NULL, *status = NULL;
        size_t len = 0;
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        if (read_full_file_at(AT_FDCWD, path, PROC_FILE_MAX, &status, NULL) >= 0) {
                const char *u = strstr(status, "\nUid:");
                if (u)
                        sscanf(u + 5, "%15s", uid);
        }
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
        if (read_full_file_at(AT_FDCWD, path, PROC_CMDLINE_MAX, &cmd, &len) < 0)
                len = 0;
        for (size_t i = 0; i < len; i++)        /* NULs between the arguments */
                if (cmd[i] == 0 || cmd[i] == '\n')
                        cmd[i] = ' ';
        while (len > 0 && cmd[len - 1] == ' ')
                len--;
        snprintf(buf, size, "%-8d %-8s %.*s\n", (int) pid, uid, (int) len, len ? cmd : "");
        if (size > 1 && !strchr(buf, '\n'))
                buf[size - 2] = '\n';   /* truncated: still one line */
        return len > 0;
}
