/* secp_batch: field and scalar arithmetic against OpenSSL BIGNUM, point
 * additions and the multi-scalar multiplication against libsecp256k1 (through
 * points of known discrete log), the exceptional additions, and the batch
 * verdict against secp_recover: valid batches, every single-item corruption,
 * repeated and opposite points, and a 20,000-item differential run.
 * Randomised tests print their seed; TALLY_SEED=S replays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "crypto/secp.h"
#include "crypto/secp256k1_group.h"
#include "crypto/secp_batch.h"

/* ---- seeded PRNG (splitmix64) ---- */

static uint64_t rng_state;

static uint64_t rnd64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void rnd_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd64();
}

static void seed_rng(const char *test)
{
    const char *env = getenv("TALLY_SEED");
    unsigned long long seed = env ? strtoull(env, NULL, 0) : (unsigned long long)time(NULL);
    print_message("%s: TALLY_SEED=%llu\n", test, seed);
    rng_state = seed;
}

/* ---- BIGNUM helpers ---- */

static BN_CTX *bnctx;
static BIGNUM *bn_p, *bn_n;

static BIGNUM *bn_limbs(const uint64_t *v, int nlimbs)
{
    uint8_t be[64];
    for (int i = 0; i < nlimbs; i++)
        for (int j = 0; j < 8; j++) be[(nlimbs - 1 - i) * 8 + j] = (uint8_t)(v[i] >> (56 - 8 * j));
    BIGNUM *b = BN_bin2bn(be, nlimbs * 8, NULL);
    assert_non_null(b);
    return b;
}

/* Assert that limbs v (4) hold exactly the value of want. */
static void assert_limbs_bn(const uint64_t v[4], const BIGNUM *want)
{
    BIGNUM *got = bn_limbs(v, 4);
    if (BN_cmp(got, want) != 0) {
        char *g = BN_bn2hex(got), *w = BN_bn2hex(want);
        print_error("got %s want %s\n", g, w);
        OPENSSL_free(g);
        OPENSSL_free(w);
        fail();
    }
    BN_free(got);
}

static int setup(void **st)
{
    bnctx = BN_CTX_new();
    bn_p = bn_limbs(secp__fe_p.v, 4);
    bn_n = bn_limbs(secp__sc_n.v, 4);
    return 0;
}

static int teardown(void **st)
{
    BN_free(bn_p);
    BN_free(bn_n);
    BN_CTX_free(bnctx);
    return 0;
}

/* Interesting 256-bit values: all are valid (weakly reduced) field inputs. */
#define NEDGE 16
static void edge_value(uint64_t v[4], int i)
{
    static const uint64_t C = SECP__FE_C;
    memset(v, 0, 32);
    switch (i) {
    case 0: break;                                         /* 0 */
    case 1: v[0] = 1; break;                               /* 1 */
    case 2: v[0] = 2; break;                               /* 2 */
    case 3: memcpy(v, secp__fe_p.v, 32), v[0] -= 1; break; /* p - 1 */
    case 4: memcpy(v, secp__fe_p.v, 32); break;            /* p (== 0) */
    case 5: memcpy(v, secp__fe_p.v, 32), v[0] += 1; break; /* p + 1 (== 1) */
    case 6: memset(v, 0xff, 32); break;                    /* 2^256 - 1 */
    case 7: memset(v, 0xff, 32), v[0] -= 1; break;         /* 2^256 - 2 */
    case 8: v[0] = C; break;
    case 9: v[0] = C - 1; break;
    case 10: v[3] = 1ULL << 63; break; /* 2^255 */
    case 11: v[0] = UINT64_MAX; break;
    case 12: memcpy(v, secp__sc_n.v, 32), v[0] -= 1; break; /* n - 1 */
    case 13: memcpy(v, secp__sc_n.v, 32); break;            /* n */
    case 14: v[1] = v[2] = v[3] = UINT64_MAX; break;
    default: v[3] = UINT64_MAX; break;
    }
}

static void random_value(uint64_t v[4])
{
    int mode = (int)(rnd64() % 4);
    for (int i = 0; i < 4; i++) {
        v[i] = rnd64();
        if (mode == 1) v[i] |= 0xFFFFFFFF00000000ULL; /* near 2^256 */
        if (mode == 2 && i > 0) v[i] = UINT64_MAX;
    }
}

/* ---- field ---- */

