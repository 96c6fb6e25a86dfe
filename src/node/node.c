#include "node/node.h"
#include <signal.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "node/node_int.h"
#include "store/chainstore.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/log.h"

#define MOD "node"

uint64_t node_nonce_of(void *arg, const uint8_t addr[20])
{
    struct node *n = arg;
    struct account a;
    if (state_get_committed(ledger_state(n->ledger), &a, addr)) return 0;
    return a.nonce;
}

void node_remember_dropped(struct node *n, const uint8_t hash[32], const char *reason)
{
    struct dropped_tx *d = &n->dropped[n->dropped_next++ % NODE_DROPPED_MAX];
    memcpy(d->hash, hash, 32);
    snprintf(d->reason, sizeof d->reason, "%s", reason);
}

const char *node_find_dropped(const struct node *n, const uint8_t hash[32])
{
    size_t count = n->dropped_next < NODE_DROPPED_MAX ? n->dropped_next : NODE_DROPPED_MAX;
    for (size_t i = 0; i < count; i++) {
        /* newest first */
        const struct dropped_tx *d = &n->dropped[(n->dropped_next - 1 - i) % NODE_DROPPED_MAX];
        if (!memcmp(d->hash, hash, 32)) return d->reason;
    }
    return NULL;
}

int node_block_at(struct node *n, struct block **out, int *owned, uint64_t height)
{
    if (height > ledger_height(n->ledger)) return TALLY_ENOTFOUND;
    struct recent_block *r = &n->recent[height % NODE_RECENT_BLOCKS];
    if (r->b && r->b->h.height == height) {
        *out = r->b;
        *owned = 0;
        return 0;
    }
    struct store_txn *t;
    int rc = store_txn_begin(n->store, &t, 0);
    if (rc) return rc;
    rc = chainstore_block(t, out, height);
    store_txn_abort(t);
    *owned = 1;
    return rc;
}

static void remember_block(struct node *n, struct block *b, struct receipt *rcpts)
{
    struct recent_block *r = &n->recent[b->h.height % NODE_RECENT_BLOCKS];
    block_free(r->b);
    free(r->rcpts);
    r->b = b;
    r->rcpts = rcpts;
}

static void on_drop(void *arg, struct tx *tx, int err, const char *why)
{
    struct node *n = arg;
    char h[67], from[43];
    hex_encode(h, tx->hash, 32);
    hex_encode(from, tx->sender, 20);
    if (err == TALLY_ENONCE && strstr(why, "too high")) return;   /* wait for the gap to fill */
    if (err == TALLY_EGAS && strstr(why, "does not fit")) return; /* next block */
    if (err == TALLY_EFUNDS)
        log_info(MOD, "Dropped transaction due to not enough balance: %s from %s (%s)", h, from,
                 why);
    else
        log_info(MOD, "Dropped transaction %s from %s: %s", h, from, why);
    node_remember_dropped(n, tx->hash, why);
    pool_drop(n->pool, tx->hash);
}

static void on_build_timer(uv_timer_t *t)
{
    node_maybe_build(t->data);
}

static void arm_interval_timer(struct node *n, uint64_t now)
{
    uint64_t due = n->last_block_ms + n->cfg.block_interval_ms;
    uint64_t wait = due > now ? due - now : 0;
    uv_timer_start(&n->build_timer, on_build_timer, wait ? wait : 1, 0);
}

/* ---- ledger helpers: the only places node/ builds, executes and commits ---- */

void node_ledger_discard(struct node *n)
{
    if (!n->cur.b) return;
    ledger_discard(n->ledger);
    block_free(n->cur.b);
    free(n->cur.rcpts);
    n->cur.b = NULL;
    n->cur.rcpts = NULL;
}

/* Build the next block from the ready candidates, in consensus view `view`;
 * it becomes n->cur (pending). 0, TALLY_ENOTFOUND (all refused), or an error. */
static int node_ledger_build(struct node *n, size_t ready, uint64_t view)
{
    node_ledger_discard(n);
    struct block *b;
    struct receipt *rcpts;
    int rc = ledger_build(n->ledger, &b, &rcpts, n->cands, ready, n->address, clock_wall_ms(),
                          on_drop, n);
    if (rc == TALLY_ENOTFOUND) return rc; /* everything was refused (and dropped) */
    if (rc) {
        log_error(MOD, "building block %llu failed: %s (%s)",
                  (unsigned long long)ledger_height(n->ledger) + 1, tally_strerror(rc),
                  ledger_errmsg(n->ledger));
        return rc;
    }
    b->h.view = view; /* the header carries the view; the hash covers it */
    if ((rc = block_seal(b))) {
        ledger_discard(n->ledger);
        block_free(b);
        free(rcpts);
        return rc;
    }
    n->cur.b = b;
    n->cur.rcpts = rcpts;
    return 0;
}

