#include "node/node.h"
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
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

/* The explorer's files: [rpc] static_dir, "off" for none, by default the
 * web/ directory beside the binary (build/web) if it has an index.html. */
static const char *explorer_dir(struct node *n)
{
    static char dir[NODE_PATH_MAX];
    if (!strcmp(n->cfg.static_dir, "off")) return NULL;
    if (n->cfg.static_dir[0]) return n->cfg.static_dir;
    char exe[NODE_PATH_MAX - 32], index[NODE_PATH_MAX + 16];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return NULL;
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = 0;
    snprintf(dir, sizeof dir, "%s/web", exe);
    snprintf(index, sizeof index, "%s/index.html", dir);
    return access(index, R_OK) ? NULL : dir;
}

static void remember_block(struct node *n, struct block *b, struct receipt *rcpts)
{
    struct recent_block *r = &n->recent[b->h.height % NODE_RECENT_BLOCKS];
    receipts_free(r->rcpts, r->b ? r->b->ntx : 0);
    block_free(r->b);
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

/* ---- the writer ----
 * Blocks are built and executed on the loop on top of the tip (the newest
 * block committed in memory). A committed block's writes (one LMDB write
 * txn, fsync included) go to one writer thread, strictly in order, together
 * with the consensus state (PBFT PERSIST), in the order the two were handed
 * over. Meanwhile the loop serves RPC, dispatches sender recovery, runs
 * consensus and builds the next block on the tip. A block is shown to
 * clients (ledger_height, recent[], pool removal) only when its write came
 * back durable (on_written, on the loop); a PBFT message that depends on a
 * persisted state goes out only once that state is durable
 * (node_consensus_persisted). */

enum { ITEM_BLOCK, ITEM_PERSIST };

/* One block between ledger_commit_prepare and ledger_commit_finish, or one
 * consensus state to write. */
struct node_commit {
    struct node_commit *next;
    int kind;
    /* ITEM_BLOCK */
    struct ledger_job *job;
    struct block *b;
    struct receipt *rcpts;
    int own;            /* built or voted on here (not from sync) */
    uint64_t build_ns;  /* build or execute, and prepare, on the loop */
    uint64_t queued_ns; /* when handed to the writer (mono) */
    uint64_t write_ns;  /* the write itself, on the writer */
    /* ITEM_PERSIST */
    uint8_t *data;
    size_t len;
    uint64_t seq;
    uint64_t height; /* the state's height (UINT64_MAX: unknown) */
    int rc;
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
    int unkicked; /* the last item queued has not woken the writer */
    /* writer thread only */
    int failed; /* a block's write failed: nothing after it may be written */
    /* loop only */
    size_t inflight; /* items handed over, not finished */
    size_t blocks;   /* ... of which blocks */
    int running;     /* the thread runs and the async handle is open */
};

static void publish(struct node_writer *w, struct node_commit *c)
{
    c->next = NULL;
    uv_mutex_lock(&w->mu);
    *w->done_tail = c;
    w->done_tail = &c->next;
    uv_async_send(&w->async);
    uv_mutex_unlock(&w->mu);
}

static int write_state(struct store *st, const uint8_t *data, size_t len)
{
    struct store_batch *b;
    int rc = store_batch_new(&b);
    if (rc) return rc;
    rc = store_batch_put(b, STORE_DB_CONSENSUS, NODE_PBFT_STATE_KEY, strlen(NODE_PBFT_STATE_KEY),
                         data, len, 0);
    if (!rc) rc = store_batch_write(st, b);
    store_batch_free(b);
    return rc;
}

/* Write everything handed over so far (one run). The consensus state is a
 * single key, so only the newest state of a run is written, in the txn of
 * the run's last block when there is one: every state then becomes durable
 * together with or after the blocks handed before it, never before (a
 * restart must not find the votes of height h+1 without block h). States
 * are reported durable only after the write that carries them. */
static void write_run(struct node_writer *w, struct node_commit *list)
{
    struct store *st = ledger_store(w->n->ledger); /* fixed while the writer runs */
    /* split (a published item belongs to the loop: never follow its next) */
    struct node_commit *blocks = NULL, **btail = &blocks, *states = NULL, **stail = &states;
    struct node_commit *last_block = NULL, *last_state = NULL;
    for (struct node_commit *c = list, *next; c; c = next) {
        next = c->next;
        c->next = NULL;
        if (c->kind == ITEM_BLOCK) {
            *btail = last_block = c;
            btail = &c->next;
        } else {
            *stail = last_state = c;
            stail = &c->next;
        }
    }
    /* A state of a height whose block is written in this run is obsolete
     * once that block is durable (a restart starts above it and ignores it),
     * and so are the states before it (heights only grow): they need no
     * write of their own, only that block's (with n = 1, every state). */
    int obsolete =
        last_state && last_block && last_state->height <= ledger_job_height(last_block->job);
    int folded = last_state && last_block && !w->failed &&
                 (obsolete ||
                  !ledger_job_put(last_block->job, STORE_DB_CONSENSUS, NODE_PBFT_STATE_KEY,
                                  strlen(NODE_PBFT_STATE_KEY), last_state->data, last_state->len));
    const uint8_t *sdata = last_state ? last_state->data : NULL;
    size_t slen = last_state ? last_state->len : 0;
    int state_rc = 0;
    for (struct node_commit *c = blocks, *next; c; c = next) {
        next = c->next;
        uint64_t t0 = clock_mono_ns();
        ledger_write_job(c->job);
        c->write_ns = clock_mono_ns() - t0;
        int rc = ledger_job_result(c->job);
        if (rc) w->failed = 1;
        if (c == last_block && folded) state_rc = rc;
        publish(w, c); /* the loop may free it from here on */
    }
    if (!states) return;
    if (w->failed)
        state_rc = state_rc ? state_rc : TALLY_ESTATE;
    else if (!folded)
        state_rc = write_state(st, sdata, slen);
    for (struct node_commit *c = states, *next; c; c = next) {
        next = c->next;
        c->rc = state_rc;
        publish(w, c);
    }
}

static void writer_main(void *arg)
{
    struct node_writer *w = arg;
    uv_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo && !w->quit) uv_cond_wait(&w->cv, &w->mu);
        struct node_commit *list = w->todo;
        if (!list) break; /* quit, and nothing left to write */
        w->todo = NULL;
        w->todo_tail = &w->todo;
        uv_mutex_unlock(&w->mu);
        write_run(w, list);
        uv_mutex_lock(&w->mu);
    }
    uv_mutex_unlock(&w->mu);
}

