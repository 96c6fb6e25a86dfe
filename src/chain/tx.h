/* Ethereum-format signed transactions: legacy (EIP-155 and pre-155), EIP-2930
 * (type 1) and EIP-1559 (type 2). A decoded transaction owns one copy of its
 * raw encoding; data and access_list point into it. */
#ifndef TALLY_CHAIN_TX_H
#define TALLY_CHAIN_TX_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"
#include "util/u256.h"

#define TX_MAX_SIZE (128 * 1024) /* bytes of raw encoding accepted */

enum tx_type { TX_LEGACY = 0, TX_ACCESS_LIST = 1, TX_DYNAMIC_FEE = 2 };

struct tx {
    uint8_t type;
    int has_chain_id;  /* 0 only for pre-EIP-155 legacy transactions */
    uint64_t chain_id;
    uint64_t nonce;
    u256 gas_price;    /* legacy/type 1; for type 2 equals max_fee */
    u256 max_priority_fee; /* type 2; for legacy/type 1 equals gas_price */
    u256 max_fee;      /* type 2; for legacy/type 1 equals gas_price */
    uint64_t gas_limit;
    int has_to;        /* 0: contract creation */
    uint8_t to[20];
    u256 value;
    const uint8_t *data; /* into raw */
    size_t data_len;
    const uint8_t *access_list; /* RLP list item (header included) into raw; NULL if none */
    size_t access_list_len;
    size_t access_list_addrs, access_list_keys; /* counts, for intrinsic gas */
    uint8_t sig[64];   /* r || s */
    int recid;         /* 0/1 */
    uint8_t hash[32];  /* Keccak-256 of raw: the transaction hash */
    uint8_t sighash[32]; /* the digest that was signed */
    int has_sender;
    uint8_t sender[20]; /* set by tx_recover_sender */
    uint8_t *raw;      /* owned; the exact bytes received */
    size_t raw_len;
};

/* Decode a raw signed transaction (as in eth_sendRawTransaction: a legacy
 * RLP list, or type byte || RLP list). Computes hash and sighash, checks the
 * signature values' form (v, r, s ranges) but does not recover the sender.
 * The result is heap-allocated; free with tx_free.
 * Errors: TALLY_ETOOBIG (> TX_MAX_SIZE), TALLY_ETXTYPE, RLP decode errors,
 * TALLY_EDECODE (wrong field count, bad field), TALLY_ESIG (bad v/r/s),
 * TALLY_ENOMEM. A human detail is written to err (may be NULL). */
TALLY_WUR int tx_decode(struct tx **out, const uint8_t *raw, size_t len, char *err, size_t errlen);

/* Recover the sender from the signature (CPU heavy: ~45 us; thread-safe, run
 * on workers). Sets has_sender and sender. Errors: TALLY_ESIG. */
TALLY_WUR int tx_recover_sender(struct tx *tx);

void tx_free(struct tx *tx);

/* Fields of a transaction to sign (CLI, bench, tests). */
struct tx_fields {
    uint8_t type;       /* TX_LEGACY (EIP-155) or TX_DYNAMIC_FEE */
    uint64_t chain_id;
    uint64_t nonce;
    u256 gas_price;     /* legacy */
    u256 max_priority_fee, max_fee; /* type 2 */
    uint64_t gas_limit;
    int has_to;
    uint8_t to[20];
    u256 value;
    const uint8_t *data;
    size_t data_len;
};

/* Build, sign and decode a transaction. The result has has_sender set to the
 * key's address. Errors: TALLY_EINVAL (bad key/type), TALLY_ENOMEM. */
TALLY_WUR int tx_sign(struct tx **out, const struct tx_fields *f, const uint8_t priv[32]);

/* Intrinsic gas (21000 + calldata + creation + access list, Cancun rules
 * incl. EIP-3860 initcode words). */
uint64_t tx_intrinsic_gas(const struct tx *tx);

/* Effective gas price paid per gas given the block base fee:
 * min(max_fee, base_fee + max_priority_fee). Caller checks max_fee >= base_fee. */
void tx_effective_gas_price(u256 *out, const struct tx *tx, const u256 *base_fee);

#endif
