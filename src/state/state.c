/* Account state: committed records in the store (ACCOUNTS: addr20 ->
 * nonce8 || balance32 [|| code hash32]; STORAGE: addr20 || slot32 -> value32;
 * absent = zero; CODE: code hash32 -> code), a bounded set-associative cache
 * of committed records, a pending table for the block being executed, and a
 * journal of pending changes. Accounts and storage slots go through the same
 * tables as "records" (struct rkey / struct rval); contract code is
 * content-addressed and kept in a short list until it is written. The root
 * rule is in docs/state.md. */
#include <stdlib.h>
#include <string.h>
#include "codec/rlp.h"
#include "crypto/keccak.h"
#include "state/state.h"
#include "store/chainstore.h"
#include "util/log.h"

#define CACHE_WAYS           4
#define ACCOUNT_VAL_LEN      40 /* nonce || balance */
#define ACCOUNT_CODE_VAL_LEN 72 /* nonce || balance || code hash */

/* A record's key: kind, address, slot (zero for an account). */
enum { REC_ACCOUNT = 0, REC_SLOT = 1 };
#define REC_KEY_LEN 53
struct rkey {
    uint8_t b[REC_KEY_LEN];
};

/* A record's value: an account (w = balance, nonce, code hash) or a storage
 * slot (w = value; nonce and code zero). All zero = absent. */
struct rval {
    u256 w;
    uint64_t nonce;
    uint8_t code[32];
};

struct cache_way {
    struct rkey k;
    uint8_t used;
    struct rval a;
};

struct pend {
    struct rkey k;
    int32_t next;     /* next entry in the bucket chain, -1 ends it */
    struct rval cur;  /* pending value */
    struct rval orig; /* committed value when first touched */
};

/* An account changed by a block that is committed in memory but whose batch
 * is not written yet: its newest value and its value on disk. */
struct unw {
    struct rkey k;
    int32_t next;     /* bucket chain, or the free list; -1 ends it */
    uint64_t ticket;  /* the newest unwritten block that changed it */
    struct rval cur;  /* value after that block */
    struct rval disk; /* value as of the newest written block */
};

/* The changes of one block committed in memory, until its batch is written. */
struct unw_block {
    struct unw_block *next;
    uint64_t ticket;
    size_t n;
    struct unw_change {
        struct rkey k;
        struct rval a;
    } * ch;
};

/* Contract code not yet written: pending (ticket 0, added by the block being
 * executed) or in an unwritten block (its ticket). */
struct code_ent {
    uint8_t hash[32];
    uint8_t *p;
    size_t len;
    uint64_t ticket;
};

enum { J_CHANGED = 0, J_CREATED = 1, J_CODE = 2 };
struct jrec {
    uint32_t idx; /* pending entry (J_CODE: code entry) */
    uint8_t kind; /* J_CREATED: the entry was created by this change */
    struct rval prev;
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

    struct code_ent *codes; /* pending and unwritten code, oldest first */
    size_t ncodes, capcodes;

    /* Result of the last state_flush, valid while gen == flushed_gen. */
    uint64_t gen, flushed_gen;
    int flushed;
    uint8_t flushed_root[32];
};

