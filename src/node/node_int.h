/* Internals shared by the node/ sources (not for other modules). */
#ifndef TALLY_NODE_NODE_INT_H
#define TALLY_NODE_NODE_INT_H
#include <stdint.h>
#include <uv.h>
#include "chain/block.h"
#include "consensus/pbft.h"
#include "crypto/nodekey.h"
#include "exec/exec.h"
#include "exec/ledger.h"
#include "net/net.h"
#include "node/config.h"
#include "pool/pool.h"
#include "rpc/rpc.h"
#include "store/store.h"
#include "sync/sync.h"
#include "util/buf.h"

#define NODE_DROPPED_MAX     8192 /* remembered dropped/refused transactions */
#define NODE_RECENT_BLOCKS   64   /* committed blocks kept decoded in memory */
#define NODE_LATENCY_BUCKETS 12   /* commit latency histogram (metrics.c) */
#define NODE_RECOVER_CHUNK   128  /* transactions per sender-recovery work item */
#define NODE_GOSSIP_CHUNK    1024 /* ... of gossip: their signatures are checked in one batch */
/* Recovery work items on the workers at once: the rest wait in the node, so
 * that a proposal's recovery overtakes them. */
#define NODE_RECOVER_RUNNING     4
#define NODE_SUBMIT_MAX_INFLIGHT 65536 /* transactions in recovery at once */
#define NODE_FRAME_PBFT          1     /* net frame types (sync/ uses 0x10..0x12) */
#define NODE_FRAME_TXS           2
#define NODE_GOSSIP_MAX          (4u << 20) /* bytes of transactions per gossip frame */
#define NODE_MERGE_MAX           100000     /* pooled transactions sent in a pool merge */
#define NODE_MERGE_VC_MAX        1024       /* ... on a view change: only a small pool */
#define NODE_SYNC_GRACE_MS       150        /* one block behind: wait this long before syncing */
#define NODE_PBFT_STATE_KEY      "pbft"     /* key in STORE_DB_CONSENSUS */
#define NODE_COMMIT_DEPTH        4          /* blocks prepared and not yet durable */
#define NODE_SENDERS_BITS        16         /* 2^16 remembered senders (~3.5 MB) */
#define NODE_EXEC_CHUNK          512        /* proposal senders per recovery work item */

struct node;
struct node_writer; /* node.c: the block writer thread */

/* A sender recovered recently, by transaction hash (see node_sender_find). */
enum { SENDER_EMPTY = 0, SENDER_QUEUED, SENDER_RUNNING, SENDER_KNOWN };
struct sender_slot {
    uint8_t hash[32];
    uint8_t sender[20];
    uint8_t state;
};

/* One eth_sendRawTransaction / merge item waiting for sender recovery. */
struct submit_item {
    char *hex; /* owned copy of the raw transaction's hex (decoded on a worker) */
    size_t hex_len;
    uint8_t *raw; /* or: owned raw bytes gossiped by a peer */
    size_t raw_len;
    int from_peer;    /* gossiped by a peer: no reply, not forwarded again */
    int sender_known; /* gossip of a transaction whose sender we know: no recovery */
    int has_hint;     /* gossip: the sending peer's recovered public key is in hint */
    uint8_t hint[64];
    uint8_t hash[32]; /* gossip only: keccak(raw), marked pending in the sender cache */
    uint8_t sender[20];
    struct tx *tx;
    struct rpc_req *req; /* NULL for items of a WS merge (answered by the group) */
    struct merge_op *merge;
    size_t merge_index;
    int err;
    char why[256];
};

struct submit_work {
    uv_work_t work;
    struct node *n;
    struct submit_work *next; /* waiting for a free worker slot */
    size_t count, cap;
    int hint_batch, hint_fallback; /* gossip signatures checked in a batch; it failed */
    struct submit_item items[];
};

/* A WS "merge" op: answered once all its items are admitted or refused. */
struct merge_op {
    struct rpc_req *req;
    size_t total, done;
    void *results; /* cJSON array of refused items */
};

struct dropped_tx {
    uint8_t hash[32];
    char reason[160];
};

struct recent_block {
    struct block *b;
    struct receipt *rcpts;
};

/* A block built (as leader) or executed (as replica) whose state is pending
 * in the ledger until PBFT commits it. */
struct node_cur {
    struct block *b;
    struct receipt *rcpts;
    uint64_t ns; /* building or executing it took this long */
};

struct pbft_queued; /* events raised while pbft_step's updates are performed */
struct held_msg;    /* a PBFT message held until the state it depends on is durable */
struct exec_job;
struct node_sub; /* api_evm.c: an eth_subscribe subscription */

