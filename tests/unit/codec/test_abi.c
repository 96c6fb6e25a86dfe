/* Solidity ABI codec: entries parsed from solc JSON, arguments encoded from
 * command-line text, return data / logs / revert data decoded to text.
 * Expected encodings were produced with ethers v6.17 (AbiCoder,
 * Interface.encodeFunctionData / encodeEventLog / encodeErrorResult) by a
 * small node script and pasted here. Bad input must fail with a message,
 * never crash; the mutation test (randomized: prints its seed, TALLY_SEED=<n>
 * replays it) decodes truncated and corrupted encodings under ASan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "codec/abi.h"
#include "util/hex.h"

/* ---- helpers ---- */

static void entry(struct abi_entry *e, const char *json)
{
    char err[256] = "";
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    int rc = abi_entry_parse(e, j, err, sizeof err);
    cJSON_Delete(j);
    if (rc) fail_msg("abi_entry_parse(%s): %s (%s)", json, err, tally_errname(rc));
}

static size_t unhex(uint8_t **out, const char *s)
{
    size_t len = strlen(s), n = 0;
    *out = malloc(len / 2 + 1);
    assert_non_null(*out);
    if (hex_decode(*out, len / 2 + 1, &n, s, len)) fail_msg("bad hex in test: %.40s", s);
    return n;
}

/* Encode args for e and compare with the 0x hex want. */
static void assert_encodes(const struct abi_entry *e, const char *const *args, size_t n,
                           const char *want)
{
    uint8_t *out;
    size_t len;
    char err[512] = "";
    int rc = abi_encode_args(&out, &len, e, args, n, err, sizeof err);
    if (rc) fail_msg("encode %s: %s", e->signature, err);
    char *hx = malloc(2 * len + 3);
    assert_non_null(hx);
    hex_encode(hx, out, len);
    assert_string_equal(hx, want);
    free(hx);
    free(out);
}

/* Encoding must fail with code and a message containing part. */
static void assert_encode_fails(const struct abi_entry *e, const char *const *args, size_t n,
                                int code, const char *part)
{
    uint8_t *out = (uint8_t *)1;
    size_t len = 1;
    char err[512] = "";
    int rc = abi_encode_args(&out, &len, e, args, n, err, sizeof err);
    assert_int_equal(rc, code);
    assert_null(out);
    assert_int_equal(len, 0);
    if (!strstr(err, part)) fail_msg("error \"%s\" does not mention \"%s\"", err, part);
}

/* Decode the hex data as params and compare the texts. */
static void assert_decodes(const struct abi_param *ps, size_t n, const char *hexdata,
                           const char *const *want)
{
    uint8_t *d;
    size_t len = unhex(&d, hexdata);
    struct abi_values v;
    char err[256] = "";
    int rc = abi_decode(&v, ps, n, d, len, err, sizeof err);
    if (rc) fail_msg("decode: %s", err);
    assert_int_equal(v.n, n);
    for (size_t i = 0; i < n; i++) assert_string_equal(v.v[i], want[i]);
    abi_values_free(&v);
    free(d);
}

static void assert_decode_fails(const struct abi_param *ps, size_t n, const char *hexdata,
                                const char *part)
{
    uint8_t *d;
    size_t len = unhex(&d, hexdata);
    struct abi_values v;
    char err[256] = "";
    int rc = abi_decode(&v, ps, n, d, len, err, sizeof err);
    assert_int_equal(rc, TALLY_EDECODE);
    assert_int_equal(v.n, 0);
    if (!strstr(err, part)) fail_msg("error \"%s\" does not mention \"%s\"", err, part);
    free(d);
}

static void params(struct abi_param *ps, size_t n, const char *const *types)
{
    memset(ps, 0, n * sizeof *ps);
    for (size_t i = 0; i < n; i++) assert_int_equal(abi_type_parse(&ps[i].type, types[i]), 0);
}

/* ---- types and entries ---- */

