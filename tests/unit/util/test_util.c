#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "util/buf.h"
#include "util/err.h"
#include "util/hex.h"

static void test_errors(void **st)
{
    assert_string_equal(tally_strerror(TALLY_ENONCE), "nonce too low");
    assert_string_equal(tally_errname(TALLY_EFULL), "TALLY_EFULL");
    assert_string_equal(tally_strerror(-9999), "unknown error");
}

static void test_hex(void **st)
{
    uint8_t out[4];
    size_t n;
    char s[16];
    assert_int_equal(hex_decode(out, 4, &n, "0xdeadBEEF", 10), 0);
    assert_int_equal(n, 4);
    assert_int_equal(out[0], 0xde);
    hex_encode(s, out, 4);
    assert_string_equal(s, "0xdeadbeef");
    assert_int_equal(hex_decode(out, 4, &n, "0xabc", 5), TALLY_EDECODE);
    assert_int_equal(hex_decode(out, 4, &n, "0xzz", 4), TALLY_EDECODE);
    assert_int_equal(hex_decode(out, 1, &n, "0xabcd", 6), TALLY_ETOOBIG);
    uint8_t *b;
    assert_int_equal(hex_decode_alloc(&b, &n, "0xC0ffee"), 0);
    assert_int_equal(n, 3);
    assert_int_equal(b[2], 0xee);
    free(b);
    assert_int_equal(hex_decode_alloc(&b, &n, "beef"), 0);
    assert_int_equal(n, 2);
    free(b);
    assert_int_equal(hex_decode_alloc(&b, &n, "0x"), 0);
    assert_null(b);
    assert_int_equal(n, 0);
    assert_int_equal(hex_decode_alloc(&b, &n, ""), 0);
    assert_null(b);
    assert_int_equal(hex_decode_alloc(&b, &n, "0xabc"), TALLY_EDECODE);
    assert_null(b);
    assert_int_equal(hex_decode_alloc(&b, &n, "0xzz"), TALLY_EDECODE);
    assert_null(b);
    uint64_t q;
    assert_int_equal(hex_quantity_u64(&q, "0x1a"), 0);
    assert_int_equal(q, 26);
    assert_int_equal(hex_quantity_u64(&q, "0x"), TALLY_EDECODE);
    assert_int_equal(hex_quantity_u64(&q, "0x10000000000000000"), TALLY_ERANGE);
    hex_quantity_from_u64(s, 0);
    assert_string_equal(s, "0x0");
    hex_quantity_from_u64(s, 255);
    assert_string_equal(s, "0xff");
}

static void test_buf_cap(void **st)
{
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, NULL, 0), 0); /* empty append to an empty buffer */
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_puts(&b, "12345678"), 0);
    assert_int_equal(buf_puts(&b, "9"), TALLY_ETOOBIG);
    assert_int_equal(b.len, 8);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_buf_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
