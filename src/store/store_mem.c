/* In-memory backend for unit tests and the simulator: one hash table of
 * committed entries, and for the open write transaction an overlay of its
 * puts and deletes that commit moves into the table (abort just drops it).
 *
 * Differences from LMDB, documented in docs/storage.md: a read transaction
 * sees later commits (no snapshot); a second write transaction fails with
 * TALLY_EBUSY instead of waiting. Values stay valid until the transaction
 * that read them ends: replaced entries are freed only when no transaction
 * could still point at them. A mutex makes concurrent use safe. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_int.h"

struct mem_entry {
    struct mem_entry *next;
    uint64_t hash;
    uint32_t klen;
    uint8_t db;
    uint8_t dead; /* overlay tombstone */
    size_t vlen;
    uint8_t data[]; /* key, then value */
};

struct mem_table {
    struct mem_entry **b;
    size_t nb; /* power of two, or 0 */
    size_t n;
};

struct mem_store {
    struct store base;
    pthread_mutex_t mu;
    struct mem_table committed;
    struct mem_entry *graveyard; /* replaced committed entries, freed when no txn is open */
    size_t ntxn;                 /* open transactions */
    int writer;                  /* a write txn is open */
};

struct mem_txn {
    struct store_txn base;
    struct mem_table overlay;    /* write txn only */
    struct mem_entry *graveyard; /* overlay entries replaced inside this txn */
};

