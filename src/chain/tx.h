/* Ethereum-format signed transactions: legacy (EIP-155 and pre-155), EIP-2930
 * (type 1) and EIP-1559 (type 2). A decoded transaction owns one copy of its
 * raw encoding; data and access_list point into it. */
#ifndef TALLY_CHAIN_TX_H
#define TALLY_CHAIN_TX_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"
#include "util/u256.h"

#define TX_MAX_SIZE          (128 * 1024) /* bytes of raw encoding accepted */
#define TX_MAX_INITCODE_SIZE 49152        /* EIP-3860: 2 * 24576 bytes of creation data */

enum tx_type { TX_LEGACY = 0, TX_ACCESS_LIST = 1, TX_DYNAMIC_FEE = 2 };

struct tx {
    uint8_t type;
    int has_chain_id; /* 0 only for pre-EIP-155 legacy transactions */
    uint64_t chain_id;
    uint64_t nonce;
    u256 gas_price;        /* legacy/type 1; for type 2 equals max_fee */
    u256 max_priority_fee; /* type 2; for legacy/type 1 equals gas_price */
    u256 max_fee;          /* type 2; for legacy/type 1 equals gas_price */
    uint64_t gas_limit;
    int has_to; /* 0: contract creation */
    uint8_t to[20];
    u256 value;
    const uint8_t *data; /* into raw */
    size_t data_len;
    const uint8_t *access_list; /* RLP list item (header included) into raw; NULL if none */
    size_t access_list_len;
    size_t access_list_addrs, access_list_keys; /* counts, for intrinsic gas */
    uint8_t sig[64];                            /* r || s */
    int recid;                                  /* 0/1 */
    uint8_t hash[32];                           /* Keccak-256 of raw: the transaction hash */
    uint8_t sighash[32];                        /* the digest that was signed */
    int has_sender;
    uint8_t sender[20]; /* set by tx_recover_sender */
    int has_pub;        /* pub is the sender's public key (recovered, or a checked hint) */
    uint8_t pub[64];    /* X || Y: forwarded with gossip as a hint for peers */
    uint8_t *raw;       /* owned; the exact bytes received */
    size_t raw_len;
};

/* Decode a raw signed transaction (as in eth_sendRawTransaction: a legacy
 * RLP list, or type byte || RLP list). Computes hash and sighash, checks the
 * signature values' form (v, r, s ranges) but does not recover the sender.
 * Strict: exact field counts, canonical integers (nonce, gas limit and chain
 * id must fit in 64 bits), `to` empty or 20 bytes, access list of
 * [20-byte address, [32-byte key...]] entries, legacy v of 27/28 (pre-155)
 * or chain_id*2+35/36, typed y-parity 0/1, r in [1, n-1] and s in
 * [1, n/2] (EIP-2 low s, so malleated signatures never reach recovery).
 * Stateless rules that are not about the encoding (nonce cap, fee caps,
 * intrinsic gas) are in tx_validate_basic.
 * The result is heap-allocated; free with tx_free. It owns a copy of raw.
 * Errors: TALLY_ETOOBIG (> TX_MAX_SIZE), TALLY_ETXTYPE, RLP decode errors,
 * TALLY_EDECODE (wrong field count, bad field), TALLY_ESIG (bad v/r/s),
 * TALLY_ENOMEM. A human detail is written to err (may be NULL). */
TALLY_WUR int tx_decode(struct tx **out, const uint8_t *raw, size_t len, char *err, size_t errlen);

/* Recover the sender from the signature (CPU heavy: ~45 us; thread-safe, run
 * on workers). Sets has_sender and sender. Errors: TALLY_ESIG. */
TALLY_WUR int tx_recover_sender(struct tx *tx);

/* Establish the senders of txs[0..n) from public-key hints (hints[i]:
 * 64 bytes X||Y, untrusted, e.g. from the peer that recovered them), all
 * signatures checked in one batch (crypto/secp_batch.h; ~2x cheaper per
 * signature than recovery at 1024). On success every tx gets has_sender,
 * sender and pub exactly as tx_recover_sender would set them. Thread-safe
 * (workers). Errors, with nothing changed (the caller then recovers each
 * one with tx_recover_sender): TALLY_ESIG (some hint or signature is wrong),
 * TALLY_ENOMEM, TALLY_EIO (no randomness). */
TALLY_WUR int tx_senders_from_hints(struct tx *const *txs, const uint8_t (*hints)[64], size_t n);

/* Frees the transaction and its raw bytes. NULL is fine. */
void tx_free(struct tx *tx);

/* Stateless checks every node applies to a decoded transaction before it is
 * pooled or executed (Ethereum's Cancun rules that need no state):
 *   nonce < 2^64-1 (EIP-2681)                  TALLY_ERANGE
 *   gas_limit * max_fee fits in 256 bits         TALLY_ERANGE
 *   max_priority_fee <= max_fee                 TALLY_EFEE
 *   creation data <= TX_MAX_INITCODE_SIZE        TALLY_ETOOBIG
 *   tx_intrinsic_gas <= gas_limit                TALLY_EINTRINSIC
 * A human detail is written to err (may be NULL). Chain id: tx_check_chain_id. */
TALLY_WUR int tx_validate_basic(const struct tx *tx, char *err, size_t errlen);

/* Replay protection: a transaction that carries a chain id must carry this
 * one. Pre-EIP-155 legacy transactions (has_chain_id 0) pass; a caller that
 * refuses unprotected transactions tests has_chain_id itself.
 * Errors: TALLY_ECHAINID (with detail in err, which may be NULL). */
TALLY_WUR int tx_check_chain_id(const struct tx *tx, uint64_t chain_id, char *err, size_t errlen);

/* Fields of a transaction to sign (CLI, bench, tests). */
struct tx_fields {
    uint8_t type; /* TX_LEGACY (EIP-155), TX_ACCESS_LIST (empty list) or TX_DYNAMIC_FEE */
    uint64_t chain_id;
    uint64_t nonce;
    u256 gas_price;                 /* legacy, type 1 */
    u256 max_priority_fee, max_fee; /* type 2 */
    uint64_t gas_limit;
    int has_to;
    uint8_t to[20];
    u256 value;
    const uint8_t *data;
    size_t data_len;
};

/* Build, sign and decode a transaction. The result has has_sender set to the
 * key's address; free with tx_free. f->data is copied.
 * Errors: TALLY_EINVAL (bad key/type, chain id too large for a legacy v),
 * TALLY_ETOOBIG (encoding > TX_MAX_SIZE), TALLY_ENOMEM. */
TALLY_WUR int tx_sign(struct tx **out, const struct tx_fields *f, const uint8_t priv[32]);

/* Intrinsic gas (21000 + calldata + creation + access list, Cancun rules
 * incl. EIP-3860 initcode words). */
uint64_t tx_intrinsic_gas(const struct tx *tx);
/* The same for a call that is not a transaction (eth_estimateGas): data of
 * len bytes, a contract creation or not, access-list address and key counts. */
uint64_t tx_intrinsic_gas_of(const uint8_t *data, size_t len, int is_create, size_t al_addrs,
                             size_t al_keys);

/* Effective gas price paid per gas given the block base fee:
 * min(max_fee, base_fee + max_priority_fee). Caller checks max_fee >= base_fee. */
void tx_effective_gas_price(u256 *out, const struct tx *tx, const u256 *base_fee);

#endif
