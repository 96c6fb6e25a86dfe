/* PBFT core. One height at a time; the view restarts at 0 with every new
 * height and only grows within it. See docs/consensus.md for the protocol
 * and the safety argument. */
#include "consensus/pbft.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "consensus/pbft_msg.h"
#include "crypto/keccak.h"

#define PROPS_MAX 8 /* proposals remembered per height */
#define STATE_VER 1
#define EXEC_NONE 0
#define EXEC_PEND 1
#define EXEC_OK   2
#define EXEC_BAD  3

struct prop {
    int used;
    uint8_t hash[32];
    uint8_t root[32];
    uint8_t *bytes;
    size_t len;
    int exec;
    uint64_t seq;   /* age, for eviction */
    uint64_t ppv;   /* 1 + the highest view a valid PRE-PREPARE named it in */
    uint64_t ppseq; /* arrival order of that PRE-PREPARE */
};

struct vote { /* a validator's latest PREPARE or COMMIT at this height */
    int has;
    uint64_t view;
    uint8_t hash[32];
    uint8_t root[32];
    uint8_t sig[PBFT_SIG_LEN];
};

struct vcent { /* a validator's latest VIEW-CHANGE at this height */
    int has;
    uint64_t view;
    int has_prep;
    uint64_t pv;
    uint8_t phash[32];
    uint8_t proot[32];
    uint8_t *raw; /* encoding without the proposal (for NEW-VIEW), owned */
    size_t raw_len;
    uint8_t *bytes; /* carried proposal, kept only when we lead its view */
    size_t blen;
};

struct pbft {
    uint32_t n, f, q, self;
    uint8_t (*ids)[32];
    struct pbft_crypto crypto;
    uint64_t tbase, tmax;
    size_t max_proposal;
    char errmsg[256];
    int started;
    uint64_t now;
    struct pbft_update *up;

    /* Persisted (see state_encode). */
    uint64_t height, view;
    int in_vc;
    int fixed; /* the NEW-VIEW of this view fixed the proposal */
    uint8_t fixed_hash[32];
    int voted; /* PREPARE (or, as leader, PRE-PREPARE) sent in this view */
    uint8_t vote_hash[32];
    uint8_t vote_root[32];
    int has_prep; /* highest prepared certificate at this height */
    uint64_t prep_view;
    uint8_t prep_hash[32];
    uint8_t prep_root[32];
    struct pbft__sigent *prep_sigs; /* [n] */
    uint32_t prep_nsigs;

    /* Volatile, per view. */
    int pp_ok; /* accepted a PRE-PREPARE in this view */
    uint8_t pp_hash[32];
    uint8_t pp_root[32];
    int build_asked;
    int commit_sent;
    uint8_t *nv_msg; /* the NEW-VIEW that started this view (to help laggards) */
    size_t nv_len;

    /* Volatile, per height. */
    struct prop props[PROPS_MAX];
    uint64_t seq;
    struct vote *prepares, *commits; /* [n] */
    struct vcent *vcs;               /* [n] */
    uint64_t *helped;                /* [n]: 1 + the view we last helped them with */
    int sync_pending;

    /* Across heights. */
    int pending;        /* host has transactions */
    uint64_t deadline;  /* view timeout (0: none) */
    uint64_t resend_at; /* next retransmission of our messages of this view */
    uint64_t armed;     /* the timer as the host last armed it */
    uint64_t resend_ms;
    uint64_t *seen_height; /* [n] highest height in a valid message */
    uint64_t sync_asked;
    uint8_t *last_cert; /* certificate of height - 1 (help for laggards) */
    size_t last_cert_len;
    uint64_t last_cert_view;
    uint8_t last_hash[32];
    uint64_t *helped_h; /* [n]: 1 + height - 1 we last sent COMMITTED for */
};

uint32_t pbft_faults(uint32_t n)
{
    return n ? (n - 1) / 3 : 0;
}

uint32_t pbft_quorum(uint32_t n)
{
    return n - pbft_faults(n);
}

uint32_t pbft_leader(uint32_t n, uint64_t height, uint64_t view)
{
    /* (height + view) mod n without overflow. */
    return (uint32_t)((height % n + view % n) % n);
}

static int fail(struct pbft *p, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct pbft *p, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- update list ---- */

void pbft_update_init(struct pbft_update *up)
{
    memset(up, 0, sizeof *up);
}

static void update_clear(struct pbft_update *up)
{
    for (size_t i = 0; i < up->n; i++) {
        free(up->items[i].data);
        free(up->items[i].cert);
    }
    up->n = 0;
}

void pbft_update_free(struct pbft_update *up)
{
    update_clear(up);
    free(up->items);
    memset(up, 0, sizeof *up);
}

static struct pbft_update_item *up_add(struct pbft *p, enum pbft_update_type t)
{
    struct pbft_update *up = p->up;
    if (up->n == up->cap) {
        size_t nc = up->cap ? up->cap * 2 : 16;
        struct pbft_update_item *ni = realloc(up->items, nc * sizeof *ni);
        if (!ni) return NULL;
        up->items = ni;
        up->cap = nc;
    }
    struct pbft_update_item *it = &up->items[up->n++];
    memset(it, 0, sizeof *it);
    it->type = t;
    return it;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t len)
{
    uint8_t *d = malloc(len ? len : 1);
    if (d && len) memcpy(d, p, len);
    return d;
}

/* Append a message update taking ownership of b's storage. */
static int up_msg(struct pbft *p, enum pbft_update_type t, uint32_t to, struct buf *b)
{
    struct pbft_update_item *it = up_add(p, t);
    if (!it) {
        buf_free(b);
        return TALLY_ENOMEM;
    }
    it->to = to;
    it->data = buf_detach(b, &it->len);
    return 0;
}

/* ---- small helpers ---- */

static uint64_t timeout_of(const struct pbft *p, uint64_t view)
{
    uint64_t t = p->tbase;
    for (uint64_t i = 0; i < view && t < p->tmax; i++) t *= 2;
    return t < p->tmax ? t : p->tmax;
}

static int is_leader(const struct pbft *p)
{
    return pbft_leader(p->n, p->height, p->view) == p->self;
}

static int sign_msg(struct pbft *p, struct pbft__msg *m)
{
    uint8_t d[32];
    pbft__msg_digest(d, m);
    int rc = p->crypto.sign(p->crypto.ctx, m->sig, d);
    if (rc) return fail(p, rc, "sign failed: %s", tally_strerror(rc));
    return 0;
}

static int verify_sig(struct pbft *p, uint32_t who, const uint8_t sig[PBFT_SIG_LEN],
                      const uint8_t d[32])
{
    if (who >= p->n) return TALLY_ESIG;
    return p->crypto.verify(p->crypto.ctx, p->ids[who], sig, d) ? TALLY_ESIG : 0;
}

static int verify_msg(struct pbft *p, const struct pbft__msg *m)
{
    uint8_t d[32];
    if (m->sender >= p->n) return TALLY_ESIG;
    pbft__msg_digest(d, m);
    return verify_sig(p, m->sender, m->sig, d);
}

static void msg_init(struct pbft *p, struct pbft__msg *m, uint32_t type, uint64_t view)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    m->sender = p->self;
    m->height = p->height;
    m->view = view;
}

/* Sign, encode and queue m (to = UINT32_MAX: broadcast). */
static int send_msg(struct pbft *p, struct pbft__msg *m, const struct pbft__sigent *s, size_t ns,
                    uint32_t to)
{
    struct buf b;
    int rc = sign_msg(p, m);
    if (rc) return rc;
    buf_init(&b, p->max_proposal + PBFT_MSG_OVERHEAD_MAX);
    rc = pbft__msg_encode(&b, m, s, ns);
    if (rc) {
        buf_free(&b);
        return fail(p, rc, "encode failed: %s", tally_strerror(rc));
    }
    if (p->n == 1) { /* nobody to send to */
        buf_free(&b);
        return 0;
    }
    return up_msg(p, to == UINT32_MAX ? PBFT_UP_BROADCAST : PBFT_UP_SEND, to == UINT32_MAX ? 0 : to,
                  &b);
}

/* ---- proposals ---- */

