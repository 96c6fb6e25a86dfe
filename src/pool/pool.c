/* Transaction pool. Data structures (docs/pool.md):
 *  - ents: a slab of entries (one per pooled tx), linked in arrival order;
 *  - txtab: open-addressing hash table (linear probing, backward-shift
 *    deletion, keyed hash) from tx hash to entry;
 *  - snds: a slab of senders, each with its entries sorted by nonce;
 *  - sndtab: the same kind of hash table from address to sender;
 *  - heap: min-heap of the *ready* senders (lowest pooled nonce == the
 *    sender's known committed nonce) keyed by the arrival sequence number of
 *    that head transaction. Senders behind a gap are not in the heap, so
 *    pool_select never looks at them.
 * Everything is sized from cfg.capacity at pool_new; only a sender's nonce
 * array grows (up to max_per_sender). */
#include "pool/pool.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define NONE      UINT32_MAX
#define MAX_CAP   (1u << 24)
#define SLOT_FREE 0

struct ent {
    struct tx *tx; /* NULL while dead (matched by a committed block, awaiting compaction) */
    uint64_t nonce;
    uint64_t seq;        /* arrival number */
    uint32_t sender;     /* index into snds */
    uint32_t prev, next; /* arrival list; next doubles as the free-list link */
};

struct snd {
    uint8_t addr[20];
    uint32_t heap_pos; /* NONE if not ready */
    uint64_t base;     /* the sender's committed nonce as last told */
    uint32_t *idx;     /* entry indices sorted by nonce */
    uint32_t n, cap;
    uint32_t mark;      /* epoch for de-duplication in remove_committed */
    uint32_t next_free; /* free-list link */
};

struct slot {
    uint32_t ref; /* index + 1; 0 = empty */
    uint32_t tag; /* low 32 bits of the keyed hash; home = tag & mask */
};

struct cand {
    uint32_t snd;
    uint32_t start; /* position in snd->idx of the first ready tx */
    uint64_t nonce0;
};

struct pool {
    struct pool_cfg cfg;
    uint64_t seed;
    uint64_t seq;
    size_t count;
    struct ent *ents;
    uint32_t ent_free;
    uint32_t head, tail; /* arrival list */
    struct snd *snds;
    uint32_t snd_free;
    size_t nsnd;
    struct slot *txtab, *sndtab;
    uint32_t mask; /* both tables have mask+1 slots */
    uint32_t *heap;
    size_t heapn;
    uint32_t epoch;
    /* scratch for pool_select / pool_remove_committed, grown on demand */
    struct cand *cand;
    uint32_t *aux, *active;
    size_t scratch_cap;
    uint32_t *touched;
    size_t touched_cap;
};

/* ---- keyed hashing ------------------------------------------------------ */

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_bytes(uint64_t seed, const uint8_t *p, size_t n)
{
    uint64_t h = seed ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix64(h ^ w) + 0x9e3779b97f4a7c15ull;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = mix64(h ^ w) + 0x9e3779b97f4a7c15ull;
    }
    return mix64(h);
}

/* Generic lookup: returns the slot position holding key, or the empty slot
 * where it would go (ref == 0). */
static uint32_t tab_find(const struct pool *p, const struct slot *tab, uint32_t tag,
                         const uint8_t *key, int is_tx)
{
    uint32_t i = tag & p->mask;
    for (;;) {
        const struct slot *s = &tab[i];
        if (s->ref == SLOT_FREE) return i;
        if (s->tag == tag) {
            const uint8_t *k = is_tx ? p->ents[s->ref - 1].tx->hash : p->snds[s->ref - 1].addr;
            if (memcmp(k, key, is_tx ? 32 : 20) == 0) return i;
        }
        i = (i + 1) & p->mask;
    }
}

static void tab_delete(const struct pool *p, struct slot *tab, uint32_t i)
{
    uint32_t mask = p->mask;
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (tab[j].ref == SLOT_FREE) break;
        uint32_t k = tab[j].tag & mask; /* home of the entry at j */
        /* The entry at j may move to i unless its home lies cyclically in (i, j]. */
        int stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        tab[i] = tab[j];
        i = j;
    }
    tab[i].ref = SLOT_FREE;
    tab[i].tag = 0;
}

static inline uint32_t tx_tag(const struct pool *p, const uint8_t hash[32])
{
    return (uint32_t)hash_bytes(p->seed, hash, 32);
}

