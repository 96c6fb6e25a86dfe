/* P2P transport: TCP (libuv) + TLS 1.3 (OpenSSL, memory BIOs) + frames.
 *
 * Each connection owns an SSL object whose read BIO is fed from uv reads and
 * whose write BIO is drained into uv writes after every OpenSSL call. A
 * connection goes: TCP connected -> TLS handshake (peer certificate checked
 * against the CA and the allowed IDs in verify_cb) -> identified (we send
 * HELLO) -> authenticated (the peer's HELLO arrived; only now is the peer
 * "up"). Duplicate connections to one peer are resolved when the second one
 * becomes authenticated, by a rule both ends evaluate alike (keep_new). */
#include "net/net.h"
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/x509.h"
#include "util/clock.h"
#include "util/log.h"

#define HELLO_VERSION   1
#define HELLO_LEN       12 /* u32 version, u64 dial stamp */
#define CLOSE_GRACE_MS  1000
#define STABLE_MS       1000       /* a connection up this long resets the back-off */
#define RX_KEEP         (1u << 20) /* keep a receive buffer up to this size between frames */
#define MAX_FRAME_LIMIT (256u << 20)

struct peer {
    uint8_t id[32];
    int self;
    struct conn *active; /* authenticated connection used for sends */
    char addr[64];
    int outbound;
    uint64_t bytes_in, bytes_out, frames_in, frames_out, dropped;
};

struct dial {
    struct net *n;
    struct dial *next;
    char host[256];
    int port;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    int resolving;
    struct conn *conn;
    unsigned backoff;   /* delay before the next attempt */
    struct peer *known; /* who answered at this address last time */
    int self;           /* this address is our own node: stop dialling */
};

struct conn {
    struct net *n;
    struct conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer; /* handshake deadline, then close grace */
    uv_connect_t connect_req;
    uv_shutdown_t shutdown_req;
    int handles; /* open uv handles (tcp, timer) */
    SSL *ssl;
    BIO *rbio, *wbio;
    struct dial *dial; /* outbound: the dial entry that made us */
    int outbound, connected, hs_done, authed, closing, released;
    int tls_dead;      /* no close_notify: handshake failed or TLS error */
    int tcp_dead;      /* socket failed: no more writes */
    struct peer *peer; /* set once the TLS handshake identified the peer */
    uint64_t dial_stamp;
    uint64_t authed_at;       /* loop time of the peer's HELLO */
    uint64_t pre_in, pre_out; /* bytes before the peer was known */
    char addr[64];
    char refuse[160]; /* why verify_cb refused the certificate */
    uint8_t hdr[NET_FRAME_HEADER];
    size_t hdr_have;
    uint32_t plen;
    uint8_t *rx;
    size_t rx_cap, rx_have;
};

struct wreq {
    uv_write_t req;
    struct conn *c;
    uint8_t data[];
};

struct net {
    uv_loop_t *loop;
    SSL_CTX *ctx;
    uv_tcp_t listener;
    int listening, port;
    uint8_t self[32];
    char tag[9]; /* first 8 hex digits of our ID, for logs */
    struct peer *peers;
    size_t npeers;
    struct conn *conns;
    struct dial *dials;
    size_t ndials;
    size_t max_frame, max_queue;
    unsigned backoff_min, backoff_max, hs_timeout, max_conns;
    net_frame_fn on_frame;
    net_peer_fn on_peer;
    void *cb_ctx;
    int stopping;
    unsigned handles; /* open handles and pending requests */
    uint64_t last_stamp;
    struct net_stats st;
    uint8_t *scratch;
    size_t scratch_cap;
    char errmsg[320];
    uint8_t rbuf[65536];
};

static int verify_idx = -1; /* SSL ex_data slot of our struct conn */