/* Queue c for the writer. A block wakes the writer at once; a consensus
 * state waits for node_writer_kick (the end of the consensus step), so that
 * the states and the block of one step are written in one txn. */
static void writer_put(struct node_writer *w, struct node_commit *c)
{
    w->inflight++;
    if (c->kind == ITEM_BLOCK) w->blocks++;
    c->next = NULL;
    uv_mutex_lock(&w->mu);
    *w->todo_tail = c;
    w->todo_tail = &c->next;
    if (c->kind == ITEM_BLOCK) uv_cond_signal(&w->cv);
    w->unkicked = c->kind != ITEM_BLOCK;
    uv_mutex_unlock(&w->mu);
}

void node_writer_kick(struct node *n)
{
    struct node_writer *w = n->writer;
    if (!w || !w->running) return;
    uv_mutex_lock(&w->mu);
    if (w->unkicked) uv_cond_signal(&w->cv);
    w->unkicked = 0;
    uv_mutex_unlock(&w->mu);
}

static void node_stop(struct node *n);

static void fail_stop(struct node *n, int rc, const char *what)
{
    if (n->fatal) return;
    log_error(MOD,
              "%s. Stopping the node: its memory is ahead of its store; a restart resumes from "
              "block %llu, the last one written",
              what, (unsigned long long)ledger_height(n->ledger));
    n->fatal = rc;
    node_stop(n);
}