static inline uint32_t addr_tag(const struct pool *p, const uint8_t addr[20])
{
    return (uint32_t)hash_bytes(p->seed ^ 0x5bd1e995u, addr, 20);
}

static uint32_t find_ent(const struct pool *p, const uint8_t hash[32])
{
    uint32_t t = tx_tag(p, hash);
    uint32_t i = tab_find(p, p->txtab, t, hash, 1);
    return p->txtab[i].ref ? p->txtab[i].ref - 1 : NONE;
}

static uint32_t find_snd(const struct pool *p, const uint8_t addr[20])
{
    uint32_t t = addr_tag(p, addr);
    uint32_t i = tab_find(p, p->sndtab, t, addr, 0);
    return p->sndtab[i].ref ? p->sndtab[i].ref - 1 : NONE;
}

/* ---- ready-sender heap -------------------------------------------------- */

static inline uint64_t snd_key(const struct pool *p, uint32_t s)
{
    return p->ents[p->snds[s].idx[0]].seq;
}

static void heap_set(struct pool *p, size_t pos, uint32_t s)
{
    p->heap[pos] = s;
    p->snds[s].heap_pos = (uint32_t)pos;
}

static void heap_up(struct pool *p, size_t pos)
{
    uint32_t s = p->heap[pos];
    uint64_t k = snd_key(p, s);
    while (pos > 0) {
        size_t up = (pos - 1) / 2;
        if (snd_key(p, p->heap[up]) <= k) break;
        heap_set(p, pos, p->heap[up]);
        pos = up;
    }
    heap_set(p, pos, s);
}

static void heap_down(struct pool *p, size_t pos)
{
    uint32_t s = p->heap[pos];
    uint64_t k = snd_key(p, s);
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= p->heapn) break;
        if (c + 1 < p->heapn && snd_key(p, p->heap[c + 1]) < snd_key(p, p->heap[c])) c++;
        if (snd_key(p, p->heap[c]) >= k) break;
        heap_set(p, pos, p->heap[c]);
        pos = c;
    }
    heap_set(p, pos, s);
}

static void heap_remove(struct pool *p, uint32_t s)
{
    size_t pos = p->snds[s].heap_pos;
    p->snds[s].heap_pos = NONE;
    p->heapn--;
    if (pos == p->heapn) return;
    heap_set(p, pos, p->heap[p->heapn]);
    heap_up(p, pos);
    heap_down(p, p->snds[p->heap[pos]].heap_pos);
}

/* Re-establish the sender's invariants after its array or base changed:
 * in the heap iff ready, at the right position; freed when empty. */
static void snd_fix(struct pool *p, uint32_t si)
{
    struct snd *s = &p->snds[si];
    int ready = s->n > 0 && p->ents[s->idx[0]].nonce == s->base;
    if (!ready) {
        if (s->heap_pos != NONE) heap_remove(p, si);
    } else if (s->heap_pos == NONE) {
        p->heapn++;
        heap_set(p, p->heapn - 1, si);
        heap_up(p, p->heapn - 1);
    } else {
        heap_up(p, s->heap_pos);
        heap_down(p, s->heap_pos);
    }
    if (s->n == 0) {
        uint32_t i = tab_find(p, p->sndtab, addr_tag(p, s->addr), s->addr, 0);
        tab_delete(p, p->sndtab, i);
        free(s->idx);
        s->idx = NULL;
        s->cap = 0;
        s->next_free = p->snd_free;
        p->snd_free = si;
        p->nsnd--;
    }
}

/* First position in the sender's array with nonce >= n. */
static uint32_t snd_lower_bound(const struct pool *p, const struct snd *s, uint64_t n)
{
    uint32_t lo = 0, hi = s->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->ents[s->idx[mid]].nonce < n)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Length of the run of consecutive nonces starting at position start (whose
 * nonce is n0). Nonces are distinct and sorted, so "idx[start+i] == n0+i" is
 * true up to some i and false after: binary search. */
