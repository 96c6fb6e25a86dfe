/* Transaction pool: admitted, signed transactions waiting for a block.
 *
 * Bounded in every dimension (total count, per sender, nonce gap). Ordered
 * per sender by nonce; across senders by arrival. Single-threaded: call from
 * the loop thread only (sender recovery happens before pool_add, on workers).
 * See docs/pool.md for the data structures and the fairness rule. */
#ifndef TALLY_POOL_POOL_H
#define TALLY_POOL_POOL_H
#include <stddef.h>
#include <stdint.h>
#include "chain/tx.h"
#include "util/err.h"

struct pool_cfg {
    size_t capacity;        /* max transactions held in total (1 .. 2^24) */
    size_t max_per_sender;  /* max transactions one sender may hold (e.g. 4096); 0 = capacity */
    uint64_t max_nonce_gap; /* max distance above the sender's pending nonce (e.g. 1024) */
};

struct pool;

/* Nonce callback: the next nonce of addr as the caller sees it (committed
 * state, or committed state plus a block in execution). */
typedef uint64_t (*pool_nonce_fn)(void *arg, const uint8_t addr[20]);

/* Create an empty pool. All tables are sized from cfg->capacity up front, so
 * pool_add never allocates except for a sender's nonce array.
 * Errors: TALLY_EINVAL (capacity 0 or > 2^24), TALLY_ENOMEM. */
int pool_new(struct pool **out, const struct pool_cfg *cfg);

/* Free the pool and every transaction it holds. NULL is fine. */
void pool_free(struct pool *p);

/* Admit a decoded transaction whose sender is recovered (tx->has_sender).
 * state_nonce is the sender's committed nonce. Takes ownership of tx on
 * success only; on error the caller still owns it. A transaction above the
 * sender's pending nonce (a gap) is held until the gap is filled.
 * A human reason is written to why (may be NULL) on error:
 *   TALLY_EINVAL  tx has no sender
 *   TALLY_EDUP    "already known"
 *   TALLY_ENONCE  "nonce too low: next is 7, got 5"  (nonce < state_nonce)
 *                 "nonce 5 already pending"          (same sender+nonce held)
 *   TALLY_ERANGE  "nonce too far ahead: next is 7, got 2000 (max gap 1024)"
 *                 "sender has 4096 pending transactions (limit)"
 *   TALLY_EFULL   "pool full: 100000 transactions"
 *   TALLY_ENOMEM */
int pool_add(struct pool *p, struct tx *tx, uint64_t state_nonce, char *why, size_t whylen);

/* The transactions ready to execute, up to max, without removing them
 * (borrowed pointers, valid until removed from the pool).
 * For each sender the ready run is the consecutive nonces starting at
 * nonce_of(arg, sender) (nonce_of is called once per sender touched).
 * Senders are taken in arrival order of their first ready transaction, and
 * the output interleaves them round-robin: first the head transaction of each
 * of those senders, then the second of each, ... So a sender with thousands
 * of pending transactions cannot crowd out single-transaction senders, and
 * each sender's transactions appear in nonce order. Returns the count.
 * Cost O(returned + senders touched); senders with a nonce gap are not
 * touched at all. */
size_t pool_select(struct pool *p, struct tx **out, size_t max, pool_nonce_fn nonce_of, void *arg);

/* After a block committed: remove its transactions (matched by hash) and
 * every pooled transaction whose nonce is now below its sender's new nonce
 * (nonce_of is called once per distinct sender of txs). Removed pooled
 * transactions are freed, except an object that is pointer-identical to an
 * entry of txs[] (the caller's block owns it): that one is only forgotten.
 * txs[i] without has_sender is matched by hash only. */
void pool_remove_committed(struct pool *p, struct tx *const *txs, size_t n, pool_nonce_fn nonce_of,
                           void *arg);

/* Remove and free one transaction (e.g. dropped for insufficient funds).
 * Later nonces of the same sender stay, now behind a gap. Unknown hash: no-op. */
void pool_drop(struct pool *p, const uint8_t hash[32]);

/* Number of transactions held. */
size_t pool_count(const struct pool *p);

/* The pooled transaction with this hash, or NULL. Borrowed: valid until it is
 * removed (pool_remove_committed, pool_drop, pool_free). */
struct tx *pool_find(const struct pool *p, const uint8_t hash[32]);

/* The sender's next nonce counting consecutive pooled transactions from
 * state_nonce (eth_getTransactionCount "pending"). */
uint64_t pool_pending_nonce(const struct pool *p, const uint8_t addr[20], uint64_t state_nonce);

/* Up to max pooled transactions in arrival order (borrowed, as pool_find).
 * Returns the count. */
size_t pool_list(const struct pool *p, struct tx **out, size_t max);

/* Number of distinct senders with pooled transactions. */
size_t pool_sender_count(const struct pool *p);

#endif
