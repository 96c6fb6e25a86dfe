/* alt_bn128 (BN254): y^2 = x^3 + 3 over Fp; G2 on the D-type sextic twist
 * y^2 = x^3 + 3/xi over Fp2, xi = 9 + u. Tower: Fp2 = Fp[u]/(u^2 + 1),
 * Fp6 = Fp2[v]/(v^3 - xi), Fp12 = Fp6[w]/(w^2 - v). Fp is 4x64-bit limbs in
 * Montgomery form. Written for clarity before speed: schoolbook Fp6,
 * affine Miller loop. Not constant time: every input here is public. */
#include "exec/evm/bn254.h"
#include <string.h>

typedef unsigned __int128 u128;

typedef struct {
    uint64_t l[4]; /* little-endian limbs, Montgomery form */
} fp;
typedef struct {
    fp c0, c1; /* c0 + c1 u */
} fp2;
typedef struct {
    fp2 c0, c1, c2; /* c0 + c1 v + c2 v^2 */
} fp6;
typedef struct {
    fp6 c0, c1; /* c0 + c1 w */
} fp12;

/* p, -p^-1 mod 2^64, R^2 mod p, R mod p (R = 2^256). */
static const fp P = {
    {0x3c208c16d87cfd47ULL, 0x97816a916871ca8dULL, 0xb85045b68181585dULL, 0x30644e72e131a029ULL}};
static const uint64_t P_INV = 0x87d20782e4866389ULL;
static const fp R2 = {
    {0xf32cfc5b538afa89ULL, 0xb5e71911d44501fbULL, 0x47ab1eff0a417ff6ULL, 0x06d89f71cab8351fULL}};
static const fp FP_ONE = {
    {0xd35d438dc58f0d9dULL, 0x0a78eb28f5c70b3dULL, 0x666ea36f7879462cULL, 0x0e0a77c19a07df2fULL}};
/* p - 2 (Fermat inversion), (p - 1) / 6 (Frobenius constants). */
static const uint64_t P_MINUS_2[4] = {0x3c208c16d87cfd45ULL, 0x97816a916871ca8dULL,
                                      0xb85045b68181585dULL, 0x30644e72e131a029ULL};
static const uint64_t P_MINUS_1_DIV_6[4] = {0x34b017592414d4e1ULL, 0xee9591c2e6bda1c2ULL,
                                            0xf40d60f3c0403964ULL, 0x0810b7bdd032f006ULL};
/* The group order r, big-endian bits used for the G2 subgroup check. */
static const uint64_t ORDER_R[4] = {0x43e1f593f0000001ULL, 0x2833e84879b97091ULL,
                                    0xb85045b68181585dULL, 0x30644e72e131a029ULL};
/* 6u + 2, u = 4965661367192848881: the optimal ate loop count (65 bits). */
static const uint64_t ATE_LOOP[2] = {0x9d797039be763ba8ULL, 0x1ULL};
#define ATE_LOOP_BITS 65
/* The BN parameter u (63 bits). */
static const uint64_t BN_U = 4965661367192848881ULL;
#define BN_U_BITS 63

static int bit_at(const uint64_t *e, int i)
{
    return (int)(e[i / 64] >> (i % 64) & 1);
}

/* ---- Fp ---- */

static int fp_geq_p(const uint64_t a[4])
{
    for (int i = 3; i >= 0; i--) {
        if (a[i] != P.l[i]) return a[i] > P.l[i];
    }
    return 1;
}

/* r = a - p over 4 limbs; returns the borrow. */
static uint64_t sub_p(uint64_t r[4], const uint64_t a[4])
{
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 d = (u128)a[i] - P.l[i] - borrow;
        r[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
    return borrow;
}

static void fp_add(fp *r, const fp *a, const fp *b)
{
    uint64_t s[4], carry = 0;
    for (int i = 0; i < 4; i++) {
        u128 t = (u128)a->l[i] + b->l[i] + carry;
        s[i] = (uint64_t)t;
        carry = (uint64_t)(t >> 64);
    }
    /* a, b < p < 2^254: no carry out of the top limb. */
    uint64_t d[4];
    if (!sub_p(d, s)) memcpy(s, d, sizeof s);
    memcpy(r->l, s, sizeof s);
}

static void fp_sub(fp *r, const fp *a, const fp *b)
{
    uint64_t s[4], borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 t = (u128)a->l[i] - b->l[i] - borrow;
        s[i] = (uint64_t)t;
        borrow = (uint64_t)(t >> 64) & 1;
    }
    if (borrow) {
        uint64_t carry = 0;
        for (int i = 0; i < 4; i++) {
            u128 t = (u128)s[i] + P.l[i] + carry;
            s[i] = (uint64_t)t;
            carry = (uint64_t)(t >> 64);
        }
    }
    memcpy(r->l, s, sizeof s);
}