static uint32_t snd_run(const struct pool *p, const struct snd *s, uint32_t start, uint64_t n0)
{
    uint32_t lo = 0, hi = s->n - start; /* answer in [lo, hi] */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2; /* test run length >= mid */
        if (p->ents[s->idx[start + mid - 1]].nonce == n0 + mid - 1)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* ---- entries ------------------------------------------------------------ */

static void list_unlink(struct pool *p, uint32_t e)
{
    struct ent *x = &p->ents[e];
    if (x->prev != NONE)
        p->ents[x->prev].next = x->next;
    else
        p->head = x->next;
    if (x->next != NONE)
        p->ents[x->next].prev = x->prev;
    else
        p->tail = x->prev;
}

/* Forget an entry's hash-table slot and arrival link (the sender array is
 * the caller's business). Frees the tx unless keep. */
static void ent_detach(struct pool *p, uint32_t e, int keep)
{
    struct ent *x = &p->ents[e];
    uint32_t i = tab_find(p, p->txtab, tx_tag(p, x->tx->hash), x->tx->hash, 1);
    tab_delete(p, p->txtab, i);
    list_unlink(p, e);
    if (!keep) tx_free(x->tx);
    x->tx = NULL;
    p->count--;
}

static void ent_release(struct pool *p, uint32_t e)
{
    p->ents[e].next = p->ent_free;
    p->ent_free = e;
}

/* Remove every entry of sender s that is dead or has nonce < below; compact. */
static void snd_prune(struct pool *p, uint32_t si, uint64_t below)
{
    struct snd *s = &p->snds[si];
    uint32_t w = 0;
    for (uint32_t r = 0; r < s->n; r++) {
        uint32_t e = s->idx[r];
        struct ent *x = &p->ents[e];
        if (x->tx && x->nonce >= below) {
            s->idx[w++] = e;
            continue;
        }
        if (x->tx) ent_detach(p, e, 0);
        ent_release(p, e);
    }
    s->n = w;
}

/* ---- public API --------------------------------------------------------- */

int pool_new(struct pool **out, const struct pool_cfg *cfg)
{
    *out = NULL;
    if (!cfg || cfg->capacity == 0 || cfg->capacity > MAX_CAP) return TALLY_EINVAL;
    struct pool *p = calloc(1, sizeof *p);
    if (!p) return TALLY_ENOMEM;
    p->cfg = *cfg;
    if (p->cfg.max_per_sender == 0 || p->cfg.max_per_sender > p->cfg.capacity)
        p->cfg.max_per_sender = p->cfg.capacity;
    size_t slots = 16;
    while (slots < 2 * cfg->capacity) slots *= 2; /* load factor <= 0.5 */
    p->mask = (uint32_t)(slots - 1);
    p->ents = malloc(cfg->capacity * sizeof *p->ents);
    p->snds = malloc(cfg->capacity * sizeof *p->snds);
    p->txtab = calloc(slots, sizeof *p->txtab);
    p->sndtab = calloc(slots, sizeof *p->sndtab);
    p->heap = malloc(cfg->capacity * sizeof *p->heap);
    p->aux = malloc((cfg->capacity + 2) * sizeof *p->aux); /* holds <= heapn + 1 */
    if (!p->ents || !p->snds || !p->txtab || !p->sndtab || !p->heap || !p->aux) {
        pool_free(p);
        return TALLY_ENOMEM;
    }
    for (size_t i = 0; i < cfg->capacity; i++) {
        p->ents[i].tx = NULL;
        p->ents[i].next = i + 1 < cfg->capacity ? (uint32_t)(i + 1) : NONE;
        p->snds[i].idx = NULL;
        p->snds[i].next_free = i + 1 < cfg->capacity ? (uint32_t)(i + 1) : NONE;
    }
    p->ent_free = 0;
    p->snd_free = 0;
    p->head = p->tail = NONE;
    if (getrandom(&p->seed, sizeof p->seed, GRND_NONBLOCK) != (ssize_t)sizeof p->seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        p->seed = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uintptr_t)p);
    }
    *out = p;
    return 0;
}

void pool_free(struct pool *p)
{
    if (!p) return;
    if (p->ents) {
        for (uint32_t e = p->head; e != NONE; e = p->ents[e].next) tx_free(p->ents[e].tx);
    }
    if (p->snds && p->sndtab) {
        for (uint32_t i = 0; i <= p->mask; i++)
            if (p->sndtab[i].ref) free(p->snds[p->sndtab[i].ref - 1].idx);
    }
    free(p->ents);
    free(p->snds);
    free(p->txtab);
    free(p->sndtab);
    free(p->heap);
    free(p->cand);
    free(p->aux);
    free(p->active);
    free(p->touched);
    free(p);
}

