/* Chain data (blocks, indexes, receipts, head) inside a store transaction.
 * Heights are keys as 8-byte big-endian numbers, so blocks sort by height.
 * Formats are in docs/storage.md. Writers need a write transaction; every
 * function only touches the given transaction (nothing is committed here). */
#ifndef TALLY_STORE_CHAINSTORE_H
#define TALLY_STORE_CHAINSTORE_H
#include <stddef.h>
#include <stdint.h>
#include "chain/block.h"
#include "chain/receipt.h"
#include "store/store.h"
#include "store/txindex.h"
#include "util/err.h"

/* Write block b at height b->h.height with everything that belongs to it:
 * the encoded block plus the senders of its transactions (20 bytes each,
 * in the same value), block hash -> height, tx hash -> (height, index) for
 * every tx, the receipts rcpts[0..b->ntx) as one value keyed by height, the
 * head pointer (height, hash) and the running total of transactions.
 * Every tx must have has_sender set. The caller checks that b links to the
 * current head; this function does not. rcpts may be NULL only if ntx == 0.
 * Errors: TALLY_EINVAL (missing sender, read txn), TALLY_ENOMEM, store errors. */
TALLY_WUR int chainstore_put_block(struct store_txn *t, const struct block *b,
                                   const struct receipt *rcpts);

/* The same writes as chainstore_put_block recorded into batch (written
 * later with store_batch_write), for a pipeline in which the store lags
 * behind: nothing is read from the store, so the running total of
 * transactions before b comes from the caller (tx_count_before).
 * BLOCKS and RECEIPTS are put with STORE_PUT_APPEND (blocks are written in
 * height order). Errors: TALLY_EINVAL (missing sender), TALLY_ENOMEM. */
TALLY_WUR int chainstore_batch_block(struct store_batch *batch, const struct block *b,
                                     const struct receipt *rcpts, uint64_t tx_count_before,
                                     int defer_txloc);

/* Deferred tx index (store/txindex.h): with defer_txloc set above, the
 * block's TX_LOC entries are not written; the caller keeps them in memory and
 * merges them later, sorted, with chainstore_batch_txloc, which also records
 * merged_height ("every tx of blocks <= merged_height is in TX_LOC") unless it
 * is CHAINSTORE_TXLOC_PARTIAL (a merge written in several chunks).
 * Errors: TALLY_ENOMEM. */
#define CHAINSTORE_TXLOC_PARTIAL UINT64_MAX
TALLY_WUR int chainstore_batch_txloc(struct store_batch *batch, const struct txindex_entry *e,
                                     size_t n, uint64_t merged_height);
/* The merged height. Errors: TALLY_ENOTFOUND (never recorded), TALLY_EDECODE. */
TALLY_WUR int chainstore_txloc_height(struct store_txn *t, uint64_t *height);
TALLY_WUR int chainstore_set_txloc_height(struct store_txn *t, uint64_t height);
/* Height and hash of the newest block. Errors: TALLY_ENOTFOUND (empty store),
 * TALLY_EDECODE (corrupt value), store errors. */
TALLY_WUR int chainstore_head(struct store_txn *t, uint64_t *height, uint8_t hash[32]);

/* The decoded block at height, with tx->sender/has_sender filled from the
 * stored senders (no signature recovery). *out is owned by the caller:
 * block_free it. Errors: TALLY_ENOTFOUND, decode errors (TALLY_EDECODE for a
 * corrupt value), TALLY_ENOMEM, store errors. */
TALLY_WUR int chainstore_block(struct store_txn *t, struct block **out, uint64_t height);

/* The encoded block (as block_encode wrote it, without the senders) at
 * height. *p points into the store: valid until the transaction ends.
 * Errors: TALLY_ENOTFOUND, TALLY_EDECODE, store errors. */
TALLY_WUR int chainstore_block_raw(struct store_txn *t, const uint8_t **p, size_t *len,
                                   uint64_t height);

/* Height of the block with this hash. Errors: TALLY_ENOTFOUND, TALLY_EDECODE. */
TALLY_WUR int chainstore_height_of(struct store_txn *t, uint64_t *height, const uint8_t hash[32]);

/* Location of a transaction by hash. Errors: TALLY_ENOTFOUND, TALLY_EDECODE. */
TALLY_WUR int chainstore_tx_loc(struct store_txn *t, uint64_t *height, uint32_t *index,
                                const uint8_t txhash[32]);

/* Receipt of transaction index of the block at height, decoded into *out.
 * Errors: TALLY_ENOTFOUND (no such block or index), TALLY_EDECODE. */
TALLY_WUR int chainstore_receipt(struct store_txn *t, struct receipt *out, uint64_t height,
                                 uint32_t index);

/* Total number of transactions in all stored blocks (0 on an empty store). */
TALLY_WUR int chainstore_tx_count(struct store_txn *t, uint64_t *count);

/* Metadata by NUL-terminated string key (the NUL is not stored).
 * get: *val points into the store (valid as for store_get).
 * Errors: TALLY_ENOTFOUND, TALLY_EINVAL (empty or too long key), store errors. */
TALLY_WUR int chainstore_meta_get(struct store_txn *t, const char *key, const void **val,
                                  size_t *len);
TALLY_WUR int chainstore_meta_put(struct store_txn *t, const char *key, const void *val,
                                  size_t len);

#endif
