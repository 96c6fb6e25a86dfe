/* Block sync: a node that is behind fetches certified blocks from its peers
 * and applies them in order (see docs/sync.md).
 *
 * Protocol (frames on the net/ transport, types below):
 *   STATUS  u64 height || hash(32) [|| u64 view]
 *                                            our committed head (and consensus
 *                                            view, for display); sent on connect
 *                                            and every status_ms
 *   GET     u64 from || u32 count            ask for blocks [from, from+count)
 *   BLOCKS  u64 from || u32 count || (u32 len || block_encode bytes) * count
 *                                            blocks with their commit certificates;
 *                                            fewer than asked (or 0) is allowed
 * All integers big-endian. A BLOCKS answer is capped at max_reply bytes (at
 * least one block).
 *
 * A syncing node keeps up to one request in flight per peer (several peers
 * at once), checks each received block's commit certificate with
 * pbft_cert_verify against the validator set and recovers the senders on
 * libuv worker threads, then hands the blocks to the host in height order.
 *
 * Threading: the loop thread only (workers only see immutable copies). */
#ifndef TALLY_SYNC_SYNC_H
#define TALLY_SYNC_SYNC_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "chain/block.h"
#include "consensus/pbft.h"
#include "store/store.h"
#include "util/err.h"

#define SYNC_FRAME_STATUS 0x10
#define SYNC_FRAME_GET    0x11
#define SYNC_FRAME_BLOCKS 0x12

#define SYNC_DEFAULT_BATCH     128
#define SYNC_DEFAULT_MAX_REPLY (8u << 20)
#define SYNC_MAX_BATCH         4096

/* What sync needs from the node. All run on the loop thread. */
struct sync_host {
    void *ctx;
    /* The tip: the newest block committed or applied, whose write may still
     * be in flight (what the next applied block links to). */
    void (*head)(void *ctx, uint64_t *height, uint8_t hash[32]);
    /* The durable head advertised in STATUS (only durable blocks are served);
     * NULL: head. */
    void (*durable_head)(void *ctx, uint64_t *height, uint8_t hash[32]);
    /* Send a frame to a peer: 0 or a negative TALLY_E* (the frame is dropped). */
    int (*send)(void *ctx, const uint8_t peer_id[32], uint8_t type, const uint8_t *p, size_t len);
    /* Execute and commit b (height = head + 1, certificate checked,
     * senders recovered, b->cert set); it becomes the head at once and
     * durable later. On success the host owns b; on failure b stays owned by
     * sync. 0, or a negative TALLY_E* (the block is refused; sync asks
     * another peer). */
    int (*apply)(void *ctx, struct block *b);
    /* Sync applied blocks up to height (the head), or finished a run. */
    void (*synced)(void *ctx, uint64_t height);
    /* The consensus view sent in STATUS (shown by peers); NULL: none. */
    uint64_t (*view)(void *ctx);
};

struct sync_cfg {
    struct pbft_validators vs;   /* copied */
    struct pbft_crypto crypto;   /* verify only; must be thread-safe */
    struct store *store;         /* to serve GET (read transactions) */
    size_t batch;                /* blocks per GET (0: SYNC_DEFAULT_BATCH) */
    size_t max_reply;            /* bytes per BLOCKS answer (0: SYNC_DEFAULT_MAX_REPLY) */
    unsigned status_ms;          /* STATUS period (0: 1000) */
    unsigned request_timeout_ms; /* a GET unanswered this long goes to another peer (0: 5000) */
};

struct sync;

/* Create the sync service on loop (it arms its status timer). Errors:
 * TALLY_EINVAL, TALLY_ENOMEM. Stop with sync_stop. */
TALLY_WUR int sync_new(struct sync **out, uv_loop_t *loop, const struct sync_cfg *cfg,
                       const struct sync_host *host);

/* Stop: no host callback runs afterwards; memory is released once the loop
 * has run the pending close/work callbacks. */
void sync_stop(struct sync *s);

/* A validator connected (up=1) or disconnected (up=0). */
void sync_on_peer(struct sync *s, const uint8_t peer_id[32], int up);

/* A STATUS/GET/BLOCKS frame arrived from peer_id (payload borrowed). Other
 * types are ignored. Malformed frames are logged and dropped. */
void sync_on_frame(struct sync *s, const uint8_t peer_id[32], uint8_t type, const uint8_t *p,
                   size_t len);

/* Consensus learned that peers have certified blocks up to at least height:
 * start syncing towards it (no-op if already there). */
void sync_request(struct sync *s, uint64_t height);

struct sync_status {
    int active;       /* fetching now */
    uint64_t start;   /* head when this sync began */
    uint64_t current; /* head now */
    uint64_t target;  /* highest height known at peers */
    size_t peers;     /* peers serving this sync */
    double blocks_per_s;
    uint64_t applied; /* blocks applied by sync since start-up */
};

void sync_get_status(const struct sync *s, struct sync_status *out);

/* Highest head height a connected peer reported (0 if none). */
uint64_t sync_peer_height(const struct sync *s, const uint8_t peer_id[32]);
/* The view a connected peer last reported (SYNC_VIEW_UNKNOWN if none). */
#define SYNC_VIEW_UNKNOWN UINT64_MAX
uint64_t sync_peer_view(const struct sync *s, const uint8_t peer_id[32]);

#endif