static uint64_t key_hash(const struct state *s, const struct rkey *k)
{
    /* Kind and address in the first 21 bytes; the slot's 32 folded in. */
    uint64_t x, y, z = 0, v[4];
    memcpy(&x, k->b + 1, 8);
    memcpy(&y, k->b + 9, 8);
    memcpy(&z, k->b + 17, 4);
    memcpy(v, k->b + 21, 32);
    z ^= (uint64_t)k->b[0] << 40;
    x ^= v[0] * 0xd6e8feb86659fd93ull ^ v[2];
    y ^= v[1] * 0xa0761d6478bd642full ^ v[3];
    uint64_t h = s->seed ^ x ^ (y * 0x9e3779b97f4a7c15ull) ^ (z << 17);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static const uint8_t ZERO32[32];

static int key_eq(const struct rkey *a, const struct rkey *b)
{
    return !memcmp(a->b, b->b, REC_KEY_LEN);
}

static struct rkey account_key(const uint8_t addr[20])
{
    struct rkey k;
    memset(&k, 0, sizeof k);
    memcpy(k.b + 1, addr, 20);
    return k;
}

static struct rkey slot_key(const uint8_t addr[20], const uint8_t slot[32])
{
    struct rkey k;
    k.b[0] = REC_SLOT;
    memcpy(k.b + 1, addr, 20);
    memcpy(k.b + 21, slot, 32);
    return k;
}

static int has_code(const struct rval *v)
{
    return memcmp(v->code, ZERO32, 32) != 0;
}

static int val_eq(const struct rval *a, const struct rval *b)
{
    return a->nonce == b->nonce && u256_cmp(&a->w, &b->w) == 0 && !memcmp(a->code, b->code, 32);
}

static int val_is_zero(const struct rval *a)
{
    return a->nonce == 0 && u256_is_zero(&a->w) && !has_code(a);
}

static struct rval val_of_account(const struct account *a)
{
    struct rval v;
    v.w = a->balance;
    v.nonce = a->nonce;
    memcpy(v.code, a->code_hash, 32);
    return v;
}

static void account_of_val(struct account *a, const struct rval *v)
{
    a->balance = v->w;
    a->nonce = v->nonce;
    memcpy(a->code_hash, v->code, 32);
}

/* The store's key of a record: the address (accounts) or address || slot. */
static const uint8_t *store_key(const struct rkey *k, enum store_db *db, size_t *klen)
{
    *db = k->b[0] == REC_SLOT ? STORE_DB_STORAGE : STORE_DB_ACCOUNTS;
    *klen = k->b[0] == REC_SLOT ? 52 : 20;
    return k->b + 1;
}

/* Value as stored: account nonce || balance [|| code hash]; slot value. */
static size_t val_encode(uint8_t out[ACCOUNT_CODE_VAL_LEN], const struct rkey *k,
                         const struct rval *a)
{
    if (k->b[0] == REC_SLOT) {
        u256_to_be32(out, &a->w);
        return 32;
    }
    uint64_t n = a->nonce;
    for (int i = 7; i >= 0; i--, n >>= 8) out[i] = (uint8_t)n;
    u256_to_be32(out + 8, &a->w);
    if (!has_code(a)) return ACCOUNT_VAL_LEN;
    memcpy(out + ACCOUNT_VAL_LEN, a->code, 32);
    return ACCOUNT_CODE_VAL_LEN;
}

static int val_decode(struct rval *a, const struct rkey *k, const uint8_t *p, size_t len)
{
    memset(a, 0, sizeof *a);
    if (k->b[0] == REC_SLOT) {
        if (len != 32) return TALLY_EDECODE;
        return u256_from_be(&a->w, p, 32) ? TALLY_EDECODE : 0;
    }
    if (len != ACCOUNT_VAL_LEN && len != ACCOUNT_CODE_VAL_LEN) return TALLY_EDECODE;
    for (int i = 0; i < 8; i++) a->nonce = a->nonce << 8 | p[i];
    if (len == ACCOUNT_CODE_VAL_LEN) {
        memcpy(a->code, p + ACCOUNT_VAL_LEN, 32);
        if (!has_code(a)) return TALLY_EDECODE; /* a zero hash is stored short */
    }
    return u256_from_be(&a->w, p + 8, 32) ? TALLY_EDECODE : 0;
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
    for (size_t i = 0; i < s->ncodes; i++) free(s->codes[i].p);
    free(s->codes);
    free(s);
}

void state_root(const struct state *s, uint8_t out[32])
{
    memcpy(out, s->root, 32);
}

/* ---- cache of committed records ---- */

static struct cache_way *cache_set(struct state *s, const struct rkey *k)
{
    return &s->cache[(key_hash(s, k) & (s->nsets - 1)) * CACHE_WAYS];
}

static const struct cache_way *cache_find(struct state *s, const struct rkey *k)
{
    struct cache_way *w = cache_set(s, k);
    for (int i = 0; i < CACHE_WAYS; i++)
        if (w[i].used && key_eq(&w[i].k, k)) return &w[i];
    return NULL;
}

/* Insert or update; when the set is full a way is evicted round robin (all
 * entries are clean copies of the store, so eviction loses nothing). */
static void cache_put(struct state *s, const struct rkey *k, const struct rval *a)
{
    size_t set = key_hash(s, k) & (s->nsets - 1);
    struct cache_way *w = &s->cache[set * CACHE_WAYS];
    int slot = -1;
    for (int i = 0; i < CACHE_WAYS; i++) {
        if (w[i].used && key_eq(&w[i].k, k)) {
            w[i].a = *a;
            return;
        }
        if (!w[i].used && slot < 0) slot = i;
    }
    if (slot < 0) {
        slot = s->victim[set] % CACHE_WAYS;
        s->victim[set] = (uint8_t)((slot + 1) % CACHE_WAYS);
    }
    w[slot].k = *k;
    w[slot].used = 1;
    w[slot].a = *a;
}

/* ---- unwritten layer ---- */

static int32_t unw_find(const struct state *s, const struct rkey *k)
{
    if (!s->nunw) return -1;
    int32_t i = s->unw_buckets[key_hash(s, k) & (s->unw_nbuckets - 1)];
    while (i >= 0 && !key_eq(&s->unw[i].k, k)) i = s->unw[i].next;
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
                size_t nh = key_hash(s, &s->unw[i].k) & (nb - 1);
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
    int32_t *pp = &s->unw_buckets[key_hash(s, &s->unw[idx].k) & (s->unw_nbuckets - 1)];
    while (*pp != idx) pp = &s->unw[*pp].next;
    *pp = s->unw[idx].next;
    s->unw[idx].next = s->unw_free;
    s->unw_free = idx;
    s->nunw--;
}

/* ---- the three read views ---- */

static int open_rtxn(struct state *s)
{
    return s->rtxn ? 0 : store_txn_begin(s->st, &s->rtxn, 0);
}

/* Cache, then the store (a record there is not changed by any unwritten
 * block, so disk, committed and latest agree on it). */
static int get_stored(struct state *s, struct rval *out, const struct rkey *k)
{
    const struct cache_way *w = cache_find(s, k);
    if (w) {
        *out = w->a;
        return 0;
    }
    int rc;
    if ((rc = open_rtxn(s))) return rc;
    const void *v;
    size_t n, klen;
    enum store_db db;
    const uint8_t *sk = store_key(k, &db, &klen);
    rc = store_get(s->rtxn, db, sk, klen, &v, &n);
    if (rc == TALLY_ENOTFOUND) {
        memset(out, 0, sizeof *out);
    } else if (rc) {
        return rc;
    } else if ((rc = val_decode(out, k, v, n))) {
        log_error("state", "corrupt %s record (%zu bytes)",
                  k->b[0] == REC_SLOT ? "storage" : "account", n);
        return rc;
    }
    cache_put(s, k, out);
    return 0;
}

static int get_committed(struct state *s, struct rval *out, const struct rkey *k)
{
    int32_t i = unw_find(s, k);
    if (i >= 0) {
        *out = s->unw[i].disk;
        return 0;
    }
    return get_stored(s, out, k);
}

static int get_latest(struct state *s, struct rval *out, const struct rkey *k)
{
    int32_t i = unw_find(s, k);
    if (i >= 0) {
        *out = s->unw[i].cur;
        return 0;
    }
    return get_stored(s, out, k);
}

/* ---- pending layer and journal ---- */

static int32_t pend_find(struct state *s, const struct rkey *k)
{
    int32_t i = s->buckets[key_hash(s, k) & (s->nbuckets - 1)];
    while (i >= 0 && !key_eq(&s->pend[i].k, k)) i = s->pend[i].next;
    return i;
}

static int pend_rehash(struct state *s, size_t nb)
{
    int32_t *b = malloc(nb * sizeof *b);
    if (!b) return TALLY_ENOMEM;
    memset(b, 0xff, nb * sizeof *b);
    /* Re-link in creation order so each chain stays newest-first. */
    for (size_t i = 0; i < s->npend; i++) {
        size_t h = key_hash(s, &s->pend[i].k) & (nb - 1);
        s->pend[i].next = b[h];
        b[h] = (int32_t)i;
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
    return 0;
}

static int get_pending(struct state *s, struct rval *out, const struct rkey *k)
{
    int32_t i = pend_find(s, k);
    if (i >= 0) {
        *out = s->pend[i].cur;
        return 0;
    }
    return get_latest(s, out, k);
}

static int journal_push(struct state *s, uint32_t idx, int kind, const struct rval *prev)
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
    r->kind = (uint8_t)kind;
    if (prev) r->prev = *prev;
    return 0;
}

static int put_pending(struct state *s, const struct rkey *k, const struct rval *a)
{
    int32_t i = pend_find(s, k);
    int rc;
    if (i < 0) {
        if (s->npend >= STATE_PENDING_MAX) return TALLY_EFULL;
        struct rval orig;
        if ((rc = get_latest(s, &orig, k))) return rc;
        if (s->npend == s->cappend) {
            size_t cap = s->cappend ? s->cappend * 2 : 1024;
            struct pend *p = realloc(s->pend, cap * sizeof *p);
            if (!p) return TALLY_ENOMEM;
            s->pend = p;
            s->cappend = cap;
        }
        if (s->npend >= s->nbuckets && (rc = pend_rehash(s, s->nbuckets * 2))) return rc;
        if ((rc = journal_push(s, (uint32_t)s->npend, J_CREATED, &orig))) return rc;
        i = (int32_t)s->npend++;
        struct pend *p = &s->pend[i];
        p->k = *k;
        p->orig = orig;
        size_t h = key_hash(s, k) & (s->nbuckets - 1);
        p->next = s->buckets[h];
        s->buckets[h] = i;
    } else if ((rc = journal_push(s, (uint32_t)i, J_CHANGED, &s->pend[i].cur))) {
        return rc;
    }
    s->pend[i].cur = *a;
    s->gen++;
    return 0;
}

/* ---- the public account, slot and code views ---- */

#define ACCOUNT_VIEW(name, getter)                                            \
    int name(struct state *s, struct account *out, const uint8_t addr[20])    \
    {                                                                         \
        struct rkey k = account_key(addr);                                    \
        struct rval v;                                                        \
        int rc = getter(s, &v, &k);                                           \
        if (!rc) account_of_val(out, &v);                                     \
        return rc;                                                            \
    }                                                                         \
    int name##_slot(struct state *s, uint8_t out[32], const uint8_t addr[20], \
                    const uint8_t slot[32])                                   \
    {                                                                         \
        struct rkey k = slot_key(addr, slot);                                 \
        struct rval v;                                                        \
        int rc = getter(s, &v, &k);                                           \
        if (!rc) u256_to_be32(out, &v.w);                                     \
        return rc;                                                            \
    }

