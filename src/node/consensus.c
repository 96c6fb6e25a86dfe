/* PBFT, the P2P transport, transaction gossip and block sync wired into the
 * node (see docs/node.md and docs/consensus.md, "Driving the core"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "node/node_int.h"
#include "store/chainstore.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/log.h"

#define MOD "consensus"

struct pbft_queued {
    struct pbft_queued *next;
    struct pbft_event ev;
    uint8_t *buf; /* owned copy of the event's bytes */
};

/* A PBFT message sent after a PERSIST: it waits until that state (and
 * every one before it) is durable. FIFO: a message never overtakes one
 * held before it. */
struct held_msg {
    struct held_msg *next;
    uint64_t after; /* n->persist_done must reach this */
    int bcast;
    uint32_t to;
    size_t len;
    uint8_t data[];
};

/* A proposal whose senders are being recovered: those in neither the pool
 * nor the sender cache, in chunks on the workers; those a gossip batch is
 * recovering at this moment are waited for (node_exec_recheck), not
 * recovered twice. */
struct exec_job {
    struct node *n;
    struct block *b;
    int cancelled; /* freed by the last chunk to finish */
    int err;
    int chunks_left;
    size_t *todo; /* indexes of the transactions the chunks recover */
    uint64_t t0;
};

struct exec_chunk {
    uv_work_t w;
    struct exec_job *j;
    size_t from, to; /* range of j->todo */
    int err;         /* the chunks run at once: each has its own */
};

static void gossip_pool(struct node *n, const uint8_t *peer);

static uint64_t mono_ms(void)
{
    return clock_mono_ns() / 1000000;
}

/* ---- injected crypto: the node's Ed25519 key ---- */

static int c_sign(void *ctx, uint8_t sig[PBFT_SIG_LEN], const uint8_t digest[32])
{
    return nodekey_sign(ctx, sig, digest, 32);
}

static int c_verify(void *ctx, const uint8_t id[32], const uint8_t sig[PBFT_SIG_LEN],
                    const uint8_t digest[32])
{
    return nodekey_verify(id, sig, digest, 32) ? TALLY_ESIG : 0;
}

static int val_index(struct node *n, const uint8_t id[32])
{
    for (uint32_t i = 0; i < n->nvals; i++)
        if (!memcmp(n->val_ids[i], id, 32)) return (int)i;
    return -1;
}

static const char *val_name(struct node *n, uint32_t i)
{
    if (n->genesis.nvalidators > i && n->genesis.validator_names[i][0])
        return n->genesis.validator_names[i];
    return "?";
}

/* ---- feeding the core ---- */

static void perform(struct node *n);

static void feed(struct node *n, const struct pbft_event *ev);

static void queue_event(struct node *n, const struct pbft_event *ev)
{
    struct pbft_queued *q = calloc(1, sizeof *q);
    if (!q) {
        log_error(MOD, "out of memory queueing a consensus event");
        return;
    }
    q->ev = *ev;
    const uint8_t *src = NULL;
    size_t len = 0;
    switch (ev->type) {
    case PBFT_EV_RECEIVE: src = ev->u.receive.msg, len = ev->u.receive.len; break;
    case PBFT_EV_PROPOSAL_READY: src = ev->u.proposal.proposal, len = ev->u.proposal.len; break;
    case PBFT_EV_SYNCED: src = ev->u.synced.cert, len = ev->u.synced.cert_len; break;
    default: break;
    }
    if (len) {
        if (!(q->buf = malloc(len))) {
            free(q);
            log_error(MOD, "out of memory queueing a consensus event");
            return;
        }
        memcpy(q->buf, src, len);
        switch (ev->type) {
        case PBFT_EV_RECEIVE: q->ev.u.receive.msg = q->buf; break;
        case PBFT_EV_PROPOSAL_READY: q->ev.u.proposal.proposal = q->buf; break;
        case PBFT_EV_SYNCED: q->ev.u.synced.cert = q->buf; break;
        default: break;
        }
    }
    if (n->q_tail)
        n->q_tail->next = q;
    else
        n->q_head = q;
    n->q_tail = q;
}

static void step_one(struct node *n, const struct pbft_event *ev)
{
    uint64_t h0 = pbft_height(n->pbft), v0 = pbft_view(n->pbft);
    int rc = pbft_step(n->pbft, ev, &n->up);
    if (rc) {
        if (ev->type == PBFT_EV_RECEIVE)
            log_debug(MOD, "message from %s refused: %s", val_name(n, ev->u.receive.from),
                      pbft_errmsg(n->pbft));
        else
            log_warn(MOD, "consensus event %d refused: %s (%s)", (int)ev->type, tally_strerror(rc),
                     pbft_errmsg(n->pbft));
        if (rc != TALLY_ENOMEM) return;
    }
    perform(n);
    uint64_t h1 = pbft_height(n->pbft), v1 = pbft_view(n->pbft);
    if (v1 != v0 && v1 > 0 && h1 == h0) {
        n->view_changes++;
        /* a stall on a quiet chain: maybe our transactions never reached
         * the leader (under load gossip and rotation move them anyway) */
        if (pool_count(n->pool) <= NODE_MERGE_VC_MAX) gossip_pool(n, NULL);
        uint32_t leader = pbft_leader(n->nvals, h1, v1);
        log_info(MOD, "view change: height %llu view %llu, leader %s%s", (unsigned long long)h1,
                 (unsigned long long)v1, val_name(n, leader),
                 pbft_in_view_change(n->pbft) ? " (waiting for NEW-VIEW)" : "");
    }
}

