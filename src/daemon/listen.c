/* SPDX-License-Identifier: Apache-2.0 */
/* Where kapseld listens: unix sockets (0660, group kapsel) and, only when asked and then only with
 * mutual TLS as dockerd's --tlsverify, TCP. Whoever reaches the Engine API owns the host (it runs
 * privileged containers and bind-mounts /), so a TCP listener without client certificates is
 * refused at start, and a client without a certificate signed by --tlscacert fails its handshake.
 * Everything is checked before the daemon does anything else, so a bad option changes nothing. */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <grp.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "fd-util.h"
#include "string-util.h"

#define PEM_MAX (1 << 20)

static const char tls_hint[] = "--tlsverify --tlscacert CA.pem --tlscert CERT.pem --tlskey KEY.pem "
                               "(docs/kapseld.md, \"TCP with mutual TLS\", shows how to make them)";

/* "tcp://ADDR:PORT" ("[v6]:PORT" too) -> the address to bind. */
int listen_parse_tcp(const char *host, struct sockaddr_storage *ret, socklen_t *ret_len, KError **err) {
        const char *spec = startswith(host, "tcp://");
        const char *colon = spec ? strrchr(spec, ':') : NULL;
        if (!colon || colon == spec || !colon[1])
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--host %s: expected tcp://ADDR:PORT (e.g. tcp://127.0.0.1:2376)",
                                host);
        _cleanup_free_ char *addr = spec[0] == '[' && colon[-1] == ']' ? strndup(spec + 1, (size_t) (colon - spec - 2))
                                                                       : strndup(spec, (size_t) (colon - spec));
        if (!addr)
                return -ENOMEM;
        char *end;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (*end || port == 0 || port > 65535)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--host %s: the port must be 1-65535", host);
        struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM }, *ai = NULL;
        if (getaddrinfo(addr, colon + 1, &hints, &ai) != 0 || !ai) {
                if (ai)
                        freeaddrinfo(ai);
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--host %s: %s is not an IP address (names are not resolved)",
                                host, addr);
        }
        memcpy(ret, ai->ai_addr, ai->ai_addrlen);
        *ret_len = ai->ai_addrlen;
        freeaddrinfo(ai);
        return 0;
}

/* A PEM file; the key must be its owner's alone, as ssh wants of its keys. */
static int read_pem(const char *opt, const char *path, bool secret, char **ret, KError **err) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return kerr_kind(err, KERR_CONFIG, -errno, "%s %s", opt, path);
        if (!S_ISREG(st.st_mode))
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "%s %s: not a regular file", opt, path);
        if (secret && (st.st_mode & 077))
                return kerr_msg(err, KERR_CONFIG, -EPERM,
                                "%s %s: the private key may be read by others (mode %04o): chmod 600 %s and start again",
                                opt, path, (unsigned) (st.st_mode & 07777), path);
        int r = read_full_fd(fd, PEM_MAX, ret, NULL);
        if (r < 0)
                return kerr_kind(err, KERR_CONFIG, r, "read %s %s", opt, path);
        return 0;
}

static void creds_freep(gnutls_certificate_credentials_t *c) {
        if (*c)
                gnutls_certificate_free_credentials(*c);
}

/* The certificate, its key and the CA, tried together now rather than found wrong by the first
 * client. */
static int tls_try(const DaemonTls *t, const DaemonConfig *cfg, KError **err) {
        _cleanup_(creds_freep) gnutls_certificate_credentials_t c = NULL;
        if (gnutls_certificate_allocate_credentials(&c) < 0)
                return -ENOMEM;
        gnutls_datum_t cert = { (unsigned char *) t->cert, (unsigned) strlen(t->cert) },
                       key = { (unsigned char *) t->key, (unsigned) strlen(t->key) },
                       ca = { (unsigned char *) t->ca, (unsigned) strlen(t->ca) };
        int r = gnutls_certificate_set_x509_key_mem(c, &cert, &key, GNUTLS_X509_FMT_PEM);
        if (r < 0)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "--tlscert %s with --tlskey %s: %s (PEM files of one key pair "
                                "are expected)", cfg->tls_cert, cfg->tls_key, gnutls_strerror(r));
        r = gnutls_certificate_set_x509_trust_mem(c, &ca, GNUTLS_X509_FMT_PEM);
        if (r <= 0)
                return kerr_msg(err, KERR_CONFIG, -EINVAL, "--tlscacert %s: %s", cfg->tls_ca,
                                r < 0 ? gnutls_strerror(r) : "no certificate in the file");
        return 0;
}

