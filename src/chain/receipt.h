/* Per-transaction receipts. */
#ifndef TALLY_CHAIN_RECEIPT_H
#define TALLY_CHAIN_RECEIPT_H
#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"
#include "util/err.h"

#define RECEIPT_REASON_MAX 128
#define RECEIPT_MAX_LOGS   65536 /* per receipt, when decoding */

/* One EVM log. data points into the receipt's log allocation. */
struct receipt_log {
    uint8_t addr[20];
    uint8_t ntopics; /* 0..4 */
    uint8_t topics[4][32];
    const uint8_t *data;
    size_t data_len;
};

struct receipt {
    uint8_t status;          /* 1 success, 0 failed (reverted) */
    uint64_t gas_used;       /* by this transaction */
    uint64_t cumulative_gas; /* in the block up to and including it */
    int has_contract;
    uint8_t contract[20];            /* created contract address */
    char reason[RECEIPT_REASON_MAX]; /* "" on success; human error reason otherwise */
    /* Logs: one allocation holding the array and every log's data, owned by
     * the receipt (receipt_clear frees it). A struct copy shares it. */
    struct receipt_log *logs;
    uint32_t nlogs;
    uint32_t first_log; /* logs of the block's earlier receipts (logIndex base) */
};

/* Free r's logs and zero them (the rest of r stays). */
void receipt_clear(struct receipt *r);
/* receipt_clear on rs[0..n), then free(rs). NULL is fine. */
void receipts_free(struct receipt *rs, size_t n);
/* A deep copy of src into *dst (its own logs). Errors: TALLY_ENOMEM. */
TALLY_WUR int receipt_copy(struct receipt *dst, const struct receipt *src);

/* Set r's logs from n logs (data copied into one allocation). Errors:
 * TALLY_ENOMEM, TALLY_EINVAL (more than 4 topics). */
TALLY_WUR int receipt_set_logs(struct receipt *r, const struct receipt_log *logs, size_t n);

/* The 2048-bit logs bloom of r's logs (Ethereum's: 3 bits per address and
 * topic), OR-ed into out (zero it first for one receipt). */
void receipt_bloom(uint8_t out[256], const struct receipt *r);

/* RLP: [status, gas_used, cumulative_gas, contract (empty or 20 bytes),
 * reason, first_log, [[address, [topic...], data]...]]. */
TALLY_WUR int receipt_encode(struct buf *out, const struct receipt *r);
/* Accepts the form without logs (the first 5 items) too. *r owns its logs afterwards
 * (receipt_clear). Errors: RLP errors, TALLY_EDECODE, TALLY_ENOMEM. */
TALLY_WUR int receipt_decode(struct receipt *r, const uint8_t *p, size_t len);
/* Keccak-256 of the encoding (leaf of the receipts root). */
TALLY_WUR int receipt_hash(uint8_t out[32], const struct receipt *r);

#endif
