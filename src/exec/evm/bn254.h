/* alt_bn128 (BN254) curve arithmetic and the optimal ate pairing, private to
 * the precompiles (precompile.c). Encodings are those of EIP-196/197:
 * big-endian 32-byte coordinates, (0, 0) for the point at infinity, an Fp2
 * element a*i + b written as a then b. */
#ifndef TALLY_EXEC_EVM_BN254_H
#define TALLY_EXEC_EVM_BN254_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* out = P1 + P2 for in = P1 (64 bytes) || P2 (64 bytes).
 * Errors: TALLY_EINVAL (coordinate >= p or point not on the curve). */
TALLY_WUR int bn254__g1_add(uint8_t out[64], const uint8_t in[128]);

/* out = k * P for in = P (64 bytes) || k (32 bytes, any 256-bit value).
 * Errors: TALLY_EINVAL (coordinate >= p or point not on the curve). */
TALLY_WUR int bn254__g1_mul(uint8_t out[64], const uint8_t in[96]);

/* *one = 1 if the product of e(P_i, Q_i) over the n pairs in in (192 bytes
 * each: P 64 bytes, Q 128 bytes) is 1, else 0; n = 0 gives 1.
 * Errors: TALLY_EINVAL (coordinate >= p, a point not on its curve, or Q not
 * in the order-r subgroup of the twist). */
TALLY_WUR int bn254__pairing_check(int *one, const uint8_t *in, size_t n);

#endif