/* On the loop: one written block, in order. */
static void finish_block(struct node *n, struct node_commit *c)
{
    struct node_writer *w = n->writer;
    uint64_t height = ledger_job_height(c->job);
    uint64_t wait_ns = clock_mono_ns() - c->queued_ns - c->write_ns;
    w->inflight--;
    w->blocks--;
    int rc = ledger_commit_finish(n->ledger, c->job);
    if (rc) {
        fail_stop(n, rc, ledger_errmsg(n->ledger));
        receipts_free(c->rcpts, c->b ? c->b->ntx : 0);
        block_free(c->b);
        free(c);
        return;
    }
    struct block *b = c->b;
    n->committed_txs += b->ntx;
    node_metrics_block(n, b, c->own);
    pool_remove_committed(n->pool, b->txs, b->ntx, node_nonce_of, n);
    n->last_commit_ms = clock_mono_ns() / 1000000;
    n->txs_reported = -1; /* consensus must hear about the pool after every commit */
    n->txs_idle_count = SIZE_MAX;
    char h[67];
    hex_encode(h, b->hash, 32);
    log_msg(c->own ? LOG_INFO : LOG_DEBUG, MOD,
            "block %llu committed: %zu txs, hash %.18s.., view %llu, exec %.1f ms, write %.1f ms "
            "(queued %.1f ms), pool %zu%s",
            (unsigned long long)height, b->ntx, h, (unsigned long long)b->h.view,
            (double)c->build_ns / 1e6, (double)c->write_ns / 1e6, (double)wait_ns / 1e6,
            pool_count(n->pool), c->own ? "" : " (sync)");
    node_api_block_committed(n, b, c->rcpts);
    remember_block(n, b, c->rcpts);
    free(c);
}

/* On the loop: a consensus state is durable (or its write failed). */
static int finish_state(struct node *n, struct node_commit *c)
{
    n->writer->inflight--;
    int rc = c->rc;
    if (rc) {
        char what[256];
        snprintf(what, sizeof what, "writing the consensus state failed: %s (%s)",
                 tally_strerror(rc), store_errmsg(n->store));
        fail_stop(n, rc, what);
    } else if (c->seq > n->persist_done)
        n->persist_done = c->seq;
    free(c->data);
    free(c);
    return !rc;
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
    int persisted = 0;
    while (c) {
        struct node_commit *next = c->next;
        if (c->kind == ITEM_BLOCK)
            finish_block(n, c);
        else
            persisted |= finish_state(n, c);
        c = next;
    }
    if (persisted && !n->stopping) node_consensus_persisted(n);
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
        receipts_free(c->rcpts, c->b ? c->b->ntx : 0);
        block_free(c->b);
        free(c->data);
        free(c); /* the job leaks with its batch: cannot happen after a clean stop */
    }
    uv_cond_destroy(&w->cv);
    uv_mutex_destroy(&w->mu);
    free(w);
    n->writer = NULL;
}

uint64_t node_persist(struct node *n, const uint8_t *data, size_t len)
{
    struct node_writer *w = n->writer;
    if (!w || !w->running) return 0;
    struct node_commit *c = calloc(1, sizeof *c);
    if (!c) return 0;
    c->kind = ITEM_PERSIST;
    if (len && !(c->data = malloc(len))) {
        free(c);
        return 0;
    }
    if (len) memcpy(c->data, data, len);
    c->len = len;
    if (pbft_state_height(data, len, &c->height)) c->height = UINT64_MAX; /* always written */
    c->seq = ++n->persist_seq;
    writer_put(w, c);
    return c->seq;
}

/* ---- ledger helpers: the only places node/ builds, executes and commits ---- */

void node_ledger_discard(struct node *n)
{
    if (!n->cur.b) return;
    ledger_discard(n->ledger);
    receipts_free(n->cur.rcpts, n->cur.b->ntx);
    block_free(n->cur.b);
    n->cur.b = NULL;
    n->cur.rcpts = NULL;
}

