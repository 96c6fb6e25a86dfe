/* Private to src/crypto (secp_batch.c and its tests): arithmetic modulo the
 * secp256k1 field prime p = 2^256 - 2^32 - 977 and modulo the group order n.
 *
 * Field elements are four little-endian 64-bit limbs holding any value below
 * 2^256 that is congruent to the element mod p ("weakly reduced"); only
 * secp__fe_normalize makes the representation unique (< p). Every operation
 * accepts weakly reduced inputs and returns weakly reduced outputs, and all
 * of them allow the output to alias an input.
 *
 * Scalars are four limbs always fully reduced (< n).
 *
 * Variable time: these routines only ever see public data (signatures,
 * public keys, the batch's random coefficients), never secret keys. */
#ifndef TALLY_CRYPTO_SECP256K1_FIELD_H
#define TALLY_CRYPTO_SECP256K1_FIELD_H
#include <stdint.h>
#include <string.h>

typedef unsigned __int128 secp__u128;

/* The hot field operations must be inlined into the point formulas: a call
 * per operation costs more than the small ones themselves. */
#define SECP__HOT static inline __attribute__((always_inline))

typedef struct {
    uint64_t v[4];
} secp__fe;

typedef struct {
    uint64_t v[4];
} secp__sc;

/* 2^256 mod p = 2^32 + 977. */
#define SECP__FE_C 0x1000003D1ULL

static const secp__fe secp__fe_p = {
    {0xFFFFFFFEFFFFFC2FULL, 0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFFFFFULL}};
static const secp__sc secp__sc_n = {
    {0xBFD25E8CD0364141ULL, 0xBAAEDCE6AF48A03BULL, 0xFFFFFFFFFFFFFFFEULL, 0xFFFFFFFFFFFFFFFFULL}};
/* 2^256 - n (129 bits). */
static const uint64_t secp__sc_d[3] = {0x402DA1732FC9BEBFULL, 0x4551231950B75FC4ULL, 1};

/* ---- 256-bit helpers ---- */

/* Big-endian 32 bytes -> limbs (no reduction). */
static inline void secp__u256_from_b32(uint64_t r[4], const uint8_t b[32])
{
    for (int i = 0; i < 4; i++) {
        uint64_t x = 0;
        for (int j = 0; j < 8; j++) x = (x << 8) | b[(3 - i) * 8 + j];
        r[i] = x;
    }
}

static inline void secp__u256_to_b32(uint8_t b[32], const uint64_t a[4])
{
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) b[(3 - i) * 8 + j] = (uint8_t)(a[i] >> (56 - 8 * j));
}

/* -1, 0, 1 as a <, ==, > b. */
static inline int secp__u256_cmp(const uint64_t a[4], const uint64_t b[4])
{
    for (int i = 3; i >= 0; i--) {
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    }
    return 0;
}

/* r = a + b; returns the carry out. */
SECP__HOT uint64_t secp__u256_add(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
    secp__u128 t = 0;
    for (int i = 0; i < 4; i++) {
        t += (secp__u128)a[i] + b[i];
        r[i] = (uint64_t)t;
        t >>= 64;
    }
    return (uint64_t)t;
}

/* r = a - b; returns the borrow out. */
SECP__HOT uint64_t secp__u256_sub(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        secp__u128 t = (secp__u128)a[i] - b[i] - borrow;
        r[i] = (uint64_t)t;
        borrow = (uint64_t)(t >> 64) & 1;
    }
    return borrow;
}

/* Full 512-bit product of two 256-bit values. */
static inline void secp__u256_mul(uint64_t l[8], const uint64_t a[4], const uint64_t b[4])
{
    for (int i = 0; i < 8; i++) l[i] = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t carry = 0;
        for (int j = 0; j < 4; j++) {
            secp__u128 t = (secp__u128)a[i] * b[j] + l[i + j] + carry;
            l[i + j] = (uint64_t)t;
            carry = (uint64_t)(t >> 64);
        }
        l[i + 4] = carry;
    }
}

/* ---- field mod p ---- */

static inline void secp__fe_set_u64(secp__fe *r, uint64_t x)
{
    r->v[0] = x;
    r->v[1] = r->v[2] = r->v[3] = 0;
}

