/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the host side of the VM guest (src/engine/vm-guest.h): the kernel lookup, the
 * module plan from modules.dep, the newc cpio writer and the initramfs it makes, the guest plan
 * from an OCI spec, the config disk bytes, mkfs sizing and argv, and the console line parser.
 * No root, no VM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "json-util.h"
#include "path-util.h"
#include "rm-rf.h"
#include "string-util.h"
#include "vm-guest.h"

static char *tmpdir(void) {
        char *t = strdup("/tmp/kapsel-test-vm-guest-XXXXXX");
        assert_non_null(mkdtemp(t));
        return t;
}

static void write_file(const char *dir, const char *name, const void *data, size_t len) {
        _cleanup_free_ char *p = path_join(dir, name);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write_all(fd, data, len), 0);
}

/* ---- a newc reader, to check what the writer wrote ---- */

typedef struct CpioEntry {
        char name[256];
        unsigned mode, rdevmajor, rdevminor;
        size_t size;
        const char *data;
} CpioEntry;

static unsigned hex8(const char *p) {
        char b[9];
        memcpy(b, p, 8);
        b[8] = 0;
        return (unsigned) strtoul(b, NULL, 16);
}

/* Parse all entries up to the trailer; returns the count. Fails the test on a malformed archive. */
static size_t cpio_parse(const char *buf, size_t len, CpioEntry *out, size_t max) {
        size_t off = 0, n = 0;
        for (;;) {
                assert_true(off % 4 == 0);
                assert_true(off + 110 <= len);
                assert_memory_equal(buf + off, "070701", 6);
                const char *h = buf + off + 6;
                size_t namesize = hex8(h + 11 * 8), filesize = hex8(h + 6 * 8);
                CpioEntry e = { .mode = hex8(h + 8), .rdevmajor = hex8(h + 9 * 8), .rdevminor = hex8(h + 10 * 8),
                                .size = filesize };
                assert_true(namesize > 0 && namesize < sizeof(e.name) && off + 110 + namesize <= len);
                memcpy(e.name, buf + off + 110, namesize);
                assert_int_equal(e.name[namesize - 1], 0);
                off = (off + 110 + namesize + 3) & ~(size_t) 3;
                e.data = buf + off;
                off = (off + filesize + 3) & ~(size_t) 3;
                assert_true(off <= len);
                if (streq(e.name, "TRAILER!!!")) {
                        assert_int_equal(off, len);
                        return n;
                }
                assert_true(n < max);
                out[n++] = e;
        }
}

static const CpioEntry *cpio_find(const CpioEntry *e, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(e[i].name, name))
                        return &e[i];
        return NULL;
}

static void test_cpio_writer(void **state) {
        _cleanup_free_ char *dir = tmpdir(), *path = path_join(dir, "a.cpio"), *buf = NULL;
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        CpioWriter *w = NULL;
        assert_int_equal(cpio_writer_new(fd, &w), 0);
        assert_int_equal(cpio_add_dir(w, "d", 0755), 0);
        assert_int_equal(cpio_add_file(w, "d/odd", 0640, "abcde", 5), 0);      /* forces data padding */
        assert_int_equal(cpio_add_file(w, "empty", 0600, NULL, 0), 0);
        assert_int_equal(cpio_add_symlink(w, "d/link", "odd"), 0);
        assert_int_equal(cpio_finish(w), 0);
        cpio_writer_free(w);
        size_t len;
        assert_int_equal(read_full_file_at(AT_FDCWD, path, 1 << 20, &buf, &len), 0);
        CpioEntry e[8];
        assert_int_equal(cpio_parse(buf, len, e, 8), 4);
        assert_string_equal(e[0].name, "d");
        assert_int_equal(e[0].mode, S_IFDIR | 0755);
        assert_int_equal(e[1].mode, S_IFREG | 0640);
        assert_int_equal(e[1].size, 5);
        assert_memory_equal(e[1].data, "abcde", 5);
        assert_int_equal(e[2].size, 0);
        assert_int_equal(e[3].mode, S_IFLNK | 0777);
        assert_memory_equal(e[3].data, "odd", 3);
        assert_int_equal(rm_rf(dir), 0);
}

