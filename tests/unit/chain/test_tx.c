#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cJSON.h>
#include "chain/tx.h"
#include "crypto/secp.h"
#include "util/err.h"
#include "util/hex.h"

#ifndef TALLY_VECTORS_DIR
#error "TALLY_VECTORS_DIR must be defined (CMakeLists.txt)"
#endif
#ifndef TALLY_SOURCE_DIR
#error "TALLY_SOURCE_DIR must be defined (CMakeLists.txt)"
#endif

/* Hardhat development account #0 (also the key of tests/vectors/tx_ethers.json). */
static const char *key_hex = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
static const char *key_addr = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";

/* ---- helpers ---------------------------------------------------------- */

static uint8_t *unhex(const char *s, size_t *len)
{
    size_t n = strlen(s);
    uint8_t *p = malloc(n / 2 + 1);
    assert_non_null(p);
    if (hex_decode(p, n / 2 + 1, len, s, n) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

static void unhex_fixed(uint8_t *out, size_t n, const char *s)
{
    assert_int_equal(hex_decode_fixed(out, n, s), 0);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return p;
}

static void key(uint8_t priv[32])
{
    unhex_fixed(priv, 32, key_hex);
}

static void assert_addr(const uint8_t addr[20], const char *hex)
{
    char s[43];
    hex_encode(s, addr, 20);
    assert_string_equal(s, hex);
}

static void assert_hash(const uint8_t h[32], const char *hex)
{
    char s[67];
    hex_encode(s, h, 32);
    assert_string_equal(s, hex);
}

static uint64_t test_seed(void)
{
    const char *s = getenv("TALLY_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    printf("test_tx seed: TALLY_SEED=%" PRIu64 "\n", seed);
    return seed;
}

static uint64_t rnd(uint64_t *st)
{
    *st ^= *st << 13;
    *st ^= *st >> 7;
    *st ^= *st << 17;
    return *st;
}

/* ---- senders from public-key hints ------------------------------------ */

/* n transfers from n different keys, decoded again (no sender yet), with
 * the right public keys as hints: the batch establishes every sender; one
 * wrong hint, or one bad signature, makes it refuse the batch and change
 * nothing, and recovery one by one (what the caller does then) still gets
 * every good one right and never gives the bad one its signer. */
static void test_hinted_senders(void **st)
{
    (void)st;
    enum { N = 40 };
    struct tx *signed_tx[N], *tx[N];
    uint8_t hints[N][64], want[N][20], priv[32];
    char err[128];
    for (int i = 0; i < N; i++) {
        memset(priv, 0, 32);
        priv[31] = (uint8_t)(i + 1);
        priv[0] = 0x42;
        struct tx_fields f = {.type = TX_DYNAMIC_FEE,
                              .chain_id = 1337,
                              .nonce = (uint64_t)i,
                              .gas_limit = 21000,
                              .has_to = 1,
                              .value = u256_from_u64(1)};
        assert_int_equal(tx_sign(&signed_tx[i], &f, priv), 0);
        assert_true(signed_tx[i]->has_pub);
        memcpy(hints[i], signed_tx[i]->pub, 64);
        memcpy(want[i], signed_tx[i]->sender, 20);
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++)
            assert_int_equal(
                tx_decode(&tx[i], signed_tx[i]->raw, signed_tx[i]->raw_len, err, sizeof err), 0);
        uint8_t h[N][64];
        memcpy(h, hints, sizeof h);
        if (round == 1) memcpy(h[17], hints[3], 64); /* a wrong hint */
        if (round == 2) tx[9]->sig[40] ^= 1;         /* a bad signature (s changed) */
        int rc = tx_senders_from_hints(tx, (const uint8_t(*)[64])h, N);
        assert_int_equal(rc, round == 0 ? 0 : TALLY_ESIG);
        long missing = 0;
        for (int i = 0; i < N; i++) {
            if (rc) { /* refused: nothing set; the caller recovers each */
                assert_false(tx[i]->has_sender);
                missing += tx_recover_sender(tx[i]) != 0;
            }
            if (round == 2 && i == 9) {
                /* recovers to someone else's key, or not at all: never tx 9's sender */
                assert_false(tx[i]->has_sender && !memcmp(tx[i]->sender, want[i], 20));
                continue;
            }
            assert_true(tx[i]->has_sender);
            assert_memory_equal(tx[i]->sender, want[i], 20);
            assert_memory_equal(tx[i]->pub, hints[i], 64);
        }
        assert_true(missing >= 0 && missing <= 1);
        for (int i = 0; i < N; i++) tx_free(tx[i]);
    }
    for (int i = 0; i < N; i++) tx_free(signed_tx[i]);
}

/* ---- signing round trips ---------------------------------------------- */

static void sign_and_check(const struct tx_fields *f)
{
    uint8_t priv[32];
    struct tx *tx, *back;
    char err[128];
    key(priv);
    assert_int_equal(tx_sign(&tx, f, priv), 0);
    assert_true(tx->has_sender);
    assert_addr(tx->sender, key_addr);

    /* The raw bytes decode to the same transaction and sender. */
    assert_int_equal(tx_decode(&back, tx->raw, tx->raw_len, err, sizeof(err)), 0);
    assert_false(back->has_sender);
    assert_int_equal(tx_recover_sender(back), 0);
    assert_addr(back->sender, key_addr);
    assert_memory_equal(back->hash, tx->hash, 32);
    assert_memory_equal(back->sighash, tx->sighash, 32);
    assert_int_equal(back->type, f->type);
    assert_int_equal(back->has_chain_id, 1);
    assert_int_equal(back->chain_id, f->chain_id);
    assert_int_equal(back->nonce, f->nonce);
    assert_int_equal(back->gas_limit, f->gas_limit);
    assert_int_equal(back->has_to, f->has_to);
    if (f->has_to) assert_memory_equal(back->to, f->to, 20);
    assert_int_equal(u256_cmp(&back->value, &f->value), 0);
    assert_int_equal(back->data_len, f->data_len);
    if (f->data_len) assert_memory_equal(back->data, f->data, f->data_len);
    if (f->type == TX_DYNAMIC_FEE) {
        assert_int_equal(u256_cmp(&back->max_fee, &f->max_fee), 0);
        assert_int_equal(u256_cmp(&back->max_priority_fee, &f->max_priority_fee), 0);
        assert_int_equal(u256_cmp(&back->gas_price, &f->max_fee), 0);
    } else {
        assert_int_equal(u256_cmp(&back->gas_price, &f->gas_price), 0);
        assert_int_equal(u256_cmp(&back->max_fee, &f->gas_price), 0);
    }
    if (f->type != TX_LEGACY) {
        assert_non_null(back->access_list);
        assert_int_equal(back->access_list_len, 1); /* 0xc0 */
        assert_int_equal(back->access_list_addrs, 0);
    }
    assert_int_equal(tx_validate_basic(back, err, sizeof(err)), 0);
    assert_int_equal(tx_check_chain_id(back, f->chain_id, err, sizeof(err)), 0);
    assert_int_equal(tx_check_chain_id(back, f->chain_id + 1, err, sizeof(err)), TALLY_ECHAINID);
    assert_non_null(strstr(err, "chain id"));
    tx_free(back);
    tx_free(tx);
}

static void test_sign_legacy(void **st)
{
    static const uint8_t data[] = {0xde, 0xad, 0x00, 0xbe, 0xef};
    struct tx_fields f = {.type = TX_LEGACY,
                          .chain_id = 1337,
                          .nonce = 7,
                          .gas_limit = 30000,
                          .has_to = 1,
                          .data = data,
                          .data_len = sizeof(data)};
    f.gas_price = u256_from_u64(20000000000ull);
    f.value = u256_from_u64(1000000000000000000ull);
    memset(f.to, 0x35, 20);
    sign_and_check(&f);
    f.chain_id = 0x7fffffffffffffedull; /* largest chain id whose v fits in 64 bits */
    sign_and_check(&f);
    f.chain_id = 1;
    f.has_to = 0; /* creation */
    f.data_len = 0;
    f.gas_limit = 53000;
    sign_and_check(&f);
    uint8_t priv[32];
    struct tx *tx;
    key(priv);
    f.chain_id = UINT64_MAX / 2; /* v = 2*chain_id + 35 overflows */
    assert_int_equal(tx_sign(&tx, &f, priv), TALLY_EINVAL);
    assert_null(tx);
}

static void test_sign_dynamic_fee(void **st)
{
    uint8_t big[300];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = (uint8_t)i;
    struct tx_fields f = {.type = TX_DYNAMIC_FEE,
                          .chain_id = 20240101,
                          .nonce = UINT64_MAX - 1,
                          .gas_limit = 1000000,
                          .has_to = 1,
                          .data = big,
                          .data_len = sizeof(big)};
    f.max_fee = u256_from_u64(30000000000ull);
    f.max_priority_fee = u256_from_u64(1500000000ull);
    f.value.w[3] = 0x0123456789abcdefull; /* a 256-bit value */
    f.value.w[0] = 1;
    memset(f.to, 0x70, 20);
    sign_and_check(&f);
    f.has_to = 0;
    sign_and_check(&f);
    f.type = TX_ACCESS_LIST;
    f.gas_price = u256_from_u64(1);
    f.has_to = 1;
    sign_and_check(&f);

    uint8_t priv[32] = {0};
    struct tx *tx;
    assert_int_equal(tx_sign(&tx, &f, priv), TALLY_EINVAL); /* zero key */
    key(priv);
    f.type = 3;
    assert_int_equal(tx_sign(&tx, &f, priv), TALLY_EINVAL);
}

/* tx_sign uses RFC 6979 nonces like ethers, so the same fields give the same
 * bytes as the ethers-signed vectors. */
static void test_sign_matches_ethers(void **st)
{
    uint8_t priv[32];
    struct tx *tx;
    size_t len;
    key(priv);

    struct tx_fields l = {
        .type = TX_LEGACY, .chain_id = 1337, .nonce = 7, .gas_limit = 21000, .has_to = 1};
    l.gas_price = u256_from_u64(20000000000ull);
    l.value = u256_from_u64(1000000000000000000ull);
    memset(l.to, 0x35, 20);
    uint8_t *raw =
        unhex("0xf86e078504a817c800825208943535353535353535353535353535353535353535880de0"
              "b6b3a764000080820a96a06eec3fb0bc125405462a3a60327d9aa82de0835deb166e835e"
              "49fbdd70b90bbba0796bb1aca5d335f3f58f6f231b83ea42c88234bc4192eb5bebeaf3dc"
              "b41cd5ea",
              &len);
    assert_int_equal(tx_sign(&tx, &l, priv), 0);
    assert_int_equal(tx->raw_len, len);
    assert_memory_equal(tx->raw, raw, len);
    tx_free(tx);
    free(raw);

    struct tx_fields d = {
        .type = TX_DYNAMIC_FEE, .chain_id = 1337, .nonce = 42, .gas_limit = 21000, .has_to = 1};
    d.max_priority_fee = u256_from_u64(1500000000ull);
    d.max_fee = u256_from_u64(30000000000ull);
    d.value = u256_from_u64(123456789);
    unhex_fixed(d.to, 20, "0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
    raw = unhex("0x02f8718205392a8459682f008506fc23ac008252089470997970c51812dc3a010c7d01b50e0d"
                "17dc79c884075bcd1580c080a0733ac168b6cab81387318f85d9f68b15a375236ae04116868459"
                "ec7dce8e3f6ba016db3d4e2cd7ce032325499502a067517b2abeaf67621832907d2e700564e499",
                &len);
    assert_int_equal(tx_sign(&tx, &d, priv), 0);
    assert_int_equal(tx->raw_len, len);
    assert_memory_equal(tx->raw, raw, len);
    tx_free(tx);
    free(raw);
}

/* Raw transactions signed by ethers v6 (tests/vectors/gen_tx.mjs). */
static void test_ethers_vectors(void **st)
{
    const char *path = TALLY_SOURCE_DIR "/tests/vectors/tx_ethers.json";
    char *text = read_file(path, NULL);
    if (!text) fail_msg("missing %s", path);
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(root, "vectors");
    assert_true(cJSON_IsArray(vs));
    int seen = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, vs)
    {
        const char *name = cJSON_GetObjectItemCaseSensitive(v, "name")->valuestring;
        const char *rawhex = cJSON_GetObjectItemCaseSensitive(v, "raw")->valuestring;
        size_t len;
        uint8_t *raw = unhex(rawhex, &len);
        struct tx *tx;
        char err[128];
        assert_non_null(raw);
        int rc = tx_decode(&tx, raw, len, err, sizeof(err));
        if (rc) fail_msg("%s: %s (%s)", name, tally_errname(rc), err);
        assert_int_equal(tx_recover_sender(tx), 0);
        assert_hash(tx->hash, cJSON_GetObjectItemCaseSensitive(v, "hash")->valuestring);
        assert_addr(tx->sender, cJSON_GetObjectItemCaseSensitive(v, "sender")->valuestring);
        assert_int_equal(tx->type, cJSON_GetObjectItemCaseSensitive(v, "type")->valueint);
        assert_int_equal(tx->chain_id,
                         (uint64_t)cJSON_GetObjectItemCaseSensitive(v, "chainId")->valuedouble);
        assert_int_equal(tx->nonce, cJSON_GetObjectItemCaseSensitive(v, "nonce")->valueint);
        assert_int_equal(
            tx_intrinsic_gas(tx),
            (uint64_t)cJSON_GetObjectItemCaseSensitive(v, "intrinsicGas")->valuedouble);
        assert_int_equal(tx_validate_basic(tx, err, sizeof(err)), 0);
        if (strcmp(name, "dynamic_fee_create_access_list") == 0) {
            assert_false(tx->has_to);
            assert_int_equal(tx->access_list_addrs, 2);
            assert_int_equal(tx->access_list_keys, 2);
        }
        tx_free(tx);
        free(raw);
        seen++;
    }
    assert_int_equal(seen, 5);
    cJSON_Delete(root);
    free(text);
}

/* ---- malformed input -------------------------------------------------- */

static struct tx *signed_legacy(void)
{
    uint8_t priv[32];
    struct tx *tx;
    struct tx_fields f = {
        .type = TX_LEGACY, .chain_id = 5, .nonce = 1, .gas_limit = 21000, .has_to = 1};
    f.gas_price = u256_from_u64(1000);
    key(priv);
    assert_int_equal(tx_sign(&tx, &f, priv), 0);
    return tx;
}

static struct tx *signed_dynamic(void)
{
    uint8_t priv[32];
    struct tx *tx;
    static const uint8_t data[] = {1, 2, 3};
    struct tx_fields f = {.type = TX_DYNAMIC_FEE,
                          .chain_id = 5,
                          .nonce = 1,
                          .gas_limit = 50000,
                          .has_to = 1,
                          .data = data,
                          .data_len = 3};
    f.max_fee = u256_from_u64(1000);
    f.max_priority_fee = u256_from_u64(10);
    key(priv);
    assert_int_equal(tx_sign(&tx, &f, priv), 0);
    return tx;
}

static void refuse_prefixes_and_trailing(const struct tx *tx)
{
    struct tx *out = (struct tx *)1;
    char err[128];
    uint8_t *buf = malloc(tx->raw_len + 1);
    assert_non_null(buf);
    memcpy(buf, tx->raw, tx->raw_len);
    for (size_t n = 0; n < tx->raw_len; n++) {
        int rc = tx_decode(&out, buf, n, err, sizeof(err));
        assert_true(rc < 0);
        assert_null(out);
        if (n > 0) assert_true(err[0] != '\0');
    }
    buf[tx->raw_len] = 0x00;
    assert_int_equal(tx_decode(&out, buf, tx->raw_len + 1, err, sizeof(err)), TALLY_ETRAILING);
    assert_null(out);
    free(buf);
}

static void test_truncated_trailing(void **st)
{
    struct tx *l = signed_legacy(), *d = signed_dynamic();
    refuse_prefixes_and_trailing(l);
    refuse_prefixes_and_trailing(d);
    tx_free(l);
    tx_free(d);
}

static void test_garbage(void **st)
{
    uint64_t s = test_seed() | 1;
    struct tx *orig = signed_dynamic();
    uint8_t buf[512];
    char err[128];
    int decoded = 0;
    for (int iter = 0; iter < 20000; iter++) {
        struct tx *tx = NULL;
        size_t n = rnd(&s) % sizeof(buf);
        if (iter & 1) { /* pure noise */
            for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rnd(&s);
        } else { /* a valid transaction with a few bytes flipped */
            n = orig->raw_len;
            memcpy(buf, orig->raw, n);
            for (int k = 0; k < 1 + (int)(rnd(&s) % 3); k++) buf[rnd(&s) % n] ^= (uint8_t)rnd(&s);
        }
        int rc = tx_decode(&tx, buf, n, err, sizeof(err));
        if (rc == 0) { /* accepted: must be self-consistent */
            decoded++;
            assert_int_equal(tx->raw_len, n);
            assert_true(tx->data_len <= n);
            (void)tx_intrinsic_gas(tx);
            (void)!tx_recover_sender(tx);
            tx_free(tx);
        } else {
            assert_null(tx);
        }
    }
    printf("garbage: %d of 20000 mutated inputs still decoded\n", decoded);
    tx_free(orig);
}

static void test_refusals(void **st)
{
    struct tx *tx = NULL;
    char err[128];
    size_t len;
    uint8_t *raw;

    assert_int_equal(tx_decode(&tx, (const uint8_t *)"", 0, err, sizeof(err)), TALLY_EDECODE);

    static uint8_t big[TX_MAX_SIZE + 1];
    assert_int_equal(tx_decode(&tx, big, sizeof(big), err, sizeof(err)), TALLY_ETOOBIG);

    /* Type 3 (blob) and other types are not supported. */
    const uint8_t t3[] = {0x03, 0xc0};
    assert_int_equal(tx_decode(&tx, t3, sizeof(t3), err, sizeof(err)), TALLY_ETXTYPE);
    const uint8_t t0[] = {0x00, 0xc0};
    assert_int_equal(tx_decode(&tx, t0, sizeof(t0), err, sizeof(err)), TALLY_ETXTYPE);
    /* An RLP string is not a transaction. */
    const uint8_t str[] = {0x82, 0x01, 0x02};
    assert_int_equal(tx_decode(&tx, str, sizeof(str), err, sizeof(err)), TALLY_EDECODE);
    /* Typed transaction whose payload is a string. */
    const uint8_t tstr[] = {0x02, 0x82, 0x01, 0x02};
    assert_int_equal(tx_decode(&tx, tstr, sizeof(tstr), err, sizeof(err)), TALLY_EDECODE);

    /* Legacy with v = 29: neither 27/28 nor >= 35. */
    raw = unhex("0xf85f800182520894b94f5374fce5edbc8e2a8697c15331677e6ebf0b0a801da098ff92120155"
                "4726367d2be8c804a7ff89ccf285ebc57dff8ae4c44b9c19ac4aa08887321be575c8095f789dd4"
                "c743dfe42c1820f9231f98a962b210e3ac2452a3",
                &len);
    assert_non_null(raw);
    assert_int_equal(tx_decode(&tx, raw, len, err, sizeof(err)), TALLY_ESIG);
    assert_non_null(strstr(err, "v=29"));
    free(raw);

    /* High s (the malleated twin of a valid signature) is refused at decode. */
    struct tx *d = signed_dynamic();
    uint8_t hi[32];
    u256 s, n;
    assert_int_equal(u256_from_be(&s, d->sig + 32, 32), 0);
    assert_int_equal(
        u256_parse(&n, "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"), 0);
    assert_int_equal(u256_sub(&s, &n, &s), 0);
    u256_to_be32(hi, &s);
    /* s is the last field: 0xa0 || 32 bytes at the end of raw. */
    uint8_t *m = malloc(d->raw_len);
    memcpy(m, d->raw, d->raw_len);
    assert_int_equal(m[d->raw_len - 33], 0xa0);
    memcpy(m + d->raw_len - 32, hi, 32);
    assert_int_equal(tx_decode(&tx, m, d->raw_len, err, sizeof(err)), TALLY_ESIG);
    free(m);
    tx_free(d);
}

/* ---- validation rules -------------------------------------------------- */

static void test_intrinsic_and_validate(void **st)
{
    uint8_t priv[32];
    struct tx *tx;
    char err[128];
    uint8_t data[100] = {0};
    data[0] = 1; /* 1 nonzero byte, 99 zero bytes: 16 + 396 */
    key(priv);

    struct tx_fields f = {.type = TX_LEGACY,
                          .chain_id = 1,
                          .gas_limit = 21412,
                          .has_to = 1,
                          .data = data,
                          .data_len = sizeof(data)};
    assert_int_equal(tx_sign(&tx, &f, priv), 0);
    assert_int_equal(tx_intrinsic_gas(tx), 21412);
    assert_int_equal(tx_validate_basic(tx, err, sizeof(err)), 0);
    tx_free(tx);
    f.gas_limit = 21411;
    assert_int_equal(tx_sign(&tx, &f, priv), 0);
    assert_int_equal(tx_validate_basic(tx, err, sizeof(err)), TALLY_EINTRINSIC);
    assert_string_equal(err, "intrinsic gas too low: have 21411, want 21412");
    tx_free(tx);

    /* Creation: + 32000 + 2 per 32-byte word (100 bytes = 4 words). */
    f.has_to = 0;
    f.gas_limit = 100000;
    assert_int_equal(tx_sign(&tx, &f, priv), 0);
    assert_int_equal(tx_intrinsic_gas(tx), 21412 + 32000 + 8);
    tx_free(tx);

    /* Initcode cap (EIP-3860). */
    uint8_t *init = calloc(1, TX_MAX_INITCODE_SIZE + 1);
    f.data = init;
    f.data_len = TX_MAX_INITCODE_SIZE + 1;
    f.gas_limit = 10000000;
    assert_int_equal(tx_sign(&tx, &f, priv), 0);
    assert_int_equal(tx_validate_basic(tx, err, sizeof(err)), TALLY_ETOOBIG);
    tx_free(tx);
    f.data_len = TX_MAX_INITCODE_SIZE;
    assert_int_equal(tx_sign(&tx, &f, priv), 0);
    assert_int_equal(tx_validate_basic(tx, err, sizeof(err)), 0);
    tx_free(tx);
    f.has_to = 1; /* a call may carry more data */
    f.data_len = TX_MAX_INITCODE_SIZE + 1;
    assert_int_equal(tx_sign(&tx, &f, priv), 0);
    assert_int_equal(tx_validate_basic(tx, err, sizeof(err)), 0);
    tx_free(tx);
    free(init);
    f.data = NULL;
    f.data_len = 0;

    /* Nonce 2^64-1 (EIP-2681). */
    f.gas_limit = 21000;
    f.nonce = UINT64_MAX;
    assert_int_equal(tx_sign(&tx, &f, priv), 0);
    assert_int_equal(tx_validate_basic(tx, err, sizeof(err)), TALLY_ERANGE);
    tx_free(tx);
    f.nonce = 0;

    /* gas * price overflows 256 bits. */
    memset(&f.gas_price, 0xff, sizeof(f.gas_price));
    assert_int_equal(tx_sign(&tx, &f, priv), 0);
    assert_int_equal(tx_validate_basic(tx, err, sizeof(err)), TALLY_ERANGE);
    tx_free(tx);

    /* Priority fee above max fee. */
    struct tx_fields d = {.type = TX_DYNAMIC_FEE, .chain_id = 1, .gas_limit = 21000, .has_to = 1};
    d.max_fee = u256_from_u64(10);
    d.max_priority_fee = u256_from_u64(11);
    assert_int_equal(tx_sign(&tx, &d, priv), 0);
    assert_int_equal(tx_validate_basic(tx, err, sizeof(err)), TALLY_EFEE);
    tx_free(tx);
}

static void test_effective_gas_price(void **st)
{
    uint8_t priv[32];
    struct tx *tx;
    u256 base, eff;
    key(priv);
    struct tx_fields d = {.type = TX_DYNAMIC_FEE, .chain_id = 1, .gas_limit = 21000, .has_to = 1};
    d.max_fee = u256_from_u64(100);
    d.max_priority_fee = u256_from_u64(7);
    assert_int_equal(tx_sign(&tx, &d, priv), 0);
    base = u256_from_u64(50);
    tx_effective_gas_price(&eff, tx, &base);
    assert_int_equal(eff.w[0], 57);
    base = u256_from_u64(95);
    tx_effective_gas_price(&eff, tx, &base);
    assert_int_equal(eff.w[0], 100);
    memset(&base, 0xff, sizeof(base)); /* base + tip overflows: capped at max fee */
    tx_effective_gas_price(&eff, tx, &base);
    assert_int_equal(u256_cmp(&eff, &d.max_fee), 0);
    tx_free(tx);

    struct tx_fields l = {.type = TX_LEGACY, .chain_id = 1, .gas_limit = 21000, .has_to = 1};
    l.gas_price = u256_from_u64(33);
    assert_int_equal(tx_sign(&tx, &l, priv), 0);
    base = u256_from_u64(0);
    tx_effective_gas_price(&eff, tx, &base);
    assert_int_equal(eff.w[0], 33);
    base = u256_from_u64(30);
    tx_effective_gas_price(&eff, tx, &base);
    assert_int_equal(eff.w[0], 33);
    tx_free(tx);
}

/* ---- ethereum/tests TransactionTests ----------------------------------- */

/* Vectors this decoder deliberately does not follow, with the reason. */
static const struct {
    const char *name;
    const char *reason;
} tt_unsupported[] = {
    {NULL, NULL},
};

/* The fork whose result is used: Cancun, or for the few vectors that stop
 * before it (they are invalid in every fork), the latest one they list. */
static const char *const tt_forks[] = {
    "Cancun",   "Shanghai",          "Paris",     "London", "Berlin",
    "Istanbul", "ConstantinopleFix", "Byzantium", NULL};

#define TT_CHAIN_ID 1

struct tt_stats {
    int passed, failed, skipped, from_older_fork;
    char failures[8192];
};

static const char *tt_skip_reason(const char *name)
{
    for (size_t i = 0; tt_unsupported[i].name; i++)
        if (strcmp(tt_unsupported[i].name, name) == 0) return tt_unsupported[i].reason;
    return NULL;
}

static void tt_fail(struct tt_stats *s, const char *name, const char *why)
{
    size_t used = strlen(s->failures);
    s->failed++;
    snprintf(s->failures + used, sizeof(s->failures) - used, "  %s: %s\n", name, why);
}

/* Decode and apply every stateless check; 0 if the transaction is valid. */
static int tt_accept(struct tx **out, const uint8_t *raw, size_t len, char *err, size_t errlen)
{
    int rc = tx_decode(out, raw, len, err, errlen);
    if (rc == 0) rc = tx_check_chain_id(*out, TT_CHAIN_ID, err, errlen);
    if (rc == 0) rc = tx_validate_basic(*out, err, errlen);
    if (rc == 0 && tx_recover_sender(*out) != 0) {
        snprintf(err, errlen, "sender recovery failed");
        rc = TALLY_ESIG;
    }
    return rc;
}

static void tt_run_case(struct tt_stats *s, const char *name, const cJSON *c)
{
    const cJSON *txbytes = cJSON_GetObjectItemCaseSensitive(c, "txbytes");
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(c, "result");
    const cJSON *res = NULL;
    char why[256], err[128] = "";
    if (tt_skip_reason(name)) {
        s->skipped++;
        return;
    }
    for (size_t i = 0; tt_forks[i] && !res; i++) {
        res = cJSON_GetObjectItemCaseSensitive(results, tt_forks[i]);
        if (res && i > 0) s->from_older_fork++;
    }
    if (!cJSON_IsString(txbytes) || !res) {
        tt_fail(s, name, "vector without txbytes or a usable fork result");
        return;
    }
    const cJSON *exc = cJSON_GetObjectItemCaseSensitive(res, "exception");
    size_t len = 0;
    uint8_t *raw = unhex(txbytes->valuestring, &len);
    struct tx *tx = NULL;
    int rc = raw ? tt_accept(&tx, raw, len, err, sizeof(err)) : TALLY_EDECODE;
    if (exc) {
        if (rc == 0) {
            snprintf(why, sizeof(why), "accepted, want %s", exc->valuestring);
            tt_fail(s, name, why);
        } else {
            s->passed++;
            if (getenv("TALLY_VERBOSE"))
                printf("  refused %-45s want %-50s got %s (%s)\n", name, exc->valuestring,
                       tally_errname(rc), err);
        }
    } else if (rc != 0) {
        snprintf(why, sizeof(why), "refused (%s: %s), want valid", tally_errname(rc), err);
        tt_fail(s, name, why);
    } else {
        char hash[67], sender[43];
        const char *want_hash = cJSON_GetObjectItemCaseSensitive(res, "hash")->valuestring;
        const char *want_sender = cJSON_GetObjectItemCaseSensitive(res, "sender")->valuestring;
        const cJSON *ig = cJSON_GetObjectItemCaseSensitive(res, "intrinsicGas");
        uint64_t want_gas = 0;
        hex_encode(hash, tx->hash, 32);
        hex_encode(sender, tx->sender, 20);
        if (cJSON_IsString(ig) && hex_quantity_u64(&want_gas, ig->valuestring) != 0)
            want_gas = UINT64_MAX;
        if (strcmp(hash, want_hash) != 0) {
            snprintf(why, sizeof(why), "hash %s, want %s", hash, want_hash);
            tt_fail(s, name, why);
        } else if (strcmp(sender, want_sender) != 0) {
            snprintf(why, sizeof(why), "sender %s, want %s", sender, want_sender);
            tt_fail(s, name, why);
        } else if (cJSON_IsString(ig) && tx_intrinsic_gas(tx) != want_gas) {
            snprintf(why, sizeof(why), "intrinsic gas %" PRIu64 ", want %s", tx_intrinsic_gas(tx),
                     ig->valuestring);
            tt_fail(s, name, why);
        } else {
            s->passed++;
        }
    }
    tx_free(tx);
    free(raw);
}

static void tt_run_file(struct tt_stats *s, const char *path)
{
    char *text = read_file(path, NULL);
    if (!text) fail_msg("cannot read %s", path);
    cJSON *root = cJSON_Parse(text);
    if (!root) {
        tt_fail(s, path, "JSON parse error");
        free(text);
        return;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, root) tt_run_case(s, c->string, c);
    cJSON_Delete(root);
    free(text);
}

static int tt_walk(struct tt_stats *s, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;
    if (!d) fail_msg("cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        struct stat sb;
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            files += tt_walk(s, path);
        } else if (strlen(e->d_name) > 5 &&
                   strcmp(e->d_name + strlen(e->d_name) - 5, ".json") == 0) {
            tt_run_file(s, path);
            files++;
        }
    }
    closedir(d);
    return files;
}

static void test_transaction_tests(void **st)
{
    const char *dir = TALLY_VECTORS_DIR "/TransactionTests";
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        fail_msg("conformance vectors missing: %s (see ethereum-tests/README.md)", dir);
    struct tt_stats *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    int files = tt_walk(s, dir);
    printf("TransactionTests: %d files, %d passed, %d failed, %d skipped "
           "(%d judged by a fork before Cancun, which they predate)\n",
           files, s->passed, s->failed, s->skipped, s->from_older_fork);
    for (size_t i = 0; tt_unsupported[i].name; i++)
        printf("  not supported: %s: %s\n", tt_unsupported[i].name, tt_unsupported[i].reason);
    if (s->failed) printf("failures:\n%s", s->failures);
    assert_true(files > 0);
    int failed = s->failed;
    free(s);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_legacy),
        cmocka_unit_test(test_sign_dynamic_fee),
        cmocka_unit_test(test_sign_matches_ethers),
        cmocka_unit_test(test_ethers_vectors),
        cmocka_unit_test(test_truncated_trailing),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_intrinsic_and_validate),
        cmocka_unit_test(test_effective_gas_price),
        cmocka_unit_test(test_transaction_tests),
        cmocka_unit_test(test_hinted_senders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
