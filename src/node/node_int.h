/* Internals shared by the node/ sources (not for other modules). */
#ifndef TALLY_NODE_NODE_INT_H
#define TALLY_NODE_NODE_INT_H
#include <stdint.h>
#include <uv.h>
#include "chain/block.h"
#include "crypto/nodekey.h"
#include "exec/exec.h"
#include "exec/ledger.h"
#include "node/config.h"
#include "pool/pool.h"
#include "rpc/rpc.h"
#include "store/store.h"

#define NODE_DROPPED_MAX         8192  /* remembered dropped/refused transactions */
#define NODE_RECENT_BLOCKS       64    /* committed blocks kept decoded in memory */
#define NODE_RECOVER_CHUNK       128   /* transactions per sender-recovery work item */
#define NODE_SUBMIT_MAX_INFLIGHT 65536 /* transactions in recovery at once */
#define NODE_COMMIT_DEPTH        2     /* blocks prepared and not yet durable */

struct node;
struct node_writer; /* node.c: the block writer thread */

/* One eth_sendRawTransaction / merge item waiting for sender recovery. */
struct submit_item {
    char *hex; /* owned copy of the raw transaction's hex (decoded on a worker) */
    size_t hex_len;
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
    size_t count;
    struct submit_item items[NODE_RECOVER_CHUNK];
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
    struct tx **cands;           /* scratch for pool_select, max_block_txs */
    struct submit_work *collect; /* items decoded this loop turn, not yet dispatched */
    size_t inflight;             /* transactions in sender recovery */
    uint64_t last_block_ms;
    int stopping;
    int build_wanted; /* transactions were admitted since the last build attempt */
    struct dropped_tx dropped[NODE_DROPPED_MAX];
    size_t dropped_next;
    struct recent_block recent[NODE_RECENT_BLOCKS]; /* ring by height */
    uint64_t committed_txs;                         /* since genesis */
    uint64_t started_ms;
    struct node_writer *writer; /* writes prepared blocks (node.c) */
    int fatal;                  /* a block's write failed: node_run returns it */
};

/* api.c: register JSON-RPC methods and WS ops. */
int node_api_register(struct node *n);

/* submit.c: decode a raw transaction (hex) and queue it for recovery and
 * admission; the reply goes to req (JSON-RPC) or into merge. */
void node_submit_raw(struct node *n, struct rpc_req *req, struct merge_op *merge, size_t index,
                     const char *hex);
/* Dispatch the items collected this loop turn (called from the check handle). */
void node_submit_flush(struct node *n);

/* node.c */
void node_remember_dropped(struct node *n, const uint8_t hash[32], const char *reason);
const char *node_find_dropped(const struct node *n, const uint8_t hash[32]);
/* The committed block at height from memory or storage (caller block_free()s
 * only when *owned is set). Errors: TALLY_ENOTFOUND. */
int node_block_at(struct node *n, struct block **out, int *owned, uint64_t height);
/* Build blocks while enough transactions are ready and fewer than
 * NODE_COMMIT_DEPTH blocks are being written; each is handed to the writer
 * thread, and clients see it (ledger_height, recent[], receipts) once its
 * write is durable. */
void node_maybe_build(struct node *n);
/* Nonce of addr in the committed (written) state. */
uint64_t node_nonce_of(void *arg, const uint8_t addr[20]);

#endif
