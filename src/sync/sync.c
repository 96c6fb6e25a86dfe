#include "sync/sync.h"
#include <stdlib.h>
#include <string.h>
#include "store/chainstore.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/log.h"

#define MOD "sync"

#define SYNC_TICK_MS       250
#define SYNC_MAX_RANGES    32
#define SYNC_PEER_INFLIGHT 2     /* GETs outstanding per peer */
#define SYNC_BAD_PEER_MS   10000 /* a peer that served a bad block is skipped this long */
#define SYNC_LOG_MS        2000
#define SYNC_STATUS_LEN    40 /* height || hash */
#define SYNC_STATUS_VIEW   48 /* ... || view */
#define SYNC_GET_LEN       12
#define SYNC_BLOCKS_HDR    12

enum range_state { R_FREE = 0, R_WANTED, R_REQUESTED, R_VERIFYING, R_READY };

struct range {
    enum range_state st;
    uint64_t from;
    uint32_t count;
    int peer;
    uint64_t gen; /* bumped whenever the range is (re)assigned: stale answers are dropped */
    uint64_t sent_ms;
    struct block **blocks; /* R_READY: count blocks */
};

struct peer {
    uint8_t id[32];
    int up;
    uint64_t height;
    uint8_t hash[32];
    uint64_t view;       /* SYNC_VIEW_UNKNOWN until a STATUS carries one */
    int ahead_seen;      /* the last STATUS already showed this peer ahead of us */
    uint64_t ahead_head; /* ... while our head was this */
    int inflight;
    uint64_t bad_until;
};

struct sync {
    uv_loop_t *loop;
    uv_timer_t timer;
    struct sync_cfg cfg;
    struct sync_host host;
    uint8_t (*ids)[32];
    struct peer *peers;
    struct range ranges[SYNC_MAX_RANGES];
    uint64_t gen;
    int active;
    uint64_t start, target, next_from, start_ms, last_log_ms, applied, applied_at_log;
    double rate;
    unsigned ticks;
    int stopping;
    int works;        /* worker jobs in flight */
    int timer_closed; /* the timer's close callback ran */
};

struct verify_work {
    uv_work_t w;
    struct sync *s;
    int slot;
    uint64_t gen;
    uint8_t *payload; /* owned copy of the BLOCKS frame */
    size_t len;
    uint64_t from;
    uint32_t count;
    struct block **blocks;
    size_t nblocks; /* valid prefix */
    int err;
    char why[160];
};

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t now_ms(void)
{
    return clock_mono_ns() / 1000000;
}

static struct peer *find_peer(struct sync *s, const uint8_t id[32])
{
    for (uint32_t i = 0; i < s->cfg.vs.n; i++)
        if (!memcmp(s->peers[i].id, id, 32)) return &s->peers[i];
    return NULL;
}

static uint64_t head_height(struct sync *s, uint8_t hash[32])
{
    uint64_t h;
    uint8_t tmp[32];
    s->host.head(s->host.ctx, &h, hash ? hash : tmp);
    return h;
}

static void free_blocks(struct block **b, size_t n)
{
    if (!b) return;
    for (size_t i = 0; i < n; i++) block_free(b[i]);
    free(b);
}

static void range_release(struct sync *s, struct range *r)
{
    if (r->peer >= 0 && (r->st == R_REQUESTED) && s->peers[r->peer].inflight > 0)
        s->peers[r->peer].inflight--;
    if (r->st == R_READY) free_blocks(r->blocks, r->count);
    r->blocks = NULL;
    r->peer = -1;
    r->gen = ++s->gen;
}

static void send_status_to(struct sync *s, struct peer *p)
{
    uint8_t msg[SYNC_STATUS_VIEW], hash[32];
    uint64_t h;
    if (s->host.durable_head)
        s->host.durable_head(s->host.ctx, &h, hash);
    else
        h = head_height(s, hash);
    put_u64(msg, h);
    memcpy(msg + 8, hash, 32);
    if (s->host.view) put_u64(msg + SYNC_STATUS_LEN, s->host.view(s->host.ctx));
    (void)s->host.send(s->host.ctx, p->id, SYNC_FRAME_STATUS, msg,
                       s->host.view ? SYNC_STATUS_VIEW : SYNC_STATUS_LEN);
}

