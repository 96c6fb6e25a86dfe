/* Hex encoding and strict decoding of 0x-prefixed strings. */
#ifndef TALLY_UTIL_HEX_H
#define TALLY_UTIL_HEX_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* Write "0x" + 2*len lowercase hex digits + NUL into out (size >= 2*len+3). */
void hex_encode(char *out, const uint8_t *in, size_t len);

/* Decode hex (optional "0x" prefix, even length) of exactly `len` chars into
 * out (capacity cap). *outlen gets the byte count. Errors: TALLY_EDECODE
 * (odd length, non-hex digit), TALLY_ETOOBIG (more than cap bytes). */
TALLY_WUR int hex_decode(uint8_t *out, size_t cap, size_t *outlen, const char *in, size_t len);

/* Decode the NUL-terminated hex string in (optional "0x") into a new
 * malloc()ed buffer *out of *len bytes; empty input gives NULL and 0.
 * Errors: TALLY_EDECODE (odd length, non-hex digit), TALLY_ENOMEM. */
TALLY_WUR int hex_decode_alloc(uint8_t **out, size_t *len, const char *in);

/* Decode exactly n bytes from a 0x-prefixed string of 2n digits.
 * Errors: TALLY_EDECODE. */
TALLY_WUR int hex_decode_fixed(uint8_t *out, size_t n, const char *in);

/* Decode a JSON-RPC quantity ("0x0", "0x1a"; no leading zeros required but
 * tolerated) into a uint64. Errors: TALLY_EDECODE, TALLY_ERANGE. */
TALLY_WUR int hex_quantity_u64(uint64_t *out, const char *in);

/* Write a quantity as "0x..." without leading zeros ("0x0" for zero). out
 * needs 19 bytes. */
void hex_quantity_from_u64(char *out, uint64_t v);

#endif
