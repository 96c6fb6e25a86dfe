#include "node/node.h"
#include <signal.h>
#include <sys/resource.h>
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

/* Nonce after the newest block built, written or not: where the next block
 * starts for this sender (the pool keeps the transactions of blocks being
 * written until they are durable, but must not offer them again). */
static uint64_t latest_nonce_of(void *arg, const uint8_t addr[20])
{
    struct node *n = arg;
    struct account a;
    if (state_get_latest(ledger_state(n->ledger), &a, addr)) return 0;
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

/* ---- the block writer ----
 * Blocks are built and executed on the loop, then their writes (one LMDB
 * write txn each, fsync included) go to one writer thread, strictly in
 * order, while the loop keeps serving RPC, dispatching sender recovery and
 * building the next block on top of the in-memory state. A block is shown to
 * clients (ledger_height, recent[], pool removal) only when its write came
 * back durable (on_written, on the loop). */

/* One block between ledger_commit_prepare and ledger_commit_finish. */
struct node_commit {
    struct node_commit *next;
    struct ledger_job *job;
    struct block *b;
    struct receipt *rcpts;
    uint64_t build_ns;  /* ledger_build + prepare, on the loop */
    uint64_t queued_ns; /* when handed to the writer (mono) */
    uint64_t write_ns;  /* the write itself, on the writer */
};

struct node_writer {
    struct node *n;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    uv_async_t async;
    /* under mu */
    struct node_commit *todo, **todo_tail; /* for the writer, in order */
    struct node_commit *done, **done_tail; /* written, for the loop, in order */
    int quit;
    /* loop only */
    size_t inflight; /* prepared, not finished */
    int running;     /* the thread runs and the async handle is open */
};

static void writer_main(void *arg)
{
    struct node_writer *w = arg;
    uv_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo && !w->quit) uv_cond_wait(&w->cv, &w->mu);
        struct node_commit *c = w->todo;
        if (!c) break; /* quit, and nothing left to write */
        w->todo = c->next;
        if (!w->todo) w->todo_tail = &w->todo;
        uv_mutex_unlock(&w->mu);

        uint64_t t0 = clock_mono_ns();
        ledger_write_job(c->job);
        c->write_ns = clock_mono_ns() - t0;
        c->next = NULL;

        uv_mutex_lock(&w->mu);
        *w->done_tail = c;
        w->done_tail = &c->next;
        uv_async_send(&w->async);
    }
    uv_mutex_unlock(&w->mu);
}

static void node_stop(struct node *n);

/* On the loop: one written block, in order. */
static void finish_one(struct node *n, struct node_commit *c)
{
    struct node_writer *w = n->writer;
    uint64_t height = ledger_job_height(c->job);
    uint64_t wait_ns = clock_mono_ns() - c->queued_ns - c->write_ns;
    w->inflight--;
    int rc = ledger_commit_finish(n->ledger, c->job);
    if (rc) {
        if (!n->fatal) {
            log_error(MOD,
                      "%s. Stopping the node: its memory is ahead of its store; a restart "
                      "resumes from block %llu, the last one written",
                      ledger_errmsg(n->ledger), (unsigned long long)ledger_height(n->ledger));
            n->fatal = rc;
            node_stop(n);
        }
        block_free(c->b);
        free(c->rcpts);
        free(c);
        return;
    }
    struct block *b = c->b;
    n->committed_txs += b->ntx;
    pool_remove_committed(n->pool, b->txs, b->ntx, node_nonce_of, n);
    char h[67];
    hex_encode(h, b->hash, 32);
    log_info(MOD,
             "block %llu committed: %zu txs, hash %.18s.., build %.1f ms, write %.1f ms "
             "(queued %.1f ms), pool %zu",
             (unsigned long long)height, b->ntx, h, (double)c->build_ns / 1e6,
             (double)c->write_ns / 1e6, (double)wait_ns / 1e6, pool_count(n->pool));
    remember_block(n, b, c->rcpts);
    free(c);
}

/* Join the writer and close its handle once nothing is in flight. */
static void writer_stop_if_idle(struct node *n)
{
    struct node_writer *w = n->writer;
    if (!w || !w->running || w->inflight) return;
    uv_mutex_lock(&w->mu);
    w->quit = 1;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
    uv_thread_join(&w->thread); /* idle: returns at once */
    w->running = 0;
    uv_close((uv_handle_t *)&w->async, NULL);
}

static void on_written(uv_async_t *h)
{
    struct node *n = h->data;
    struct node_writer *w = n->writer;
    uv_mutex_lock(&w->mu);
    struct node_commit *c = w->done;
    w->done = NULL;
    w->done_tail = &w->done;
    uv_mutex_unlock(&w->mu);
    while (c) {
        struct node_commit *next = c->next;
        finish_one(n, c);
        c = next;
    }
    if (n->stopping)
        writer_stop_if_idle(n);
    else
        node_maybe_build(n);
}

static int writer_start(struct node *n)
{
    struct node_writer *w = calloc(1, sizeof *w);
    if (!w) return TALLY_ENOMEM;
    w->n = n;
    w->todo_tail = &w->todo;
    w->done_tail = &w->done;
    if (uv_mutex_init(&w->mu)) {
        free(w);
        return TALLY_ENOMEM;
    }
    if (uv_cond_init(&w->cv)) {
        uv_mutex_destroy(&w->mu);
        free(w);
        return TALLY_ENOMEM;
    }
    n->writer = w;
    if (uv_async_init(&n->loop, &w->async, on_written)) return TALLY_ENOMEM;
    w->async.data = n;
    if (uv_thread_create(&w->thread, writer_main, w)) {
        uv_close((uv_handle_t *)&w->async, NULL);
        return TALLY_ENOMEM;
    }
    w->running = 1;
    return 0;
}

