/* Deterministic simulator for the PBFT core (src/consensus/).
 *
 * A discrete-event cluster on one virtual clock drives n copies of the real
 * core: per-link delay and jitter (so reordering), loss, duplication,
 * partitions, crashes (also in the middle of performing a step's updates)
 * and restarts from the persisted state, and scripted Byzantine replicas
 * (silent, equivocating leader, wrong state root, replaying old messages,
 * forging signatures, hiding prepared certificates). Every run is a pure
 * function of its seed.
 *
 * Checked after every step: no two honest replicas commit different blocks
 * at one height, every commit carries a valid certificate, (height, view)
 * of an honest replica never goes back (across restarts too). At the end:
 * after the last fault ended, every honest replica reaches the target
 * height within a bound; then an idle chain stays quiet (no timer, no view
 * change).
 *
 *   tally_sim [--nodes N] [--runs R] [--base S] [--seed S] [-v]
 * --seed S (or TALLY_SEED=S) replays one run with a trace of its faults.
 * Prints one line per run (its seed) and "N passed, N failed". */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "consensus/pbft.h"
#include "consensus/pbft_msg.h"
#include "crypto/keccak.h"
#include "sim_rng.h"

#define MAXN        16
#define PROP_LEN    92 /* parent 32 | height 8 | view 8 | proposer 4 | nonce 8 | root 32 */
#define BOUND_MS    60000
#define IDLE_MS     8000
#define HIST        64
#define TIMEOUT_MS  100
#define TIMEOUT_MAX 1600

enum byz {
    BYZ_SILENT = 1,
    BYZ_EQUIV = 2,
    BYZ_BADROOT = 4,
    BYZ_REPLAY = 8,
    BYZ_FORGE = 16,
    BYZ_HIDE = 32, /* VIEW-CHANGE without its prepared certificate */
};

enum sev {
    S_DELIVER = 1,
    S_TIMER,
    S_EXEC,
    S_PROPOSAL,
    S_SYNC,
    S_CRASH,
    S_RESTART,
    S_TXS,
    S_PART,
    S_HEAL,
    S_FORGE,
};

struct sevent {
    uint64_t t, seq;
    int type, node, from;
    uint64_t epoch, a, b;
    uint8_t hash[32];
    uint8_t *data;
    size_t len;
};

#define CERT_CAP 1400
struct blk {
    uint8_t hash[32], root[32];
    uint8_t bytes[PROP_LEN];
    uint8_t cert[CERT_CAP];
    size_t cert_len;
};

struct node {
    struct pbft *core;
    int up, byz;
    struct blk *chain; /* chain[h] for h = 0..height; [0] genesis */
    size_t nchain, capchain;
    uint8_t *disk;
    size_t disk_len;
    uint64_t timer_at, epoch;
    int pending_told;
    int syncing;
    uint64_t last_h, last_v;
    uint8_t *hist[HIST];
    size_t hist_len[HIST];
    int nhist;
};

struct sim {
    struct rng r;
    uint64_t seed;
    int n, f, verbose;
    struct node nd[MAXN];
    uint8_t secret[MAXN][32], ids[MAXN][32];
    struct sevent *heap;
    size_t nheap, capheap;
    uint64_t seq, now;
    /* network */
    uint64_t delay_min, delay_jit;
    double loss, dup;
    int part[MAXN]; /* group of each node while partitioned */
    int partitioned;
    /* workload */
    uint64_t target;
    uint64_t last_fault;
    /* decided blocks */
    uint8_t (*decided)[32];
    int *have_decided;
    size_t ndecided;
    /* outcome */
    char fail[256];
    uint64_t msgs, refused, commits, viewchanges;
    struct pbft_update up;
};

/* ---- fake crypto: sig = K(secret||d) || K(K(secret||d)) ---- */

static void fake_sig(uint8_t sig[64], const uint8_t secret[32], const uint8_t d[32])
{
    uint8_t b[64];
    memcpy(b, secret, 32);
    memcpy(b + 32, d, 32);
    keccak256(sig, b, 64);
    keccak256(sig + 32, sig, 32);
}

struct signer {
    struct sim *s;
    int idx;
};
static struct signer signers[MAXN];

static int sim_sign(void *ctx, uint8_t sig[PBFT_SIG_LEN], const uint8_t d[32])
{
    struct signer *g = ctx;
    fake_sig(sig, g->s->secret[g->idx], d);
    return 0;
}

static int sim_verify(void *ctx, const uint8_t id[32], const uint8_t sig[PBFT_SIG_LEN],
                      const uint8_t d[32])
{
    struct signer *g = ctx;
    for (int i = 0; i < g->s->n; i++)
        if (!memcmp(g->s->ids[i], id, 32)) {
            uint8_t want[64];
            fake_sig(want, g->s->secret[i], d);
            return memcmp(want, sig, 64) ? TALLY_ESIG : 0;
        }
    return TALLY_ESIG;
}