static void check_fe_ops(const uint64_t av[4], const uint64_t bv[4])
{
    secp__fe a, b, r;
    memcpy(a.v, av, 32);
    memcpy(b.v, bv, 32);
    BIGNUM *A = bn_limbs(av, 4), *B = bn_limbs(bv, 4), *W = BN_new();

    secp__fe_mul(&r, &a, &b);
    secp__fe_normalize(&r);
    assert_true(BN_mod_mul(W, A, B, bn_p, bnctx));
    assert_limbs_bn(r.v, W);

    secp__fe_sqr(&r, &a);
    secp__fe_normalize(&r);
    assert_true(BN_mod_mul(W, A, A, bn_p, bnctx));
    assert_limbs_bn(r.v, W);

    secp__fe_add(&r, &a, &b);
    secp__fe_normalize(&r);
    assert_true(BN_mod_add(W, A, B, bn_p, bnctx));
    assert_limbs_bn(r.v, W);

    secp__fe_sub(&r, &a, &b);
    secp__fe_normalize(&r);
    assert_true(BN_mod_sub(W, A, B, bn_p, bnctx));
    assert_limbs_bn(r.v, W);

    secp__fe_neg(&r, &a);
    secp__fe_normalize(&r);
    assert_true(BN_mod_sub(W, BN_value_one(), A, bn_p, bnctx));
    assert_true(BN_mod_sub(W, W, BN_value_one(), bn_p, bnctx));
    assert_limbs_bn(r.v, W);

    /* Aliased output. */
    r = a;
    secp__fe_mul(&r, &r, &r);
    secp__fe_normalize(&r);
    assert_true(BN_mod_mul(W, A, A, bn_p, bnctx));
    assert_limbs_bn(r.v, W);

    /* is_zero agrees with the value. */
    assert_true(BN_nnmod(W, A, bn_p, bnctx));
    assert_int_equal(secp__fe_is_zero(&a), BN_is_zero(W));

    /* Square root: exists iff a is a quadratic residue (Euler). */
    BIGNUM *e = BN_new();
    assert_true(BN_rshift1(e, bn_p)); /* (p-1)/2 */
    assert_true(BN_mod_exp(W, A, e, bn_p, bnctx));
    int is_sq = BN_is_one(W) || BN_is_zero(W);
    int ok = secp__fe_sqrt(&r, &a);
    assert_int_equal(ok, is_sq);
    if (ok) {
        secp__fe_sqr(&r, &r);
        secp__fe_sub(&r, &r, &a);
        assert_true(secp__fe_is_zero(&r));
    }
    BN_free(e);
    BN_free(A);
    BN_free(B);
    BN_free(W);
}

static void test_field(void **st)
{
    seed_rng("test_field");
    uint64_t a[4], b[4];
    for (int i = 0; i < NEDGE; i++) {
        for (int j = 0; j < NEDGE; j++) {
            edge_value(a, i);
            edge_value(b, j);
            check_fe_ops(a, b);
        }
    }
    for (int i = 0; i < 3000; i++) {
        random_value(a);
        if (i % 3) {
            random_value(b);
        } else {
            edge_value(b, (int)(rnd64() % NEDGE));
        }
        check_fe_ops(a, b);
    }
    /* The 512-bit reduction on its own, extremes included. */
    for (int i = 0; i < 1000; i++) {
        uint64_t l[8];
        for (int j = 0; j < 8; j++) l[j] = i == 0 ? UINT64_MAX : i == 1 ? 0 : rnd64();
        if (i > 2 && i % 5 == 0) l[7] = l[6] = l[5] = UINT64_MAX;
        secp__fe r;
        secp__fe_reduce512(&r, l);
        secp__fe_normalize(&r);
        BIGNUM *L = bn_limbs(l, 8), *W = BN_new();
        assert_true(BN_nnmod(W, L, bn_p, bnctx));
        assert_limbs_bn(r.v, W);
        BN_free(L);
        BN_free(W);
    }
    /* Parsing: p and above are refused; normalisation is unique. */
    uint8_t be[32];
    secp__fe f;
    secp__u256_to_b32(be, secp__fe_p.v);
    assert_false(secp__fe_set_b32(&f, be));
    be[31]--;
    assert_true(secp__fe_set_b32(&f, be));
    memset(be, 0xff, 32);
    assert_false(secp__fe_set_b32(&f, be));
    /* The inverses: the chain against plain square-and-multiply. */
    for (int i = 0; i < 200; i++) {
        random_value(a);
        memcpy(f.v, a, 32);
        if (secp__fe_is_zero(&f)) continue;
        secp__fe inv, fast;
        secp__fe_inv_slow(&inv, &f);
        secp__fe_inv(&fast, &f); /* the addition chain the batch uses */
        secp__fe_sub(&fast, &fast, &inv);
        assert_true(secp__fe_is_zero(&fast));
        secp__fe_mul(&inv, &inv, &f);
        secp__fe_normalize(&inv);
        assert_true(inv.v[0] == 1 && inv.v[1] == 0 && inv.v[2] == 0 && inv.v[3] == 0);
    }
}

