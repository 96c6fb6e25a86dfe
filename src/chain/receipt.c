/* Receipts: RLP [status, gas_used, cumulative_gas, contract, reason]. */
#include "chain/receipt.h"
#include <string.h>
#include "codec/rlp.h"
#include "crypto/keccak.h"

#define RECEIPT_FIELDS 5
/* Largest encoding: list header + 3 u64 + 20-byte address + reason. */
#define RECEIPT_MAX_ENC 256

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
    if (n != RECEIPT_FIELDS) return TALLY_EDECODE;
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
    return 0;
bad:
    memset(r, 0, sizeof(*r));
    return rc;
}

int receipt_hash(uint8_t out[32], const struct receipt *r)
{
    struct buf b;
    buf_init(&b, RECEIPT_MAX_ENC);
    int rc = receipt_encode(&b, r);
    if (rc == 0) keccak256(out, b.p, b.len);
    buf_free(&b);
    return rc;
}