static void conn_drive(struct conn *c);
static void conn_close(struct conn *c, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void dial_schedule(struct dial *d);
static void on_conn_timer(uv_timer_t *t);
static void on_dial_timer(uv_timer_t *t);

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void hex8(char out[9], const uint8_t *id)
{
    snprintf(out, 9, "%02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
}

static void sockaddr_str(char *out, size_t cap, const struct sockaddr *sa)
{
    char ip[64] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        uv_ip4_name(s4, ip, sizeof ip);
        port = ntohs(s4->sin_port);
        snprintf(out, cap, "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(s6, ip, sizeof ip);
        port = ntohs(s6->sin6_port);
        snprintf(out, cap, "[%s]:%d", ip, port);
    } else {
        snprintf(out, cap, "?");
    }
}

static struct peer *peer_find(struct net *n, const uint8_t id[32])
{
    for (size_t i = 0; i < n->npeers; i++)
        if (memcmp(n->peers[i].id, id, 32) == 0) return &n->peers[i];
    return NULL;
}

static int cert_id(X509 *x, uint8_t id[32])
{
    EVP_PKEY *pub = x ? X509_get0_pubkey(x) : NULL;
    size_t len = 32;
    if (!pub || EVP_PKEY_get_id(pub) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(pub, id, &len) != 1 || len != 32)
        return -1;
    return 0;
}

static void count_in(struct conn *c, size_t len)
{
    if (c->peer)
        c->peer->bytes_in += len;
    else
        c->pre_in += len;
}

static void count_out(struct conn *c, size_t len)
{
    if (c->peer)
        c->peer->bytes_out += len;
    else
        c->pre_out += len;
}

/* ---- freeing ---------------------------------------------------------- */

static void net_free(struct net *n)
{
    struct dial *d = n->dials;
    while (d) {
        struct dial *next = d->next;
        free(d);
        d = next;
    }
    SSL_CTX_free(n->ctx);
    free(n->peers);
    free(n->scratch);
    free(n);
}

static void net_maybe_free(struct net *n)
{
    if (n->stopping && n->handles == 0) net_free(n);
}

static void on_net_handle_closed(uv_handle_t *h)
{
    struct net *n = h->data;
    n->handles--;
    net_maybe_free(n);
}

static void conn_free(struct conn *c)
{
    struct net *n = c->n;
    if (c->prev)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    n->st.conns--;
    SSL_free(c->ssl); /* frees both BIOs */
    free(c->rx);
    free(c);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct net *n = c->n;
    n->handles--;
    if (--c->handles == 0) conn_free(c);
    net_maybe_free(n);
}

static void conn_release(struct conn *c)
{
    if (c->released) return;
    c->released = 1;
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn_release(req->data);
}

/* ---- writing ---------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = w->c;
    free(w);
    if (status < 0 && !c->closing) {
        c->tcp_dead = 1;
        conn_close(c, LOG_INFO, "write failed: %s", uv_strerror(status));
    }
}

/* Move everything OpenSSL produced into uv writes. */
static int conn_flush(struct conn *c)
{
    size_t pend;
    while ((pend = BIO_ctrl_pending(c->wbio)) > 0) {
        if (!c->connected || c->released) {
            (void)BIO_reset(c->wbio);
            return TALLY_EIO;
        }
        struct wreq *w = malloc(sizeof *w + pend);
        if (!w) {
            c->tcp_dead = 1;
            conn_close(c, LOG_ERROR, "out of memory");
            return TALLY_ENOMEM;
        }
        int r = BIO_read(c->wbio, w->data, (int)pend);
        if (r <= 0) {
            free(w);
            return TALLY_EIO;
        }
        w->c = c;
        count_out(c, (size_t)r);
        uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)r);
        int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
        if (rc) {
            free(w);
            c->tcp_dead = 1;
            conn_close(c, LOG_INFO, "write failed: %s", uv_strerror(rc));
            return TALLY_EIO;
        }
    }
    return 0;
}

static int frame_write(struct conn *c, uint8_t type, const uint8_t *payload, size_t len)
{
    struct net *n = c->n;
    size_t need = NET_FRAME_HEADER + len;
    if (need > n->scratch_cap) {
        uint8_t *p = realloc(n->scratch, need);
        if (!p) return TALLY_ENOMEM;
        n->scratch = p;
        n->scratch_cap = need;
    }
    put32(n->scratch, (uint32_t)len);
    n->scratch[4] = type;
    if (len) memcpy(n->scratch + NET_FRAME_HEADER, payload, len);
    ERR_clear_error();
    int r = SSL_write(c->ssl, n->scratch, (int)need);
    if (n->scratch_cap > RX_KEEP) {
        free(n->scratch);
        n->scratch = NULL;
        n->scratch_cap = 0;
    }
    if (r != (int)need) {
        c->tls_dead = 1;
        conn_close(c, LOG_WARN, "TLS write failed");
        return TALLY_EIO;
    }
    return conn_flush(c);
}

/* ---- closing ---------------------------------------------------------- */

static void log_conn(struct conn *c, enum log_level lvl, const char *why)
{
    char who[12] = "";
    if (c->peer) {
        who[0] = ' ';
        who[1] = '(';
        hex8(who + 2, c->peer->id);
        who[10] = ')';
        who[11] = 0;
    }
    log_msg(lvl, "net", "%s: %s %s%s: %s", c->n->tag, c->outbound ? "to" : "from", c->addr, who,
            why);
}