/* Parse a big-endian field element; 0 if it is >= p (not canonical). */
static inline int secp__fe_set_b32(secp__fe *r, const uint8_t b[32])
{
    secp__u256_from_b32(r->v, b);
    return secp__u256_cmp(r->v, secp__fe_p.v) < 0;
}

/* Make the representation unique: subtract p once if needed. */
static inline void secp__fe_normalize(secp__fe *r)
{
    if (secp__u256_cmp(r->v, secp__fe_p.v) >= 0) {
        uint64_t t[4];
        secp__u256_sub(t, r->v, secp__fe_p.v);
        memcpy(r->v, t, sizeof t);
    }
}

static inline void secp__fe_get_b32(uint8_t b[32], const secp__fe *a)
{
    secp__fe t = *a;
    secp__fe_normalize(&t);
    secp__u256_to_b32(b, t.v);
}

/* 1 if a == 0 mod p: the limbs are 0 or p. */
SECP__HOT int secp__fe_is_zero(const secp__fe *a)
{
    if ((a->v[0] | a->v[1] | a->v[2] | a->v[3]) == 0) return 1;
    return ((a->v[1] & a->v[2] & a->v[3]) == UINT64_MAX) && a->v[0] == secp__fe_p.v[0];
}

/* 1 if the normalised value is odd. */
static inline int secp__fe_is_odd(const secp__fe *a)
{
    secp__fe t = *a;
    secp__fe_normalize(&t);
    return (int)(t.v[0] & 1);
}

SECP__HOT void secp__fe_add(secp__fe *r, const secp__fe *a, const secp__fe *b)
{
    uint64_t carry = secp__u256_add(r->v, a->v, b->v);
    /* 2^256 == C (mod p): fold the carry back in. */
    secp__u128 t = (secp__u128)r->v[0] + carry * SECP__FE_C;
    r->v[0] = (uint64_t)t;
    t = (t >> 64) + r->v[1];
    r->v[1] = (uint64_t)t;
    t = (t >> 64) + r->v[2];
    r->v[2] = (uint64_t)t;
    t = (t >> 64) + r->v[3];
    r->v[3] = (uint64_t)t;
    /* A second carry leaves a value below C: adding C cannot carry again. */
    r->v[0] += (uint64_t)(t >> 64) * SECP__FE_C;
}

SECP__HOT void secp__fe_sub(secp__fe *r, const secp__fe *a, const secp__fe *b)
{
    uint64_t borrow = secp__u256_sub(r->v, a->v, b->v);
    /* The limbs hold a - b + 2^256 == a - b + C: subtract C. */
    secp__u128 t = (secp__u128)r->v[0] - borrow * SECP__FE_C;
    r->v[0] = (uint64_t)t;
    uint64_t bw = (uint64_t)(t >> 64) & 1;
    t = (secp__u128)r->v[1] - bw;
    r->v[1] = (uint64_t)t;
    bw = (uint64_t)(t >> 64) & 1;
    t = (secp__u128)r->v[2] - bw;
    r->v[2] = (uint64_t)t;
    bw = (uint64_t)(t >> 64) & 1;
    t = (secp__u128)r->v[3] - bw;
    r->v[3] = (uint64_t)t;
    bw = (uint64_t)(t >> 64) & 1;
    /* Borrowed again: the limbs are >= 2^256 - C, so the low limb is large
     * enough to take C without another borrow. */
    r->v[0] -= bw * SECP__FE_C;
}

SECP__HOT void secp__fe_neg(secp__fe *r, const secp__fe *a)
{
    static const secp__fe zero = {{0, 0, 0, 0}};
    secp__fe_sub(r, &zero, a);
}