/* ---- scalars ---- */

static void random_scalar(secp__sc *k)
{
    uint8_t be[32];
    rnd_bytes(be, 32);
    (void)secp__sc_set_b32(k, be);
}

static void test_scalar(void **st)
{
    seed_rng("test_scalar");
    BIGNUM *W = BN_new();
    /* Reduction of arbitrary 512-bit values. */
    for (int i = 0; i < 2000; i++) {
        uint64_t l[8];
        for (int j = 0; j < 8; j++) l[j] = i == 0 ? UINT64_MAX : i == 1 ? 0 : rnd64();
        if (i == 2) memcpy(l, secp__sc_n.v, 32), memset(l + 4, 0, 32); /* n */
        if (i == 3) memcpy(l, secp__sc_n.v, 32), memset(l + 4, 0, 32), l[0]--;
        if (i == 4) memset(l, 0xff, 32), memset(l + 4, 0, 32); /* 2^256 - 1 */
        if (i > 4 && i % 3 == 0) memset(l + 4, 0xff, 32);
        secp__sc r;
        secp__sc_reduce512(&r, l);
        BIGNUM *L = bn_limbs(l, 8);
        assert_true(BN_nnmod(W, L, bn_p == NULL ? NULL : bn_n, bnctx));
        assert_limbs_bn(r.v, W);
        BN_free(L);
    }
    /* mul, add, inv on values < n, edges included. */
    for (int i = 0; i < 2000; i++) {
        secp__sc a, b, r;
        random_scalar(&a);
        random_scalar(&b);
        if (i < 4) { /* 0, 1, n-1, n-2 */
            memset(&a, 0, sizeof a);
            if (i == 1) a.v[0] = 1;
            if (i >= 2) memcpy(a.v, secp__sc_n.v, 32), a.v[0] -= (uint64_t)(i - 1);
            b = a;
        }
        BIGNUM *A = bn_limbs(a.v, 4), *B = bn_limbs(b.v, 4);
        secp__sc_mul(&r, &a, &b);
        assert_true(BN_mod_mul(W, A, B, bn_n, bnctx));
        assert_limbs_bn(r.v, W);
        secp__sc_add(&r, &a, &b);
        assert_true(BN_mod_add(W, A, B, bn_n, bnctx));
        assert_limbs_bn(r.v, W);
        if (i < 200 && !secp__sc_is_zero(&a)) {
            secp__sc_inv(&r, &a);
            assert_non_null(BN_mod_inverse(W, A, bn_n, bnctx));
            assert_limbs_bn(r.v, W);
        }
        BN_free(A);
        BN_free(B);
    }
    /* Parsing reports overflow (>= n) and reduces. */
    uint8_t be[32];
    secp__sc k;
    secp__u256_to_b32(be, secp__sc_n.v);
    assert_int_equal(secp__sc_set_b32(&k, be), 1);
    assert_true(secp__sc_is_zero(&k));
    be[31]--;
    assert_int_equal(secp__sc_set_b32(&k, be), 0);
    memset(be, 0xff, 32);
    assert_int_equal(secp__sc_set_b32(&k, be), 1);
    BN_free(W);
}

/* ---- points ---- */

static void scalar_b32(uint8_t be[32], const secp__sc *k)
{
    secp__u256_to_b32(be, k->v);
}

/* k*G through libsecp256k1 as an affine point; 0 if k == 0. */
static int ref_mul_g(secp__ge *r, const secp__sc *k)
{
    uint8_t be[32], pub[64];
    if (secp__sc_is_zero(k)) return 0;
    scalar_b32(be, k);
    assert_int_equal(secp_pubkey(pub, be), 0);
    assert_true(secp__fe_set_b32(&r->x, pub));
    assert_true(secp__fe_set_b32(&r->y, pub + 32));
    return 1;
}

/* Assert that Jacobian a is k*G (infinity for k == 0). */
static void assert_gej_is(const secp__gej *a, const secp__sc *k)
{
    secp__ge want;
    if (!ref_mul_g(&want, k)) {
        assert_true(secp__gej_is_inf(a));
        return;
    }
    assert_false(secp__gej_is_inf(a));
    secp__fe zi, zi2, x, y;
    secp__fe_inv_slow(&zi, &a->z);
    secp__fe_sqr(&zi2, &zi);
    secp__fe_mul(&x, &a->x, &zi2);
    secp__fe_mul(&zi2, &zi2, &zi);
    secp__fe_mul(&y, &a->y, &zi2);
    secp__fe_sub(&x, &x, &want.x);
    secp__fe_sub(&y, &y, &want.y);
    assert_true(secp__fe_is_zero(&x));
    assert_true(secp__fe_is_zero(&y));
}