static struct prop *prop_find(struct pbft *p, const uint8_t hash[32])
{
    for (int i = 0; i < PROPS_MAX; i++)
        if (p->props[i].used && memcmp(p->props[i].hash, hash, 32) == 0) return &p->props[i];
    return NULL;
}

static int prop_pinned(const struct pbft *p, const struct prop *x)
{
    return (p->has_prep && !memcmp(x->hash, p->prep_hash, 32)) ||
           (p->pp_ok && !memcmp(x->hash, p->pp_hash, 32)) ||
           (p->voted && !memcmp(x->hash, p->vote_hash, 32)) ||
           (p->fixed && !memcmp(x->hash, p->fixed_hash, 32));
}

static void prop_clear(struct prop *x)
{
    free(x->bytes);
    memset(x, 0, sizeof *x);
}

/* Remember a proposal (copying bytes); returns the entry, or NULL when the
 * table is full of pinned entries or memory ran out. A proposal already
 * known under the same hash with another root is refused (NULL). */
static struct prop *prop_add(struct pbft *p, const uint8_t hash[32], const uint8_t root[32],
                             const uint8_t *bytes, size_t len)
{
    struct prop *x = prop_find(p, hash);
    if (x) {
        if (memcmp(x->root, root, 32) != 0) return NULL;
        if (!x->bytes && bytes) {
            x->bytes = dup_bytes(bytes, len);
            if (!x->bytes) return NULL;
            x->len = len;
        }
        return x;
    }
    struct prop *victim = NULL;
    for (int i = 0; i < PROPS_MAX; i++) {
        struct prop *c = &p->props[i];
        if (!c->used) {
            victim = c;
            break;
        }
        if (prop_pinned(p, c)) continue;
        if (!victim || c->seq < victim->seq) victim = c;
    }
    if (!victim) return NULL;
    uint8_t *d = NULL;
    if (bytes) {
        d = dup_bytes(bytes, len);
        if (!d) return NULL;
    }
    prop_clear(victim);
    victim->used = 1;
    memcpy(victim->hash, hash, 32);
    memcpy(victim->root, root, 32);
    victim->bytes = d;
    victim->len = d ? len : 0;
    victim->seq = ++p->seq;
    return victim;
}

/* ---- persisted state ----
 * rlp([version, height, view, in_vc, fixed_hash|"", [vote_hash, vote_root]|[],
 *      [pv, hash, root, [[idx, sig]...]]|[], [[hash, root, proposal]...]]) */

static int state_persist(struct pbft *p)
{
    struct buf b;
    struct rlp_enc e;
    buf_init(&b, p->max_proposal + PBFT_MSG_OVERHEAD_MAX);
    rlp_enc_init(&e, &b);
    rlp_list_begin(&e);
    rlp_put_u64(&e, STATE_VER);
    rlp_put_u64(&e, p->height);
    rlp_put_u64(&e, p->view);
    rlp_put_u64(&e, (uint64_t)p->in_vc);
    rlp_put_bytes(&e, p->fixed_hash, p->fixed ? 32 : 0);
    rlp_list_begin(&e);
    if (p->voted) {
        rlp_put_bytes(&e, p->vote_hash, 32);
        rlp_put_bytes(&e, p->vote_root, 32);
    }
    rlp_list_end(&e);
    rlp_list_begin(&e);
    if (p->has_prep) {
        rlp_put_u64(&e, p->prep_view);
        rlp_put_bytes(&e, p->prep_hash, 32);
        rlp_put_bytes(&e, p->prep_root, 32);
        pbft__sigs_put(&e, p->prep_sigs, p->prep_nsigs);
    }
    rlp_list_end(&e);
    /* The proposals voted for / prepared, so a restarted replica can still
     * re-propose or commit them (with n = 1 nobody else has them). */
    rlp_list_begin(&e);
    struct prop *pv = p->voted ? prop_find(p, p->vote_hash) : NULL;
    struct prop *pp = p->has_prep ? prop_find(p, p->prep_hash) : NULL;
    if (pp == pv) pp = NULL;
    struct prop *keep[2] = {pv, pp};
    for (int i = 0; i < 2; i++) {
        if (!keep[i] || !keep[i]->bytes) continue;
        rlp_list_begin(&e);
        rlp_put_bytes(&e, keep[i]->hash, 32);
        rlp_put_bytes(&e, keep[i]->root, 32);
        rlp_put_bytes(&e, keep[i]->bytes, keep[i]->len);
        rlp_list_end(&e);
    }
    rlp_list_end(&e);
    rlp_list_end(&e);
    int rc = rlp_enc_finish(&e);
    if (rc) {
        buf_free(&b);
        return fail(p, rc, "state encode: %s", tally_strerror(rc));
    }
    return up_msg(p, PBFT_UP_PERSIST, 0, &b);
}

/* ---- height / view transitions ---- */

static void vc_clear(struct vcent *v)
{
    free(v->raw);
    free(v->bytes);
    memset(v, 0, sizeof *v);
}

static void view_reset(struct pbft *p)
{
    p->fixed = 0;
    p->voted = 0;
    p->pp_ok = 0;
    p->build_asked = 0;
    p->commit_sent = 0;
    free(p->nv_msg);
    p->nv_msg = NULL;
    p->nv_len = 0;
    p->deadline = 0; /* re-armed for the new view by finish() */
    p->resend_at = 0;
}

static void height_reset(struct pbft *p, uint64_t h)
{
    p->height = h;
    p->view = 0;
    p->in_vc = 0;
    view_reset(p);
    p->has_prep = 0;
    p->prep_nsigs = 0;
    for (int i = 0; i < PROPS_MAX; i++) prop_clear(&p->props[i]);
    for (uint32_t i = 0; i < p->n; i++) {
        memset(&p->prepares[i], 0, sizeof p->prepares[i]);
        memset(&p->commits[i], 0, sizeof p->commits[i]);
        vc_clear(&p->vcs[i]);
        p->helped[i] = 0;
    }
    p->sync_pending = 0;
}

static int check_progress(struct pbft *p);

/* Accept the PRE-PREPARE of (current view, hash) if allowed. */
static void accept_pp(struct pbft *p, const struct prop *x)
{
    if (p->in_vc || p->pp_ok) return;
    if (p->fixed && memcmp(x->hash, p->fixed_hash, 32) != 0) return;
    if (p->voted && memcmp(x->hash, p->vote_hash, 32) != 0) return;
    p->pp_ok = 1;
    memcpy(p->pp_hash, x->hash, 32);
    memcpy(p->pp_root, x->root, 32);
    /* the leader is alive: a full timeout from here for the votes (a large
     * block on a busy machine must not cost a view change; a leader can
     * stretch its view at most twice this way: here and at prepared) */
    p->deadline = p->now + timeout_of(p, p->view);
}

/* After entering a view without a fixed proposal: a PRE-PREPARE for it may
 * have arrived early. */
static void accept_buffered_pp(struct pbft *p)
{
    struct prop *best = NULL;
    for (int i = 0; i < PROPS_MAX; i++) {
        struct prop *x = &p->props[i];
        if (x->used && x->ppv == p->view + 1 && (!best || x->ppseq < best->ppseq)) best = x;
    }
    if (best) accept_pp(p, best);
}

/* Sign and broadcast our VIEW-CHANGE for the current view (and keep our
 * own entry for the NEW-VIEW). */