static void feed(struct node *n, const struct pbft_event *ev)
{
    if (!n->pbft || n->stopping) return;
    if (n->in_step) {
        queue_event(n, ev);
        return;
    }
    n->in_step = 1;
    step_one(n, ev);
    while (n->q_head && !n->stopping) {
        struct pbft_queued *q = n->q_head;
        n->q_head = q->next;
        if (!n->q_head) n->q_tail = NULL;
        q->ev.now_ms = mono_ms();
        step_one(n, &q->ev);
        free(q->buf);
        free(q);
    }
    n->in_step = 0;
    node_writer_kick(n);
}

/* ---- updates ---- */

static void send_now(struct node *n, int bcast, uint32_t to, const uint8_t *p, size_t len)
{
    if (bcast)
        (void)net_broadcast(n->net, NODE_FRAME_PBFT, p, len);
    else if (to < n->nvals && net_send(n->net, n->val_ids[to], NODE_FRAME_PBFT, p, len))
        log_debug(MOD, "message to %s not sent", val_name(n, to));
}

/* Send now, or hold until every consensus state handed to the writer so
 * far is durable (the safety rule: a vote is durable before it is sent). */
static void send_or_hold(struct node *n, int bcast, uint32_t to, const uint8_t *p, size_t len)
{
    if (!n->net) return;
    if (!n->held_head && n->persist_done >= n->persist_seq) {
        send_now(n, bcast, to, p, len);
        return;
    }
    struct held_msg *m = malloc(sizeof *m + len);
    if (!m) {
        log_error(MOD, "out of memory holding a consensus message; dropped");
        return;
    }
    m->next = NULL;
    m->after = n->persist_seq;
    m->bcast = bcast;
    m->to = to;
    m->len = len;
    memcpy(m->data, p, len);
    if (n->held_tail)
        n->held_tail->next = m;
    else
        n->held_head = m;
    n->held_tail = m;
}

void node_consensus_persisted(struct node *n)
{
    while (n->held_head && n->held_head->after <= n->persist_done) {
        struct held_msg *m = n->held_head;
        n->held_head = m->next;
        if (!n->held_head) n->held_tail = NULL;
        if (n->net && !n->stopping) send_now(n, m->bcast, m->to, m->data, m->len);
        free(m);
    }
}

static void free_held(struct node *n)
{
    while (n->held_head) {
        struct held_msg *m = n->held_head;
        n->held_head = m->next;
        free(m);
    }
    n->held_tail = NULL;
}

/* The grace period of a one-block sync request is over. */
static void on_sync_defer(uv_timer_t *t)
{
    struct node *n = t->data;
    uint64_t h = n->sync_defer_height;
    n->sync_defer_height = 0;
    if (n->stopping || !n->sync || h <= ledger_tip_height(n->ledger)) return;
    log_debug(MOD, "still behind %llu after %d ms: syncing", (unsigned long long)h,
              NODE_SYNC_GRACE_MS);
    sync_request(n->sync, h);
}

static void on_pbft_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    uint64_t now = mono_ms();
    if (now < n->pbft_timer_at) {
        /* libuv's cached loop time ran behind our clock: the core would see
         * an early TIMEOUT, ignore it, and never arm the timer again */
        uv_timer_start(&n->pbft_timer, on_pbft_timer, n->pbft_timer_at - now, 0);
        return;
    }
    n->pbft_timer_at = 0;
    struct pbft_event ev = {.type = PBFT_EV_TIMEOUT, .now_ms = mono_ms()};
    feed(n, &ev);
}

static void executed(struct node *n, uint64_t height, const uint8_t hash[32], int ok,
                     const uint8_t root[32])
{
    struct pbft_event ev = {.type = PBFT_EV_EXECUTED, .now_ms = mono_ms()};
    ev.u.executed.height = height;
    memcpy(ev.u.executed.hash, hash, 32);
    ev.u.executed.ok = ok;
    if (root) memcpy(ev.u.executed.root, root, 32);
    feed(n, &ev);
}

/* Fill in the senders we know already (pool, sender cache); returns how
 * many are still missing, of which *pending are being recovered by gossip
 * batches right now. */