static void start_sync(struct sync *s, uint64_t target)
{
    uint64_t head = head_height(s, NULL);
    if (target <= head) return;
    if (target > s->target || !s->active) s->target = target;
    if (s->active) return;
    s->active = 1;
    s->start = head;
    s->next_from = head + 1;
    s->start_ms = s->last_log_ms = now_ms();
    s->applied_at_log = s->applied;
    s->rate = 0;
    size_t up = 0;
    for (uint32_t i = 0; i < s->cfg.vs.n; i++) up += s->peers[i].up;
    log_info(MOD,
             "sync: behind by %llu blocks (head %llu, peers have %llu), fetching from %zu peers",
             (unsigned long long)(target - head), (unsigned long long)head,
             (unsigned long long)target, up);
}

/* ---- serving ---- */

static void serve_get(struct sync *s, struct peer *p, const uint8_t *msg, size_t len)
{
    if (len != SYNC_GET_LEN) {
        log_warn(MOD, "malformed GET (%zu bytes) dropped", len);
        return;
    }
    uint64_t from = get_u64(msg);
    uint32_t count = get_u32(msg + 8);
    if (count > SYNC_MAX_BATCH) count = SYNC_MAX_BATCH;
    struct buf out;
    buf_init(&out, s->cfg.max_reply + BLOCK_MAX_SIZE + SYNC_BLOCKS_HDR);
    uint8_t hdr[SYNC_BLOCKS_HDR] = {0};
    if (buf_append(&out, hdr, sizeof hdr)) goto out;
    uint32_t n = 0;
    struct store_txn *t;
    if (!from || store_txn_begin(s->cfg.store, &t, 0)) goto send;
    for (uint64_t h = from; n < count; h++) {
        const uint8_t *raw;
        size_t rlen;
        if (chainstore_block_raw(t, &raw, &rlen, h)) break;
        if (n && out.len + 4 + rlen > s->cfg.max_reply) break;
        uint8_t l4[4];
        put_u32(l4, (uint32_t)rlen);
        if (buf_append(&out, l4, 4) || buf_append(&out, raw, rlen)) break;
        n++;
    }
    store_txn_abort(t);
send:
    put_u64(out.p, from);
    put_u32(out.p + 8, n);
    (void)s->host.send(s->host.ctx, p->id, SYNC_FRAME_BLOCKS, out.p, out.len);
out:
    buf_free(&out);
}

/* ---- verifying (worker thread) ---- */

static void verify_run(uv_work_t *w)
{
    struct verify_work *vw = w->data;
    struct sync *s = vw->s;
    const uint8_t *p = vw->payload + SYNC_BLOCKS_HDR, *end = vw->payload + vw->len;
    vw->blocks = calloc(vw->count ? vw->count : 1, sizeof *vw->blocks);
    if (!vw->blocks) {
        vw->err = TALLY_ENOMEM;
        return;
    }
    for (uint32_t i = 0; i < vw->count; i++) {
        uint64_t height = vw->from + i;
        if (end - p < 4 || (size_t)(end - p - 4) < get_u32(p)) {
            vw->err = TALLY_ETRUNC;
            snprintf(vw->why, sizeof vw->why, "truncated BLOCKS frame at block %llu",
                     (unsigned long long)height);
            return;
        }
        size_t blen = get_u32(p);
        struct block *b;
        int rc = block_decode(&b, p + 4, blen, 0);
        p += 4 + blen;
        if (rc) {
            vw->err = rc;
            snprintf(vw->why, sizeof vw->why, "block %llu does not decode: %s",
                     (unsigned long long)height, tally_strerror(rc));
            return;
        }
        if (b->h.height != height) {
            vw->err = TALLY_EBADBLOCK;
            snprintf(vw->why, sizeof vw->why, "asked for block %llu, got %llu",
                     (unsigned long long)height, (unsigned long long)b->h.height);
            block_free(b);
            return;
        }
        rc = b->cert ? pbft_cert_verify(&s->cfg.vs, &s->cfg.crypto, b->hash, height, b->cert,
                                        b->cert_len)
                     : TALLY_ESIG;
        if (rc) {
            vw->err = rc;
            snprintf(vw->why, sizeof vw->why, "block %llu: commit certificate refused: %s",
                     (unsigned long long)height, tally_strerror(rc));
            block_free(b);
            return;
        }
        for (size_t k = 0; k < b->ntx; k++) {
            if (tx_recover_sender(b->txs[k])) {
                vw->err = TALLY_ESIG;
                snprintf(vw->why, sizeof vw->why, "block %llu: tx %zu: bad signature",
                         (unsigned long long)height, k);
                block_free(b);
                return;
            }
        }
        vw->blocks[vw->nblocks++] = b;
    }
    if (p != end) {
        vw->err = TALLY_ETRAILING;
        snprintf(vw->why, sizeof vw->why, "trailing bytes after %u blocks", vw->count);
    }
}

