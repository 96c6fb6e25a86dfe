#include "codec/rlp.h"
#include <string.h>

/* Parse the header of the item at p[0..avail). On success *hdr is the header
 * length and *plen the payload length, with *hdr + *plen <= avail. A single
 * byte < 0x80 is its own payload (*hdr = 0, *plen = 1). */
static int rlp_header(int *is_list, size_t *hdr, size_t *plen, const uint8_t *p, size_t avail)
{
    if (avail == 0) return TALLY_ETRUNC;
    uint8_t b = p[0];
    if (b < 0x80) {
        *is_list = 0;
        *hdr = 0;
        *plen = 1;
        return 0;
    }
    int list = b >= 0xc0;
    uint8_t base = list ? 0xc0 : 0x80;
    size_t len;
    size_t h;
    if (b - base < 56) {
        h = 1;
        len = (size_t)(b - base);
    } else {
        size_t lenlen = (size_t)(b - base - 55); /* 1..8 */
        if (avail - 1 < lenlen) return TALLY_ETRUNC;
        if (p[1] == 0) return TALLY_ENONCANON; /* leading zero in the length */
        uint64_t v = 0;
        for (size_t i = 0; i < lenlen; i++) v = v << 8 | p[1 + i];
        if (v < 56) return TALLY_ENONCANON; /* long form for a short payload */
        h = 1 + lenlen;
        /* Compare in 64 bits: a length that overflows size_t is also past
         * the end of any buffer. */
        if (v > (uint64_t)(avail - h)) return TALLY_ETRUNC;
        len = (size_t)v;
    }
    if (len > avail - h) return TALLY_ETRUNC;
    /* A lone byte < 0x80 must be encoded as itself. */
    if (!list && h == 1 && len == 1 && p[1] < 0x80) return TALLY_ENONCANON;
    *is_list = list;
    *hdr = h;
    *plen = len;
    return 0;
}

int rlp_next(struct rlp_item *out, const uint8_t **cur, const uint8_t *end)
{
    const uint8_t *p = *cur;
    if (p >= end) return TALLY_ETRUNC;
    int is_list;
    size_t hdr, plen;
    int rc = rlp_header(&is_list, &hdr, &plen, p, (size_t)(end - p));
    if (rc) return rc;
    out->p = p + hdr;
    out->len = plen;
    out->is_list = is_list;
    *cur = p + hdr + plen;
    return 0;
}

int rlp_decode(struct rlp_item *out, const uint8_t *buf, size_t len)
{
    if (len == 0) return TALLY_EDECODE;
    const uint8_t *cur = buf;
    struct rlp_item it;
    int rc = rlp_next(&it, &cur, buf + len);
    if (rc) return rc;
    if (cur != buf + len) return TALLY_ETRAILING;
    *out = it;
    return 0;
}

int rlp_list(struct rlp_item *items, size_t max, size_t *count, const struct rlp_item *list)
{
    if (!list->is_list) return TALLY_EDECODE;
    const uint8_t *cur = list->p, *end = list->p + list->len;
    size_t n = 0;
    while (cur < end) {
        struct rlp_item it;
        int rc = rlp_next(&it, &cur, end);
        if (rc) return rc;
        if (n == max) return TALLY_ETOOBIG;
        items[n++] = it;
    }
    *count = n;
    return 0;
}

int rlp_validate(const struct rlp_item *it, int max_depth)
{
    if (!it->is_list) return 0;
    if (max_depth <= 0) return TALLY_ETOOBIG;
    const uint8_t *cur = it->p, *end = it->p + it->len;
    while (cur < end) {
        struct rlp_item child;
        int rc = rlp_next(&child, &cur, end);
        if (rc) return rc;
        rc = rlp_validate(&child, max_depth - 1);
        if (rc) return rc;
    }
    return 0;
}

int rlp_decode_all(struct rlp_item *out, const uint8_t *buf, size_t len, int max_depth)
{
    struct rlp_item it;
    int rc = rlp_decode(&it, buf, len);
    if (rc) return rc;
    rc = rlp_validate(&it, max_depth);
    if (rc) return rc;
    *out = it;
    return 0;
}

/* Common checks of the scalar getters: a string of at most max bytes without
 * a leading zero byte. */
static int rlp_scalar(const struct rlp_item *it, size_t max)
{
    if (it->is_list) return TALLY_EDECODE;
    if (it->len > 0 && it->p[0] == 0) return TALLY_ENONCANON;
    if (it->len > max) return TALLY_ERANGE;
    return 0;
}