static int send_own_vc(struct pbft *p)
{
    uint64_t nv = p->view;
    int rc;
    struct pbft__msg m;
    msg_init(p, &m, PBFT_MSG_VIEWCHANGE, nv);
    struct prop *x = NULL;
    if (p->has_prep) {
        m.has_prepared = 1;
        m.pview = p->prep_view;
        memcpy(m.phash, p->prep_hash, 32);
        memcpy(m.proot, p->prep_root, 32);
        x = prop_find(p, p->prep_hash);
        if (x && x->bytes) {
            m.proposal = x->bytes;
            m.proposal_len = x->len;
        }
    }
    rc = sign_msg(p, &m);
    if (rc) return rc;
    /* Our own entry (without the proposal) for the NEW-VIEW. */
    struct vcent *me = &p->vcs[p->self];
    vc_clear(me);
    struct buf b;
    buf_init(&b, PBFT_MSG_OVERHEAD_MAX);
    const uint8_t *keep = m.proposal;
    size_t keep_len = m.proposal_len;
    m.proposal = NULL;
    m.proposal_len = 0;
    rc = pbft__msg_encode(&b, &m, p->prep_sigs, p->prep_nsigs);
    if (rc) {
        buf_free(&b);
        return fail(p, rc, "encode view-change: %s", tally_strerror(rc));
    }
    me->has = 1;
    me->view = nv;
    me->has_prep = m.has_prepared;
    me->pv = m.pview;
    memcpy(me->phash, m.phash, 32);
    memcpy(me->proot, m.proot, 32);
    me->raw = buf_detach(&b, &me->raw_len);
    m.proposal = keep;
    m.proposal_len = keep_len;
    buf_init(&b, p->max_proposal + PBFT_MSG_OVERHEAD_MAX);
    rc = pbft__msg_encode(&b, &m, p->prep_sigs, p->prep_nsigs);
    if (rc) {
        buf_free(&b);
        return fail(p, rc, "encode view-change: %s", tally_strerror(rc));
    }
    if (p->n == 1) {
        buf_free(&b);
        return 0;
    }
    return up_msg(p, PBFT_UP_BROADCAST, 0, &b);
}

static int start_view_change(struct pbft *p, uint64_t nv)
{
    p->view = nv;
    p->in_vc = 1;
    view_reset(p);
    int rc = state_persist(p);
    if (rc) return rc;
    return send_own_vc(p);
}

/* Check a VIEW-CHANGE's prepared certificate. */
static int verify_prepared(struct pbft *p, const struct pbft__msg *m)
{
    struct pbft__sigent s[PBFT_MAX_VALIDATORS];
    size_t ns;
    uint8_t d[32];
    uint8_t seen[PBFT_MAX_VALIDATORS] = {0};
    uint32_t good = 0;
    int rc = pbft__sigs_decode(s, PBFT_MAX_VALIDATORS, &ns, &m->psigs);
    if (rc) return rc;
    pbft__prepare_digest(d, m->height, m->pview, m->phash, m->proot);
    for (size_t i = 0; i < ns; i++) {
        if (s[i].idx >= p->n || seen[s[i].idx]) return TALLY_ESIG;
        seen[s[i].idx] = 1;
        if (verify_sig(p, s[i].idx, s[i].sig, d)) return TALLY_ESIG;
        good++;
    }
    return good >= p->q ? 0 : TALLY_ESIG;
}

/* The highest prepared certificate among the VIEW-CHANGEs for view v we
 * hold; returns its sender or -1. */
static int vc_max_prepared(const struct pbft *p, uint64_t v)
{
    int best = -1;
    for (uint32_t i = 0; i < p->n; i++) {
        const struct vcent *c = &p->vcs[i];
        if (!c->has || c->view != v || !c->has_prep) continue;
        if (best < 0 || c->pv > p->vcs[best].pv) best = (int)i;
    }
    return best;
}

/* As the leader of the view being changed to, send NEW-VIEW once a quorum
 * of VIEW-CHANGEs is in. */
static int try_new_view(struct pbft *p)
{
    if (!p->in_vc || !is_leader(p)) return 0;
    uint32_t cnt = 0;
    size_t total = 0;
    for (uint32_t i = 0; i < p->n; i++)
        if (p->vcs[i].has && p->vcs[i].view == p->view) {
            cnt++;
            total += p->vcs[i].raw_len;
        }
    if (cnt < p->q) return 0;
    int best = vc_max_prepared(p, p->view);
    struct prop *x = NULL;

    if (best >= 0) {
        struct vcent *c = &p->vcs[best];
        x = prop_find(p, c->phash);
        if (!x || !x->bytes) {
            /* Bytes from any VIEW-CHANGE carrying this certificate. */
            for (uint32_t i = 0; i < p->n && (!x || !x->bytes); i++) {
                struct vcent *o = &p->vcs[i];
                if (o->has && o->view == p->view && o->has_prep && o->bytes &&
                    !memcmp(o->phash, c->phash, 32))
                    x = prop_add(p, c->phash, c->proot, o->bytes, o->blen);
            }
        }
        if (!x || !x->bytes) return 0; /* cannot re-propose yet; the timer goes on */
    }
    /* Concatenate the VIEW-CHANGEs. */
    uint8_t *cat = malloc(total ? total : 1);
    if (!cat) return TALLY_ENOMEM;
    size_t off = 0;
    for (uint32_t i = 0; i < p->n; i++)
        if (p->vcs[i].has && p->vcs[i].view == p->view) {
            memcpy(cat + off, p->vcs[i].raw, p->vcs[i].raw_len);
            off += p->vcs[i].raw_len;
        }
    struct buf ppb;
    buf_init(&ppb, p->max_proposal + PBFT_MSG_OVERHEAD_MAX);
    int rc = 0;
    if (x) {
        struct pbft__msg pp;
        msg_init(p, &pp, PBFT_MSG_PREPREPARE, p->view);
        memcpy(pp.hash, x->hash, 32);
        memcpy(pp.root, x->root, 32);
        pp.proposal = x->bytes;
        pp.proposal_len = x->len;
        rc = sign_msg(p, &pp);
        if (!rc) rc = pbft__msg_encode(&ppb, &pp, NULL, 0);
    }
    struct pbft__msg nv;
    msg_init(p, &nv, PBFT_MSG_NEWVIEW, p->view);
    nv.vcs.p = cat;
    nv.vcs.len = total;
    nv.vcs.is_list = 1;
    nv.pp = x ? ppb.p : NULL;
    nv.pp_len = x ? ppb.len : 0;
    struct buf b;
    buf_init(&b, 2 * (p->max_proposal + PBFT_MSG_OVERHEAD_MAX));
    if (!rc) rc = sign_msg(p, &nv);
    if (!rc) rc = pbft__msg_encode(&b, &nv, NULL, 0);
    free(cat);
    buf_free(&ppb);
    if (rc) {
        buf_free(&b);
        return fail(p, rc, "encode new-view: %s", tally_strerror(rc));
    }
    /* Enter the view: persist that (and the fixed proposal) before
     * sending. */
    p->in_vc = 0;
    if (x) {
        p->fixed = 1;
        memcpy(p->fixed_hash, x->hash, 32);
    }
    p->deadline = 0;
    rc = state_persist(p);
    if (rc) {
        buf_free(&b);
        return rc;
    }
    p->nv_msg = dup_bytes(b.p, b.len);
    if (!p->nv_msg) {
        buf_free(&b);
        return TALLY_ENOMEM;
    }
    p->nv_len = b.len;
    if (p->n > 1) {
        rc = up_msg(p, PBFT_UP_BROADCAST, 0, &b);
        if (rc) return rc;
    } else {
        buf_free(&b);
    }
    if (x)
        accept_pp(p, x);
    else
        accept_buffered_pp(p);
    return 0;
}

/* ---- voting ---- */

static int request_exec(struct pbft *p, struct prop *x)
{
    if (x->exec != EXEC_NONE || !x->bytes) return 0;
    struct pbft_update_item *it = up_add(p, PBFT_UP_EXECUTE);
    if (!it) return TALLY_ENOMEM;
    it->height = p->height;
    memcpy(it->hash, x->hash, 32);
    memcpy(it->root, x->root, 32);
    it->data = dup_bytes(x->bytes, x->len);
    if (!it->data) return TALLY_ENOMEM;
    it->len = x->len;
    x->exec = EXEC_PEND;
    return 0;
}