static void pump(struct sync *s);
static void maybe_free(struct sync *s);

static void verify_done(uv_work_t *w, int status)
{
    struct verify_work *vw = w->data;
    struct sync *s = vw->s;
    s->works--;
    struct range *r = &s->ranges[vw->slot];
    int stale = s->stopping || status || r->gen != vw->gen || r->st != R_VERIFYING;
    if (!stale && vw->err && r->peer >= 0) {
        char hid[67];
        hex_encode(hid, s->peers[r->peer].id, 32);
        log_warn(MOD, "peer %.18s..: %s; asking another peer", hid, vw->why);
        s->peers[r->peer].bad_until = now_ms() + SYNC_BAD_PEER_MS;
    }
    if (stale || !vw->nblocks) {
        free_blocks(vw->blocks, vw->nblocks);
        if (!stale) {
            if (r->peer >= 0 && !vw->err) /* the peer has nothing there (yet) */
                s->peers[r->peer].bad_until = now_ms() + SYNC_TICK_MS * 4;
            range_release(s, r);
            r->st = R_WANTED;
        }
    } else {
        if (vw->nblocks < r->count) {
            /* keep the received prefix; the rest becomes a new wanted range */
            for (int i = 0; i < SYNC_MAX_RANGES; i++) {
                struct range *q = &s->ranges[i];
                if (q->st != R_FREE) continue;
                q->st = R_WANTED;
                q->from = r->from + vw->nblocks;
                q->count = r->count - (uint32_t)vw->nblocks;
                q->peer = -1;
                q->gen = ++s->gen;
                break;
            }
            /* no free slot: next_from goes back so the tail is asked again */
            uint64_t tail = r->from + vw->nblocks;
            int covered = 0;
            for (int i = 0; i < SYNC_MAX_RANGES; i++)
                if (s->ranges[i].st == R_WANTED && s->ranges[i].from == tail) covered = 1;
            if (!covered && s->next_from > tail) s->next_from = tail;
        }
        r->st = R_READY;
        r->count = (uint32_t)vw->nblocks;
        r->blocks = vw->blocks;
    }
    free(vw->payload);
    free(vw);
    if (s->stopping) {
        maybe_free(s);
        return;
    }
    pump(s);
}

static void on_blocks(struct sync *s, struct peer *p, const uint8_t *msg, size_t len)
{
    if (len < SYNC_BLOCKS_HDR) {
        log_warn(MOD, "malformed BLOCKS (%zu bytes) dropped", len);
        return;
    }
    uint64_t from = get_u64(msg);
    uint32_t count = get_u32(msg + 8);
    int pi = (int)(p - s->peers);
    for (int i = 0; i < SYNC_MAX_RANGES; i++) {
        struct range *r = &s->ranges[i];
        if (r->st != R_REQUESTED || r->peer != pi || r->from != from) continue;
        if (s->peers[pi].inflight > 0) s->peers[pi].inflight--;
        if (count > r->count) count = r->count;
        struct verify_work *vw = calloc(1, sizeof *vw);
        if (!vw || !(vw->payload = malloc(len))) {
            free(vw);
            r->st = R_WANTED;
            r->peer = -1;
            return;
        }
        memcpy(vw->payload, msg, len);
        vw->len = len;
        vw->s = s;
        vw->slot = i;
        vw->gen = r->gen;
        vw->from = from;
        vw->count = count;
        vw->w.data = vw;
        r->st = R_VERIFYING;
        s->works++;
        if (uv_queue_work(s->loop, &vw->w, verify_run, verify_done)) {
            s->works--;
            free(vw->payload);
            free(vw);
            r->st = R_WANTED;
            r->peer = -1;
        }
        return;
    }
    /* an answer nobody waits for any more (timed out and reassigned) */
}

