/* Dispatch of the store interface to a backend, with the argument checks
 * that every backend shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_int.h"

int store__fail(struct store *s, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return err;
}

void store_close(struct store *s)
{
    if (s) s->ops->close(s);
}

const char *store_errmsg(const struct store *s)
{
    return s->errmsg;
}

int store_txn_begin(struct store *s, struct store_txn **out, int write)
{
    *out = NULL;
    return s->ops->txn_begin(s, out, write);
}

int store_txn_commit(struct store_txn *t)
{
    return t->s->ops->txn_commit(t);
}

void store_txn_abort(struct store_txn *t)
{
    if (t) t->s->ops->txn_abort(t);
}

struct store *store_txn_store(struct store_txn *t)
{
    return t->s;
}

static int check_key(struct store_txn *t, enum store_db db, size_t klen)
{
    if ((unsigned)db >= STORE_DB_COUNT)
        return store__fail(t->s, TALLY_EINVAL, "bad database %d", (int)db);
    if (klen == 0 || klen > STORE_KEY_MAX)
        return store__fail(t->s, TALLY_EINVAL, "bad key length %zu", klen);
    return 0;
}

int store_get(struct store_txn *t, enum store_db db, const void *key, size_t klen, const void **val,
              size_t *vlen)
{
    int rc = check_key(t, db, klen);
    if (rc) return rc;
    return t->s->ops->get(t, db, key, klen, val, vlen);
}

int store_put(struct store_txn *t, enum store_db db, const void *key, size_t klen, const void *val,
              size_t vlen)
{
    int rc = check_key(t, db, klen);
    if (rc) return rc;
    if (!t->write) return store__fail(t->s, TALLY_EINVAL, "put in a read transaction");
    if (vlen > STORE_VAL_MAX) return store__fail(t->s, TALLY_ETOOBIG, "value of %zu bytes", vlen);
    return t->s->ops->put(t, db, key, klen, val, vlen, 0);
}

int store_del(struct store_txn *t, enum store_db db, const void *key, size_t klen)
{
    int rc = check_key(t, db, klen);
    if (rc) return rc;
    if (!t->write) return store__fail(t->s, TALLY_EINVAL, "delete in a read transaction");
    return t->s->ops->del(t, db, key, klen);
}

/* ---- write batches ---- */

struct batch_op {
    uint8_t db;
    uint8_t del;
    uint8_t flags;
    uint32_t klen;
    size_t vlen;
    size_t off; /* key, then value, in data */
};

struct store_batch {
    struct batch_op *ops;
    size_t nops, capops;
    uint8_t *data;
    size_t len, cap;
};

int store_batch_new(struct store_batch **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : TALLY_ENOMEM;
}

void store_batch_free(struct store_batch *b)
{
    if (!b) return;
    free(b->ops);
    free(b->data);
    free(b);
}

size_t store_batch_count(const struct store_batch *b)
{
    return b->nops;
}

static int batch_add(struct store_batch *b, enum store_db db, const void *key, size_t klen,
                     const void *val, size_t vlen, int del, unsigned flags)
{
    if ((unsigned)db >= STORE_DB_COUNT || klen == 0 || klen > STORE_KEY_MAX) return TALLY_EINVAL;
    if (vlen > STORE_VAL_MAX) return TALLY_ETOOBIG;
    if (b->nops == b->capops) {
        size_t cap = b->capops ? b->capops * 2 : 256;
        struct batch_op *o = realloc(b->ops, cap * sizeof *o);
        if (!o) return TALLY_ENOMEM;
        b->ops = o;
        b->capops = cap;
    }
    if (klen + vlen > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 16384;
        while (klen + vlen > cap - b->len) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) return TALLY_ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    struct batch_op *o = &b->ops[b->nops++];
    o->db = (uint8_t)db;
    o->del = (uint8_t)del;
    o->flags = (uint8_t)flags;
    o->klen = (uint32_t)klen;
    o->vlen = vlen;
    o->off = b->len;
    memcpy(b->data + b->len, key, klen);
    if (vlen) memcpy(b->data + b->len + klen, val, vlen);
    b->len += klen + vlen;
    return 0;
}

int store_batch_put(struct store_batch *b, enum store_db db, const void *key, size_t klen,
                    const void *val, size_t vlen, unsigned flags)
{
    return batch_add(b, db, key, klen, val, vlen, 0, flags & STORE_PUT_APPEND);
}

int store_batch_del(struct store_batch *b, enum store_db db, const void *key, size_t klen)
{
    return batch_add(b, db, key, klen, NULL, 0, 1, 0);
}

int store_batch_write(struct store *s, const struct store_batch *b)
{
    struct store_txn *t;
    int rc = store_txn_begin(s, &t, 1);
    if (rc) return rc;
    for (size_t i = 0; i < b->nops && !rc; i++) {
        const struct batch_op *o = &b->ops[i];
        const uint8_t *k = b->data + o->off;
        if (o->del) {
            rc = s->ops->del(t, (enum store_db)o->db, k, o->klen);
            if (rc == TALLY_ENOTFOUND) rc = 0;
        } else {
            rc = s->ops->put(t, (enum store_db)o->db, k, o->klen, k + o->klen, o->vlen, o->flags);
        }
    }
    if (rc) {
        store_txn_abort(t);
        return rc;
    }
    return store_txn_commit(t);
}