int node_ledger_execute(struct node *n, struct block *b, char *why, size_t whylen)
{
    node_ledger_discard(n);
    struct receipt *rcpts;
    int rc = ledger_execute(n->ledger, &rcpts, b, why, whylen);
    if (rc) return rc;
    n->cur.b = b;
    n->cur.rcpts = rcpts;
    return 0;
}

/* Commit n->cur with its certificate. On success the block moves to the
 * recent ring. */
int node_ledger_commit_cur(struct node *n, const uint8_t *cert, size_t cert_len, double exec_ms)
{
    struct block *b = n->cur.b;
    struct receipt *rcpts = n->cur.rcpts;
    free(b->cert);
    b->cert = NULL;
    b->cert_len = 0;
    if (cert_len) {
        if (!(b->cert = malloc(cert_len))) return TALLY_ENOMEM;
        memcpy(b->cert, cert, cert_len);
        b->cert_len = cert_len;
    }
    uint64_t t1 = clock_mono_ns();
    int rc = ledger_commit(n->ledger, b, rcpts);
    n->cur.b = NULL;
    n->cur.rcpts = NULL;
    if (rc) {
        log_error(MOD, "committing block %llu failed: %s (%s)", (unsigned long long)b->h.height,
                  tally_strerror(rc), ledger_errmsg(n->ledger));
        block_free(b);
        free(rcpts);
        return rc;
    }
    node_after_commit(n, b, rcpts, exec_ms, (double)(clock_mono_ns() - t1) / 1e6, 1);
    return 0;
}

int node_ledger_apply(struct node *n, const struct block *b)
{
    node_ledger_discard(n);
    struct receipt *rcpts;
    char why[256] = "";
    uint64_t t0 = clock_mono_ns();
    int rc = ledger_execute(n->ledger, &rcpts, b, why, sizeof why);
    if (rc) {
        log_warn(MOD, "block %llu from sync does not execute: %s (%s)",
                 (unsigned long long)b->h.height, tally_strerror(rc), why);
        return rc;
    }
    uint64_t t1 = clock_mono_ns();
    rc = ledger_commit(n->ledger, b, rcpts);
    if (rc) {
        log_error(MOD, "committing synced block %llu failed: %s (%s)",
                  (unsigned long long)b->h.height, tally_strerror(rc), ledger_errmsg(n->ledger));
        free(rcpts);
        return rc;
    }
    node_after_commit(n, (struct block *)b, rcpts, (double)(t1 - t0) / 1e6,
                      (double)(clock_mono_ns() - t1) / 1e6, 0);
    return 0;
}

void node_after_commit(struct node *n, struct block *b, struct receipt *rcpts, double exec_ms,
                       double commit_ms, int own)
{
    n->last_block_ms = clock_wall_ms();
    n->committed_txs += b->ntx;
    pool_remove_committed(n->pool, b->txs, b->ntx, node_nonce_of, n);
    n->last_commit_ms = clock_mono_ns() / 1000000;
    n->txs_reported = -1; /* consensus must hear about the pool after every commit */
    n->txs_idle_count = SIZE_MAX;
    char h[67];
    hex_encode(h, b->hash, 32);
    log_msg(own ? LOG_INFO : LOG_DEBUG, MOD,
            "block %llu committed: %zu txs, hash %.18s.., view %llu, exec %.1f ms, commit %.1f "
            "ms, pool %zu%s",
            (unsigned long long)b->h.height, b->ntx, h, (unsigned long long)b->h.view, exec_ms,
            commit_ms, pool_count(n->pool), own ? "" : " (sync)");
    if (own)
        remember_block(n, b, rcpts);
    else
        free(rcpts);
}