/* Close a connection (idempotent): tell the peer's owner if this was its live
 * connection, schedule the redial, send close_notify, then shut down. */
static void conn_close(struct conn *c, enum log_level lvl, const char *fmt, ...)
{
    if (c->closing) return;
    struct net *n = c->n;
    c->closing = 1;
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (!n->stopping) {
        log_conn(c, lvl, why);
        if (lvl >= LOG_WARN)
            snprintf(n->errmsg, sizeof n->errmsg, "%s %s: %s", c->outbound ? "to" : "from", c->addr,
                     why);
    }
    uv_timer_stop(&c->timer);
    struct dial *own = c->dial;
    if (own) {
        c->dial = NULL;
        own->conn = NULL;
        /* Back-off starts over only after a connection that lasted: a peer
         * that accepts and then drops us gets ever longer pauses. */
        if (c->authed && uv_now(n->loop) - c->authed_at >= STABLE_MS) own->backoff = n->backoff_min;
        dial_schedule(own);
    }
    struct peer *p = c->peer;
    if (p && p->active == c) {
        p->active = NULL;
        if (!n->stopping) {
            n->on_peer(n->cb_ctx, p->id, 0);
            /* Dial entries that idled because this peer was up another way. */
            for (struct dial *d = n->dials; d; d = d->next)
                if (d != own && d->known == p && !d->conn && !d->resolving && !n->stopping)
                    dial_schedule(d);
        }
    }
    if (c->connected && !c->tcp_dead) {
        if (c->hs_done && !c->tls_dead) {
            ERR_clear_error();
            SSL_shutdown(c->ssl);
        }
        conn_flush(c);
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->shutdown_req.data = c;
        if (!c->released &&
            uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) == 0) {
            uv_timer_start(&c->timer, on_conn_timer, CLOSE_GRACE_MS, 0);
            return;
        }
    }
    conn_release(c);
}

/* ---- TLS errors ------------------------------------------------------- */

static void tls_reason(struct conn *c, int ret, char *out, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    if (c->refuse[0]) {
        snprintf(out, cap, "%s", c->refuse);
    } else if (e) {
        const char *r = ERR_reason_error_string(e);
        if (r) {
            snprintf(out, cap, "%s", r);
        } else {
            ERR_error_string_n(e, out, cap);
        }
    } else if (SSL_get_error(c->ssl, ret) == SSL_ERROR_SYSCALL) {
        snprintf(out, cap, "connection closed during TLS");
    } else {
        snprintf(out, cap, "TLS error %d", SSL_get_error(c->ssl, ret));
    }
    long vr = SSL_get_verify_result(c->ssl);
    if (vr != X509_V_OK && !c->refuse[0]) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, " (certificate: %s)", X509_verify_cert_error_string(vr));
    }
    ERR_clear_error();
}

static void refuse(struct conn *c, int ret, const char *prefix)
{
    char why[200];
    tls_reason(c, ret, why, sizeof why);
    c->n->st.refused++;
    c->tls_dead = 1; /* no close_notify after a failed handshake; the alert is out */
    conn_close(c, LOG_WARN, "%s%s", prefix, why);
}