static int fp_is_zero(const fp *a)
{
    return (a->l[0] | a->l[1] | a->l[2] | a->l[3]) == 0;
}

static int fp_eq(const fp *a, const fp *b)
{
    return memcmp(a->l, b->l, sizeof a->l) == 0;
}

static void fp_neg(fp *r, const fp *a)
{
    fp z = {{0}};
    fp_sub(r, &z, a);
}

/* Montgomery multiplication (CIOS): r = a * b / R mod p. */
static void fp_mul(fp *r, const fp *a, const fp *b)
{
    uint64_t t[6] = {0};
    for (int i = 0; i < 4; i++) {
        u128 c = 0;
        for (int j = 0; j < 4; j++) {
            c += (u128)a->l[j] * b->l[i] + t[j];
            t[j] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[4] = (uint64_t)c;
        t[5] = (uint64_t)(c >> 64);

        uint64_t m = t[0] * P_INV;
        c = ((u128)m * P.l[0] + t[0]) >> 64;
        for (int j = 1; j < 4; j++) {
            c += (u128)m * P.l[j] + t[j];
            t[j - 1] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[3] = (uint64_t)c;
        t[4] = t[5] + (uint64_t)(c >> 64);
    }
    uint64_t d[4];
    uint64_t borrow = sub_p(d, t);
    if (t[4] || !borrow)
        memcpy(r->l, d, sizeof d);
    else
        memcpy(r->l, t, 4 * sizeof t[0]);
}

static void fp_sqr(fp *r, const fp *a)
{
    fp_mul(r, a, a);
}

static void fp_pow(fp *r, const fp *a, const uint64_t *e, int bits)
{
    fp acc = FP_ONE;
    for (int i = bits - 1; i >= 0; i--) {
        fp_sqr(&acc, &acc);
        if (bit_at(e, i)) fp_mul(&acc, &acc, a);
    }
    *r = acc;
}

static void fp_inv(fp *r, const fp *a)
{
    fp_pow(r, a, P_MINUS_2, 254);
}

/* Parse a big-endian 32-byte value; -1 if it is not below p. */
static int fp_from_bytes(fp *r, const uint8_t b[32])
{
    uint64_t l[4];
    for (int i = 0; i < 4; i++) {
        uint64_t v = 0;
        for (int j = 0; j < 8; j++) v = v << 8 | b[(3 - i) * 8 + j];
        l[i] = v;
    }
    if (fp_geq_p(l)) return -1;
    fp x;
    memcpy(x.l, l, sizeof l);
    fp_mul(r, &x, &R2);
    return 0;
}

static void fp_to_bytes(uint8_t b[32], const fp *a)
{
    fp one = {{1, 0, 0, 0}}, x;
    fp_mul(&x, a, &one);
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 8; j++) b[(3 - i) * 8 + j] = (uint8_t)(x.l[i] >> (56 - 8 * j));
    }
}

static void fp_from_u64(fp *r, uint64_t v)
{
    fp x = {{v, 0, 0, 0}};
    fp_mul(r, &x, &R2);
}

/* ---- Fp2 ---- */

static void fp2_add(fp2 *r, const fp2 *a, const fp2 *b)
{
    fp_add(&r->c0, &a->c0, &b->c0);
    fp_add(&r->c1, &a->c1, &b->c1);
}

static void fp2_sub(fp2 *r, const fp2 *a, const fp2 *b)
{
    fp_sub(&r->c0, &a->c0, &b->c0);
    fp_sub(&r->c1, &a->c1, &b->c1);
}

static void fp2_neg(fp2 *r, const fp2 *a)
{
    fp_neg(&r->c0, &a->c0);
    fp_neg(&r->c1, &a->c1);
}

static void fp2_conj(fp2 *r, const fp2 *a)
{
    r->c0 = a->c0;
    fp_neg(&r->c1, &a->c1);
}

static void fp2_mul(fp2 *r, const fp2 *a, const fp2 *b)
{
    fp t0, t1, s0, s1, t2;
    fp_mul(&t0, &a->c0, &b->c0);
    fp_mul(&t1, &a->c1, &b->c1);
    fp_add(&s0, &a->c0, &a->c1);
    fp_add(&s1, &b->c0, &b->c1);
    fp_mul(&t2, &s0, &s1);
    fp_sub(&r->c0, &t0, &t1);
    fp_sub(&t2, &t2, &t0);
    fp_sub(&r->c1, &t2, &t1);
}

static void fp2_sqr(fp2 *r, const fp2 *a)
{
    fp2_mul(r, a, a);
}

static void fp2_mul_fp(fp2 *r, const fp2 *a, const fp *b)
{
    fp_mul(&r->c0, &a->c0, b);
    fp_mul(&r->c1, &a->c1, b);
}

