/* Dispatch of the store interface to a backend, with the argument checks
 * that every backend shares. */
#include <stdio.h>
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
    return t->s->ops->put(t, db, key, klen, val, vlen);
}

int store_del(struct store_txn *t, enum store_db db, const void *key, size_t klen)
{
    int rc = check_key(t, db, klen);
    if (rc) return rc;
    if (!t->write) return store__fail(t->s, TALLY_EINVAL, "delete in a read transaction");
    return t->s->ops->del(t, db, key, klen);
}