static void sc_small(secp__sc *k, uint64_t v)
{
    memset(k, 0, sizeof *k);
    k->v[0] = v;
}

static void sc_neg(secp__sc *r, const secp__sc *a)
{
    if (secp__sc_is_zero(a)) {
        *r = *a;
        return;
    }
    secp__u256_sub(r->v, secp__sc_n.v, a->v);
}

static void test_group_exceptional(void **st)
{
    seed_rng("test_group_exceptional");
    secp__sc k1, k2, k3, k4, kz;
    sc_small(&k1, 1);
    sc_small(&k2, 2);
    sc_small(&k3, 3);
    sc_small(&k4, 4);
    sc_small(&kz, 0);
    secp__ge g = secp__ge_g, ng, g2;
    secp__ge_neg(&ng, &g);
    assert_true(secp__ge_is_valid(&g));
    assert_true(secp__ge_is_valid(&ng));
    assert_true(ref_mul_g(&g2, &k2));

    secp__gej inf, j, t, j2;
    secp__gej_set_inf(&inf);
    /* inf + G, G + G (mixed: doubling path), G + -G. */
    secp__gej_add_ge(&t, &inf, &g);
    assert_gej_is(&t, &k1);
    secp__gej_set_ge(&j, &g);
    secp__gej_add_ge(&t, &j, &g);
    assert_gej_is(&t, &k2);
    secp__gej_add_ge(&t, &j, &ng);
    assert_gej_is(&t, &kz);
    /* 2G in Jacobian form with Z != 1, then + 2G affine (doubling), + -2G
     * (infinity), + G (generic). */
    secp__gej_double(&j2, &j);
    assert_gej_is(&j2, &k2);
    secp__gej_add_ge(&t, &j2, &g2);
    assert_gej_is(&t, &k4);
    secp__ge ng2;
    secp__ge_neg(&ng2, &g2);
    secp__gej_add_ge(&t, &j2, &ng2);
    assert_gej_is(&t, &kz);
    secp__gej_add_ge(&t, &j2, &g);
    assert_gej_is(&t, &k3);
    /* Jacobian + Jacobian with different Z for the same point. */
    secp__gej g2j;
    secp__gej_set_ge(&g2j, &g2); /* Z = 1 */
    secp__gej_add(&t, &j2, &g2j);
    assert_gej_is(&t, &k4);
    secp__gej ng2j;
    secp__gej_set_ge(&ng2j, &ng2);
    secp__gej_add(&t, &j2, &ng2j);
    assert_gej_is(&t, &kz);
    secp__gej_add(&t, &inf, &j2);
    assert_gej_is(&t, &k2);
    secp__gej_add(&t, &j2, &inf);
    assert_gej_is(&t, &k2);
    secp__gej_add(&t, &inf, &inf);
    assert_gej_is(&t, &kz);
    secp__gej_double(&t, &inf);
    assert_gej_is(&t, &kz);
    /* Aliasing: t = t + t. */
    t = j2;
    secp__gej_add(&t, &t, &t);
    assert_gej_is(&t, &k4);
    /* Points from decompression agree with G. */
    secp__ge d;
    assert_true(secp__ge_set_xo(&d, &g.x, secp__fe_is_odd(&g.y)));
    secp__fe_sub(&d.y, &d.y, &g.y);
    assert_true(secp__fe_is_zero(&d.y));
    assert_true(secp__ge_set_xo(&d, &g.x, !secp__fe_is_odd(&g.y)));
    secp__fe_add(&d.y, &d.y, &g.y);
    assert_true(secp__fe_is_zero(&d.y));
    secp__ge nope;
    secp__fe x1;
    secp__fe_set_u64(&x1, 1); /* 8 is a square iff 2 is: p = 7 mod 8, so yes */
    assert_true(secp__ge_set_xo(&nope, &x1, 1));
    assert_true(secp__ge_is_valid(&nope));
}

/* msm against libsecp256k1: points are d_i G with d_i drawn from a small pool
 * (so repeats and opposites are common), scalars of every length. */