ACCOUNT_VIEW(state_get, get_pending)
ACCOUNT_VIEW(state_get_latest, get_latest)
ACCOUNT_VIEW(state_get_committed, get_committed)

int state_put(struct state *s, const uint8_t addr[20], const struct account *a)
{
    struct rkey k = account_key(addr);
    struct rval v = val_of_account(a);
    return put_pending(s, &k, &v);
}

int state_put_slot(struct state *s, const uint8_t addr[20], const uint8_t slot[32],
                   const uint8_t value[32])
{
    struct rkey k = slot_key(addr, slot);
    struct rval v;
    memset(&v, 0, sizeof v);
    if (u256_from_be(&v.w, value, 32)) return TALLY_EINVAL;
    return put_pending(s, &k, &v);
}

static struct code_ent *code_find(struct state *s, const uint8_t hash[32])
{
    for (size_t i = s->ncodes; i-- > 0;)
        if (!memcmp(s->codes[i].hash, hash, 32)) return &s->codes[i];
    return NULL;
}

int state_get_code(struct state *s, const uint8_t hash[32], const uint8_t **code, size_t *len)
{
    *code = NULL;
    *len = 0;
    if (!memcmp(hash, ZERO32, 32)) return 0;
    const struct code_ent *c = code_find(s, hash);
    if (c) {
        *code = c->p;
        *len = c->len;
        return 0;
    }
    int rc;
    const void *v;
    if ((rc = open_rtxn(s))) return rc;
    if ((rc = store_get(s->rtxn, STORE_DB_CODE, hash, 32, &v, len))) {
        if (rc == TALLY_ENOTFOUND) log_error("state", "code of an account is missing");
        return rc == TALLY_ENOTFOUND ? TALLY_EDECODE : rc;
    }
    *code = v;
    return 0;
}

