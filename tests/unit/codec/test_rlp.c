/* RLP: hand cases, every vector of ethereum/tests RLPTests (encode "in" and
 * compare with "out", decode "out" back; every invalid "out" refused by a
 * full recursive strict decode; every random "out" decoded), and mutated
 * inputs that must never crash (run under ASan). Randomized parts print their
 * seed; TALLY_SEED=<n> replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "codec/rlp.h"
#include "util/hex.h"

#define VEC_DIR   TALLY_VECTORS_DIR "/RLPTests"
#define MAX_DEPTH 64

/* ---- helpers ---- */

static size_t unhex(uint8_t *out, size_t cap, const char *s)
{
    size_t n = 0;
    int rc = hex_decode(out, cap, &n, s, strlen(s));
    if (rc) fail_msg("bad hex in test data: %.40s (%s)", s, tally_errname(rc));
    return n;
}

/* Encode into a fresh buffer; returns rlp_enc_finish's result. */
static int finish_into(struct rlp_enc *e, uint8_t *out, size_t cap, size_t *len)
{
    int rc = rlp_enc_finish(e);
    if (rc == 0) {
        assert_true(e->out->len <= cap);
        memcpy(out, e->out->p, e->out->len);
        *len = e->out->len;
    }
    return rc;
}

static void assert_enc_bytes(const uint8_t *p, size_t len, const char *want_hex)
{
    struct buf b;
    struct rlp_enc e;
    uint8_t want[2048];
    buf_init(&b, 1 << 20);
    rlp_enc_init(&e, &b);
    rlp_put_bytes(&e, p, len);
    assert_int_equal(rlp_enc_finish(&e), 0);
    size_t wn = unhex(want, sizeof want, want_hex);
    assert_int_equal(b.len, wn);
    assert_memory_equal(b.p, want, wn);
    /* And back. */
    struct rlp_item it;
    assert_int_equal(rlp_decode(&it, b.p, b.len), 0);
    assert_false(it.is_list);
    assert_int_equal(it.len, len);
    if (len) assert_memory_equal(it.p, p, len);
    buf_free(&b);
}

/* Decode a copy in a malloc'd buffer of exactly len bytes, so ASan sees any
 * read past the end. */
static int decode_all_copy(const uint8_t *p, size_t len)
{
    uint8_t *c = malloc(len ? len : 1);
    assert_non_null(c);
    if (len) memcpy(c, p, len);
    struct rlp_item it;
    int rc = rlp_decode_all(&it, c, len, MAX_DEPTH);
    free(c);
    return rc;
}

/* ---- hand cases: encoder ---- */

static void test_encode_strings(void **st)
{
    uint8_t b[100];
    memset(b, 'a', sizeof b);
    assert_enc_bytes(NULL, 0, "0x80");
    assert_enc_bytes((const uint8_t *)"\x00", 1, "0x00");
    assert_enc_bytes((const uint8_t *)"\x7f", 1, "0x7f");
    assert_enc_bytes((const uint8_t *)"\x80", 1, "0x8180");
    assert_enc_bytes((const uint8_t *)"\xff", 1, "0x81ff");
    assert_enc_bytes((const uint8_t *)"dog", 3, "0x83646f67");
    /* 55 bytes: short form 0xb7; 56: long form 0xb838. */
    char want[300];
    strcpy(want, "0xb7");
    for (int i = 0; i < 55; i++) strcat(want, "61");
    assert_enc_bytes(b, 55, want);
    strcpy(want, "0xb838");
    for (int i = 0; i < 56; i++) strcat(want, "61");
    assert_enc_bytes(b, 56, want);
    /* 1024 bytes: 0xb90400. */
    static uint8_t big[1024];
    struct buf bb;
    struct rlp_enc e;
    buf_init(&bb, 4096);
    rlp_enc_init(&e, &bb);
    rlp_put_bytes(&e, big, sizeof big);
    assert_int_equal(rlp_enc_finish(&e), 0);
    assert_int_equal(bb.len, 1027);
    assert_int_equal(bb.p[0], 0xb9);
    assert_int_equal(bb.p[1], 0x04);
    assert_int_equal(bb.p[2], 0x00);
    buf_free(&bb);
}