static void test_msm(void **st)
{
    seed_rng("test_msm");
    enum { MAXN = 300 };
    secp__ge *pts = malloc(MAXN * sizeof *pts);
    secp__sc *ks = malloc(MAXN * sizeof *ks);
    assert_non_null(pts);
    assert_non_null(ks);
    for (int round = 0; round < 150; round++) {
        size_t n = round < 20 ? (size_t)round % 6 + 1 : 1 + rnd64() % MAXN;
        int w = (int)(rnd64() % 15); /* 0 = automatic, else 1..14 -> 2..15 */
        if (w == 1) w = 0;
        /* A pool of 3 discrete logs and their negations. */
        secp__sc pool[6];
        for (int i = 0; i < 3; i++) {
            if (round % 4 == 0 && i == 0) {
                sc_small(&pool[0], 1);
            } else {
                random_scalar(&pool[i]);
                if (secp__sc_is_zero(&pool[i])) pool[i].v[0] = 1;
            }
            sc_neg(&pool[3 + i], &pool[i]);
        }
        secp__ge pool_pt[6];
        for (int q = 0; q < 6; q++) assert_true(ref_mul_g(&pool_pt[q], &pool[q]));
        secp__sc want = {{0, 0, 0, 0}};
        int idx = 0;
        for (size_t i = 0; i < n; i++) {
            /* Usually a fresh pool entry; sometimes the previous term's point
             * with the negated scalar, so the two cancel exactly. */
            int cancel = i > 0 && rnd64() % 8 == 0;
            if (!cancel) idx = (int)(rnd64() % 6);
            pts[i] = pool_pt[idx];
            switch (rnd64() % 6) {
            case 0: sc_small(&ks[i], rnd64() % 4); break; /* 0..3 */
            case 1: sc_small(&ks[i], rnd64()); break;     /* 64-bit */
            case 2: random_scalar(&ks[i]), ks[i].v[2] = ks[i].v[3] = 0; break;
            case 3: memcpy(ks[i].v, secp__sc_n.v, 32), ks[i].v[0] -= 1; break; /* -1 */
            default: random_scalar(&ks[i]); break;
            }
            if (cancel) sc_neg(&ks[i], &ks[i - 1]);
            secp__sc t;
            secp__sc_mul(&t, &ks[i], &pool[idx]);
            secp__sc_add(&want, &want, &t);
        }
        secp__gej got;
        assert_int_equal(secp__msm(&got, pts, ks, n, w), 0);
        assert_gej_is(&got, &want);
    }
    /* Everything cancels: P, -P with equal scalars, many times. */
    secp__sc one;
    sc_small(&one, 1);
    for (int i = 0; i < 64; i++) {
        pts[i] = secp__ge_g;
        if (i % 2) secp__ge_neg(&pts[i], &secp__ge_g);
        ks[i] = one;
    }
    secp__gej got;
    for (int w = 2; w <= 15; w++) {
        assert_int_equal(secp__msm(&got, pts, ks, 64, w), 0);
        assert_true(secp__gej_is_inf(&got));
    }
    assert_int_equal(secp__msm(&got, pts, ks, 0, 0), 0);
    assert_true(secp__gej_is_inf(&got));
    assert_int_equal(secp__msm(&got, pts, ks, 4, 1), TALLY_EINVAL);
    assert_int_equal(secp__msm(&got, pts, ks, 4, 16), TALLY_EINVAL);
    free(pts);
    free(ks);
}

/* ---- batch items ---- */

struct sigcase {
    uint8_t digest[32], sig[64], pub[64];
    int recid;
};

static const uint8_t N_BE[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
};
static const uint8_t HALF_N_BE[32] = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
};

/* Big-endian a = b - a. */
static void sub_from(uint8_t a[32], const uint8_t b[32])
{
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = b[i] - a[i] - borrow;
        borrow = d < 0;
        a[i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
}

/* What the batch must agree with. */
static int oracle(const struct sigcase *c)
{
    uint8_t pub[64];
    return secp_recover(pub, c->sig, c->recid, c->digest) == 0 && memcmp(pub, c->pub, 64) == 0;
}

/* A signature by key priv (big-endian) on a random digest. */
static void make_signed_with(struct sigcase *c, const uint8_t priv[32])
{
    rnd_bytes(c->digest, 32);
    assert_int_equal(secp_sign(c->sig, &c->recid, c->digest, priv), 0);
    assert_int_equal(secp_pubkey(c->pub, priv), 0);
}

static void make_signed(struct sigcase *c)
{
    uint8_t priv[32];
    do rnd_bytes(priv, 32);
    while (secp_pubkey(c->pub, priv) != 0);
    make_signed_with(c, priv);
}

/* A consistent item made by recovery rather than signing: random r, s,
 * digest and recid (2 and 3 included, with x = r + n), pub := what recovery
 * gives. Exercises R points that signing practically never produces. */
static void make_recovered(struct sigcase *c, int recid)
{
    for (;;) {
        rnd_bytes(c->digest, 32);
        rnd_bytes(c->sig, 64);
        if (recid & 2) memset(c->sig, 0, 16); /* r < p - n, so r + n < p */
        c->sig[32] &= 0x7f;                   /* s < n/2 */
        c->recid = recid;
        if (secp_recover(c->pub, c->sig, recid, c->digest) == 0) return;
    }
}

static int run_batch(const struct sigcase *cs, size_t n)
{
    struct secp_batch_item *items = malloc((n ? n : 1) * sizeof *items);
    assert_non_null(items);
    for (size_t i = 0; i < n; i++) {
        items[i].digest = cs[i].digest;
        items[i].sig = cs[i].sig;
        items[i].recid = cs[i].recid;
        items[i].pub = cs[i].pub;
    }
    int rc = secp_batch_check(items, n);
    free(items);
    assert_true(rc == 0 || rc == TALLY_ESIG);
    return rc == 0; /* 1: accepted */
}

static void test_valid_batches(void **st)
{
    seed_rng("test_valid_batches");
    static const size_t sizes[] = {1, 2, 3, 7, 64, 128, 1000, 4096};
    struct sigcase *cs = malloc(4096 * sizeof *cs);
    assert_non_null(cs);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        for (size_t i = 0; i < n; i++) make_signed(&cs[i]);
        assert_int_equal(run_batch(cs, n), 1);
        /* Recovered items with every recid, mixed in. */
        for (size_t i = 0; i < n && i < 256; i++) make_recovered(&cs[i], (int)(i % 4));
        assert_int_equal(run_batch(cs, n), 1);
        for (size_t i = 0; i < n; i += 97) assert_true(oracle(&cs[i]));
    }
    assert_int_equal(secp_batch_check(NULL, 0), 0);
    free(cs);
}