/* Reduce a 512-bit value l (< 2^512) mod p into r (weakly). */
SECP__HOT void secp__fe_reduce512(secp__fe *r, const uint64_t l[8])
{
    secp__u128 t = (secp__u128)l[4] * SECP__FE_C + l[0];
    uint64_t r0 = (uint64_t)t;
    t = (t >> 64) + (secp__u128)l[5] * SECP__FE_C + l[1];
    uint64_t r1 = (uint64_t)t;
    t = (t >> 64) + (secp__u128)l[6] * SECP__FE_C + l[2];
    uint64_t r2 = (uint64_t)t;
    t = (t >> 64) + (secp__u128)l[7] * SECP__FE_C + l[3];
    uint64_t r3 = (uint64_t)t;
    uint64_t hi = (uint64_t)(t >> 64); /* < 2^34 */
    t = (secp__u128)hi * SECP__FE_C + r0;
    r0 = (uint64_t)t;
    t = (t >> 64) + r1;
    r1 = (uint64_t)t;
    t = (t >> 64) + r2;
    r2 = (uint64_t)t;
    t = (t >> 64) + r3;
    r3 = (uint64_t)t;
    /* A carry here leaves a value below 2^67 (r2 = r3 = 0, r1 small): fold
     * it in with one more add whose carry stops at r1. */
    t = (secp__u128)r0 + (uint64_t)(t >> 64) * SECP__FE_C;
    r0 = (uint64_t)t;
    r1 += (uint64_t)(t >> 64);
    r->v[0] = r0;
    r->v[1] = r1;
    r->v[2] = r2;
    r->v[3] = r3;
}

/* Multiply-accumulate into the 192-bit column accumulator (c0, c1, c2). */
#define SECP__MULADD(c0, c1, c2, a, b)         \
    do {                                       \
        secp__u128 t_ = (secp__u128)(a) * (b); \
        uint64_t th_ = (uint64_t)(t_ >> 64);   \
        uint64_t tl_ = (uint64_t)t_;           \
        c0 += tl_;                             \
        th_ += (c0 < tl_);                     \
        c1 += th_;                             \
        c2 += (c1 < th_);                      \
    } while (0)

/* Same, adding the product twice (for the cross terms of a square). th2_
 * is even after doubling, so the first +1 cannot wrap; the second can, and
 * then th2_ is 0 and the carry goes to c2. */
#define SECP__MULADD2(c0, c1, c2, a, b)        \
    do {                                       \
        secp__u128 t_ = (secp__u128)(a) * (b); \
        uint64_t th_ = (uint64_t)(t_ >> 64);   \
        uint64_t tl_ = (uint64_t)t_;           \
        uint64_t th2_ = th_ + th_;             \
        c2 += (th2_ < th_);                    \
        uint64_t tl2_ = tl_ + tl_;             \
        th2_ += (tl2_ < tl_);                  \
        c0 += tl2_;                            \
        uint64_t cy_ = (c0 < tl2_);            \
        th2_ += cy_;                           \
        c2 += cy_ & (th2_ == 0);               \
        c1 += th2_;                            \
        c2 += (c1 < th2_);                     \
    } while (0)

/* Shift the accumulator down one limb, emitting the low one. */
#define SECP__EXTRACT(c0, c1, c2, out) \
    do {                               \
        (out) = c0;                    \
        c0 = c1;                       \
        c1 = c2;                       \
        c2 = 0;                        \
    } while (0)

SECP__HOT void secp__fe_mul(secp__fe *r, const secp__fe *a, const secp__fe *b)
{
    const uint64_t a0 = a->v[0], a1 = a->v[1], a2 = a->v[2], a3 = a->v[3];
    const uint64_t b0 = b->v[0], b1 = b->v[1], b2 = b->v[2], b3 = b->v[3];
    uint64_t c0 = 0, c1 = 0, c2 = 0, l[8];
    SECP__MULADD(c0, c1, c2, a0, b0);
    SECP__EXTRACT(c0, c1, c2, l[0]);
    SECP__MULADD(c0, c1, c2, a0, b1);
    SECP__MULADD(c0, c1, c2, a1, b0);
    SECP__EXTRACT(c0, c1, c2, l[1]);
    SECP__MULADD(c0, c1, c2, a0, b2);
    SECP__MULADD(c0, c1, c2, a1, b1);
    SECP__MULADD(c0, c1, c2, a2, b0);
    SECP__EXTRACT(c0, c1, c2, l[2]);
    SECP__MULADD(c0, c1, c2, a0, b3);
    SECP__MULADD(c0, c1, c2, a1, b2);
    SECP__MULADD(c0, c1, c2, a2, b1);
    SECP__MULADD(c0, c1, c2, a3, b0);
    SECP__EXTRACT(c0, c1, c2, l[3]);
    SECP__MULADD(c0, c1, c2, a1, b3);
    SECP__MULADD(c0, c1, c2, a2, b2);
    SECP__MULADD(c0, c1, c2, a3, b1);
    SECP__EXTRACT(c0, c1, c2, l[4]);
    SECP__MULADD(c0, c1, c2, a2, b3);
    SECP__MULADD(c0, c1, c2, a3, b2);
    SECP__EXTRACT(c0, c1, c2, l[5]);
    SECP__MULADD(c0, c1, c2, a3, b3);
    SECP__EXTRACT(c0, c1, c2, l[6]);
    l[7] = c0;
    secp__fe_reduce512(r, l);
}