#define WHY(...)                                               \
    do {                                                       \
        if (why && whylen) snprintf(why, whylen, __VA_ARGS__); \
    } while (0)

int pool_add(struct pool *p, struct tx *tx, uint64_t state_nonce, char *why, size_t whylen)
{
    if (!tx || !tx->has_sender) {
        WHY("transaction sender not recovered");
        return TALLY_EINVAL;
    }
    uint32_t ttag = tx_tag(p, tx->hash);
    uint32_t tpos = tab_find(p, p->txtab, ttag, tx->hash, 1);
    if (p->txtab[tpos].ref) {
        WHY("already known");
        return TALLY_EDUP;
    }
    if (tx->nonce < state_nonce) {
        WHY("nonce too low: next is %" PRIu64 ", got %" PRIu64, state_nonce, tx->nonce);
        return TALLY_ENONCE;
    }
    uint32_t stag = addr_tag(p, tx->sender);
    uint32_t spos = tab_find(p, p->sndtab, stag, tx->sender, 0);
    uint32_t si = p->sndtab[spos].ref ? p->sndtab[spos].ref - 1 : NONE;
    uint32_t at = 0;
    if (si != NONE) {
        struct snd *s = &p->snds[si];
        if (state_nonce > s->base) {
            /* The caller knows of commits we were not told about: catch up. */
            s->base = state_nonce;
            snd_prune(p, si, state_nonce);
            if (s->n == 0) {
                snd_fix(p, si); /* frees the sender */
                si = NONE;
                spos = tab_find(p, p->sndtab, stag, tx->sender, 0);
                tpos = tab_find(p, p->txtab, ttag, tx->hash, 1); /* pruning may shift slots */
            } else {
                snd_fix(p, si);
                tpos = tab_find(p, p->txtab, ttag, tx->hash, 1);
            }
        }
    }
    uint64_t base = state_nonce;
    if (si != NONE) {
        struct snd *s = &p->snds[si];
        base = s->base;
        at = snd_lower_bound(p, s, tx->nonce);
        if (at < s->n && p->ents[s->idx[at]].nonce == tx->nonce) {
            WHY("nonce %" PRIu64 " already pending", tx->nonce);
            return TALLY_ENONCE;
        }
        if (tx->nonce - base > p->cfg.max_nonce_gap) {
            uint32_t b = snd_lower_bound(p, s, base);
            uint64_t pending = base;
            if (b < s->n && p->ents[s->idx[b]].nonce == base)
                pending = base + snd_run(p, s, b, base);
            if (tx->nonce - pending > p->cfg.max_nonce_gap) {
                WHY("nonce too far ahead: next is %" PRIu64 ", got %" PRIu64 " (max gap %" PRIu64
                    ")",
                    pending, tx->nonce, p->cfg.max_nonce_gap);
                return TALLY_ERANGE;
            }
        }
        if (s->n >= p->cfg.max_per_sender) {
            WHY("sender has %" PRIu32 " pending transactions (limit)", s->n);
            return TALLY_ERANGE;
        }
    } else if (tx->nonce - base > p->cfg.max_nonce_gap) {
        WHY("nonce too far ahead: next is %" PRIu64 ", got %" PRIu64 " (max gap %" PRIu64 ")", base,
            tx->nonce, p->cfg.max_nonce_gap);
        return TALLY_ERANGE;
    }
    if (p->count >= p->cfg.capacity) {
        WHY("pool full: %zu transactions", p->count);
        return TALLY_EFULL;
    }

    if (si == NONE) {
        si = p->snd_free; /* a sender holds >= 1 tx, so there are free slots */
        struct snd *s = &p->snds[si];
        s->idx = malloc(4 * sizeof *s->idx);
        if (!s->idx) return TALLY_ENOMEM;
        p->snd_free = s->next_free;
        memcpy(s->addr, tx->sender, 20);
        s->cap = 4;
        s->n = 0;
        s->base = state_nonce;
        s->heap_pos = NONE;
        s->mark = 0;
        p->sndtab[spos].ref = si + 1;
        p->sndtab[spos].tag = stag;
        p->nsnd++;
        at = 0;
    }
    struct snd *s = &p->snds[si];
    if (s->n == s->cap) {
        uint32_t ncap = s->cap * 2;
        if (ncap > p->cfg.max_per_sender) ncap = (uint32_t)p->cfg.max_per_sender;
        uint32_t *ni = realloc(s->idx, (size_t)ncap * sizeof *ni);
        if (!ni) {
            if (s->n == 0) snd_fix(p, si);
            return TALLY_ENOMEM;
        }
        s->idx = ni;
        s->cap = ncap;
    }
    uint32_t e = p->ent_free;
    struct ent *x = &p->ents[e];
    p->ent_free = x->next;
    x->tx = tx;
    x->nonce = tx->nonce;
    x->seq = p->seq++;
    x->sender = si;
    x->next = NONE;
    x->prev = p->tail;
    if (p->tail != NONE)
        p->ents[p->tail].next = e;
    else
        p->head = e;
    p->tail = e;
    p->txtab[tpos].ref = e + 1;
    p->txtab[tpos].tag = ttag;
    p->count++;
    memmove(&s->idx[at + 1], &s->idx[at], (size_t)(s->n - at) * sizeof *s->idx);
    s->idx[at] = e;
    s->n++;
    if (at == 0) snd_fix(p, si); /* the head changed: may have become ready */
    return 0;
}