static size_t senders_known(struct node *n, struct block *b, size_t *pending)
{
    size_t missing = 0, pend = 0;
    for (size_t i = 0; i < b->ntx; i++) {
        struct tx *tx = b->txs[i];
        if (tx->has_sender) continue;
        struct tx *p = pool_find(n->pool, tx->hash);
        if (p && p->has_sender) {
            memcpy(tx->sender, p->sender, 20);
            tx->has_sender = 1;
            continue;
        }
        int st = node_sender_find(n, tx->hash, tx->sender);
        if (st == SENDER_KNOWN) {
            tx->has_sender = 1;
            continue;
        }
        missing++;
        pend += st == SENDER_RUNNING;
    }
    if (pending) *pending = pend;
    return missing;
}

static void finish_execute(struct node *n, struct block *b, uint64_t t0, int err)
{
    uint64_t height = b->h.height;
    uint8_t hash[32], root[32];
    memcpy(hash, b->hash, 32);
    memcpy(root, b->h.state_root, 32);
    char why[256] = "";
    if (!err && height != ledger_tip_height(n->ledger) + 1) {
        block_free(b);
        return; /* committed meanwhile (sync): stale */
    }
    if (!err)
        err = node_ledger_execute(n, b, why, sizeof why);
    else
        snprintf(why, sizeof why, "a transaction signature does not recover");
    if (err) {
        log_warn(MOD, "proposal %llu does not execute: %s (%s)", (unsigned long long)height,
                 tally_strerror(err), why);
        block_free(b);
        executed(n, height, hash, 0, NULL);
        return;
    }
    log_debug(MOD, "proposal %llu executed: %zu txs in %.1f ms", (unsigned long long)height,
              n->cur.b->ntx, (double)(clock_mono_ns() - t0) / 1e6);
    executed(n, height, hash, 1, root);
}

static void exec_job_free(struct exec_job *j)
{
    block_free(j->b);
    free(j->todo);
    free(j);
}

/* Drop the proposal being prepared (a newer one, sync, or shutdown). */
static void exec_cancel(struct node *n)
{
    struct exec_job *j = n->exec;
    if (!j) return;
    n->exec = NULL;
    if (j->chunks_left)
        j->cancelled = 1;
    else
        exec_job_free(j);
}

static void exec_chunk_work(uv_work_t *w)
{
    struct exec_chunk *c = w->data;
    for (size_t k = c->from; k < c->to && !c->err; k++)
        if (tx_recover_sender(c->j->b->txs[c->j->todo[k]])) c->err = TALLY_ESIG;
}

static void exec_continue(struct node *n, struct exec_job *j);

static void exec_chunk_done(uv_work_t *w, int status)
{
    struct exec_chunk *c = w->data;
    struct exec_job *j = c->j;
    for (size_t k = c->from; k < c->to; k++) {
        const struct tx *tx = j->b->txs[j->todo[k]];
        if (tx->has_sender) node_sender_put(j->n, tx->hash, tx->sender, SENDER_KNOWN);
    }
    if (!j->err) j->err = status ? TALLY_EBUSY : c->err;
    free(c);
    if (--j->chunks_left) return;
    if (j->cancelled || j->n->stopping) {
        if (j->n->exec == j) j->n->exec = NULL;
        exec_job_free(j);
        return;
    }
    exec_continue(j->n, j);
}

/* Recover what is missing and not pending elsewhere, or finish. */
static void exec_continue(struct node *n, struct exec_job *j)
{
    if (j->chunks_left) return;
    size_t pending = 0, missing = j->err ? 0 : senders_known(n, j->b, &pending);
    if (j->err || !missing) {
        struct block *b = j->b;
        int err = j->err;
        uint64_t t0 = j->t0;
        j->b = NULL;
        if (n->exec == j) n->exec = NULL;
        exec_job_free(j);
        finish_execute(n, b, t0, err);
        return;
    }
    if (pending == missing) return; /* node_exec_recheck() when gossip batches finish */
    size_t todo = 0;
    if (!j->todo && !(j->todo = malloc(j->b->ntx * sizeof *j->todo))) {
        j->err = TALLY_ENOMEM;
        exec_continue(n, j);
        return;
    }
    for (size_t i = 0; i < j->b->ntx; i++) {
        const struct tx *tx = j->b->txs[i];
        uint8_t tmp[20];
        if (!tx->has_sender && node_sender_find(n, tx->hash, tmp) != SENDER_RUNNING)
            j->todo[todo++] = i;
    }
    for (size_t from = 0; from < todo; from += NODE_EXEC_CHUNK) {
        struct exec_chunk *c = calloc(1, sizeof *c);
        if (!c) {
            j->err = TALLY_ENOMEM;
            break;
        }
        c->j = j;
        c->from = from;
        c->to = from + NODE_EXEC_CHUNK < todo ? from + NODE_EXEC_CHUNK : todo;
        c->w.data = c;
        if (uv_queue_work(&n->loop, &c->w, exec_chunk_work, exec_chunk_done)) {
            free(c);
            j->err = TALLY_EBUSY;
            break;
        }
        j->chunks_left++;
    }
    if (!j->chunks_left) exec_continue(n, j); /* nothing queued: j->err is set */
}