SECP__HOT void secp__fe_sqr(secp__fe *r, const secp__fe *a)
{
    const uint64_t a0 = a->v[0], a1 = a->v[1], a2 = a->v[2], a3 = a->v[3];
    uint64_t c0 = 0, c1 = 0, c2 = 0, l[8];
    SECP__MULADD(c0, c1, c2, a0, a0);
    SECP__EXTRACT(c0, c1, c2, l[0]);
    SECP__MULADD2(c0, c1, c2, a0, a1);
    SECP__EXTRACT(c0, c1, c2, l[1]);
    SECP__MULADD2(c0, c1, c2, a0, a2);
    SECP__MULADD(c0, c1, c2, a1, a1);
    SECP__EXTRACT(c0, c1, c2, l[2]);
    SECP__MULADD2(c0, c1, c2, a0, a3);
    SECP__MULADD2(c0, c1, c2, a1, a2);
    SECP__EXTRACT(c0, c1, c2, l[3]);
    SECP__MULADD2(c0, c1, c2, a1, a3);
    SECP__MULADD(c0, c1, c2, a2, a2);
    SECP__EXTRACT(c0, c1, c2, l[4]);
    SECP__MULADD2(c0, c1, c2, a2, a3);
    SECP__EXTRACT(c0, c1, c2, l[5]);
    SECP__MULADD(c0, c1, c2, a3, a3);
    SECP__EXTRACT(c0, c1, c2, l[6]);
    l[7] = c0;
    secp__fe_reduce512(r, l);
}

/* r = a^(2^k) */
static inline void secp__fe_sqr_n(secp__fe *r, const secp__fe *a, int k)
{
    *r = *a;
    for (int i = 0; i < k; i++) secp__fe_sqr(r, r);
}

/* The part the square root and the inverse share (libsecp256k1's chain):
 * t = a^(2^246 - 2^23 + 2^22 - 1) (223 ones, a zero, 22 ones) and
 * x2 = a^3, from which each finishes its own exponent's low bits. */
static inline void secp__fe_pow_head(secp__fe *t, secp__fe *x2, const secp__fe *a)
{
    secp__fe x3, x6, x9, x11, x22, x44, x88, x176, x220, x223;
    secp__fe_sqr(x2, a);
    secp__fe_mul(x2, x2, a);
    secp__fe_sqr(&x3, x2);
    secp__fe_mul(&x3, &x3, a);
    secp__fe_sqr_n(&x6, &x3, 3);
    secp__fe_mul(&x6, &x6, &x3);
    secp__fe_sqr_n(&x9, &x6, 3);
    secp__fe_mul(&x9, &x9, &x3);
    secp__fe_sqr_n(&x11, &x9, 2);
    secp__fe_mul(&x11, &x11, x2);
    secp__fe_sqr_n(&x22, &x11, 11);
    secp__fe_mul(&x22, &x22, &x11);
    secp__fe_sqr_n(&x44, &x22, 22);
    secp__fe_mul(&x44, &x44, &x22);
    secp__fe_sqr_n(&x88, &x44, 44);
    secp__fe_mul(&x88, &x88, &x44);
    secp__fe_sqr_n(&x176, &x88, 88);
    secp__fe_mul(&x176, &x176, &x88);
    secp__fe_sqr_n(&x220, &x176, 44);
    secp__fe_mul(&x220, &x220, &x44);
    secp__fe_sqr_n(&x223, &x220, 3);
    secp__fe_mul(&x223, &x223, &x3);
    secp__fe_sqr_n(t, &x223, 23);
    secp__fe_mul(t, t, &x22);
}

/* r = a^((p+1)/4), a square root of a when one exists; returns 1 if r^2 == a.
 * (p+1)/4 in binary: 223 ones, a zero, 22 ones, four zeros, 2 ones, two
 * zeros; the chain builds 2^k - 1 powers for the blocks (libsecp256k1's). */