enum corruption {
    C_WRONG_PUB,
    C_PUB_OFF_CURVE,
    C_PUB_X_NONCANON,
    C_PUB_Y_NONCANON,
    C_PUB_ZERO,
    C_RECID_PARITY,
    C_RECID_PLUS_N,
    C_RECID_OUT_OF_RANGE,
    C_DIGEST,
    C_R_CHANGED,
    C_S_CHANGED,
    C_R_ZERO,
    C_S_ZERO,
    C_R_EQ_N,
    C_R_MAX,
    C_S_EQ_N,
    C_S_HIGH,
    C_R_NOT_ON_CURVE,
    C_SIG_SWAPPED,
    C_COUNT
};

/* An x below n with x^3 + 7 not a square: no point R for r = x. */
static void nonsquare_r(uint8_t r[32])
{
    for (;;) {
        secp__fe x;
        secp__ge R;
        rnd_bytes(r, 32);
        r[0] &= 0x7f;
        (void)secp__fe_set_b32(&x, r);
        if (!secp__ge_set_xo(&R, &x, 0)) return;
    }
}

static void corrupt(struct sigcase *c, enum corruption kind, const struct sigcase *other)
{
    switch (kind) {
    case C_WRONG_PUB: memcpy(c->pub, other->pub, 64); break;
    case C_PUB_OFF_CURVE: c->pub[63] ^= 1; break;
    case C_PUB_X_NONCANON: { /* x = p + 1, which is 1 mod p */
        memset(c->pub, 0xff, 32);
        c->pub[27] = 0xfe;
        c->pub[30] = 0xfc;
        c->pub[31] = 0x30; /* p + 1 */
        break;
    }
    case C_PUB_Y_NONCANON: { /* y + p, same point mod p when y < 2^256 - p */
        uint64_t y[4];
        secp__u256_from_b32(y, c->pub + 32);
        if (secp__u256_add(y, y, secp__fe_p.v) == 0) {
            secp__u256_to_b32(c->pub + 32, y);
        } else {
            memset(c->pub + 32, 0xff, 32);
        }
        break;
    }
    case C_PUB_ZERO: memset(c->pub, 0, 64); break;
    case C_RECID_PARITY: c->recid ^= 1; break;
    case C_RECID_PLUS_N: c->recid |= 2; break;
    case C_RECID_OUT_OF_RANGE: c->recid = (rnd64() & 1) ? 4 : -1; break;
    case C_DIGEST: c->digest[rnd64() % 32] ^= (uint8_t)(1u << (rnd64() % 8)); break;
    case C_R_CHANGED: c->sig[31] ^= 1; break;
    case C_S_CHANGED: c->sig[63] ^= 1; break;
    case C_R_ZERO: memset(c->sig, 0, 32); break;
    case C_S_ZERO: memset(c->sig + 32, 0, 32); break;
    case C_R_EQ_N: memcpy(c->sig, N_BE, 32); break;
    case C_R_MAX: memset(c->sig, 0xff, 32); break;
    case C_S_EQ_N: memcpy(c->sig + 32, N_BE, 32); break;
    case C_S_HIGH: sub_from(c->sig + 32, N_BE), c->recid ^= 1; break; /* same sig, high s */
    case C_R_NOT_ON_CURVE: nonsquare_r(c->sig); break;
    case C_SIG_SWAPPED: memcpy(c->sig, other->sig, 64), c->recid = other->recid; break;
    default: fail();
    }
}