/* Build the block after the tip from the ready candidates, in consensus
 * view `view`; it becomes n->cur (pending). 0, TALLY_ENOTFOUND (all
 * refused), or an error. */
static int node_ledger_build(struct node *n, size_t ready, uint64_t view)
{
    node_ledger_discard(n);
    uint64_t t0 = clock_mono_ns();
    struct block *b;
    struct receipt *rcpts;
    int rc = ledger_build(n->ledger, &b, &rcpts, n->cands, ready, n->address, clock_wall_ms(),
                          on_drop, n);
    if (rc == TALLY_ENOTFOUND) return rc; /* everything was refused (and dropped) */
    if (rc) {
        log_error(MOD, "building block %llu failed: %s (%s)",
                  (unsigned long long)ledger_tip_height(n->ledger) + 1, tally_strerror(rc),
                  ledger_errmsg(n->ledger));
        return rc;
    }
    b->h.view = view; /* the header carries the view; the hash covers it */
    if ((rc = block_seal(b))) {
        ledger_discard(n->ledger);
        receipts_free(rcpts, b->ntx);
        block_free(b);
        return rc;
    }
    n->cur.b = b;
    n->cur.rcpts = rcpts;
    n->cur.ns = clock_mono_ns() - t0;
    return 0;
}

int node_ledger_execute(struct node *n, struct block *b, char *why, size_t whylen)
{
    node_ledger_discard(n);
    uint64_t t0 = clock_mono_ns();
    struct receipt *rcpts;
    int rc = ledger_execute(n->ledger, &rcpts, b, why, whylen);
    if (rc) return rc;
    n->cur.b = b;
    n->cur.rcpts = rcpts;
    n->cur.ns = clock_mono_ns() - t0;
    return 0;
}

/* Prepare the pending block b (built or executed) and hand it to the
 * writer; it is the tip from now on. On failure the pending state is
 * dropped and b, rcpts stay the caller's. */
static int hand_block(struct node *n, struct block *b, struct receipt *rcpts, int own,
                      uint64_t exec_ns)
{
    uint64_t t0 = clock_mono_ns();
    struct node_commit *c = calloc(1, sizeof *c);
    uint8_t *cert = b->cert_len ? malloc(b->cert_len) : NULL;
    if (!c || (b->cert_len && !cert)) {
        ledger_discard(n->ledger);
        free(c);
        free(cert);
        return TALLY_ENOMEM;
    }
    int rc = ledger_commit_prepare(n->ledger, &c->job, b, rcpts);
    if (rc) {
        log_error(MOD, "committing block %llu failed: %s (%s)", (unsigned long long)b->h.height,
                  tally_strerror(rc), ledger_errmsg(n->ledger));
        free(c);
        free(cert);
        return rc;
    }
    c->kind = ITEM_BLOCK;
    c->b = b;
    c->rcpts = rcpts;
    c->own = own;
    c->queued_ns = clock_mono_ns();
    c->build_ns = exec_ns + (c->queued_ns - t0);
    free(n->tip_cert);
    n->tip_cert = cert;
    n->tip_cert_len = b->cert_len;
    if (cert) memcpy(cert, b->cert, b->cert_len);
    n->last_block_ms = clock_wall_ms();
    n->txs_reported = -1; /* the next height: consensus must hear about the pool */
    n->txs_idle_count = SIZE_MAX;
    writer_put(n->writer, c);
    return 0;
}

int node_ledger_commit_cur(struct node *n, const uint8_t *cert, size_t cert_len)
{
    struct block *b = n->cur.b;
    struct receipt *rcpts = n->cur.rcpts;
    free(b->cert);
    b->cert = NULL;
    b->cert_len = 0;
    if (cert_len) {
        if (!(b->cert = malloc(cert_len))) return TALLY_ENOMEM; /* stays pending */
        memcpy(b->cert, cert, cert_len);
        b->cert_len = cert_len;
    }
    n->cur.b = NULL;
    n->cur.rcpts = NULL;
    int rc = hand_block(n, b, rcpts, 1, n->cur.ns);
    if (rc) {
        receipts_free(rcpts, b->ntx);
        block_free(b);
    }
    return rc;
}

