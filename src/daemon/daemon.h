/* SPDX-License-Identifier: Apache-2.0 */
/* kapseld: the Docker Engine API over the engine. server.c owns the HTTP side (libmicrohttpd, one
 * thread per connection, limits), router.c maps method + path to a handler, api-*.c are the
 * handlers: each parses its request, makes engine calls, and fills a response. Handlers never
 * print; an error is a KError whose kind picks the status (400, 404, 409, 500) and whose text is
 * the same the CLI prints, sent as docker's {"message": ...}. */
#pragma once

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "engine.h"
#include "error.h"

#define API_VERSION "1.41"
#define API_MIN_VERSION "1.24"
#define API_MAX_PARAMS 2
#define DAEMON_MAX_HOSTS 8

typedef struct DaemonConfig {
        const char *root;       /* the engine's state root */
        const char *host;       /* the first unix:///path of hosts (the console's terminals call it), or NULL */
        const char *hosts[DAEMON_MAX_HOSTS];    /* every --host: unix:///PATH, tcp://ADDR:PORT */
        size_t n_hosts;
        bool tls_verify;        /* --tlsverify: TCP clients need a certificate signed by tls_ca */
        const char *tls_ca;     /* --tlscacert PEM */
        bool mtls;              /* this listener is TCP: only clients whose certificate checked out */
        const char *group;      /* the socket's group (when it exists): "kapsel" */
        bool group_known;       /* the start-up check's child looked it up (else listen_unix asks NSS): */
        long group_gid;         /* its gid, or -1: no such group */
        unsigned max_connections;
        unsigned timeout_s;     /* idle connection timeout */
        size_t max_body;        /* JSON bodies */
        size_t max_upload;      /* image load (tar) bodies */
        /* the web console (web.h) */
        const char *web_listen; /* --web-listen ADDR:PORT, or NULL: the console is on the socket only */
        const char *tls_cert, *tls_key;         /* PEM files (TCP and the console); required beyond loopback */
        const char *web_dir;    /* the bundled front end; NULL: found beside kapseld */
        unsigned web_session_s; /* session lifetime */
        bool web_only;          /* this listener serves /console/ alone (the TCP one) */
} DaemonConfig;

typedef struct ApiReq {
        struct MHD_Connection *conn;
        const DaemonConfig *cfg;
        const char *method;
        const char *path;                       /* without the /vN.NN prefix */
        char *params[API_MAX_PARAMS];           /* {name} captures of the route */
        const char *body;                       /* raw body (NUL-terminated), may be NULL */
        size_t body_len;
        json_t *json;                           /* body parsed as JSON when it was JSON */
        int body_fd;                            /* an archive upload (image load): the body's file */
        Engine *e;                              /* opened for the request (api_engine) */
} ApiReq;

typedef struct ApiResp {
        unsigned status;
        json_t *json;                           /* body (owned) or NULL */
        struct MHD_Response *raw;               /* or a ready response (streams, upgrades) */
        const char *content_type;
} ApiResp;

typedef int (*ApiHandler)(ApiReq *rq, ApiResp *rs, KError **err);

typedef struct ApiRoute {
        const char *method;
        const char *pattern;    /* "/containers/{}/start": {} captures one path segment */
        ApiHandler fn;
} ApiRoute;

/* Find the route for method + path; fills rq->params. NULL: no such path (or method). */
const ApiRoute *router_match(const char *method, const char *path, ApiReq *rq, bool *ret_path_known);
/* Strip "/v1.NN" from the front of `path`; *ret_version gets "1.NN" or NULL. -EINVAL for a version
 * outside API_MIN_VERSION..API_VERSION. */
int router_strip_version(const char *path, const char **ret_rest, char ret_version[static 16]);
/* Is the body of this request an archive to spool to a file (POST /build, /images/create)? */
bool router_body_to_file(const char *method, const char *url);

/* Query parameters. */
const char *api_query(const ApiReq *rq, const char *name);
bool api_query_bool(const ApiReq *rq, const char *name);
int api_query_int(const ApiReq *rq, const char *name, long def, long *ret, KError **err);
/* Every value of a repeated query parameter (t=a&t=b), empty ones left out; NULL when none. */
char **api_query_all(const ApiReq *rq, const char *name);
/* The engine for this request, opened on first use. */
int api_engine(ApiReq *rq, Engine **ret, KError **err);
/* A container by name, id or id prefix, its state repaired (a dead monitor's row says exited). */
int api_ctr_find(ApiReq *rq, const char *ref, CtrRecord **ret, KError **err);
/* The response: a JSON body with a status. Takes `j`. */
int api_json(ApiResp *rs, unsigned status, json_t *j);
int api_empty(ApiResp *rs, unsigned status);
/* A body written by `fn` in a thread of its own into the pipe `fd` as the client reads it (logs,
 * wait, pull progress); fn must close nothing, the pipe is closed after it returns. `data` is
 * freed with `free_data`. */