static void test_encode_ints(void **st)
{
    static const struct {
        uint64_t v;
        const char *hex;
    } cases[] = {
        {0, "80"},
        {1, "01"},
        {0x7f, "7f"},
        {0x80, "8180"},
        {0xff, "81ff"},
        {0x100, "820100"},
        {1000, "8203e8"},
        {100000, "830186a0"},
        {UINT64_MAX, "88ffffffffffffffff"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct buf b;
        struct rlp_enc e;
        uint8_t want[16];
        buf_init(&b, 64);
        rlp_enc_init(&e, &b);
        rlp_put_u64(&e, cases[i].v);
        assert_int_equal(rlp_enc_finish(&e), 0);
        size_t n = unhex(want, sizeof want, cases[i].hex);
        assert_int_equal(b.len, n);
        assert_memory_equal(b.p, want, n);
        struct rlp_item it;
        uint64_t got;
        assert_int_equal(rlp_decode(&it, b.p, b.len), 0);
        assert_int_equal(rlp_get_u64(&got, &it), 0);
        assert_int_equal(got, cases[i].v);
        u256 g;
        assert_int_equal(rlp_get_u256(&g, &it), 0);
        assert_true(u256_fits_u64(&g) && g.w[0] == cases[i].v);
        buf_free(&b);
    }
    /* u256: zero, 2^255, max. */
    struct buf b;
    struct rlp_enc e;
    buf_init(&b, 256);
    rlp_enc_init(&e, &b);
    u256 z = u256_from_u64(0), top = {{0, 0, 0, (uint64_t)1 << 63}},
         max = {{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}};
    rlp_put_u256(&e, &z);
    rlp_put_u256(&e, &top);
    rlp_put_u256(&e, &max);
    assert_int_equal(rlp_enc_finish(&e), 0);
    assert_int_equal(b.len, 1 + 33 + 33);
    assert_int_equal(b.p[0], 0x80);
    assert_int_equal(b.p[1], 0xa0);
    assert_int_equal(b.p[2], 0x80);
    assert_int_equal(b.p[34], 0xa0);
    assert_int_equal(b.p[35], 0xff);
    const uint8_t *cur = b.p, *end = b.p + b.len;
    struct rlp_item it;
    u256 g;
    assert_int_equal(rlp_next(&it, &cur, end), 0);
    assert_int_equal(rlp_get_u256(&g, &it), 0);
    assert_true(u256_is_zero(&g));
    assert_int_equal(rlp_next(&it, &cur, end), 0);
    assert_int_equal(rlp_get_u256(&g, &it), 0);
    assert_int_equal(u256_cmp(&g, &top), 0);
    uint64_t small;
    assert_int_equal(rlp_get_u64(&small, &it), TALLY_ERANGE);
    assert_int_equal(rlp_next(&it, &cur, end), 0);
    assert_int_equal(rlp_get_u256(&g, &it), 0);
    assert_int_equal(u256_cmp(&g, &max), 0);
    assert_ptr_equal(cur, end);
    assert_int_equal(rlp_next(&it, &cur, end), TALLY_ETRUNC);
    buf_free(&b);
}

static void test_encode_lists(void **st)
{
    struct buf b;
    struct rlp_enc e;
    uint8_t want[128];
    size_t n;
    /* [ [], [[]], [ [], [[]] ] ] = 0xc7c0c1c0c3c0c1c0 */
    buf_init(&b, 1024);
    rlp_enc_init(&e, &b);
    rlp_list_begin(&e);
    rlp_list_begin(&e);
    rlp_list_end(&e);
    rlp_list_begin(&e);
    rlp_list_begin(&e);
    rlp_list_end(&e);
    rlp_list_end(&e);
    rlp_list_begin(&e);
    rlp_list_begin(&e);
    rlp_list_end(&e);
    rlp_list_begin(&e);
    rlp_list_begin(&e);
    rlp_list_end(&e);
    rlp_list_end(&e);
    rlp_list_end(&e);
    rlp_list_end(&e);
    assert_int_equal(rlp_enc_finish(&e), 0);
    n = unhex(want, sizeof want, "c7c0c1c0c3c0c1c0");
    assert_int_equal(b.len, n);
    assert_memory_equal(b.p, want, n);
    buf_free(&b);

    /* A list whose payload is exactly 55 then 56 bytes. */
    for (size_t plen = 55; plen <= 56; plen++) {
        uint8_t s[60];
        memset(s, 'x', sizeof s);
        buf_init(&b, 1024);
        rlp_enc_init(&e, &b);
        rlp_list_begin(&e);
        rlp_put_bytes(&e, s, plen - 1); /* 1 header byte + plen - 1 */
        rlp_list_end(&e);
        assert_int_equal(rlp_enc_finish(&e), 0);
        if (plen == 55) {
            assert_int_equal(b.len, 56);
            assert_int_equal(b.p[0], 0xf7);
        } else {
            assert_int_equal(b.len, 58);
            assert_int_equal(b.p[0], 0xf8);
            assert_int_equal(b.p[1], 56);
            assert_int_equal(b.p[2], 0xb7);
        }
        struct rlp_item it, items[2];
        size_t cnt;
        assert_int_equal(rlp_decode_all(&it, b.p, b.len, MAX_DEPTH), 0);
        assert_true(it.is_list);
        assert_int_equal(rlp_list(items, 2, &cnt, &it), 0);
        assert_int_equal(cnt, 1);
        assert_int_equal(items[0].len, plen - 1);
        buf_free(&b);
    }

    /* put_raw: a signed tx inside a list, verbatim. */
    uint8_t raw[8];
    size_t rn = unhex(raw, sizeof raw, "c483646f67");
    buf_init(&b, 1024);
    rlp_enc_init(&e, &b);
    rlp_list_begin(&e);
    rlp_put_raw(&e, raw, rn);
    rlp_put_u64(&e, 5);
    rlp_list_end(&e);
    assert_int_equal(rlp_enc_finish(&e), 0);
    n = unhex(want, sizeof want, "c6c483646f6705");
    assert_int_equal(b.len, n);
    assert_memory_equal(b.p, want, n);
    buf_free(&b);
}

static void test_encode_errors(void **st)
{
    struct buf b;
    struct rlp_enc e;
    uint8_t s[64] = {0};

    /* Output cap: the first failure sticks; later calls change nothing. */
    buf_init(&b, 10);
    rlp_enc_init(&e, &b);
    rlp_put_bytes(&e, s, 5); /* 6 bytes */
    rlp_put_bytes(&e, s, 5); /* would be 12: too big */
    size_t len_after = b.len;
    rlp_put_u64(&e, 1);
    rlp_list_begin(&e);
    rlp_list_end(&e);
    assert_int_equal(b.len, len_after);
    assert_int_equal(b.len, 6); /* the failed item left nothing behind */
    assert_int_equal(rlp_enc_finish(&e), TALLY_ETOOBIG);
    buf_free(&b);

    /* A list header that no longer fits. */
    buf_init(&b, 56);
    rlp_enc_init(&e, &b);
    rlp_list_begin(&e);
    rlp_put_bytes(&e, s, 54); /* 55 bytes payload, 1-byte header fits */
    rlp_list_end(&e);
    assert_int_equal(rlp_enc_finish(&e), 0);
    buf_free(&b);
    buf_init(&b, 56);
    rlp_enc_init(&e, &b);
    rlp_list_begin(&e);
    rlp_put_bytes(&e, s, 55); /* 56 bytes payload: header needs 2 -> 58 */
    rlp_list_end(&e);
    assert_int_equal(rlp_enc_finish(&e), TALLY_ETOOBIG);
    buf_free(&b);

    /* Unbalanced lists. */
    buf_init(&b, 1024);
    rlp_enc_init(&e, &b);
    rlp_list_end(&e);
    assert_int_equal(rlp_enc_finish(&e), TALLY_EINVAL);
    buf_free(&b);
    buf_init(&b, 1024);
    rlp_enc_init(&e, &b);
    rlp_list_begin(&e);
    assert_int_equal(rlp_enc_finish(&e), TALLY_EINVAL);
    buf_free(&b);

    /* Nesting: RLP_MAX_DEPTH is fine, one more is not. */
    buf_init(&b, 1024);
    rlp_enc_init(&e, &b);
    for (int i = 0; i < RLP_MAX_DEPTH; i++) rlp_list_begin(&e);
    for (int i = 0; i < RLP_MAX_DEPTH; i++) rlp_list_end(&e);
    assert_int_equal(rlp_enc_finish(&e), 0);
    buf_free(&b);
    buf_init(&b, 1024);
    rlp_enc_init(&e, &b);
    for (int i = 0; i <= RLP_MAX_DEPTH; i++) rlp_list_begin(&e);
    assert_int_equal(rlp_enc_finish(&e), TALLY_ETOOBIG);
    buf_free(&b);

    /* put_raw refuses what is not exactly one canonical item. */
    static const char *bad_raw[] = {"", "8100", "c3010203ff", "b8", "0102"};
    for (size_t i = 0; i < sizeof bad_raw / sizeof bad_raw[0]; i++) {
        uint8_t r[8];
        size_t rn = unhex(r, sizeof r, bad_raw[i]);
        buf_init(&b, 1024);
        rlp_enc_init(&e, &b);
        rlp_put_raw(&e, r, rn);
        assert_int_equal(rlp_enc_finish(&e), TALLY_EINVAL);
        buf_free(&b);
    }
}

/* ---- hand cases: decoder ---- */

static void test_decode_errors(void **st)
{
    static const struct {
        const char *hex;
        int err;
    } cases[] = {
        {"", TALLY_EDECODE},
        {"8100", TALLY_ENONCANON},            /* single byte < 0x80 wrapped */
        {"817f", TALLY_ENONCANON},            /* ditto */
        {"b800", TALLY_ENONCANON},            /* leading zero length / short */
        {"b801ff", TALLY_ENONCANON},          /* long form for 1 byte */
        {"b83700", TALLY_ENONCANON},          /* long form for 55 bytes */
        {"b9003800", TALLY_ENONCANON},        /* length with a leading zero */
        {"f800", TALLY_ENONCANON},            /* long list form, short payload */
        {"f90038", TALLY_ENONCANON},          /* ditto, leading zero */
        {"81", TALLY_ETRUNC},                 /* payload missing */
        {"83646f", TALLY_ETRUNC},             /* payload short */
        {"b8", TALLY_ETRUNC},                 /* length bytes missing */
        {"b9ffff", TALLY_ETRUNC},             /* 65535 bytes promised */
        {"c5010203", TALLY_ETRUNC},           /* list payload short */
        {"bfffffffffffffffff", TALLY_ETRUNC}, /* 2^64-1: overflows size_t + hdr */
        {"bf0f000000000000021111", TALLY_ETRUNC},
        {"ff0f000000000000021111", TALLY_ETRUNC},
        {"ffffffffffffffffff0001020304050607", TALLY_ETRUNC},
        {"bbffffffff00", TALLY_ETRUNC},
        {"8000", TALLY_ETRAILING},
        {"c000", TALLY_ETRAILING},
        {"0000", TALLY_ETRAILING},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t in[64];
        size_t n = unhex(in, sizeof in, cases[i].hex);
        struct rlp_item it;
        int rc = rlp_decode(&it, in, n);
        if (rc != cases[i].err)
            fail_msg("%s: got %s want %s", cases[i].hex, tally_errname(rc),
                     tally_errname(cases[i].err));
        assert_int_equal(decode_all_copy(in, n), cases[i].err);
    }

    /* Nested errors are found by rlp_decode_all / rlp_list, not rlp_decode. */
    uint8_t in[16];
    size_t n = unhex(in, sizeof in, "c3c28100");
    struct rlp_item it, items[4];
    size_t cnt;
    assert_int_equal(rlp_decode(&it, in, n), 0);
    assert_int_equal(rlp_decode_all(&it, in, n, MAX_DEPTH), TALLY_ENONCANON);
    n = unhex(in, sizeof in, "c3820102");
    assert_int_equal(rlp_decode(&it, in, n), 0);
    assert_int_equal(rlp_list(items, 4, &cnt, &it), 0);
    n = unhex(in, sizeof in, "c2c280"); /* inner list claims 2 bytes, has 1 */
    assert_int_equal(rlp_decode(&it, in, n), 0);
    assert_int_equal(rlp_list(items, 4, &cnt, &it), TALLY_ETRUNC);
    assert_int_equal(rlp_decode_all(&it, in, n, MAX_DEPTH), TALLY_ETRUNC);
}

static void test_every_truncation(void **st)
{
    /* Every strict prefix of a valid encoding is refused. */
    static const char *valid[] = {
        "c7c0c1c0c3c0c1c0",
        "f84ac3010203b844000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324"
        "25262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40414243",
        "b838"
        "6161616161616161616161616161616161616161616161616161616161616161"
        "616161616161616161616161616161616161616161616161",
    };
    for (size_t v = 0; v < sizeof valid / sizeof valid[0]; v++) {
        uint8_t in[256];
        size_t n = unhex(in, sizeof in, valid[v]);
        assert_int_equal(decode_all_copy(in, n), 0);
        for (size_t k = 0; k < n; k++) {
            int rc = decode_all_copy(in, k);
            if (rc == 0) fail_msg("prefix %zu of vector %zu accepted", k, v);
        }
    }
}

static void test_list_and_getters(void **st)
{
    uint8_t in[64];
    size_t n = unhex(in, sizeof in, "cc83646f6783676f6483636174");
    struct rlp_item it, items[3];
    size_t cnt = 99;
    assert_int_equal(rlp_decode(&it, in, n), 0);
    assert_int_equal(rlp_list(items, 3, &cnt, &it), 0);
    assert_int_equal(cnt, 3);
    assert_int_equal(items[2].len, 3);
    assert_memory_equal(items[2].p, "cat", 3);
    uint8_t fixed[3];
    assert_int_equal(rlp_get_fixed(fixed, 3, &items[1]), 0);
    assert_memory_equal(fixed, "god", 3);
    assert_int_equal(rlp_get_fixed(fixed, 2, &items[1]), TALLY_EDECODE);
    assert_int_equal(rlp_get_fixed(fixed, 0, &it), TALLY_EDECODE);
    assert_int_equal(rlp_list(items, 2, &cnt, &it), TALLY_ETOOBIG);
    assert_int_equal(rlp_list(items, 3, &cnt, &items[0]), TALLY_EDECODE);
    uint64_t v;
    assert_int_equal(rlp_get_u64(&v, &it), TALLY_EDECODE);
    u256 w;
    assert_int_equal(rlp_get_u256(&w, &it), TALLY_EDECODE);

    /* Empty list. */
    n = unhex(in, sizeof in, "c0");
    assert_int_equal(rlp_decode(&it, in, n), 0);
    assert_int_equal(rlp_list(items, 0, &cnt, &it), 0);
    assert_int_equal(cnt, 0);

    /* Scalars: 0x00 as a one-byte string is a non-canonical integer. */
    n = unhex(in, sizeof in, "00");
    assert_int_equal(rlp_decode(&it, in, n), 0);
    assert_int_equal(rlp_get_u64(&v, &it), TALLY_ENONCANON);
    assert_int_equal(rlp_get_u256(&w, &it), TALLY_ENONCANON);
    n = unhex(in, sizeof in, "820001");
    assert_int_equal(rlp_decode(&it, in, n), 0);
    assert_int_equal(rlp_get_u64(&v, &it), TALLY_ENONCANON);
    n = unhex(in, sizeof in, "89010000000000000000");
    assert_int_equal(rlp_decode(&it, in, n), 0);
    assert_int_equal(rlp_get_u64(&v, &it), TALLY_ERANGE);
    assert_int_equal(rlp_get_u256(&w, &it), 0);
    assert_int_equal(w.w[1], 1);
    n = unhex(in, sizeof in,
              "a1010000000000000000000000000000000000000000000000000000000000000000");
    assert_int_equal(rlp_decode(&it, in, n), 0);
    assert_int_equal(rlp_get_u256(&w, &it), TALLY_ERANGE);
}

static void test_validate_depth(void **st)
{
    /* 100 nested empty lists: c1 c1 ... c0 would need growing lengths, so
     * build it with the encoder in chunks of RLP_MAX_DEPTH via put_raw. */
    struct buf b, t;
    buf_init(&b, 1 << 16);
    assert_int_equal(buf_append(&b, "\xc0", 1), 0);
    for (int i = 1; i < 100; i++) {
        struct rlp_enc e;
        buf_init(&t, 1 << 16);
        rlp_enc_init(&e, &t);
        rlp_list_begin(&e);
        rlp_put_raw(&e, b.p, b.len);
        rlp_list_end(&e);
        assert_int_equal(rlp_enc_finish(&e), 0);
        buf_free(&b);
        b = t;
    }
    struct rlp_item it;
    assert_int_equal(rlp_decode_all(&it, b.p, b.len, 100), 0);
    assert_int_equal(rlp_decode_all(&it, b.p, b.len, 99), TALLY_ETOOBIG);
    assert_int_equal(rlp_decode_all(&it, b.p, b.len, MAX_DEPTH), TALLY_ETOOBIG);
    buf_free(&b);
    uint8_t s = 0x05;
    assert_int_equal(rlp_decode_all(&it, &s, 1, 0), 0); /* strings need no depth */
}

/* ---- ethereum/tests vectors ---- */

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return s;
}