void node_exec_recheck(struct node *n)
{
    if (n->exec && !n->exec->chunks_left) exec_continue(n, n->exec);
}

static void start_execute(struct node *n, const struct pbft_update_item *it)
{
    if (it->height != ledger_tip_height(n->ledger) + 1) {
        log_debug(MOD, "proposal %llu not executed: tip is %llu", (unsigned long long)it->height,
                  (unsigned long long)ledger_tip_height(n->ledger));
        return; /* behind: sync will catch up */
    }
    struct sync_status ss;
    if (n->sync) {
        sync_get_status(n->sync, &ss);
        if (ss.active) {
            log_debug(MOD, "proposal %llu not executed: syncing", (unsigned long long)it->height);
            return; /* answered after sync; the core waits or moves on */
        }
    }
    if (n->cur.b && !memcmp(n->cur.b->hash, it->hash, 32)) {
        executed(n, it->height, it->hash, 1, n->cur.b->h.state_root);
        return;
    }
    exec_cancel(n);
    uint64_t t0 = clock_mono_ns();
    struct block *b;
    int rc = block_decode(&b, it->data, it->len, 0);
    if (rc || b->h.height != it->height || memcmp(b->hash, it->hash, 32) ||
        memcmp(b->h.state_root, it->root, 32)) {
        log_warn(MOD, "proposal %llu refused: %s", (unsigned long long)it->height,
                 rc ? tally_strerror(rc) : "height, hash or state root differ from the message");
        if (!rc) block_free(b);
        executed(n, it->height, it->hash, 0, NULL);
        return;
    }
    struct exec_job *j = calloc(1, sizeof *j);
    if (!j) {
        block_free(b);
        return;
    }
    j->n = n;
    j->b = b;
    j->t0 = t0;
    n->exec = j;
    exec_continue(n, j);
}

static void do_commit(struct node *n, const struct pbft_update_item *it)
{
    uint64_t tip = ledger_tip_height(n->ledger);
    if (it->height <= tip) return; /* sync got there first */
    if (it->height != tip + 1) {
        log_warn(MOD, "cannot commit block %llu: tip is %llu; syncing",
                 (unsigned long long)it->height, (unsigned long long)tip);
        if (n->sync) sync_request(n->sync, it->height);
        return;
    }
    if (!n->cur.b || memcmp(n->cur.b->hash, it->hash, 32)) {
        /* executed earlier but replaced since: execute the bytes again (rare) */
        struct block *b;
        char why[256] = "";
        int rc = it->data ? block_decode(&b, it->data, it->len, 0) : TALLY_ENOTFOUND;
        if (!rc) {
            senders_known(n, b, NULL);
            for (size_t i = 0; i < b->ntx && !rc; i++)
                if (!b->txs[i]->has_sender) rc = tx_recover_sender(b->txs[i]);
            if (!rc) rc = node_ledger_execute(n, b, why, sizeof why);
            if (rc) block_free(b);
        }
        if (rc || !n->cur.b || memcmp(n->cur.b->hash, it->hash, 32)) {
            log_error(MOD, "cannot commit block %llu: %s %s", (unsigned long long)it->height,
                      tally_strerror(rc), why);
            return;
        }
    }
    (void)node_ledger_commit_cur(n, it->cert, it->cert_len);
}

