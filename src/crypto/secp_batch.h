/* Batch check of secp256k1 recoverable signatures against claimed public
 * keys: one randomised multi-scalar multiplication instead of one recovery per
 * signature. For transactions relayed by a peer that also sent each sender's
 * public key (an untrusted hint). Design and figures: docs/secp-batch.md. */
#ifndef TALLY_CRYPTO_SECP_BATCH_H
#define TALLY_CRYPTO_SECP_BATCH_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* The most items checked in one multiplication; larger batches are split into
 * parts of this size, each checked on its own. */
#define SECP_BATCH_MAX 8192

/* One signature to check. The pointers are borrowed for the duration of the
 * call only. */
struct secp_batch_item {
    const uint8_t *digest; /* 32 bytes, the signed hash */
    const uint8_t *sig;    /* 64 bytes, r || s big-endian */
    int recid;             /* 0..3, as for secp_recover */
    const uint8_t *pub;    /* 64 bytes, X || Y: the claimed signer */
};

/* Check that every item's signature recovers to its pub, exactly as
 * secp_recover would: r and s in [1, n-1], s <= n/2 (EIP-2), recid 0..3, the
 * point R with x = r (+ n when recid & 2) and y parity recid & 1 exists, pub is
 * a point on the curve, and s*R == e*G + r*pub.
 *
 * Returns 0 if all hold: a valid batch is always accepted. Returns TALLY_ESIG
 * if at least one does not; the caller then finds the bad items by checking
 * them one by one with secp_recover. The check is randomised with fresh
 * coefficients from the system CSPRNG on every call: a batch containing an
 * invalid item is wrongly accepted with probability at most 2^-127, whoever
 * chose the items.
 * Other errors: TALLY_ENOMEM, TALLY_EIO (the system random generator failed).
 * n == 0 returns 0. Thread-safe (no shared state). Variable time: for public
 * data only. */
TALLY_WUR int secp_batch_check(const struct secp_batch_item *items, size_t n);

#endif