/* PREPARE the accepted PRE-PREPARE once it re-executed to its state root. */
static int try_vote(struct pbft *p)
{
    if (p->in_vc || !p->pp_ok || p->voted) return 0;
    struct prop *x = prop_find(p, p->pp_hash);
    if (!x) return 0;
    if (x->exec == EXEC_NONE) return request_exec(p, x);
    if (x->exec != EXEC_OK) return 0;
    p->voted = 1;
    memcpy(p->vote_hash, x->hash, 32);
    memcpy(p->vote_root, x->root, 32);
    int rc = state_persist(p);
    if (rc) return rc;
    struct pbft__msg m;
    msg_init(p, &m, PBFT_MSG_PREPARE, p->view);
    memcpy(m.hash, x->hash, 32);
    memcpy(m.root, x->root, 32);
    rc = sign_msg(p, &m);
    if (rc) return rc;
    struct vote *me = &p->prepares[p->self];
    me->has = 1;
    me->view = p->view;
    memcpy(me->hash, m.hash, 32);
    memcpy(me->root, m.root, 32);
    memcpy(me->sig, m.sig, PBFT_SIG_LEN);
    return send_msg(p, &m, NULL, 0, UINT32_MAX);
}

static int send_commit(struct pbft *p)
{
    struct pbft__msg m;
    msg_init(p, &m, PBFT_MSG_COMMIT, p->view);
    memcpy(m.hash, p->prep_hash, 32);
    int rc = sign_msg(p, &m);
    if (rc) return rc;
    struct vote *me = &p->commits[p->self];
    me->has = 1;
    me->view = p->view;
    memcpy(me->hash, m.hash, 32);
    memcpy(me->sig, m.sig, PBFT_SIG_LEN);
    p->commit_sent = 1;
    return send_msg(p, &m, NULL, 0, UINT32_MAX);
}

/* Prepared: our own PREPARE plus matching ones from a quorum in this view. */
static int try_prepared(struct pbft *p)
{
    if (p->in_vc || !p->voted || p->commit_sent) return 0;
    if (p->has_prep && p->prep_view == p->view) return send_commit(p);
    uint32_t cnt = 0;
    for (uint32_t i = 0; i < p->n; i++) {
        struct vote *v = &p->prepares[i];
        if (v->has && v->view == p->view && !memcmp(v->hash, p->vote_hash, 32) &&
            !memcmp(v->root, p->vote_root, 32))
            cnt++;
    }
    if (cnt < p->q) return 0;
    p->has_prep = 1;
    p->prep_view = p->view;
    p->deadline = p->now + timeout_of(p, p->view); /* a quorum is alive: time to commit */
    memcpy(p->prep_hash, p->vote_hash, 32);
    memcpy(p->prep_root, p->vote_root, 32);
    p->prep_nsigs = 0;
    for (uint32_t i = 0; i < p->n; i++) {
        struct vote *v = &p->prepares[i];
        if (v->has && v->view == p->view && !memcmp(v->hash, p->vote_hash, 32) &&
            !memcmp(v->root, p->vote_root, 32)) {
            p->prep_sigs[p->prep_nsigs].idx = i;
            memcpy(p->prep_sigs[p->prep_nsigs].sig, v->sig, PBFT_SIG_LEN);
            p->prep_nsigs++;
        }
    }
    int rc = state_persist(p);
    if (rc) return rc;
    return send_commit(p);
}

static int do_commit(struct pbft *p, uint64_t view, struct prop *x)
{
    struct pbft__sigent s[PBFT_MAX_VALIDATORS];
    size_t ns = 0;
    for (uint32_t i = 0; i < p->n; i++) {
        struct vote *v = &p->commits[i];
        if (v->has && v->view == view && !memcmp(v->hash, x->hash, 32)) {
            s[ns].idx = i;
            memcpy(s[ns].sig, v->sig, PBFT_SIG_LEN);
            ns++;
        }
    }
    struct buf cb;
    buf_init(&cb, 64 * 1024);
    int rc = pbft__cert_encode(&cb, view, s, ns);
    if (rc) {
        buf_free(&cb);
        return fail(p, rc, "encode certificate: %s", tally_strerror(rc));
    }
    struct pbft_update_item *it = up_add(p, PBFT_UP_COMMIT);
    if (!it) {
        buf_free(&cb);
        return TALLY_ENOMEM;
    }
    it->height = p->height;
    it->view = view;
    memcpy(it->hash, x->hash, 32);
    memcpy(it->root, x->root, 32);
    it->data = dup_bytes(x->bytes, x->len);
    it->len = x->len;
    free(p->last_cert);
    p->last_cert = dup_bytes(cb.p, cb.len);
    p->last_cert_len = cb.len;
    p->last_cert_view = view;
    memcpy(p->last_hash, x->hash, 32);
    it->cert = buf_detach(&cb, &it->cert_len);
    if (!it->data || !p->last_cert) return TALLY_ENOMEM;
    height_reset(p, p->height + 1);
    return 0;
}

static int ask_sync(struct pbft *p, uint64_t target)
{
    if (target <= p->sync_asked && p->sync_pending) return 0;
    if (target < p->height) return 0;
    struct pbft_update_item *it = up_add(p, PBFT_UP_SYNC);
    if (!it) return TALLY_ENOMEM;
    it->height = target;
    p->sync_asked = target;
    p->sync_pending = 1;
    return 0;
}

/* A quorum of COMMITs in one view for one proposal decides the height. */
static int try_commit(struct pbft *p)
{
    for (uint32_t i = 0; i < p->n; i++) {
        struct vote *a = &p->commits[i];
        if (!a->has) continue;
        uint32_t cnt = 0;
        for (uint32_t j = 0; j < p->n; j++) {
            struct vote *b = &p->commits[j];
            if (b->has && b->view == a->view && !memcmp(a->hash, b->hash, 32)) cnt++;
        }
        if (cnt < p->q) continue;
        struct prop *x = prop_find(p, a->hash);
        if (!x || !x->bytes) return ask_sync(p, p->height);
        if (x->exec == EXEC_NONE) return request_exec(p, x);
        if (x->exec == EXEC_OK) return do_commit(p, a->view, x);
        if (x->exec == EXEC_BAD) {
            fail(p, TALLY_ESTATE, "height %llu decided a block that re-executes differently",
                 (unsigned long long)p->height);
            return ask_sync(p, p->height);
        }
        return 0;
    }
    return 0;
}

/* Everything that may follow from a state change, to a fixed point. */
static int check_progress(struct pbft *p)
{
    for (int guard = 0; guard < 8; guard++) {
        uint64_t h = p->height, v = p->view;
        int in_vc = p->in_vc;
        int rc = try_commit(p);
        if (rc) return rc;
        if (p->height != h) continue;
        if ((rc = try_new_view(p))) return rc;
        if ((rc = try_vote(p))) return rc;
        if ((rc = try_prepared(p))) return rc;
        if ((rc = try_commit(p))) return rc;
        if (p->height == h && p->view == v && p->in_vc == in_vc) break;
    }
    /* Leader without a proposal: ask the host for one. */
    if (!p->in_vc && is_leader(p) && p->pending && !p->pp_ok && !p->fixed && !p->voted &&
        !p->build_asked) {
        struct pbft_update_item *it = up_add(p, PBFT_UP_BUILD);
        if (!it) return TALLY_ENOMEM;
        it->height = p->height;
        it->view = p->view;
        p->build_asked = 1;
    }
    return 0;
}

/* Arm or cancel the timer: it runs while there is something to decide,
 * for the earlier of the view timeout and the next retransmission. */
static int finish(struct pbft *p)
{
    int active = p->pending || p->pp_ok || p->voted || p->has_prep;
    uint64_t fire = 0;
    if (active) {
        if (p->deadline == 0) p->deadline = p->now + timeout_of(p, p->view);
        if (p->resend_at <= p->now) p->resend_at = p->now + p->resend_ms;
        fire = p->resend_at < p->deadline ? p->resend_at : p->deadline;
    } else {
        p->deadline = 0;
        p->resend_at = 0;
    }
    if (fire != p->armed) {
        struct pbft_update_item *it = up_add(p, PBFT_UP_TIMER);
        if (!it) return TALLY_ENOMEM;
        it->at_ms = fire;
        p->armed = fire;
    }
    return 0;
}

/* Send message m (signed here) to every validator that has not sent us a
 * PREPARE in this view. */
static int send_to_unprepared(struct pbft *p, const uint8_t *raw, size_t len)
{
    for (uint32_t i = 0; i < p->n; i++) {
        if (i == p->self || (p->prepares[i].has && p->prepares[i].view == p->view)) continue;
        struct pbft_update_item *it = up_add(p, PBFT_UP_SEND);
        if (!it) return TALLY_ENOMEM;
        it->to = i;
        it->data = dup_bytes(raw, len);
        it->len = len;
        if (!it->data) return TALLY_ENOMEM;
    }
    return 0;
}

