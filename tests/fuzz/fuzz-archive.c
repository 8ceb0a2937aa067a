/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the archive reader (image_load: docker-save and OCI archives) with arbitrary tar bytes into a
 * throw-away store. Archives may hold FIFOs, devices, sockets and links where manifest.json,
 * index.json, configs and blobs are expected: nothing may block (the replay runs under meson's
 * timeout), nothing may be written outside the store, and a failed load leaves no staging behind. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "image.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(const char *path) {
        DIR *d = opendir(path);
        int n = 0;
        struct dirent *de;
        while (d && (de = readdir(d)))
                n += de->d_name[0] != '.' || (de->d_name[1] && strcmp(de->d_name, ".."));
        if (d)
                closedir(d);
        return d ? n : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char top[] = "/tmp/kapsel-fuzz-archive-XXXXXX", path[96], cmd[128];
        if (!mkdtemp(top))
                abort();
        snprintf(path, sizeof(path), "%s/canary", top);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/in.tar", top);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write_all(fd, data, size) < 0)
                abort();
        close(fd);
        snprintf(path, sizeof(path), "%s/store", top);
        ImageStore *s = NULL;
        KError *e = NULL;
        if (image_store_open(path, &s, &e) < 0)
                abort();
        char **names = NULL;
        snprintf(path, sizeof(path), "%s/in.tar", top);
        int r = image_load(s, path, &names, &e);
        strv_free(names);
        kerr_free(e);
        image_store_free(s);
        snprintf(path, sizeof(path), "%s/canary", top);
        if (count(top) != 3 || count(path) != 0) {
                fprintf(stderr, "fuzz-archive: something was written outside the store in %s\n", top);
                abort();
        }
        snprintf(path, sizeof(path), "%s/store/tmp", top);
        if (r < 0 && count(path) != 0) {
                fprintf(stderr, "fuzz-archive: a failed load left staging in %s\n", path);
                abort();
        }
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
        if (system(cmd) != 0)
                abort();
        return 0;
}
