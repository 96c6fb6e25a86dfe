/* secp256k1 through libsecp256k1 (recovery module): signing, public-key
 * recovery, Ethereum addresses. Thread-safe: the context is created once and
 * only read afterwards, so worker threads may recover in parallel. */
#ifndef TALLY_CRYPTO_SECP_H
#define TALLY_CRYPTO_SECP_H
#include <stdint.h>
#include "util/err.h"

/* Uncompressed public key without the 0x04 prefix: X || Y, 64 bytes. */

/* Derive the public key of a private key.
 * Errors: TALLY_EINVAL (key zero or >= curve order). */
TALLY_WUR int secp_pubkey(uint8_t pub[64], const uint8_t priv[32]);

/* Sign a 32-byte digest (RFC 6979 deterministic nonce). Writes r||s (low-s
 * normalised) and the recovery id 0/1. Errors: TALLY_EINVAL. */
TALLY_WUR int secp_sign(uint8_t sig[64], int *recid, const uint8_t digest[32],
                        const uint8_t priv[32]);

/* Recover the public key that signed digest with r||s and recid (0..3).
 * Rejects s in the upper half of the order (EIP-2) and r or s zero or >= n.
 * Errors: TALLY_ESIG. */
TALLY_WUR int secp_recover(uint8_t pub[64], const uint8_t sig[64], int recid,
                           const uint8_t digest[32]);

/* Ethereum address of a public key: last 20 bytes of Keccak-256(X||Y). */
void secp_pub_to_addr(uint8_t addr[20], const uint8_t pub[64]);

/* Convenience: recover and hash in one call. Errors: TALLY_ESIG. */
TALLY_WUR int secp_recover_addr(uint8_t addr[20], const uint8_t sig[64], int recid,
                                const uint8_t digest[32]);

/* Fill a fresh random private key (OpenSSL RAND_bytes). Errors: TALLY_EIO. */
TALLY_WUR int secp_random_key(uint8_t priv[32]);

#endif