int listen_check(const DaemonConfig *cfg, DaemonTls *tls, KError **err) {
        const char *tcp = NULL;
        for (size_t i = 0; i < cfg->n_hosts; i++) {
                const char *h = cfg->hosts[i];
                struct sockaddr_storage ss;
                socklen_t len;
                if (startswith(h, "unix://")) {
                        if (!h[strlen("unix://")])
                                return kerr_msg(err, KERR_USAGE, -EINVAL, "--host %s: expected unix:///PATH", h);
                        continue;
                }
                if (!startswith(h, "tcp://"))
                        return kerr_msg(err, KERR_USAGE, -EINVAL, "--host %s: expected unix:///PATH or tcp://ADDR:PORT", h);
                int r = listen_parse_tcp(h, &ss, &len, err);
                if (r < 0)
                        return r;
                tcp = tcp ?: h;
        }
        if (tcp && !cfg->tls_verify)
                return kerr_msg(err, KERR_USAGE, -EPERM,
                                "--host %s: TCP is served only with mutual TLS, since whoever reaches the Engine API "
                                "controls this host; add %s", tcp, tls_hint);
        if ((tcp || cfg->tls_verify) && !(cfg->tls_ca && cfg->tls_cert && cfg->tls_key))
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--tlsverify needs all of %s", tls_hint);
        /* the console's --web-listen takes the same key: held to the same rule */
        int r;
        if (cfg->tls_key && (r = read_pem("--tlskey", cfg->tls_key, true, &tls->key, err)) < 0)
                return r;
        if (!tcp)
                return 0;
        if ((r = read_pem("--tlscert", cfg->tls_cert, false, &tls->cert, err)) < 0 ||
            (r = read_pem("--tlscacert", cfg->tls_ca, false, &tls->ca, err)) < 0)
                return r;
        return tls_try(tls, cfg, err);
}

void daemon_tls_done(DaemonTls *t) {
        if (t->key)
                explicit_bzero(t->key, strlen(t->key));
        free(t->key);
        free(t->cert);
        free(t->ca);
        *t = (DaemonTls) { 0 };
}

int listen_unix(const char *host, const char *group, bool group_known, long group_gid, KError **err) {
        const char *path = startswith(host, "unix://");
        if (!path || !*path)
                return kerr_msg(err, KERR_USAGE, -EINVAL, "--host %s: expected unix:///PATH", host);
        /* bound under a temporary name and renamed once listening: a client that sees the path can
         * connect */
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.%d", path, (int) getpid()) < 0)
                return -ENOMEM;
        if (strlen(tmp) >= sizeof(sa.sun_path))
                return kerr_msg(err, KERR_USAGE, -ENAMETOOLONG, "--host %s: the socket path is too long", host);
        strcpy(sa.sun_path, tmp);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return kerr(err, -errno, "socket for %s", path);
        (void) unlink(tmp);
        /* created 0660 from the start: no window where anyone may connect */
        mode_t old = umask(0117);
        int r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return kerr(err, -errno, "bind %s: does its directory exist?", path);
        if (group && !group_known) {
                struct group *gr = getgrnam(group);
                group_gid = gr ? (long) gr->gr_gid : -1;
        }
        if ((group && group_gid >= 0 && chown(tmp, 0, (gid_t) group_gid) < 0) || listen(fd, 128) < 0 ||
            rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return kerr(err, r, "listen on %s", path);
        }
        return TAKE_FD(fd);
}

int listen_tcp(const char *host, KError **err) {
        struct sockaddr_storage ss;
        socklen_t len;
        int r = listen_parse_tcp(host, &ss, &len, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                return kerr(err, -errno, "socket for %s", host);
        if (ss.ss_family == AF_INET6)
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &ss, len) < 0)
                return kerr(err, -errno, "bind %s: is the address this host's, and the port free?", host);
        if (listen(fd, 128) < 0)
                return kerr(err, -errno, "listen on %s", host);
        return TAKE_FD(fd);
}

/* MHD_OPTION_NOTIFY_CONNECTION of a TCP listener: its session is made before the handshake runs
 * (in the connection's thread); a client certificate becomes required and is verified against the
 * trust of --tlscacert during the handshake, which fails without one. */
void listen_require_client_cert(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_ConnectionNotificationCode code) {
        (void) cls, (void) ctx;
        if (code != MHD_CONNECTION_NOTIFY_STARTED)
                return;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ci || !ci->tls_session)
                return;         /* listen_peer_verified() refuses its requests */
        gnutls_certificate_server_set_request(ci->tls_session, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_cert(ci->tls_session, NULL, 0);
}

bool listen_peer_verified(struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        unsigned status = ~0u;
        return ci && ci->tls_session && gnutls_certificate_verify_peers2(ci->tls_session, &status) == 0 && status == 0;
}