/* ---- driving ---- */

static void apply_ready(struct sync *s)
{
    uint64_t last_h = 0;
    for (;;) {
        uint64_t head = head_height(s, NULL);
        struct range *r = NULL;
        for (int i = 0; i < SYNC_MAX_RANGES; i++) {
            struct range *q = &s->ranges[i];
            if (q->st == R_READY && q->from <= head + 1 && q->from + q->count > head + 1)
                r = q;
            else if (q->st != R_FREE && q->st != R_VERIFYING && q->from + q->count <= head + 1) {
                /* already committed (by consensus, or a duplicate range) */
                range_release(s, q);
                q->st = R_FREE;
            }
        }
        if (!r) break;
        uint32_t i = (uint32_t)(head + 1 - r->from);
        int failed = 0;
        for (; i < r->count; i++) {
            struct block *b = r->blocks[i];
            int rc = s->host.apply(s->host.ctx, b);
            if (rc) {
                char hid[67];
                hex_encode(hid, s->peers[r->peer >= 0 ? r->peer : 0].id, 32);
                log_warn(MOD, "block %llu from peer %.18s.. refused: %s; asking another peer",
                         (unsigned long long)b->h.height, hid, tally_strerror(rc));
                if (r->peer >= 0) s->peers[r->peer].bad_until = now_ms() + SYNC_BAD_PEER_MS;
                failed = 1;
                break;
            }
            s->applied++;
            last_h = b->h.height;
            r->blocks[i] = NULL; /* the host owns it now */
        }
        if (failed) {
            uint64_t from = r->from + i;
            uint32_t count = r->count - i;
            range_release(s, r);
            r->st = R_WANTED;
            r->from = from;
            r->count = count;
        } else {
            range_release(s, r);
            r->st = R_FREE;
        }
    }
    if (last_h) s->host.synced(s->host.ctx, last_h);
}

static int pick_peer(struct sync *s, uint64_t from, uint64_t t)
{
    int best = -1;
    for (uint32_t i = 0; i < s->cfg.vs.n; i++) {
        struct peer *p = &s->peers[i];
        if (!p->up || p->height < from || p->inflight >= SYNC_PEER_INFLIGHT || p->bad_until > t)
            continue;
        if (best < 0 || p->inflight < s->peers[best].inflight) best = (int)i;
    }
    return best;
}

static void pump(struct sync *s)
{
    if (s->stopping || !s->active) return;
    apply_ready(s);
    uint64_t head = head_height(s, NULL), t = now_ms();
    if (s->next_from <= head) s->next_from = head + 1;
    size_t up = 0;
    for (uint32_t i = 0; i < s->cfg.vs.n; i++) up += s->peers[i].up;
    /* new ranges while there is room: two per serving peer */
    size_t nranges = 0;
    for (int i = 0; i < SYNC_MAX_RANGES; i++) nranges += s->ranges[i].st != R_FREE;
    size_t want = up * SYNC_PEER_INFLIGHT + 2;
    if (want > SYNC_MAX_RANGES) want = SYNC_MAX_RANGES;
    while (nranges < want && s->next_from <= s->target) {
        struct range *r = NULL;
        for (int i = 0; i < SYNC_MAX_RANGES && !r; i++)
            if (s->ranges[i].st == R_FREE) r = &s->ranges[i];
        if (!r) break;
        uint64_t count = s->target - s->next_from + 1;
        if (count > s->cfg.batch) count = s->cfg.batch;
        r->st = R_WANTED;
        r->from = s->next_from;
        r->count = (uint32_t)count;
        r->peer = -1;
        r->gen = ++s->gen;
        s->next_from += count;
        nranges++;
    }
    /* ask peers, lowest ranges first */
    for (;;) {
        struct range *r = NULL;
        for (int i = 0; i < SYNC_MAX_RANGES; i++) {
            struct range *q = &s->ranges[i];
            if (q->st == R_WANTED && (!r || q->from < r->from)) r = q;
        }
        if (!r) break;
        int pi = pick_peer(s, r->from, t);
        if (pi < 0) break;
        uint8_t msg[SYNC_GET_LEN];
        put_u64(msg, r->from);
        put_u32(msg + 8, r->count);
        r->gen = ++s->gen;
        if (s->host.send(s->host.ctx, s->peers[pi].id, SYNC_FRAME_GET, msg, sizeof msg)) {
            s->peers[pi].bad_until = t + SYNC_TICK_MS;
            continue;
        }
        r->st = R_REQUESTED;
        r->peer = pi;
        r->sent_ms = t;
        s->peers[pi].inflight++;
    }
    if (nranges == 0 && head >= s->target) {
        double secs = (double)(t - s->start_ms) / 1000.0;
        log_info(MOD, "sync: done at height %llu: %llu blocks in %.1f s", (unsigned long long)head,
                 (unsigned long long)(head - s->start), secs);
        s->active = 0;
        s->host.synced(s->host.ctx, head);
    }
}