int api_stream(ApiResp *rs, const char *content_type, void (*fn)(int fd, void *data), void *data,
               void (*free_data)(void *data), KError **err);

/* Long, possibly quiet answers (build, push): no idle timeout for this connection. */
void api_no_idle_timeout(ApiReq *rq);
/* A JSON message as docker streams it: compact, "\r\n" at the end (to send in one write). */
char *api_json_line(const json_t *m);

/* Docker's stream multiplexing (attach and logs without a tty): an 8-byte header (stream 1 or 2,
 * three zero bytes, big-endian length) before each chunk. */
int api_write_frame(int fd, bool mux, int stream, const void *data, size_t len);

/* Handlers, by resource. */
int api_ping(ApiReq *rq, ApiResp *rs, KError **err);
int api_version(ApiReq *rq, ApiResp *rs, KError **err);
int api_info(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_create(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_list(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_inspect(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_start(ApiReq *rq, ApiResp *rs, KError **err);
/* docker's checkpoint routes, for micro-VMs (api-checkpoint.c) */
int api_ctr_checkpoint_list(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_checkpoint_create(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_checkpoint_delete(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_start_checkpoint(ApiReq *rq, const char *name, ApiResp *rs, KError **err);
int api_ctr_stop(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_restart(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_kill(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_wait(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_delete(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_pause(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_unpause(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_rename(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_logs(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_attach(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_resize(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_stats(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_top(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_update(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_changes(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_export(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_prune(ApiReq *rq, ApiResp *rs, KError **err);
int api_img_prune(ApiReq *rq, ApiResp *rs, KError **err);
int api_vol_prune(ApiReq *rq, ApiResp *rs, KError **err);
int api_net_prune(ApiReq *rq, ApiResp *rs, KError **err);
int api_system_df(ApiReq *rq, ApiResp *rs, KError **err);
int api_events(ApiReq *rq, ApiResp *rs, KError **err);
int api_auth(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_archive_head(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_archive_get(ApiReq *rq, ApiResp *rs, KError **err);
int api_ctr_archive_put(ApiReq *rq, ApiResp *rs, KError **err);
int api_exec_create(ApiReq *rq, ApiResp *rs, KError **err);
int api_exec_start(ApiReq *rq, ApiResp *rs, KError **err);
int api_exec_inspect(ApiReq *rq, ApiResp *rs, KError **err);
int api_exec_resize(ApiReq *rq, ApiResp *rs, KError **err);
int api_net_list(ApiReq *rq, ApiResp *rs, KError **err);
int api_net_inspect(ApiReq *rq, ApiResp *rs, KError **err);
int api_net_create(ApiReq *rq, ApiResp *rs, KError **err);
int api_net_delete(ApiReq *rq, ApiResp *rs, KError **err);
int api_net_connect(ApiReq *rq, ApiResp *rs, KError **err);
int api_net_disconnect(ApiReq *rq, ApiResp *rs, KError **err);
int api_vol_list(ApiReq *rq, ApiResp *rs, KError **err);
int api_vol_inspect(ApiReq *rq, ApiResp *rs, KError **err);
int api_vol_create(ApiReq *rq, ApiResp *rs, KError **err);
int api_vol_delete(ApiReq *rq, ApiResp *rs, KError **err);
int api_img_list(ApiReq *rq, ApiResp *rs, KError **err);
int api_img_inspect(ApiReq *rq, ApiResp *rs, KError **err);
int api_img_create(ApiReq *rq, ApiResp *rs, KError **err);
int api_img_tag(ApiReq *rq, ApiResp *rs, KError **err);
int api_img_delete(ApiReq *rq, ApiResp *rs, KError **err);
int api_img_load(ApiReq *rq, ApiResp *rs, KError **err);
int api_img_save(ApiReq *rq, ApiResp *rs, KError **err);
int api_img_history(ApiReq *rq, ApiResp *rs, KError **err);
int api_img_push(ApiReq *rq, ApiResp *rs, KError **err);
int api_build(ApiReq *rq, ApiResp *rs, KError **err);
int api_build_prune(ApiReq *rq, ApiResp *rs, KError **err);

/* POST /build and image import parsing (api-build-parse.c; exposed for the fuzz target). */
/* buildargs/labels: a JSON object of strings -> "K=V" (null values left out); NULL text: none. */
int api_build_kv(const char *text, const char *what, char ***ret, KError **err);
/* The Dockerfile `name` (NULL: Dockerfile, else Containerfile) of the context tar in `fd`
 * (gzip/bzip2/xz/zstd or plain), read from its start; at most 16 MiB. */
int api_build_dockerfile(int fd, const char *name, char **ret, size_t *ret_len, KError **err);
/* docker import's changes (Dockerfile lines: CMD, ENTRYPOINT, ENV, EXPOSE, USER, VOLUME, WORKDIR,
 * STOPSIGNAL) applied to `cfg`. */
int api_import_changes(char *const *changes, ImageConfig *cfg, KError **err);
/* Copy `n` bytes to `out` (room for n + 1) as valid UTF-8 without NULs: bad bytes become '?'. An
 * incomplete sequence at the end stays out unless `final`; returns the bytes consumed. */
size_t api_utf8_clean(const char *in, size_t n, char *out, bool final);

/* exec in an --isolation=vm container (api-exec-vm.c): the engine's request for the guest agent,
 * through the container's monitor as `kapsel exec` goes; copies between the hijacked client `sock`
 * (-1: detached, output dropped) and the process until it exits, its code in *ret_code. */
typedef struct VmExecJob {
        const char *root, *ctr;
        json_t *config;         /* the exec's create body: Cmd, Env, WorkingDir, User */
        bool tty, want_in;
        int sock;
        const char *extra;      /* client bytes read past the request: stdin already */
        size_t n_extra;
} VmExecJob;
int api_exec_vm(const VmExecJob *x, int *ret_code, KError **err);
/* Its copying part, on `mon` (a stream to the monitor that already carries the EXEC request). */
int api_exec_vm_relay(const VmExecJob *x, int mon, int *ret_code, KError **err);

/* Docker's create body -> the engine's {"Config","HostConfig"} (exposed for the fuzz target). */
int api_create_body(json_t *body, json_t **ret_config, KError **err);

/* The attach registry: a hijacked attach waiting for its container's start. The start handler
 * spawns the monitor in attach-wait mode when one waits and hands it the go. */
bool attach_pending(const char *id);
/* False when no attach client took the start within 5 s: the caller releases the process itself. */
bool attach_release(const char *id);
/* Exit codes seen by attach streams, for wait on an --rm container whose row is already gone. */
void exit_code_note(const char *id, int code);
bool exit_code_get(const char *id, int *ret);

/* The TLS files, read and tried together by listen_check(). */
typedef struct DaemonTls {
        char *cert, *key, *ca;
} DaemonTls;
void daemon_tls_done(DaemonTls *t);

/* listen.c: check every --host and the TLS options before the daemon does anything (TCP only with
 * --tlsverify and all three files; the key its owner's alone); fills `tls` for the TCP listeners. */
int listen_check(const DaemonConfig *cfg, DaemonTls *tls, KError **err);
int listen_parse_tcp(const char *host, struct sockaddr_storage *ret, socklen_t *ret_len, KError **err);
/* Listening sockets for unix:///PATH (0660, `group` when it exists) and tcp://ADDR:PORT. */
int listen_unix(const char *host, const char *group, bool group_known, long group_gid, KError **err);
int listen_tcp(const char *host, KError **err);
/* MHD_OPTION_NOTIFY_CONNECTION of a TLS listener: a client certificate signed by the trusted CA is
 * required during the handshake. */
void listen_require_client_cert(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_ConnectionNotificationCode code);
/* Did this connection's client show a certificate that verified against the CA? */
bool listen_peer_verified(struct MHD_Connection *c);

/* Check the hosts and TLS files (listen_check; kapseld calls it before its crash check), then
 * serve every --host until SIGTERM/SIGINT. */
int server_check(const DaemonConfig *cfg, KError **err);
int server_run(const DaemonConfig *cfg, KError **err);
/* Run fn(arg) in a detached thread with the daemon's thread stack size (hijacked streams). */
int server_spawn_detached(void *(*fn)(void *), void *arg);
