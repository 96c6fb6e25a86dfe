/* Private to store/: the backend operations table. A backend embeds struct
 * store / struct store_txn as the first member of its own types. */
#ifndef TALLY_STORE_STORE_INT_H
#define TALLY_STORE_STORE_INT_H
#include <stdarg.h>
#include "store/store.h"

struct store_ops {
    const char *name;
    void (*close)(struct store *s);
    int (*txn_begin)(struct store *s, struct store_txn **out, int write);
    int (*txn_commit)(struct store_txn *t);
    void (*txn_abort)(struct store_txn *t);
    int (*get)(struct store_txn *t, enum store_db db, const void *key, size_t klen,
               const void **val, size_t *vlen);
    /* flags: 0 or STORE_PUT_APPEND (a hint; a backend may ignore it) */
    int (*put)(struct store_txn *t, enum store_db db, const void *key, size_t klen, const void *val,
               size_t vlen, unsigned flags);
    int (*del)(struct store_txn *t, enum store_db db, const void *key, size_t klen);
};

struct store {
    const struct store_ops *ops;
    char errmsg[256];
};

struct store_txn {
    struct store *s;
    int write;
};

/* Record a failure detail in s->errmsg; returns err. */
int store__fail(struct store *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