struct node {
    struct node_cfg cfg;
    struct genesis genesis;
    struct chain_rules rules;
    struct nodekey *key;
    uint8_t id[32];
    uint8_t address[20];
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t build_timer;
    uv_check_t check;
    struct store *store;
    struct ledger *ledger;
    struct pool *pool;
    struct rpc_server *rpc;
    struct tx **cands;                     /* scratch for pool_select, max_block_txs */
    struct submit_work *collect;           /* client items of this loop turn, not yet dispatched */
    struct submit_work *collect_peer;      /* gossiped items of this loop turn */
    uint64_t hint_batches, hint_fallbacks; /* gossip signature batches, and failed ones */
    struct submit_work *waiting, *waiting_tail; /* dispatched, waiting for a worker */
    unsigned recover_running;                   /* ... and on the workers */
    struct sender_slot *senders;                /* 2^NODE_SENDERS_BITS, direct-mapped by hash */
    size_t inflight;                            /* transactions in sender recovery */
    uint64_t last_block_ms;
    int stopping;
    int build_wanted; /* transactions were admitted since the last build attempt */
    struct dropped_tx dropped[NODE_DROPPED_MAX];
    size_t dropped_next;
    struct recent_block recent[NODE_RECENT_BLOCKS]; /* ring by height */
    uint64_t committed_txs;                         /* since genesis */
    uint64_t started_ms;

    /* consensus (consensus.c) */
    struct pbft *pbft;
    struct pbft_update up;
    uint32_t nvals, self;
    uint8_t (*val_ids)[32]; /* borrowed from genesis (or our own ID alone) */
    uv_timer_t pbft_timer;
    uv_timer_t sync_defer_timer; /* a one-block sync request's grace period */
    uint64_t sync_defer_height;  /* ... for this height (0: none) */
    uint64_t pbft_timer_at;      /* when the core wants its TIMEOUT (monotonic ms) */
    int in_step;
    struct pbft_queued *q_head, *q_tail;
    struct node_cur cur;
    int build_req; /* PBFT asked this node to propose (build_height, build_view) */
    uint64_t build_height, build_view;
    int txs_reported;      /* last PBFT_EV_TXS pending value, -1 before the first */
    size_t txs_idle_count; /* pool size when a build found nothing ready */
    struct exec_job *exec; /* proposal whose senders are being recovered */
    uint64_t last_commit_ms;
    uint64_t view_changes; /* views entered above 0 */
    /* network */
    struct net *net;
    struct sync *sync;
    struct buf gossip; /* u32 count || (u32 len || raw) * count, from our own clients */
    size_t gossip_count;
    uint64_t gossip_sent, gossip_received;
    /* the writer (node.c): blocks, and the consensus state, in order */
    struct node_writer *writer;
    int fatal;         /* a write failed: node_run returns it */
    uint8_t *tip_cert; /* certificate of the tip block (in memory) */
    size_t tip_cert_len;
    uint64_t persist_seq;       /* consensus-state writes handed to the writer */
    uint64_t persist_done;      /* ... of which durable */
    struct held_msg *held_head; /* PBFT messages waiting for a durable state */
    struct held_msg *held_tail;
    /* eth_subscribe (api_evm.c) */
    struct node_sub *subs;
    uint64_t sub_seq;
    /* /metrics (metrics.c): proposal-to-durable-commit latency of the blocks
     * agreed by consensus here (not synced ones) */
    uint64_t commit_latency_buckets[NODE_LATENCY_BUCKETS];
    uint64_t commit_latency_count;
    double commit_latency_sum_s;
    uint64_t blocks_committed; /* since start-up, consensus and sync */
};

/* api.c: register JSON-RPC methods and WS ops. */
int node_api_register(struct node *n);
/* api_evm.c: a block is committed (durable): notify the subscribers. */
void node_api_block_committed(struct node *n, const struct block *b, const struct receipt *rcpts);
/* api_evm.c: drop every subscription (node shutdown). */
void node_api_close(struct node *n);

/* metrics.c: serve GET /metrics (Prometheus text format). Errors:
 * TALLY_ENOMEM. */
int node_metrics_register(struct node *n);
/* metrics.c: block b is durable; own: agreed by consensus here (its
 * latency is recorded), not applied by sync. */
void node_metrics_block(struct node *n, const struct block *b, int own);

/* submit.c: decode a raw transaction (hex) and queue it for recovery and
 * admission; the reply goes to req (JSON-RPC) or into merge. */
