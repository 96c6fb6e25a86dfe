/* Private to src/crypto (secp_batch.c and its tests): points of secp256k1,
 * y^2 = x^3 + 7 over the field of secp256k1_field.h, and the multi-scalar
 * multiplication behind secp_batch_check.
 *
 * Affine points (secp__ge) are never the point at infinity. Jacobian points
 * (secp__gej, x = X/Z^2, y = Y/Z^3) carry an explicit infinity flag. The
 * additions handle every exceptional case (an infinity input, equal inputs,
 * opposite inputs), since an adversary chooses the points in a batch.
 * Variable time (public data only). */
#ifndef TALLY_CRYPTO_SECP256K1_GROUP_H
#define TALLY_CRYPTO_SECP256K1_GROUP_H
#include <stddef.h>
#include "crypto/secp256k1_field.h"
#include "util/err.h"

typedef struct {
    secp__fe x, y;
} secp__ge;

typedef struct {
    secp__fe x, y, z;
    int inf;
} secp__gej;

/* The generator. */
static const secp__ge secp__ge_g = {
    {{0x59F2815B16F81798ULL, 0x029BFCDB2DCE28D9ULL, 0x55A06295CE870B07ULL, 0x79BE667EF9DCBBACULL}},
    {{0x9C47D08FFB10D4B8ULL, 0xFD17B448A6855419ULL, 0x5DA4FBFC0E1108A8ULL, 0x483ADA7726A3C465ULL}},
};

/* 1 if y^2 == x^3 + 7. */
static inline int secp__ge_is_valid(const secp__ge *a)
{
    secp__fe y2, x3, seven;
    secp__fe_sqr(&y2, &a->y);
    secp__fe_sqr(&x3, &a->x);
    secp__fe_mul(&x3, &x3, &a->x);
    secp__fe_set_u64(&seven, 7);
    secp__fe_add(&x3, &x3, &seven);
    secp__fe_sub(&y2, &y2, &x3);
    return secp__fe_is_zero(&y2);
}

/* The point with this x and a y of the given parity; 0 if x^3 + 7 is not a
 * square (no such point). r->y comes back normalised. */
static inline int secp__ge_set_xo(secp__ge *r, const secp__fe *x, int odd)
{
    secp__fe x3, seven;
    secp__fe_sqr(&x3, x);
    secp__fe_mul(&x3, &x3, x);
    secp__fe_set_u64(&seven, 7);
    secp__fe_add(&x3, &x3, &seven);
    if (!secp__fe_sqrt(&r->y, &x3)) return 0;
    r->x = *x;
    secp__fe_normalize(&r->y);
    if ((int)(r->y.v[0] & 1) != odd) {
        secp__fe_neg(&r->y, &r->y);
        secp__fe_normalize(&r->y);
    }
    return 1;
}

static inline void secp__ge_neg(secp__ge *r, const secp__ge *a)
{
    r->x = a->x;
    secp__fe_neg(&r->y, &a->y);
}

static inline void secp__gej_set_inf(secp__gej *r)
{
    memset(r, 0, sizeof *r);
    r->inf = 1;
}

static inline void secp__gej_set_ge(secp__gej *r, const secp__ge *a)
{
    r->x = a->x;
    r->y = a->y;
    secp__fe_set_u64(&r->z, 1);
    r->inf = 0;
}

/* r = 2a (dbl-2009-l, 2M + 5S). r may alias a. Y is never 0 on this curve
 * (the group has odd order), so the double of a finite point is finite. */
static inline void secp__gej_double(secp__gej *r, const secp__gej *a)
{
    if (a->inf) {
        secp__gej_set_inf(r);
        return;
    }
    secp__fe A, B, C, D, E, F, t;
    secp__fe_mul(&t, &a->y, &a->z);
    secp__fe_sqr(&A, &a->x);
    secp__fe_sqr(&B, &a->y);
    secp__fe_sqr(&C, &B);
    secp__fe_add(&D, &a->x, &B);
    secp__fe_sqr(&D, &D);
    secp__fe_sub(&D, &D, &A);
    secp__fe_sub(&D, &D, &C);
    secp__fe_add(&D, &D, &D);
    secp__fe_add(&E, &A, &A);
    secp__fe_add(&E, &E, &A);
    secp__fe_sqr(&F, &E);
    secp__fe_add(&r->z, &t, &t);
    secp__fe_sub(&r->x, &F, &D);
    secp__fe_sub(&r->x, &r->x, &D);
    secp__fe_sub(&t, &D, &r->x);
    secp__fe_mul(&t, &E, &t);
    secp__fe_add(&C, &C, &C);
    secp__fe_add(&C, &C, &C);
    secp__fe_add(&C, &C, &C);
    secp__fe_sub(&r->y, &t, &C);
    r->inf = 0;
}