static uint64_t key_hash(enum store_db db, const uint8_t *k, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)db;
    for (size_t i = 0; i < n; i++) h = (h ^ k[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static struct mem_entry **table_slot(struct mem_table *t, uint64_t h, enum store_db db,
                                     const void *key, size_t klen)
{
    if (!t->nb) return NULL;
    struct mem_entry **pp = &t->b[h & (t->nb - 1)];
    for (; *pp; pp = &(*pp)->next) {
        struct mem_entry *e = *pp;
        if (e->hash == h && e->db == db && e->klen == klen && !memcmp(e->data, key, klen))
            return pp;
    }
    return pp;
}

static int table_grow(struct mem_table *t)
{
    if (t->n < t->nb) return 0;
    size_t nb = t->nb ? t->nb * 2 : 64;
    struct mem_entry **b = calloc(nb, sizeof *b);
    if (!b) return TALLY_ENOMEM;
    for (size_t i = 0; i < t->nb; i++) {
        struct mem_entry *e = t->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(t->b);
    t->b = b;
    t->nb = nb;
    return 0;
}

/* Insert e; a replaced entry is returned through *old (NULL if none). */
static void table_insert(struct mem_table *t, struct mem_entry *e, struct mem_entry **old)
{
    struct mem_entry **pp = table_slot(t, e->hash, e->db, e->data, e->klen);
    *old = *pp;
    if (*pp) {
        e->next = (*pp)->next;
    } else {
        e->next = NULL;
        t->n++;
    }
    *pp = e;
}

static struct mem_entry *table_find(struct mem_table *t, uint64_t h, enum store_db db,
                                    const void *key, size_t klen)
{
    struct mem_entry **pp = table_slot(t, h, db, key, klen);
    return pp ? *pp : NULL;
}

static void free_list(struct mem_entry *e)
{
    while (e) {
        struct mem_entry *next = e->next;
        free(e);
        e = next;
    }
}

static void table_free(struct mem_table *t)
{
    for (size_t i = 0; i < t->nb; i++) free_list(t->b[i]);
    free(t->b);
    memset(t, 0, sizeof *t);
}

static void mem_close(struct store *s)
{
    struct mem_store *ms = (struct mem_store *)s;
    table_free(&ms->committed);
    free_list(ms->graveyard);
    pthread_mutex_destroy(&ms->mu);
    free(ms);
}

static int mem_txn_begin(struct store *s, struct store_txn **out, int write)
{
    struct mem_store *ms = (struct mem_store *)s;
    struct mem_txn *t = calloc(1, sizeof *t);
    if (!t) return TALLY_ENOMEM;
    pthread_mutex_lock(&ms->mu);
    if (write && ms->writer) {
        pthread_mutex_unlock(&ms->mu);
        free(t);
        return store__fail(s, TALLY_EBUSY, "a write transaction is already open");
    }
    if (write) ms->writer = 1;
    ms->ntxn++;
    pthread_mutex_unlock(&ms->mu);
    t->base.s = s;
    t->base.write = write;
    *out = &t->base;
    return 0;
}

/* Called with the mutex held. */
static void txn_end_locked(struct mem_store *ms, struct mem_txn *t)
{
    if (t->base.write) ms->writer = 0;
    if (--ms->ntxn == 0) {
        free_list(ms->graveyard);
        ms->graveyard = NULL;
    }
    table_free(&t->overlay);
    free_list(t->graveyard);
    free(t);
}

static void mem_txn_abort(struct store_txn *bt)
{
    struct mem_store *ms = (struct mem_store *)bt->s;
    pthread_mutex_lock(&ms->mu);
    txn_end_locked(ms, (struct mem_txn *)bt);
    pthread_mutex_unlock(&ms->mu);
}

static int mem_txn_commit(struct store_txn *bt)
{
    struct mem_store *ms = (struct mem_store *)bt->s;
    struct mem_txn *t = (struct mem_txn *)bt;
    if (!bt->write) {
        mem_txn_abort(bt);
        return 0;
    }
    pthread_mutex_lock(&ms->mu);
    /* Make room first so that moving entries cannot fail half way. */
    while (ms->committed.n + t->overlay.n > ms->committed.nb) {
        size_t n = ms->committed.n;
        ms->committed.n = ms->committed.nb; /* force one doubling */
        int rc = table_grow(&ms->committed);
        ms->committed.n = n;
        if (rc) {
            txn_end_locked(ms, t);
            pthread_mutex_unlock(&ms->mu);
            return store__fail(bt->s, rc, "out of memory at commit");
        }
    }
    for (size_t i = 0; i < t->overlay.nb; i++) {
        struct mem_entry *e = t->overlay.b[i], *next, *old;
        for (; e; e = next) {
            next = e->next;
            if (e->dead) {
                struct mem_entry **pp =
                    table_slot(&ms->committed, e->hash, (enum store_db)e->db, e->data, e->klen);
                if (pp && *pp) {
                    old = *pp;
                    *pp = old->next;
                    ms->committed.n--;
                    old->next = ms->graveyard;
                    ms->graveyard = old;
                }
                free(e);
            } else {
                table_insert(&ms->committed, e, &old);
                if (old) {
                    old->next = ms->graveyard;
                    ms->graveyard = old;
                }
            }
        }
        t->overlay.b[i] = NULL;
    }
    t->overlay.n = 0;
    txn_end_locked(ms, t);
    pthread_mutex_unlock(&ms->mu);
    return 0;
}

static int mem_get(struct store_txn *bt, enum store_db db, const void *key, size_t klen,
                   const void **val, size_t *vlen)
{
    struct mem_store *ms = (struct mem_store *)bt->s;
    struct mem_txn *t = (struct mem_txn *)bt;
    uint64_t h = key_hash(db, key, klen);
    struct mem_entry *e = NULL;
    if (bt->write) e = table_find(&t->overlay, h, db, key, klen);
    if (!e) {
        pthread_mutex_lock(&ms->mu);
        e = table_find(&ms->committed, h, db, key, klen);
        pthread_mutex_unlock(&ms->mu);
    }
    if (!e || e->dead) return TALLY_ENOTFOUND;
    *val = e->data + e->klen;
    *vlen = e->vlen;
    return 0;
}

static int overlay_set(struct mem_txn *t, enum store_db db, const void *key, size_t klen,
                       const void *val, size_t vlen, int dead)
{
    if (table_grow(&t->overlay)) return TALLY_ENOMEM;
    struct mem_entry *e = malloc(sizeof *e + klen + vlen), *old;
    if (!e) return TALLY_ENOMEM;
    e->hash = key_hash(db, key, klen);
    e->klen = (uint32_t)klen;
    e->db = (uint8_t)db;
    e->dead = (uint8_t)dead;
    e->vlen = vlen;
    memcpy(e->data, key, klen);
    if (vlen) memcpy(e->data + klen, val, vlen);
    table_insert(&t->overlay, e, &old);
    if (old) {
        old->next = t->graveyard;
        t->graveyard = old;
    }
    return 0;
}

static int mem_put(struct store_txn *bt, enum store_db db, const void *key, size_t klen,
                   const void *val, size_t vlen, unsigned flags)
{
    (void)flags;
    int rc = overlay_set((struct mem_txn *)bt, db, key, klen, val, vlen, 0);
    return rc ? store__fail(bt->s, rc, "out of memory") : 0;
}

static int mem_del(struct store_txn *bt, enum store_db db, const void *key, size_t klen)
{
    const void *v;
    size_t vlen;
    int rc = mem_get(bt, db, key, klen, &v, &vlen);
    if (rc) return rc;
    rc = overlay_set((struct mem_txn *)bt, db, key, klen, NULL, 0, 1);
    return rc ? store__fail(bt->s, rc, "out of memory") : 0;
}

static const struct store_ops mem_ops = {
    "mem", mem_close, mem_txn_begin, mem_txn_commit, mem_txn_abort, mem_get, mem_put, mem_del,
};

int store_open_mem(struct store **out)
{
    *out = NULL;
    struct mem_store *ms = calloc(1, sizeof *ms);
    if (!ms) return TALLY_ENOMEM;
    pthread_mutex_init(&ms->mu, NULL);
    ms->base.ops = &mem_ops;
    *out = &ms->base;
    return 0;
}