int rlp_get_u64(uint64_t *out, const struct rlp_item *it)
{
    int rc = rlp_scalar(it, 8);
    if (rc) return rc;
    uint64_t v = 0;
    for (size_t i = 0; i < it->len; i++) v = v << 8 | it->p[i];
    *out = v;
    return 0;
}

int rlp_get_u256(u256 *out, const struct rlp_item *it)
{
    int rc = rlp_scalar(it, 32);
    if (rc) return rc;
    return u256_from_be(out, it->p, it->len);
}

int rlp_get_fixed(uint8_t *out, size_t n, const struct rlp_item *it)
{
    if (it->is_list || it->len != n) return TALLY_EDECODE;
    if (n) memcpy(out, it->p, n);
    return 0;
}

/* ---- encoder ---- */

/* Header for a payload of len bytes with short-form base (0x80 or 0xc0)
 * into h[9]; returns its length. */
static size_t rlp_make_header(uint8_t h[9], uint8_t base, size_t len)
{
    if (len < 56) {
        h[0] = (uint8_t)(base + len);
        return 1;
    }
    uint8_t be[8];
    size_t n = 0;
    for (uint64_t v = len; v; v >>= 8) be[n++] = (uint8_t)v;
    h[0] = (uint8_t)(base + 55 + n);
    for (size_t i = 0; i < n; i++) h[1 + i] = be[n - 1 - i];
    return 1 + n;
}

static void rlp_append(struct rlp_enc *e, const void *p, size_t len)
{
    if (e->err) return;
    int rc = buf_append(e->out, p, len);
    if (rc) e->err = rc;
}

void rlp_enc_init(struct rlp_enc *e, struct buf *out)
{
    e->out = out;
    e->depth = 0;
    e->err = 0;
}

void rlp_put_bytes(struct rlp_enc *e, const uint8_t *p, size_t len)
{
    if (e->err) return;
    if (len == 1 && p[0] < 0x80) {
        rlp_append(e, p, 1);
        return;
    }
    uint8_t h[9];
    size_t hl = rlp_make_header(h, 0x80, len);
    /* Reserve once so a failure leaves no half-written item behind. */
    if (len > SIZE_MAX - hl) {
        e->err = TALLY_ETOOBIG;
        return;
    }
    int rc = buf_reserve(e->out, hl + len);
    if (rc) {
        e->err = rc;
        return;
    }
    rlp_append(e, h, hl);
    rlp_append(e, p, len);
}

void rlp_put_u64(struct rlp_enc *e, uint64_t v)
{
    uint8_t be[8];
    size_t n = 0;
    for (uint64_t t = v; t; t >>= 8) n++;
    for (size_t i = 0; i < n; i++) be[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    rlp_put_bytes(e, be, n);
}

void rlp_put_u256(struct rlp_enc *e, const u256 *v)
{
    uint8_t be[32];
    size_t n = u256_to_be_min(be, v);
    rlp_put_bytes(e, be, n);
}

void rlp_put_raw(struct rlp_enc *e, const uint8_t *p, size_t len)
{
    if (e->err) return;
    struct rlp_item it;
    if (rlp_decode(&it, p, len) != 0) {
        e->err = TALLY_EINVAL; /* not exactly one well-formed item */
        return;
    }
    rlp_append(e, p, len);
}

void rlp_list_begin(struct rlp_enc *e)
{
    if (e->err) return;
    if (e->depth >= RLP_MAX_DEPTH) {
        e->err = TALLY_ETOOBIG;
        return;
    }
    e->start[e->depth++] = e->out->len;
}

void rlp_list_end(struct rlp_enc *e)
{
    if (e->err) return;
    if (e->depth <= 0) {
        e->err = TALLY_EINVAL;
        return;
    }
    size_t start = e->start[--e->depth];
    size_t plen = e->out->len - start;
    uint8_t h[9];
    size_t hl = rlp_make_header(h, 0xc0, plen);
    int rc = buf_reserve(e->out, hl);
    if (rc) {
        e->err = rc;
        return;
    }
    uint8_t *p = e->out->p;
    memmove(p + start + hl, p + start, plen);
    memcpy(p + start, h, hl);
    e->out->len += hl;
    p[e->out->len] = 0; /* keep buf's NUL-after-data habit */
}

int rlp_enc_finish(struct rlp_enc *e)
{
    if (e->err) return e->err;
    if (e->depth != 0) return TALLY_EINVAL;
    return 0;
}