static void perform(struct node *n)
{
    int want_build = 0;
    for (size_t i = 0; i < n->up.n && !n->stopping; i++) {
        const struct pbft_update_item *it = &n->up.items[i];
        switch (it->type) {
        case PBFT_UP_PERSIST:
            /* ordered through the writer after the blocks handed before it;
             * messages after it are held until it is durable */
            if (!node_persist(n, it->data, it->len)) {
                /* nothing that depends on it may be sent */
                log_error(MOD, "cannot hand the consensus state to the writer; stopping here");
                return;
            }
            break;
        case PBFT_UP_SEND: send_or_hold(n, 0, it->to, it->data, it->len); break;
        case PBFT_UP_BROADCAST: send_or_hold(n, 1, 0, it->data, it->len); break;
        case PBFT_UP_BUILD:
            n->build_req = 1;
            n->build_height = it->height;
            n->build_view = it->view;
            want_build = 1;
            break;
        case PBFT_UP_EXECUTE: start_execute(n, it); break;
        case PBFT_UP_COMMIT: do_commit(n, it); break;
        case PBFT_UP_TIMER:
            n->pbft_timer_at = it->at_ms;
            if (!it->at_ms)
                uv_timer_stop(&n->pbft_timer);
            else {
                uint64_t now = mono_ms();
                uv_timer_start(&n->pbft_timer, on_pbft_timer, it->at_ms > now ? it->at_ms - now : 0,
                               0);
            }
            break;
        case PBFT_UP_SYNC:
            if (it->height <= ledger_tip_height(n->ledger)) {
                struct pbft_event ev = {.type = PBFT_EV_SYNCED, .now_ms = mono_ms()};
                ev.u.synced.height = ledger_tip_height(n->ledger);
                ledger_tip_hash(n->ledger, ev.u.synced.hash);
                ev.u.synced.cert = n->tip_cert;
                ev.u.synced.cert_len = n->tip_cert_len;
                feed(n, &ev); /* queued: we are inside a step */
            } else if (it->height == ledger_tip_height(n->ledger) + 1 &&
                       (n->exec || (n->cur.b && n->cur.b->h.height == it->height))) {
                /* peers are one block ahead while that block's proposal is
                 * being (or was) executed here: its COMMITs commit it, and
                 * sync would stall the next proposals. If it does not
                 * commit, the core asks again once peers are further on. */
                log_debug(MOD, "sync to %llu not started: executing its proposal",
                          (unsigned long long)it->height);
            } else if (it->height == ledger_tip_height(n->ledger) + 1 && n->sync) {
                /* one block behind: the PRE-PREPARE or the COMMITs are most
                 * likely a moment late (behind a gossip frame); sync takes a
                 * few hundred ms (peers serve durable blocks only), so it
                 * starts only if we are still behind after a grace period */
                if (!n->sync_defer_height) {
                    uv_timer_start(&n->sync_defer_timer, on_sync_defer, NODE_SYNC_GRACE_MS, 0);
                    n->sync_defer_height = it->height;
                }
            } else if (n->sync)
                sync_request(n->sync, it->height);
            break;
        }
    }
    if (want_build) node_maybe_build(n);
}

void node_consensus_proposal_ready(struct node *n, double build_ms)
{
    struct block *b = n->cur.b;
    struct buf enc;
    buf_init(&enc, BLOCK_MAX_SIZE + 4096);
    if (block_encode(&enc, b)) {
        buf_free(&enc);
        log_error(MOD, "cannot encode proposal %llu", (unsigned long long)b->h.height);
        node_ledger_discard(n);
        return;
    }
    log_debug(MOD, "proposing block %llu view %llu: %zu txs, built in %.1f ms",
              (unsigned long long)b->h.height, (unsigned long long)b->h.view, b->ntx, build_ms);
    struct pbft_event ev = {.type = PBFT_EV_PROPOSAL_READY, .now_ms = mono_ms()};
    ev.u.proposal.height = b->h.height;
    memcpy(ev.u.proposal.hash, b->hash, 32);
    memcpy(ev.u.proposal.root, b->h.state_root, 32);
    ev.u.proposal.proposal = enc.p;
    ev.u.proposal.len = enc.len;
    feed(n, &ev);
    buf_free(&enc);
}

void node_consensus_nothing_ready(struct node *n)
{
    /* The pool holds only transactions that cannot go into a block now
     * (nonce gaps): tell the core there is nothing to propose until the pool
     * changes, or it would rotate leaders for nothing. */
    n->txs_idle_count = pool_count(n->pool);
    if (n->txs_reported != 0) {
        n->txs_reported = 0;
        struct pbft_event ev = {.type = PBFT_EV_TXS, .now_ms = mono_ms()};
        ev.u.txs.pending = 0;
        feed(n, &ev);
    }
}

/* ---- gossip ---- */

/* A TXS frame: u32 count, then per transaction u32 len, the raw bytes, one
 * byte 1/0 and, after a 1, the sender's public key (64 bytes X||Y) as this
 * node recovered or checked it: the receiver checks the signatures of a
 * whole frame against these keys in one batch (docs/node.md). */
static int gossip_put(struct buf *f, const struct tx *tx)
{
    uint8_t l4[4] = {(uint8_t)(tx->raw_len >> 24), (uint8_t)(tx->raw_len >> 16),
                     (uint8_t)(tx->raw_len >> 8), (uint8_t)tx->raw_len};
    uint8_t has = tx->has_pub ? 1 : 0;
    return buf_append(f, l4, 4) || buf_append(f, tx->raw, tx->raw_len) || buf_append(f, &has, 1) ||
           (has && buf_append(f, tx->pub, 64));
}

static void put_count(struct buf *f, uint32_t c)
{
    f->p[0] = (uint8_t)(c >> 24);
    f->p[1] = (uint8_t)(c >> 16);
    f->p[2] = (uint8_t)(c >> 8);
    f->p[3] = (uint8_t)c;
}

/* Send our pool to one peer (peer NULL: to all), in frames of at most
 * NODE_GOSSIP_MAX bytes: the teaching ledger's pool merge between peers.
 * Run when a peer connects (gossip sent while it was away did not reach it)
 * and on a view change (a transaction only we hold cannot be proposed by
 * another leader). Best effort: a full send queue drops the rest. */