void node_submit_raw(struct node *n, struct rpc_req *req, struct merge_op *merge, size_t index,
                     const char *hex);
/* Dispatch the items collected this loop turn (called from the check handle). */
void node_submit_flush(struct node *n);

/* The sender cache: a transaction seen twice (gossip, then a proposal; a
 * proposal, then gossip) is recovered once. Direct-mapped and lossy: a newer
 * hash takes an older one's slot, which only costs a second recovery. The
 * hash covers the signature, so a hit is as good as recovering again.
 * node_sender_find returns SENDER_EMPTY, SENDER_QUEUED (gossip waiting for
 * a worker), SENDER_RUNNING (gossip on a worker) or SENDER_KNOWN (sender
 * copied out). */
int node_sender_find(const struct node *n, const uint8_t hash[32], uint8_t sender[20]);
/* Remember a recovered sender (KNOWN), or with sender NULL mark the hash
 * with state (QUEUED, RUNNING). */
void node_sender_put(struct node *n, const uint8_t hash[32], const uint8_t *sender, int state);
/* A pending recovery ended: forget the hash (if its slot still holds it). */
void node_sender_drop(struct node *n, const uint8_t hash[32]);

/* node.c */
void node_remember_dropped(struct node *n, const uint8_t hash[32], const char *reason);
const char *node_find_dropped(const struct node *n, const uint8_t hash[32]);
/* The committed block at height from memory or storage (caller block_free()s
 * only when *owned is set). Errors: TALLY_ENOTFOUND. */
int node_block_at(struct node *n, struct block **out, int *owned, uint64_t height);
/* If consensus asked this node to propose: build a block once enough
 * transactions are ready (k / interval) and fewer than NODE_COMMIT_DEPTH
 * blocks are being written, and hand it to consensus. */
void node_maybe_build(struct node *n);
/* Gossip a client-submitted transaction to peers (batched per loop turn). */
void node_gossip_add(struct node *n, const struct tx *tx);
/* Queue a raw transaction gossiped by a peer for recovery and admission;
 * hint: the sender's public key as the peer recovered it (64 bytes, or NULL),
 * checked here in batches instead of recovering. */
void node_submit_peer_raw(struct node *n, const uint8_t *raw, size_t len, const uint8_t *hint);

/* node.c: the ledger helpers (all building, executing and committing goes
 * through these). Blocks are built and executed on the tip (the newest
 * block committed in memory); a committed block goes to the writer thread
 * and clients see it (ledger_height, recent[], receipts) once its write is
 * durable. */
void node_ledger_discard(struct node *n);
/* Execute a received block (senders recovered) on the tip; on success it
 * becomes n->cur (owned by the node from then on). */
int node_ledger_execute(struct node *n, struct block *b, char *why, size_t whylen);
/* Commit n->cur with its certificate: it becomes the tip and is handed to
 * the writer. */
int node_ledger_commit_cur(struct node *n, const uint8_t *cert, size_t cert_len);
/* Execute and commit a certified block from sync the same way. On success
 * the node owns b; on failure it stays the caller's. */
int node_ledger_apply(struct node *n, struct block *b);
/* Hand the consensus state to the writer: durable after every block handed
 * before it, and before any handed after; returns its sequence number (0 on
 * failure: out of memory, or the node is stopping). Completion: n->persist_done,
 * then node_consensus_persisted(). */
uint64_t node_persist(struct node *n, const uint8_t *data, size_t len);
/* Wake the writer for the states handed since the last wake-up (called at
 * the end of each consensus step). */
void node_writer_kick(struct node *n);

/* consensus.c */
/* Gossip recoveries finished: a proposal waiting for them may go on. */
void node_exec_recheck(struct node *n);
/* n->cur was built as this node's proposal: hand it to PBFT. */
void node_consensus_proposal_ready(struct node *n, double build_ms);
/* PBFT asked for a block but no transaction is ready. */
void node_consensus_nothing_ready(struct node *n);
/* Start PBFT, the P2P transport and sync (after the ledger is open). */
int node_consensus_start(struct node *n);
void node_consensus_stop(struct node *n);
void node_consensus_free(struct node *n);
/* Check-phase work: flush gossip, report pool changes to PBFT. */
void node_consensus_check(struct node *n);
/* A consensus-state write is durable (n->persist_done moved): send the
 * messages that waited for it. */
void node_consensus_persisted(struct node *n);
/* Nonce of addr in the committed (written) state. */
uint64_t node_nonce_of(void *arg, const uint8_t addr[20]);

#endif
