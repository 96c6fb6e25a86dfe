/* Unsigned 256-bit integers (balances, values, EVM words). Four 64-bit
 * limbs, least significant first. All functions are pure and total. */
#ifndef TALLY_UTIL_U256_H
#define TALLY_UTIL_U256_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

typedef struct {
    uint64_t w[4]; /* w[0] least significant */
} u256;

static inline u256 u256_from_u64(uint64_t v)
{
    u256 r = {{v, 0, 0, 0}};
    return r;
}
static inline int u256_is_zero(const u256 *a)
{
    return !(a->w[0] | a->w[1] | a->w[2] | a->w[3]);
}
/* 1 if a fits in 64 bits. */
static inline int u256_fits_u64(const u256 *a)
{
    return !(a->w[1] | a->w[2] | a->w[3]);
}

/* -1, 0, 1 as a <, ==, > b. */
int u256_cmp(const u256 *a, const u256 *b);
/* r = a + b mod 2^256; returns the carry (0 or 1). r may alias a or b. */
int u256_add(u256 *r, const u256 *a, const u256 *b);
/* r = a - b mod 2^256; returns the borrow (1 if a < b). r may alias. */
int u256_sub(u256 *r, const u256 *a, const u256 *b);
/* r = a * b mod 2^256; returns 1 if the true product overflowed 256 bits. */
int u256_mul(u256 *r, const u256 *a, const u256 *b);
/* The full 512-bit product a * b, little-endian 64-bit words t[0..8). */
void u256_mul_wide(uint64_t t[8], const u256 *a, const u256 *b);
/* q = a / b, m = a % b (either may be NULL); b == 0 gives q = m = 0. */
void u256_divmod(u256 *q, u256 *m, const u256 *a, const u256 *b);

/* Big-endian bytes. from_be takes 0..32 bytes (shorter = leading zeros);
 * Errors: TALLY_ERANGE if len > 32. */
TALLY_WUR int u256_from_be(u256 *r, const uint8_t *be, size_t len);
void u256_to_be32(uint8_t out[32], const u256 *a);
/* Minimal big-endian bytes (no leading zeros; zero -> 0 bytes) into out[32];
 * returns the length. */
size_t u256_to_be_min(uint8_t out[32], const u256 *a);

/* Decimal text, NUL-terminated; out needs 79 bytes. */
void u256_to_dec(char *out, const u256 *a);
/* "0x..." quantity without leading zeros ("0x0"); out needs 67 bytes. */
void u256_to_hex(char *out, const u256 *a);
/* Parse decimal digits or a 0x-prefixed hex quantity (whole string).
 * Errors: TALLY_EDECODE (empty, bad digit), TALLY_ERANGE (>= 2^256). */
TALLY_WUR int u256_parse(u256 *r, const char *s);

#endif