/* After the loop ended (the thread is joined). */
static void writer_free(struct node *n)
{
    struct node_writer *w = n->writer;
    if (!w) return;
    for (struct node_commit *c = w->todo, *next; c; c = next) {
        next = c->next;
        block_free(c->b);
        free(c->rcpts);
        free(c); /* the job leaks with its batch: cannot happen after a clean stop */
    }
    uv_cond_destroy(&w->cv);
    uv_mutex_destroy(&w->mu);
    free(w);
    n->writer = NULL;
}

static int build_one(struct node *n, size_t ready)
{
    uint64_t t0 = clock_mono_ns();
    struct node_commit *c = calloc(1, sizeof *c);
    if (!c) return TALLY_ENOMEM;
    int rc = ledger_build(n->ledger, &c->b, &c->rcpts, n->cands, ready, n->address, clock_wall_ms(),
                          on_drop, n);
    if (rc == TALLY_ENOTFOUND) { /* everything was refused (and dropped) */
        free(c);
        return 0;
    }
    if (rc) {
        log_error(MOD, "building block %llu failed: %s (%s)",
                  (unsigned long long)ledger_tip_height(n->ledger) + 1, tally_strerror(rc),
                  ledger_errmsg(n->ledger));
        free(c);
        return rc;
    }
    rc = ledger_commit_prepare(n->ledger, &c->job, c->b, c->rcpts);
    if (rc) {
        log_error(MOD, "committing block %llu failed: %s (%s)", (unsigned long long)c->b->h.height,
                  tally_strerror(rc), ledger_errmsg(n->ledger));
        block_free(c->b);
        free(c->rcpts);
        free(c);
        return rc;
    }
    c->queued_ns = clock_mono_ns();
    c->build_ns = c->queued_ns - t0;
    n->last_block_ms = clock_wall_ms();
    struct node_writer *w = n->writer;
    w->inflight++;
    uv_mutex_lock(&w->mu);
    *w->todo_tail = c;
    w->todo_tail = &c->next;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
    return 1;
}

void node_maybe_build(struct node *n)
{
    if (n->stopping) return;
    for (int rounds = 0; rounds < 64; rounds++) {
        /* The writer is behind: the next block is built when one is durable
         * (on_written), bigger, which amortises the fsync. */
        if (n->writer->inflight >= NODE_COMMIT_DEPTH) return;
        size_t ready = pool_select(n->pool, n->cands, n->cfg.max_block_txs, latest_nonce_of, n);
        if (!ready) return;
        uint64_t now = clock_wall_ms();
        if (ready < n->cfg.min_block_txs && now < n->last_block_ms + n->cfg.block_interval_ms) {
            arm_interval_timer(n, now);
            return;
        }
        int rc = build_one(n, ready);
        if (rc < 0) {
            arm_interval_timer(n, now); /* retry later rather than spin */
            return;
        }
        if (ready < n->cfg.max_block_txs) return;
    }
}

static void on_check(uv_check_t *h)
{
    struct node *n = h->data;
    node_submit_flush(n);
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
    node_stop(n);
}

/* Stop serving; blocks handed to the writer are still written and finished,
 * then the writer closes (writer_stop_if_idle) and the loop ends. */
static void node_stop(struct node *n)
{
    if (n->stopping) return;
    n->stopping = 1;
    uv_timer_stop(&n->build_timer);
    uv_check_stop(&n->check);
    uv_signal_stop(&n->sigint);
    uv_signal_stop(&n->sigterm);
    if (n->rpc) rpc_server_stop(n->rpc);
    n->rpc = NULL;
    uv_close((uv_handle_t *)&n->build_timer, NULL);
    uv_close((uv_handle_t *)&n->check, NULL);
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_close((uv_handle_t *)&n->sigterm, NULL);
    writer_stop_if_idle(n);
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
        for (size_t i = 0; i < n->collect->count; i++) free(n->collect->items[i].hex);
        free(n->collect);
    }
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
    rc = writer_start(n);
    if (rc) {
        log_error(MOD, "cannot start the block writer thread: %s", tally_strerror(rc));
        goto out_loop;
    }

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
    rc = n->fatal;
out_loop:
    if (!n->stopping) {
        /* start-up failed after the loop was set up: close the handles */
        n->stopping = 1;
        if (n->rpc) rpc_server_stop(n->rpc);
        uv_close((uv_handle_t *)&n->build_timer, NULL);
        uv_close((uv_handle_t *)&n->check, NULL);
        uv_close((uv_handle_t *)&n->sigint, NULL);
        uv_close((uv_handle_t *)&n->sigterm, NULL);
        writer_stop_if_idle(n);
        uv_run(&n->loop, UV_RUN_DEFAULT);
    }
    if (uv_loop_close(&n->loop)) {
        uv_run(&n->loop, UV_RUN_DEFAULT);
        uv_loop_close(&n->loop);
    }
out:
    writer_free(n);
    close_all(n);
    if (!rc) log_info(MOD, "stopped cleanly");
    free(n);
    return rc;
}
