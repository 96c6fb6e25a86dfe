/* P2P transport: framed messages between validators over TLS 1.3 (OpenSSL
 * with memory BIOs on a libuv loop), mutually authenticated against the chain
 * CA. See docs/net.md for the wire format and policies.
 *
 * Identity: a peer's node ID is the Ed25519 public key in its certificate. A
 * peer whose certificate is not from the chain CA, who sends none, or whose ID
 * is not in the allowed set is refused during the handshake (logged with the
 * reason). A peer counts as connected only after its first authenticated
 * frame (the HELLO every side sends once its handshake is done); at most one
 * connection per peer is kept, the one dialled by the lower node ID.
 *
 * Threading: everything runs on the loop thread; no call is thread-safe.
 * net_start sets SIGPIPE to SIG_IGN if it has the default action (a peer
 * that resets a connection must not end the process). */
#ifndef TALLY_NET_NET_H
#define TALLY_NET_NET_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "util/err.h"

#define NET_DEFAULT_MAX_FRAME   (16u << 20) /* payload bytes */
#define NET_DEFAULT_MAX_QUEUE   (32u << 20) /* bytes waiting to be written, per peer */
#define NET_DEFAULT_BACKOFF_MIN 100         /* ms */
#define NET_DEFAULT_BACKOFF_MAX 5000        /* ms */
#define NET_DEFAULT_HS_TIMEOUT  5000        /* ms from TCP connect to the peer's HELLO */
#define NET_DEFAULT_MAX_CONNS   256         /* open connections, any state */
#define NET_MAX_PEERS_DIAL      1024        /* net_add_peer entries */
#define NET_FRAME_HEADER        5           /* u32 big-endian payload length, u8 type */
#define NET_TYPE_HELLO          0           /* reserved for the transport */

struct net;

struct net_cfg {
    const char *listen_host;          /* NULL: do not listen (outbound only) */
    int listen_port;                  /* 0: ephemeral (see net_listen_port) */
    const char *ca_path;              /* chain CA certificate (PEM) */
    const char *cert_path;            /* this node's certificate (PEM, issued by the CA) */
    const char *key_path;             /* this node's Ed25519 private key (PEM) */
    const uint8_t (*allowed_ids)[32]; /* validator IDs (may include our own); copied */
    size_t nallowed;                  /* >= 1 */
    size_t max_frame;                 /* max payload bytes sent or accepted; 0: default */
    size_t max_queue;                 /* per-peer send queue bound in bytes; 0: default */
    unsigned backoff_min_ms;          /* reconnect back-off start; 0: default */
    unsigned backoff_max_ms;          /* reconnect back-off cap; 0: default */
    unsigned hs_timeout_ms;           /* 0: default */
    unsigned max_conns;               /* 0: default */
};

/* A frame from an authenticated peer. payload is borrowed: valid only during
 * the call. type is never NET_TYPE_HELLO. The callback may call net_send,
 * net_broadcast and net_stop. */
typedef void (*net_frame_fn)(void *ctx, const uint8_t peer_id[32], uint8_t type,
                             const uint8_t *payload, size_t len);
/* A peer became connected (up = 1: first authenticated frame received on its
 * first live connection) or disconnected (up = 0: its last live connection
 * closed). Calls for one peer alternate, starting with up = 1. Not called for
 * a peer that replaces its connection without a gap. */
typedef void (*net_peer_fn)(void *ctx, const uint8_t peer_id[32], int up);

/* Load the certificates and key, check that our certificate is from the CA
 * and matches the key, start listening. *out is valid until net_stop.
 * Callbacks run on the loop thread, never after net_stop. Errors:
 * TALLY_EINVAL (bad cfg: no allowed IDs, max_frame over 256 MiB),
 * TALLY_ECONFIG (unreadable or mismatched certificate/key/CA; detail logged),
 * TALLY_EIO (cannot listen: address in use etc.), TALLY_ENOMEM. */
TALLY_WUR int net_start(struct net **out, uv_loop_t *loop, const struct net_cfg *cfg,
                        net_frame_fn on_frame, net_peer_fn on_peer, void *ctx);

/* Port actually listened on (useful with listen_port 0); 0 if not listening. */
int net_listen_port(const struct net *n);

/* This node's ID (from its certificate). */
void net_self_id(const struct net *n, uint8_t id[32]);

/* Dial host:port (name or address) now and whenever that connection is down,
 * with exponential back-off between attempts. The address is not deduplicated
 * against inbound connections: duplicates resolve by node ID. An address that
 * turns out to be this node is dropped quietly. Errors: TALLY_EINVAL (bad
 * port or host), TALLY_EFULL (NET_MAX_PEERS_DIAL reached), TALLY_ENOMEM. */
TALLY_WUR int net_add_peer(struct net *n, const char *host, int port);

/* Queue one frame to a connected peer. The frame is encrypted and handed to
 * the socket before the call returns; the payload is not retained. Errors:
 * TALLY_EINVAL (type NET_TYPE_HELLO), TALLY_ETOOBIG (len > max_frame),
 * TALLY_ENOTFOUND (peer not connected), TALLY_EFULL (the peer's send queue
 * holds bytes and this frame would take it past max_queue; nothing queued),
 * TALLY_EIO (the connection failed; it is being closed). */
TALLY_WUR int net_send(struct net *n, const uint8_t peer_id[32], uint8_t type,
                       const uint8_t *payload, size_t len);

/* net_send to every connected peer. Returns the number of peers the frame was
 * queued to (peers whose queue is full are skipped and counted in their
 * `dropped`), or TALLY_EINVAL / TALLY_ETOOBIG as net_send. */
int net_broadcast(struct net *n, uint8_t type, const uint8_t *payload, size_t len);

struct net_peer_info {
    uint8_t id[32];
    char addr[64];     /* "ip:port" of the current or last connection; "" if never */
    int connected;     /* authenticated connection up */
    int outbound;      /* the current connection was dialled by us */
    uint64_t bytes_in; /* TLS bytes received / sent, all connections so far */
    uint64_t bytes_out;
    uint64_t frames_in; /* application frames delivered / queued */
    uint64_t frames_out;
    uint64_t dropped; /* broadcasts skipped because the queue was full */
    size_t queued;    /* bytes waiting in the send queue now */
};

/* Fill out[0..max) with one entry per allowed ID other than our own, in the
 * order of cfg.allowed_ids; returns the number of such peers (which may
 * exceed max). */
size_t net_peers(const struct net *n, struct net_peer_info *out, size_t max);

struct net_stats {
    uint64_t accepted;     /* inbound TCP connections */
    uint64_t dialled;      /* outbound TCP connection attempts */
    uint64_t refused;      /* handshakes that failed (bad/missing cert, unknown ID, not TLS) */
    uint64_t proto_errors; /* connections dropped for a malformed or oversized frame */
    uint64_t timeouts;     /* connections without a HELLO within hs_timeout */
    uint64_t duplicates;   /* connections closed as duplicates of another */
    unsigned conns;        /* open connections now, any state */
};

void net_stats(const struct net *n, struct net_stats *out);

/* Human detail of the last refused or dropped connection ("" if none); static
 * storage inside n, valid until the next loop callback. */
const char *net_errmsg(const struct net *n);

/* Close everything asynchronously: TLS close_notify, then sockets; memory is
 * released once the loop has run the close callbacks. n must not be used after
 * this call; no callback runs after it. */
void net_stop(struct net *n);

#endif
