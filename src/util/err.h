/* Tally error codes: one X-macro list generates the enum, tally_strerror()
 * and tally_errname(). Functions that can fail return 0 or a negative code. */
#ifndef TALLY_UTIL_ERR_H
#define TALLY_UTIL_ERR_H

#define TALLY_ERRNO_MAP(X)                                \
    X(NOMEM, 1, "out of memory")                          \
    X(INVAL, 2, "invalid argument")                       \
    X(RANGE, 3, "value out of range")                     \
    X(DECODE, 4, "malformed encoding")                    \
    X(NONCANON, 5, "non-canonical encoding")              \
    X(TRUNC, 6, "truncated input")                        \
    X(TRAILING, 7, "trailing bytes after input")          \
    X(TOOBIG, 8, "input too large")                       \
    X(SIG, 9, "invalid signature")                        \
    X(CHAINID, 10, "wrong chain id")                      \
    X(NONCE, 11, "nonce too low")                         \
    X(FUNDS, 12, "insufficient funds")                    \
    X(DUP, 13, "already known")                           \
    X(FULL, 14, "pool full")                              \
    X(NOTFOUND, 15, "not found")                          \
    X(IO, 16, "i/o error")                                \
    X(STORE, 17, "storage error")                         \
    X(BADBLOCK, 18, "invalid block")                      \
    X(GAS, 19, "gas limit exceeded")                      \
    X(FEE, 20, "fee too low")                             \
    X(CONFIG, 21, "bad configuration")                    \
    X(UNSUPPORTED, 22, "unsupported")                     \
    X(TXTYPE, 23, "unsupported transaction type")         \
    X(INTRINSIC, 24, "intrinsic gas too low")             \
    X(REPLACE, 25, "replacement transaction underpriced") \
    X(BUSY, 26, "resource busy")                          \
    X(STATE, 27, "invalid state")

enum tally_err {
    TALLY_OK = 0,
#define TALLY__ERR_ENUM(name, num, msg) TALLY_E##name = -(num),
    TALLY_ERRNO_MAP(TALLY__ERR_ENUM)
#undef TALLY__ERR_ENUM
};

/* Human text for a code ("nonce too low"); never NULL, static storage. */
const char *tally_strerror(int err);
/* Symbolic name for a code ("TALLY_ENONCE"); never NULL, static storage. */
const char *tally_errname(int err);

#define TALLY_WUR __attribute__((warn_unused_result))

#include <stddef.h>
/* The reason of a failure for a caller's (err, errlen) buffer: format it
 * there if err is non-NULL and errlen > 0 (truncated to fit). tally_fail
 * also returns rc, for `return tally_fail(err, errlen, TALLY_EX, ...)`. */
void tally_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int tally_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