static void gossip_pool(struct node *n, const uint8_t *peer)
{
    size_t cnt = pool_count(n->pool);
    if (!n->net || n->stopping || !cnt) return;
    if (cnt > NODE_MERGE_MAX) cnt = NODE_MERGE_MAX;
    struct tx **txs = malloc(cnt * sizeof *txs);
    struct buf f;
    buf_init(&f, NODE_GOSSIP_MAX + TX_MAX_SIZE + 16);
    if (!txs) return;
    cnt = pool_list(n->pool, txs, cnt);
    size_t sent = 0;
    for (size_t i = 0; i < cnt;) {
        uint32_t c = 0;
        f.len = 0;
        int rc = buf_append(&f, (const uint8_t[4]){0}, 4);
        for (; i < cnt && !rc && f.len < NODE_GOSSIP_MAX; i++, c++) rc = gossip_put(&f, txs[i]);
        if (rc) break;
        put_count(&f, c);
        rc = peer ? net_send(n->net, peer, NODE_FRAME_TXS, f.p, f.len)
                  : (net_broadcast(n->net, NODE_FRAME_TXS, f.p, f.len) < 0);
        if (rc) break;
        sent += c;
    }
    buf_free(&f);
    free(txs);
    log_info(MOD, "pool merge: sent %zu of %zu pooled transactions to %s", sent,
             pool_count(n->pool), peer ? "a peer that connected" : "every peer");
}

void node_gossip_add(struct node *n, const struct tx *tx)
{
    if (!n->net || n->stopping) return;
    if (!n->gossip.len) {
        uint8_t zero[4] = {0};
        if (buf_append(&n->gossip, zero, 4)) return;
    }
    if (gossip_put(&n->gossip, tx)) return;
    n->gossip_count++;
    if (n->gossip.len >= NODE_GOSSIP_MAX) node_consensus_check(n);
}

static void gossip_flush(struct node *n)
{
    if (!n->gossip_count) return;
    put_count(&n->gossip, (uint32_t)n->gossip_count);
    (void)net_broadcast(n->net, NODE_FRAME_TXS, n->gossip.p, n->gossip.len);
    n->gossip_sent += n->gossip_count;
    n->gossip_count = 0;
    n->gossip.len = 0;
}

