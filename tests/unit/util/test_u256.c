/* u256: fixed vectors (computed with Python big integers) and randomized
 * identities (q * b + m == a, m < b; add/sub inverse). Random parts print
 * their seed; TALLY_SEED=<n> replays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util/u256.h"

static u256 P(const char *s)
{
    u256 r;
    int rc = u256_parse(&r, s);
    if (rc) fail_msg("parse %s: %s", s, tally_errname(rc));
    return r;
}

static void assert_u256_hex(const u256 *a, const char *want)
{
    char got[67];
    u256_to_hex(got, a);
    assert_string_equal(got, want);
}

static const char *MAX_DEC =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";

static void test_text(void **st)
{
    char buf[80];
    u256 z = u256_from_u64(0);
    u256_to_dec(buf, &z);
    assert_string_equal(buf, "0");
    assert_u256_hex(&z, "0x0");
    u256 max = {{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}};
    u256_to_dec(buf, &max);
    assert_string_equal(buf, MAX_DEC);
    assert_u256_hex(&max, "0x" /* 64 f */
                          "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    u256 a = P(MAX_DEC);
    assert_int_equal(u256_cmp(&a, &max), 0);
    a = P("0xFFFFffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    assert_int_equal(u256_cmp(&a, &max), 0);
    a = P("0x00000000000000000000000000000000000000000000000000000000000000000001");
    assert_true(u256_fits_u64(&a) && a.w[0] == 1); /* leading zeros tolerated */

    /* Powers of ten across the 10^19 chunk boundary. */
    a = P("10000000000000000000");
    assert_int_equal(a.w[0], 10000000000000000000ULL);
    u256_to_dec(buf, &a);
    assert_string_equal(buf, "10000000000000000000");
    a = P("100000000000000000000000000000000000000");
    u256_to_dec(buf, &a);
    assert_string_equal(buf, "100000000000000000000000000000000000000");
    a = P("8234104123542484906572010032064808851014307649174031051618729725832874237455");
    assert_u256_hex(&a, "0x123456789abcdef0fedcba9876543210f0e1d2c3b4a5968778695a4b3c2d1e0f");
    u256_to_dec(buf, &a);
    assert_string_equal(
        buf, "8234104123542484906572010032064808851014307649174031051618729725832874237455");
    a = P("0x1a");
    assert_int_equal(a.w[0], 26);
    assert_u256_hex(&a, "0x1a");
    a = P("007");
    assert_int_equal(a.w[0], 7);

    /* Errors. */
    u256 r;
    assert_int_equal(u256_parse(&r, ""), TALLY_EDECODE);
    assert_int_equal(u256_parse(&r, "0x"), TALLY_EDECODE);
    assert_int_equal(u256_parse(&r, "12a"), TALLY_EDECODE);
    assert_int_equal(u256_parse(&r, "-1"), TALLY_EDECODE);
    assert_int_equal(u256_parse(&r, " 1"), TALLY_EDECODE);
    assert_int_equal(u256_parse(&r, "0xg"), TALLY_EDECODE);
    assert_int_equal(u256_parse(&r, "0x1 "), TALLY_EDECODE);
    assert_int_equal(
        u256_parse(
            &r, "115792089237316195423570985008687907853269984665640564039457584007913129639936"),
        TALLY_ERANGE);
    assert_int_equal(
        u256_parse(
            &r, "1157920892373161954235709850086879078532699846656405640394575840079131296399350"),
        TALLY_ERANGE);
    assert_int_equal(
        u256_parse(&r, "0x10000000000000000000000000000000000000000000000000000000000000000"),
        TALLY_ERANGE);
    assert_int_equal(
        u256_parse(&r, "0x10000000000000000000000000000000000000000000000000000000000000000z"),
        TALLY_EDECODE);
}

static void test_bytes(void **st)
{
    uint8_t be[32], min[32];
    u256 a;
    assert_int_equal(u256_from_be(&a, NULL, 0), 0);
    assert_true(u256_is_zero(&a));
    assert_int_equal(u256_to_be_min(min, &a), 0);
    const uint8_t x[3] = {0x01, 0x02, 0x03};
    assert_int_equal(u256_from_be(&a, x, 3), 0);
    assert_int_equal(a.w[0], 0x010203);
    assert_int_equal(u256_to_be_min(min, &a), 3);
    assert_memory_equal(min, x, 3);
    u256_to_be32(be, &a);
    for (int i = 0; i < 29; i++) assert_int_equal(be[i], 0);
    assert_int_equal(be[31], 3);
    for (int i = 0; i < 32; i++) be[i] = (uint8_t)(i + 1);
    assert_int_equal(u256_from_be(&a, be, 32), 0);
    assert_u256_hex(&a, "0x102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");
    uint8_t back[32];
    u256_to_be32(back, &a);
    assert_memory_equal(back, be, 32);
    assert_int_equal(u256_to_be_min(min, &a), 32);
    uint8_t big[33] = {0};
    assert_int_equal(u256_from_be(&a, big, 33), TALLY_ERANGE);
}

