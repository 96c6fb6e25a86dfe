/* EVM precompiled contracts of the Cancun fork, addresses 0x01..0x09:
 * ecrecover, sha256, ripemd160, identity, modexp (EIP-198 with EIP-2565 gas),
 * alt_bn128 add / scalar mul / pairing (EIP-196, EIP-197, EIP-1108 gas) and
 * blake2f (EIP-152). 0x0a (KZG point evaluation, EIP-4844) is not supported.
 * Pure functions of their input: thread-safe, no global mutable state.
 * See docs/evm-precompiles.md. */
#ifndef TALLY_EXEC_EVM_PRECOMPILE_H
#define TALLY_EXEC_EVM_PRECOMPILE_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

enum evm_precompile_id {
    EVM_PRECOMPILE_NONE = 0,
    EVM_PRECOMPILE_ECRECOVER = 1,
    EVM_PRECOMPILE_SHA256 = 2,
    EVM_PRECOMPILE_RIPEMD160 = 3,
    EVM_PRECOMPILE_IDENTITY = 4,
    EVM_PRECOMPILE_MODEXP = 5,
    EVM_PRECOMPILE_BN256_ADD = 6,
    EVM_PRECOMPILE_BN256_MUL = 7,
    EVM_PRECOMPILE_BN256_PAIRING = 8,
    EVM_PRECOMPILE_BLAKE2F = 9,
};

/* Which supported precompile the 20-byte address addr is: its number 1..9,
 * or EVM_PRECOMPILE_NONE (0) for any other address, 0x0a included. */
int evm_precompile_is(const uint8_t addr[20]);

/* Gas the precompile at addr charges for this input, saturated at
 * UINT64_MAX (modexp with huge declared lengths). Reads at most the first
 * 96 + 32 bytes of the modexp input past the base; never allocates.
 * Errors: TALLY_EUNSUPPORTED (addr is not a supported precompile). */
TALLY_WUR int evm_precompile_gas(uint64_t *cost, const uint8_t addr[20], const uint8_t *in,
                                 size_t in_len);

/* Run the precompile at addr on in[0..in_len) with gas available.
 * The cost is charged first: if gas < cost nothing runs.
 * On success (0): *out is a malloc'd buffer of *out_len bytes owned by the
 * caller (free() it), or NULL when *out_len is 0 (ecrecover of a bad
 * signature, modexp with a zero modulus length: an empty result is not an
 * error); *gas_left = gas - cost.
 * Errors, all with *out = NULL, *out_len = 0 and *gas_left = 0 (the EVM call
 * fails and consumes all gas it was given):
 *   TALLY_EGAS          gas < cost (out of gas; negative gas counts as 0);
 *   TALLY_EINVAL        input the contract rejects: bn256 coordinate >= p,
 *                       point not on the curve, G2 point outside the order-r
 *                       subgroup, pairing input length not a multiple of 192;
 *                       blake2f input not exactly 213 bytes or final flag
 *                       other than 0 or 1; in NULL with in_len > 0;
 *   TALLY_ETOOBIG       modexp with a base, exponent or modulus over 16 MiB
 *                       that the gas given would pay for (over 10^11 gas:
 *                       unreachable under any real block gas limit);
 *   TALLY_ENOMEM        allocation failed (a node fault, not an EVM result);
 *   TALLY_EUNSUPPORTED  addr is not a supported precompile. */
TALLY_WUR int evm_precompile_run(uint8_t **out, size_t *out_len, int64_t *gas_left,
                                 const uint8_t addr[20], const uint8_t *in, size_t in_len,
                                 int64_t gas);

#endif
