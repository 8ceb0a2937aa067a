/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the layer unpacker (layer.h) with arbitrary tar/gzip bytes. Whatever the input, nothing may
 * appear outside the layer directory: a canary directory beside it must stay exactly as it was. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "layer.h"

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
        char top[] = "/tmp/kapsel-fuzz-layer-XXXXXX", path[64], cmd[96];
        if (!mkdtemp(top))
                abort();
        snprintf(path, sizeof(path), "%s/canary", top);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/layer", top);
        mkdir(path, 0755);
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int in = memfd_create("fuzz", MFD_CLOEXEC);
        if (dfd < 0 || in < 0 || write_all(in, data, size) < 0 || lseek(in, 0, SEEK_SET) < 0)
                abort();
        LayerUnpackOptions o = { .label = "fuzz", .tee_fd = -1, .rootless = true };
        LayerUnpackResult res;
        KError *e = NULL;
        (void) layer_unpack(in, dfd, &o, &res, &e);
        kerr_free(e);
        close(in);
        close(dfd);
        snprintf(path, sizeof(path), "%s/canary", top);
        if (count(top) != 2 || count(path) != 0) {
                fprintf(stderr, "fuzz-layer: something was written outside the layer in %s\n", top);
                abort();
        }
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
        if (system(cmd) != 0)
                abort();
        return 0;
}