/* Retransmit what we said in this view (messages may be lost). */
static int resend(struct pbft *p)
{
    int rc;
    if (p->n == 1) return 0;
    if (p->in_vc) return send_own_vc(p);
    if (p->nv_msg && is_leader(p) && (rc = send_to_unprepared(p, p->nv_msg, p->nv_len))) return rc;
    if (p->voted && is_leader(p)) {
        struct prop *x = prop_find(p, p->vote_hash);
        if (x && x->bytes) {
            struct pbft__msg m;
            struct buf b;
            msg_init(p, &m, PBFT_MSG_PREPREPARE, p->view);
            memcpy(m.hash, x->hash, 32);
            memcpy(m.root, x->root, 32);
            m.proposal = x->bytes;
            m.proposal_len = x->len;
            if ((rc = sign_msg(p, &m))) return rc;
            buf_init(&b, p->max_proposal + PBFT_MSG_OVERHEAD_MAX);
            rc = pbft__msg_encode(&b, &m, NULL, 0);
            if (!rc) rc = send_to_unprepared(p, b.p, b.len);
            buf_free(&b);
            if (rc) return rc;
        }
    }
    if (p->voted) {
        struct pbft__msg m;
        msg_init(p, &m, PBFT_MSG_PREPARE, p->view);
        memcpy(m.hash, p->vote_hash, 32);
        memcpy(m.root, p->vote_root, 32);
        if ((rc = send_msg(p, &m, NULL, 0, UINT32_MAX))) return rc;
    }
    if (p->commit_sent) {
        struct pbft__msg m;
        msg_init(p, &m, PBFT_MSG_COMMIT, p->view);
        memcpy(m.hash, p->prep_hash, 32);
        if ((rc = send_msg(p, &m, NULL, 0, UINT32_MAX))) return rc;
    }
    return 0;
}

/* ---- receiving ---- */

static void note_height(struct pbft *p, uint32_t who, uint64_t h)
{
    if (h > p->seen_height[who]) p->seen_height[who] = h;
}

/* f+1 validators speak about later heights: we are behind. */
static int check_behind(struct pbft *p)
{
    uint32_t k = 0;
    uint64_t lo = UINT64_MAX;
    for (uint32_t i = 0; i < p->n; i++)
        if (i != p->self && p->seen_height[i] > p->height) {
            k++;
            if (p->seen_height[i] < lo) lo = p->seen_height[i];
        }
    if (k < p->f + 1) return 0;
    /* The (f+1)-th highest is at least lo: peers have committed lo - 1. */
    return ask_sync(p, lo - 1);
    return 0;
}

/* A validator at an older height or view (or changing to the view we are
 * already in): send it what moves it on. A VIEW-CHANGE (sent once per
 * timeout by an honest replica) is always answered; other messages once per
 * height/view. */
static int help(struct pbft *p, uint32_t who, uint64_t h, uint64_t v, uint32_t type)
{
    int vc = type == PBFT_MSG_VIEWCHANGE;
    if (who == p->self) return 0;
    if (h == p->height && v == p->view && !vc) return 0;
    if (h < p->height) {
        if (!p->last_cert || (p->helped_h[who] == p->height && !vc)) return 0;
        p->helped_h[who] = p->height;
        struct pbft__msg m;
        msg_init(p, &m, PBFT_MSG_COMMITTED, p->last_cert_view);
        m.height = p->height - 1;
        memcpy(m.hash, p->last_hash, 32);
        m.cert = p->last_cert;
        m.cert_len = p->last_cert_len;
        return send_msg(p, &m, NULL, 0, who);
    }
    if (h != p->height || v > p->view || (v == p->view && p->in_vc)) return 0;
    if (p->helped[who] == p->view + 1 && !vc) return 0;
    if (p->in_vc) {
        struct vcent *me = &p->vcs[p->self];
        if (!me->has || me->view != p->view) return 0;
        p->helped[who] = p->view + 1;
        struct pbft_update_item *it = up_add(p, PBFT_UP_SEND);
        if (!it) return TALLY_ENOMEM;
        it->to = who;
        it->data = dup_bytes(me->raw, me->raw_len);
        it->len = me->raw_len;
        return it->data ? 0 : TALLY_ENOMEM;
    }
    if (!p->nv_msg) return 0;
    p->helped[who] = p->view + 1;
    struct pbft_update_item *it = up_add(p, PBFT_UP_SEND);
    if (!it) return TALLY_ENOMEM;
    it->to = who;
    it->data = dup_bytes(p->nv_msg, p->nv_len);
    it->len = p->nv_len;
    return it->data ? 0 : TALLY_ENOMEM;
}

static int on_preprepare(struct pbft *p, const struct pbft__msg *m)
{
    if (m->sender != pbft_leader(p->n, m->height, m->view))
        return fail(p, TALLY_ESIG, "pre-prepare from a non-leader");
    if (m->height != p->height) return 0;
    if (m->view < p->view) {
        /* Too late to vote, but the bytes may complete a commit. */
        prop_add(p, m->hash, m->root, m->proposal, m->proposal_len);
        return 0;
    }
    struct prop *x = prop_add(p, m->hash, m->root, m->proposal, m->proposal_len);
    if (!x) return 0;
    if (m->view + 1 > x->ppv) {
        /* An equivocating leader may name several; the first one wins. */
        int taken = 0;
        for (int i = 0; i < PROPS_MAX; i++)
            if (p->props[i].used && p->props[i].ppv == m->view + 1) taken = 1;
        if (!taken) {
            x->ppv = m->view + 1;
            x->ppseq = ++p->seq;
        }
    }
    if (m->view == p->view && x->ppv == m->view + 1) accept_pp(p, x);
    return 0;
}

static int on_vote(struct pbft *p, const struct pbft__msg *m, struct vote *tab)
{
    if (m->height != p->height) return 0;
    struct vote *v = &tab[m->sender];
    /* Keep the first vote of the highest view (a second, different vote in
     * the same view is equivocation and ignored). */
    if (v->has && m->view <= v->view) return 0;
    v->has = 1;
    v->view = m->view;
    memcpy(v->hash, m->hash, 32);
    memcpy(v->root, m->root, 32); /* zero for COMMIT */
    memcpy(v->sig, m->sig, PBFT_SIG_LEN);
    return 0;
}

/* Parse and check one VIEW-CHANGE (signature and certificate). */
static int check_vc(struct pbft *p, struct pbft__msg *m, const uint8_t *raw, size_t len)
{
    int rc = pbft__msg_decode(m, raw, len, p->max_proposal);
    if (rc) return rc;
    if (m->type != PBFT_MSG_VIEWCHANGE) return TALLY_EDECODE;
    if ((rc = verify_msg(p, m))) return rc;
    if (m->has_prepared && (rc = verify_prepared(p, m))) return rc;
    return 0;
}

static int on_viewchange(struct pbft *p, struct pbft__msg *m)
{
    if (m->has_prepared) {
        int rc = verify_prepared(p, m);
        if (rc) return fail(p, rc, "view-change with a bad prepared certificate");
    }
    if (m->height != p->height) return 0;
    struct vcent *c = &p->vcs[m->sender];
    if (!c->has || m->view > c->view) {
        /* Store it without the proposal (re-encoded). */
        struct pbft__msg s = *m;
        struct pbft__sigent sg[PBFT_MAX_VALIDATORS];
        size_t ns = 0;
        if (m->has_prepared) {
            int rc = pbft__sigs_decode(sg, PBFT_MAX_VALIDATORS, &ns, &m->psigs);
            if (rc) return rc;
        }
        s.proposal = NULL;
        s.proposal_len = 0;
        struct buf b;
        buf_init(&b, PBFT_MSG_OVERHEAD_MAX);
        int rc = pbft__msg_encode(&b, &s, sg, ns);
        if (rc) {
            buf_free(&b);
            return rc;
        }
        vc_clear(c);
        c->has = 1;
        c->view = m->view;
        c->has_prep = m->has_prepared;
        c->pv = m->pview;
        memcpy(c->phash, m->phash, 32);
        memcpy(c->proot, m->proot, 32);
        c->raw = buf_detach(&b, &c->raw_len);
        if (m->has_prepared && m->proposal_len &&
            pbft_leader(p->n, p->height, m->view) == p->self) {
            c->bytes = dup_bytes(m->proposal, m->proposal_len);
            if (!c->bytes) return TALLY_ENOMEM;
            c->blen = m->proposal_len;
        }
    }
    /* Join: f+1 others want a later view. */
    uint32_t cnt = 0;
    uint64_t lo = UINT64_MAX;
    for (uint32_t i = 0; i < p->n; i++) {
        struct vcent *o = &p->vcs[i];
        if (i != p->self && o->has && o->view > p->view) {
            cnt++;
            if (o->view < lo) lo = o->view;
        }
    }
    if (cnt >= p->f + 1) return start_view_change(p, lo);
    return 0;
}