/* r = a * xi = a * (9 + u) */
static void fp2_mul_xi(fp2 *r, const fp2 *a)
{
    fp2 t8, t9;
    fp2_add(&t8, a, a);
    fp2_add(&t8, &t8, &t8);
    fp2_add(&t8, &t8, &t8);
    fp2_add(&t9, &t8, a); /* 9a */
    fp c0, c1;
    fp_sub(&c0, &t9.c0, &a->c1);
    fp_add(&c1, &t9.c1, &a->c0);
    r->c0 = c0;
    r->c1 = c1;
}

static void fp2_inv(fp2 *r, const fp2 *a)
{
    fp t0, t1;
    fp_sqr(&t0, &a->c0);
    fp_sqr(&t1, &a->c1);
    fp_add(&t0, &t0, &t1);
    fp_inv(&t0, &t0);
    fp_mul(&r->c0, &a->c0, &t0);
    fp_mul(&t1, &a->c1, &t0);
    fp_neg(&r->c1, &t1);
}

static int fp2_is_zero(const fp2 *a)
{
    return fp_is_zero(&a->c0) && fp_is_zero(&a->c1);
}

static int fp2_eq(const fp2 *a, const fp2 *b)
{
    return fp_eq(&a->c0, &b->c0) && fp_eq(&a->c1, &b->c1);
}

static void fp2_pow(fp2 *r, const fp2 *a, const uint64_t *e, int bits)
{
    fp2 acc = {FP_ONE, {{0}}};
    for (int i = bits - 1; i >= 0; i--) {
        fp2_sqr(&acc, &acc);
        if (bit_at(e, i)) fp2_mul(&acc, &acc, a);
    }
    *r = acc;
}

/* ---- Fp6 ---- */

static void fp6_add(fp6 *r, const fp6 *a, const fp6 *b)
{
    fp2_add(&r->c0, &a->c0, &b->c0);
    fp2_add(&r->c1, &a->c1, &b->c1);
    fp2_add(&r->c2, &a->c2, &b->c2);
}

static void fp6_sub(fp6 *r, const fp6 *a, const fp6 *b)
{
    fp2_sub(&r->c0, &a->c0, &b->c0);
    fp2_sub(&r->c1, &a->c1, &b->c1);
    fp2_sub(&r->c2, &a->c2, &b->c2);
}

static void fp6_neg(fp6 *r, const fp6 *a)
{
    fp2_neg(&r->c0, &a->c0);
    fp2_neg(&r->c1, &a->c1);
    fp2_neg(&r->c2, &a->c2);
}

static void fp6_mul(fp6 *r, const fp6 *a, const fp6 *b)
{
    fp2 t, u, c0, c1, c2;
    /* c0 = a0 b0 + xi (a1 b2 + a2 b1) */
    fp2_mul(&t, &a->c1, &b->c2);
    fp2_mul(&u, &a->c2, &b->c1);
    fp2_add(&t, &t, &u);
    fp2_mul_xi(&t, &t);
    fp2_mul(&u, &a->c0, &b->c0);
    fp2_add(&c0, &t, &u);
    /* c1 = a0 b1 + a1 b0 + xi a2 b2 */
    fp2_mul(&t, &a->c2, &b->c2);
    fp2_mul_xi(&t, &t);
    fp2_mul(&u, &a->c0, &b->c1);
    fp2_add(&t, &t, &u);
    fp2_mul(&u, &a->c1, &b->c0);
    fp2_add(&c1, &t, &u);
    /* c2 = a0 b2 + a1 b1 + a2 b0 */
    fp2_mul(&t, &a->c0, &b->c2);
    fp2_mul(&u, &a->c1, &b->c1);
    fp2_add(&t, &t, &u);
    fp2_mul(&u, &a->c2, &b->c0);
    fp2_add(&c2, &t, &u);
    r->c0 = c0;
    r->c1 = c1;
    r->c2 = c2;
}

/* r = a * v */
static void fp6_mul_v(fp6 *r, const fp6 *a)
{
    fp2 t;
    fp2_mul_xi(&t, &a->c2);
    r->c2 = a->c1;
    r->c1 = a->c0;
    r->c0 = t;
}

static void fp6_inv(fp6 *r, const fp6 *a)
{
    fp2 t0, t1, t2, s, d;
    /* t0 = a0^2 - xi a1 a2; t1 = xi a2^2 - a0 a1; t2 = a1^2 - a0 a2 */
    fp2_sqr(&t0, &a->c0);
    fp2_mul(&s, &a->c1, &a->c2);
    fp2_mul_xi(&s, &s);
    fp2_sub(&t0, &t0, &s);
    fp2_sqr(&t1, &a->c2);
    fp2_mul_xi(&t1, &t1);
    fp2_mul(&s, &a->c0, &a->c1);
    fp2_sub(&t1, &t1, &s);
    fp2_sqr(&t2, &a->c1);
    fp2_mul(&s, &a->c0, &a->c2);
    fp2_sub(&t2, &t2, &s);
    /* d = a0 t0 + xi (a2 t1 + a1 t2) */
    fp2_mul(&d, &a->c2, &t1);
    fp2_mul(&s, &a->c1, &t2);
    fp2_add(&d, &d, &s);
    fp2_mul_xi(&d, &d);
    fp2_mul(&s, &a->c0, &t0);
    fp2_add(&d, &d, &s);
    fp2_inv(&d, &d);
    fp2_mul(&r->c0, &t0, &d);
    fp2_mul(&r->c1, &t1, &d);
    fp2_mul(&r->c2, &t2, &d);
}