/* cJSON returns NUL-terminated strings, so a "\u0000" in the vectors would
 * vanish. Before parsing, rewrite it to "\u0100" (UTF-8 c4 80), after
 * checking that the file is pure ASCII and has no "\u0100" of its own; then
 * c4 80 in a parsed string can only mean a zero byte. */
static cJSON *parse_vectors(const char *path)
{
    size_t n;
    char *s = read_text(path, &n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) fail_msg("%s: non-ASCII byte at %zu", path, i);
    if (strstr(s, "\\u0100")) fail_msg("%s: contains \\u0100", path);
    for (char *p = s; (p = strstr(p, "\\u0000")) != NULL; p += 6) memcpy(p, "\\u0100", 6);
    cJSON *root = cJSON_ParseWithLength(s, n);
    free(s);
    if (!root) fail_msg("%s: JSON parse error", path);
    return root;
}

static size_t json_str_bytes(uint8_t *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        assert_true(n < cap);
        if ((unsigned char)s[0] == 0xc4 && (unsigned char)s[1] == 0x80) {
            out[n++] = 0;
            s++;
        } else {
            out[n++] = (uint8_t)*s;
        }
    }
    return n;
}

/* Decimal digits to minimal big-endian bytes (any size up to cap). */
static size_t dec_to_be(uint8_t *out, size_t cap, const char *dec)
{
    uint8_t acc[64] = {0}; /* big-endian */
    assert_true(*dec);
    for (; *dec; dec++) {
        assert_true(*dec >= '0' && *dec <= '9');
        unsigned carry = (unsigned)(*dec - '0');
        for (int i = (int)sizeof acc - 1; i >= 0; i--) {
            unsigned v = acc[i] * 10u + carry;
            acc[i] = (uint8_t)v;
            carry = v >> 8;
        }
        assert_int_equal(carry, 0);
    }
    size_t skip = 0;
    while (skip < sizeof acc && acc[skip] == 0) skip++;
    assert_true(sizeof acc - skip <= cap);
    memcpy(out, acc + skip, sizeof acc - skip);
    return sizeof acc - skip;
}

