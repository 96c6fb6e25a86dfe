/* RLP (Ethereum yellow paper, appendix B), strict.
 *
 * Decoding never reads past the given bounds and refuses everything that is
 * not the one canonical encoding: a single byte < 0x80 wrapped as a string,
 * long forms for payloads < 56 bytes, length prefixes with leading zeros,
 * lengths past the end of input, and trailing bytes after the top item.
 * Decoded items point into the caller's buffer (no copies): they stay valid
 * as long as that buffer does. */
#ifndef TALLY_CODEC_RLP_H
#define TALLY_CODEC_RLP_H
#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"
#include "util/err.h"
#include "util/u256.h"

struct rlp_item {
    const uint8_t *p; /* payload (string bytes, or the concatenated list items) */
    size_t len;       /* payload length */
    int is_list;
};

/* Decode buf[0..len) as exactly one item. Only the top item's header is
 * checked here; items inside a list are checked as they are walked
 * (rlp_next, rlp_list) or all at once by rlp_validate / rlp_decode_all.
 * Errors: TALLY_ETRUNC, TALLY_ENONCANON, TALLY_ETRAILING, TALLY_EDECODE
 * (empty input). */
TALLY_WUR int rlp_decode(struct rlp_item *out, const uint8_t *buf, size_t len);

/* Decode the next item at *cur (< end) and advance *cur past it; used to walk
 * a list's payload. Same errors as rlp_decode except TALLY_ETRAILING. */
TALLY_WUR int rlp_next(struct rlp_item *out, const uint8_t **cur, const uint8_t *end);

/* Split a list item into at most max elements. *count gets the number found.
 * Errors: TALLY_EDECODE (not a list), TALLY_ETOOBIG (more than max),
 * decode errors of the elements. */
TALLY_WUR int rlp_list(struct rlp_item *items, size_t max, size_t *count,
                       const struct rlp_item *list);

/* Check every item nested inside it (all levels) with the same strict rules;
 * a string item is always valid. At most max_depth levels of lists, it
 * included, are accepted (bounds the recursion on hostile input: [[[]]] needs
 * 3). Errors: TALLY_ETRUNC, TALLY_ENONCANON, TALLY_ETOOBIG (too deep). */
TALLY_WUR int rlp_validate(const struct rlp_item *it, int max_depth);

/* rlp_decode followed by rlp_validate: the whole structure is canonical.
 * Same errors as both. */
TALLY_WUR int rlp_decode_all(struct rlp_item *out, const uint8_t *buf, size_t len, int max_depth);

/* Scalars: the item must be a string without leading zero bytes (0 is the
 * empty string). Errors: TALLY_EDECODE (a list), TALLY_ENONCANON (leading
 * zero), TALLY_ERANGE (too big for the type). */
TALLY_WUR int rlp_get_u64(uint64_t *out, const struct rlp_item *it);
TALLY_WUR int rlp_get_u256(u256 *out, const struct rlp_item *it);
/* A string of exactly n bytes. Errors: TALLY_EDECODE. */
TALLY_WUR int rlp_get_fixed(uint8_t *out, size_t n, const struct rlp_item *it);

/* Encoder. Appends to a struct buf (its cap bounds the output). Lists are
 * opened and closed; nesting is at most RLP_MAX_DEPTH. Errors are sticky:
 * the first failure is kept in e->err and later calls do nothing; check
 * rlp_enc_finish. */
#define RLP_MAX_DEPTH 16
struct rlp_enc {
    struct buf *out;
    size_t start[RLP_MAX_DEPTH]; /* payload start offsets of open lists */
    int depth;
    int err;
};

void rlp_enc_init(struct rlp_enc *e, struct buf *out);
void rlp_put_bytes(struct rlp_enc *e, const uint8_t *p, size_t len);
void rlp_put_u64(struct rlp_enc *e, uint64_t v);
void rlp_put_u256(struct rlp_enc *e, const u256 *v);
/* Append an already-encoded item verbatim (e.g. a signed tx inside a block). */
void rlp_put_raw(struct rlp_enc *e, const uint8_t *p, size_t len);
void rlp_list_begin(struct rlp_enc *e);
void rlp_list_end(struct rlp_enc *e);
/* 0 if everything was encoded and all lists closed; else the first error
 * (TALLY_ENOMEM, TALLY_ETOOBIG, TALLY_EINVAL for unbalanced lists). */
TALLY_WUR int rlp_enc_finish(struct rlp_enc *e);

#endif
