/* Solidity contract ABI (the "Contract ABI Specification" of the Solidity
 * documentation): entries of a solc JSON ABI, argument encoding from
 * command-line text, and decoding of return data, event logs and revert data
 * into readable text. Used by `tally deploy` and `tally call`.
 *
 * Types: address, bool, uintN / intN (N = 8..256 in steps of 8; "uint" and
 * "int" mean 256), bytesN (N = 1..32), bytes, string, and one-dimensional
 * dynamic arrays T[] of those. Tuples, fixed-size arrays T[k], nested
 * arrays, function and fixed-point types are refused (TALLY_EUNSUPPORTED).
 *
 * Everything is bounded (ABI_MAX_* below) and strict: malformed text,
 * out-of-range numbers, offsets or lengths past the data, dirty high bits of
 * a value all fail with a clear message in err, never with a crash. */
#ifndef TALLY_CODEC_ABI_H
#define TALLY_CODEC_ABI_H
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define ABI_MAX_PARAMS  32          /* inputs or outputs of one entry */
#define ABI_MAX_NAME    128         /* bytes of an entry or parameter name, NUL included */
#define ABI_MAX_SIG     1024        /* bytes of a canonical signature, NUL included */
#define ABI_MAX_ARRAY   4096        /* elements of one T[] argument */
#define ABI_MAX_ENCODED (1u << 20)  /* bytes of encoded arguments */
#define ABI_MAX_DECODE  (16u << 20) /* bytes of data accepted for decoding */
#define ABI_MAX_TEXT    (64u << 20) /* bytes of decoded text */

enum abi_base {
    ABI_ADDRESS,
    ABI_BOOL,
    ABI_UINT,
    ABI_INT,
    ABI_FIXED_BYTES, /* bytesN */
    ABI_BYTES,
    ABI_STRING,
};

struct abi_type {
    uint8_t base;  /* enum abi_base */
    uint8_t array; /* 1: a dynamic array T[] of the base type */
    uint16_t size; /* bits of ABI_UINT / ABI_INT, bytes of ABI_FIXED_BYTES, else 0 */
};

struct abi_param {
    char name[ABI_MAX_NAME]; /* "" when unnamed */
    struct abi_type type;
    uint8_t indexed; /* event parameters: stored in a topic */
};

enum abi_kind { ABI_FUNCTION, ABI_CONSTRUCTOR, ABI_EVENT, ABI_ERROR, ABI_FALLBACK, ABI_RECEIVE };
enum abi_mutability { ABI_NONPAYABLE, ABI_PAYABLE, ABI_VIEW, ABI_PURE };

struct abi_entry {
    uint8_t kind;       /* enum abi_kind */
    uint8_t mutability; /* enum abi_mutability (functions, constructor) */
    uint8_t anonymous;  /* events: no topic0 */
    char name[ABI_MAX_NAME];
    size_t ninputs, noutputs;
    struct abi_param inputs[ABI_MAX_PARAMS];
    struct abi_param outputs[ABI_MAX_PARAMS];
    /* Canonical "name(type,...)" of functions, events and errors ("" for the
     * others); selector = its first 4 Keccak-256 bytes, topic0 = all 32. */
    char signature[ABI_MAX_SIG];
    uint8_t selector[4];
    uint8_t topic0[32];
};

/* Decoded values as text, one per parameter, in order. v[i] is owned by the
 * struct; free all with abi_values_free. */
struct abi_values {
    size_t n;
    char *v[ABI_MAX_PARAMS];
};

/* Parse a type string ("uint256", "bytes32", "address[]", "uint" = uint256).
 * Errors: TALLY_EUNSUPPORTED (tuple, T[k], T[][], function, fixed...),
 * TALLY_EDECODE (not a type). */
TALLY_WUR int abi_type_parse(struct abi_type *out, const char *s);

/* Canonical name of a type ("uint256[]") into out (cap bytes, >= 16). */
void abi_type_name(char *out, size_t cap, const struct abi_type *t);

/* Fill out from one entry of a solc JSON ABI (an object with "type", "name",
 * "inputs", "outputs", "stateMutability", "anonymous"; a missing type means
 * "function"; the pre-0.5 "constant" / "payable" flags are understood).
 * Errors, with the reason in err: TALLY_EDECODE (not a valid ABI entry),
 * TALLY_EUNSUPPORTED (a parameter of a type listed above as refused),
 * TALLY_ETOOBIG (more than ABI_MAX_PARAMS parameters, name too long). */