/* The bytes a scalar "in" value stands for: a string's bytes, a
 * non-negative integer's minimal big-endian bytes, or "#<decimal>". */
static size_t json_scalar_bytes(uint8_t *out, size_t cap, const cJSON *j)
{
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        assert_true(d >= 0 && d < 9007199254740992.0 && d == (double)(uint64_t)d);
        uint64_t v = (uint64_t)d;
        size_t n = 0;
        for (uint64_t t = v; t; t >>= 8) n++;
        assert_true(n <= cap);
        for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
        return n;
    }
    assert_true(cJSON_IsString(j));
    if (j->valuestring[0] == '#') return dec_to_be(out, cap, j->valuestring + 1);
    return json_str_bytes(out, cap, j->valuestring);
}

static void encode_json(struct rlp_enc *e, const cJSON *j)
{
    if (cJSON_IsArray(j)) {
        rlp_list_begin(e);
        const cJSON *c;
        cJSON_ArrayForEach(c, j) encode_json(e, c);
        rlp_list_end(e);
        return;
    }
    static uint8_t tmp[4096];
    size_t n = json_scalar_bytes(tmp, sizeof tmp, j);
    if (cJSON_IsNumber(j) && n <= 8) {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) v = v << 8 | tmp[i];
        rlp_put_u64(e, v); /* exercise the integer path for numbers */
    } else {
        rlp_put_bytes(e, tmp, n);
    }
}