/* ---- event heap ---- */

static int ev_less(const struct sevent *a, const struct sevent *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void push(struct sim *s, const struct sevent *tmpl)
{
    if (s->nheap == s->capheap) {
        s->capheap = s->capheap ? s->capheap * 2 : 1024;
        s->heap = realloc(s->heap, s->capheap * sizeof *s->heap);
        if (!s->heap) abort();
    }
    size_t i = s->nheap++;
    struct sevent e = *tmpl;
    e.seq = ++s->seq;
    e.epoch = e.node >= 0 ? s->nd[e.node].epoch : 0;
    while (i > 0) {
        size_t par = (i - 1) / 2;
        if (!ev_less(&e, &s->heap[par])) break;
        s->heap[i] = s->heap[par];
        i = par;
    }
    s->heap[i] = e;
}

static int pop(struct sim *s, struct sevent *out)
{
    if (!s->nheap) return 0;
    *out = s->heap[0];
    struct sevent last = s->heap[--s->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct sevent *mv = &last;
        if (l < s->nheap && ev_less(&s->heap[l], mv)) {
            m = l;
            mv = &s->heap[l];
        }
        if (r < s->nheap && ev_less(&s->heap[r], mv)) m = r;
        if (m == i) break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (s->nheap) s->heap[i] = last;
    return 1;
}

static void schedule(struct sim *s, uint64_t t, int type, int node, int from, uint64_t a,
                     uint64_t b, const uint8_t *hash, const uint8_t *data, size_t len)
{
    struct sevent e = {0};
    e.t = t;
    e.type = type;
    e.node = node;
    e.from = from;
    e.a = a;
    e.b = b;
    if (hash) memcpy(e.hash, hash, 32);
    if (data) {
        e.data = malloc(len ? len : 1);
        if (!e.data) abort();
        memcpy(e.data, data, len);
        e.len = len;
    }
    push(s, &e);
}

/* ---- network ---- */

static int linked(struct sim *s, int a, int b)
{
    return !s->partitioned || s->part[a] == s->part[b];
}

static void net_send(struct sim *s, int from, int to, const uint8_t *p, size_t len)
{
    if (from == to) return;
    s->msgs++;
    if (!linked(s, from, to)) return;
    if (rng_chance(&s->r, s->loss)) return;
    int copies = rng_chance(&s->r, s->dup) ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        uint64_t d = s->delay_min + rng_below(&s->r, s->delay_jit + 1);
        schedule(s, s->now + d, S_DELIVER, to, from, 0, 0, NULL, p, len);
    }
}

static void remember(struct node *x, const uint8_t *p, size_t len)
{
    int i = x->nhist < HIST ? x->nhist++ : (int)(len % HIST);
    free(x->hist[i]);
    x->hist[i] = malloc(len);
    if (!x->hist[i]) abort();
    memcpy(x->hist[i], p, len);
    x->hist_len[i] = len;
}

/* ---- blocks ---- */

static void block_root(uint8_t root[32], const uint8_t parent_root[32], const uint8_t *bytes)
{
    uint8_t b[32 + PROP_LEN - 32];
    memcpy(b, parent_root, 32);
    memcpy(b + 32, bytes, PROP_LEN - 32);
    keccak256(root, b, sizeof b);
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

/* Build a proposal on top of x's head. */
static void make_block(struct sim *s, struct node *x, int who, uint64_t view, int badroot,
                       struct blk *out)
{
    struct blk *head = &x->chain[x->nchain - 1];
    memset(out, 0, sizeof *out);
    memcpy(out->bytes, head->hash, 32);
    put64(out->bytes + 32, x->nchain);
    put64(out->bytes + 40, view);
    out->bytes[51] = (uint8_t)who;
    put64(out->bytes + 52, rng_next(&s->r));
    block_root(out->root, head->root, out->bytes);
    if (badroot) out->root[0] ^= 0x5a;
    memcpy(out->bytes + 60, out->root, 32);
    keccak256(out->hash, out->bytes, PROP_LEN);
}

/* Execute a proposal on x's head: 1 and the root if it is valid here. */
static int exec_block(struct node *x, const uint8_t *bytes, size_t len, const uint8_t hash[32],
                      uint64_t height, uint8_t root[32])
{
    uint8_t h[32];
    if (len != PROP_LEN || height != x->nchain) return 0;
    keccak256(h, bytes, len);
    if (memcmp(h, hash, 32)) return 0;
    struct blk *head = &x->chain[x->nchain - 1];
    if (memcmp(bytes, head->hash, 32) || get64(bytes + 32) != height) return 0;
    block_root(root, head->root, bytes);
    return 1;
}

/* ---- safety checks ---- */

static void failf(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(struct sim *s, const char *fmt, ...)
{
    if (s->fail[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fail, sizeof s->fail, fmt, ap);
    va_end(ap);
}

static void append_block(struct sim *s, int i, const struct blk *b, const uint8_t *cert,
                         size_t cert_len)
{
    struct node *x = &s->nd[i];
    struct pbft_validators vs = {(uint32_t)s->n, (const uint8_t(*)[32])s->ids};
    struct pbft_crypto c = {&signers[0], sim_sign, sim_verify};
    uint64_t h = x->nchain;
    if (pbft_cert_verify(&vs, &c, b->hash, h, cert, cert_len))
        failf(s, "node %d committed height %" PRIu64 " with an invalid certificate", i, h);
    if (x->nchain == x->capchain) {
        x->capchain *= 2;
        x->chain = realloc(x->chain, x->capchain * sizeof *x->chain);
        if (!x->chain) abort();
    }
    x->chain[x->nchain] = *b;
    if (cert_len <= CERT_CAP) {
        memcpy(x->chain[x->nchain].cert, cert, cert_len);
        x->chain[x->nchain].cert_len = cert_len;
    }
    x->nchain++;
    if (x->byz) return;
    if (h >= s->ndecided) {
        size_t nn = h * 2 + 8;
        s->decided = realloc(s->decided, nn * sizeof *s->decided);
        s->have_decided = realloc(s->have_decided, nn * sizeof *s->have_decided);
        if (!s->decided || !s->have_decided) abort();
        for (size_t k = s->ndecided; k < nn; k++) s->have_decided[k] = 0;
        s->ndecided = nn;
    }
    if (!s->have_decided[h]) {
        s->have_decided[h] = 1;
        memcpy(s->decided[h], b->hash, 32);
    } else if (memcmp(s->decided[h], b->hash, 32)) {
        failf(s, "SAFETY: node %d committed a different block at height %" PRIu64, i, h);
    }
    s->commits++;
}

static void check_views(struct sim *s, int i)
{
    struct node *x = &s->nd[i];
    if (x->byz || !x->up) return;
    uint64_t h = pbft_height(x->core), v = pbft_view(x->core);
    if (h < x->last_h || (h == x->last_h && v < x->last_v))
        failf(s, "node %d went back from (%" PRIu64 ",%" PRIu64 ") to (%" PRIu64 ",%" PRIu64 ")", i,
              x->last_h, x->last_v, h, v);
    if (h == x->last_h && v > x->last_v) s->viewchanges++;
    if (s->verbose > 1 && (h != x->last_h || v != x->last_v))
        printf("  t=%" PRIu64 " node %d -> (%" PRIu64 ",%" PRIu64 ")%s\n", s->now, i, h, v,
               pbft_in_view_change(x->core) ? " vc" : "");
    x->last_h = h;
    x->last_v = v;
}

/* ---- Byzantine output ---- */

static void byz_send(struct sim *s, int i, int to, const uint8_t *p, size_t len)
{
    struct node *x = &s->nd[i];
    if (x->byz & BYZ_SILENT) return;
    struct pbft__msg m;
    if ((x->byz & (BYZ_EQUIV | BYZ_HIDE)) && pbft__msg_decode(&m, p, len, PROP_LEN) == 0) {
        uint8_t d[32];
        if ((x->byz & BYZ_EQUIV) && m.type == PBFT_MSG_PREPREPARE && (to % 2)) {
            /* Another valid proposal, signed, for odd replicas. */
            struct blk b;
            make_block(s, x, i, m.view, 0, &b);
            memcpy(m.hash, b.hash, 32);
            memcpy(m.root, b.root, 32);
            m.proposal = b.bytes;
            m.proposal_len = PROP_LEN;
            pbft__msg_digest(d, &m);
            fake_sig(m.sig, s->secret[i], d);
            struct buf out;
            buf_init(&out, 1 << 20);
            if (pbft__msg_encode(&out, &m, NULL, 0) == 0) net_send(s, i, to, out.p, out.len);
            buf_free(&out);
            return;
        }
        if ((x->byz & BYZ_EQUIV) && m.type == PBFT_MSG_PREPARE && (to % 2)) {
            m.hash[0] ^= 1; /* a vote for something else */
            pbft__msg_digest(d, &m);
            fake_sig(m.sig, s->secret[i], d);
            struct buf out;
            buf_init(&out, 1 << 20);
            if (pbft__msg_encode(&out, &m, NULL, 0) == 0) net_send(s, i, to, out.p, out.len);
            buf_free(&out);
            return;
        }
        if ((x->byz & BYZ_HIDE) && m.type == PBFT_MSG_VIEWCHANGE && m.has_prepared) {
            m.has_prepared = 0;
            m.proposal = NULL;
            m.proposal_len = 0;
            pbft__msg_digest(d, &m);
            fake_sig(m.sig, s->secret[i], d);
            struct buf out;
            buf_init(&out, 1 << 20);
            if (pbft__msg_encode(&out, &m, NULL, 0) == 0) net_send(s, i, to, out.p, out.len);
            buf_free(&out);
            return;
        }
    }
    net_send(s, i, to, p, len);
    if ((x->byz & BYZ_REPLAY) && x->nhist && rng_chance(&s->r, 0.3)) {
        int k = (int)rng_below(&s->r, (uint64_t)x->nhist);
        int dst = (int)rng_below(&s->r, (uint64_t)s->n);
        net_send(s, i, dst, x->hist[k], x->hist_len[k]);
    }
}

/* Forged messages in the name of others (bad signatures), a forged
 * certificate, a VIEW-CHANGE with a forged prepared certificate. */
static void forge(struct sim *s, int i)
{
    struct node *x = &s->nd[i];
    if (!x->up) return;
    struct pbft__msg m;
    memset(&m, 0, sizeof m);
    uint64_t h = x->nchain;
    int victim = (int)rng_below(&s->r, (uint64_t)s->n);
    m.sender = (uint32_t)victim;
    m.height = h;
    m.view = rng_below(&s->r, 4);
    for (int k = 0; k < 32; k++) m.hash[k] = (uint8_t)rng_next(&s->r);
    for (int k = 0; k < 64; k++) m.sig[k] = (uint8_t)rng_next(&s->r);
    struct pbft__sigent sg[MAXN];
    uint64_t kind = rng_below(&s->r, 4);
    struct buf out, cert;
    buf_init(&out, 1 << 20);
    buf_init(&cert, 1 << 16);
    if (kind == 0) {
        m.type = PBFT_MSG_COMMIT;
    } else if (kind == 1) {
        m.type = PBFT_MSG_PREPARE;
    } else if (kind == 2) {
        /* Our own valid signature, but a certificate of garbage. */
        m.type = PBFT_MSG_COMMITTED;
        m.sender = (uint32_t)i;
        for (int k = 0; k < s->n; k++) {
            sg[k].idx = (uint32_t)k;
            for (int j = 0; j < 64; j++) sg[k].sig[j] = (uint8_t)rng_next(&s->r);
        }
        if (pbft__cert_encode(&cert, m.view, sg, (size_t)s->n)) abort();
        m.cert = cert.p;
        m.cert_len = cert.len;
        uint8_t d[32];
        pbft__msg_digest(d, &m);
        fake_sig(m.sig, s->secret[i], d);
    } else {
        m.type = PBFT_MSG_VIEWCHANGE;
        m.sender = (uint32_t)i;
        m.view = 5 + rng_below(&s->r, 5);
        m.has_prepared = 1;
        m.pview = 1;
        memcpy(m.phash, m.hash, 32);
        for (int k = 0; k < s->n; k++) {
            sg[k].idx = (uint32_t)k;
            for (int j = 0; j < 64; j++) sg[k].sig[j] = (uint8_t)rng_next(&s->r);
        }
        uint8_t d[32];
        pbft__msg_digest(d, &m);
        fake_sig(m.sig, s->secret[i], d);
    }
    if (pbft__msg_encode(&out, &m, sg, m.type == PBFT_MSG_VIEWCHANGE ? (size_t)s->n : 0) == 0)
        for (int k = 0; k < s->n; k++) net_send(s, i, k, out.p, out.len);
    buf_free(&out);
    buf_free(&cert);
}

/* ---- driving one node ---- */

static void crash(struct sim *s, int i);

static void tell_txs(struct sim *s, int i);

static int step(struct sim *s, int i, struct pbft_event *ev, int may_crash_mid)
{
    struct node *x = &s->nd[i];
    if (!x->up) return 0;
    ev->now_ms = s->now;
    int rc = pbft_step(x->core, ev, &s->up);
    if (rc) {
        if (ev->type == PBFT_EV_RECEIVE && rc != TALLY_ENOMEM) {
            s->refused++;
            return 0;
        }
        failf(s, "node %d: step failed: %s (%s)", i, tally_errname(rc), pbft_errmsg(x->core));
        return rc;
    }
    size_t cut = s->up.n;
    if (may_crash_mid && s->up.n) cut = rng_below(&s->r, s->up.n + 1);
    int committed = 0;
    for (size_t k = 0; k < cut; k++) {
        struct pbft_update_item *u = &s->up.items[k];
        switch (u->type) {
        case PBFT_UP_PERSIST:
            free(x->disk);
            x->disk = malloc(u->len);
            if (!x->disk) abort();
            memcpy(x->disk, u->data, u->len);
            x->disk_len = u->len;
            break;
        case PBFT_UP_SEND:
            if (x->byz)
                byz_send(s, i, (int)u->to, u->data, u->len);
            else
                net_send(s, i, (int)u->to, u->data, u->len);
            break;
        case PBFT_UP_BROADCAST:
            for (int k2 = 0; k2 < s->n; k2++) {
                if (k2 == i) continue;
                if (x->byz)
                    byz_send(s, i, k2, u->data, u->len);
                else
                    net_send(s, i, k2, u->data, u->len);
            }
            break;
        case PBFT_UP_BUILD:
            schedule(s, s->now + 1 + rng_below(&s->r, 3), S_PROPOSAL, i, 0, u->height, u->view,
                     NULL, NULL, 0);
            break;
        case PBFT_UP_EXECUTE:
            schedule(s, s->now + 1 + rng_below(&s->r, 3), S_EXEC, i, 0, u->height, 0, u->hash,
                     u->data, u->len);
            break;
        case PBFT_UP_COMMIT: {
            struct blk b;
            uint8_t root[32];
            if (!exec_block(x, u->data, u->len, u->hash, u->height, root) ||
                memcmp(root, u->root, 32)) {
                failf(s, "node %d: asked to commit a block that does not apply", i);
                break;
            }
            memcpy(b.hash, u->hash, 32);
            memcpy(b.root, root, 32);
            memcpy(b.bytes, u->data, PROP_LEN);
            append_block(s, i, &b, u->cert, u->cert_len);
            committed = 1;
            break;
        }
        case PBFT_UP_TIMER:
            x->timer_at = u->at_ms;
            if (u->at_ms)
                schedule(s, u->at_ms > s->now ? u->at_ms : s->now, S_TIMER, i, 0, u->at_ms, 0, NULL,
                         NULL, 0);
            break;
        case PBFT_UP_SYNC:
            if (!x->syncing) {
                x->syncing = 1;
                schedule(s, s->now + 5 + rng_below(&s->r, 20), S_SYNC, i, 0, u->height, 0, NULL,
                         NULL, 0);
            }
            break;
        }
    }
    if (cut < s->up.n) {
        if (s->verbose) printf("  t=%" PRIu64 " node %d crashes mid-step\n", s->now, i);
        crash(s, i);
        schedule(s, s->now + 50 + rng_below(&s->r, 500), S_RESTART, -1, 0, (uint64_t)i, 0, NULL,
                 NULL, 0);
        return 0;
    }
    check_views(s, i);
    if (committed) tell_txs(s, i);
    return 0;
}

static void tell_txs(struct sim *s, int i)
{
    struct node *x = &s->nd[i];
    int pending = x->nchain <= s->target;
    if (pending == x->pending_told) return;
    x->pending_told = pending;
    struct pbft_event ev = {.type = PBFT_EV_TXS};
    ev.u.txs.pending = pending;
    step(s, i, &ev, 0);
}

static void start_node(struct sim *s, int i)
{
    struct node *x = &s->nd[i];
    struct pbft_config cfg = {0};
    cfg.vs.n = (uint32_t)s->n;
    cfg.vs.ids = (const uint8_t(*)[32])s->ids;
    cfg.self = (uint32_t)i;
    signers[i].s = s;
    signers[i].idx = i;
    cfg.crypto.ctx = &signers[i];
    cfg.crypto.sign = sim_sign;
    cfg.crypto.verify = sim_verify;
    cfg.timeout_base_ms = TIMEOUT_MS;
    cfg.timeout_max_ms = TIMEOUT_MAX;
    cfg.max_proposal = PROP_LEN;
    if (pbft_new(&x->core, &cfg)) abort();
    x->up = 1;
    x->timer_at = 0;
    x->pending_told = 0;
    x->syncing = 0;
    struct pbft_event ev = {.type = PBFT_EV_START};
    ev.u.start.height = x->nchain;
    ev.u.start.state = x->disk;
    ev.u.start.state_len = x->disk_len;
    struct blk *head = &x->chain[x->nchain - 1];
    memcpy(ev.u.start.head_hash, head->hash, 32);
    ev.u.start.head_cert = head->cert_len ? head->cert : NULL;
    ev.u.start.head_cert_len = head->cert_len;
    step(s, i, &ev, 0);
    tell_txs(s, i);
}

static void crash(struct sim *s, int i)
{
    struct node *x = &s->nd[i];
    if (!x->up) return;
    pbft_free(x->core);
    x->core = NULL;
    x->up = 0;
    x->epoch++;
}

/* Block sync: copy certified blocks from the longest reachable chain. */
static void do_sync(struct sim *s, int i)
{
    struct node *x = &s->nd[i];
    x->syncing = 0;
    int best = -1;
    for (int k = 0; k < s->n; k++)
        if (k != i && s->nd[k].up && linked(s, i, k) &&
            (best < 0 || s->nd[k].nchain > s->nd[best].nchain))
            best = k;
    uint64_t before = x->nchain;
    if (best >= 0) {
        struct node *src = &s->nd[best];
        while (x->nchain < src->nchain) {
            struct blk *b = &src->chain[x->nchain];
            uint8_t root[32];
            if (!exec_block(x, b->bytes, PROP_LEN, b->hash, x->nchain, root) ||
                memcmp(root, b->root, 32))
                break; /* a diverged source: stop (the safety check reports it) */
            struct pbft_validators vs = {(uint32_t)s->n, (const uint8_t(*)[32])s->ids};
            struct pbft_crypto c = {&signers[0], sim_sign, sim_verify};
            if (pbft_cert_verify(&vs, &c, b->hash, x->nchain, b->cert, b->cert_len)) {
                failf(s, "node %d: sync got a block without a valid certificate", i);
                break;
            }
            if (x->nchain == x->capchain) {
                x->capchain *= 2;
                x->chain = realloc(x->chain, x->capchain * sizeof *x->chain);
                if (!x->chain) abort();
            }
            x->chain[x->nchain++] = *b;
            if (!x->byz) {
                uint64_t h = x->nchain - 1;
                if (h < s->ndecided && s->have_decided[h] && memcmp(s->decided[h], b->hash, 32))
                    failf(s, "SAFETY: node %d synced a different block at %" PRIu64, i, h);
            }
        }
    }
    if (s->verbose && x->nchain > before)
        printf("  t=%" PRIu64 " node %d synced %" PRIu64 " -> %zu from %d\n", s->now, i, before,
               x->nchain - 1, best);
    struct pbft_event ev = {.type = PBFT_EV_SYNCED};
    ev.u.synced.height = x->nchain - 1;
    memcpy(ev.u.synced.hash, x->chain[x->nchain - 1].hash, 32);
    ev.u.synced.cert = x->chain[x->nchain - 1].cert_len ? x->chain[x->nchain - 1].cert : NULL;
    ev.u.synced.cert_len = x->chain[x->nchain - 1].cert_len;
    step(s, i, &ev, 0);
    tell_txs(s, i);
}

/* ---- one run ---- */

static int honest_done(struct sim *s)
{
    for (int i = 0; i < s->n; i++)
        if (!s->nd[i].byz && (!s->nd[i].up || s->nd[i].nchain <= s->target)) return 0;
    return 1;
}

static int run(uint64_t seed, int n, int verbose, double *vt)
{
    struct sim *s = calloc(1, sizeof *s);
    if (!s) abort();
    rng_seed(&s->r, seed);
    s->seed = seed;
    s->n = n;
    s->f = (int)pbft_faults((uint32_t)n);
    s->verbose = verbose;
    pbft_update_init(&s->up);
    for (int i = 0; i < n; i++) {
        uint8_t in[16] = "sim-key";
        in[15] = (uint8_t)i;
        keccak256(s->secret[i], in, sizeof in);
        keccak256(s->ids[i], s->secret[i], 32);
    }
    /* Network and workload. */
    s->delay_min = 1 + rng_below(&s->r, 10);
    s->delay_jit = rng_below(&s->r, 40);
    s->loss = rng_chance(&s->r, 0.5) ? (double)rng_below(&s->r, 8) / 100.0 : 0;
    s->dup = rng_chance(&s->r, 0.5) ? (double)rng_below(&s->r, 10) / 100.0 : 0;
    s->target = 6 + rng_below(&s->r, 8);
    /* Byzantine replicas: up to f. */
    int nbyz = (int)rng_below(&s->r, (uint64_t)s->f + 1);
    for (int k = 0; k < nbyz; k++) {
        int i;
        do i = (int)rng_below(&s->r, (uint64_t)n);
        while (s->nd[i].byz);
        static const int kinds[] = {BYZ_SILENT,
                                    BYZ_EQUIV,
                                    BYZ_BADROOT,
                                    BYZ_REPLAY,
                                    BYZ_FORGE,
                                    BYZ_HIDE,
                                    BYZ_EQUIV | BYZ_REPLAY | BYZ_HIDE | BYZ_FORGE};
        s->nd[i].byz = kinds[rng_below(&s->r, sizeof kinds / sizeof kinds[0])];
    }
    /* Genesis. */
    for (int i = 0; i < n; i++) {
        struct node *x = &s->nd[i];
        x->capchain = 64;
        x->chain = calloc(x->capchain, sizeof *x->chain);
        if (!x->chain) abort();
        keccak256(x->chain[0].hash, "genesis", 7);
        x->nchain = 1;
    }
    /* Faults within the first few seconds. */
    uint64_t fault_end = rng_below(&s->r, 8000);
    s->last_fault = 0;
    int nfaults = fault_end ? (int)rng_below(&s->r, 6) : 0;
    for (int k = 0; k < nfaults; k++) {
        uint64_t t0 = rng_below(&s->r, fault_end);
        uint64_t t1 = t0 + 50 + rng_below(&s->r, 3000);
        if (t1 > s->last_fault) s->last_fault = t1;
        if (rng_chance(&s->r, 0.5)) {
            int i = (int)rng_below(&s->r, (uint64_t)n);
            schedule(s, t0, S_CRASH, -1, 0, (uint64_t)i, 0, NULL, NULL, 0);
            schedule(s, t1, S_RESTART, -1, 0, (uint64_t)i, 0, NULL, NULL, 0);
        } else {
            uint64_t mask = rng_next(&s->r);
            schedule(s, t0, S_PART, -1, 0, mask, 0, NULL, NULL, 0);
            schedule(s, t1, S_HEAL, -1, 0, 0, 0, NULL, NULL, 0);
        }
    }
    uint64_t mid_crash_until = s->last_fault;
    double p_mid = rng_chance(&s->r, 0.3) ? 0.01 : 0;
    for (int i = 0; i < n; i++)
        if (s->nd[i].byz & BYZ_FORGE)
            for (uint64_t t = 10; t < s->last_fault + 3000; t += 200 + rng_below(&s->r, 300))
                schedule(s, t, S_FORGE, -1, 0, (uint64_t)i, 0, NULL, NULL, 0);
    if (verbose)
        printf("seed %" PRIu64 ": n=%d delay=%" PRIu64 "+%" PRIu64
               " loss=%.2f dup=%.2f target=%" PRIu64 " faults=%d until %" PRIu64
               " mid-crash=%.2f byz=",
               seed, n, s->delay_min, s->delay_jit, s->loss, s->dup, s->target, nfaults,
               s->last_fault, p_mid);
    if (verbose) {
        for (int i = 0; i < n; i++) printf("%d", s->nd[i].byz);
        printf("\n");
    }
    for (int i = 0; i < n; i++) start_node(s, i);

    uint64_t done_at = 0;
    struct sevent e;
    while (!s->fail[0] && pop(s, &e)) {
        s->now = e.t;
        if (s->now > s->last_fault + BOUND_MS && !done_at) {
            failf(s,
                  "LIVENESS: honest replicas not at height %" PRIu64 " %d ms after the last "
                  "fault (heights:",
                  s->target + 1, BOUND_MS);
            size_t l = strlen(s->fail);
            for (int i = 0; i < n && l < sizeof s->fail - 8; i++)
                l += (size_t)snprintf(s->fail + l, sizeof s->fail - l, " %zu%s",
                                      s->nd[i].nchain - 1, s->nd[i].byz ? "b" : "");
            snprintf(s->fail + l, sizeof s->fail - l, ")");
            free(e.data);
            break;
        }
        int i = e.node;
        if (i >= 0 && (!s->nd[i].up || e.epoch != s->nd[i].epoch)) {
            free(e.data);
            continue;
        }
        int mid = p_mid > 0 && s->now < mid_crash_until && rng_chance(&s->r, p_mid);
        struct pbft_event ev = {0};
        switch (e.type) {
        case S_DELIVER:
            if (!linked(s, e.from, i)) break;
            if (s->nd[i].byz & BYZ_REPLAY) remember(&s->nd[i], e.data, e.len);
            ev.type = PBFT_EV_RECEIVE;
            ev.u.receive.from = (uint32_t)e.from;
            ev.u.receive.msg = e.data;
            ev.u.receive.len = e.len;
            step(s, i, &ev, mid);
            break;
        case S_TIMER:
            if (s->nd[i].timer_at != e.a) break;
            ev.type = PBFT_EV_TIMEOUT;
            step(s, i, &ev, mid);
            break;
        case S_EXEC: {
            ev.type = PBFT_EV_EXECUTED;
            ev.u.executed.height = e.a;
            memcpy(ev.u.executed.hash, e.hash, 32);
            ev.u.executed.ok =
                exec_block(&s->nd[i], e.data, e.len, e.hash, e.a, ev.u.executed.root);
            step(s, i, &ev, mid);
            break;
        }
        case S_PROPOSAL: {
            struct node *x = &s->nd[i];
            if (e.a != x->nchain || x->nchain > s->target) break;
            struct blk b;
            make_block(s, x, i, e.b, (x->byz & BYZ_BADROOT) != 0, &b);
            ev.type = PBFT_EV_PROPOSAL_READY;
            ev.u.proposal.height = e.a;
            memcpy(ev.u.proposal.hash, b.hash, 32);
            memcpy(ev.u.proposal.root, b.root, 32);
            ev.u.proposal.proposal = b.bytes;
            ev.u.proposal.len = PROP_LEN;
            step(s, i, &ev, mid);
            break;
        }
        case S_SYNC: do_sync(s, i); break;
        case S_CRASH:
            if (verbose) printf("  t=%" PRIu64 " crash %d\n", s->now, (int)e.a);
            crash(s, (int)e.a);
            break;
        case S_RESTART:
            i = (int)e.a;
            if (s->nd[i].up) break;
            if (verbose) printf("  t=%" PRIu64 " restart %d\n", s->now, i);
            start_node(s, i);
            break;
        case S_PART:
            s->partitioned = 1;
            for (int k = 0; k < n; k++) s->part[k] = (int)((e.a >> k) & 1);
            if (verbose) {
                printf("  t=%" PRIu64 " partition", s->now);
                for (int k = 0; k < n; k++) printf(" %d", s->part[k]);
                printf("\n");
            }
            break;
        case S_HEAL:
            if (verbose) printf("  t=%" PRIu64 " heal\n", s->now);
            s->partitioned = 0;
            break;
        case S_FORGE: forge(s, (int)e.a); break;
        }
        free(e.data);
        if (!done_at && s->now >= s->last_fault && honest_done(s)) {
            done_at = s->now;
            if (verbose) printf("  t=%" PRIu64 " all honest at target\n", s->now);
            for (int k = 0; k < n; k++)
                s->nd[k].last_v = s->nd[k].up ? pbft_view(s->nd[k].core) : 0;
        }
        if (done_at && s->now > done_at + IDLE_MS) break;
    }
    /* Idle: a finished chain is quiet. */
    if (!s->fail[0] && done_at) {
        for (int i = 0; i < n; i++) {
            struct node *x = &s->nd[i];
            if (x->byz || !x->up) continue;
            if (x->timer_at) failf(s, "IDLE: node %d still has a timer armed", i);
        }
    } else if (!s->fail[0] && !done_at) {
        failf(s, "LIVENESS: ran out of events before the target height");
    }
    *vt = (double)s->now;
    int ok = !s->fail[0];
    if (!ok && verbose)
        for (int i = 0; i < n; i++) {
            struct node *x = &s->nd[i];
            printf("  node %d byz=%d up=%d chain=%zu", i, x->byz, x->up, x->nchain - 1);
            if (x->up)
                printf(" h=%" PRIu64 " v=%" PRIu64 " in_vc=%d timer=%" PRIu64 " pending=%d",
                       pbft_height(x->core), pbft_view(x->core), pbft_in_view_change(x->core),
                       x->timer_at, x->pending_told);
            printf("\n");
        }
    if (!ok)
        printf("FAIL seed=%" PRIu64 " n=%d t=%" PRIu64 ": %s\n", seed, n, s->now, s->fail);
    else
        printf("seed=%" PRIu64 " ok t=%" PRIu64 " msgs=%" PRIu64 " vc=%" PRIu64 " refused=%" PRIu64
               "\n",
               seed, s->now, s->msgs, s->viewchanges, s->refused);
    /* cleanup */
    while (pop(s, &e)) free(e.data);
    free(s->heap);
    for (int i = 0; i < n; i++) {
        pbft_free(s->nd[i].core);
        free(s->nd[i].chain);
        free(s->nd[i].disk);
        for (int k = 0; k < s->nd[i].nhist; k++) free(s->nd[i].hist[k]);
    }
    free(s->decided);
    free(s->have_decided);
    pbft_update_free(&s->up);
    free(s);
    return ok;
}

int main(int argc, char **argv)
{
    int n = 4, runs = 1000, verbose = 0, one = 0;
    uint64_t base = 0, seed = 0;
    const char *env = getenv("TALLY_SEED");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--nodes") && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--base") && i + 1 < argc)
            base = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
            one = 1;
        } else if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else if (!strcmp(argv[i], "-vv"))
            verbose = 2;
        else {
            fprintf(stderr, "usage: tally_sim [--nodes N] [--runs R] [--base S] [--seed S] [-v]\n");
            return 2;
        }
    }
    if (env && *env && !one) {
        seed = strtoull(env, NULL, 0);
        one = 1;
    }
    if (n < 1 || n > MAXN) {
        fprintf(stderr, "nodes must be 1..%d\n", MAXN);
        return 2;
    }
    /* Default seeds are fixed per n, so CI is reproducible. */
    if (!base) base = 1000000ull * (uint64_t)n;
    int passed = 0, failed = 0;
    double vt = 0, total_vt = 0;
    if (one) {
        if (run(seed, n, verbose ? verbose : 1, &vt))
            passed++;
        else
            failed++;
    } else {
        printf("tally_sim: n=%d seeds %" PRIu64 "..%" PRIu64 " (replay one: tally_sim --nodes %d "
               "--seed S)\n",
               n, base, base + (uint64_t)runs - 1, n);
        for (int k = 0; k < runs; k++) {
            if (run(base + (uint64_t)k, n, verbose, &vt))
                passed++;
            else
                failed++;
            total_vt += vt;
        }
        printf("virtual time simulated: %.1f s\n", total_vt / 1000.0);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