static inline int secp__fe_sqrt(secp__fe *r, const secp__fe *a)
{
    secp__fe x2, t;
    secp__fe_pow_head(&t, &x2, a);
    secp__fe_sqr_n(&t, &t, 6);
    secp__fe_mul(&t, &t, &x2);
    secp__fe_sqr_n(&t, &t, 2);
    secp__fe chk;
    secp__fe_sqr(&chk, &t);
    secp__fe_sub(&chk, &chk, a);
    *r = t;
    return secp__fe_is_zero(&chk);
}

/* SECP__LANES independent square roots at once: the same chain as
 * secp__fe_sqrt, each step done for every lane in turn, so that the
 * out-of-order core overlaps the lanes' multiplications (one chain alone is
 * latency-bound). ok[i] as secp__fe_sqrt's result. */
#define SECP__LANES 4

static inline void secp__fe_mul_l(secp__fe *r, const secp__fe *a, const secp__fe *b)
{
    for (int l = 0; l < SECP__LANES; l++) secp__fe_mul(&r[l], &a[l], &b[l]);
}

static inline void secp__fe_sqr_nl(secp__fe *r, const secp__fe *a, int k)
{
    for (int l = 0; l < SECP__LANES; l++) r[l] = a[l];
    for (int i = 0; i < k; i++)
        for (int l = 0; l < SECP__LANES; l++) secp__fe_sqr(&r[l], &r[l]);
}

static inline void secp__fe_sqrt_lanes(secp__fe r[SECP__LANES], int ok[SECP__LANES],
                                       const secp__fe a[SECP__LANES])
{
    secp__fe x2[SECP__LANES], x3[SECP__LANES], x6[SECP__LANES], x9[SECP__LANES];
    secp__fe x11[SECP__LANES], x22[SECP__LANES], x44[SECP__LANES], x88[SECP__LANES];
    secp__fe x176[SECP__LANES], x220[SECP__LANES], x223[SECP__LANES], t[SECP__LANES];
    secp__fe_sqr_nl(x2, a, 1);
    secp__fe_mul_l(x2, x2, a);
    secp__fe_sqr_nl(x3, x2, 1);
    secp__fe_mul_l(x3, x3, a);
    secp__fe_sqr_nl(x6, x3, 3);
    secp__fe_mul_l(x6, x6, x3);
    secp__fe_sqr_nl(x9, x6, 3);
    secp__fe_mul_l(x9, x9, x3);
    secp__fe_sqr_nl(x11, x9, 2);
    secp__fe_mul_l(x11, x11, x2);
    secp__fe_sqr_nl(x22, x11, 11);
    secp__fe_mul_l(x22, x22, x11);
    secp__fe_sqr_nl(x44, x22, 22);
    secp__fe_mul_l(x44, x44, x22);
    secp__fe_sqr_nl(x88, x44, 44);
    secp__fe_mul_l(x88, x88, x44);
    secp__fe_sqr_nl(x176, x88, 88);
    secp__fe_mul_l(x176, x176, x88);
    secp__fe_sqr_nl(x220, x176, 44);
    secp__fe_mul_l(x220, x220, x44);
    secp__fe_sqr_nl(x223, x220, 3);
    secp__fe_mul_l(x223, x223, x3);
    secp__fe_sqr_nl(t, x223, 23);
    secp__fe_mul_l(t, t, x22);
    secp__fe_sqr_nl(t, t, 6);
    secp__fe_mul_l(t, t, x2);
    secp__fe_sqr_nl(t, t, 2);
    for (int l = 0; l < SECP__LANES; l++) {
        secp__fe chk;
        secp__fe_sqr(&chk, &t[l]);
        secp__fe_sub(&chk, &chk, &a[l]);
        r[l] = t[l];
        ok[l] = secp__fe_is_zero(&chk);
    }
}

/* r = a^(p-2) = 1/a (0 for 0). p - 2 in binary: 223 ones, a zero, 22 ones,
 * then 0000101101; the same chain as the square root (libsecp256k1's). */
static inline void secp__fe_inv(secp__fe *r, const secp__fe *a)
{
    secp__fe x2, t;
    secp__fe_pow_head(&t, &x2, a);
    secp__fe_sqr_n(&t, &t, 5);
    secp__fe_mul(&t, &t, a);
    secp__fe_sqr_n(&t, &t, 3);
    secp__fe_mul(&t, &t, &x2);
    secp__fe_sqr_n(&t, &t, 2);
    secp__fe_mul(r, &t, a);
}