/* The common end of both additions: X3 = rr^2 - hhh - 2v and
 * Y3 = rr (v - X3) - t (Z3 already set). Clobbers v. */
static inline void secp__gej_add_finish(secp__gej *r, const secp__fe *rr, const secp__fe *hhh,
                                        secp__fe *v, const secp__fe *t)
{
    secp__fe_sqr(&r->x, rr);
    secp__fe_sub(&r->x, &r->x, hhh);
    secp__fe_sub(&r->x, &r->x, v);
    secp__fe_sub(&r->x, &r->x, v);
    secp__fe_sub(v, v, &r->x);
    secp__fe_mul(v, v, rr);
    secp__fe_sub(&r->y, v, t);
    r->inf = 0;
}

/* r = a + b with b affine (8M + 3S). r may alias a. */
static inline void secp__gej_add_ge(secp__gej *r, const secp__gej *a, const secp__ge *b)
{
    if (a->inf) {
        secp__gej_set_ge(r, b);
        return;
    }
    secp__fe z1z1, u2, s2, h, rr, hh, hhh, v, t;
    secp__fe_sqr(&z1z1, &a->z);
    secp__fe_mul(&u2, &b->x, &z1z1);
    secp__fe_mul(&s2, &b->y, &a->z);
    secp__fe_mul(&s2, &s2, &z1z1);
    secp__fe_sub(&h, &u2, &a->x);
    secp__fe_sub(&rr, &s2, &a->y);
    if (secp__fe_is_zero(&h)) {
        if (secp__fe_is_zero(&rr)) {
            secp__gej_double(r, a); /* a == b */
        } else {
            secp__gej_set_inf(r); /* a == -b */
        }
        return;
    }
    secp__fe_sqr(&hh, &h);
    secp__fe_mul(&hhh, &h, &hh);
    secp__fe_mul(&v, &a->x, &hh);
    secp__fe_mul(&r->z, &a->z, &h);
    secp__fe_mul(&t, &a->y, &hhh);
    secp__gej_add_finish(r, &rr, &hhh, &v, &t);
}

/* r = a + b (12M + 4S). r may alias a or b. */
static inline void secp__gej_add(secp__gej *r, const secp__gej *a, const secp__gej *b)
{
    if (a->inf) {
        *r = *b;
        return;
    }
    if (b->inf) {
        *r = *a;
        return;
    }
    secp__fe z1z1, z2z2, u1, u2, s1, s2, h, rr, hh, hhh, v, t;
    secp__fe_sqr(&z1z1, &a->z);
    secp__fe_sqr(&z2z2, &b->z);
    secp__fe_mul(&u1, &a->x, &z2z2);
    secp__fe_mul(&u2, &b->x, &z1z1);
    secp__fe_mul(&s1, &a->y, &b->z);
    secp__fe_mul(&s1, &s1, &z2z2);
    secp__fe_mul(&s2, &b->y, &a->z);
    secp__fe_mul(&s2, &s2, &z1z1);
    secp__fe_sub(&h, &u2, &u1);
    secp__fe_sub(&rr, &s2, &s1);
    if (secp__fe_is_zero(&h)) {
        if (secp__fe_is_zero(&rr)) {
            secp__gej_double(r, a);
        } else {
            secp__gej_set_inf(r);
        }
        return;
    }
    secp__fe_sqr(&hh, &h);
    secp__fe_mul(&hhh, &h, &hh);
    secp__fe_mul(&v, &u1, &hh);
    secp__fe_mul(&t, &a->z, &b->z);
    secp__fe_mul(&r->z, &t, &h);
    secp__fe_mul(&t, &s1, &hhh);
    secp__gej_add_finish(r, &rr, &hhh, &v, &t);
}

/* 1 if a is the point at infinity. */
static inline int secp__gej_is_inf(const secp__gej *a)
{
    return a->inf || secp__fe_is_zero(&a->z);
}

/* Multi-scalar multiplication, Pippenger's bucket method with signed w-bit
 * digits: *r = sum of k[i] * p[i] for i < n. Buckets of all windows are kept
 * affine and filled with batched affine additions (one field inversion per
 * 256 additions); each window is then summed in Jacobian coordinates.
 * Scalars are any 256-bit values (normally < n); points are affine, finite
 * and on the curve; n < 2^31 / windows. window is the digit width in bits,
 * 2..15, or 0 to choose one from n and the scalars' lengths.
 * Errors: TALLY_ENOMEM (r untouched), TALLY_EINVAL (bad window). */
TALLY_WUR int secp__msm(secp__gej *r, const secp__ge *p, const secp__sc *k, size_t n, int window);

/* The window secp__msm picks for these scalars when passed 0. */
int secp__msm_window(const secp__sc *k, size_t n);

#endif