/* ---- Fp12 ---- */

static void fp12_one(fp12 *r)
{
    memset(r, 0, sizeof *r);
    r->c0.c0.c0 = FP_ONE;
}

static int fp12_is_one(const fp12 *a)
{
    fp12 one;
    fp12_one(&one);
    return memcmp(a, &one, sizeof one) == 0;
}

static void fp12_mul(fp12 *r, const fp12 *a, const fp12 *b)
{
    fp6 t0, t1, s0, s1, c1;
    fp6_mul(&t0, &a->c0, &b->c0);
    fp6_mul(&t1, &a->c1, &b->c1);
    fp6_add(&s0, &a->c0, &a->c1);
    fp6_add(&s1, &b->c0, &b->c1);
    fp6_mul(&c1, &s0, &s1);
    fp6_sub(&c1, &c1, &t0);
    fp6_sub(&r->c1, &c1, &t1);
    fp6_mul_v(&t1, &t1);
    fp6_add(&r->c0, &t0, &t1);
}

static void fp12_sqr(fp12 *r, const fp12 *a)
{
    fp12_mul(r, a, a);
}

static void fp12_conj(fp12 *r, const fp12 *a)
{
    r->c0 = a->c0;
    fp6_neg(&r->c1, &a->c1);
}

static void fp12_inv(fp12 *r, const fp12 *a)
{
    /* (a0 + a1 w)^-1 = (a0 - a1 w) / (a0^2 - v a1^2) */
    fp6 t0, t1;
    fp6_mul(&t0, &a->c0, &a->c0);
    fp6_mul(&t1, &a->c1, &a->c1);
    fp6_mul_v(&t1, &t1);
    fp6_sub(&t0, &t0, &t1);
    fp6_inv(&t0, &t0);
    fp6_mul(&r->c0, &a->c0, &t0);
    fp6_mul(&t1, &a->c1, &t0);
    fp6_neg(&r->c1, &t1);
}

/* Per-call constants: gamma[i] = xi^(i (p-1) / 6), i = 0..5, and the twist's b. */
struct bn_consts {
    fp2 gamma[6];
    fp2 twist_b;
};

static void bn_consts_init(struct bn_consts *k)
{
    fp2 xi = {{{0}}, {{0}}};
    fp_from_u64(&xi.c0, 9);
    xi.c1 = FP_ONE;
    k->gamma[0] = (fp2){FP_ONE, {{0}}};
    fp2_pow(&k->gamma[1], &xi, P_MINUS_1_DIV_6, 254);
    for (int i = 2; i < 6; i++) fp2_mul(&k->gamma[i], &k->gamma[i - 1], &k->gamma[1]);
    fp2 xi_inv;
    fp2_inv(&xi_inv, &xi);
    fp three;
    fp_from_u64(&three, 3);
    fp2_mul_fp(&k->twist_b, &xi_inv, &three);
}

/* r = a^p. Written in the basis 1, w, ..., w^5 (w^6 = xi) the coefficients
 * are (a.c0.c0, a.c1.c0, a.c0.c1, a.c1.c1, a.c0.c2, a.c1.c2), and
 * (c w^i)^p = conj(c) gamma[i] w^i. */
static void fp12_frob(fp12 *r, const fp12 *a, const struct bn_consts *k)
{
    fp2 t;
    fp2_conj(&t, &a->c0.c0);
    r->c0.c0 = t; /* gamma[0] = 1 */
    fp2_conj(&t, &a->c1.c0);
    fp2_mul(&r->c1.c0, &t, &k->gamma[1]);
    fp2_conj(&t, &a->c0.c1);
    fp2_mul(&r->c0.c1, &t, &k->gamma[2]);
    fp2_conj(&t, &a->c1.c1);
    fp2_mul(&r->c1.c1, &t, &k->gamma[3]);
    fp2_conj(&t, &a->c0.c2);
    fp2_mul(&r->c0.c2, &t, &k->gamma[4]);
    fp2_conj(&t, &a->c1.c2);
    fp2_mul(&r->c1.c2, &t, &k->gamma[5]);
}

/* ---- G1: Jacobian coordinates over Fp, Z = 0 is infinity ---- */

struct g1 {
    fp x, y, z;
};