/* r = a^(p-2) = 1/a (0 for 0). Plain square-and-multiply: only tests and
 * debugging use it, never the batch check. */
static inline void secp__fe_inv_slow(secp__fe *r, const secp__fe *a)
{
    uint64_t e[4];
    const uint64_t two[4] = {2, 0, 0, 0};
    secp__u256_sub(e, secp__fe_p.v, two);
    secp__fe acc;
    secp__fe_set_u64(&acc, 1);
    for (int i = 255; i >= 0; i--) {
        secp__fe_sqr(&acc, &acc);
        if ((e[i / 64] >> (i % 64)) & 1) secp__fe_mul(&acc, &acc, a);
    }
    *r = acc;
}

/* ---- scalars mod n ---- */

/* Reduce a 512-bit value mod n by folding the high half times 2^256 - n
 * into the low half until nothing is left above 2^256 (at most four rounds),
 * then subtracting n once if needed. */
static inline void secp__sc_reduce512(secp__sc *r, const uint64_t l[8])
{
    uint64_t x[8];
    memcpy(x, l, sizeof x);
    while ((x[4] | x[5] | x[6] | x[7]) != 0) {
        uint64_t y[8] = {x[0], x[1], x[2], x[3], 0, 0, 0, 0};
        for (int i = 0; i < 4; i++) {
            uint64_t carry = 0;
            for (int j = 0; j < 3; j++) {
                secp__u128 t = (secp__u128)x[4 + i] * secp__sc_d[j] + y[i + j] + carry;
                y[i + j] = (uint64_t)t;
                carry = (uint64_t)(t >> 64);
            }
            for (int k = i + 3; k < 8 && carry; k++) {
                secp__u128 t = (secp__u128)y[k] + carry;
                y[k] = (uint64_t)t;
                carry = (uint64_t)(t >> 64);
            }
        }
        memcpy(x, y, sizeof x);
    }
    if (secp__u256_cmp(x, secp__sc_n.v) >= 0) secp__u256_sub(x, x, secp__sc_n.v);
    memcpy(r->v, x, sizeof r->v);
}

/* Parse big-endian; returns 1 if the value was >= n (r then holds it mod n). */
static inline int secp__sc_set_b32(secp__sc *r, const uint8_t b[32])
{
    secp__u256_from_b32(r->v, b);
    if (secp__u256_cmp(r->v, secp__sc_n.v) >= 0) {
        secp__u256_sub(r->v, r->v, secp__sc_n.v);
        return 1;
    }
    return 0;
}

static inline int secp__sc_is_zero(const secp__sc *a)
{
    return (a->v[0] | a->v[1] | a->v[2] | a->v[3]) == 0;
}

static inline void secp__sc_add(secp__sc *r, const secp__sc *a, const secp__sc *b)
{
    uint64_t l[8] = {0};
    l[4] = secp__u256_add(l, a->v, b->v);
    secp__sc_reduce512(r, l);
}

static inline void secp__sc_mul(secp__sc *r, const secp__sc *a, const secp__sc *b)
{
    uint64_t l[8];
    secp__u256_mul(l, a->v, b->v);
    secp__sc_reduce512(r, l);
}

/* r = a^(n-2) = 1/a (0 for 0), 4-bit fixed window. */
static inline void secp__sc_inv(secp__sc *r, const secp__sc *a)
{
    secp__sc tab[16], acc;
    uint64_t e[4];
    const uint64_t two[4] = {2, 0, 0, 0};
    secp__u256_sub(e, secp__sc_n.v, two);
    memset(&tab[0], 0, sizeof tab[0]);
    tab[0].v[0] = 1;
    for (int i = 1; i < 16; i++) secp__sc_mul(&tab[i], &tab[i - 1], a);
    acc = tab[0];
    for (int i = 63; i >= 0; i--) {
        for (int k = 0; k < 4; k++) secp__sc_mul(&acc, &acc, &acc);
        unsigned nib = (unsigned)(e[i / 16] >> ((i % 16) * 4)) & 15;
        if (nib) secp__sc_mul(&acc, &acc, &tab[nib]);
    }
    *r = acc;
}

#endif
