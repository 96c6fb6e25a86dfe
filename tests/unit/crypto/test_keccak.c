/* Keccak-256: published vectors, vectors computed by ethers.js
 * (tests/vectors/keccak_ethers.json, see gen_keccak.mjs), and incremental
 * absorption in odd chunk sizes against the one-shot digest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/keccak.h"
#include "util/hex.h"

static void assert_digest(const uint8_t d[32], const char *hex64)
{
    char got[67];
    hex_encode(got, d, 32);
    assert_string_equal(got + 2, hex64);
}

static void test_published(void **st)
{
    uint8_t d[32];
    keccak256(d, "", 0);
    assert_digest(d, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    keccak256(d, "abc", 3);
    assert_digest(d, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    const char *fox = "The quick brown fox jumps over the lazy dog";
    keccak256(d, fox, strlen(fox));
    assert_digest(d, "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15");
    /* 56 bytes: the NIST two-block message (one Keccak block here). */
    const char *n56 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    keccak256(d, n56, strlen(n56));
    assert_digest(d, "45d3b367a6904e6e8d502ee04999a7c27647f91fa845d456525fd352ae3d7371");
    /* 200 bytes of 0xa3: two blocks. */
    uint8_t a3[200];
    memset(a3, 0xa3, sizeof a3);
    keccak256(d, a3, sizeof a3);
    assert_digest(d, "3a57666b048777f2c953dc4456f45a2588e1cb6f2da760122d530ac2ce607d4a");
    /* The Solidity selector source: transfer(address,uint256) -> a9059cbb. */
    const char *sig = "transfer(address,uint256)";
    keccak256(d, sig, strlen(sig));
    assert_int_equal(d[0], 0xa9);
    assert_int_equal(d[1], 0x05);
    assert_int_equal(d[2], 0x9c);
    assert_int_equal(d[3], 0xbb);
}

/* One million 'a': 7353 blocks. */
static void test_million_a(void **st)
{
    size_t n = 1000000;
    uint8_t *m = malloc(n), d[32];
    assert_non_null(m);
    memset(m, 'a', n);
    keccak256(d, m, n);
    assert_digest(d, "fadae6b49f129bbb812be8407b7b2894f34aecf6dbd1f9b0f0c7e9853098fc96");
    free(m);
}

/* out may alias in (documented). */
static void test_alias(void **st)
{
    uint8_t buf[32] = {0};
    memcpy(buf, "abc", 3);
    keccak256(buf, buf, 3);
    assert_digest(buf, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
}

static void test_incremental(void **st)
{
    static const size_t chunks[] = {1, 2, 3, 5, 7, 13, 64, 135, 136, 137, 271, 1000};
    uint8_t msg[1200], one[32], inc[32];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 37 + 11);
    for (size_t total = 0; total <= sizeof msg; total += (total < 300 ? 1 : 97)) {
        keccak256(one, msg, total);
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            struct keccak_ctx ctx;
            keccak256_init(&ctx);
            size_t off = 0;
            while (off < total) {
                size_t n = chunks[c] < total - off ? chunks[c] : total - off;
                keccak256_update(&ctx, msg + off, n);
                keccak256_update(&ctx, msg + off, 0); /* no-op */
                off += n;
            }
            keccak256_final(&ctx, inc);
            if (memcmp(one, inc, 32) != 0)
                fail_msg("total %zu chunk %zu differs", total, chunks[c]);
        }
    }
    /* Mixed chunk sizes in one stream. */
    struct keccak_ctx ctx;
    keccak256_init(&ctx);
    size_t off = 0, k = 0;
    while (off < sizeof msg) {
        size_t n = chunks[k++ % (sizeof chunks / sizeof chunks[0])];
        if (n > sizeof msg - off) n = sizeof msg - off;
        keccak256_update(&ctx, msg + off, n);
        off += n;
    }
    keccak256_final(&ctx, inc);
    keccak256(one, msg, sizeof msg);
    assert_memory_equal(one, inc, 32);
    /* final resets the context: it can be reused. */
    keccak256_update(&ctx, "abc", 3);
    keccak256_final(&ctx, inc);
    assert_digest(inc, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1))) {
            if (fread(s, 1, (size_t)n, f) != (size_t)n) {
                free(s);
                s = NULL;
            } else {
                s[n] = 0;
            }
        }
    }
    fclose(f);
    return s;
}

static void test_ethers_vectors(void **st)
{
    const char *path = TALLY_SOURCE_DIR "/tests/vectors/keccak_ethers.json";
    char *text = read_file(path);
    if (!text) fail_msg("cannot read %s", path);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    const cJSON *vecs = cJSON_GetObjectItemCaseSensitive(root, "vectors");
    assert_true(cJSON_IsArray(vecs));
    int count = 0, seen136 = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, vecs)
    {
        const cJSON *jin = cJSON_GetObjectItemCaseSensitive(v, "in");
        const cJSON *jout = cJSON_GetObjectItemCaseSensitive(v, "keccak256");
        const cJSON *jlen = cJSON_GetObjectItemCaseSensitive(v, "len");
        assert_true(cJSON_IsString(jin) && cJSON_IsString(jout) && cJSON_IsNumber(jlen));
        static uint8_t in[1024];
        uint8_t want[32], got[32];
        size_t n;
        assert_int_equal(hex_decode(in, sizeof in, &n, jin->valuestring, strlen(jin->valuestring)),
                         0);
        assert_int_equal(n, (size_t)jlen->valuedouble);
        assert_int_equal(hex_decode_fixed(want, 32, jout->valuestring), 0);
        keccak256(got, in, n);
        if (memcmp(got, want, 32) != 0) fail_msg("ethers vector %d (len %zu) differs", count, n);
        /* The same through two updates split in the middle. */
        struct keccak_ctx c;
        keccak256_init(&c);
        keccak256_update(&c, in, n / 2);
        keccak256_update(&c, in + n / 2, n - n / 2);
        keccak256_final(&c, got);
        assert_memory_equal(got, want, 32);
        if (n == 136) seen136 = 1;
        count++;
    }
    assert_int_equal(count, 64);
    assert_true(seen136);
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published),      cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_alias),          cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_ethers_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