static void g1_dbl(struct g1 *r, const struct g1 *p)
{
    if (fp_is_zero(&p->z) || fp_is_zero(&p->y)) {
        memset(r, 0, sizeof *r);
        return;
    }
    fp a, b, c, d, e, f, t;
    fp_sqr(&a, &p->x);
    fp_sqr(&b, &p->y);
    fp_sqr(&c, &b);
    fp_add(&t, &p->x, &b);
    fp_sqr(&t, &t);
    fp_sub(&t, &t, &a);
    fp_sub(&t, &t, &c);
    fp_add(&d, &t, &t);
    fp_add(&e, &a, &a);
    fp_add(&e, &e, &a);
    fp_sqr(&f, &e);
    fp z3;
    fp_mul(&z3, &p->y, &p->z);
    fp_add(&z3, &z3, &z3);
    fp x3;
    fp_sub(&x3, &f, &d);
    fp_sub(&x3, &x3, &d);
    fp y3;
    fp_sub(&t, &d, &x3);
    fp_mul(&y3, &e, &t);
    fp_add(&c, &c, &c);
    fp_add(&c, &c, &c);
    fp_add(&c, &c, &c);
    fp_sub(&y3, &y3, &c);
    r->x = x3;
    r->y = y3;
    r->z = z3;
}

static void g1_add(struct g1 *r, const struct g1 *p, const struct g1 *q)
{
    if (fp_is_zero(&p->z)) {
        *r = *q;
        return;
    }
    if (fp_is_zero(&q->z)) {
        *r = *p;
        return;
    }
    fp z1z1, z2z2, u1, u2, s1, s2, h, i, j, rr, v, t;
    fp_sqr(&z1z1, &p->z);
    fp_sqr(&z2z2, &q->z);
    fp_mul(&u1, &p->x, &z2z2);
    fp_mul(&u2, &q->x, &z1z1);
    fp_mul(&s1, &p->y, &q->z);
    fp_mul(&s1, &s1, &z2z2);
    fp_mul(&s2, &q->y, &p->z);
    fp_mul(&s2, &s2, &z1z1);
    fp_sub(&h, &u2, &u1);
    fp_sub(&rr, &s2, &s1);
    if (fp_is_zero(&h)) {
        if (fp_is_zero(&rr))
            g1_dbl(r, p);
        else
            memset(r, 0, sizeof *r);
        return;
    }
    fp_add(&rr, &rr, &rr);
    fp_add(&i, &h, &h);
    fp_sqr(&i, &i);
    fp_mul(&j, &h, &i);
    fp_mul(&v, &u1, &i);
    fp x3, y3, z3;
    fp_sqr(&x3, &rr);
    fp_sub(&x3, &x3, &j);
    fp_sub(&x3, &x3, &v);
    fp_sub(&x3, &x3, &v);
    fp_sub(&t, &v, &x3);
    fp_mul(&y3, &rr, &t);
    fp_mul(&t, &s1, &j);
    fp_add(&t, &t, &t);
    fp_sub(&y3, &y3, &t);
    fp_add(&z3, &p->z, &q->z);
    fp_sqr(&z3, &z3);
    fp_sub(&z3, &z3, &z1z1);
    fp_sub(&z3, &z3, &z2z2);
    fp_mul(&z3, &z3, &h);
    r->x = x3;
    r->y = y3;
    r->z = z3;
}

/* Decode an affine point; (0, 0) is infinity. -1 if a coordinate is >= p or
 * the point is not on y^2 = x^3 + 3. */
static int g1_from_bytes(struct g1 *r, const uint8_t in[64])
{
    fp x, y;
    if (fp_from_bytes(&x, in) || fp_from_bytes(&y, in + 32)) return -1;
    if (fp_is_zero(&x) && fp_is_zero(&y)) {
        memset(r, 0, sizeof *r);
        return 0;
    }
    fp lhs, rhs, three;
    fp_sqr(&lhs, &y);
    fp_sqr(&rhs, &x);
    fp_mul(&rhs, &rhs, &x);
    fp_from_u64(&three, 3);
    fp_add(&rhs, &rhs, &three);
    if (!fp_eq(&lhs, &rhs)) return -1;
    r->x = x;
    r->y = y;
    r->z = FP_ONE;
    return 0;
}

static void g1_to_bytes(uint8_t out[64], const struct g1 *p)
{
    if (fp_is_zero(&p->z)) {
        memset(out, 0, 64);
        return;
    }
    fp zi, zi2, x, y;
    fp_inv(&zi, &p->z);
    fp_sqr(&zi2, &zi);
    fp_mul(&x, &p->x, &zi2);
    fp_mul(&zi2, &zi2, &zi);
    fp_mul(&y, &p->y, &zi2);
    fp_to_bytes(out, &x);
    fp_to_bytes(out + 32, &y);
}

int bn254__g1_add(uint8_t out[64], const uint8_t in[128])
{
    struct g1 a, b;
    if (g1_from_bytes(&a, in) || g1_from_bytes(&b, in + 64)) return TALLY_EINVAL;
    g1_add(&a, &a, &b);
    g1_to_bytes(out, &a);
    return 0;
}