/* The decoded item equals the JSON value. */
static void match_json(const struct rlp_item *it, const cJSON *j, const char *name)
{
    if (cJSON_IsArray(j)) {
        if (!it->is_list) fail_msg("%s: expected a list", name);
        const uint8_t *cur = it->p, *end = it->p + it->len;
        const cJSON *c;
        cJSON_ArrayForEach(c, j)
        {
            struct rlp_item child;
            int rc = rlp_next(&child, &cur, end);
            if (rc) fail_msg("%s: %s", name, tally_errname(rc));
            match_json(&child, c, name);
        }
        if (cur != end) fail_msg("%s: list has extra items", name);
        return;
    }
    if (it->is_list) fail_msg("%s: expected a string", name);
    static uint8_t tmp[4096];
    size_t n = json_scalar_bytes(tmp, sizeof tmp, j);
    if (n != it->len || (n && memcmp(tmp, it->p, n) != 0)) fail_msg("%s: payload differs", name);
    if (cJSON_IsNumber(j)) {
        uint64_t v;
        assert_int_equal(rlp_get_u64(&v, it), 0);
        assert_true((double)v == j->valuedouble);
    }
}

static void test_vectors_valid(void **st)
{
    cJSON *root = parse_vectors(VEC_DIR "/rlptest.json");
    int count = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, root)
    {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(t, "in");
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(t, "out");
        assert_non_null(in);
        assert_true(cJSON_IsString(out));
        static uint8_t want[8192], got[8192];
        size_t wn = unhex(want, sizeof want, out->valuestring), gn = 0;

        struct buf b;
        struct rlp_enc e;
        buf_init(&b, sizeof got);
        rlp_enc_init(&e, &b);
        encode_json(&e, in);
        int rc = finish_into(&e, got, sizeof got, &gn);
        if (rc) fail_msg("%s: encode failed: %s", t->string, tally_errname(rc));
        if (gn != wn || memcmp(got, want, wn) != 0) fail_msg("%s: encoding differs", t->string);
        buf_free(&b);

        struct rlp_item it;
        rc = rlp_decode_all(&it, want, wn, MAX_DEPTH);
        if (rc) fail_msg("%s: decode failed: %s", t->string, tally_errname(rc));
        match_json(&it, in, t->string);
        assert_int_equal(decode_all_copy(want, wn), 0);
        count++;
    }
    cJSON_Delete(root);
    print_message("rlptest.json: %d vectors\n", count);
    assert_true(count >= 28);
}