/* Certificate check, called by OpenSSL for each certificate in the chain:
 * the chain must verify to the CA; the leaf must hold an Ed25519 key whose ID
 * is allowed (or is our own, handled after the handshake). */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct conn *c = ssl ? SSL_get_ex_data(ssl, verify_idx) : NULL;
    if (!c) return 0;
    int depth = X509_STORE_CTX_get_error_depth(xs);
    if (!ok) {
        if (!c->refuse[0])
            snprintf(c->refuse, sizeof c->refuse, "certificate rejected: %s (depth %d)",
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(xs)), depth);
        return 0;
    }
    if (depth != 0) return 1;
    uint8_t id[32];
    if (cert_id(X509_STORE_CTX_get_current_cert(xs), id)) {
        snprintf(c->refuse, sizeof c->refuse, "certificate key is not Ed25519");
        X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    if (memcmp(id, c->n->self, 32) != 0 && !peer_find(c->n, id)) {
        char h[9];
        hex8(h, id);
        snprintf(c->refuse, sizeof c->refuse, "node ID %s... is not in the validator set", h);
        X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

/* ---- frames in -------------------------------------------------------- */

/* Decide between two authenticated connections to one peer, identically on
 * both ends: prefer the one dialled by the lower node ID; if one node dialled
 * both, prefer its later dial. Returns 1 to keep nc, 0 to keep old. */
static int keep_new(struct net *n, struct conn *old, struct conn *nc)
{
    const uint8_t *d_old = old->outbound ? n->self : old->peer->id;
    const uint8_t *d_new = nc->outbound ? n->self : nc->peer->id;
    int cmp = memcmp(d_old, d_new, 32);
    if (cmp != 0) return cmp > 0;
    return nc->dial_stamp > old->dial_stamp;
}

static void on_hello(struct conn *c, const uint8_t *p, size_t len)
{
    struct net *n = c->n;
    if (len < HELLO_LEN || get32(p) != HELLO_VERSION) {
        n->st.proto_errors++;
        conn_close(c, LOG_WARN, "bad HELLO (length %zu, version %u)", len, len >= 4 ? get32(p) : 0);
        return;
    }
    if (!c->outbound) c->dial_stamp = (uint64_t)get32(p + 4) << 32 | get32(p + 8);
    c->authed = 1;
    c->authed_at = uv_now(n->loop);
    uv_timer_stop(&c->timer);
    struct peer *pe = c->peer;
    struct conn *old = pe->active;
    if (old) {
        n->st.duplicates++;
        if (keep_new(n, old, c)) {
            pe->active = c;
            snprintf(pe->addr, sizeof pe->addr, "%s", c->addr);
            pe->outbound = c->outbound;
            conn_close(old, LOG_INFO, "duplicate connection, keeping the newer one");
        } else {
            conn_close(c, LOG_INFO, "duplicate connection, keeping the existing one");
        }
        return;
    }
    pe->active = c;
    snprintf(pe->addr, sizeof pe->addr, "%s", c->addr);
    pe->outbound = c->outbound;
    log_conn(c, LOG_INFO, "connected");
    n->on_peer(n->cb_ctx, pe->id, 1);
}

static void frame_done(struct conn *c)
{
    struct net *n = c->n;
    uint8_t type = c->hdr[4];
    size_t len = c->plen;
    c->hdr_have = 0;
    c->rx_have = 0;
    if (!c->authed) {
        if (type != NET_TYPE_HELLO) {
            n->st.proto_errors++;
            conn_close(c, LOG_WARN, "first frame is type %u, not HELLO", type);
            return;
        }
        on_hello(c, c->rx, len);
    } else if (type == NET_TYPE_HELLO) {
        n->st.proto_errors++;
        conn_close(c, LOG_WARN, "second HELLO");
        return;
    } else if (c->peer->active == c && !n->stopping) {
        c->peer->frames_in++;
        n->on_frame(n->cb_ctx, c->peer->id, type, c->rx, len);
    }
    if (c->rx_cap > RX_KEEP) {
        free(c->rx);
        c->rx = NULL;
        c->rx_cap = 0;
    }
}

/* A full header is in c->hdr: check it and make room for the payload.
 * Returns 0 to go on, -1 if the connection was dropped. */
static int frame_header(struct conn *c)
{
    struct net *n = c->n;
    uint32_t len = get32(c->hdr);
    if (len > n->max_frame || (!c->authed && len > 1024)) {
        n->st.proto_errors++;
        conn_close(c, LOG_WARN, "frame of %u bytes exceeds the limit of %zu", len,
                   c->authed ? n->max_frame : (size_t)1024);
        return -1;
    }
    if (len > c->rx_cap) {
        uint8_t *p = realloc(c->rx, len);
        if (!p) {
            conn_close(c, LOG_ERROR, "out of memory for a %u-byte frame", len);
            return -1;
        }
        c->rx = p;
        c->rx_cap = len;
    }
    c->plen = len;
    c->rx_have = 0;
    return 0;
}

/* After the handshake: learn the peer's ID, refuse ourselves, send HELLO. */
static int conn_identify(struct conn *c)
{
    struct net *n = c->n;
    uint8_t id[32];
    if (cert_id(SSL_get0_peer_certificate(c->ssl), id)) {
        n->st.refused++;
        conn_close(c, LOG_WARN, "no usable peer certificate");
        return -1;
    }
    if (memcmp(id, n->self, 32) == 0) {
        if (c->dial) {
            c->dial->self = 1;
            log_conn(c, LOG_INFO, "this address is our own node; not dialling it again");
        }
        conn_close(c, LOG_DEBUG, "connection to self");
        return -1;
    }
    struct peer *p = peer_find(n, id);
    if (!p) { /* verify_cb checked already; keep the invariant local */
        n->st.refused++;
        conn_close(c, LOG_WARN, "peer not in the validator set");
        return -1;
    }
    c->peer = p;
    p->bytes_in += c->pre_in;
    p->bytes_out += c->pre_out;
    c->pre_in = c->pre_out = 0;
    if (c->dial) c->dial->known = p;
    uint8_t hello[HELLO_LEN];
    put32(hello, HELLO_VERSION);
    put32(hello + 4, (uint32_t)(c->dial_stamp >> 32));
    put32(hello + 8, (uint32_t)c->dial_stamp);
    return frame_write(c, NET_TYPE_HELLO, hello, sizeof hello) ? -1 : 0;
}

/* Run OpenSSL over what has arrived: handshake, then frames. */
static void conn_drive(struct conn *c)
{
    if (c->closing) return;
    if (!c->hs_done) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (conn_flush(c)) return;
            if (e == SSL_ERROR_WANT_READ) return;
            refuse(c, r, "handshake failed: ");
            return;
        }
        if (conn_flush(c)) return;
        c->hs_done = 1;
        if (conn_identify(c)) return;
    }
    while (!c->closing) {
        uint8_t *dst;
        size_t want;
        if (c->hdr_have < NET_FRAME_HEADER) {
            dst = c->hdr + c->hdr_have;
            want = NET_FRAME_HEADER - c->hdr_have;
        } else {
            dst = c->rx + c->rx_have;
            want = c->plen - c->rx_have;
        }
        ERR_clear_error();
        int r = SSL_read(c->ssl, dst, (int)(want > INT32_MAX ? INT32_MAX : want));
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (conn_flush(c)) return;
            if (e == SSL_ERROR_WANT_READ) return;
            if (e == SSL_ERROR_ZERO_RETURN) {
                conn_close(c, LOG_INFO, "closed by peer");
            } else if (!c->authed) {
                refuse(c, r, "refused by peer: ");
            } else {
                char why[200];
                tls_reason(c, r, why, sizeof why);
                c->tls_dead = 1;
                conn_close(c, LOG_WARN, "TLS error: %s", why);
            }
            return;
        }
        if (c->hdr_have < NET_FRAME_HEADER) {
            c->hdr_have += (size_t)r;
            if (c->hdr_have < NET_FRAME_HEADER) continue;
            if (frame_header(c)) return;
            if (c->plen == 0) frame_done(c);
            continue;
        }
        c->rx_have += (size_t)r;
        if (c->rx_have == c->plen) frame_done(c);
    }
}

