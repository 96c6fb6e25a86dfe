/* Receipts: RLP [status, gas_used, cumulative_gas, contract, reason, logs]. */
#include "chain/receipt.h"
#include <stdlib.h>
#include <string.h>
#include "codec/rlp.h"
#include "crypto/keccak.h"

#define RECEIPT_FIELDS 7
/* Encoding without logs: list header + 3 u64 + 20-byte address + reason. */
#define RECEIPT_MAX_ENC 256

void receipt_clear(struct receipt *r)
{
    free(r->logs);
    r->logs = NULL;
    r->nlogs = 0;
}

void receipts_free(struct receipt *rs, size_t n)
{
    if (!rs) return;
    for (size_t i = 0; i < n; i++) receipt_clear(&rs[i]);
    free(rs);
}

int receipt_set_logs(struct receipt *r, const struct receipt_log *logs, size_t n)
{
    receipt_clear(r);
    if (!n) return 0;
    size_t data = 0;
    for (size_t i = 0; i < n; i++) {
        if (logs[i].ntopics > 4) return TALLY_EINVAL;
        data += logs[i].data_len;
    }
    struct receipt_log *l = malloc(n * sizeof *l + (data ? data : 1));
    if (!l) return TALLY_ENOMEM;
    uint8_t *d = (uint8_t *)(l + n);
    for (size_t i = 0; i < n; i++) {
        l[i] = logs[i];
        if (logs[i].data_len) memcpy(d, logs[i].data, logs[i].data_len);
        l[i].data = d;
        d += logs[i].data_len;
    }
    r->logs = l;
    r->nlogs = (uint32_t)n;
    return 0;
}

int receipt_copy(struct receipt *dst, const struct receipt *src)
{
    *dst = *src;
    dst->logs = NULL;
    dst->nlogs = 0;
    return receipt_set_logs(dst, src->logs, src->nlogs);
}

