/* LMDB backend: one environment per store, one named database per
 * enum store_db. MDB_NOTLS lets read transactions move between threads and
 * keeps reader slots per transaction, not per thread. Commits fsync the data
 * (MDB_NOMETASYNC: the meta page rides on the next commit's fsync), so a
 * committed write transaction survives a killed process, a power loss may
 * undo only the last one, and a crash leaves either the old or the new state
 * (copy-on-write B-trees). */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "store/store_int.h"
#include "util/log.h"

struct lmdb_store {
    struct store base;
    MDB_env *env;
    MDB_dbi dbi[STORE_DB_COUNT];
};

struct lmdb_txn {
    struct store_txn base;
    MDB_txn *txn;
};

static const char *const db_names[STORE_DB_COUNT] = {
    "meta",     "blocks", "block_hash", "tx_loc",    "receipts",
    "accounts", "code",   "storage",    "consensus",
};

static int map_err(struct store *s, int mrc, const char *what)
{
    int err = TALLY_ESTORE;
    if (mrc == MDB_NOTFOUND) return TALLY_ENOTFOUND;
    if (mrc == MDB_MAP_FULL) err = TALLY_EFULL;
    if (mrc == ENOMEM) err = TALLY_ENOMEM;
    return store__fail(s, err, "lmdb %s: %s", what, mdb_strerror(mrc));
}

static void lmdb_close(struct store *s)
{
    struct lmdb_store *ls = (struct lmdb_store *)s;
    if (ls->env) mdb_env_close(ls->env);
    free(ls);
}

static int lmdb_txn_begin(struct store *s, struct store_txn **out, int write)
{
    struct lmdb_store *ls = (struct lmdb_store *)s;
    struct lmdb_txn *t = malloc(sizeof *t);
    if (!t) return TALLY_ENOMEM;
    int mrc = mdb_txn_begin(ls->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (mrc) {
        free(t);
        return map_err(s, mrc, "txn_begin");
    }
    t->base.s = s;
    t->base.write = write;
    *out = &t->base;
    return 0;
}

static int lmdb_txn_commit(struct store_txn *bt)
{
    struct lmdb_txn *t = (struct lmdb_txn *)bt;
    struct store *s = bt->s;
    int mrc = mdb_txn_commit(t->txn); /* frees the txn even on failure */
    free(t);
    return mrc ? map_err(s, mrc, "commit") : 0;
}

static void lmdb_txn_abort(struct store_txn *bt)
{
    struct lmdb_txn *t = (struct lmdb_txn *)bt;
    mdb_txn_abort(t->txn);
    free(t);
}

static int lmdb_get(struct store_txn *bt, enum store_db db, const void *key, size_t klen,
                    const void **val, size_t *vlen)
{
    struct lmdb_txn *t = (struct lmdb_txn *)bt;
    struct lmdb_store *ls = (struct lmdb_store *)bt->s;
    MDB_val k = {klen, (void *)key}, v;
    int mrc = mdb_get(t->txn, ls->dbi[db], &k, &v);
    if (mrc) return map_err(bt->s, mrc, "get");
    *val = v.mv_data;
    *vlen = v.mv_size;
    return 0;
}

static int lmdb_put(struct store_txn *bt, enum store_db db, const void *key, size_t klen,
                    const void *val, size_t vlen, unsigned flags)
{
    struct lmdb_txn *t = (struct lmdb_txn *)bt;
    struct lmdb_store *ls = (struct lmdb_store *)bt->s;
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int mrc = MDB_KEYEXIST;
    if (flags & STORE_PUT_APPEND) mrc = mdb_put(t->txn, ls->dbi[db], &k, &v, MDB_APPEND);
    /* not after the last key after all (a rewrite): an ordinary put */
    if (mrc == MDB_KEYEXIST) mrc = mdb_put(t->txn, ls->dbi[db], &k, &v, 0);
    return mrc ? map_err(bt->s, mrc, "put") : 0;
}

static int lmdb_del(struct store_txn *bt, enum store_db db, const void *key, size_t klen)
{
    struct lmdb_txn *t = (struct lmdb_txn *)bt;
    struct lmdb_store *ls = (struct lmdb_store *)bt->s;
    MDB_val k = {klen, (void *)key};
    int mrc = mdb_del(t->txn, ls->dbi[db], &k, NULL);
    return mrc ? map_err(bt->s, mrc, "del") : 0;
}

static const struct store_ops lmdb_ops = {
    "lmdb",         lmdb_close, lmdb_txn_begin, lmdb_txn_commit,
    lmdb_txn_abort, lmdb_get,   lmdb_put,       lmdb_del,
};

int store_open_lmdb(struct store **out, const char *dir, uint64_t map_size)
{
    *out = NULL;
    if (!dir || !*dir) return TALLY_EINVAL;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        log_error("store", "cannot create %s: %s", dir, strerror(errno));
        return TALLY_EIO;
    }
    struct lmdb_store *ls = calloc(1, sizeof *ls);
    if (!ls) return TALLY_ENOMEM;
    ls->base.ops = &lmdb_ops;
    struct store *s = &ls->base;
    int rc, mrc, dead = 0;
    MDB_txn *txn = NULL;
    if ((mrc = mdb_env_create(&ls->env))) {
        ls->env = NULL;
        rc = map_err(s, mrc, "env_create");
        goto fail;
    }
    if ((mrc = mdb_env_set_maxdbs(ls->env, STORE_DB_COUNT)) ||
        (mrc = mdb_env_set_maxreaders(ls->env, 512)) ||
        (mrc = mdb_env_set_mapsize(ls->env, map_size ? map_size : STORE_DEFAULT_MAP_SIZE))) {
        rc = map_err(s, mrc, "env_set");
        goto fail;
    }
    if ((mrc = mdb_env_open(ls->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0644))) {
        rc = map_err(s, mrc, "env_open");
        goto fail;
    }
    if ((mrc = mdb_reader_check(ls->env, &dead))) {
        rc = map_err(s, mrc, "reader_check");
        goto fail;
    }
    if (dead) log_info("store", "cleared %d stale reader slot(s) in %s", dead, dir);
    if ((mrc = mdb_txn_begin(ls->env, NULL, 0, &txn))) {
        rc = map_err(s, mrc, "txn_begin");
        goto fail;
    }
    for (int i = 0; i < STORE_DB_COUNT; i++) {
        if ((mrc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &ls->dbi[i]))) {
            mdb_txn_abort(txn);
            rc = map_err(s, mrc, "dbi_open");
            goto fail;
        }
    }
    if ((mrc = mdb_txn_commit(txn))) {
        rc = map_err(s, mrc, "commit");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    log_error("store", "open %s: %s", dir, s->errmsg);
    lmdb_close(s);
    return rc;
}
