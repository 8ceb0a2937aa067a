/* SPDX-License-Identifier: Apache-2.0 */
/* /containers/{id}/archive (docker cp): HEAD stats a path in the container, GET sends it as a tar,
 * PUT unpacks a tar into a directory of it. Over the engine's copy code (ctr-cp.h, copy-tree.h):
 * paths resolve inside the container's root, never the host's. The stat travels in the header
 * X-Docker-Container-Path-Stat as base64 JSON {name, size, mode (Go's os.FileMode bits), mtime,
 * linkTarget}. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "copy-tree.h"
#include "ctr-cp.h"
#include "daemon.h"
#include "fd-util.h"
#include "json-util.h"
#include "string-util.h"

/* Go's os.FileMode type bits (what docker's clients test: ModeDir, ModeSymlink). */
static const struct {
        mode_t type;
        uint32_t go;
} go_types[] = {
        { S_IFDIR, 1u << 31 }, { S_IFLNK, 1u << 27 }, { S_IFBLK, 1u << 26 }, { S_IFIFO, 1u << 25 },
        { S_IFSOCK, 1u << 24 }, { S_IFCHR, (1u << 26) | (1u << 21) },
};

static uint32_t go_mode(mode_t m) {
        uint32_t g = m & 0777;
        for (size_t i = 0; i < sizeof(go_types) / sizeof(go_types[0]); i++)
                if ((m & S_IFMT) == go_types[i].type)
                        g |= go_types[i].go;
        if (m & S_ISUID)
                g |= 1u << 23;
        if (m & S_ISGID)
                g |= 1u << 22;
        if (m & S_ISVTX)
                g |= 1u << 20;
        return g;
}

typedef struct Target {
        CtrRoot root;
        int dirfd;
        char *name;
        struct stat st;
} Target;

static void target_done(Target *t) {
        t->dirfd = safe_close(t->dirfd);
        t->name = mfree(t->name);
        ctr_root_close(&t->root);
}

static int target_open(ApiReq *rq, Target *t, KError **err) {
        *t = (Target) { .root = { .fd = -1 }, .dirfd = -1 };
        const char *path = api_query(rq, "path");
        if (!path || !*path)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "archive: the query parameter path is missing");
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0 || (r = ctr_root_open(rq->e, rec, &t->root, err)) < 0)
                return r;
        if ((r = ctr_root_source(&t->root, path, path, &t->dirfd, &t->name, err)) < 0)
                return r;
        if (fstatat(t->dirfd, t->name, &t->st, AT_SYMLINK_NOFOLLOW) < 0)
                return kerr_msg(err, KERR_NOT_FOUND, -errno, "Could not find the file %s in container %s", path,
                                rq->params[0]);
        return 0;
}

/* The stat header on `resp`. */
static int add_stat(struct MHD_Response *resp, const Target *t) {
        char mtime[40] = "", link[4096] = "";
        struct tm tm;
        if (gmtime_r(&t->st.st_mtim.tv_sec, &tm))
                strftime(mtime, sizeof(mtime), "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (S_ISLNK(t->st.st_mode)) {
                ssize_t n = readlinkat(t->dirfd, t->name, link, sizeof(link) - 1);
                link[n > 0 ? n : 0] = 0;
        }
        _cleanup_json_ json_t *j = json_pack("{s:s, s:I, s:I, s:s, s:s}", "name", streq(t->name, ".") ? "/" : t->name,
                                             "size", (json_int_t) t->st.st_size, "mode", (json_int_t) go_mode(t->st.st_mode),
                                             "mtime", mtime, "linkTarget", link);
        _cleanup_free_ char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (!s)
                return -ENOMEM;
        size_t len = strlen(s);
        _cleanup_free_ char *b64 = malloc(4 * ((len + 2) / 3) + 1);
        if (!b64)
                return -ENOMEM;
        EVP_EncodeBlock((unsigned char *) b64, (const unsigned char *) s, (int) len);
        return MHD_add_response_header(resp, "X-Docker-Container-Path-Stat", b64) == MHD_YES ? 0 : -ENOMEM;
}

int api_ctr_archive_head(ApiReq *rq, ApiResp *rs, KError **err) {
        Target t;
        int r = target_open(rq, &t, err);
        if (r >= 0 && (r = api_empty(rs, 200)) >= 0)
                r = add_stat(rs->raw, &t);
        target_done(&t);
        return r;
}

int api_ctr_archive_get(ApiReq *rq, ApiResp *rs, KError **err) {
        Target t;
        int r = target_open(rq, &t, err);
        int fd = -1;
        struct stat st;
        if (r >= 0 && (fd = open(rq->cfg->root, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) < 0)
                r = kerr(err, -errno, "archive: a temporary file in %s", rq->cfg->root);
        if (r >= 0)
                r = copy_tree_to_tar(t.dirfd, t.name, streq(t.name, ".") ? "rootfs" : t.name, fd, err);
        if (r >= 0 && (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0))
                r = kerr(err, -errno, "archive: the temporary file");
        if (r >= 0) {
                rs->raw = MHD_create_response_from_fd((size_t) st.st_size, fd);
                if (rs->raw) {
                        fd = -1;        /* the response owns it */
                        rs->status = 200;
                        rs->content_type = "application/x-tar";
                        r = add_stat(rs->raw, &t);
                } else
                        r = -ENOMEM;
        }
        safe_close(fd);
        target_done(&t);
        return r;
}

int api_ctr_archive_put(ApiReq *rq, ApiResp *rs, KError **err) {
        const char *path = api_query(rq, "path");
        if (!path || !*path)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "archive: the query parameter path is missing");
        if (rq->body_fd < 0 || lseek(rq->body_fd, 0, SEEK_SET) < 0)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "archive: expected a tar body");
        _cleanup_(ctr_record_freep) CtrRecord *rec = NULL;
        CtrRoot root = { .fd = -1 };
        int r = api_ctr_find(rq, rq->params[0], &rec, err);
        if (r < 0 || (r = ctr_root_open(rq->e, rec, &root, err)) < 0)
                return r;
        _cleanup_close_ int ddir = open_in_container(root.fd, path, O_RDONLY | O_DIRECTORY);
        if (ddir < 0)
                r = kerr_kind(err, KERR_NOT_FOUND, ddir, "destination directory (in the container) %s", path);
        else
                r = copy_tar_into(rq->body_fd, ddir, "the uploaded tar", err);
        ctr_root_close(&root);
        return r < 0 ? r : api_empty(rs, 200);
}