int state_put_code(struct state *s, const uint8_t hash[32], const uint8_t *code, size_t len)
{
    if (!len || code_find(s, hash)) return 0;
    int rc;
    const void *v;
    size_t n;
    if ((rc = open_rtxn(s))) return rc;
    rc = store_get(s->rtxn, STORE_DB_CODE, hash, 32, &v, &n);
    if (rc != TALLY_ENOTFOUND) return rc; /* 0: stored already */
    if (s->ncodes == s->capcodes) {
        size_t cap = s->capcodes ? s->capcodes * 2 : 16;
        struct code_ent *c = realloc(s->codes, cap * sizeof *c);
        if (!c) return TALLY_ENOMEM;
        s->codes = c;
        s->capcodes = cap;
    }
    struct code_ent *c = &s->codes[s->ncodes];
    if (!(c->p = malloc(len))) return TALLY_ENOMEM;
    if ((rc = journal_push(s, (uint32_t)s->ncodes, J_CODE, NULL))) {
        free(c->p);
        return rc;
    }
    memcpy(c->p, code, len);
    memcpy(c->hash, hash, 32);
    c->len = len;
    c->ticket = 0;
    s->ncodes++;
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
        if (r->kind == J_CODE) {
            /* Code entries are added in journal order: this is the last. */
            free(s->codes[--s->ncodes].p);
        } else if (r->kind == J_CREATED) {
            /* Entries are created in journal order, so this is the newest
             * entry and the head of its chain. */
            struct pend *p = &s->pend[r->idx];
            size_t h = key_hash(s, &p->k) & (s->nbuckets - 1);
            s->buckets[h] = p->next;
            s->npend--;
        } else {
            s->pend[r->idx].cur = r->prev;
        }
    }
    s->gen++;
}

