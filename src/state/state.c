/* Account state: committed accounts in the store (ACCOUNTS: addr20 ->
 * nonce8 || balance32, absent = zero), a bounded set-associative cache of
 * committed accounts, a pending table for the block being executed, and a
 * journal of pending changes. The root rule is in docs/state.md. */
#include <stdlib.h>
#include <string.h>
#include "codec/rlp.h"
#include "crypto/keccak.h"
#include "state/state.h"
#include "store/chainstore.h"
#include "util/log.h"

#define CACHE_WAYS      4
#define ACCOUNT_VAL_LEN 40

struct cache_way {
    uint8_t addr[20];
    uint8_t used;
    struct account a;
};

struct pend {
    uint8_t addr[20];
    int32_t next;        /* next entry in the bucket chain, -1 ends it */
    struct account cur;  /* pending value */
    struct account orig; /* committed value when first touched */
};

/* An account changed by a block that is committed in memory but whose batch
 * is not written yet: its newest value and its value on disk. */
struct unw {
    uint8_t addr[20];
    int32_t next;        /* bucket chain, or the free list; -1 ends it */
    uint64_t ticket;     /* the newest unwritten block that changed it */
    struct account cur;  /* value after that block */
    struct account disk; /* value as of the newest written block */
};

/* The changes of one block committed in memory, until its batch is written. */
struct unw_block {
    struct unw_block *next;
    uint64_t ticket;
    size_t n;
    struct unw_change {
        uint8_t addr[20];
        struct account a;
    } * ch;
};

struct jrec {
    uint32_t idx;    /* pending entry */
    uint8_t created; /* the entry was created by this change */
    struct account prev;
};

struct state {
    struct store *st;
    struct store_txn *rtxn; /* lazily opened read txn for cache misses */
    uint8_t root[32];       /* committed root */
    uint64_t seed;

    struct cache_way *cache; /* nsets * CACHE_WAYS */
    uint8_t *victim;         /* next way to replace, per set */
    size_t nsets;            /* power of two */

    struct pend *pend;
    size_t npend, cappend;
    int32_t *buckets;
    size_t nbuckets; /* power of two */

    struct jrec *journal;
    size_t njournal, capjournal;

    /* Unwritten layer: accounts changed by blocks committed in memory whose
     * batches are not written yet, and those blocks' changes in order. */
    struct unw *unw;
    size_t nunw, capunw;
    int32_t unw_free;
    int32_t *unw_buckets;
    size_t unw_nbuckets; /* power of two */
    struct unw_block *unw_head, *unw_tail;
    uint64_t next_ticket;

    /* Result of the last state_flush, valid while gen == flushed_gen. */
    uint64_t gen, flushed_gen;
    int flushed;
    uint8_t flushed_root[32];
};