static void test_corruptions(void **st)
{
    seed_rng("test_corruptions");
    static const size_t sizes[] = {1, 2, 3, 7, 64, 129};
    struct sigcase cs[129], saved, other;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        for (size_t i = 0; i < n; i++) make_signed(&cs[i]);
        make_signed(&other);
        assert_int_equal(run_batch(cs, n), 1);
        size_t where[3] = {0, n / 2, n - 1};
        for (int wi = 0; wi < 3; wi++) {
            size_t at = where[wi];
            for (int kind = 0; kind < C_COUNT; kind++) {
                saved = cs[at];
                corrupt(&cs[at], (enum corruption)kind, &other);
                if (oracle(&cs[at])) {
                    print_error("corruption %d at %zu did not invalidate the item\n", kind, at);
                    fail();
                }
                if (run_batch(cs, n) != 0) {
                    print_error("corruption %d at %zu of %zu accepted\n", kind, at, n);
                    fail();
                }
                cs[at] = saved;
            }
        }
        assert_int_equal(run_batch(cs, n), 1);
    }
    /* s = n/2 exactly is allowed (if it recovers), n/2 + 1 is not. */
    struct sigcase c;
    for (;;) {
        rnd_bytes(c.digest, 32);
        rnd_bytes(c.sig, 32);
        c.sig[0] &= 0x7f;
        memcpy(c.sig + 32, HALF_N_BE, 32);
        c.recid = (int)(rnd64() & 1);
        if (secp_recover(c.pub, c.sig, c.recid, c.digest) == 0) break;
    }
    assert_int_equal(run_batch(&c, 1), 1);
    c.sig[63]++;
    assert_false(oracle(&c));
    assert_int_equal(run_batch(&c, 1), 0);
}

/* Items built so that points repeat or cancel inside the multiplication. */
static void test_exceptional_batches(void **st)
{
    seed_rng("test_exceptional_batches");
    struct sigcase cs[40];
    uint8_t priv[32];

    /* Q = G (key 1) and Q = -G (key n - 1), next to each other and next to
     * the -G term of the check itself. */
    for (int rep = 0; rep < 20; rep++) {
        memset(priv, 0, 32);
        priv[31] = 1;
        make_signed_with(&cs[0], priv);
        memcpy(priv, N_BE, 32);
        priv[31] -= 1;
        make_signed_with(&cs[1], priv);
        make_signed_with(&cs[2], priv);
        make_signed(&cs[3]);
        for (int i = 0; i < 4; i++) assert_true(oracle(&cs[i]));
        assert_int_equal(run_batch(cs, 1), 1);
        assert_int_equal(run_batch(cs, 2), 1);
        assert_int_equal(run_batch(cs, 4), 1);
        cs[2].digest[0] ^= 1;
        assert_int_equal(run_batch(cs, 4), 0);
    }

    /* The same key for many items; the same item many times. */
    rnd_bytes(priv, 32);
    priv[0] &= 0x7f;
    for (int i = 0; i < 40; i++) make_signed_with(&cs[i], priv);
    assert_int_equal(run_batch(cs, 40), 1);
    for (int i = 1; i < 40; i++) cs[i] = cs[0];
    assert_int_equal(run_batch(cs, 40), 1);
    assert_int_equal(run_batch(cs, 2), 1);
    cs[0].sig[40] ^= 4;
    for (int i = 1; i < 40; i++) cs[i] = cs[0];
    assert_int_equal(run_batch(cs, 40), 0);

    /* The same R (same r and recid) and opposite R (same r, other parity)
     * across items with different s and digests. */
    for (int rep = 0; rep < 10; rep++) {
        make_recovered(&cs[0], (int)(rnd64() % 4));
        for (int i = 1; i < 12; i++) {
            for (;;) {
                memcpy(cs[i].sig, cs[0].sig, 32);
                rnd_bytes(cs[i].sig + 32, 32);
                cs[i].sig[32] &= 0x7f;
                rnd_bytes(cs[i].digest, 32);
                cs[i].recid = cs[0].recid ^ (i % 2);
                if (secp_recover(cs[i].pub, cs[i].sig, cs[i].recid, cs[i].digest) == 0) break;
            }
        }
        assert_int_equal(run_batch(cs, 12), 1);
        cs[5].recid ^= 1;
        assert_int_equal(run_batch(cs, 12), 0);
    }

    /* R == Q: digest 0 and s == r make s R = r Q for Q = R, so the terms
     * c R and -(c r/s) Q = -c R cancel digit by digit in every window. */
    for (int i = 0; i < 10; i++) {
        for (;;) {
            memset(cs[i].digest, 0, 32);
            rnd_bytes(cs[i].sig, 32);
            cs[i].sig[0] &= 0x7f;
            memcpy(cs[i].sig + 32, cs[i].sig, 32);
            cs[i].recid = (int)(rnd64() & 1);
            if (secp_recover(cs[i].pub, cs[i].sig, cs[i].recid, cs[i].digest) == 0) break;
        }
        /* The recovered key is R itself. */
        secp__fe x;
        secp__ge R = secp__ge_g;
        (void)secp__fe_set_b32(&x, cs[i].sig);
        assert_true(secp__ge_set_xo(&R, &x, cs[i].recid));
        uint8_t rb[64];
        secp__fe_get_b32(rb, &R.x);
        secp__fe_get_b32(rb + 32, &R.y);
        assert_memory_equal(rb, cs[i].pub, 64);
    }
    assert_int_equal(run_batch(cs, 1), 1);
    assert_int_equal(run_batch(cs, 10), 1);
    cs[9].pub[63] ^= 1;
    assert_int_equal(run_batch(cs, 10), 0);

    /* Q == -R: digest 0 and s == n - r (low when r >= n/2). */
    for (int i = 0; i < 10; i++) {
        for (;;) {
            memset(cs[i].digest, 0, 32);
            rnd_bytes(cs[i].sig, 32);
            cs[i].sig[0] = 0xff; /* r > n/2 */
            cs[i].sig[1] = 0xff;
            if (memcmp(cs[i].sig, N_BE, 32) >= 0) continue;
            memcpy(cs[i].sig + 32, cs[i].sig, 32);
            sub_from(cs[i].sig + 32, N_BE);
            cs[i].recid = (int)(rnd64() & 1);
            if (secp_recover(cs[i].pub, cs[i].sig, cs[i].recid, cs[i].digest) == 0) break;
        }
    }
    assert_int_equal(run_batch(cs, 10), 1);
    cs[0].recid ^= 1;
    assert_int_equal(run_batch(cs, 10), 0);
}