static int scratch_grow(struct pool *p, size_t n)
{
    if (n <= p->scratch_cap) return 0;
    size_t c = p->scratch_cap ? p->scratch_cap : 64;
    while (c < n) c *= 2;
    struct cand *nc = realloc(p->cand, c * sizeof *nc);
    if (!nc) return TALLY_ENOMEM;
    p->cand = nc;
    uint32_t *nv = realloc(p->active, c * sizeof *nv);
    if (!nv) return TALLY_ENOMEM;
    p->active = nv;
    p->scratch_cap = c;
    return 0;
}

/* The aux heap holds positions in p->heap, ordered by their key: a partial
 * in-order walk of the ready-sender heap (k smallest in O(k log k)). */
static void aux_push(struct pool *p, size_t *n, uint32_t hp)
{
    size_t i = (*n)++;
    uint64_t k = snd_key(p, p->heap[hp]);
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (snd_key(p, p->heap[p->aux[up]]) <= k) break;
        p->aux[i] = p->aux[up];
        i = up;
    }
    p->aux[i] = hp;
}

static uint32_t aux_pop(struct pool *p, size_t *n)
{
    uint32_t top = p->aux[0];
    uint32_t last = p->aux[--(*n)];
    if (*n == 0) return top;
    uint64_t k = snd_key(p, p->heap[last]);
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && snd_key(p, p->heap[p->aux[c + 1]]) < snd_key(p, p->heap[p->aux[c]])) c++;
        if (snd_key(p, p->heap[p->aux[c]]) >= k) break;
        p->aux[i] = p->aux[c];
        i = c;
    }
    p->aux[i] = last;
    return top;
}

size_t pool_select(struct pool *p, struct tx **out, size_t max, pool_nonce_fn nonce_of, void *arg)
{
    if (max == 0 || p->heapn == 0) return 0;
    size_t want = max < p->heapn ? max : p->heapn; /* senders to consider */
    if (scratch_grow(p, want)) return 0;
    /* 1. The first `want` ready senders in order of their head's arrival. */
    size_t ncand = 0, naux = 0;
    aux_push(p, &naux, 0);
    while (naux > 0 && ncand < want) {
        uint32_t hp = aux_pop(p, &naux);
        size_t c = 2 * (size_t)hp + 1;
        if (c < p->heapn) aux_push(p, &naux, (uint32_t)c);
        if (c + 1 < p->heapn) aux_push(p, &naux, (uint32_t)(c + 1));
        uint32_t si = p->heap[hp];
        const struct snd *s = &p->snds[si];
        uint64_t n0 = nonce_of ? nonce_of(arg, s->addr) : s->base;
        uint32_t at = n0 == s->base ? 0 : snd_lower_bound(p, s, n0);
        if (at >= s->n || p->ents[s->idx[at]].nonce != n0) continue; /* not ready for caller */
        p->cand[ncand].snd = si;
        p->cand[ncand].start = at;
        p->cand[ncand].nonce0 = n0;
        ncand++;
    }
    /* 2. Round robin: the r-th ready tx of each candidate, r = 0, 1, ... */
    size_t nact = ncand, got = 0;
    for (size_t i = 0; i < nact; i++) p->active[i] = (uint32_t)i;
    for (uint64_t r = 0; nact > 0 && got < max; r++) {
        size_t w = 0;
        for (size_t i = 0; i < nact && got < max; i++) {
            const struct cand *c = &p->cand[p->active[i]];
            const struct snd *s = &p->snds[c->snd];
            uint64_t pos = c->start + r;
            if (pos >= s->n) continue;
            const struct ent *x = &p->ents[s->idx[pos]];
            if (x->nonce != c->nonce0 + r) continue;
            out[got++] = x->tx;
            p->active[w++] = p->active[i];
        }
        nact = w;
    }
    return got;
}