static void test_types(void **st)
{
    static const struct {
        const char *in, *canon;
    } ok[] = {
        {"address", "address"}, {"bool", "bool"},           {"uint", "uint256"},
        {"int", "int256"},      {"uint8", "uint8"},         {"int256", "int256"},
        {"bytes1", "bytes1"},   {"bytes32", "bytes32"},     {"bytes", "bytes"},
        {"string", "string"},   {"uint[]", "uint256[]"},    {"string[]", "string[]"},
        {"bytes[]", "bytes[]"}, {"address[]", "address[]"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct abi_type t;
        char name[24];
        assert_int_equal(abi_type_parse(&t, ok[i].in), 0);
        abi_type_name(name, sizeof name, &t);
        assert_string_equal(name, ok[i].canon);
    }
    static const char *const unsupported[] = {
        "tuple", "tuple[]", "uint256[2]", "uint256[][]", "function", "fixed128x18", "ufixed"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        struct abi_type t;
        assert_int_equal(abi_type_parse(&t, unsupported[i]), TALLY_EUNSUPPORTED);
    }
    static const char *const bad[] = {"",         "uint7",   "uint264", "uint08", "int0",
                                      "bytes0",   "bytes33", "bytes01", "addr",   "[]",
                                      "uint256 ", "string[", "Uint256"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct abi_type t;
        if (abi_type_parse(&t, bad[i]) != TALLY_EDECODE) fail_msg("accepted type \"%s\"", bad[i]);
    }
}

static void test_entries(void **st)
{
    struct abi_entry e;
    entry(&e, "{\"type\":\"function\",\"name\":\"transfer\",\"stateMutability\":\"nonpayable\","
              "\"inputs\":[{\"name\":\"to\",\"type\":\"address\",\"internalType\":\"address\"},"
              "{\"name\":\"value\",\"type\":\"uint256\"}],"
              "\"outputs\":[{\"name\":\"\",\"type\":\"bool\"}]}");
    assert_int_equal(e.kind, ABI_FUNCTION);
    assert_int_equal(e.mutability, ABI_NONPAYABLE);
    assert_string_equal(e.signature, "transfer(address,uint256)");
    assert_memory_equal(e.selector, "\xa9\x05\x9c\xbb", 4);
    assert_int_equal(e.ninputs, 2);
    assert_int_equal(e.noutputs, 1);
    assert_string_equal(e.inputs[0].name, "to");
    assert_string_equal(e.outputs[0].name, "");

    /* A missing type means function; "uint" is canonicalised; legacy constant. */
    entry(&e, "{\"name\":\"balanceOf\",\"constant\":true,\"inputs\":[{\"name\":\"who\","
              "\"type\":\"address\"}],\"outputs\":[{\"name\":\"\",\"type\":\"uint\"}]}");
    assert_int_equal(e.kind, ABI_FUNCTION);
    assert_int_equal(e.mutability, ABI_VIEW);
    assert_string_equal(e.signature, "balanceOf(address)");
    assert_memory_equal(e.selector, "\x70\xa0\x82\x31", 4);

    entry(&e, "{\"type\":\"event\",\"name\":\"Transfer\",\"anonymous\":false,\"inputs\":["
              "{\"indexed\":true,\"name\":\"from\",\"type\":\"address\"},"
              "{\"indexed\":true,\"name\":\"to\",\"type\":\"address\"},"
              "{\"indexed\":false,\"name\":\"value\",\"type\":\"uint256\"}]}");
    assert_int_equal(e.kind, ABI_EVENT);
    assert_int_equal(e.inputs[0].indexed, 1);
    assert_int_equal(e.inputs[2].indexed, 0);
    uint8_t *t0;
    assert_int_equal(
        unhex(&t0, "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"), 32);
    assert_memory_equal(e.topic0, t0, 32);
    free(t0);

    entry(&e, "{\"type\":\"error\",\"name\":\"Unauthorized\",\"inputs\":[{\"name\":\"caller\","
              "\"type\":\"address\"},{\"name\":\"code\",\"type\":\"uint256\"}]}");
    assert_int_equal(e.kind, ABI_ERROR);
    assert_memory_equal(e.selector, "\xda\x47\x20\x23", 4);

    entry(&e, "{\"type\":\"constructor\",\"stateMutability\":\"payable\",\"inputs\":[]}");
    assert_int_equal(e.kind, ABI_CONSTRUCTOR);
    assert_int_equal(e.mutability, ABI_PAYABLE);
    assert_string_equal(e.signature, "");
    entry(&e, "{\"type\":\"receive\",\"stateMutability\":\"payable\"}");
    assert_int_equal(e.kind, ABI_RECEIVE);
    entry(&e, "{\"type\":\"fallback\",\"stateMutability\":\"nonpayable\"}");
    assert_int_equal(e.kind, ABI_FALLBACK);
}

static void test_entry_errors(void **st)
{
    static const struct {
        const char *json;
        int code;
        const char *part;
    } cases[] = {
        {"[]", TALLY_EDECODE, "not an object"},
        {"{\"type\":\"method\",\"name\":\"f\"}", TALLY_EDECODE, "unknown type"},
        {"{\"type\":\"function\"}", TALLY_EDECODE, "name"},
        {"{\"type\":\"function\",\"name\":\"1f\"}", TALLY_EDECODE, "name"},
        {"{\"type\":\"function\",\"name\":\"f\",\"inputs\":{}}", TALLY_EDECODE, "not an array"},
        {"{\"type\":\"function\",\"name\":\"f\",\"inputs\":[{\"name\":\"a\"}]}", TALLY_EDECODE,
         "no \"type\""},
        {"{\"type\":\"function\",\"name\":\"f\",\"inputs\":[{\"type\":\"uint7\"}]}", TALLY_EDECODE,
         "unknown type \"uint7\""},
        {"{\"type\":\"function\",\"name\":\"f\",\"inputs\":[{\"type\":\"tuple\","
         "\"components\":[]}]}",
         TALLY_EUNSUPPORTED, "tuple, which is not supported"},
        {"{\"type\":\"function\",\"name\":\"f\",\"outputs\":[{\"type\":\"uint8[3]\"}]}",
         TALLY_EUNSUPPORTED, "output 1 has type uint8[3]"},
        {"{\"type\":\"function\",\"name\":\"f\",\"stateMutability\":\"constant\"}", TALLY_EDECODE,
         "stateMutability"},
        {"{\"type\":\"event\",\"name\":\"E\",\"inputs\":[{\"type\":\"bool\",\"indexed\":1}]}",
         TALLY_EDECODE, "indexed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct abi_entry e;
        char err[256] = "";
        cJSON *j = cJSON_Parse(cases[i].json);
        assert_non_null(j);
        int rc = abi_entry_parse(&e, j, err, sizeof err);
        cJSON_Delete(j);
        if (rc != cases[i].code || !strstr(err, cases[i].part))
            fail_msg("%s: rc %s, err \"%s\"", cases[i].json, tally_errname(rc), err);
    }
    /* More than ABI_MAX_PARAMS inputs. */
    char json[4096] = "{\"type\":\"function\",\"name\":\"f\",\"inputs\":[";
    for (int i = 0; i <= ABI_MAX_PARAMS; i++)
        strcat(json, i ? ",{\"type\":\"bool\"}" : "{\"type\":\"bool\"}");
    strcat(json, "]}");
    struct abi_entry e;
    char err[256];
    cJSON *j = cJSON_Parse(json);
    assert_int_equal(abi_entry_parse(&e, j, err, sizeof err), TALLY_ETOOBIG);
    cJSON_Delete(j);
}

/* ---- encoding (vectors from ethers v6) ---- */

static void test_encode_vectors(void **st)
{
    struct abi_entry e;
    entry(&e, "{\"type\":\"function\",\"name\":\"transfer\",\"inputs\":[{\"name\":\"to\","
              "\"type\":\"address\"},{\"name\":\"value\",\"type\":\"uint256\"}]}");
    const char *a1[] = {"0x5B38Da6a701c568545dCfcB03FcB875f56beddC4", "5"};
    const char *want1 = "0xa9059cbb0000000000000000000000005b38da6a701c568545dcfcb03fcb875f56beddc4"
                        "0000000000000000000000000000000000000000000000000000000000000005";
    assert_encodes(&e, a1, 2, want1);
    const char *a1b[] = {"0x5b38da6a701c568545dcfcb03fcb875f56beddc4", "0x05"};
    assert_encodes(&e, a1b, 2, want1);

    /* Token's constructor: no selector. */
    entry(&e, "{\"type\":\"constructor\",\"inputs\":[{\"name\":\"name_\",\"type\":\"string\"},"
              "{\"name\":\"symbol_\",\"type\":\"string\"},{\"name\":\"initialSupply\","
              "\"type\":\"uint256\"}]}");
    const char *a2[] = {"Tally Token", "TLY", "1000000000000000000000000"};
    assert_encodes(&e, a2, 3,
                   "0x0000000000000000000000000000000000000000000000000000000000000060"
                   "00000000000000000000000000000000000000000000000000000000000000a0"
                   "00000000000000000000000000000000000000000000d3c21bcecceda1000000"
                   "000000000000000000000000000000000000000000000000000000000000000b"
                   "54616c6c7920546f6b656e000000000000000000000000000000000000000000"
                   "0000000000000000000000000000000000000000000000000000000000000003"
                   "544c590000000000000000000000000000000000000000000000000000000000");

    /* Negative ints, uint8 max, bool, bytes3, empty bytes, int16. */
    entry(&e, "{\"name\":\"mixed\",\"inputs\":[{\"type\":\"int8\"},{\"type\":\"int256\"},"
              "{\"type\":\"uint8\"},{\"type\":\"bool\"},{\"type\":\"bytes3\"},{\"type\":\"bytes\"},"
              "{\"type\":\"int16\"}]}");
    assert_string_equal(e.signature, "mixed(int8,int256,uint8,bool,bytes3,bytes,int16)");
    const char *a3[] = {"-128", "-1", "255", "true", "0x010203", "0x", "300"};
    assert_encodes(&e, a3, 7,
                   "0xca3de9b4"
                   "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff80"
                   "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                   "00000000000000000000000000000000000000000000000000000000000000ff"
                   "0000000000000000000000000000000000000000000000000000000000000001"
                   "0102030000000000000000000000000000000000000000000000000000000000"
                   "00000000000000000000000000000000000000000000000000000000000000e0"
                   "000000000000000000000000000000000000000000000000000000000000012c"
                   "0000000000000000000000000000000000000000000000000000000000000000");
    const char *a3b[] = {"-0x80", "-0x1", "0xff", "1", "0x010203", "0x", "0x12c"};
    assert_encodes(&e, a3b, 7,
                   "0xca3de9b4"
                   "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff80"
                   "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                   "00000000000000000000000000000000000000000000000000000000000000ff"
                   "0000000000000000000000000000000000000000000000000000000000000001"
                   "0102030000000000000000000000000000000000000000000000000000000000"
                   "00000000000000000000000000000000000000000000000000000000000000e0"
                   "000000000000000000000000000000000000000000000000000000000000012c"
                   "0000000000000000000000000000000000000000000000000000000000000000");

    /* Arrays: static elements, dynamic elements (offsets), quoted elements
     * with a comma and an escaped quote, an empty string, an empty array. */
    entry(&e, "{\"name\":\"arrays\",\"inputs\":[{\"type\":\"uint256[]\"},{\"type\":\"string[]\"},"
              "{\"type\":\"address[]\"},{\"type\":\"bytes[]\"},{\"type\":\"bool[]\"}]}");
    const char *a4[] = {"[1, 2,3]", "[\"a,b\", \"c\\\"d\", \"\"]",
                        "[0x5b38da6a701c568545dcfcb03fcb875f56beddc4]", "[0xdeadbeef, 0x]",
                        " [ ] "};
    assert_encodes(&e, a4, 5,
                   "0x31f3bc77"
                   "00000000000000000000000000000000000000000000000000000000000000a0"
                   "0000000000000000000000000000000000000000000000000000000000000120"
                   "0000000000000000000000000000000000000000000000000000000000000240"
                   "0000000000000000000000000000000000000000000000000000000000000280"
                   "0000000000000000000000000000000000000000000000000000000000000340"
                   "0000000000000000000000000000000000000000000000000000000000000003"
                   "0000000000000000000000000000000000000000000000000000000000000001"
                   "0000000000000000000000000000000000000000000000000000000000000002"
                   "0000000000000000000000000000000000000000000000000000000000000003"
                   "0000000000000000000000000000000000000000000000000000000000000003"
                   "0000000000000000000000000000000000000000000000000000000000000060"
                   "00000000000000000000000000000000000000000000000000000000000000a0"
                   "00000000000000000000000000000000000000000000000000000000000000e0"
                   "0000000000000000000000000000000000000000000000000000000000000003"
                   "612c620000000000000000000000000000000000000000000000000000000000"
                   "0000000000000000000000000000000000000000000000000000000000000003"
                   "6322640000000000000000000000000000000000000000000000000000000000"
                   "0000000000000000000000000000000000000000000000000000000000000000"
                   "0000000000000000000000000000000000000000000000000000000000000001"
                   "0000000000000000000000005b38da6a701c568545dcfcb03fcb875f56beddc4"
                   "0000000000000000000000000000000000000000000000000000000000000002"
                   "0000000000000000000000000000000000000000000000000000000000000040"
                   "0000000000000000000000000000000000000000000000000000000000000080"
                   "0000000000000000000000000000000000000000000000000000000000000004"
                   "deadbeef00000000000000000000000000000000000000000000000000000000"
                   "0000000000000000000000000000000000000000000000000000000000000000"
                   "0000000000000000000000000000000000000000000000000000000000000000");

    /* UTF-8 strings are their bytes; a \u escape inside an array element. */
    entry(&e, "{\"name\":\"u\",\"inputs\":[{\"type\":\"string\"},{\"type\":\"string\"}]}");
    const char *want5 = "0x3fccaf35"
                        "0000000000000000000000000000000000000000000000000000000000000040"
                        "0000000000000000000000000000000000000000000000000000000000000080"
                        "000000000000000000000000000000000000000000000000000000000000000f"
                        "68c3a96c6c6f20e29c9320f09f98800000000000000000000000000000000000"
                        "0000000000000000000000000000000000000000000000000000000000000000";
    const char *a5[] = {"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80", ""};
    assert_encodes(&e, a5, 2, want5);

    /* Extremes: int256 min and max, uint256 max (hex), int64 min, uint64 max. */
    entry(&e, "{\"name\":\"x\",\"inputs\":[{\"type\":\"int256\"},{\"type\":\"int256\"},"
              "{\"type\":\"uint256\"},{\"type\":\"int64\"},{\"type\":\"uint64\"}]}");
    const char *a6b[] = {"-0x8000000000000000000000000000000000000000000000000000000000000000",
                         "0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                         "115792089237316195423570985008687907853269984665640564039457584007913129"
                         "639935",
                         "-0x8000000000000000", "0xffffffffffffffff"};
    const char *want6 = "0x58ab9442"
                        "8000000000000000000000000000000000000000000000000000000000000000"
                        "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                        "ffffffffffffffffffffffffffffffffffffffffffffffff8000000000000000"
                        "000000000000000000000000000000000000000000000000ffffffffffffffff";
    assert_encodes(&e, a6b, 5, want6);
    const char *a6c[] = {"-578960446186580977117854925043439539266349923328202820197287920039565"
                         "64819968",
                         "578960446186580977117854925043439539266349923328202820197287920039565"
                         "64819967",
                         "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                         "-9223372036854775808", "18446744073709551615"};
    assert_encodes(&e, a6c, 5, want6);

    /* 33 bytes of bytes: two words of padding. */
    entry(&e, "{\"name\":\"lb\",\"inputs\":[{\"type\":\"bytes\"}]}");
    char long_arg[80] = "0x";
    for (int i = 0; i < 33; i++) strcat(long_arg, "ab");
    const char *a7[] = {long_arg};
    assert_encodes(&e, a7, 1,
                   "0x4f793540"
                   "0000000000000000000000000000000000000000000000000000000000000020"
                   "0000000000000000000000000000000000000000000000000000000000000021"
                   "abababababababababababababababababababababababababababababababab"
                   "ab00000000000000000000000000000000000000000000000000000000000000");

    /* No inputs: only the selector; a constructor without inputs: nothing. */
    entry(&e, "{\"name\":\"totalSupply\",\"inputs\":[]}");
    assert_encodes(&e, NULL, 0, "0x18160ddd");
    entry(&e, "{\"type\":\"constructor\"}");
    assert_encodes(&e, NULL, 0, "0x");
}

static void test_encode_errors(void **st)
{
    struct abi_entry e;
    entry(&e, "{\"name\":\"transfer\",\"inputs\":[{\"name\":\"to\",\"type\":\"address\"},"
              "{\"name\":\"value\",\"type\":\"uint256\"}]}");
    const char *one[] = {"0x5b38da6a701c568545dcfcb03fcb875f56beddc4"};
    assert_encode_fails(&e, one, 1, TALLY_EINVAL,
                        "transfer expects 2 arguments (address to, uint256 value), got 1");
    const char *bad_addr[] = {"0x1234", "1"};
    assert_encode_fails(&e, bad_addr, 2, TALLY_EINVAL,
                        "argument 1 (address to): \"0x1234\" is not an address");
    const char *no_prefix[] = {"5b38da6a701c568545dcfcb03fcb875f56beddc4aa", "1"};
    assert_encode_fails(&e, no_prefix, 2, TALLY_EINVAL, "is not an address");
    /* ethers: "bad address checksum" for the same string. */
    const char *checksum[] = {"0x5B38Da6a701c568545dCfcB03FcB875f56beddc4", "1"};
    assert_encode_fails(&e, checksum, 2, TALLY_EINVAL, "EIP-55 checksum");
    const char *neg[] = {"0x5b38da6a701c568545dcfcb03fcb875f56beddc4", "-1"};
    assert_encode_fails(&e, neg, 2, TALLY_EINVAL, "argument 2 (uint256 value): -1 is negative");
    const char *word[] = {"0x5b38da6a701c568545dcfcb03fcb875f56beddc4", "five"};
    assert_encode_fails(&e, word, 2, TALLY_EINVAL, "\"five\" is not a number");
    const char *big[] = {"0x5b38da6a701c568545dcfcb03fcb875f56beddc4",
                         "0x1ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"};
    assert_encode_fails(&e, big, 2, TALLY_EINVAL, "out of range for uint256");
    const char *space[] = {"0x5b38da6a701c568545dcfcb03fcb875f56beddc4", " 5"};
    assert_encode_fails(&e, space, 2, TALLY_EINVAL, "is not a number");
    const char *nul[] = {"0x5b38da6a701c568545dcfcb03fcb875f56beddc4", NULL};
    assert_encode_fails(&e, nul, 2, TALLY_EINVAL, "missing");

    entry(&e, "{\"name\":\"f\",\"inputs\":[{\"type\":\"uint8\"},{\"type\":\"int8\"},"
              "{\"type\":\"bytes3\"},{\"type\":\"bytes\"},{\"type\":\"bool\"},"
              "{\"type\":\"uint8[]\"}]}");
    struct {
        const char *args[6];
        const char *part;
    } cases[] = {
        /* ethers: "value out-of-bounds" for the first two, "incorrect data length" */
        {{"256", "0", "0x010203", "0x", "true", "[]"}, "256 is out of range for uint8"},
        {{"0", "-129", "0x010203", "0x", "true", "[]"}, "-129 is out of range for int8"},
        {{"0", "128", "0x010203", "0x", "true", "[]"}, "128 is out of range for int8"},
        {{"0", "0", "0x0102", "0x", "true", "[]"}, "is not bytes3"},
        {{"0", "0", "0x01020304", "0x", "true", "[]"}, "is not bytes3"},
        {{"0", "0", "0x0102zz", "0x", "true", "[]"}, "is not bytes3"},
        {{"0", "0", "0x010203", "0x123", "true", "[]"}, "is not bytes"},
        {{"0", "0", "0x010203", "dead", "true", "[]"}, "is not bytes"},
        {{"0", "0", "0x010203", "0xzz", "true", "[]"}, "is not bytes"},
        {{"0", "0", "0x010203", "0x", "yes", "[]"}, "is not a bool"},
        {{"0", "0", "0x010203", "0x", "true", "1,2"}, "is not an array"},
        {{"0", "0", "0x010203", "0x", "true", "[1,2"}, "expected , or ]"},
        {{"0", "0", "0x010203", "0x", "true", "[1,,2]"}, "element 2: empty"},
        {{"0", "0", "0x010203", "0x", "true", "[1,]"}, "empty"},
        {{"0", "0", "0x010203", "0x", "true", "[1,2] x"}, "after the closing ]"},
        {{"0", "0", "0x010203", "0x", "true", "[1,256]"}, "element 2: 256 is out of range"},
        {{"0", "0", "0x010203", "0x", "true", "[[1]]"}, "misplaced quote or bracket"},
        {{"0", "0", "0x010203", "0x", "true", "[\"1]"}, "unterminated string"},
        {{"0", "0", "0x010203", "0x", "true", "[\"\\q\"]"}, "bad escape"},
        {{"0", "0", "0x010203", "0x", "true", "[\"\\ud800\"]"}, "surrogate"},
        {{"0", "0", "0x010203", "0x", "true", "[\"\\u0031\\u0000\"]"}, "NUL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_encode_fails(&e, cases[i].args, 6, TALLY_EINVAL, cases[i].part);
    /* A quoted number is fine. */
    const char *quoted[] = {"0", "0", "0x010203", "0x", "false", "[\"1\", 0x2]"};
    uint8_t *out;
    size_t len;
    char err[256];
    assert_int_equal(abi_encode_args(&out, &len, &e, quoted, 6, err, sizeof err), 0);
    assert_int_equal(len, 4 + 32 * 6 + 32 + 32 * 3); /* heads, empty bytes, [1, 2] */
    free(out);

    /* Bounds: more than ABI_MAX_ARRAY elements, more than ABI_MAX_ENCODED bytes. */
    entry(&e, "{\"name\":\"g\",\"inputs\":[{\"type\":\"uint8[]\"}]}");
    char *many = malloc(3 * (ABI_MAX_ARRAY + 1) + 3);
    assert_non_null(many);
    size_t at = 0;
    many[at++] = '[';
    for (int i = 0; i <= ABI_MAX_ARRAY; i++) {
        if (i) many[at++] = ',';
        many[at++] = '0';
    }
    many[at++] = ']';
    many[at] = 0;
    const char *amany[] = {many};
    assert_encode_fails(&e, amany, 1, TALLY_ETOOBIG, "more than 4096 array elements");
    free(many);
    entry(&e, "{\"name\":\"h\",\"inputs\":[{\"type\":\"string\"}]}");
    char *huge = malloc(ABI_MAX_ENCODED + 1);
    assert_non_null(huge);
    memset(huge, 'a', ABI_MAX_ENCODED);
    huge[ABI_MAX_ENCODED] = 0;
    const char *ahuge[] = {huge};
    assert_encode_fails(&e, ahuge, 1, TALLY_ETOOBIG, "over");
    free(huge);
}

/* ---- decoding ---- */

static void test_decode_vectors(void **st)
{
    struct abi_param ps[7];
    const char *types[] = {"uint256", "string", "address[]", "int16", "bytes32", "bool", "bytes"};
    params(ps, 7, types);
    const char *want[] = {"12345",
                          "\"hi \\\"there\\\"\\n\"",
                          "[0x5B38Da6a701c568545dCfcB03FcB875f56beddC4, "
                          "0x0000000000000000000000000000000000000001]",
                          "-2",
                          "0x7521d1cadbcfa91eec65aa16715b94ffc1c9654ba57ea2ef1a2127bca1127a83",
                          "false",
                          "0x00ff"};
    const char *ret = "0x0000000000000000000000000000000000000000000000000000000000003039"
                      "00000000000000000000000000000000000000000000000000000000000000e0"
                      "0000000000000000000000000000000000000000000000000000000000000120"
                      "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe"
                      "7521d1cadbcfa91eec65aa16715b94ffc1c9654ba57ea2ef1a2127bca1127a83"
                      "0000000000000000000000000000000000000000000000000000000000000000"
                      "0000000000000000000000000000000000000000000000000000000000000180"
                      "000000000000000000000000000000000000000000000000000000000000000b"
                      "686920227468657265220a000000000000000000000000000000000000000000"
                      "0000000000000000000000000000000000000000000000000000000000000002"
                      "0000000000000000000000005b38da6a701c568545dcfcb03fcb875f56beddc4"
                      "0000000000000000000000000000000000000000000000000000000000000001"
                      "0000000000000000000000000000000000000000000000000000000000000002"
                      "00ff000000000000000000000000000000000000000000000000000000000000";
    assert_decodes(ps, 7, ret, want);

    const char *types2[] = {"string[]", "uint8[]"};
    params(ps, 2, types2);
    const char *want2[] = {"[\"x\", \"yz\"]", "[1, 2, 255]"};
    assert_decodes(ps, 2,
                   "0x0000000000000000000000000000000000000000000000000000000000000040"
                   "0000000000000000000000000000000000000000000000000000000000000120"
                   "0000000000000000000000000000000000000000000000000000000000000002"
                   "0000000000000000000000000000000000000000000000000000000000000040"
                   "0000000000000000000000000000000000000000000000000000000000000080"
                   "0000000000000000000000000000000000000000000000000000000000000001"
                   "7800000000000000000000000000000000000000000000000000000000000000"
                   "0000000000000000000000000000000000000000000000000000000000000002"
                   "797a000000000000000000000000000000000000000000000000000000000000"
                   "0000000000000000000000000000000000000000000000000000000000000003"
                   "0000000000000000000000000000000000000000000000000000000000000001"
                   "0000000000000000000000000000000000000000000000000000000000000002"
                   "00000000000000000000000000000000000000000000000000000000000000ff",
                   want2);

    /* Extremes decode back to the text they were encoded from. */
    const char *types3[] = {"int256", "int256", "uint256", "int64", "uint64"};
    params(ps, 5, types3);
    const char *want3[] = {
        "-57896044618658097711785492504343953926634992332820282019728792003956564819968",
        "57896044618658097711785492504343953926634992332820282019728792003956564819967",
        "115792089237316195423570985008687907853269984665640564039457584007913129639935",
        "-9223372036854775808", "18446744073709551615"};
    assert_decodes(ps, 5,
                   "0x8000000000000000000000000000000000000000000000000000000000000000"
                   "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                   "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
                   "ffffffffffffffffffffffffffffffffffffffffffffffff8000000000000000"
                   "000000000000000000000000000000000000000000000000ffffffffffffffff",
                   want3);

    /* Strings: UTF-8 kept, control characters escaped, invalid bytes as \xNN. */
    const char *types4[] = {"string"};
    params(ps, 1, types4);
    const char *want4[] = {"\"h\xc3\xa9llo \xe2\x9c\x93\\t\\u0001\\xff\\xc3\""};
    assert_decodes(ps, 1,
                   "0x0000000000000000000000000000000000000000000000000000000000000020"
                   "000000000000000000000000000000000000000000000000000000000000000e"
                   "68c3a96c6c6f20e29c930901ffc3000000000000000000000000000000000000",
                   want4);
}

static void test_decode_errors(void **st)
{
    struct abi_param ps[2];
    const char *t_bool[] = {"bool"}, *t_addr[] = {"address"}, *t_u8[] = {"uint8"};
    const char *t_i8[] = {"int8"}, *t_b3[] = {"bytes3"}, *t_str[] = {"string"};
    const char *t_arr[] = {"uint256[]"}, *t_sarr[] = {"string[]"};
    /* ethers decodes the first three leniently (true, an error, 0); we refuse them all. */
    params(ps, 1, t_bool);
    assert_decode_fails(ps, 1, "0x0000000000000000000000000000000000000000000000000000000000000002",
                        "not a valid bool");
    params(ps, 1, t_addr);
    assert_decode_fails(ps, 1, "0x0100000000000000000000000000000000000000000000000000000000000000",
                        "not a valid address");
    params(ps, 1, t_u8);
    assert_decode_fails(ps, 1, "0x0000000000000000000000000000000000000000000000000000000000000100",
                        "not a valid uint8");
    params(ps, 1, t_i8);
    assert_decode_fails(ps, 1, "0x0000000000000000000000000000000000000000000000000000000000000080",
                        "not a valid int8");
    assert_decode_fails(ps, 1, "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7fff",
                        "not a valid int8");
    params(ps, 1, t_b3);
    assert_decode_fails(ps, 1, "0x0102030400000000000000000000000000000000000000000000000000000000",
                        "not a valid bytes3");
    params(ps, 1, t_u8);
    assert_decode_fails(ps, 1, "0x", "data too short");
    assert_decode_fails(ps, 1, "0x00000000000000000000000000000000000000000000000000000000000000",
                        "data too short");
    params(ps, 1, t_str);
    /* offset past the end, offset 2^64, length past the end */
    assert_decode_fails(ps, 1, "0x0000000000000000000000000000000000000000000000000000000000000040",
                        "offset");
    assert_decode_fails(ps, 1, "0x0000000000000000000000000000000000000000000000010000000000000000",
                        "offset");
    assert_decode_fails(ps, 1,
                        "0x0000000000000000000000000000000000000000000000000000000000000020"
                        "0000000000000000000000000000000000000000000000000000000000000021"
                        "6161616161616161616161616161616161616161616161616161616161616161",
                        "runs past the end");
    assert_decode_fails(ps, 1,
                        "0x0000000000000000000000000000000000000000000000000000000000000020"
                        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                        "length");
    params(ps, 1, t_arr);
    /* an array claiming 2^32 elements in 96 bytes */
    assert_decode_fails(ps, 1,
                        "0x0000000000000000000000000000000000000000000000000000000000000020"
                        "0000000000000000000000000000000000000000000000000000000100000000"
                        "0000000000000000000000000000000000000000000000000000000000000001",
                        "array length");
    params(ps, 1, t_sarr);
    /* the element's offset points past the end */
    assert_decode_fails(ps, 1,
                        "0x0000000000000000000000000000000000000000000000000000000000000020"
                        "0000000000000000000000000000000000000000000000000000000000000001"
                        "0000000000000000000000000000000000000000000000000000000000000040",
                        "offset");
}

static void test_decode_log(void **st)
{
    struct abi_entry ev;
    entry(&ev, "{\"type\":\"event\",\"name\":\"Transfer\",\"inputs\":["
               "{\"indexed\":true,\"name\":\"from\",\"type\":\"address\"},"
               "{\"indexed\":true,\"name\":\"to\",\"type\":\"address\"},"
               "{\"indexed\":false,\"name\":\"value\",\"type\":\"uint256\"}]}");
    uint8_t topics[3][32];
    uint8_t *t;
    const char *th[] = {"0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
                        "0x0000000000000000000000000000000000000000000000000000000000000000",
                        "0x0000000000000000000000005b38da6a701c568545dcfcb03fcb875f56beddc4"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(unhex(&t, th[i]), 32);
        memcpy(topics[i], t, 32);
        free(t);
    }
    uint8_t *data;
    size_t len = unhex(&data, "0x00000000000000000000000000000000000000000000d3c21bcecceda1000000");
    struct abi_values v;
    char err[256] = "";
    assert_int_equal(
        abi_decode_log(&v, &ev, (const uint8_t(*)[32])topics, 3, data, len, err, sizeof err), 0);
    char *s = abi_format(&ev, &v);
    assert_string_equal(s, "Transfer(from: 0x0000000000000000000000000000000000000000, "
                           "to: 0x5B38Da6a701c568545dCfcB03FcB875f56beddC4, "
                           "value: 1000000000000000000000000)");
    free(s);
    abi_values_free(&v);
    /* Wrong topic count, wrong topic0: refused. */
    assert_int_equal(
        abi_decode_log(&v, &ev, (const uint8_t(*)[32])topics, 2, data, len, err, sizeof err),
        TALLY_EINVAL);
    topics[0][0] ^= 1;
    assert_int_equal(
        abi_decode_log(&v, &ev, (const uint8_t(*)[32])topics, 3, data, len, err, sizeof err),
        TALLY_EINVAL);
    assert_non_null(strstr(err, "Transfer(address,address,uint256)"));
    free(data);

    /* An indexed string is only its hash; dynamic data after it. */
    entry(&ev, "{\"type\":\"event\",\"name\":\"Note\",\"inputs\":["
               "{\"indexed\":true,\"name\":\"tag\",\"type\":\"string\"},"
               "{\"indexed\":false,\"name\":\"nums\",\"type\":\"uint256[]\"},"
               "{\"indexed\":false,\"name\":\"text\",\"type\":\"string\"}]}");
    const char *nh[] = {"0x2da66bd349c05cb8b4f13f569e85c03e19352871bee7b1ff182a2b32f0774881",
                        "0x1d3ee9884530502fb0ff143caea2ea994a913d2d5529719b2840265e2acc699b"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(unhex(&t, nh[i]), 32);
        memcpy(topics[i], t, 32);
        free(t);
    }
    assert_memory_equal(ev.topic0, topics[0], 32);
    len = unhex(&data, "0x0000000000000000000000000000000000000000000000000000000000000040"
                       "00000000000000000000000000000000000000000000000000000000000000a0"
                       "0000000000000000000000000000000000000000000000000000000000000002"
                       "0000000000000000000000000000000000000000000000000000000000000007"
                       "0000000000000000000000000000000000000000000000000000000000000008"
                       "0000000000000000000000000000000000000000000000000000000000000005"
                       "68656c6c6f000000000000000000000000000000000000000000000000000000");
    assert_int_equal(
        abi_decode_log(&v, &ev, (const uint8_t(*)[32])topics, 2, data, len, err, sizeof err), 0);
    s = abi_format(&ev, &v);
    assert_string_equal(
        s, "Note(tag: keccak256:0x1d3ee9884530502fb0ff143caea2ea994a913d2d5529719b2840265e2acc699b"
           ", nums: [7, 8], text: \"hello\")");
    free(s);
    abi_values_free(&v);
    free(data);
}

static void test_revert(void **st)
{
    struct abi_entry errs[2];
    entry(&errs[0], "{\"type\":\"function\",\"name\":\"f\",\"inputs\":[]}");
    entry(&errs[1], "{\"type\":\"error\",\"name\":\"Unauthorized\",\"inputs\":[{\"name\":"
                    "\"caller\",\"type\":\"address\"},{\"name\":\"code\",\"type\":\"uint256\"}]}");
    static const struct {
        const char *hex, *want;
    } cases[] = {
        {"0x08c379a0"
         "0000000000000000000000000000000000000000000000000000000000000020"
         "0000000000000000000000000000000000000000000000000000000000000014"
         "696e73756666696369656e742062616c616e6365000000000000000000000000",
         "insufficient balance"},
        {"0x4e487b710000000000000000000000000000000000000000000000000000000000000011",
         "panic 0x11 (arithmetic overflow or underflow)"},
        {"0xda4720230000000000000000000000005b38da6a701c568545dcfcb03fcb875f56beddc4"
         "0000000000000000000000000000000000000000000000000000000000000007",
         "Unauthorized(caller: 0x5B38Da6a701c568545dCfcB03FcB875f56beddC4, code: 7)"},
        {"0x", "no reason given"},
        {"0x12345678", "0x12345678"},
        /* a truncated Error(string) is shown raw */
        {"0x08c379a00000000000000000000000000000000000000000000000000000000000000020",
         "0x08c379a00000000000000000000000000000000000000000000000000000000000000020"},
        /* a matching selector whose data does not decode is shown raw */
        {"0xda472023", "0xda472023"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *d;
        size_t len = unhex(&d, cases[i].hex);
        char *s = abi_format_revert(errs, 2, d, len);
        assert_non_null(s);
        assert_string_equal(s, cases[i].want);
        free(s);
        free(d);
    }
}

static void test_address(void **st)
{
    uint8_t a[20];
    char out[43];
    assert_int_equal(abi_address_parse(a, "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"), 0);
    abi_address_checksum(out, a);
    assert_string_equal(out, "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"); /* ethers */
    assert_int_equal(abi_address_parse(a, "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"), 0);
    assert_int_equal(abi_address_parse(a, "0xFB6916095CA1DF60BB79CE92CE3EA74C37C5D359"), 0);
    assert_int_equal(abi_address_parse(a, "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d35A"),
                     TALLY_EINVAL);
    assert_int_equal(abi_address_parse(a, "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d35"),
                     TALLY_EDECODE);
    assert_int_equal(abi_address_parse(a, "0Xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"),
                     TALLY_EDECODE);
    assert_int_equal(abi_address_parse(a, ""), TALLY_EDECODE);
}

/* ---- robustness: truncated and corrupted encodings never crash ---- */

static uint64_t rng_state;
static uint32_t rng(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

static void test_mutations(void **st)
{
    const char *env = getenv("TALLY_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("# test_abi mutations: seed %llu (replay with TALLY_SEED=%llu)\n",
           (unsigned long long)seed, (unsigned long long)seed);
    rng_state = seed;
    struct abi_entry e;
    entry(&e, "{\"name\":\"m\",\"inputs\":[{\"type\":\"string[]\"},{\"type\":\"uint16[]\"},"
              "{\"type\":\"bytes\"},{\"type\":\"int24\"},{\"type\":\"address\"},"
              "{\"type\":\"bytes[]\"}]}");
    const char *args[] = {"[\"one\", \"two\", \"\"]",
                          "[1, 65535]",
                          "0x0102030405",
                          "-77",
                          "0x5b38da6a701c568545dcfcb03fcb875f56beddc4",
                          "[0x, 0xff, 0x0000]"};
    uint8_t *enc;
    size_t len;
    char err[256];
    assert_int_equal(abi_encode_args(&enc, &len, &e, args, 6, err, sizeof err), 0);
    /* The selector-less tuple decodes back to the arguments. */
    struct abi_values v;
    assert_int_equal(abi_decode(&v, e.inputs, 6, enc + 4, len - 4, err, sizeof err), 0);
    assert_string_equal(v.v[0], "[\"one\", \"two\", \"\"]");
    assert_string_equal(v.v[1], "[1, 65535]");
    assert_string_equal(v.v[3], "-77");
    assert_string_equal(v.v[5], "[0x, 0xff, 0x0000]");
    abi_values_free(&v);
    for (int round = 0; round < 20000; round++) {
        size_t n = len - 4;
        uint8_t *m = malloc(n ? n : 1);
        assert_non_null(m);
        memcpy(m, enc + 4, n);
        int kind = (int)(rng() % 3);
        if (kind == 0) n = rng() % (n + 1); /* truncate */
        int flips = 1 + (int)(rng() % 4);
        for (int f = 0; f < flips && n; f++) {
            size_t at = rng() % n;
            m[at] = kind == 2 ? (uint8_t)rng() : (uint8_t)(m[at] ^ (1u << (rng() % 8)));
        }
        /* Exactly n bytes allocated: ASan sees any read past the end. */
        uint8_t *exact = malloc(n ? n : 1);
        assert_non_null(exact);
        memcpy(exact, m, n);
        int rc = abi_decode(&v, e.inputs, 6, exact, n, err, sizeof err);
        if (rc == 0)
            abi_values_free(&v);
        else
            assert_true(rc == TALLY_EDECODE || rc == TALLY_ETOOBIG);
        free(exact);
        free(m);
    }
    free(enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),         cmocka_unit_test(test_entries),
        cmocka_unit_test(test_entry_errors),  cmocka_unit_test(test_encode_vectors),
        cmocka_unit_test(test_encode_errors), cmocka_unit_test(test_decode_vectors),
        cmocka_unit_test(test_decode_errors), cmocka_unit_test(test_decode_log),
        cmocka_unit_test(test_revert),        cmocka_unit_test(test_address),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
