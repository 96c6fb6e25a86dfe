/* Blocks: header, transactions, and the commit certificate that consensus
 * fills (empty until PBFT). The block hash is Keccak-256 of the RLP header;
 * the certificate signs that hash and is therefore not part of it. */
#ifndef TALLY_CHAIN_BLOCK_H
#define TALLY_CHAIN_BLOCK_H
#include <stddef.h>
#include <stdint.h>
#include "chain/receipt.h"
#include "chain/tx.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/u256.h"

#define BLOCK_MAX_TXS  100000
#define BLOCK_MAX_SIZE (64u * 1024 * 1024)
#define BLOCK_CERT_MAX (64 * 1024)

struct block_header {
    uint8_t parent_hash[32];
    uint64_t height;           /* genesis is 0 */
    uint64_t timestamp_ms;     /* proposer's wall clock, ms since epoch */
    uint8_t proposer[20];      /* address of the proposing node (coinbase) */
    uint8_t tx_root[32];       /* merkle_root of tx hashes */
    uint8_t receipts_root[32]; /* merkle_root of receipt_hash()es */
    uint8_t state_root[32];    /* state after executing this block */
    uint64_t gas_limit;
    uint64_t gas_used;
    u256 base_fee;
    uint64_t view; /* consensus view the block was agreed in */
};

struct block {
    struct block_header h;
    uint8_t hash[32]; /* Keccak-256(rlp(header)); set by block_seal/decode */
    struct tx **txs;  /* owned malloc'd array of ntx owned transactions (block_free frees) */
    size_t ntx;
    uint8_t *cert; /* owned commit certificate bytes (opaque here), may be NULL */
    size_t cert_len;
};

/* RLP of the header: [parent, height, timestamp_ms, proposer, tx_root,
 * receipts_root, state_root, gas_limit, gas_used, base_fee, view]. */
TALLY_WUR int block_header_encode(struct buf *out, const struct block_header *h);
/* Keccak of the header encoding. */
TALLY_WUR int block_header_hash(uint8_t out[32], const struct block_header *h);

/* Whole block: [header, [raw tx...], cert]. Typed transactions are embedded as
 * RLP strings holding type||payload (like Ethereum's block bodies); a missing
 * certificate is the empty string. Appends to out.
 * Errors: TALLY_EINVAL (ntx or cert_len over the caps), TALLY_ETOOBIG (out's
 * cap), TALLY_ENOMEM. */
TALLY_WUR int block_encode(struct buf *out, const struct block *b);

/* Decode a block (bounded by BLOCK_MAX_SIZE / BLOCK_MAX_TXS / BLOCK_CERT_MAX);
 * computes hash. Strict: exactly [header(11 fields), [tx...], cert], a legacy
 * tx as a list, a typed one as a string of type||payload (nothing else), and
 * the header's tx_root must be the merkle root of the decoded transactions.
 * Transactions are decoded but senders are NOT recovered (tx->has_sender 0);
 * set recover=1 to recover them in this call (slow). Free with block_free.
 * Errors: RLP/tx decode errors, TALLY_EDECODE (shape), TALLY_ETOOBIG,
 * TALLY_EBADBLOCK (tx_root does not match the body), TALLY_ESIG (recover=1
 * and a signature does not recover), TALLY_ENOMEM. */
TALLY_WUR int block_decode(struct block **out, const uint8_t *p, size_t len, int recover);

/* Only the header, its hash and the number of transactions of an encoded
 * block (no transaction is decoded, the body is not checked against the
 * header: for listings of stored blocks). Errors: as block_decode. */
TALLY_WUR int block_decode_header(const uint8_t *p, size_t len, struct block_header *h,
                                  uint8_t hash[32], size_t *ntx);

/* Merkle root of the hashes of b->txs into out (b unchanged).
 * Errors: TALLY_EINVAL (ntx > BLOCK_MAX_TXS), TALLY_ENOMEM. */
TALLY_WUR int block_tx_root(uint8_t out[32], const struct block *b);
/* Compute tx_root from b->txs into b->h.tx_root (call before block_seal).
 * Errors: TALLY_EINVAL, TALLY_ENOMEM. */
TALLY_WUR int block_compute_tx_root(struct block *b);
/* Compute the receipts root of an array of receipts (merkle_root of their
 * receipt_hash()es). Errors: TALLY_EINVAL (n > BLOCK_MAX_TXS, a status other
 * than 0/1), TALLY_ENOMEM. */
TALLY_WUR int block_receipts_root(uint8_t out[32], const struct receipt *rcpts, size_t n);
/* Set b->hash from the header. */
TALLY_WUR int block_seal(struct block *b);

/* Frees the block, its transactions and certificate. NULL is fine. */
void block_free(struct block *b);

#endif