static void log_progress(struct sync *s, uint64_t t)
{
    if (!s->active || t < s->last_log_ms + SYNC_LOG_MS) return;
    double dt = (double)(t - s->last_log_ms) / 1000.0;
    s->rate = dt > 0 ? (double)(s->applied - s->applied_at_log) / dt : 0;
    s->applied_at_log = s->applied;
    s->last_log_ms = t;
    uint64_t head = head_height(s, NULL);
    size_t serving = 0;
    for (uint32_t i = 0; i < s->cfg.vs.n; i++)
        serving += s->peers[i].up && s->peers[i].height > head && s->peers[i].bad_until <= t;
    log_info(MOD, "sync: %llu/%llu blocks from %zu peers, %.0f blocks/s (height %llu)",
             (unsigned long long)(head - s->start), (unsigned long long)(s->target - s->start),
             serving, s->rate, (unsigned long long)head);
}

static void on_tick(uv_timer_t *tm)
{
    struct sync *s = tm->data;
    uint64_t t = now_ms();
    if (++s->ticks * SYNC_TICK_MS >= s->cfg.status_ms) {
        s->ticks = 0;
        for (uint32_t i = 0; i < s->cfg.vs.n; i++)
            if (s->peers[i].up) send_status_to(s, &s->peers[i]);
    }
    for (int i = 0; i < SYNC_MAX_RANGES; i++) {
        struct range *r = &s->ranges[i];
        if (r->st == R_REQUESTED && t > r->sent_ms + s->cfg.request_timeout_ms) {
            if (r->peer >= 0) s->peers[r->peer].bad_until = t + SYNC_BAD_PEER_MS / 2;
            range_release(s, r);
            r->st = R_WANTED;
        }
    }
    log_progress(s, t);
    pump(s);
}

/* ---- public ---- */

int sync_new(struct sync **out, uv_loop_t *loop, const struct sync_cfg *cfg,
             const struct sync_host *host)
{
    if (!cfg->vs.n || cfg->vs.n > PBFT_MAX_VALIDATORS || !cfg->crypto.verify || !cfg->store ||
        !host->head || !host->send || !host->apply || !host->synced)
        return TALLY_EINVAL;
    struct sync *s = calloc(1, sizeof *s);
    if (!s) return TALLY_ENOMEM;
    s->ids = malloc(cfg->vs.n * sizeof *s->ids);
    s->peers = calloc(cfg->vs.n, sizeof *s->peers);
    if (!s->ids || !s->peers) {
        free(s->ids);
        free(s->peers);
        free(s);
        return TALLY_ENOMEM;
    }
    memcpy(s->ids, cfg->vs.ids, cfg->vs.n * sizeof *s->ids);
    for (uint32_t i = 0; i < cfg->vs.n; i++) {
        memcpy(s->peers[i].id, s->ids[i], 32);
        s->peers[i].view = SYNC_VIEW_UNKNOWN;
    }
    s->loop = loop;
    s->cfg = *cfg;
    s->cfg.vs.ids = (const uint8_t(*)[32])s->ids;
    if (!s->cfg.batch) s->cfg.batch = SYNC_DEFAULT_BATCH;
    if (s->cfg.batch > SYNC_MAX_BATCH) s->cfg.batch = SYNC_MAX_BATCH;
    if (!s->cfg.max_reply) s->cfg.max_reply = SYNC_DEFAULT_MAX_REPLY;
    if (!s->cfg.status_ms) s->cfg.status_ms = 1000;
    if (!s->cfg.request_timeout_ms) s->cfg.request_timeout_ms = 5000;
    s->host = *host;
    for (int i = 0; i < SYNC_MAX_RANGES; i++) s->ranges[i].peer = -1;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_tick, SYNC_TICK_MS, SYNC_TICK_MS);
    *out = s;
    return 0;
}

