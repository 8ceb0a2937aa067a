/* SPDX-License-Identifier: Apache-2.0 */
/* Runs a fuzz target over every file of a corpus directory (or the files given), so the
 * regression corpus is exercised by the normal test suite without libFuzzer. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "fd-util.h"
#include "path-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_full_file_at(AT_FDCWD, path, 16 << 20, &buf, &len);
        if (r < 0) {
                fprintf(stderr, "replay: cannot read %s: %d\n", path, r);
                return 1;
        }
        LLVMFuzzerTestOneInput((const uint8_t *) buf, len);
        return 0;
}

int main(int argc, char **argv) {
        int n = 0, failed = 0;
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: missing\n", argv[i]);
                        return 1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        failed |= run_file(argv[i]);
                        n++;
                        continue;
                }
                DIR *d = opendir(argv[i]);
                struct dirent *de;
                while (d && (de = readdir(d))) {
                        if (de->d_name[0] == '.')
                                continue;
                        _cleanup_free_ char *p = path_join(argv[i], de->d_name);
                        failed |= run_file(p);
                        n++;
                }
                if (d)
                        closedir(d);
        }
        printf("replayed %d inputs\n", n);
        return failed || n == 0;
}