TALLY_WUR int abi_entry_parse(struct abi_entry *out, const cJSON *item, char *err, size_t errlen);

/* Encode nargs command-line arguments for e's inputs (a function's or an
 * error's are prefixed with its selector; a constructor's are not). Text
 * forms: address 0x + 40 hex digits (a mixed-case one must carry a valid
 * EIP-55 checksum); bool true|false|1|0; uintN/intN decimal or 0x hex,
 * intN may be negative ("-5", "-0x05"); bytesN 0x + exactly 2N hex digits;
 * bytes 0x + an even number of hex digits; string the text itself; T[]
 * "[a, b, ...]" where elements are bare or JSON-quoted ("[\"a,b\", \"c\"]").
 * *out is heap-allocated (caller frees), *outlen its length; NULL and 0 on
 * failure. Errors, with the reason (argument number, name, type) in err:
 * TALLY_EINVAL (wrong argument count, bad text, value out of range),
 * TALLY_ETOOBIG (over ABI_MAX_ENCODED bytes, over ABI_MAX_ARRAY elements),
 * TALLY_ENOMEM. */
TALLY_WUR int abi_encode_args(uint8_t **out, size_t *outlen, const struct abi_entry *e,
                              const char *const *args, size_t nargs, char *err, size_t errlen);

/* Decode data[0..len) as the tuple params[0..n) (return data: e->outputs;
 * error data after the selector: e->inputs). Values are written as text:
 * addresses EIP-55 checksummed, bool true/false, integers in decimal, bytes
 * and bytesN as 0x hex, strings JSON-quoted (bytes that are not UTF-8 as
 * \xNN), arrays as "[a, b]". Trailing bytes after the tuple are allowed, as
 * in Solidity. out is empty on failure.
 * Errors: TALLY_EDECODE (offset or length past the data, dirty high bits,
 * a bool other than 0/1), TALLY_ETOOBIG (data over ABI_MAX_DECODE, text
 * over ABI_MAX_TEXT), TALLY_ENOMEM; reason in err. */
TALLY_WUR int abi_decode(struct abi_values *out, const struct abi_param *params, size_t n,
                         const uint8_t *data, size_t len, char *err, size_t errlen);

/* Decode an event log of ev: topics[0] must be ev->topic0 (unless ev is
 * anonymous), then one topic per indexed input (decoded as a word; an indexed
 * string, bytes or array is only its Keccak-256 hash, written as
 * "keccak256:0x..."), the other inputs from data. out->v follows ev->inputs.
 * Errors: TALLY_EINVAL (topic0 or the topic count does not match ev), and
 * those of abi_decode. */
TALLY_WUR int abi_decode_log(struct abi_values *out, const struct abi_entry *ev,
                             const uint8_t (*topics)[32], size_t ntopics, const uint8_t *data,
                             size_t len, char *err, size_t errlen);

/* Free the texts of v (abi_values_free on an empty or freed struct is fine). */
void abi_values_free(struct abi_values *v);

/* "name(p1: v1, p2: v2)" for e and v, the values of its inputs (an unnamed
 * parameter shows only its value). Heap string, caller frees; NULL only when
 * out of memory. */
char *abi_format(const struct abi_entry *e, const struct abi_values *v);

/* Human text of revert data: Error(string) gives its string (unquoted),
 * Panic(uint256) "panic 0x11 (arithmetic overflow or underflow)", data whose
 * selector is one of errors[0..nerrors) (ABI_ERROR entries) that entry
 * formatted by abi_format, empty data "no reason given", anything else (or
 * data that does not decode) "0x..." raw. Heap string, caller frees; NULL
 * only when out of memory. */
char *abi_format_revert(const struct abi_entry *errors, size_t nerrors, const uint8_t *data,
                        size_t len);

/* EIP-55 mixed-case checksum form of an address: "0x" + 40 characters. */
void abi_address_checksum(char out[43], const uint8_t addr[20]);

/* Parse an address: 0x + 40 hex digits; all-lowercase or all-uppercase, or
 * mixed case with a valid EIP-55 checksum.
 * Errors: TALLY_EDECODE (form), TALLY_EINVAL (bad checksum). */
TALLY_WUR int abi_address_parse(uint8_t out[20], const char *s);

#endif