int bn254__g1_mul(uint8_t out[64], const uint8_t in[96])
{
    struct g1 p, acc;
    if (g1_from_bytes(&p, in)) return TALLY_EINVAL;
    memset(&acc, 0, sizeof acc);
    const uint8_t *k = in + 64;
    for (int i = 0; i < 256; i++) {
        g1_dbl(&acc, &acc);
        if (k[i / 8] >> (7 - i % 8) & 1) g1_add(&acc, &acc, &p);
    }
    g1_to_bytes(out, &acc);
    return 0;
}

/* ---- G2: Jacobian over Fp2 (subgroup check), affine (Miller loop) ---- */

struct g2 {
    fp2 x, y, z;
};

static void g2_dbl(struct g2 *r, const struct g2 *p)
{
    if (fp2_is_zero(&p->z) || fp2_is_zero(&p->y)) {
        memset(r, 0, sizeof *r);
        return;
    }
    fp2 a, b, c, d, e, f, t, x3, y3, z3;
    fp2_sqr(&a, &p->x);
    fp2_sqr(&b, &p->y);
    fp2_sqr(&c, &b);
    fp2_add(&t, &p->x, &b);
    fp2_sqr(&t, &t);
    fp2_sub(&t, &t, &a);
    fp2_sub(&t, &t, &c);
    fp2_add(&d, &t, &t);
    fp2_add(&e, &a, &a);
    fp2_add(&e, &e, &a);
    fp2_sqr(&f, &e);
    fp2_mul(&z3, &p->y, &p->z);
    fp2_add(&z3, &z3, &z3);
    fp2_sub(&x3, &f, &d);
    fp2_sub(&x3, &x3, &d);
    fp2_sub(&t, &d, &x3);
    fp2_mul(&y3, &e, &t);
    fp2_add(&c, &c, &c);
    fp2_add(&c, &c, &c);
    fp2_add(&c, &c, &c);
    fp2_sub(&y3, &y3, &c);
    r->x = x3;
    r->y = y3;
    r->z = z3;
}

static void g2_add(struct g2 *r, const struct g2 *p, const struct g2 *q)
{
    if (fp2_is_zero(&p->z)) {
        *r = *q;
        return;
    }
    if (fp2_is_zero(&q->z)) {
        *r = *p;
        return;
    }
    fp2 z1z1, z2z2, u1, u2, s1, s2, h, i, j, rr, v, t, x3, y3, z3;
    fp2_sqr(&z1z1, &p->z);
    fp2_sqr(&z2z2, &q->z);
    fp2_mul(&u1, &p->x, &z2z2);
    fp2_mul(&u2, &q->x, &z1z1);
    fp2_mul(&s1, &p->y, &q->z);
    fp2_mul(&s1, &s1, &z2z2);
    fp2_mul(&s2, &q->y, &p->z);
    fp2_mul(&s2, &s2, &z1z1);
    fp2_sub(&h, &u2, &u1);
    fp2_sub(&rr, &s2, &s1);
    if (fp2_is_zero(&h)) {
        if (fp2_is_zero(&rr))
            g2_dbl(r, p);
        else
            memset(r, 0, sizeof *r);
        return;
    }
    fp2_add(&rr, &rr, &rr);
    fp2_add(&i, &h, &h);
    fp2_sqr(&i, &i);
    fp2_mul(&j, &h, &i);
    fp2_mul(&v, &u1, &i);
    fp2_sqr(&x3, &rr);
    fp2_sub(&x3, &x3, &j);
    fp2_sub(&x3, &x3, &v);
    fp2_sub(&x3, &x3, &v);
    fp2_sub(&t, &v, &x3);
    fp2_mul(&y3, &rr, &t);
    fp2_mul(&t, &s1, &j);
    fp2_add(&t, &t, &t);
    fp2_sub(&y3, &y3, &t);
    fp2_add(&z3, &p->z, &q->z);
    fp2_sqr(&z3, &z3);
    fp2_sub(&z3, &z3, &z1z1);
    fp2_sub(&z3, &z3, &z2z2);
    fp2_mul(&z3, &z3, &h);
    r->x = x3;
    r->y = y3;
    r->z = z3;
}

/* Is the affine twist point (x, y) in the order-r subgroup: [r]Q = O? */
static int g2_in_subgroup(const fp2 *x, const fp2 *y)
{
    struct g2 q = {*x, *y, {FP_ONE, {{0}}}}, acc;
    memset(&acc, 0, sizeof acc);
    for (int i = 253; i >= 0; i--) {
        g2_dbl(&acc, &acc);
        if (bit_at(ORDER_R, i)) g2_add(&acc, &acc, &q);
    }
    return fp2_is_zero(&acc.z);
}

struct g2a {
    fp2 x, y;
};