static void bloom_add(uint8_t out[256], const uint8_t *p, size_t len)
{
    uint8_t h[32];
    keccak256(h, p, len);
    for (int i = 0; i < 6; i += 2) {
        unsigned bit = ((unsigned)h[i] << 8 | h[i + 1]) & 2047;
        out[255 - bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
}

void receipt_bloom(uint8_t out[256], const struct receipt *r)
{
    for (uint32_t i = 0; i < r->nlogs; i++) {
        bloom_add(out, r->logs[i].addr, 20);
        for (uint8_t k = 0; k < r->logs[i].ntopics; k++) bloom_add(out, r->logs[i].topics[k], 32);
    }
}

/* The logs list: [[address, [topic...], data]...]. */
static int decode_logs(struct receipt *r, const struct rlp_item *list)
{
    const uint8_t *cur = list->p, *end = list->p + list->len;
    size_t n = 0, data = 0;
    struct rlp_item it, f[3], t[5];
    int rc;
    if (!list->is_list) return TALLY_EDECODE;
    /* First pass: check the shape and size everything. */
    while (cur < end) {
        size_t k, nt;
        if ((rc = rlp_next(&it, &cur, end))) return rc;
        if (++n > RECEIPT_MAX_LOGS || !it.is_list) return TALLY_EDECODE;
        if ((rc = rlp_list(f, 3, &k, &it)) || k != 3) return rc ? rc : TALLY_EDECODE;
        if (f[0].is_list || f[0].len != 20 || !f[1].is_list || f[2].is_list) return TALLY_EDECODE;
        if ((rc = rlp_list(t, 4, &nt, &f[1]))) return rc == TALLY_ETOOBIG ? TALLY_EDECODE : rc;
        for (size_t j = 0; j < nt; j++)
            if (t[j].is_list || t[j].len != 32) return TALLY_EDECODE;
        data += f[2].len;
    }
    if (!n) return 0;
    struct receipt_log *l = malloc(n * sizeof *l + (data ? data : 1));
    if (!l) return TALLY_ENOMEM;
    uint8_t *d = (uint8_t *)(l + n);
    cur = list->p;
    for (size_t i = 0; i < n; i++) {
        size_t k, nt;
        /* Checked above: these cannot fail. */
        if (rlp_next(&it, &cur, end) || rlp_list(f, 3, &k, &it) || rlp_list(t, 4, &nt, &f[1])) {
            free(l);
            return TALLY_EDECODE;
        }
        memcpy(l[i].addr, f[0].p, 20);
        l[i].ntopics = (uint8_t)nt;
        for (size_t j = 0; j < nt; j++) memcpy(l[i].topics[j], t[j].p, 32);
        if (f[2].len) memcpy(d, f[2].p, f[2].len);
        l[i].data = d;
        l[i].data_len = f[2].len;
        d += f[2].len;
    }
    r->logs = l;
    r->nlogs = (uint32_t)n;
    return 0;
}

int receipt_encode(struct buf *out, const struct receipt *r)
{
    struct rlp_enc e;
    if (r->status > 1) return TALLY_EINVAL;
    size_t reason_len = strnlen(r->reason, RECEIPT_REASON_MAX - 1);
    rlp_enc_init(&e, out);
    rlp_list_begin(&e);
    rlp_put_u64(&e, r->status);
    rlp_put_u64(&e, r->gas_used);
    rlp_put_u64(&e, r->cumulative_gas);
    rlp_put_bytes(&e, r->contract, r->has_contract ? 20 : 0);
    rlp_put_bytes(&e, (const uint8_t *)r->reason, reason_len);
    rlp_put_u64(&e, r->first_log);
    rlp_list_begin(&e);
    for (uint32_t i = 0; i < r->nlogs; i++) {
        const struct receipt_log *l = &r->logs[i];
        rlp_list_begin(&e);
        rlp_put_bytes(&e, l->addr, 20);
        rlp_list_begin(&e);
        for (uint8_t k = 0; k < l->ntopics && k < 4; k++) rlp_put_bytes(&e, l->topics[k], 32);
        rlp_list_end(&e);
        rlp_put_bytes(&e, l->data, l->data_len);
        rlp_list_end(&e);
    }
    rlp_list_end(&e);
    rlp_list_end(&e);
    return rlp_enc_finish(&e);
}

int receipt_decode(struct receipt *r, const uint8_t *p, size_t len)
{
    struct rlp_item top, f[RECEIPT_FIELDS];
    size_t n;
    uint64_t status;
    int rc;

    memset(r, 0, sizeof(*r));
    if ((rc = rlp_decode(&top, p, len))) return rc;
    if (!top.is_list) return TALLY_EDECODE;
    if ((rc = rlp_list(f, RECEIPT_FIELDS, &n, &top)))
        return rc == TALLY_ETOOBIG ? TALLY_EDECODE : rc;
    if (n != RECEIPT_FIELDS && n != RECEIPT_FIELDS - 2) return TALLY_EDECODE;
    if ((rc = rlp_get_u64(&status, &f[0])) || (rc = rlp_get_u64(&r->gas_used, &f[1])) ||
        (rc = rlp_get_u64(&r->cumulative_gas, &f[2])))
        goto bad;
    if (status > 1) {
        rc = TALLY_EDECODE;
        goto bad;
    }
    r->status = (uint8_t)status;
    if (f[3].is_list || (f[3].len != 0 && f[3].len != 20)) {
        rc = TALLY_EDECODE;
        goto bad;
    }
    if (f[3].len == 20) {
        r->has_contract = 1;
        memcpy(r->contract, f[3].p, 20);
    }
    /* The reason is kept as a C string: bounded and without NUL bytes. */
    if (f[4].is_list || f[4].len >= RECEIPT_REASON_MAX ||
        (f[4].len && memchr(f[4].p, 0, f[4].len))) {
        rc = TALLY_EDECODE;
        goto bad;
    }
    if (f[4].len) memcpy(r->reason, f[4].p, f[4].len);
    r->reason[f[4].len] = '\0';
    if (n == RECEIPT_FIELDS) {
        uint64_t first;
        if ((rc = rlp_get_u64(&first, &f[5]))) goto bad;
        if (first > UINT32_MAX) {
            rc = TALLY_EDECODE;
            goto bad;
        }
        r->first_log = (uint32_t)first;
        if ((rc = decode_logs(r, &f[6]))) goto bad;
    }
    return 0;
bad:
    receipt_clear(r);
    memset(r, 0, sizeof(*r));
    return rc;
}

int receipt_hash(uint8_t out[32], const struct receipt *r)
{
    struct buf b;
    size_t cap = RECEIPT_MAX_ENC;
    for (uint32_t i = 0; i < r->nlogs; i++) cap += 200 + r->logs[i].data_len;
    buf_init(&b, cap);
    int rc = receipt_encode(&b, r);
    if (rc == 0) keccak256(out, b.p, b.len);
    buf_free(&b);
    return rc;
}