/* ---- modules ---- */

static const char fake_dep[] =
        "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n"
        "kernel/fs/jbd2/jbd2.ko:\n"
        "kernel/fs/mbcache.ko:\n"
        "kernel/lib/crc16.ko:\n"
        "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/drivers/virtio/virtio_ring.ko:\n"
        "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/loop/a.ko: kernel/loop/b.ko\n"
        "kernel/loop/b.ko: kernel/loop/a.ko\n";

static void test_plan_modules(void **state) {
        const char *wanted[] = { "ext4", "virtio_blk", "virtio_rng", "not_a_module", "virtio", NULL };
        _cleanup_strv_free_ char **order = NULL;
        assert_int_equal(vm_initramfs_plan_modules(fake_dep, wanted, &order, NULL), 0);
        const char *want[] = { "kernel/lib/crc16.ko", "kernel/fs/mbcache.ko", "kernel/fs/jbd2/jbd2.ko",
                               "kernel/fs/ext4/ext4.ko", "kernel/drivers/virtio/virtio_ring.ko",
                               "kernel/drivers/virtio/virtio.ko", "kernel/drivers/block/virtio_blk.ko",
                               "kernel/drivers/char/hw_random/virtio-rng.ko" };
        assert_int_equal(strv_length(order), ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                assert_string_equal(order[i], want[i]);
}

static void test_plan_modules_cycle(void **state) {
        const char *wanted[] = { "a", NULL };
        _cleanup_strv_free_ char **order = NULL;
        _cleanup_kerr_ KError *err = NULL;
        assert_int_equal(vm_initramfs_plan_modules(fake_dep, wanted, &order, &err), -ELOOP);
        assert_non_null(err);
}

static char *fake_modules_dir(const char *dir, bool compressed) {
        char *mods = path_join(dir, "modules");
        assert_int_equal(mkdir(mods, 0755), 0);
        const char *dep = compressed ? "kernel/overlay.ko.xz:\n" : "kernel/ext4.ko: kernel/jbd2.ko\nkernel/jbd2.ko:\n";
        write_file(mods, "modules.dep", dep, strlen(dep));
        _cleanup_free_ char *k = path_join(mods, "kernel");
        assert_int_equal(mkdir(k, 0755), 0);
        write_file(k, "ext4.ko", "EXT4", 4);
        write_file(k, "jbd2.ko", "JBD2!", 5);
        write_file(k, "overlay.ko.xz", "xz", 2);
        return mods;
}

static void test_initramfs_build(void **state) {
        _cleanup_free_ char *dir = tmpdir(), *out = path_join(dir, "i.cpio"), *buf = NULL;
        _cleanup_free_ char *mods = fake_modules_dir(dir, false);
        write_file(dir, "init", "\177ELF-init", 9);
        _cleanup_free_ char *init = path_join(dir, "init");
        assert_int_equal(vm_initramfs_build(mods, init, out, NULL), 0);
        size_t len;
        assert_int_equal(read_full_file_at(AT_FDCWD, out, 1 << 20, &buf, &len), 0);
        CpioEntry e[32];
        size_t n = cpio_parse(buf, len, e, 32);
        const char *dirs[] = { "dev", "proc", "sys", "mnt", "newroot", "modules" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                const CpioEntry *d = cpio_find(e, n, dirs[i]);
                assert_non_null(d);
                assert_int_equal(d->mode, S_IFDIR | 0755);
        }
        const CpioEntry *c = cpio_find(e, n, "dev/console");
        assert_non_null(c);
        assert_int_equal(c->mode & S_IFMT, S_IFCHR);
        assert_int_equal(c->rdevmajor, 5);
        assert_int_equal(c->rdevminor, 1);
        const CpioEntry *i = cpio_find(e, n, "init");
        assert_non_null(i);
        assert_int_equal(i->mode, S_IFREG | 0755);
        assert_memory_equal(i->data, "\177ELF-init", 9);
        const CpioEntry *j = cpio_find(e, n, "modules/jbd2.ko");
        assert_non_null(j);
        assert_memory_equal(j->data, "JBD2!", 5);
        assert_non_null(cpio_find(e, n, "modules/ext4.ko"));
        const CpioEntry *o = cpio_find(e, n, "modules/order");
        assert_non_null(o);
        assert_int_equal(o->size, strlen("jbd2.ko\next4.ko\n"));
        assert_memory_equal(o->data, "jbd2.ko\next4.ko\n", o->size);
        assert_int_equal(rm_rf(dir), 0);
}

static void test_initramfs_compressed_module(void **state) {
        _cleanup_free_ char *dir = tmpdir(), *out = path_join(dir, "i.cpio"), *init = path_join(dir, "init");
        _cleanup_free_ char *mods = NULL;
        /* "overlay" is one of the wanted modules: its .ko.xz must be refused, and no archive left */
        mods = fake_modules_dir(dir, true);
        write_file(dir, "init", "x", 1);
        _cleanup_kerr_ KError *err = NULL;
        assert_int_equal(vm_initramfs_build(mods, init, out, &err), -EOPNOTSUPP);
        assert_non_null(strstr(err->msg, "compressed"));
        assert_int_equal(access(out, F_OK), -1);
        assert_int_equal(rm_rf(dir), 0);
}

static void test_find_kernel(void **state) {
        _cleanup_free_ char *dir = tmpdir(), *path = NULL, *version = NULL;
        _cleanup_kerr_ KError *err = NULL;
        assert_int_equal(vm_guest_find_kernel_in(dir, NULL, &path, &version, &err), -ENOENT);
        assert_non_null(strstr(err->msg, "--kernel"));
        write_file(dir, "vmlinuz-6.1.0-9-amd64", "k", 1);
        write_file(dir, "vmlinuz-6.1.0-10-amd64", "k", 1);
        write_file(dir, "config-6.1.0-11-amd64", "c", 1);
        assert_int_equal(vm_guest_find_kernel_in(dir, NULL, &path, &version, NULL), 0);
        assert_non_null(strstr(path, "/vmlinuz-6.1.0-10-amd64"));
        assert_string_equal(version, "6.1.0-10-amd64");
        path = mfree(path);
        version = mfree(version);
        /* a kernel not named vmlinuz-*: the version comes from the bzImage setup header */
        char img[0x400] = { 0 };
        memcpy(img + 0x202, "HdrS", 4);
        img[0x20E] = 0x00;      /* kernel_version = 0x100 -> string at 0x300 */
        img[0x20F] = 0x01;
        strcpy(img + 0x300, "6.9.9-test (builder@host) #1 SMP");
        write_file(dir, "bzImage", img, sizeof(img));
        _cleanup_free_ char *bz = path_join(dir, "bzImage");
        assert_int_equal(vm_guest_find_kernel_in(dir, bz, &path, &version, NULL), 0);
        assert_string_equal(path, bz);
        assert_string_equal(version, "6.9.9-test");
        path = mfree(path);
        _cleanup_free_ char *missing = path_join(dir, "nope");
        assert_int_equal(vm_guest_find_kernel_in(dir, missing, &path, NULL, NULL), -ENOENT);
        assert_int_equal(rm_rf(dir), 0);
}

/* ---- the guest plan ---- */

static json_t *js(const char *text) {
        json_error_t je;
        json_t *j = json_loads(text, 0, &je);
        if (!j)
                fail_msg("bad test json: %s", je.text);
        return j;
}

static const char oci_spec[] =
        "{\"hostname\": \"web\","
        " \"process\": {\"args\": [\"/bin/sh\", \"-c\", \"exit 7\"], \"env\": [\"A=1\"], \"cwd\": \"/srv\","
        "   \"terminal\": true, \"user\": {\"uid\": 1000, \"gid\": 100, \"additionalGids\": [10, 20], \"umask\": 63},"
        "   \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 512, \"hard\": 1024}],"
        "   \"capabilities\": {\"bounding\": [\"CAP_CHOWN\"]}},"
        " \"mounts\": ["
        "   {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
        "   {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\"},"
        "   {\"destination\": \"/sys/fs/cgroup\", \"type\": \"cgroup\", \"source\": \"cgroup\"},"
        "   {\"destination\": \"/run\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": [\"nosuid\", \"size=1m\"]},"
        "   {\"destination\": \"/etc/hosts\", \"type\": \"bind\", \"source\": \"/x/hosts\", \"options\": [\"rbind\", \"ro\"]},"
        "   {\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/srv/data\", \"options\": [\"rbind\", \"ro\"]},"
        "   {\"destination\": \"/cache\", \"source\": \"/var/cache/x\", \"options\": [\"bind\", \"rw\"]}]}";

static void test_guest_plan(void **state) {
        _cleanup_json_ json_t *oci = js(oci_spec);
        VmGuestNet net = { .address = "10.88.0.5/16", .gateway = "10.88.0.1", .mtu = 1400 };
        VmGuestPlanInput in = { .oci = oci, .net = &net, .hosts = "127.0.0.1 localhost\n", .resolv_conf = NULL };
        _cleanup_(vm_guest_plan_done) VmGuestPlan p = {};
        assert_int_equal(vm_guest_plan(&in, &p, NULL), 0);
        _cleanup_json_ json_t *want = js(
                "{\"kapselGuest\": 1, \"hostname\": \"web\", \"args\": [\"/bin/sh\", \"-c\", \"exit 7\"],"
                " \"env\": [\"A=1\"], \"cwd\": \"/srv\", \"terminal\": true,"
                " \"user\": {\"uid\": 1000, \"gid\": 100, \"additionalGids\": [10, 20], \"umask\": 63},"
                " \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 512, \"hard\": 1024}],"
                " \"mounts\": [{\"destination\": \"/run\", \"type\": \"tmpfs\", \"options\": [\"nosuid\", \"size=1m\"]}],"
                " \"volumes\": [{\"device\": \"vdd\", \"destination\": \"/data\", \"readonly\": true},"
                "               {\"device\": \"vde\", \"destination\": \"/cache\", \"readonly\": false}],"
                " \"network\": {\"interface\": \"eth0\", \"address\": \"10.88.0.5/16\", \"gateway\": \"10.88.0.1\", \"mtu\": 1400},"
                " \"files\": {\"/etc/hosts\": \"127.0.0.1 localhost\\n\", \"/etc/hostname\": \"web\\n\"}}");
        if (!json_equal(p.config, want)) {
                _cleanup_free_ char *got = json_dumps(p.config, JSON_INDENT(1) | JSON_SORT_KEYS);
                fail_msg("guest config differs:\n%s", got);
        }
        assert_int_equal(p.n_volumes, 2);
        assert_string_equal(p.volumes[0].source, "/srv/data");
        assert_string_equal(p.volumes[0].device, "vdd");
        assert_true(p.volumes[0].readonly);
        assert_string_equal(p.volumes[1].source, "/var/cache/x");
        assert_false(p.volumes[1].readonly);
}

static void expect_plan_error(const char *spec, int code, const char *needle) {
        _cleanup_json_ json_t *oci = js(spec);
        VmGuestPlanInput in = { .oci = oci };
        _cleanup_(vm_guest_plan_done) VmGuestPlan p = {};
        _cleanup_kerr_ KError *err = NULL;
        assert_int_equal(vm_guest_plan(&in, &p, &err), code);
        assert_non_null(err);
        if (!strstr(err->msg, needle))
                fail_msg("error '%s' lacks '%s'", err->msg, needle);
        assert_null(p.config);
}

static void test_guest_plan_errors(void **state) {
        expect_plan_error("{\"process\": {\"args\": []}}", -EINVAL, "process.args");
        expect_plan_error("{\"process\": {\"args\": [\"x\"]}, \"mounts\": [{\"destination\": \"/q\", \"type\": \"mqueue\"}]}",
                          -EOPNOTSUPP, "mqueue at /q");
        expect_plan_error("{\"process\": {\"args\": [\"x\"]}, \"mounts\": [{\"destination\": \"/q\", \"type\": \"bind\", "
                          "\"source\": \"rel\"}]}", -EINVAL, "absolute");
        /* one volume more than there are device names */
        _cleanup_free_ char *many = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&many, &len);
        fputs("{\"process\": {\"args\": [\"x\"]}, \"mounts\": [", f);
        for (int i = 0; i <= VM_GUEST_MAX_VOLUMES; i++)
                fprintf(f, "%s{\"destination\": \"/v%d\", \"type\": \"bind\", \"source\": \"/s%d\"}", i ? "," : "", i, i);
        fputs("]}", f);
        fclose(f);
        expect_plan_error(many, -E2BIG, "too many volumes");
        _cleanup_json_ json_t *oci = js("{\"process\": {\"args\": [\"x\"]}}");
        VmGuestNet net = { .address = "10.0.0.1" };
        VmGuestPlanInput in = { .oci = oci, .net = &net };
        _cleanup_(vm_guest_plan_done) VmGuestPlan p = {};
        assert_int_equal(vm_guest_plan(&in, &p, NULL), -EINVAL);
}

static void test_config_bytes(void **state) {
        _cleanup_json_ json_t *cfg = js("{\"kapselGuest\": 1, \"args\": [\"true\"]}");
        _cleanup_free_ char *buf = NULL;
        size_t len;
        assert_int_equal(vm_disk_config_bytes(cfg, &buf, &len, NULL), 0);
        assert_int_equal(len, VM_GUEST_CONFIG_MIN);
        const char *text = "{\"kapselGuest\":1,\"args\":[\"true\"]}";
        assert_memory_equal(buf, text, strlen(text));
        for (size_t i = strlen(text); i < len; i++)
                assert_int_equal(buf[i], 0);
        /* bigger than the minimum: padded to the next 4 KiB */
        _cleanup_free_ char *big = malloc(100000);
        memset(big, 'a', 99999);
        big[99999] = 0;
        json_object_set_new(cfg, "pad", json_string(big));
        free(buf);
        buf = NULL;
        assert_int_equal(vm_disk_config_bytes(cfg, &buf, &len, NULL), 0);
        assert_int_equal(len % VM_GUEST_CONFIG_ALIGN, 0);
        assert_true(len > 100000 && len <= 100000 + 64 + VM_GUEST_CONFIG_ALIGN);
        assert_int_equal(buf[strlen(buf)], 0);
        _cleanup_free_ char *huge = calloc(1, VM_GUEST_CONFIG_MAX + 1);
        memset(huge, 'b', VM_GUEST_CONFIG_MAX);
        json_object_set_new(cfg, "pad", json_string(huge));
        _cleanup_free_ char *buf2 = NULL;
        assert_int_equal(vm_disk_config_bytes(cfg, &buf2, &len, NULL), -E2BIG);
}

static void test_mkfs_argv(void **state) {
        _cleanup_strv_free_ char **a = NULL, **b = NULL;
        assert_int_equal(vm_disk_mkfs_argv("/r.ext4", "/src", 20ULL << 20, 700, false, &a), 0);
        size_t n = strv_length(a);
        assert_string_equal(a[0], "mkfs.ext4");
        assert_string_equal(a[n - 2], "/r.ext4");
        assert_string_equal(a[n - 1], "20480k");
        assert_true(strv_contains(a, "^has_journal"));
        assert_true(strv_contains(a, "/src"));
        assert_true(strv_contains(a, "700"));
        assert_int_equal(vm_disk_mkfs_argv("/u.ext4", NULL, 1ULL << 30, 0, true, &b), 0);
        assert_false(strv_contains(b, "^has_journal"));
        assert_false(strv_contains(b, "-d"));
        assert_false(strv_contains(b, "-N"));
        assert_string_equal(b[strv_length(b) - 1], "1048576k");
        /* sizes: slack for an empty tree, room for content, whole MiB */
        assert_int_equal(vm_disk_image_size(0, 0), 16ULL << 20);
        uint64_t s = vm_disk_image_size(100ULL << 20, 1000);
        assert_true(s >= (120ULL << 20) && s % (1 << 20) == 0);
}

/* ---- the console ---- */

static VmGuestEvent parse(const char *line) {
        VmGuestEvent e;
        vm_guest_parse_console_line(line, strlen(line), &e);
        return e;
}

static void test_console_lines(void **state) {
        assert_int_equal(parse("KAPSEL-INIT\r\n").type, VM_GUEST_EVENT_INIT);
        VmGuestEvent e = parse("[    2.5] x KAPSEL-EXIT 7\n");
        assert_int_equal(e.type, VM_GUEST_EVENT_EXIT);
        assert_int_equal(e.value, 7);
        assert_int_equal(parse("KAPSEL-EXIT 255").value, 255);
        e = parse("KAPSEL-STARTED 86");
        assert_int_equal(e.type, VM_GUEST_EVENT_STARTED);
        assert_int_equal(e.value, 86);
        const char *bad[] = { "KAPSEL-EXIT 256", "KAPSEL-EXIT -1", "KAPSEL-EXIT 7x", "KAPSEL-EXIT ", "KAPSEL-EXIT",
                              "KAPSEL-EXIT 99999999999999999999", "KAPSEL-INITX", "KAPSEL-SIGNAL 9", "reboot: Restarting",
                              "KAPSEL-STARTED 0x10", "" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                e = parse(bad[i]);
                if (e.type != VM_GUEST_EVENT_NONE)
                        fail_msg("'%s' parsed as %d", bad[i], e.type);
                assert_int_equal(e.value, 0);
        }
        e = parse("KAPSEL-ERROR exec /nope: No such file\x1b[31m\r\n");
        assert_int_equal(e.type, VM_GUEST_EVENT_ERROR);
        assert_string_equal(e.message, "exec /nope: No such file?[31m");
        char longmsg[600] = "KAPSEL-ERROR ";
        memset(longmsg + 13, 'm', 500);
        e = parse(longmsg);
        assert_int_equal(strlen(e.message), sizeof(e.message) - 1);
        char buf[32];
        assert_int_equal(vm_guest_signal_line(15, buf, sizeof(buf)), 17);
        assert_string_equal(buf, "KAPSEL-SIGNAL 15\n");
        assert_int_equal(vm_guest_signal_line(0, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(vm_guest_signal_line(9, buf, 8), -ENOBUFS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpio_writer),
                cmocka_unit_test(test_plan_modules),
                cmocka_unit_test(test_plan_modules_cycle),
                cmocka_unit_test(test_initramfs_build),
                cmocka_unit_test(test_initramfs_compressed_module),
                cmocka_unit_test(test_find_kernel),
                cmocka_unit_test(test_guest_plan),
                cmocka_unit_test(test_guest_plan_errors),
                cmocka_unit_test(test_config_bytes),
                cmocka_unit_test(test_mkfs_argv),
                cmocka_unit_test(test_console_lines),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