static int on_newview(struct pbft *p, const struct pbft__msg *m)
{
    if (m->sender != pbft_leader(p->n, m->height, m->view))
        return fail(p, TALLY_ESIG, "new-view from a non-leader");
    if (m->height != p->height) return 0;
    if (m->view < p->view || (m->view == p->view && !p->in_vc)) return 0;
    /* A quorum of distinct, valid VIEW-CHANGEs for this view. */
    uint8_t seen[PBFT_MAX_VALIDATORS] = {0};
    uint32_t cnt = 0;
    int has_max = 0;
    uint64_t maxv = 0;
    uint8_t maxh[32], maxr[32];
    const uint8_t *cur = m->vcs.p, *end = m->vcs.p + m->vcs.len;
    while (cur < end) {
        struct rlp_item it;
        struct pbft__msg vc;
        const uint8_t *start = cur;
        int rc = rlp_next(&it, &cur, end);
        if (rc) return fail(p, rc, "new-view: bad view-change list");
        rc = check_vc(p, &vc, start, (size_t)(cur - start));
        if (rc) return fail(p, rc, "new-view: bad view-change");
        if (vc.height != m->height || vc.view != m->view || seen[vc.sender])
            return fail(p, TALLY_EDECODE, "new-view: view-change for another view or repeated");
        seen[vc.sender] = 1;
        cnt++;
        if (vc.has_prepared && (!has_max || vc.pview > maxv)) {
            has_max = 1;
            maxv = vc.pview;
            memcpy(maxh, vc.phash, 32);
            memcpy(maxr, vc.proot, 32);
        }
    }
    if (cnt < p->q) return fail(p, TALLY_ESIG, "new-view without a quorum of view-changes");
    struct pbft__msg pp;
    if (m->pp) {
        int rc = pbft__msg_decode(&pp, m->pp, m->pp_len, p->max_proposal);
        if (rc) return fail(p, rc, "new-view: bad pre-prepare");
        if (pp.type != PBFT_MSG_PREPREPARE || pp.height != m->height || pp.view != m->view ||
            pp.sender != m->sender)
            return fail(p, TALLY_EDECODE, "new-view: pre-prepare for another view");
        if (verify_msg(p, &pp)) return fail(p, TALLY_ESIG, "new-view: pre-prepare signature");
    }
    if (has_max && (!m->pp || memcmp(pp.hash, maxh, 32) || memcmp(pp.root, maxr, 32)))
        return fail(p, TALLY_ESIG, "new-view does not re-propose the highest prepared block");
    if (!has_max && m->pp) return fail(p, TALLY_EDECODE, "new-view: unjustified pre-prepare");
    /* Enter the view. */
    p->view = m->view;
    p->in_vc = 0;
    view_reset(p);
    if (has_max) {
        p->fixed = 1;
        memcpy(p->fixed_hash, maxh, 32);
    }
    int rc = state_persist(p);
    if (rc) return rc;
    if (m->pp) {
        struct prop *x = prop_add(p, pp.hash, pp.root, pp.proposal, pp.proposal_len);
        if (x) {
            x->ppv = m->view + 1;
            x->ppseq = ++p->seq;
            accept_pp(p, x);
        }
    } else {
        accept_buffered_pp(p);
    }
    return 0;
}

static int on_committed(struct pbft *p, const struct pbft__msg *m)
{
    if (m->height < p->height) return 0;
    struct pbft_validators vs = {p->n, (const uint8_t(*)[32])p->ids};
    int rc = pbft_cert_verify(&vs, &p->crypto, m->hash, m->height, m->cert, m->cert_len);
    if (rc) return fail(p, rc, "committed: bad certificate");
    if (m->height > p->height) return ask_sync(p, m->height);
    /* Our height: adopt the certificate's votes and commit if we can. */
    struct rlp_item top, f[2];
    size_t nf, ns;
    struct pbft__sigent s[PBFT_MAX_VALIDATORS];
    uint64_t view;
    if ((rc = rlp_decode_all(&top, m->cert, m->cert_len, 4))) return rc;
    if ((rc = rlp_list(f, 2, &nf, &top))) return rc;
    if ((rc = rlp_get_u64(&view, &f[0]))) return rc;
    if ((rc = pbft__sigs_decode(s, PBFT_MAX_VALIDATORS, &ns, &f[1]))) return rc;
    for (size_t i = 0; i < ns; i++) {
        struct vote *v = &p->commits[s[i].idx];
        v->has = 1;
        v->view = view;
        memcpy(v->hash, m->hash, 32);
        memset(v->root, 0, 32);
        memcpy(v->sig, s[i].sig, PBFT_SIG_LEN);
    }
    return 0;
}

static int on_receive(struct pbft *p, const uint8_t *buf, size_t len)
{
    struct pbft__msg m;
    int rc = pbft__msg_decode(&m, buf, len, p->max_proposal);
    if (rc) return fail(p, rc, "malformed message: %s", tally_strerror(rc));
    if (m.sender >= p->n) return fail(p, TALLY_EDECODE, "sender %u out of range", m.sender);
    if (m.sender == p->self) return 0; /* our own, echoed back */
    if (verify_msg(p, &m)) return fail(p, TALLY_ESIG, "bad signature (sender %u)", m.sender);
    note_height(p, m.sender, m.height);
    switch (m.type) {
    case PBFT_MSG_PREPREPARE: rc = on_preprepare(p, &m); break;
    case PBFT_MSG_PREPARE: rc = on_vote(p, &m, p->prepares); break;
    case PBFT_MSG_COMMIT: rc = on_vote(p, &m, p->commits); break;
    case PBFT_MSG_VIEWCHANGE: rc = on_viewchange(p, &m); break;
    case PBFT_MSG_NEWVIEW:
        rc = on_newview(p, &m);
        if (rc == 0 && p->view == m.view && !p->in_vc && !p->nv_msg && m.height == p->height) {
            p->nv_msg = dup_bytes(buf, len);
            p->nv_len = p->nv_msg ? len : 0;
        }
        break;
    case PBFT_MSG_COMMITTED: rc = on_committed(p, &m); break;
    default: rc = TALLY_EDECODE;
    }
    if (rc) return rc;
    if ((rc = help(p, m.sender, m.height, m.view, m.type))) return rc;
    return check_behind(p);
}

/* ---- start ---- */

int pbft_state_height(const uint8_t *state, size_t len, uint64_t *height)
{
    struct rlp_item top, f[8];
    size_t nf;
    uint64_t ver;
    int rc = rlp_decode_all(&top, state, len, 4);
    if (rc) return rc;
    if ((rc = rlp_list(f, 8, &nf, &top))) return rc;
    if (nf != 8) return TALLY_EDECODE;
    if ((rc = rlp_get_u64(&ver, &f[0]))) return rc;
    if (ver != STATE_VER) return TALLY_EDECODE;
    return rlp_get_u64(height, &f[1]);
}