static void gossip_receive(struct node *n, const uint8_t *p, size_t len)
{
    if (len < 4) return;
    uint32_t count = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    size_t off = 4;
    for (uint32_t i = 0; i < count; i++) {
        if (len - off < 4) break;
        size_t l =
            (size_t)p[off] << 24 | (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 | p[off + 3];
        off += 4;
        if (len - off < l + 1) break;
        const uint8_t *raw = p + off, *hint = NULL;
        off += l;
        uint8_t has = p[off++];
        if (has > 1) break; /* malformed: the rest of the frame is dropped */
        if (has) {
            if (len - off < 64) break;
            hint = p + off;
            off += 64;
        }
        node_submit_peer_raw(n, raw, l, hint);
        n->gossip_received++;
    }
}

void node_consensus_check(struct node *n)
{
    if (n->stopping || !n->pbft) return;
    if (n->net) gossip_flush(n);
    size_t cnt = pool_count(n->pool);
    int pending = cnt > 0 && cnt != n->txs_idle_count;
    if (pending != n->txs_reported) {
        n->txs_reported = pending;
        struct pbft_event ev = {.type = PBFT_EV_TXS, .now_ms = mono_ms()};
        ev.u.txs.pending = pending;
        feed(n, &ev);
    }
}

/* ---- transport callbacks ---- */

static void on_frame(void *ctx, const uint8_t peer_id[32], uint8_t type, const uint8_t *payload,
                     size_t len)
{
    struct node *n = ctx;
    if (n->stopping) return;
    switch (type) {
    case NODE_FRAME_PBFT: {
        int idx = val_index(n, peer_id);
        if (idx < 0) return;
        struct pbft_event ev = {.type = PBFT_EV_RECEIVE, .now_ms = mono_ms()};
        ev.u.receive.from = (uint32_t)idx;
        ev.u.receive.msg = payload;
        ev.u.receive.len = len;
        feed(n, &ev);
        break;
    }
    case NODE_FRAME_TXS: gossip_receive(n, payload, len); break;
    default:
        if (n->sync) sync_on_frame(n->sync, peer_id, type, payload, len);
        break;
    }
}

static void on_peer(void *ctx, const uint8_t peer_id[32], int up)
{
    struct node *n = ctx;
    int idx = val_index(n, peer_id);
    char hid[67];
    hex_encode(hid, peer_id, 32);
    log_info(MOD, "peer %s (%.18s..) %s", idx >= 0 ? val_name(n, (uint32_t)idx) : "?", hid,
             up ? "connected" : "disconnected");
    if (n->sync && !n->stopping) sync_on_peer(n->sync, peer_id, up);
    if (up) gossip_pool(n, peer_id);
}

/* ---- sync host ---- */

/* The tip: sync applies the block after it. */
static void s_head(void *ctx, uint64_t *height, uint8_t hash[32])
{
    struct node *n = ctx;
    *height = ledger_tip_height(n->ledger);
    ledger_tip_hash(n->ledger, hash);
}

/* The durable head: what STATUS advertises (GET serves only written blocks). */
static void s_durable_head(void *ctx, uint64_t *height, uint8_t hash[32])
{
    struct node *n = ctx;
    *height = ledger_height(n->ledger);
    ledger_head_hash(n->ledger, hash);
}

static int s_send(void *ctx, const uint8_t id[32], uint8_t type, const uint8_t *p, size_t len)
{
    struct node *n = ctx;
    return n->net ? net_send(n->net, id, type, p, len) : TALLY_ENOTFOUND;
}

static int s_apply(void *ctx, struct block *b)
{
    struct node *n = ctx;
    exec_cancel(n);
    return node_ledger_apply(n, b);
}

/* The certificate of the committed head (NULL for genesis). *owned: free. */
static void head_cert(struct node *n, struct block **owned)
{
    *owned = NULL;
    struct block *b;
    int own;
    if (node_block_at(n, &b, &own, ledger_height(n->ledger))) return;
    if (own)
        *owned = b;
    else {
        /* borrowed from the ring: copy what we need into a shell block */
        struct block *c = calloc(1, sizeof *c);
        if (!c) return;
        memcpy(c->hash, b->hash, 32);
        if (b->cert_len && (c->cert = malloc(b->cert_len))) {
            memcpy(c->cert, b->cert, b->cert_len);
            c->cert_len = b->cert_len;
        }
        *owned = c;
    }
}

static uint64_t s_view(void *ctx)
{
    struct node *n = ctx;
    return n->pbft ? pbft_view(n->pbft) : 0;
}

static void s_synced(void *ctx, uint64_t height)
{
    struct node *n = ctx;
    struct pbft_event ev = {.type = PBFT_EV_SYNCED, .now_ms = mono_ms()};
    ev.u.synced.height = ledger_tip_height(n->ledger);
    ledger_tip_hash(n->ledger, ev.u.synced.hash);
    ev.u.synced.cert = n->tip_cert; /* copied if the event is queued */
    ev.u.synced.cert_len = n->tip_cert_len;
    feed(n, &ev);
    (void)height;
}

/* ---- start / stop ---- */

static int load_state(struct node *n, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    struct store_txn *t;
    int rc = store_txn_begin(n->store, &t, 0);
    if (rc) return rc;
    const void *v;
    size_t vl;
    rc =
        store_get(t, STORE_DB_CONSENSUS, NODE_PBFT_STATE_KEY, strlen(NODE_PBFT_STATE_KEY), &v, &vl);
    if (!rc && vl) {
        if ((*out = malloc(vl))) {
            memcpy(*out, v, vl);
            *len = vl;
        } else
            rc = TALLY_ENOMEM;
    } else if (rc == TALLY_ENOTFOUND)
        rc = 0;
    store_txn_abort(t);
    return rc;
}

static int start_net(struct node *n)
{
    struct net_cfg nc = {
        .listen_host = n->cfg.p2p_host,
        .listen_port = n->cfg.p2p_port,
        .ca_path = n->cfg.ca_path,
        .cert_path = n->cfg.cert_path,
        .key_path = n->cfg.key_path,
        .allowed_ids = (const uint8_t(*)[32])n->val_ids,
        .nallowed = n->nvals,
        .max_frame = BLOCK_MAX_SIZE + PBFT_MSG_OVERHEAD_MAX,
        .max_queue = 2 * (BLOCK_MAX_SIZE + PBFT_MSG_OVERHEAD_MAX),
    };
    int rc = net_start(&n->net, &n->loop, &nc, on_frame, on_peer, n);
    if (rc) {
        log_error(MOD, "cannot start the P2P transport on %s:%d: %s", n->cfg.p2p_host,
                  n->cfg.p2p_port, tally_strerror(rc));
        n->net = NULL;
        return rc;
    }
    for (size_t i = 0; i < n->cfg.npeers; i++) {
        char host[NODE_PEER_MAX];
        snprintf(host, sizeof host, "%s", n->cfg.peers[i]);
        char *colon = strrchr(host, ':');
        *colon = 0;
        int port = atoi(colon + 1);
        if (net_add_peer(n->net, host, port)) log_warn(MOD, "cannot add peer %s", n->cfg.peers[i]);
    }
    log_info(MOD, "P2P (TLS 1.3, chain CA %s) on %s:%d, %zu peer addresses", n->cfg.ca_path,
             n->cfg.p2p_host, n->cfg.p2p_port, n->cfg.npeers);
    struct sync_cfg sc = {
        .vs = {n->nvals, (const uint8_t(*)[32])n->val_ids},
        .crypto = {n->key, c_sign, c_verify},
        .store = n->store,
        .batch = n->cfg.sync_batch,
    };
    struct sync_host sh = {n, s_head, s_durable_head, s_send, s_apply, s_synced, s_view};
    rc = sync_new(&n->sync, &n->loop, &sc, &sh);
    if (rc) log_error(MOD, "cannot start block sync: %s", tally_strerror(rc));
    return rc;
}

int node_consensus_start(struct node *n)
{
    n->txs_reported = -1;
    n->txs_idle_count = SIZE_MAX;
    buf_init(&n->gossip, NODE_GOSSIP_MAX + TX_MAX_SIZE + 16);
    pbft_update_init(&n->up);
    uv_timer_init(&n->loop, &n->pbft_timer);
    n->pbft_timer.data = n;
    uv_timer_init(&n->loop, &n->sync_defer_timer);
    n->sync_defer_timer.data = n;
    if (n->genesis.nvalidators) {
        n->val_ids = n->genesis.validators;
        n->nvals = (uint32_t)n->genesis.nvalidators;
    } else {
        n->val_ids = &n->id; /* no validators listed: this node alone */
        n->nvals = 1;
    }
    int self = val_index(n, n->id);
    if (self < 0) {
        char hid[67];
        hex_encode(hid, n->id, 32);
        log_error(MOD, "this node (ID %s) is not one of the %u genesis validators", hid, n->nvals);
        return TALLY_ECONFIG;
    }
    n->self = (uint32_t)self;
    struct pbft_config pc = {
        .vs = {n->nvals, (const uint8_t(*)[32])n->val_ids},
        .self = n->self,
        .crypto = {n->key, c_sign, c_verify},
        .timeout_base_ms = n->cfg.view_timeout_ms,
        .timeout_max_ms = n->cfg.view_timeout_max_ms,
        .max_proposal = BLOCK_MAX_SIZE,
    };
    int rc = pbft_new(&n->pbft, &pc);
    if (rc) {
        log_error(MOD, "cannot create the PBFT core: %s", tally_strerror(rc));
        return rc;
    }
    if (n->nvals > 1 && (rc = start_net(n))) return rc;

    uint8_t *state;
    size_t slen;
    if ((rc = load_state(n, &state, &slen))) {
        log_error(MOD, "cannot read the consensus state: %s", tally_strerror(rc));
        return rc;
    }
    struct block *hb;
    head_cert(n, &hb);
    struct pbft_event ev = {.type = PBFT_EV_START, .now_ms = mono_ms()};
    ev.u.start.height = ledger_height(n->ledger) + 1;
    ev.u.start.state = state;
    ev.u.start.state_len = slen;
    ledger_head_hash(n->ledger, ev.u.start.head_hash);
    if (hb && hb->cert_len) {
        ev.u.start.head_cert = hb->cert;
        ev.u.start.head_cert_len = hb->cert_len;
        if ((n->tip_cert = malloc(hb->cert_len))) {
            memcpy(n->tip_cert, hb->cert, hb->cert_len);
            n->tip_cert_len = hb->cert_len;
        }
    }
    n->in_step = 1;
    rc = pbft_step(n->pbft, &ev, &n->up);
    free(state);
    block_free(hb);
    if (rc) {
        n->in_step = 0;
        log_error(MOD, "consensus cannot start from its stored state: %s (%s)", tally_strerror(rc),
                  pbft_errmsg(n->pbft));
        return rc;
    }
    perform(n);
    n->in_step = 0;
    node_writer_kick(n);
    uint64_t h = pbft_height(n->pbft), v = pbft_view(n->pbft);
    log_info(MOD,
             "PBFT: %u validators (f=%u, quorum %u), this is %s (#%u); height %llu view %llu, "
             "leader %s",
             n->nvals, pbft_faults(n->nvals), pbft_quorum(n->nvals), val_name(n, n->self), n->self,
             (unsigned long long)h, (unsigned long long)v,
             val_name(n, pbft_leader(n->nvals, h, v)));
    return 0;
}

void node_consensus_stop(struct node *n)
{
    if (n->sync) sync_stop(n->sync);
    n->sync = NULL;
    if (n->net) net_stop(n->net);
    n->net = NULL;
    exec_cancel(n);
    uv_timer_t *timers[2] = {&n->pbft_timer, &n->sync_defer_timer};
    for (int i = 0; i < 2; i++) {
        if (timers[i]->data == n && !uv_is_closing((uv_handle_t *)timers[i])) {
            uv_timer_stop(timers[i]);
            uv_close((uv_handle_t *)timers[i], NULL);
        }
    }
}

void node_consensus_free(struct node *n)
{
    while (n->q_head) {
        struct pbft_queued *q = n->q_head;
        n->q_head = q->next;
        free(q->buf);
        free(q);
    }
    n->q_tail = NULL;
    free_held(n);
    node_ledger_discard(n);
    pbft_update_free(&n->up);
    pbft_free(n->pbft);
    n->pbft = NULL;
    buf_free(&n->gossip);
}