/* Pending code (ticket 0): dropped, or given the block's ticket. */
static void pending_codes(struct state *s, uint64_t ticket)
{
    size_t k = 0;
    for (size_t i = 0; i < s->ncodes; i++) {
        if (s->codes[i].ticket == 0 && !ticket) {
            free(s->codes[i].p);
            continue;
        }
        if (s->codes[i].ticket == 0) s->codes[i].ticket = ticket;
        s->codes[k++] = s->codes[i];
    }
    s->ncodes = k;
}

static void pending_clear(struct state *s)
{
    for (size_t i = 0; i < s->npend; i++)
        s->buckets[key_hash(s, &s->pend[i].k) & (s->nbuckets - 1)] = -1;
    s->npend = 0;
    s->njournal = 0;
    s->flushed = 0;
    s->gen++;
}

/* ---- root and flush ---- */

struct changed {
    struct rkey k;
    uint32_t idx;
};

static int cmp_changed(const void *a, const void *b)
{
    return memcmp(((const struct changed *)a)->k.b, ((const struct changed *)b)->k.b, REC_KEY_LEN);
}

/* The pending entries whose value differs from the committed one, sorted by
 * key (accounts by address, then slots by address and slot). *out is
 * malloc'ed. */
static int changed_sorted(struct state *s, struct changed **out, size_t *n)
{
    struct changed *c = malloc((s->npend ? s->npend : 1) * sizeof *c);
    if (!c) return TALLY_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < s->npend; i++) {
        if (val_eq(&s->pend[i].cur, &s->pend[i].orig)) continue;
        c[k].k = s->pend[i].k;
        c[k++].idx = (uint32_t)i;
    }
    qsort(c, k, sizeof *c, cmp_changed);
    *out = c;
    *n = k;
    return 0;
}

/* One record's part of the diff: address || rlp([nonce, balance]) (with the
 * code hash as a third item for a contract), or address || slot ||
 * rlp(value) for a storage slot. */