/* Decode Q (x_im, x_re, y_im, y_re); *inf = 1 for (0,0,0,0). -1 if a
 * coordinate is >= p, Q is not on the twist, or not in the subgroup. */
static int g2_from_bytes(struct g2a *r, int *inf, const uint8_t in[128], const struct bn_consts *k)
{
    fp2 x, y;
    if (fp_from_bytes(&x.c1, in) || fp_from_bytes(&x.c0, in + 32) ||
        fp_from_bytes(&y.c1, in + 64) || fp_from_bytes(&y.c0, in + 96))
        return -1;
    *inf = fp2_is_zero(&x) && fp2_is_zero(&y);
    if (*inf) return 0;
    fp2 lhs, rhs;
    fp2_sqr(&lhs, &y);
    fp2_sqr(&rhs, &x);
    fp2_mul(&rhs, &rhs, &x);
    fp2_add(&rhs, &rhs, &k->twist_b);
    if (!fp2_eq(&lhs, &rhs)) return -1;
    if (!g2_in_subgroup(&x, &y)) return -1;
    r->x = x;
    r->y = y;
    return 0;
}

/* The line through psi(T) with slope lambda (on the twist), evaluated at P:
 * y_P - lambda x_P w + (lambda x_T - y_T) w^3. Vertical lines are skipped:
 * they lie in Fp6 and the final exponentiation sends them to 1. */
static void line_eval(fp12 *l, const fp2 *lambda, const struct g2a *t, const fp *xp, const fp *yp)
{
    memset(l, 0, sizeof *l);
    l->c0.c0.c0 = *yp;
    fp2 s;
    fp2_mul_fp(&s, lambda, xp);
    fp2_neg(&l->c1.c0, &s);
    fp2_mul(&s, lambda, &t->x);
    fp2_sub(&l->c1.c1, &s, &t->y);
}

/* f *= line tangent at T, T = 2T. T never has y = 0 (r is odd). */
static void miller_dbl(fp12 *f, struct g2a *t, const fp *xp, const fp *yp)
{
    fp2 lambda, num, den, x3, y3, s;
    fp2_sqr(&num, &t->x);
    fp2_add(&s, &num, &num);
    fp2_add(&num, &s, &num);
    fp2_add(&den, &t->y, &t->y);
    fp2_inv(&den, &den);
    fp2_mul(&lambda, &num, &den);
    fp12 l;
    line_eval(&l, &lambda, t, xp, yp);
    fp12_mul(f, f, &l);
    fp2_sqr(&x3, &lambda);
    fp2_sub(&x3, &x3, &t->x);
    fp2_sub(&x3, &x3, &t->x);
    fp2_sub(&s, &t->x, &x3);
    fp2_mul(&y3, &lambda, &s);
    fp2_sub(&y3, &y3, &t->y);
    t->x = x3;
    t->y = y3;
}

/* f *= line through T and Q, T = T + Q. For Q in the order-r subgroup the
 * multiples of Q met in the loop are never equal or opposite to Q (their
 * indices are below r - 1); the vertical case is handled anyway. */
static void miller_add(fp12 *f, struct g2a *t, const struct g2a *q, const fp *xp, const fp *yp)
{
    if (fp2_eq(&t->x, &q->x)) {
        if (fp2_eq(&t->y, &q->y)) miller_dbl(f, t, xp, yp);
        return; /* vertical line: factor 1; T + Q = O does not occur */
    }
    fp2 lambda, num, den, x3, y3, s;
    fp2_sub(&num, &q->y, &t->y);
    fp2_sub(&den, &q->x, &t->x);
    fp2_inv(&den, &den);
    fp2_mul(&lambda, &num, &den);
    fp12 l;
    line_eval(&l, &lambda, t, xp, yp);
    fp12_mul(f, f, &l);
    fp2_sqr(&x3, &lambda);
    fp2_sub(&x3, &x3, &t->x);
    fp2_sub(&x3, &x3, &q->x);
    fp2_sub(&s, &t->x, &x3);
    fp2_mul(&y3, &lambda, &s);
    fp2_sub(&y3, &y3, &t->y);
    t->x = x3;
    t->y = y3;
}

/* Frobenius on the twist: psi^-1(pi(psi(Q))) = (conj(x) g2, conj(y) g3). */
static void g2_frob(struct g2a *r, const struct g2a *q, const struct bn_consts *k)
{
    fp2 t;
    fp2_conj(&t, &q->x);
    fp2_mul(&r->x, &t, &k->gamma[2]);
    fp2_conj(&t, &q->y);
    fp2_mul(&r->y, &t, &k->gamma[3]);
}

/* Called with f = 1: leaves in f the optimal ate Miller function
 * f_{6u+2,Q}(P) times its two Frobenius lines. */
