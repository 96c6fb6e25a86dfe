/* Per-transaction receipts. */
#ifndef TALLY_CHAIN_RECEIPT_H
#define TALLY_CHAIN_RECEIPT_H
#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"
#include "util/err.h"

#define RECEIPT_REASON_MAX 128

struct receipt {
    uint8_t status;          /* 1 success, 0 failed (reverted) */
    uint64_t gas_used;       /* by this transaction */
    uint64_t cumulative_gas; /* in the block up to and including it */
    int has_contract;
    uint8_t contract[20];            /* created contract address */
    char reason[RECEIPT_REASON_MAX]; /* "" on success; human error reason otherwise */
    /* logs come with the EVM issue */
};

/* RLP: [status, gas_used, cumulative_gas, contract (empty or 20 bytes), reason]. */
TALLY_WUR int receipt_encode(struct buf *out, const struct receipt *r);
/* Errors: RLP errors, TALLY_EDECODE. */
TALLY_WUR int receipt_decode(struct receipt *r, const uint8_t *p, size_t len);
/* Keccak-256 of the encoding (leaf of the receipts root). */
TALLY_WUR int receipt_hash(uint8_t out[32], const struct receipt *r);

#endif