static void test_vectors_invalid(void **st)
{
    cJSON *root = parse_vectors(VEC_DIR "/invalidRLPTest.json");
    int count = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, root)
    {
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(t, "out");
        assert_true(cJSON_IsString(out));
        static uint8_t in[8192];
        size_t n = unhex(in, sizeof in, out->valuestring);
        int rc = decode_all_copy(in, n);
        if (rc == 0) fail_msg("%s: invalid RLP accepted", t->string);
        assert_true(rc < 0);
        count++;
    }
    cJSON_Delete(root);
    print_message("invalidRLPTest.json: %d vectors\n", count);
    assert_true(count >= 25);
}

static void test_vectors_random(void **st)
{
    DIR *d = opendir(VEC_DIR "/RandomRLPTests");
    if (!d) fail_msg("cannot open %s", VEC_DIR "/RandomRLPTests");
    int files = 0, count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (nl < 5 || strcmp(de->d_name + nl - 5, ".json") != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", VEC_DIR "/RandomRLPTests", de->d_name);
        cJSON *root = parse_vectors(path);
        const cJSON *t;
        cJSON_ArrayForEach(t, root)
        {
            const cJSON *out = cJSON_GetObjectItemCaseSensitive(t, "out");
            assert_true(cJSON_IsString(out));
            static uint8_t in[1 << 16];
            size_t n = unhex(in, sizeof in, out->valuestring);
            int rc = decode_all_copy(in, n);
            if (rc) fail_msg("%s/%s: %s", de->d_name, t->string, tally_errname(rc));
            count++;
        }
        cJSON_Delete(root);
        files++;
    }
    closedir(d);
    print_message("RandomRLPTests: %d files, %d vectors\n", files, count);
    assert_true(files >= 1 && count >= 1);
}