static int state_restore(struct pbft *p, const uint8_t *buf, size_t len)
{
    struct rlp_item top, f[8], vf[2], pf[4], kf[2], ke[3];
    size_t nf, nvf, npf, nkf, nke;
    uint64_t ver, h, v, in_vc;
    int rc = rlp_decode_all(&top, buf, len, 4);
    if (rc) return rc;
    if ((rc = rlp_list(f, 8, &nf, &top))) return rc;
    if (nf != 8) return TALLY_EDECODE;
    if ((rc = rlp_get_u64(&ver, &f[0]))) return rc;
    if (ver != STATE_VER) return TALLY_EDECODE;
    if ((rc = rlp_get_u64(&h, &f[1]))) return rc;
    if ((rc = rlp_get_u64(&v, &f[2]))) return rc;
    if ((rc = rlp_get_u64(&in_vc, &f[3]))) return rc;
    if (in_vc > 1 || f[4].is_list || (f[4].len != 0 && f[4].len != 32)) return TALLY_EDECODE;
    if ((rc = rlp_list(vf, 2, &nvf, &f[5]))) return rc;
    if (nvf != 0 && nvf != 2) return TALLY_EDECODE;
    if ((rc = rlp_list(pf, 4, &npf, &f[6]))) return rc;
    if (npf != 0 && npf != 4) return TALLY_EDECODE;
    if ((rc = rlp_list(kf, 2, &nkf, &f[7]))) return rc;
    if (h != p->height) return 0; /* an older height: nothing to keep */
    p->view = v;
    p->in_vc = (int)in_vc;
    if (f[4].len) {
        p->fixed = 1;
        memcpy(p->fixed_hash, f[4].p, 32);
    }
    if (nvf) {
        if ((rc = rlp_get_fixed(p->vote_hash, 32, &vf[0]))) return rc;
        if ((rc = rlp_get_fixed(p->vote_root, 32, &vf[1]))) return rc;
        p->voted = 1;
    }
    if (npf) {
        size_t ns;
        if ((rc = rlp_get_u64(&p->prep_view, &pf[0]))) return rc;
        if ((rc = rlp_get_fixed(p->prep_hash, 32, &pf[1]))) return rc;
        if ((rc = rlp_get_fixed(p->prep_root, 32, &pf[2]))) return rc;
        if ((rc = pbft__sigs_decode(p->prep_sigs, p->n, &ns, &pf[3]))) return rc;
        p->prep_nsigs = (uint32_t)ns;
        p->has_prep = 1;
    }
    for (size_t i = 0; i < nkf; i++) {
        uint8_t hash[32], root[32];
        if ((rc = rlp_list(ke, 3, &nke, &kf[i]))) return rc;
        if (nke != 3 || ke[2].is_list || ke[2].len == 0 || ke[2].len > p->max_proposal)
            return TALLY_EDECODE;
        if ((rc = rlp_get_fixed(hash, 32, &ke[0]))) return rc;
        if ((rc = rlp_get_fixed(root, 32, &ke[1]))) return rc;
        if (!prop_add(p, hash, root, ke[2].p, ke[2].len)) return TALLY_ENOMEM;
    }
    return 0;
}

/* Remember the certificate of height - 1 (to answer laggards). A
 * malformed one is simply not kept. */
static void set_last_cert(struct pbft *p, const uint8_t hash[32], const uint8_t *cert, size_t len)
{
    struct rlp_item top, f[2];
    size_t nf;
    uint64_t view;
    free(p->last_cert);
    p->last_cert = NULL;
    if (!cert || !len || len > 2 + 9 + PBFT_MAX_VALIDATORS * 80) return;
    if (rlp_decode_all(&top, cert, len, 4) || rlp_list(f, 2, &nf, &top) || nf != 2 ||
        rlp_get_u64(&view, &f[0]))
        return;
    p->last_cert = dup_bytes(cert, len);
    if (!p->last_cert) return;
    p->last_cert_len = len;
    p->last_cert_view = view;
    memcpy(p->last_hash, hash, 32);
}

static int on_start(struct pbft *p, const struct pbft_event *ev)
{
    if (ev->u.start.height == 0) return fail(p, TALLY_EINVAL, "start height 0 (genesis)");
    height_reset(p, ev->u.start.height);
    if (ev->u.start.state && ev->u.start.state_len) {
        int rc = state_restore(p, ev->u.start.state, ev->u.start.state_len);
        if (rc) {
            height_reset(p, ev->u.start.height);
            return fail(p, rc, "persisted consensus state is corrupt: %s", tally_strerror(rc));
        }
    }
    p->started = 1;
    set_last_cert(p, ev->u.start.head_hash, ev->u.start.head_cert, ev->u.start.head_cert_len);
    /* Re-send what we had said in this view (lost with the crash maybe). */
    if (p->in_vc) {
        uint64_t v = p->view;
        return start_view_change(p, v);
    }
    if (p->voted) {
        struct pbft__msg m;
        msg_init(p, &m, PBFT_MSG_PREPARE, p->view);
        memcpy(m.hash, p->vote_hash, 32);
        memcpy(m.root, p->vote_root, 32);
        int rc = sign_msg(p, &m);
        if (rc) return rc;
        struct vote *me = &p->prepares[p->self];
        me->has = 1;
        me->view = p->view;
        memcpy(me->hash, m.hash, 32);
        memcpy(me->root, m.root, 32);
        memcpy(me->sig, m.sig, PBFT_SIG_LEN);
        if ((rc = send_msg(p, &m, NULL, 0, UINT32_MAX))) return rc;
    }
    if (p->has_prep && p->prep_view == p->view) return send_commit(p);
    return 0;
}

/* The view to change to when the timer fires. In a view we entered, the
 * next one. While still changing to view v, move past v only once a quorum
 * (counting us) has asked for v or later: otherwise re-send our VIEW-CHANGE
 * for v. This keeps honest replicas within one view of each other, so they
 * cannot race apart while partitioned and never meet again (the f+1 join
 * rule then brings the lower ones up). */
static uint64_t on_timeout_view(const struct pbft *p)
{
    if (!p->in_vc) return p->view + 1;
    uint32_t cnt = 0;
    for (uint32_t i = 0; i < p->n; i++)
        if (i == p->self || (p->vcs[i].has && p->vcs[i].view >= p->view)) cnt++;
    return cnt >= p->q ? p->view + 1 : p->view;
}

/* ---- public ---- */

int pbft_new(struct pbft **out, const struct pbft_config *cfg)
{
    if (!cfg || cfg->vs.n == 0 || cfg->vs.n > PBFT_MAX_VALIDATORS || !cfg->vs.ids ||
        cfg->self >= cfg->vs.n || !cfg->crypto.sign || !cfg->crypto.verify ||
        cfg->timeout_base_ms == 0 || cfg->timeout_max_ms < cfg->timeout_base_ms ||
        cfg->max_proposal == 0 || cfg->max_proposal > ((size_t)1 << 40))
        return TALLY_EINVAL;
    struct pbft *p = calloc(1, sizeof *p);
    if (!p) return TALLY_ENOMEM;
    uint32_t n = cfg->vs.n;
    p->n = n;
    p->f = pbft_faults(n);
    p->q = pbft_quorum(n);
    p->self = cfg->self;
    p->crypto = cfg->crypto;
    p->tbase = cfg->timeout_base_ms;
    p->tmax = cfg->timeout_max_ms;
    p->max_proposal = cfg->max_proposal;
    p->resend_ms = cfg->resend_ms ? cfg->resend_ms : cfg->timeout_base_ms;
    p->ids = malloc(n * sizeof *p->ids);
    p->prep_sigs = calloc(n, sizeof *p->prep_sigs);
    p->prepares = calloc(n, sizeof *p->prepares);
    p->commits = calloc(n, sizeof *p->commits);
    p->vcs = calloc(n, sizeof *p->vcs);
    p->helped = calloc(n, sizeof *p->helped);
    p->helped_h = calloc(n, sizeof *p->helped_h);
    p->seen_height = calloc(n, sizeof *p->seen_height);
    if (!p->ids || !p->prep_sigs || !p->prepares || !p->commits || !p->vcs || !p->helped ||
        !p->helped_h || !p->seen_height) {
        pbft_free(p);
        return TALLY_ENOMEM;
    }
    memcpy(p->ids, cfg->vs.ids, n * sizeof *p->ids);
    *out = p;
    return 0;
}