/* ---- connections ------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = h->data;
    *buf = uv_buf_init((char *)c->n->rbuf, sizeof c->n->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (nread == 0 || c->closing) return;
    if (nread < 0) {
        if (nread == UV_EOF)
            conn_close(c, c->authed ? LOG_INFO : LOG_WARN, "connection closed by peer%s",
                       c->authed ? "" : " before HELLO");
        else {
            c->tcp_dead = 1;
            conn_close(c, LOG_INFO, "read failed: %s", uv_strerror((int)nread));
        }
        return;
    }
    count_in(c, (size_t)nread);
    if (BIO_write(c->rbio, buf->base, (int)nread) != (int)nread) {
        c->tcp_dead = 1;
        conn_close(c, LOG_ERROR, "out of memory");
        return;
    }
    conn_drive(c);
}

static void on_conn_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->closing) {
        conn_release(c); /* the peer did not take our shutdown in time */
        return;
    }
    if (!c->authed) {
        c->n->st.timeouts++;
        conn_close(c, LOG_WARN, "no HELLO within %u ms", c->n->hs_timeout);
    }
}

static struct conn *conn_new(struct net *n, int outbound)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ssl = SSL_new(n->ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        SSL_free(c->ssl);
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        free(c);
        return NULL;
    }
    BIO_set_mem_eof_return(c->rbio, -1);
    BIO_set_mem_eof_return(c->wbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_ex_data(c->ssl, verify_idx, c);
    c->n = n;
    c->outbound = outbound;
    uv_tcp_init(n->loop, &c->tcp);
    uv_timer_init(n->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    n->handles += 2;
    c->next = n->conns;
    if (n->conns) n->conns->prev = c;
    n->conns = c;
    n->st.conns++;
    uv_timer_start(&c->timer, on_conn_timer, n->hs_timeout, 0);
    return c;
}

static void conn_start_io(struct conn *c)
{
    c->connected = 1;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 30);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc) {
        c->tcp_dead = 1;
        conn_close(c, LOG_WARN, "read_start: %s", uv_strerror(rc));
        return;
    }
    conn_drive(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct net *n = server->data;
    if (status < 0 || n->stopping) return;
    struct conn *c = conn_new(n, 0);
    if (!c) {
        log_error("net", "%s: out of memory accepting a connection", n->tag);
        return;
    }
    n->st.accepted++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
        conn_close(c, LOG_WARN, "accept failed");
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
        sockaddr_str(c->addr, sizeof c->addr, (struct sockaddr *)&ss);
    if (n->st.conns > n->max_conns) {
        c->tcp_dead = 1;
        conn_close(c, LOG_WARN, "too many connections (%u)", n->max_conns);
        return;
    }
    SSL_set_accept_state(c->ssl);
    conn_start_io(c);
}