/* ---- randomized: round trips and mutations ---- */

static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void random_item(struct rlp_enc *e, int depth)
{
    uint64_t r = rng() % 10;
    if (depth < 5 && r < 3) {
        int n = (int)(rng() % 6);
        rlp_list_begin(e);
        for (int i = 0; i < n; i++) random_item(e, depth + 1);
        rlp_list_end(e);
    } else if (r < 6) {
        rlp_put_u64(e, rng() >> (rng() % 64));
    } else {
        static uint8_t s[300];
        size_t n = (size_t)(rng() % (rng() % 2 ? 3 : sizeof s));
        for (size_t i = 0; i < n; i++) s[i] = (uint8_t)rng();
        rlp_put_bytes(e, s, n);
    }
}

/* Re-encode a decoded item from its parts. */
static void reencode(struct rlp_enc *e, const struct rlp_item *it)
{
    if (!it->is_list) {
        rlp_put_bytes(e, it->p, it->len);
        return;
    }
    rlp_list_begin(e);
    const uint8_t *cur = it->p, *end = it->p + it->len;
    while (cur < end) {
        struct rlp_item c;
        assert_int_equal(rlp_next(&c, &cur, end), 0);
        reencode(e, &c);
    }
    rlp_list_end(e);
}

static void test_random(void **st)
{
    const char *env = getenv("TALLY_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    print_message("test_random: TALLY_SEED=%llu\n", (unsigned long long)seed);
    rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
    int accepted_mutants = 0;
    for (int iter = 0; iter < 2000; iter++) {
        struct buf b, b2;
        struct rlp_enc e;
        buf_init(&b, 1 << 20);
        rlp_enc_init(&e, &b);
        random_item(&e, 0);
        assert_int_equal(rlp_enc_finish(&e), 0);
        struct rlp_item it;
        assert_int_equal(rlp_decode_all(&it, b.p, b.len, MAX_DEPTH), 0);
        buf_init(&b2, 1 << 20);
        rlp_enc_init(&e, &b2);
        reencode(&e, &it);
        assert_int_equal(rlp_enc_finish(&e), 0);
        assert_int_equal(b2.len, b.len);
        assert_memory_equal(b2.p, b.p, b.len);
        buf_free(&b2);

        /* Mutate: flip bytes, truncate, or append; must not crash, and an
         * accepted mutant must re-encode to itself (canonical). */
        for (int m = 0; m < 8; m++) {
            size_t n = b.len;
            uint8_t *c = malloc(n + 2);
            assert_non_null(c);
            memcpy(c, b.p, n);
            switch (rng() % 4) {
            case 0: c[rng() % n] ^= (uint8_t)(1u << (rng() % 8)); break;
            case 1: c[rng() % n] = (uint8_t)rng(); break;
            case 2: n = (size_t)(rng() % n); break;
            default: c[n++] = (uint8_t)rng(); break;
            }
            uint8_t *exact = malloc(n ? n : 1);
            assert_non_null(exact);
            if (n) memcpy(exact, c, n);
            free(c);
            struct rlp_item mi;
            if (rlp_decode_all(&mi, exact, n, MAX_DEPTH) == 0) {
                accepted_mutants++;
                buf_init(&b2, 1 << 20);
                rlp_enc_init(&e, &b2);
                reencode(&e, &mi);
                assert_int_equal(rlp_enc_finish(&e), 0);
                assert_int_equal(b2.len, n);
                assert_memory_equal(b2.p, exact, n);
                buf_free(&b2);
            }
            free(exact);
        }
        buf_free(&b);
    }
    print_message("test_random: %d mutants were valid RLP (and canonical)\n", accepted_mutants);
}

int main(void)
{
    struct stat sb;
    if (stat(VEC_DIR, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "test_rlp: FATAL: vector directory %s not found\n", VEC_DIR);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_strings),   cmocka_unit_test(test_encode_ints),
        cmocka_unit_test(test_encode_lists),     cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_decode_errors),    cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_list_and_getters), cmocka_unit_test(test_validate_depth),
        cmocka_unit_test(test_vectors_valid),    cmocka_unit_test(test_vectors_invalid),
        cmocka_unit_test(test_vectors_random),   cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
