/* Key-value storage with named databases and transactions. Two backends
 * behind one table of operations (store_int.h): LMDB for nodes, an in-memory
 * map for unit tests and the simulator. See docs/storage.md.
 *
 * Threads: a store may be shared between threads; each transaction belongs to
 * one thread at a time. Only one write transaction may be open at a time (a
 * second store_txn_begin(write) from another thread waits on LMDB and fails
 * with TALLY_EBUSY on the in-memory backend; from the same thread it would
 * deadlock on LMDB, so never do that). */
#ifndef TALLY_STORE_STORE_H
#define TALLY_STORE_STORE_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

enum store_db {
    STORE_DB_META,       /* string key -> value (head, tx count, state root, genesis, ...) */
    STORE_DB_BLOCKS,     /* height (8 bytes BE) -> block + senders */
    STORE_DB_BLOCK_HASH, /* block hash (32) -> height (8 BE) */
    STORE_DB_TX_LOC,     /* tx hash (32) -> height (8 BE) || index (4 BE) */
    STORE_DB_RECEIPTS,   /* height (8 BE) -> all receipts of the block */
    STORE_DB_ACCOUNTS,   /* address (20) -> nonce (8 BE) || balance (32 BE) */
    STORE_DB_CODE,       /* (EVM issue) */
    STORE_DB_STORAGE,    /* (EVM issue) */
    STORE_DB_CONSENSUS,  /* consensus state (view, prepared certificate) */
    STORE_DB_COUNT
};

#define STORE_KEY_MAX          480                  /* longest key accepted (LMDB limit is 511) */
#define STORE_VAL_MAX          (256u * 1024 * 1024) /* longest value accepted */
#define STORE_DEFAULT_MAP_SIZE (64ull << 30)

struct store;
struct store_txn;

/* Open (creating dir and the environment if missing) an LMDB store in dir.
 * map_size is the largest the database file may grow to (sparse); 0 means
 * STORE_DEFAULT_MAP_SIZE (64 GiB). Clears stale reader slots left by crashed
 * processes and creates all named databases. *out is owned by the caller:
 * store_close it. Errors: TALLY_EINVAL, TALLY_EIO (directory), TALLY_ESTORE
 * (LMDB; the detail is logged and, if *out could be made, in its errmsg),
 * TALLY_ENOMEM. */
TALLY_WUR int store_open_lmdb(struct store **out, const char *dir, uint64_t map_size);

/* Open an empty in-memory store (contents vanish at store_close).
 * Errors: TALLY_ENOMEM. */
TALLY_WUR int store_open_mem(struct store **out);

/* Close the store. All transactions must have ended. NULL is fine. */
void store_close(struct store *s);

/* Human detail of the last failure of any call on s ("" if none). Static
 * storage inside s, valid until the next call on s. */
const char *store_errmsg(const struct store *s);

/* Begin a transaction; write != 0 for a write transaction. A read
 * transaction sees a consistent snapshot (LMDB) and never blocks the writer;
 * it may be used from any thread (one at a time). *out must be ended with
 * store_txn_commit or store_txn_abort.
 * Errors: TALLY_EBUSY (in-memory: a write txn is already open), TALLY_ESTORE,
 * TALLY_ENOMEM. */
TALLY_WUR int store_txn_begin(struct store *s, struct store_txn **out, int write);

/* Commit and free the transaction. For a write txn on LMDB the changes are
 * durable (fsync) when this returns 0. For a read txn this is store_txn_abort.
 * On failure the transaction is aborted and freed all the same.
 * Errors: TALLY_EFULL (map full), TALLY_ESTORE. */
TALLY_WUR int store_txn_commit(struct store_txn *t);

/* Abort (discard all changes of) and free the transaction. NULL is fine. */
void store_txn_abort(struct store_txn *t);

/* The store a transaction belongs to. */
struct store *store_txn_store(struct store_txn *t);

/* Look up key in db. On success *val and *vlen point at the value, owned by the
 * store: valid until the transaction ends, and in a write transaction only
 * until its next store_put/store_del (LMDB's rule). Do not write through it.
 * Errors: TALLY_ENOTFOUND, TALLY_EINVAL (bad db or key length), TALLY_ESTORE. */
TALLY_WUR int store_get(struct store_txn *t, enum store_db db, const void *key, size_t klen,
                        const void **val, size_t *vlen);

/* Insert or replace key -> val (both copied). Write txns only.
 * Errors: TALLY_EINVAL (read txn, bad db, klen 0 or > STORE_KEY_MAX),
 * TALLY_ETOOBIG (vlen > STORE_VAL_MAX), TALLY_EFULL (LMDB map full),
 * TALLY_ENOMEM, TALLY_ESTORE. */
TALLY_WUR int store_put(struct store_txn *t, enum store_db db, const void *key, size_t klen,
                        const void *val, size_t vlen);

/* Delete key. Write txns only. Errors: TALLY_ENOTFOUND (absent), TALLY_EINVAL,
 * TALLY_ESTORE. */
TALLY_WUR int store_del(struct store_txn *t, enum store_db db, const void *key, size_t klen);

/* ---- Write batches ----
 * A batch records puts and deletes in memory, with no transaction open, so
 * that one thread can prepare a block's writes while another writes earlier
 * ones: store_batch_write applies a whole batch in ONE write transaction and
 * commits it (durable on LMDB), on whatever thread calls it. A batch belongs
 * to one thread at a time and is not read by the store until written. */

/* The key sorts after every key already in its database (a new height):
 * written with MDB_APPEND on LMDB, which skips the search and fills pages. */
#define STORE_PUT_APPEND 1u

struct store_batch;

/* An empty batch. *out is owned by the caller: store_batch_free it.
 * Errors: TALLY_ENOMEM. */
TALLY_WUR int store_batch_new(struct store_batch **out);

/* Free a batch (written or not). NULL is fine. */
void store_batch_free(struct store_batch *b);

/* Record key -> val (both copied; flags 0 or STORE_PUT_APPEND). Later ops on
 * the same key win, as in a transaction.
 * Errors: TALLY_EINVAL (bad db, klen 0 or > STORE_KEY_MAX), TALLY_ETOOBIG,
 * TALLY_ENOMEM. */
TALLY_WUR int store_batch_put(struct store_batch *b, enum store_db db, const void *key, size_t klen,
                              const void *val, size_t vlen, unsigned flags);

/* Record a delete of key; deleting an absent key is not an error when the
 * batch is written. Errors: TALLY_EINVAL, TALLY_ENOMEM. */
TALLY_WUR int store_batch_del(struct store_batch *b, enum store_db db, const void *key,
                              size_t klen);

/* Number of recorded operations. */
size_t store_batch_count(const struct store_batch *b);

/* Apply all operations of b, in order, in one write transaction of s and
 * commit it: on return 0 all of it is durable, on failure none of it is
 * written (the transaction is aborted) and store_errmsg(s) says why.
 * May be called from any thread, but only one write transaction at a time.
 * Errors: TALLY_EFULL (map full), TALLY_EBUSY, TALLY_ENOMEM, TALLY_ESTORE. */
TALLY_WUR int store_batch_write(struct store *s, const struct store_batch *b);

#endif
