/* secp256k1: key -> address vectors, signatures identical to ethers.js
 * (RFC 6979), sign/recover round trips, EIP-2 high-s and range rejection,
 * recovery ids 2/3, and concurrent recovery from several threads (which also
 * races the one-time context creation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <secp256k1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "crypto/keccak.h"
#include "crypto/secp.h"
#include "util/hex.h"

static const char *N_HEX = "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
static const char *HALF_N_HEX =
    "0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0";

static void unhex32(uint8_t out[32], const char *s)
{
    assert_int_equal(hex_decode_fixed(out, 32, s), 0);
}

static void assert_addr(const uint8_t addr[20], const char *want)
{
    uint8_t w[20];
    assert_int_equal(hex_decode_fixed(w, 20, want), 0); /* checksum case ignored */
    assert_memory_equal(addr, w, 20);
}

/* Big-endian 256-bit a = b - a (b > a assumed). */
static void sub_from(uint8_t a[32], const uint8_t b[32])
{
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = b[i] - a[i] - borrow;
        borrow = d < 0;
        a[i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
}

/* Big-endian 256-bit a += v (no overflow in the uses here). */
static void add_small(uint8_t a[32], unsigned v)
{
    for (int i = 31; i >= 0 && v; i--) {
        unsigned t = a[i] + (v & 0xff);
        a[i] = (uint8_t)t;
        v = (v >> 8) + (t >> 8);
    }
}

/* ---- concurrency first, so the threads race pthread_once ---- */

#define THREADS    4
#define PER_THREAD 300

struct job {
    uint8_t sig[PER_THREAD][64];
    int recid[PER_THREAD];
    uint8_t digest[PER_THREAD][32];
    uint8_t addr[PER_THREAD][20];
    int bad;
};
static struct job jobs[THREADS];
static pthread_barrier_t start_line;

static void *recover_worker(void *arg)
{
    struct job *j = arg;
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < PER_THREAD; i++) {
        uint8_t a[20];
        if (secp_recover_addr(a, j->sig[i], j->recid[i], j->digest[i]) != 0 ||
            memcmp(a, j->addr[i], 20) != 0)
            j->bad++;
    }
    return NULL;
}

static void test_threads(void **st)
{
    /* Fixed signatures (made by ethers.js v6 with key 0x4c08...2318):
     * recovery needs no prior secp_* call, so the first use is concurrent. */
    uint8_t sig[64], digest[32];
    unhex32(digest, "0xc9096ffe4756b6ccced4fc07961d29e9d57f7de283a8d6224c11c5d8988e3919");
    unhex32(sig, "0x80410868f4f93938686d46aaebea2eeb99f9e0fe753332b857a307ecbc8100ee");
    unhex32(sig + 32, "0x6af23aa6789ea3dd30ca5ef3501b9a66c90f2f2e5c381e0e25df436dc5aebcb7");
    uint8_t addr[20];
    assert_int_equal(hex_decode_fixed(addr, 20, "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"), 0);
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < PER_THREAD; i++) {
            memcpy(jobs[t].sig[i], sig, 64);
            memcpy(jobs[t].digest[i], digest, 32);
            jobs[t].recid[i] = 1;
            memcpy(jobs[t].addr[i], addr, 20);
        }
    }
    pthread_t th[THREADS];
    assert_int_equal(pthread_barrier_init(&start_line, NULL, THREADS), 0);
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, recover_worker, &jobs[t]), 0);
    for (int t = 0; t < THREADS; t++) assert_int_equal(pthread_join(th[t], NULL), 0);
    pthread_barrier_destroy(&start_line);
    for (int t = 0; t < THREADS; t++) assert_int_equal(jobs[t].bad, 0);

    /* Now many different keys and digests, signed here, recovered in
     * parallel. */
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < PER_THREAD; i++) {
            uint8_t priv[32], pub[64];
            uint32_t ctr = (uint32_t)(t * PER_THREAD + i);
            keccak256(priv, &ctr, sizeof ctr);
            keccak256(jobs[t].digest[i], priv, 32);
            assert_int_equal(secp_sign(jobs[t].sig[i], &jobs[t].recid[i], jobs[t].digest[i], priv),
                             0);
            assert_int_equal(secp_pubkey(pub, priv), 0);
            secp_pub_to_addr(jobs[t].addr[i], pub);
        }
        jobs[t].bad = 0;
    }
    assert_int_equal(pthread_barrier_init(&start_line, NULL, THREADS), 0);
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, recover_worker, &jobs[t]), 0);
    for (int t = 0; t < THREADS; t++) assert_int_equal(pthread_join(th[t], NULL), 0);
    pthread_barrier_destroy(&start_line);
    for (int t = 0; t < THREADS; t++) assert_int_equal(jobs[t].bad, 0);
}