static void miller_loop(fp12 *f, const struct g2a *q, const fp *xp, const fp *yp,
                        const struct bn_consts *k)
{
    struct g2a t = *q, q1, q2;
    for (int i = ATE_LOOP_BITS - 2; i >= 0; i--) {
        fp12_sqr(f, f);
        miller_dbl(f, &t, xp, yp);
        if (bit_at(ATE_LOOP, i)) miller_add(f, &t, q, xp, yp);
    }
    g2_frob(&q1, q, k);
    g2_frob(&q2, &q1, k);
    fp2_neg(&q2.y, &q2.y);
    miller_add(f, &t, &q1, xp, yp);
    miller_add(f, &t, &q2, xp, yp);
}

/* a^u, u = 4965661367192848881 (the BN parameter, 63 bits). */
static void fp12_pow_u(fp12 *r, const fp12 *a)
{
    fp12 acc = *a;
    for (int i = BN_U_BITS - 2; i >= 0; i--) {
        fp12_sqr(&acc, &acc);
        if (BN_U >> i & 1) fp12_mul(&acc, &acc, a);
    }
    *r = acc;
}

/* f^((p^12 - 1) / r), up to an exponent factor coprime to r (harmless for
 * the "product is 1" check). Easy part (p^6 - 1)(p^2 + 1) with an inverse
 * and Frobenius maps; hard part (p^4 - p^2 + 1) / r by the addition chain of
 * Devegili, Scott and Dahab ("Implementing cryptographic pairings over
 * Barreto-Naehrig curves", 2007), as in go-ethereum's bn256: three
 * exponentiations by u and Frobenius maps, inverses being conjugates in the
 * cyclotomic subgroup. */
static void final_exp(fp12 *r, const fp12 *f, const struct bn_consts *k)
{
    fp12 t0, t1, t2;
    fp12_inv(&t0, f);
    fp12_conj(&t1, f);
    fp12_mul(&t1, &t1, &t0); /* f^(p^6 - 1) */
    fp12_frob(&t2, &t1, k);
    fp12_frob(&t2, &t2, k);
    fp12_mul(&t1, &t1, &t2); /* ^(p^2 + 1) */

    fp12 fp1, fp2v, fp3, fu, fu2, fu3, y0, y1, y2, y3, y4, y5, y6, fu2p, fu3p;
    fp12_frob(&fp1, &t1, k);
    fp12_frob(&fp2v, &fp1, k);
    fp12_frob(&fp3, &fp2v, k);
    fp12_pow_u(&fu, &t1);
    fp12_pow_u(&fu2, &fu);
    fp12_pow_u(&fu3, &fu2);
    fp12_frob(&y3, &fu, k);
    fp12_frob(&fu2p, &fu2, k);
    fp12_frob(&fu3p, &fu3, k);
    fp12_frob(&y2, &fu2p, k);

    fp12_mul(&y0, &fp1, &fp2v);
    fp12_mul(&y0, &y0, &fp3);
    fp12_conj(&y1, &t1);
    fp12_conj(&y5, &fu2);
    fp12_conj(&y3, &y3);
    fp12_mul(&y4, &fu, &fu2p);
    fp12_conj(&y4, &y4);
    fp12_mul(&y6, &fu3, &fu3p);
    fp12_conj(&y6, &y6);

    fp12_sqr(&t0, &y6);
    fp12_mul(&t0, &t0, &y4);
    fp12_mul(&t0, &t0, &y5);
    fp12_mul(&t1, &y3, &y5);
    fp12_mul(&t1, &t1, &t0);
    fp12_mul(&t0, &t0, &y2);
    fp12_sqr(&t1, &t1);
    fp12_mul(&t1, &t1, &t0);
    fp12_sqr(&t1, &t1);
    fp12_mul(&t0, &t1, &y1);
    fp12_mul(&t1, &t1, &y0);
    fp12_sqr(&t0, &t0);
    fp12_mul(r, &t0, &t1);
}

int bn254__pairing_check(int *one, const uint8_t *in, size_t n)
{
    struct bn_consts k;
    bn_consts_init(&k);
    fp12 f;
    fp12_one(&f);
    int any = 0;
    /* Every point is validated, including those paired with infinity. */
    for (size_t i = 0; i < n; i++) {
        const uint8_t *pair = in + 192 * i;
        struct g1 p;
        struct g2a q;
        int q_inf;
        if (g1_from_bytes(&p, pair)) return TALLY_EINVAL;
        if (g2_from_bytes(&q, &q_inf, pair + 64, &k)) return TALLY_EINVAL;
        if (fp_is_zero(&p.z) || q_inf) continue; /* e(O, Q) = e(P, O) = 1 */
        fp12 fi;
        fp12_one(&fi);
        miller_loop(&fi, &q, &p.x, &p.y, &k);
        fp12_mul(&f, &f, &fi);
        any = 1;
    }
    if (any) final_exp(&f, &f, &k);
    *one = fp12_is_one(&f);
    return 0;
}