void pbft_free(struct pbft *p)
{
    if (!p) return;
    for (int i = 0; i < PROPS_MAX; i++) prop_clear(&p->props[i]);
    if (p->vcs)
        for (uint32_t i = 0; i < p->n; i++) vc_clear(&p->vcs[i]);
    free(p->nv_msg);
    free(p->last_cert);
    free(p->ids);
    free(p->prep_sigs);
    free(p->prepares);
    free(p->commits);
    free(p->vcs);
    free(p->helped);
    free(p->helped_h);
    free(p->seen_height);
    free(p);
}

const char *pbft_errmsg(const struct pbft *p)
{
    return p->errmsg;
}

uint64_t pbft_height(const struct pbft *p)
{
    return p->height;
}

uint64_t pbft_view(const struct pbft *p)
{
    return p->view;
}

int pbft_in_view_change(const struct pbft *p)
{
    return p->in_vc;
}

int pbft_step(struct pbft *p, const struct pbft_event *ev, struct pbft_update *up)
{
    update_clear(up);
    p->up = up;
    if (ev->now_ms > p->now) p->now = ev->now_ms;
    int rc = 0;
    if (!p->started && ev->type != PBFT_EV_START)
        return fail(p, TALLY_EINVAL, "event before START");
    switch (ev->type) {
    case PBFT_EV_START:
        if (p->started) return fail(p, TALLY_EINVAL, "START twice");
        p->armed = 0;
        rc = on_start(p, ev);
        break;
    case PBFT_EV_RECEIVE: {
        /* Validate before touching anything: a refused message leaves no
         * updates behind. */
        size_t n0 = up->n;
        rc = on_receive(p, ev->u.receive.msg, ev->u.receive.len);
        if (rc && rc != TALLY_ENOMEM) {
            /* (refusals happen before any update; drop any just in case) */
            while (up->n > n0) {
                up->n--;
                free(up->items[up->n].data);
                free(up->items[up->n].cert);
            }
            return rc;
        }
        break;
    }
    case PBFT_EV_TIMEOUT:
        if (p->deadline && p->now >= p->deadline) {
            p->deadline = 0;
            p->resend_at = 0;
            rc = start_view_change(p, on_timeout_view(p));
        } else if (p->resend_at && p->now >= p->resend_at) {
            p->resend_at = 0;
            rc = resend(p);
        }
        break;
    case PBFT_EV_TXS: p->pending = ev->u.txs.pending != 0; break;
    case PBFT_EV_PROPOSAL_READY: {
        const uint8_t *pb = ev->u.proposal.proposal;
        size_t plen = ev->u.proposal.len;
        if (!pb || plen == 0 || plen > p->max_proposal)
            return fail(p, TALLY_EINVAL, "proposal of %zu bytes", plen);
        if (ev->u.proposal.height != p->height || p->in_vc || !is_leader(p) || p->pp_ok ||
            p->voted || p->fixed)
            break; /* stale: the moment has passed */
        struct prop *x = prop_add(p, ev->u.proposal.hash, ev->u.proposal.root, pb, plen);
        if (!x) return fail(p, TALLY_ENOMEM, "no room for the proposal");
        x->exec = EXEC_OK;
        x->ppv = p->view + 1;
        x->ppseq = ++p->seq;
        accept_pp(p, x);
        /* The PRE-PREPARE is the leader's vote: persist it first. */
        p->voted = 1;
        memcpy(p->vote_hash, x->hash, 32);
        memcpy(p->vote_root, x->root, 32);
        if ((rc = state_persist(p))) break;
        struct pbft__msg m;
        msg_init(p, &m, PBFT_MSG_PREPREPARE, p->view);
        memcpy(m.hash, x->hash, 32);
        memcpy(m.root, x->root, 32);
        m.proposal = x->bytes;
        m.proposal_len = x->len;
        if ((rc = send_msg(p, &m, NULL, 0, UINT32_MAX))) break;
        msg_init(p, &m, PBFT_MSG_PREPARE, p->view);
        memcpy(m.hash, x->hash, 32);
        memcpy(m.root, x->root, 32);
        if ((rc = sign_msg(p, &m))) break;
        struct vote *me = &p->prepares[p->self];
        me->has = 1;
        me->view = p->view;
        memcpy(me->hash, m.hash, 32);
        memcpy(me->root, m.root, 32);
        memcpy(me->sig, m.sig, PBFT_SIG_LEN);
        rc = send_msg(p, &m, NULL, 0, UINT32_MAX);
        break;
    }
    case PBFT_EV_EXECUTED: {
        if (ev->u.executed.height != p->height) break;
        struct prop *x = prop_find(p, ev->u.executed.hash);
        if (!x) break;
        x->exec =
            ev->u.executed.ok && !memcmp(ev->u.executed.root, x->root, 32) ? EXEC_OK : EXEC_BAD;
        /* A leader whose proposal does not execute: move on at once. */
        if (x->exec == EXEC_BAD && p->pp_ok && !memcmp(p->pp_hash, x->hash, 32) && !p->in_vc &&
            !p->voted)
            rc = start_view_change(p, p->view + 1);
        break;
    }
    case PBFT_EV_SYNCED:
        p->sync_pending = 0;
        if (ev->u.synced.height >= p->height) {
            height_reset(p, ev->u.synced.height + 1);
            set_last_cert(p, ev->u.synced.hash, ev->u.synced.cert, ev->u.synced.cert_len);
        }
        break;
    default: return fail(p, TALLY_EINVAL, "unknown event %d", (int)ev->type);
    }
    if (!rc) rc = check_progress(p);
    if (!rc) rc = finish(p);
    return rc;
}

/* ---- certificates ---- */

/* The view and signature entries of a certificate, strictly decoded. */
static int cert_decode(const uint8_t *cert, size_t len, uint64_t *view, struct pbft__sigent *s,
                       size_t *ns)
{
    struct rlp_item top, f[2];
    size_t nf;
    if (!cert || len == 0) return TALLY_EDECODE;
    if (len > 2 + 9 + PBFT_MAX_VALIDATORS * 80) return TALLY_ETOOBIG;
    int rc = rlp_decode_all(&top, cert, len, 4);
    if (rc) return rc;
    if ((rc = rlp_list(f, 2, &nf, &top))) return rc == TALLY_ETOOBIG ? TALLY_EDECODE : rc;
    if (nf != 2) return TALLY_EDECODE;
    if ((rc = rlp_get_u64(view, &f[0]))) return rc;
    if ((rc = pbft__sigs_decode(s, PBFT_MAX_VALIDATORS, ns, &f[1]))) return rc;
    for (size_t i = 1; i < *ns; i++)
        if (s[i].idx <= s[i - 1].idx) return TALLY_EDECODE;
    return 0;
}

int pbft_cert_verify(const struct pbft_validators *vs, const struct pbft_crypto *c,
                     const uint8_t block_hash[32], uint64_t height, const uint8_t *cert, size_t len)
{
    size_t ns;
    struct pbft__sigent s[PBFT_MAX_VALIDATORS];
    uint64_t view;
    uint8_t d[32];
    if (!vs || vs->n == 0 || vs->n > PBFT_MAX_VALIDATORS || !c || !c->verify) return TALLY_EINVAL;
    int rc = cert_decode(cert, len, &view, s, &ns);
    if (rc) return rc;
    pbft__commit_digest(d, height, view, block_hash);
    for (size_t i = 0; i < ns; i++) {
        if (s[i].idx >= vs->n) return TALLY_EDECODE;
        if (c->verify(c->ctx, vs->ids[s[i].idx], s[i].sig, d)) return TALLY_ESIG;
    }
    return ns >= pbft_quorum(vs->n) ? 0 : TALLY_ESIG;
}

int pbft_cert_signers(const uint8_t *cert, size_t len, uint64_t *view, uint32_t *idx, size_t max,
                      size_t *n)
{
    size_t ns;
    struct pbft__sigent s[PBFT_MAX_VALIDATORS];
    int rc = cert_decode(cert, len, view, s, &ns);
    if (rc) return rc;
    if (ns > max) return TALLY_ETOOBIG;
    for (size_t i = 0; i < ns; i++) idx[i] = s[i].idx;
    *n = ns;
    return 0;
}