static int diff_entry(struct keccak_ctx *kc, struct buf *b, const struct pend *p)
{
    struct rlp_enc e;
    b->len = 0;
    rlp_enc_init(&e, b);
    if (p->k.b[0] == REC_SLOT) {
        rlp_put_u256(&e, &p->cur.w);
    } else {
        rlp_list_begin(&e);
        rlp_put_u64(&e, p->cur.nonce);
        rlp_put_u256(&e, &p->cur.w);
        if (has_code(&p->cur)) rlp_put_bytes(&e, p->cur.code, 32);
        rlp_list_end(&e);
    }
    int rc = rlp_enc_finish(&e);
    if (rc) return rc;
    keccak256_update(kc, p->k.b + 1, p->k.b[0] == REC_SLOT ? 52 : 20);
    keccak256_update(kc, b->p, b->len);
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
        if (!hashed && (rc = diff_entry(&kc, &b, p))) break;
        if (!write) continue;
        enum store_db db;
        size_t klen;
        const uint8_t *key = store_key(&p->k, &db, &klen);
        if (val_is_zero(&p->cur)) {
            if (bt) {
                rc = store_batch_del(bt, db, key, klen);
            } else {
                rc = store_del(t, db, key, klen);
                if (rc == TALLY_ENOTFOUND) rc = 0;
            }
        } else {
            uint8_t val[ACCOUNT_CODE_VAL_LEN];
            size_t vlen = val_encode(val, &p->k, &p->cur);
            rc = bt ? store_batch_put(bt, db, key, klen, val, vlen, 0)
                    : store_put(t, db, key, klen, val, vlen);
        }
    }
    /* New contract code, content-addressed (not part of the root: the
     * accounts' code hashes are). */
    for (size_t i = 0; i < s->ncodes && write && !rc; i++) {
        const struct code_ent *c = &s->codes[i];
        if (c->ticket) continue;
        rc = bt ? store_batch_put(bt, STORE_DB_CODE, c->hash, 32, c->p, c->len, 0)
                : store_put(t, STORE_DB_CODE, c->hash, 32, c->p, c->len);
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
        if (!val_eq(&s->pend[i].cur, &s->pend[i].orig)) n++;
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
        if (val_eq(&p->cur, &p->orig)) continue;
        u->ch[u->n].k = p->k;
        u->ch[u->n++].a = p->cur;
        int32_t k = unw_find(s, &p->k);
        if (k < 0) {
            /* Not changed by an unwritten block: orig is what disk holds. */
            k = s->unw_free;
            s->unw_free = s->unw[k].next;
            s->unw[k].k = p->k;
            s->unw[k].disk = p->orig;
            size_t h = key_hash(s, &p->k) & (s->unw_nbuckets - 1);
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
    pending_codes(s, u->ticket);
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
        int32_t k = unw_find(s, &u->ch[i].k);
        if (k < 0) continue; /* cannot happen */
        s->unw[k].disk = u->ch[i].a;
        if (s->unw[k].ticket == ticket) {
            /* No newer unwritten change: back to cache + store. */
            cache_put(s, &u->ch[i].k, &u->ch[i].a);
            unw_remove(s, k);
        }
    }
    /* This block's code is in the store now. */
    size_t k = 0;
    for (size_t i = 0; i < s->ncodes; i++) {
        if (s->codes[i].ticket == ticket)
            free(s->codes[i].p);
        else
            s->codes[k++] = s->codes[i];
    }
    s->ncodes = k;
    s->unw_head = u->next;
    if (!s->unw_head) s->unw_tail = NULL;
    free(u->ch);
    free(u);
    /* A read txn older than this write could serve stale values for
     * records that leave the cache later. */
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
            pending_codes(s, 0);
            pending_clear(s);
            close_rtxn(s);
            return;
        }
        state_commit_written(s, ticket);
        return;
    }
    if (ensure_flushed(s)) {
        pending_codes(s, 0);
        pending_clear(s);
        close_rtxn(s);
        return;
    }
    close_rtxn(s);
    for (size_t i = 0; i < s->npend; i++) cache_put(s, &s->pend[i].k, &s->pend[i].cur);
    memcpy(s->root, s->flushed_root, 32);
    pending_codes(s, 0); /* written with the txn */
    pending_clear(s);
}

void state_discard(struct state *s)
{
    pending_codes(s, 0);
    pending_clear(s);
    close_rtxn(s);
}