void pool_remove_committed(struct pool *p, struct tx *const *txs, size_t n, pool_nonce_fn nonce_of,
                           void *arg)
{
    if (n > p->touched_cap) {
        size_t c = p->touched_cap ? p->touched_cap : 64;
        while (c < n) c *= 2;
        uint32_t *nt = realloc(p->touched, c * sizeof *nt);
        if (nt) {
            p->touched = nt;
            p->touched_cap = c;
        }
    }
    size_t ntouched = 0;
    if (++p->epoch == 0) { /* wrapped: clear marks */
        for (size_t i = 0; i < p->cfg.capacity; i++) p->snds[i].mark = 0;
        p->epoch = 1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct tx *t = txs[i];
        uint32_t si = NONE;
        uint32_t e = find_ent(p, t->hash);
        if (e != NONE) {
            si = p->ents[e].sender;
            ent_detach(p, e, p->ents[e].tx == t); /* stays in the sender array, dead */
        } else if (t->has_sender) {
            si = find_snd(p, t->sender);
        }
        if (si == NONE || p->snds[si].mark == p->epoch) continue;
        p->snds[si].mark = p->epoch;
        if (ntouched < p->touched_cap) {
            p->touched[ntouched++] = si;
        } else { /* out of memory for the list: settle this sender now */
            struct snd *s = &p->snds[si];
            uint64_t nb = nonce_of ? nonce_of(arg, s->addr) : s->base;
            if (nb > s->base) s->base = nb;
            snd_prune(p, si, s->base);
            snd_fix(p, si);
        }
    }
    for (size_t i = 0; i < ntouched; i++) {
        uint32_t si = p->touched[i];
        struct snd *s = &p->snds[si];
        uint64_t nb = nonce_of ? nonce_of(arg, s->addr) : s->base;
        if (nb > s->base) s->base = nb;
        snd_prune(p, si, s->base);
        snd_fix(p, si);
    }
}

void pool_drop(struct pool *p, const uint8_t hash[32])
{
    uint32_t e = find_ent(p, hash);
    if (e == NONE) return;
    uint32_t si = p->ents[e].sender;
    struct snd *s = &p->snds[si];
    uint32_t at = snd_lower_bound(p, s, p->ents[e].nonce);
    memmove(&s->idx[at], &s->idx[at + 1], (size_t)(s->n - at - 1) * sizeof *s->idx);
    s->n--;
    ent_detach(p, e, 0);
    ent_release(p, e);
    snd_fix(p, si);
}

size_t pool_count(const struct pool *p)
{
    return p->count;
}

size_t pool_sender_count(const struct pool *p)
{
    return p->nsnd;
}

struct tx *pool_find(const struct pool *p, const uint8_t hash[32])
{
    uint32_t e = find_ent(p, hash);
    return e == NONE ? NULL : p->ents[e].tx;
}

uint64_t pool_pending_nonce(const struct pool *p, const uint8_t addr[20], uint64_t state_nonce)
{
    uint32_t si = find_snd(p, addr);
    if (si == NONE) return state_nonce;
    const struct snd *s = &p->snds[si];
    uint32_t at = snd_lower_bound(p, s, state_nonce);
    if (at >= s->n || p->ents[s->idx[at]].nonce != state_nonce) return state_nonce;
    return state_nonce + snd_run(p, s, at, state_nonce);
}

size_t pool_list(const struct pool *p, struct tx **out, size_t max)
{
    size_t n = 0;
    for (uint32_t e = p->head; e != NONE && n < max; e = p->ents[e].next) out[n++] = p->ents[e].tx;
    return n;
}