/* Batches larger than SECP_BATCH_MAX are split; a bad item in the second
 * part must still be found. */
static void test_split(void **st)
{
    seed_rng("test_split");
    size_t n = SECP_BATCH_MAX + 5;
    struct sigcase *cs = malloc(n * sizeof *cs);
    assert_non_null(cs);
    for (size_t i = 0; i < n; i++) {
        if (i < 16 || i >= SECP_BATCH_MAX) {
            make_signed(&cs[i]);
        } else {
            cs[i] = cs[i % 16]; /* keep the test fast: repeats are valid */
        }
    }
    assert_int_equal(run_batch(cs, n), 1);
    cs[n - 2].sig[63] ^= 1;
    assert_int_equal(run_batch(cs, n), 0);
    free(cs);
}

static void test_differential(void **st)
{
    seed_rng("test_differential");
    enum { TOTAL = 20000, MAXB = 700 };
    struct sigcase *cs = malloc(MAXB * sizeof *cs), other;
    assert_non_null(cs);
    make_signed(&other);
    size_t done = 0;
    int batches = 0, rejected = 0;
    while (done < TOTAL) {
        size_t n = 1 + rnd64() % MAXB;
        if (n > TOTAL - done) n = TOTAL - done;
        for (size_t i = 0; i < n; i++) {
            if (rnd64() % 5 == 0) {
                make_recovered(&cs[i], (int)(rnd64() % 4));
            } else {
                make_signed(&cs[i]);
            }
        }
        /* Half the batches clean; the rest with a random fraction corrupted
         * (sometimes exactly one item). */
        int mode = (int)(rnd64() % 4);
        if (mode == 1) {
            corrupt(&cs[rnd64() % n], (enum corruption)(rnd64() % C_COUNT), &other);
        } else if (mode == 2) {
            uint64_t frac = 1 + rnd64() % 100; /* percent */
            for (size_t i = 0; i < n; i++)
                if (rnd64() % 100 < frac)
                    corrupt(&cs[i], (enum corruption)(rnd64() % C_COUNT), &other);
        }
        int want = 1;
        for (size_t i = 0; i < n && want; i++) want = oracle(&cs[i]);
        int got = run_batch(cs, n);
        if (got != want) {
            print_error("batch of %zu: got %d want %d\n", n, got, want);
            fail();
        }
        rejected += !want;
        batches++;
        done += n;
    }
    print_message("test_differential: %d batches, %d rejected\n", batches, rejected);
    assert_true(rejected > 0 && rejected < batches);
    free(cs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field),
        cmocka_unit_test(test_scalar),
        cmocka_unit_test(test_group_exceptional),
        cmocka_unit_test(test_msm),
        cmocka_unit_test(test_valid_batches),
        cmocka_unit_test(test_corruptions),
        cmocka_unit_test(test_exceptional_batches),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_differential),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