/* ---- dialling --------------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->closing) return;
    if (status < 0) {
        conn_close(c, LOG_DEBUG, "connect failed: %s", uv_strerror(status));
        return;
    }
    SSL_set_connect_state(c->ssl);
    conn_start_io(c);
}

static void dial_connect(struct dial *d, const struct sockaddr *sa)
{
    struct net *n = d->n;
    struct conn *c = conn_new(n, 1);
    if (!c) {
        log_error("net", "%s: out of memory dialling %s:%d", n->tag, d->host, d->port);
        dial_schedule(d);
        return;
    }
    n->st.dialled++;
    c->dial = d;
    d->conn = c;
    sockaddr_str(c->addr, sizeof c->addr, sa);
    uint64_t stamp = clock_wall_ms() * 1000;
    c->dial_stamp = stamp > n->last_stamp ? stamp : n->last_stamp + 1;
    n->last_stamp = c->dial_stamp;
    c->connect_req.data = c;
    if (n->st.conns > n->max_conns) {
        conn_close(c, LOG_WARN, "too many connections (%u)", n->max_conns);
        return;
    }
    int rc = uv_tcp_connect(&c->connect_req, &c->tcp, sa, on_connect);
    if (rc) conn_close(c, LOG_DEBUG, "connect failed: %s", uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct dial *d = req->data;
    struct net *n = d->n;
    d->resolving = 0;
    n->handles--;
    if (n->stopping) {
        uv_freeaddrinfo(res);
        net_maybe_free(n);
        return;
    }
    if (status < 0 || !res) {
        log_warn("net", "%s: cannot resolve %s: %s", n->tag, d->host, uv_strerror(status));
        dial_schedule(d);
    } else {
        dial_connect(d, res->ai_addr);
    }
    uv_freeaddrinfo(res);
}

static void on_dial_timer(uv_timer_t *t)
{
    struct dial *d = t->data;
    struct net *n = d->n;
    if (n->stopping || d->conn || d->resolving || d->self) return;
    if (d->known && d->known->active) {
        /* That node is connected by another way (it dialled us): look again
         * later; a disconnect kicks this timer at once. */
        uv_timer_start(&d->timer, on_dial_timer, n->backoff_max, 0);
        return;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", d->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    d->gai.data = d;
    int rc = uv_getaddrinfo(n->loop, &d->gai, on_resolved, d->host, port, &hints);
    if (rc) {
        log_warn("net", "%s: cannot resolve %s: %s", n->tag, d->host, uv_strerror(rc));
        dial_schedule(d);
        return;
    }
    d->resolving = 1;
    n->handles++;
}

static void dial_schedule(struct dial *d)
{
    struct net *n = d->n;
    if (n->stopping || d->self) return;
    unsigned delay = d->backoff;
    d->backoff = d->backoff >= n->backoff_max / 2 ? n->backoff_max : d->backoff * 2;
    uv_timer_start(&d->timer, on_dial_timer, delay, 0);
}

int net_add_peer(struct net *n, const char *host, int port)
{
    if (!host || !host[0] || strlen(host) >= sizeof((struct dial *)0)->host || port <= 0 ||
        port > 65535)
        return TALLY_EINVAL;
    if (n->ndials >= NET_MAX_PEERS_DIAL) return TALLY_EFULL;
    struct dial *d = calloc(1, sizeof *d);
    if (!d) return TALLY_ENOMEM;
    d->n = n;
    snprintf(d->host, sizeof d->host, "%s", host);
    d->port = port;
    d->backoff = n->backoff_min;
    uv_timer_init(n->loop, &d->timer);
    d->timer.data = d;
    n->handles++;
    d->next = n->dials;
    n->dials = d;
    n->ndials++;
    uv_timer_start(&d->timer, on_dial_timer, 0, 0);
    return 0;
}

/* ---- start / stop ----------------------------------------------------- */