int node_ledger_apply(struct node *n, struct block *b)
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
    rc = hand_block(n, b, rcpts, 0, clock_mono_ns() - t0);
    if (rc) receipts_free(rcpts, b->ntx);
    return rc;
}

void node_maybe_build(struct node *n)
{
    if (n->stopping) return;
    for (int rounds = 0; rounds < 8 && n->build_req; rounds++) {
        if (n->build_height != ledger_tip_height(n->ledger) + 1) {
            n->build_req = 0;
            return;
        }
        /* The writer is behind: the block is built when one is durable
         * (on_written), bigger, which amortises the fsync. */
        if (n->writer->blocks >= NODE_COMMIT_DEPTH) return;
        size_t ready = pool_select(n->pool, n->cands, n->cfg.max_block_txs, latest_nonce_of, n);
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
        int rc = node_ledger_build(n, ready, n->build_view);
        if (rc == TALLY_ENOTFOUND) continue; /* all refused: try what is left */
        n->build_req = 0;
        if (rc) return; /* logged; consensus times out and moves on */
        node_consensus_proposal_ready(n, (double)n->cur.ns / 1e6);
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
    node_consensus_stop(n);
    uv_close((uv_handle_t *)&n->build_timer, NULL);
    uv_close((uv_handle_t *)&n->check, NULL);
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_close((uv_handle_t *)&n->sigterm, NULL);
    node_writer_kick(n); /* whatever is queued gets written */
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
    n->senders = calloc((size_t)1 << NODE_SENDERS_BITS, sizeof *n->senders);
    if (!n->cands || !n->senders) return TALLY_ENOMEM;
    return 0;
}

static void close_all(struct node *n)
{
    node_api_close(n);
    for (size_t i = 0; i < NODE_RECENT_BLOCKS; i++) {
        receipts_free(n->recent[i].rcpts, n->recent[i].b ? n->recent[i].b->ntx : 0);
        block_free(n->recent[i].b);
    }
    struct submit_work **slots[2] = {&n->collect, &n->collect_peer};
    for (int k = 0; k < 2; k++) {
        if (!*slots[k]) continue;
        (*slots[k])->next = n->waiting;
        n->waiting = *slots[k];
        *slots[k] = NULL;
    }
    while (n->waiting) { /* batches that never reached a worker */
        struct submit_work *sw = n->waiting;
        n->waiting = sw->next;
        for (size_t i = 0; i < sw->count; i++) {
            free(sw->items[i].hex);
            free(sw->items[i].raw);
        }
        free(sw);
    }
    n->waiting_tail = NULL;
    node_consensus_free(n);
    free(n->tip_cert);
    free(n->cands);
    free(n->senders);
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

    const char *web = explorer_dir(n);
    struct rpc_cfg rc_cfg = {
        .host = n->cfg.rpc_host,
        .port = n->cfg.rpc_port,
        .max_body = n->cfg.rpc_max_body,
        .max_batch = n->cfg.rpc_max_batch,
        .max_conns = n->cfg.rpc_max_conns,
        .static_dir = web,
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
    if (web)
        log_info(MOD, "explorer: http://%s:%d/ (files from %s), metrics: /metrics", n->cfg.rpc_host,
                 n->cfg.rpc_port, web);
    else
        log_info(MOD, "explorer: off (%s), metrics: http://%s:%d/metrics",
                 n->cfg.static_dir[0] ? "[rpc] static_dir = off" : "no web/ beside the binary",
                 n->cfg.rpc_host, n->cfg.rpc_port);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    rc = n->fatal;
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
        node_writer_kick(n);
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