static void test_arith_vectors(void **st)
{
    u256 a = P("0x123456789abcdef0fedcba9876543210f0e1d2c3b4a5968778695a4b3c2d1e0f");
    u256 b = P("0x1f2e3d4c5b6a79880123456789abcdef");
    u256 r, q, m;
    assert_int_equal(u256_mul(&r, &a, &b), 1);
    assert_u256_hex(&r, "0x3749bfa609f87eba381268c3aba9450663a1b37ad9b1e555e56d05af6a361301");
    u256_divmod(&q, &m, &a, &b);
    assert_u256_hex(&q, "0x95766eacbc402097a0dd250c18fedc79");
    assert_u256_hex(&m, "0x14caa4ab34e40b049d51ac12c9dd6418");
    u256 c = P("0xffffffffffffffffffffffffffffffff");
    assert_int_equal(u256_mul(&r, &c, &c), 0);
    assert_u256_hex(&r, "0xfffffffffffffffffffffffffffffffe00000000000000000000000000000001");
    u256 d = u256_from_u64(0x1234567);
    u256_divmod(&q, &m, &a, &d);
    assert_u256_hex(&q, "0x1000000790000384e001a9cde0c9425022d6d21e794ed9b467197ea0da");
    assert_u256_hex(&m, "0x111a459");
    u256 e = P("0x8000000000000000000000000000000000000000000000000000000000000001");
    u256 f = P("0x10000000000000001");
    u256_divmod(&q, &m, &e, &f);
    assert_u256_hex(&q, "0x7fffffffffffffff80000000000000007fffffffffffffff");
    assert_u256_hex(&m, "0x8000000000000002");

    /* Carries and borrows, with aliasing. */
    u256 max = {{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}}, one = u256_from_u64(1);
    r = max;
    assert_int_equal(u256_add(&r, &r, &one), 1);
    assert_true(u256_is_zero(&r));
    assert_int_equal(u256_sub(&r, &r, &one), 1);
    assert_int_equal(u256_cmp(&r, &max), 0);
    u256 lo = {{UINT64_MAX, 0, 0, 0}};
    assert_int_equal(u256_add(&lo, &lo, &lo), 0);
    assert_u256_hex(&lo, "0x1fffffffffffffffe");
    assert_int_equal(u256_sub(&r, &one, &one), 0);
    assert_true(u256_is_zero(&r));
    assert_int_equal(u256_mul(&r, &max, &max), 1);
    assert_u256_hex(&r, "0x1");
    assert_int_equal(u256_mul(&r, &max, &one), 0);
    assert_int_equal(u256_cmp(&r, &max), 0);
    u256 two128 = {{0, 0, 1, 0}};
    assert_int_equal(u256_mul(&r, &two128, &two128), 1);
    assert_true(u256_is_zero(&r));

    /* Division edge cases. */
    u256 z = u256_from_u64(0);
    q = max;
    m = max;
    u256_divmod(&q, &m, &a, &z);
    assert_true(u256_is_zero(&q) && u256_is_zero(&m));
    u256_divmod(&q, &m, &b, &a); /* a > b: q = 0, m = b */
    assert_true(u256_is_zero(&q));
    assert_int_equal(u256_cmp(&m, &b), 0);
    u256_divmod(&q, NULL, &a, &a);
    assert_int_equal(u256_cmp(&q, &one), 0);
    u256_divmod(NULL, &m, &max, &max);
    assert_true(u256_is_zero(&m));
    r = a; /* aliasing: q and m over the inputs */
    u256_divmod(&r, &b, &r, &b);
    assert_u256_hex(&r, "0x95766eacbc402097a0dd250c18fedc79");
    assert_u256_hex(&b, "0x14caa4ab34e40b049d51ac12c9dd6418");

    assert_int_equal(u256_cmp(&one, &max), -1);
    assert_int_equal(u256_cmp(&max, &one), 1);
    u256 hi1 = {{0, 0, 0, 1}}, lo9 = {{UINT64_MAX, UINT64_MAX, UINT64_MAX, 0}};
    assert_int_equal(u256_cmp(&hi1, &lo9), 1);
}

static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Random value with a random number of significant bits (0..256). */
static u256 rand_u256(void)
{
    u256 a = {{rng(), rng(), rng(), rng()}};
    int bits = (int)(rng() % 257);
    for (int i = 0; i < 4; i++) {
        int keep = bits - 64 * i;
        if (keep <= 0)
            a.w[i] = 0;
        else if (keep < 64)
            a.w[i] &= ((uint64_t)1 << keep) - 1;
    }
    return a;
}

static void test_random(void **st)
{
    const char *env = getenv("TALLY_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    print_message("test_random: TALLY_SEED=%llu\n", (unsigned long long)seed);
    rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (int i = 0; i < 20000; i++) {
        u256 a = rand_u256(), b = rand_u256(), q, m, t, s;
        /* add/sub inverse, carry == borrow. */
        int c = u256_add(&s, &a, &b);
        assert_int_equal(u256_sub(&t, &s, &b), c);
        assert_int_equal(u256_cmp(&t, &a), 0);
        assert_int_equal(u256_sub(&t, &a, &b), u256_cmp(&a, &b) < 0);
        /* Division identity. */
        if (u256_is_zero(&b)) continue;
        u256_divmod(&q, &m, &a, &b);
        assert_int_equal(u256_cmp(&m, &b), -1);
        assert_int_equal(u256_mul(&t, &q, &b), 0);
        assert_int_equal(u256_add(&t, &t, &m), 0);
        if (u256_cmp(&t, &a) != 0) {
            char as[67], bs[67];
            u256_to_hex(as, &a);
            u256_to_hex(bs, &b);
            fail_msg("divmod(%s, %s) wrong", as, bs);
        }
        /* Text round trips. */
        char dec[79], hex[67];
        u256_to_dec(dec, &a);
        u256_to_hex(hex, &a);
        assert_int_equal(u256_parse(&t, dec), 0);
        assert_int_equal(u256_cmp(&t, &a), 0);
        assert_int_equal(u256_parse(&t, hex), 0);
        assert_int_equal(u256_cmp(&t, &a), 0);
        /* Bytes round trip. */
        uint8_t min[32];
        size_t n = u256_to_be_min(min, &a);
        assert_true(n == 0 || min[0] != 0);
        assert_int_equal(u256_from_be(&t, min, n), 0);
        assert_int_equal(u256_cmp(&t, &a), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_arith_vectors),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