static uint64_t addr_hash(const struct state *s, const uint8_t a[20])
{
    uint64_t x, y, z = 0;
    memcpy(&x, a, 8);
    memcpy(&y, a + 8, 8);
    memcpy(&z, a + 16, 4);
    uint64_t h = s->seed ^ x ^ (y * 0x9e3779b97f4a7c15ull) ^ (z << 17);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static int account_eq(const struct account *a, const struct account *b)
{
    return a->nonce == b->nonce && u256_cmp(&a->balance, &b->balance) == 0;
}

static int account_is_zero(const struct account *a)
{
    return a->nonce == 0 && u256_is_zero(&a->balance);
}

static void account_encode(uint8_t out[ACCOUNT_VAL_LEN], const struct account *a)
{
    uint64_t n = a->nonce;
    for (int i = 7; i >= 0; i--, n >>= 8) out[i] = (uint8_t)n;
    u256_to_be32(out + 8, &a->balance);
}

static int account_decode(struct account *a, const uint8_t *p, size_t len)
{
    if (len != ACCOUNT_VAL_LEN) return TALLY_EDECODE;
    a->nonce = 0;
    for (int i = 0; i < 8; i++) a->nonce = a->nonce << 8 | p[i];
    return u256_from_be(&a->balance, p + 8, 32) ? TALLY_EDECODE : 0;
}

int state_open(struct state **out, struct store *st)
{
    *out = NULL;
    struct state *s = calloc(1, sizeof *s);
    if (!s) return TALLY_ENOMEM;
    s->st = st;
    s->nsets = STATE_CACHE_ENTRIES / CACHE_WAYS;
    s->cache = calloc(s->nsets * CACHE_WAYS, sizeof *s->cache);
    s->victim = calloc(s->nsets, 1);
    s->nbuckets = 1024;
    s->buckets = malloc(s->nbuckets * sizeof *s->buckets);
    if (!s->cache || !s->victim || !s->buckets) {
        state_close(s);
        return TALLY_ENOMEM;
    }
    memset(s->buckets, 0xff, s->nbuckets * sizeof *s->buckets);
    s->unw_free = -1;
    s->next_ticket = 1;
    s->seed = (uint64_t)(uintptr_t)s * 0x9e3779b97f4a7c15ull ^ 0x5bd1e9955bd1e995ull;

    struct store_txn *t;
    int rc = store_txn_begin(st, &t, 0);
    if (rc) {
        state_close(s);
        return rc;
    }
    const void *v;
    size_t n;
    rc = chainstore_meta_get(t, STATE_META_ROOT, &v, &n);
    if (rc == 0 && n != 32) rc = TALLY_EDECODE;
    if (rc == 0) memcpy(s->root, v, 32);
    if (rc == TALLY_ENOTFOUND) rc = 0; /* empty store: zero root */
    store_txn_abort(t);
    if (rc) {
        state_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void close_rtxn(struct state *s)
{
    if (s->rtxn) store_txn_abort(s->rtxn);
    s->rtxn = NULL;
}

void state_close(struct state *s)
{
    if (!s) return;
    close_rtxn(s);
    free(s->cache);
    free(s->victim);
    free(s->pend);
    free(s->buckets);
    free(s->journal);
    while (s->unw_head) {
        struct unw_block *u = s->unw_head;
        s->unw_head = u->next;
        free(u->ch);
        free(u);
    }
    free(s->unw);
    free(s->unw_buckets);
    free(s);
}

void state_root(const struct state *s, uint8_t out[32])
{
    memcpy(out, s->root, 32);
}

/* ---- cache of committed accounts ---- */

static struct cache_way *cache_set(struct state *s, const uint8_t addr[20])
{
    return &s->cache[(addr_hash(s, addr) & (s->nsets - 1)) * CACHE_WAYS];
}

static const struct cache_way *cache_find(struct state *s, const uint8_t addr[20])
{
    struct cache_way *w = cache_set(s, addr);
    for (int i = 0; i < CACHE_WAYS; i++)
        if (w[i].used && !memcmp(w[i].addr, addr, 20)) return &w[i];
    return NULL;
}

/* Insert or update; when the set is full a way is evicted round robin (all
 * entries are clean copies of the store, so eviction loses nothing). */
static void cache_put(struct state *s, const uint8_t addr[20], const struct account *a)
{
    size_t set = addr_hash(s, addr) & (s->nsets - 1);
    struct cache_way *w = &s->cache[set * CACHE_WAYS];
    int slot = -1;
    for (int i = 0; i < CACHE_WAYS; i++) {
        if (w[i].used && !memcmp(w[i].addr, addr, 20)) {
            w[i].a = *a;
            return;
        }
        if (!w[i].used && slot < 0) slot = i;
    }
    if (slot < 0) {
        slot = s->victim[set] % CACHE_WAYS;
        s->victim[set] = (uint8_t)((slot + 1) % CACHE_WAYS);
    }
    memcpy(w[slot].addr, addr, 20);
    w[slot].used = 1;
    w[slot].a = *a;
}

/* ---- unwritten layer ---- */

static int32_t unw_find(const struct state *s, const uint8_t addr[20])
{
    if (!s->nunw) return -1;
    int32_t i = s->unw_buckets[addr_hash(s, addr) & (s->unw_nbuckets - 1)];
    while (i >= 0 && memcmp(s->unw[i].addr, addr, 20)) i = s->unw[i].next;
    return i;
}

/* Room for `more` new entries without failing later (all-or-nothing commit). */
static int unw_reserve(struct state *s, size_t more)
{
    size_t need = s->nunw + more;
    if (need > s->capunw) {
        size_t cap = s->capunw ? s->capunw : 1024;
        while (cap < need) cap *= 2;
        struct unw *u = realloc(s->unw, cap * sizeof *u);
        if (!u) return TALLY_ENOMEM;
        /* Fresh slots go on the free list (lowest index first). */
        for (size_t i = cap; i-- > s->capunw;) {
            u[i].next = s->unw_free;
            s->unw_free = (int32_t)i;
        }
        s->unw = u;
        s->capunw = cap;
    }
    if (need > s->unw_nbuckets) {
        size_t nb = s->unw_nbuckets ? s->unw_nbuckets : 1024;
        while (nb < need) nb *= 2;
        int32_t *b = malloc(nb * sizeof *b);
        if (!b) return TALLY_ENOMEM;
        memset(b, 0xff, nb * sizeof *b);
        /* Re-link the live entries (those reachable from the old buckets). */
        for (size_t h = 0; h < s->unw_nbuckets; h++) {
            int32_t i = s->unw_buckets[h];
            while (i >= 0) {
                int32_t next = s->unw[i].next;
                size_t nh = addr_hash(s, s->unw[i].addr) & (nb - 1);
                s->unw[i].next = b[nh];
                b[nh] = i;
                i = next;
            }
        }
        free(s->unw_buckets);
        s->unw_buckets = b;
        s->unw_nbuckets = nb;
    }
    return 0;
}

static void unw_remove(struct state *s, int32_t idx)
{
    int32_t *pp = &s->unw_buckets[addr_hash(s, s->unw[idx].addr) & (s->unw_nbuckets - 1)];
    while (*pp != idx) pp = &s->unw[*pp].next;
    *pp = s->unw[idx].next;
    s->unw[idx].next = s->unw_free;
    s->unw_free = idx;
    s->nunw--;
}

/* ---- the two read views ---- */

/* Cache, then the store (an account there is not changed by any unwritten
 * block, so disk, committed and latest agree on it). */
static int get_stored(struct state *s, struct account *out, const uint8_t addr[20])
{
    const struct cache_way *w = cache_find(s, addr);
    if (w) {
        *out = w->a;
        return 0;
    }
    int rc;
    if (!s->rtxn && (rc = store_txn_begin(s->st, &s->rtxn, 0))) return rc;
    const void *v;
    size_t n;
    rc = store_get(s->rtxn, STORE_DB_ACCOUNTS, addr, 20, &v, &n);
    if (rc == TALLY_ENOTFOUND) {
        memset(out, 0, sizeof *out);
    } else if (rc) {
        return rc;
    } else if ((rc = account_decode(out, v, n))) {
        log_error("state", "corrupt account record (%zu bytes)", n);
        return rc;
    }
    cache_put(s, addr, out);
    return 0;
}

int state_get_committed(struct state *s, struct account *out, const uint8_t addr[20])
{
    int32_t i = unw_find(s, addr);
    if (i >= 0) {
        *out = s->unw[i].disk;
        return 0;
    }
    return get_stored(s, out, addr);
}

int state_get_latest(struct state *s, struct account *out, const uint8_t addr[20])
{
    int32_t i = unw_find(s, addr);
    if (i >= 0) {
        *out = s->unw[i].cur;
        return 0;
    }
    return get_stored(s, out, addr);
}

/* ---- pending layer and journal ---- */

static int32_t pend_find(struct state *s, const uint8_t addr[20])
{
    int32_t i = s->buckets[addr_hash(s, addr) & (s->nbuckets - 1)];
    while (i >= 0 && memcmp(s->pend[i].addr, addr, 20)) i = s->pend[i].next;
    return i;
}

static int pend_rehash(struct state *s, size_t nb)
{
    int32_t *b = malloc(nb * sizeof *b);
    if (!b) return TALLY_ENOMEM;
    memset(b, 0xff, nb * sizeof *b);
    /* Re-link in creation order so each chain stays newest-first. */
    for (size_t i = 0; i < s->npend; i++) {
        size_t h = addr_hash(s, s->pend[i].addr) & (nb - 1);
        s->pend[i].next = b[h];
        b[h] = (int32_t)i;
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
    return 0;
}

int state_get(struct state *s, struct account *out, const uint8_t addr[20])
{
    int32_t i = pend_find(s, addr);
    if (i >= 0) {
        *out = s->pend[i].cur;
        return 0;
    }
    return state_get_latest(s, out, addr);
}

static int journal_push(struct state *s, uint32_t idx, int created, const struct account *prev)
{
    if (s->njournal == s->capjournal) {
        size_t cap = s->capjournal ? s->capjournal * 2 : 1024;
        struct jrec *j = realloc(s->journal, cap * sizeof *j);
        if (!j) return TALLY_ENOMEM;
        s->journal = j;
        s->capjournal = cap;
    }
    struct jrec *r = &s->journal[s->njournal++];
    r->idx = idx;
    r->created = (uint8_t)created;
    r->prev = *prev;
    return 0;
}

int state_put(struct state *s, const uint8_t addr[20], const struct account *a)
{
    int32_t i = pend_find(s, addr);
    int rc;
    if (i < 0) {
        if (s->npend >= STATE_PENDING_MAX) return TALLY_EFULL;
        struct account orig;
        if ((rc = state_get_latest(s, &orig, addr))) return rc;
        if (s->npend == s->cappend) {
            size_t cap = s->cappend ? s->cappend * 2 : 1024;
            struct pend *p = realloc(s->pend, cap * sizeof *p);
            if (!p) return TALLY_ENOMEM;
            s->pend = p;
            s->cappend = cap;
        }
        if (s->npend >= s->nbuckets && (rc = pend_rehash(s, s->nbuckets * 2))) return rc;
        if ((rc = journal_push(s, (uint32_t)s->npend, 1, &orig))) return rc;
        i = (int32_t)s->npend++;
        struct pend *p = &s->pend[i];
        memcpy(p->addr, addr, 20);
        p->orig = orig;
        size_t h = addr_hash(s, addr) & (s->nbuckets - 1);
        p->next = s->buckets[h];
        s->buckets[h] = i;
    } else if ((rc = journal_push(s, (uint32_t)i, 0, &s->pend[i].cur))) {
        return rc;
    }
    s->pend[i].cur = *a;
    s->gen++;
    return 0;
}

size_t state_mark(struct state *s)
{
    return s->njournal;
}

void state_revert(struct state *s, size_t mark)
{
    if (mark >= s->njournal) return;
    while (s->njournal > mark) {
        struct jrec *r = &s->journal[--s->njournal];
        if (r->created) {
            /* Entries are created in journal order, so this is the newest
             * entry and the head of its chain. */
            struct pend *p = &s->pend[r->idx];
            size_t h = addr_hash(s, p->addr) & (s->nbuckets - 1);
            s->buckets[h] = p->next;
            s->npend--;
        } else {
            s->pend[r->idx].cur = r->prev;
        }
    }
    s->gen++;
}

static void pending_clear(struct state *s)
{
    for (size_t i = 0; i < s->npend; i++)
        s->buckets[addr_hash(s, s->pend[i].addr) & (s->nbuckets - 1)] = -1;
    s->npend = 0;
    s->njournal = 0;
    s->flushed = 0;
    s->gen++;
}

/* ---- root and flush ---- */

struct changed {
    uint8_t addr[20];
    uint32_t idx;
};

static int cmp_changed(const void *a, const void *b)
{
    return memcmp(((const struct changed *)a)->addr, ((const struct changed *)b)->addr, 20);
}

/* The pending entries whose value differs from the committed one, sorted by
 * address. *out is malloc'ed. */
static int changed_sorted(struct state *s, struct changed **out, size_t *n)
{
    struct changed *c = malloc((s->npend ? s->npend : 1) * sizeof *c);
    if (!c) return TALLY_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < s->npend; i++) {
        if (account_eq(&s->pend[i].cur, &s->pend[i].orig)) continue;
        memcpy(c[k].addr, s->pend[i].addr, 20);
        c[k++].idx = (uint32_t)i;
    }
    qsort(c, k, sizeof *c, cmp_changed);
    *out = c;
    *n = k;
    return 0;
}

/* Compute the root; write the changes into t or b when one is given. */
static int flush_to(struct state *s, struct store_txn *t, struct store_batch *bt,
                    uint8_t new_root[32])
{
    if (!t && !bt && s->flushed && s->flushed_gen == s->gen) {
        memcpy(new_root, s->flushed_root, 32);
        return 0;
    }
    int write = t || bt;
    /* The root of exactly these changes is known (ledger_build computed it):
     * only write them. */
    int hashed = s->flushed && s->flushed_gen == s->gen;
    struct changed *idx;
    size_t n;
    int rc = changed_sorted(s, &idx, &n);
    if (rc) return rc;

    struct keccak_ctx kc;
    struct buf b;
    uint8_t diff[32];
    buf_init(&b, 128);
    keccak256_init(&kc);
    for (size_t i = 0; i < n && !rc; i++) {
        const struct pend *p = &s->pend[idx[i].idx];
        if (!hashed) {
            struct rlp_enc e;
            b.len = 0;
            rlp_enc_init(&e, &b);
            rlp_list_begin(&e);
            rlp_put_u64(&e, p->cur.nonce);
            rlp_put_u256(&e, &p->cur.balance);
            rlp_list_end(&e);
            if ((rc = rlp_enc_finish(&e))) break;
            keccak256_update(&kc, p->addr, 20);
            keccak256_update(&kc, b.p, b.len);
        }
        if (!write) continue;
        if (account_is_zero(&p->cur)) {
            if (bt) {
                rc = store_batch_del(bt, STORE_DB_ACCOUNTS, p->addr, 20);
            } else {
                rc = store_del(t, STORE_DB_ACCOUNTS, p->addr, 20);
                if (rc == TALLY_ENOTFOUND) rc = 0;
            }
        } else {
            uint8_t val[ACCOUNT_VAL_LEN];
            account_encode(val, &p->cur);
            rc = bt ? store_batch_put(bt, STORE_DB_ACCOUNTS, p->addr, 20, val, sizeof val, 0)
                    : store_put(t, STORE_DB_ACCOUNTS, p->addr, 20, val, sizeof val);
        }
    }
    buf_free(&b);
    free(idx);
    if (rc) return rc;
    if (!hashed) {
        keccak256_final(&kc, diff);
        keccak256_init(&kc);
        keccak256_update(&kc, s->root, 32);
        keccak256_update(&kc, diff, 32);
        keccak256_final(&kc, s->flushed_root);
    }
    s->flushed = 1;
    s->flushed_gen = s->gen;
    memcpy(new_root, s->flushed_root, 32);
    if (bt)
        return store_batch_put(bt, STORE_DB_META, STATE_META_ROOT, strlen(STATE_META_ROOT),
                               s->flushed_root, 32, 0);
    if (t) return chainstore_meta_put(t, STATE_META_ROOT, s->flushed_root, 32);
    return 0;
}

int state_flush(struct state *s, struct store_txn *t, uint8_t new_root[32])
{
    return flush_to(s, t, NULL, new_root);
}

int state_flush_batch(struct state *s, struct store_batch *b, uint8_t new_root[32])
{
    return flush_to(s, NULL, b, new_root);
}

/* Make sure flushed_root covers the latest pending changes. */
static int ensure_flushed(struct state *s)
{
    if (s->flushed && s->flushed_gen == s->gen) return 0;
    uint8_t r[32];
    log_error("state", "commit without a flush of the pending changes");
    return flush_to(s, NULL, NULL, r);
}

int state_commit_mem(struct state *s, uint64_t *ticket)
{
    int rc = ensure_flushed(s);
    if (rc) return rc;
    size_t n = 0;
    for (size_t i = 0; i < s->npend; i++)
        if (!account_eq(&s->pend[i].cur, &s->pend[i].orig)) n++;
    struct unw_block *u = calloc(1, sizeof *u);
    if (u) u->ch = malloc((n ? n : 1) * sizeof *u->ch);
    if (!u || !u->ch || (rc = unw_reserve(s, n))) {
        if (u) free(u->ch);
        free(u);
        return rc ? rc : TALLY_ENOMEM;
    }
    u->ticket = s->next_ticket++;
    for (size_t i = 0; i < s->npend; i++) {
        const struct pend *p = &s->pend[i];
        if (account_eq(&p->cur, &p->orig)) continue;
        memcpy(u->ch[u->n].addr, p->addr, 20);
        u->ch[u->n++].a = p->cur;
        int32_t k = unw_find(s, p->addr);
        if (k < 0) {
            /* Not changed by an unwritten block: orig is what disk holds. */
            k = s->unw_free;
            s->unw_free = s->unw[k].next;
            memcpy(s->unw[k].addr, p->addr, 20);
            s->unw[k].disk = p->orig;
            size_t h = addr_hash(s, p->addr) & (s->unw_nbuckets - 1);
            s->unw[k].next = s->unw_buckets[h];
            s->unw_buckets[h] = k;
            s->nunw++;
        }
        s->unw[k].cur = p->cur;
        s->unw[k].ticket = u->ticket;
    }
    if (s->unw_tail)
        s->unw_tail->next = u;
    else
        s->unw_head = u;
    s->unw_tail = u;
    memcpy(s->root, s->flushed_root, 32);
    pending_clear(s);
    *ticket = u->ticket;
    return 0;
}

void state_commit_written(struct state *s, uint64_t ticket)
{
    struct unw_block *u = s->unw_head;
    if (!u || u->ticket != ticket) {
        log_error("state", "written out of order: ticket %llu, oldest unwritten %llu",
                  (unsigned long long)ticket, (unsigned long long)(u ? u->ticket : 0));
        return;
    }
    for (size_t i = 0; i < u->n; i++) {
        int32_t k = unw_find(s, u->ch[i].addr);
        if (k < 0) continue; /* cannot happen */
        s->unw[k].disk = u->ch[i].a;
        if (s->unw[k].ticket == ticket) {
            /* No newer unwritten change: back to cache + store. */
            cache_put(s, u->ch[i].addr, &u->ch[i].a);
            unw_remove(s, k);
        }
    }
    s->unw_head = u->next;
    if (!s->unw_head) s->unw_tail = NULL;
    free(u->ch);
    free(u);
    /* A read txn older than this write could serve stale values for
     * accounts that leave the cache later. */
    close_rtxn(s);
}

size_t state_unwritten(const struct state *s)
{
    size_t n = 0;
    for (const struct unw_block *u = s->unw_head; u; u = u->next) n++;
    return n;
}

void state_commit_done(struct state *s)
{
    if (s->unw_head) {
        /* Blocks committed in memory are still being written: go through
         * the unwritten layer (the caller's txn came after theirs). */
        uint64_t ticket;
        if (state_commit_mem(s, &ticket)) {
            log_error("state", "out of memory committing the state: dropping the cache");
            pending_clear(s);
            close_rtxn(s);
            return;
        }
        state_commit_written(s, ticket);
        return;
    }
    if (ensure_flushed(s)) {
        pending_clear(s);
        close_rtxn(s);
        return;
    }
    close_rtxn(s);
    for (size_t i = 0; i < s->npend; i++) cache_put(s, s->pend[i].addr, &s->pend[i].cur);
    memcpy(s->root, s->flushed_root, 32);
    pending_clear(s);
}

void state_discard(struct state *s)
{
    pending_clear(s);
    close_rtxn(s);
}