static int ctx_setup(struct net *n, const struct net_cfg *cfg)
{
    n->ctx = SSL_CTX_new(TLS_method());
    if (!n->ctx) return TALLY_ENOMEM;
    const char *what = NULL;
    if (!SSL_CTX_set_min_proto_version(n->ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(n->ctx, TLS1_3_VERSION))
        what = "TLS 1.3 unavailable";
    else if (SSL_CTX_use_certificate_file(n->ctx, cfg->cert_path, SSL_FILETYPE_PEM) != 1)
        what = "cannot load certificate";
    else if (SSL_CTX_use_PrivateKey_file(n->ctx, cfg->key_path, SSL_FILETYPE_PEM) != 1)
        what = "cannot load private key";
    else if (SSL_CTX_check_private_key(n->ctx) != 1)
        what = "private key does not match the certificate";
    else if (SSL_CTX_load_verify_locations(n->ctx, cfg->ca_path, NULL) != 1)
        what = "cannot load CA certificate";
    if (what) {
        char e[160] = "";
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        log_error("net", "%s (%s; %s)", what, cfg->cert_path, e);
        ERR_clear_error();
        return TALLY_ECONFIG;
    }
    SSL_CTX_set_verify(n->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
    SSL_CTX_set_verify_depth(n->ctx, 2);
    SSL_CTX_set_mode(n->ctx, SSL_MODE_NO_AUTO_CHAIN); /* peers have the CA: send the leaf only */
    SSL_CTX_set_num_tickets(n->ctx, 0);
    SSL_CTX_set_session_cache_mode(n->ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(n->ctx, SSL_OP_NO_TICKET);
    return 0;
}

static int listen_start(struct net *n, const struct net_cfg *cfg)
{
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->listen_port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    uv_getaddrinfo_t req;
    int rc = uv_getaddrinfo(n->loop, &req, NULL, cfg->listen_host, port, &hints);
    if (rc) {
        log_error("net", "cannot resolve listen address %s: %s", cfg->listen_host, uv_strerror(rc));
        return TALLY_EIO;
    }
    uv_tcp_init(n->loop, &n->listener);
    n->listener.data = n;
    n->handles++;
    n->listening = 1;
    rc = uv_tcp_bind(&n->listener, req.addrinfo->ai_addr, 0);
    uv_freeaddrinfo(req.addrinfo);
    if (!rc) rc = uv_listen((uv_stream_t *)&n->listener, 128, on_connection);
    if (rc) {
        log_error("net", "cannot listen on %s:%d: %s", cfg->listen_host, cfg->listen_port,
                  uv_strerror(rc));
        return TALLY_EIO;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&n->listener, (struct sockaddr *)&ss, &len) == 0)
        n->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

int net_start(struct net **out, uv_loop_t *loop, const struct net_cfg *cfg, net_frame_fn on_frame,
              net_peer_fn on_peer, void *ctx)
{
    if (!cfg || !loop || !on_frame || !on_peer || !cfg->ca_path || !cfg->cert_path ||
        !cfg->key_path || !cfg->allowed_ids || cfg->nallowed == 0 ||
        cfg->max_frame > MAX_FRAME_LIMIT || cfg->listen_port < 0 || cfg->listen_port > 65535)
        return TALLY_EINVAL;
    /* A write to a socket the peer reset raises SIGPIPE, which would end the
     * process: take it as the EPIPE error instead (unless someone set a handler). */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
    if (verify_idx < 0) verify_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (verify_idx < 0) return TALLY_ENOMEM;
    struct net *n = calloc(1, sizeof *n);
    if (!n) return TALLY_ENOMEM;
    n->loop = loop;
    n->on_frame = on_frame;
    n->on_peer = on_peer;
    n->cb_ctx = ctx;
    n->max_frame = cfg->max_frame ? cfg->max_frame : NET_DEFAULT_MAX_FRAME;
    n->max_queue = cfg->max_queue ? cfg->max_queue : NET_DEFAULT_MAX_QUEUE;
    n->backoff_min = cfg->backoff_min_ms ? cfg->backoff_min_ms : NET_DEFAULT_BACKOFF_MIN;
    n->backoff_max = cfg->backoff_max_ms ? cfg->backoff_max_ms : NET_DEFAULT_BACKOFF_MAX;
    if (n->backoff_max < n->backoff_min) n->backoff_max = n->backoff_min;
    n->hs_timeout = cfg->hs_timeout_ms ? cfg->hs_timeout_ms : NET_DEFAULT_HS_TIMEOUT;
    n->max_conns = cfg->max_conns ? cfg->max_conns : NET_DEFAULT_MAX_CONNS;

    int rc = x509_cert_node_id(n->self, cfg->ca_path, cfg->cert_path);
    if (rc) {
        log_error("net", "certificate %s is not usable with CA %s: %s", cfg->cert_path,
                  cfg->ca_path, tally_strerror(rc));
        net_free(n);
        return TALLY_ECONFIG;
    }
    hex8(n->tag, n->self);
    if ((rc = ctx_setup(n, cfg))) {
        net_free(n);
        return rc;
    }
    n->peers = calloc(cfg->nallowed, sizeof *n->peers);
    if (!n->peers) {
        net_free(n);
        return TALLY_ENOMEM;
    }
    for (size_t i = 0; i < cfg->nallowed; i++) {
        if (peer_find(n, cfg->allowed_ids[i])) continue;
        struct peer *p = &n->peers[n->npeers++];
        memcpy(p->id, cfg->allowed_ids[i], 32);
        p->self = memcmp(p->id, n->self, 32) == 0;
    }
    if (cfg->listen_host && (rc = listen_start(n, cfg))) {
        n->stopping = 1;
        if (n->listening)
            uv_close((uv_handle_t *)&n->listener, on_net_handle_closed); /* frees n */
        else
            net_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

void net_stop(struct net *n)
{
    if (!n || n->stopping) return;
    n->stopping = 1;
    if (n->listening) uv_close((uv_handle_t *)&n->listener, on_net_handle_closed);
    for (struct dial *d = n->dials; d; d = d->next) {
        d->timer.data = n;
        uv_close((uv_handle_t *)&d->timer, on_net_handle_closed);
        if (d->resolving) uv_cancel((uv_req_t *)&d->gai);
    }
    for (struct conn *c = n->conns; c; c = c->next) conn_close(c, LOG_DEBUG, "stopping");
    net_maybe_free(n);
}

/* ---- sending and queries ---------------------------------------------- */

static int send_to(struct net *n, struct peer *p, uint8_t type, const uint8_t *payload, size_t len)
{
    struct conn *c = p->active;
    if (!c || c->closing) return TALLY_ENOTFOUND;
    size_t queued =
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + BIO_ctrl_pending(c->wbio);
    if (queued > 0 && queued + NET_FRAME_HEADER + len > n->max_queue) return TALLY_EFULL;
    int rc = frame_write(c, type, payload, len);
    if (!rc) p->frames_out++;
    return rc;
}

int net_send(struct net *n, const uint8_t peer_id[32], uint8_t type, const uint8_t *payload,
             size_t len)
{
    if (type == NET_TYPE_HELLO || (len && !payload) || n->stopping) return TALLY_EINVAL;
    if (len > n->max_frame) return TALLY_ETOOBIG;
    struct peer *p = peer_find(n, peer_id);
    if (!p) return TALLY_ENOTFOUND;
    return send_to(n, p, type, payload, len);
}

int net_broadcast(struct net *n, uint8_t type, const uint8_t *payload, size_t len)
{
    if (type == NET_TYPE_HELLO || (len && !payload) || n->stopping) return TALLY_EINVAL;
    if (len > n->max_frame) return TALLY_ETOOBIG;
    int sent = 0;
    for (size_t i = 0; i < n->npeers && !n->stopping; i++) {
        struct peer *p = &n->peers[i];
        if (!p->active) continue;
        int rc = send_to(n, p, type, payload, len);
        if (rc == 0)
            sent++;
        else if (rc == TALLY_EFULL)
            p->dropped++;
    }
    return sent;
}

size_t net_peers(const struct net *n, struct net_peer_info *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n->npeers; i++) {
        const struct peer *p = &n->peers[i];
        if (p->self) continue;
        if (k < max) {
            struct net_peer_info *o = &out[k];
            memset(o, 0, sizeof *o);
            memcpy(o->id, p->id, 32);
            snprintf(o->addr, sizeof o->addr, "%s", p->addr);
            o->connected = p->active != NULL;
            o->outbound = p->outbound;
            o->bytes_in = p->bytes_in;
            o->bytes_out = p->bytes_out;
            o->frames_in = p->frames_in;
            o->frames_out = p->frames_out;
            o->dropped = p->dropped;
            if (p->active)
                o->queued = uv_stream_get_write_queue_size((uv_stream_t *)&p->active->tcp);
        }
        k++;
    }
    return k;
}

int net_listen_port(const struct net *n)
{
    return n->port;
}

void net_self_id(const struct net *n, uint8_t id[32])
{
    memcpy(id, n->self, 32);
}

void net_stats(const struct net *n, struct net_stats *out)
{
    *out = n->st;
}

const char *net_errmsg(const struct net *n)
{
    return n->errmsg;
}
