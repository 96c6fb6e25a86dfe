/* Binary Merkle root over 32-byte leaves with domain separation:
 * leaf node = Keccak(0x00 || leaf), inner = Keccak(0x01 || left || right),
 * an odd node at the end of a level is carried up unchanged. The root of no
 * leaves is Keccak-256 of the empty string. */
#ifndef TALLY_CHAIN_MERKLE_H
#define TALLY_CHAIN_MERKLE_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* Errors: TALLY_ENOMEM. */
TALLY_WUR int merkle_root(uint8_t out[32], const uint8_t (*leaves)[32], size_t n);

#endif
