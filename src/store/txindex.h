/* Deferred transaction index: locations (tx hash -> height, index) of
 * blocks whose entries are not yet merged into the STORE_DB_TX_LOC B-tree.
 *
 * Writing each block's tx hashes into TX_LOC dirties about one random 4 KiB
 * page per transaction (hash keys have no locality), which dominated the
 * block write cost. Instead the ledger keeps recent locations here and merges
 * them into TX_LOC in large sorted batches (docs/storage.md), so many entries
 * share each dirtied page. Lookups check this table first, then TX_LOC.
 * The table is memory only: after a restart the ledger refills it from the
 * blocks above the merged height. Single-threaded (the loop thread). */
#ifndef TALLY_STORE_TXINDEX_H
#define TALLY_STORE_TXINDEX_H
#include <stddef.h>
#include <stdint.h>
#include "chain/block.h"
#include "util/err.h"

struct txindex_entry {
    uint8_t hash[32];
    uint64_t height;
    uint32_t index;
};

struct txindex;

/* Errors: TALLY_ENOMEM. */
TALLY_WUR int txindex_new(struct txindex **out);
void txindex_free(struct txindex *x);

/* Make room for n more entries, so that adding them cannot fail.
 * Errors: TALLY_ENOMEM. */
TALLY_WUR int txindex_reserve(struct txindex *x, size_t n);

/* Remember every transaction of b at (b->h.height, i). Errors: TALLY_ENOMEM. */
TALLY_WUR int txindex_add_block(struct txindex *x, const struct block *b);

/* Location of a remembered transaction. Errors: TALLY_ENOTFOUND. */
TALLY_WUR int txindex_get(const struct txindex *x, uint64_t *height, uint32_t *index,
                          const uint8_t hash[32]);

/* Number of remembered transactions. */
size_t txindex_count(const struct txindex *x);

/* A malloc'ed array (caller frees) of the entries at heights <= upto, sorted
 * by hash, for a merge into TX_LOC. Errors: TALLY_ENOMEM. */
TALLY_WUR int txindex_sorted(const struct txindex *x, struct txindex_entry **out, size_t *n,
                             uint64_t upto);

/* Forget the entries at heights <= upto (their merge is durable). */
void txindex_drop_upto(struct txindex *x, uint64_t upto);

#endif