static void maybe_free(struct sync *s)
{
    if (!s->stopping || s->works || !s->timer_closed) return;
    for (int i = 0; i < SYNC_MAX_RANGES; i++)
        if (s->ranges[i].st == R_READY) free_blocks(s->ranges[i].blocks, s->ranges[i].count);
    free(s->ids);
    free(s->peers);
    free(s);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct sync *s = h->data;
    s->timer_closed = 1;
    maybe_free(s);
}

void sync_stop(struct sync *s)
{
    if (!s || s->stopping) return;
    s->stopping = 1;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

void sync_on_peer(struct sync *s, const uint8_t peer_id[32], int up)
{
    struct peer *p = find_peer(s, peer_id);
    if (!p || s->stopping) return;
    p->up = up;
    p->ahead_seen = 0;
    if (up) {
        send_status_to(s, p);
        return;
    }
    p->inflight = 0;
    p->height = 0;
    p->view = SYNC_VIEW_UNKNOWN;
    for (int i = 0; i < SYNC_MAX_RANGES; i++) {
        struct range *r = &s->ranges[i];
        if (r->st == R_REQUESTED && r->peer == (int)(p - s->peers)) {
            range_release(s, r);
            r->st = R_WANTED;
        }
    }
    pump(s);
}

void sync_on_frame(struct sync *s, const uint8_t peer_id[32], uint8_t type, const uint8_t *msg,
                   size_t len)
{
    struct peer *p = find_peer(s, peer_id);
    if (!p || s->stopping) return;
    switch (type) {
    case SYNC_FRAME_STATUS: {
        if (len != SYNC_STATUS_LEN && len != SYNC_STATUS_VIEW) {
            log_warn(MOD, "malformed STATUS (%zu bytes) dropped", len);
            return;
        }
        p->height = get_u64(msg);
        memcpy(p->hash, msg + 8, 32);
        p->view = len == SYNC_STATUS_VIEW ? get_u64(msg + SYNC_STATUS_LEN) : SYNC_VIEW_UNKNOWN;
        uint64_t head = head_height(s, NULL);
        if (s->active) {
            if (p->height > s->target) s->target = p->height;
            pump(s);
        } else if (p->height >= head + 2 ||
                   (p->height > head && p->ahead_seen && p->ahead_head == head)) {
            /* far ahead, or ahead for a whole status period while we did not
             * move: consensus alone will not bring us there */
            start_sync(s, p->height);
            pump(s);
        }
        p->ahead_seen = p->height > head;
        p->ahead_head = head;
        break;
    }
    case SYNC_FRAME_GET: serve_get(s, p, msg, len); break;
    case SYNC_FRAME_BLOCKS: on_blocks(s, p, msg, len); break;
    default: break;
    }
}

void sync_request(struct sync *s, uint64_t height)
{
    if (s->stopping) return;
    start_sync(s, height);
    pump(s);
}

void sync_get_status(const struct sync *s, struct sync_status *out)
{
    memset(out, 0, sizeof *out);
    out->active = s->active;
    out->start = s->start;
    out->current = head_height((struct sync *)s, NULL);
    out->target = s->target > out->current ? s->target : out->current;
    uint64_t best = 0;
    for (uint32_t i = 0; i < s->cfg.vs.n; i++) {
        if (!s->peers[i].up) continue;
        if (s->peers[i].height > out->current) out->peers++;
        if (s->peers[i].height > best) best = s->peers[i].height;
    }
    if (best > out->target) out->target = best;
    out->blocks_per_s = s->rate;
    out->applied = s->applied;
}

uint64_t sync_peer_height(const struct sync *s, const uint8_t peer_id[32])
{
    struct peer *p = find_peer((struct sync *)s, peer_id);
    return p && p->up ? p->height : 0;
}

uint64_t sync_peer_view(const struct sync *s, const uint8_t peer_id[32])
{
    struct peer *p = find_peer((struct sync *)s, peer_id);
    return p && p->up ? p->view : SYNC_VIEW_UNKNOWN;
}