/* ---- vectors ---- */

static void test_key_to_address(void **st)
{
    static const struct {
        const char *priv, *addr;
    } v[] = {
        {"0x0000000000000000000000000000000000000000000000000000000000000001",
         "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"},
        {"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
         "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"},
        /* n - 1, the largest valid key (ethers.js computeAddress). */
        {"0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140",
         "0x80C0dbf239224071c59dD8970ab9d542E3414aB2"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t priv[32], pub[64], addr[20];
        unhex32(priv, v[i].priv);
        assert_int_equal(secp_pubkey(pub, priv), 0);
        secp_pub_to_addr(addr, pub);
        assert_addr(addr, v[i].addr);
    }
    /* Key 1's public key is the generator G. */
    uint8_t one[32] = {0}, pub[64], g[64];
    one[31] = 1;
    assert_int_equal(secp_pubkey(pub, one), 0);
    unhex32(g, "0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
    unhex32(g + 32, "0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8");
    assert_memory_equal(pub, g, 64);
    /* ethers' public key for 0x4c08...2318. */
    uint8_t priv[32], want[65];
    size_t n;
    unhex32(priv, "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
    assert_int_equal(secp_pubkey(pub, priv), 0);
    const char *pub_hex = "0x044e3b81af9c2234cad09d679ce6035ed1392347ce64ce405f5dcd36228a25de6e"
                          "47fd35c4215d1edf53e6f83de344615ce719bdb0fd878f6ed76f06dd277956de";
    assert_int_equal(hex_decode(want, sizeof want, &n, pub_hex, strlen(pub_hex)), 0);
    assert_int_equal(n, 65);
    assert_memory_equal(pub, want + 1, 64);
}

static void test_invalid_keys(void **st)
{
    uint8_t priv[32], pub[64], sig[64], digest[32] = {0};
    int recid;
    memset(priv, 0, 32);
    assert_int_equal(secp_pubkey(pub, priv), TALLY_EINVAL);
    assert_int_equal(secp_sign(sig, &recid, digest, priv), TALLY_EINVAL);
    unhex32(priv, N_HEX);
    assert_int_equal(secp_pubkey(pub, priv), TALLY_EINVAL);
    assert_int_equal(secp_sign(sig, &recid, digest, priv), TALLY_EINVAL);
    memset(priv, 0xff, 32);
    assert_int_equal(secp_pubkey(pub, priv), TALLY_EINVAL);
}

/* Deterministic signatures equal to ethers.js SigningKey.sign (RFC 6979). */
static void test_sign_matches_ethers(void **st)
{
    static const struct {
        const char *priv, *digest, *r, *s;
        int recid;
    } v[] = {
        {"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
         "0xc9096ffe4756b6ccced4fc07961d29e9d57f7de283a8d6224c11c5d8988e3919", /* keccak("tally") */
         "0x80410868f4f93938686d46aaebea2eeb99f9e0fe753332b857a307ecbc8100ee",
         "0x6af23aa6789ea3dd30ca5ef3501b9a66c90f2f2e5c381e0e25df436dc5aebcb7", 1},
        {"0x0000000000000000000000000000000000000000000000000000000000000001",
         "0x0000000000000000000000000000000000000000000000000000000000000000",
         "0xa0b37f8fba683cc68f6574cd43b39f0343a50008bf6ccea9d13231d9e7e2e1e4",
         "0x11edc8d307254296264aebfc3dc76cd8b668373a072fd64665b50000e9fcce52", 1},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t priv[32], digest[32], want[64], sig[64], pub[64], rpub[64];
        int recid = -1;
        unhex32(priv, v[i].priv);
        unhex32(digest, v[i].digest);
        unhex32(want, v[i].r);
        unhex32(want + 32, v[i].s);
        assert_int_equal(secp_sign(sig, &recid, digest, priv), 0);
        assert_memory_equal(sig, want, 64);
        assert_int_equal(recid, v[i].recid);
        assert_int_equal(secp_pubkey(pub, priv), 0);
        assert_int_equal(secp_recover(rpub, sig, recid, digest), 0);
        assert_memory_equal(rpub, pub, 64);
    }
}

static void test_round_trip(void **st)
{
    const char *env = getenv("TALLY_SEED");
    unsigned long long seed = env ? strtoull(env, NULL, 0) : (unsigned long long)time(NULL);
    print_message("test_round_trip: TALLY_SEED=%llu\n", seed);
    uint8_t h[32];
    keccak256(h, &seed, sizeof seed);
    for (int i = 0; i < 200; i++) {
        uint8_t priv[32], digest[32], sig[64], pub[64], rpub[64], addr[20], raddr[20];
        int recid;
        keccak256(priv, h, 32); /* keys and digests derived from the seed */
        keccak256(digest, priv, 32);
        memcpy(h, digest, 32);
        int rc = secp_pubkey(pub, priv);
        if (rc) continue; /* ~2^-128: not a valid key */
        assert_int_equal(secp_sign(sig, &recid, digest, priv), 0);
        assert_true(recid == 0 || recid == 1);
        assert_int_equal(secp_recover(rpub, sig, recid, digest), 0);
        assert_memory_equal(rpub, pub, 64);
        secp_pub_to_addr(addr, pub);
        assert_int_equal(secp_recover_addr(raddr, sig, recid, digest), 0);
        assert_memory_equal(raddr, addr, 20);
        /* The other parity recovers a different key (not an error). */
        if (secp_recover(rpub, sig, recid ^ 1, digest) == 0) assert_memory_not_equal(rpub, pub, 64);
        /* A different digest recovers a different key. */
        digest[0] ^= 1;
        if (secp_recover(rpub, sig, recid, digest) == 0) assert_memory_not_equal(rpub, pub, 64);
    }
    /* secp_random_key gives valid, distinct keys. */
    uint8_t k1[32], k2[32], pub[64];
    assert_int_equal(secp_random_key(k1), 0);
    assert_int_equal(secp_random_key(k2), 0);
    assert_memory_not_equal(k1, k2, 32);
    assert_int_equal(secp_pubkey(pub, k1), 0);
    assert_int_equal(secp_pubkey(pub, k2), 0);
}

static void test_reject(void **st)
{
    uint8_t priv[32], digest[32], sig[64], bad[64], pub[64], n[32], half[32];
    int recid;
    unhex32(n, N_HEX);
    unhex32(half, HALF_N_HEX);
    unhex32(priv, "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
    keccak256(digest, "tally", 5);
    assert_int_equal(secp_sign(sig, &recid, digest, priv), 0);
    assert_int_equal(secp_recover(pub, sig, recid, digest), 0);

    /* High s: (r, n - s) with the other parity is the same signature
     * mathematically, and EIP-2 forbids it. */
    memcpy(bad, sig, 64);
    sub_from(bad + 32, n);
    assert_true(memcmp(bad + 32, half, 32) > 0);
    assert_int_equal(secp_recover(pub, bad, recid ^ 1, digest), TALLY_ESIG);
    assert_int_equal(secp_recover(pub, bad, recid, digest), TALLY_ESIG);
    uint8_t addr[20];
    assert_int_equal(secp_recover_addr(addr, bad, recid ^ 1, digest), TALLY_ESIG);

    /* s = n/2 is allowed by EIP-2 (it may or may not recover); n/2 + 1 not. */
    memcpy(bad, sig, 32);
    memcpy(bad + 32, half, 32);
    int rc = secp_recover(pub, bad, 0, digest);
    assert_true(rc == 0 || rc == TALLY_ESIG);
    add_small(bad + 32, 1);
    assert_int_equal(secp_recover(pub, bad, 0, digest), TALLY_ESIG);
    assert_int_equal(secp_recover(pub, bad, 1, digest), TALLY_ESIG);

    /* r or s zero, r >= n, s >= n. */
    memcpy(bad, sig, 64);
    memset(bad, 0, 32);
    assert_int_equal(secp_recover(pub, bad, recid, digest), TALLY_ESIG);
    memcpy(bad, sig, 64);
    memset(bad + 32, 0, 32);
    assert_int_equal(secp_recover(pub, bad, recid, digest), TALLY_ESIG);
    memcpy(bad, sig, 64);
    memcpy(bad, n, 32);
    assert_int_equal(secp_recover(pub, bad, recid, digest), TALLY_ESIG);
    add_small(bad, 5); /* n + 5: a valid x coordinate mod p, still refused */
    assert_int_equal(secp_recover(pub, bad, recid, digest), TALLY_ESIG);
    memset(bad, 0xff, 32);
    assert_int_equal(secp_recover(pub, bad, recid, digest), TALLY_ESIG);
    memcpy(bad, sig, 64);
    memcpy(bad + 32, n, 32);
    assert_int_equal(secp_recover(pub, bad, recid, digest), TALLY_ESIG);

    /* Recovery ids outside 0..3. */
    assert_int_equal(secp_recover(pub, sig, -1, digest), TALLY_ESIG);
    assert_int_equal(secp_recover(pub, sig, 4, digest), TALLY_ESIG);
    assert_int_equal(secp_recover(pub, sig, 27, digest), TALLY_ESIG);
}

/* recid 2/3 mean R.x = r + n, which exists only for r < p - n (~2^128). For
 * an ordinary signature they fail; for a small r they can succeed, and the
 * recovered key must then verify the signature. */
static void test_recid_2_3(void **st)
{
    uint8_t priv[32], digest[32], sig[64], pub[64];
    int recid;
    unhex32(priv, "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
    keccak256(digest, "tally", 5);
    assert_int_equal(secp_sign(sig, &recid, digest, priv), 0);
    assert_int_equal(secp_recover(pub, sig, 2, digest), TALLY_ESIG);
    assert_int_equal(secp_recover(pub, sig, 3, digest), TALLY_ESIG);

    const secp256k1_context *vctx = secp256k1_context_static;
    int found = 0;
    for (unsigned r = 1; r < 64 && found < 3; r++) {
        uint8_t s2[64] = {0}, p2[64], p3[64];
        s2[31] = (uint8_t)r;
        memcpy(s2 + 32, sig + 32, 32);                      /* any low s */
        if (secp_recover(p2, s2, 2, digest) != 0) continue; /* r + n not on the curve */
        found++;
        assert_int_equal(secp_recover(p3, s2, 3, digest), 0);
        assert_memory_not_equal(p2, p3, 64);
        /* Both recovered keys verify (r, s) over digest. */
        secp256k1_ecdsa_signature es;
        assert_true(secp256k1_ecdsa_signature_parse_compact(vctx, &es, s2));
        for (int k = 0; k < 2; k++) {
            uint8_t ser[65] = {0x04};
            memcpy(ser + 1, k ? p3 : p2, 64);
            secp256k1_pubkey pk;
            assert_true(secp256k1_ec_pubkey_parse(vctx, &pk, ser, 65));
            assert_true(secp256k1_ecdsa_verify(vctx, &es, digest, &pk));
        }
    }
    assert_true(found > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),      cmocka_unit_test(test_key_to_address),
        cmocka_unit_test(test_invalid_keys), cmocka_unit_test(test_sign_matches_ethers),
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_reject),
        cmocka_unit_test(test_recid_2_3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