void node_maybe_build(struct node *n)
{
    if (n->stopping) return;
    for (int rounds = 0; rounds < 8 && n->build_req; rounds++) {
        if (n->build_height != ledger_height(n->ledger) + 1) {
            n->build_req = 0;
            return;
        }
        size_t ready = pool_select(n->pool, n->cands, n->cfg.max_block_txs, node_nonce_of, n);
        if (!ready) {
            /* keep the request: consensus asks once per view, and takes the
             * proposal whenever transactions turn up */
            node_consensus_nothing_ready(n);
            return;
        }
        uint64_t now = clock_wall_ms();
        if (ready < n->cfg.min_block_txs && now < n->last_block_ms + n->cfg.block_interval_ms) {
            arm_interval_timer(n, now);
            return;
        }
        uint64_t t0 = clock_mono_ns();
        int rc = node_ledger_build(n, ready, n->build_view);
        if (rc == TALLY_ENOTFOUND) continue; /* all refused: try what is left */
        n->build_req = 0;
        if (rc) return; /* logged; consensus times out and moves on */
        node_consensus_proposal_ready(n, (double)(clock_mono_ns() - t0) / 1e6);
        return;
    }
}

static void on_check(uv_check_t *h)
{
    struct node *n = h->data;
    node_submit_flush(n);
    node_consensus_check(n);
    if (n->build_wanted) {
        n->build_wanted = 0;
        node_maybe_build(n);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct node *n = h->data;
    if (n->stopping) return;
    log_info(MOD, "received %s, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    n->stopping = 1;
    uv_timer_stop(&n->build_timer);
    uv_check_stop(&n->check);
    uv_signal_stop(&n->sigint);
    uv_signal_stop(&n->sigterm);
    if (n->rpc) rpc_server_stop(n->rpc);
    n->rpc = NULL;
    node_consensus_stop(n);
    uv_close((uv_handle_t *)&n->build_timer, NULL);
    uv_close((uv_handle_t *)&n->check, NULL);
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_close((uv_handle_t *)&n->sigterm, NULL);
}

static int open_all(struct node *n, const char *dir)
{
    char err[512];
    int rc = node_cfg_load(&n->cfg, dir, err, sizeof err);
    if (rc) {
        log_error(MOD, "%s", err);
        return rc;
    }
    log_set_level((enum log_level)n->cfg.log_level);
    rc = genesis_load(&n->genesis, n->cfg.genesis_path, err, sizeof err);
    if (rc) {
        log_error(MOD, "%s", err);
        return rc;
    }
    rc = nodekey_load(&n->key, n->cfg.key_path);
    if (rc) {
        log_error(MOD, "cannot load node key %s: %s", n->cfg.key_path, tally_strerror(rc));
        return rc;
    }
    nodekey_id(n->key, n->id);
    nodekey_address(n->key, n->address);
    n->rules.chain_id = n->genesis.chain_id;
    n->rules.issuers = (const uint8_t(*)[20])n->genesis.issuers;
    n->rules.nissuers = n->genesis.nissuers;
    n->rules.block_gas_limit = n->genesis.block_gas_limit;
    n->rules.tx_gas_limit = n->genesis.tx_gas_limit;
    n->rules.base_fee = n->genesis.base_fee;

    rc = store_open_lmdb(&n->store, n->cfg.data_dir, n->cfg.lmdb_map_size);
    if (rc) {
        log_error(MOD, "cannot open storage in %s: %s", n->cfg.data_dir, tally_strerror(rc));
        return rc;
    }
    rc = ledger_open(&n->ledger, n->store, &n->genesis, &n->rules);
    if (rc) {
        log_error(MOD, "cannot open the ledger in %s: %s", n->cfg.data_dir, tally_strerror(rc));
        return rc;
    }
    /* ledger.validate() over the newest blocks: a cheap start-up check. */
    uint64_t h = ledger_height(n->ledger), from = h > 1000 ? h - 1000 : 0;
    rc = ledger_validate(n->ledger, from, h, err, sizeof err);
    if (rc) {
        log_error(MOD, "stored chain is inconsistent: %s", err);
        return rc;
    }
    struct store_txn *t;
    if (!store_txn_begin(n->store, &t, 0)) {
        if (chainstore_tx_count(t, &n->committed_txs)) n->committed_txs = 0;
        store_txn_abort(t);
    }
    struct pool_cfg pc = {n->cfg.pool_capacity, n->cfg.pool_max_per_sender, 1024};
    rc = pool_new(&n->pool, &pc);
    if (rc) {
        log_error(MOD, "cannot create the pool: %s", tally_strerror(rc));
        return rc;
    }
    n->cands = calloc(n->cfg.max_block_txs, sizeof *n->cands);
    if (!n->cands) return TALLY_ENOMEM;
    return 0;
}

static void close_all(struct node *n)
{
    for (size_t i = 0; i < NODE_RECENT_BLOCKS; i++) {
        block_free(n->recent[i].b);
        free(n->recent[i].rcpts);
    }
    if (n->collect) {
        for (size_t i = 0; i < n->collect->count; i++) {
            free(n->collect->items[i].hex);
            free(n->collect->items[i].raw);
        }
        free(n->collect);
    }
    node_consensus_free(n);
    free(n->cands);
    pool_free(n->pool);
    ledger_close(n->ledger);
    if (n->store) store_close(n->store);
    nodekey_free(n->key);
    genesis_free(&n->genesis);
}

/* Room for max_conns RPC connections plus peers and LMDB: raise the soft
 * limit on open files to the hard limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int node_run(const char *dir)
{
    struct node *n = calloc(1, sizeof *n);
    if (!n) return TALLY_ENOMEM;
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    n->started_ms = clock_wall_ms();
    int rc = open_all(n, dir);
    if (rc) goto out;
    uv_loop_init(&n->loop);
    uv_timer_init(&n->loop, &n->build_timer);
    n->build_timer.data = n;
    uv_check_init(&n->loop, &n->check);
    n->check.data = n;
    uv_check_start(&n->check, on_check);
    uv_signal_init(&n->loop, &n->sigint);
    uv_signal_init(&n->loop, &n->sigterm);
    n->sigint.data = n->sigterm.data = n;
    uv_signal_start(&n->sigint, on_signal, SIGINT);
    uv_signal_start(&n->sigterm, on_signal, SIGTERM);

    struct rpc_cfg rc_cfg = {
        .host = n->cfg.rpc_host,
        .port = n->cfg.rpc_port,
        .max_body = n->cfg.rpc_max_body,
        .max_batch = n->cfg.rpc_max_batch,
        .max_conns = n->cfg.rpc_max_conns,
        .static_dir = n->cfg.static_dir[0] ? n->cfg.static_dir : NULL,
    };
    rc = rpc_server_start(&n->rpc, &n->loop, &rc_cfg, n);
    if (rc) {
        log_error(MOD, "cannot serve JSON-RPC on %s:%d: %s", n->cfg.rpc_host, n->cfg.rpc_port,
                  tally_strerror(rc));
        goto out_loop;
    }
    rc = node_api_register(n);
    if (rc) goto out_loop;
    n->last_block_ms = clock_wall_ms();
    rc = node_consensus_start(n);
    if (rc) goto out_loop;
    char haddr[43], hhead[67];
    uint8_t head[32];
    hex_encode(haddr, n->address, 20);
    ledger_head_hash(n->ledger, head);
    hex_encode(hhead, head, 32);
    log_info(MOD, "%s started: chain id %llu, height %llu, head %s, proposer %s", n->cfg.name,
             (unsigned long long)n->genesis.chain_id, (unsigned long long)ledger_height(n->ledger),
             hhead, haddr);
    log_info(MOD,
             "JSON-RPC and WebSocket on http://%s:%d (builder: k=%zu, max %zu txs, "
             "interval %llu ms)",
             n->cfg.rpc_host, n->cfg.rpc_port, n->cfg.min_block_txs, n->cfg.max_block_txs,
             (unsigned long long)n->cfg.block_interval_ms);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    rc = 0;
out_loop:
    if (!n->stopping) {
        /* start-up failed after the loop was set up: close the handles */
        n->stopping = 1;
        if (n->rpc) rpc_server_stop(n->rpc);
        node_consensus_stop(n);
        uv_close((uv_handle_t *)&n->build_timer, NULL);
        uv_close((uv_handle_t *)&n->check, NULL);
        uv_close((uv_handle_t *)&n->sigint, NULL);
        uv_close((uv_handle_t *)&n->sigterm, NULL);
        uv_run(&n->loop, UV_RUN_DEFAULT);
    }
    if (uv_loop_close(&n->loop)) {
        uv_run(&n->loop, UV_RUN_DEFAULT);
        uv_loop_close(&n->loop);
    }
out:
    close_all(n);
    if (!rc) log_info(MOD, "stopped cleanly");
    free(n);
    return rc;
}
