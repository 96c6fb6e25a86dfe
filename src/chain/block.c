/* Blocks: header encoding and hash, whole-block encoding, strict bounded
 * decoding, transaction and receipt roots. See docs/chain.md. */
#include "chain/block.h"
#include <stdlib.h>
#include <string.h>
#include "chain/merkle.h"
#include "codec/rlp.h"
#include "crypto/keccak.h"

#define BLOCK_FIELDS  3
#define HEADER_FIELDS 11
/* Largest header encoding: 4 * 32 + 20 bytes of hashes/address, 5 u64, one
 * u256, with their prefixes and the list header: well under 512. */
#define HEADER_MAX_ENC 512

static const uint8_t empty_bytes[1];

static void header_put(struct rlp_enc *e, const struct block_header *h)
{
    rlp_list_begin(e);
    rlp_put_bytes(e, h->parent_hash, 32);
    rlp_put_u64(e, h->height);
    rlp_put_u64(e, h->timestamp_ms);
    rlp_put_bytes(e, h->proposer, 20);
    rlp_put_bytes(e, h->tx_root, 32);
    rlp_put_bytes(e, h->receipts_root, 32);
    rlp_put_bytes(e, h->state_root, 32);
    rlp_put_u64(e, h->gas_limit);
    rlp_put_u64(e, h->gas_used);
    rlp_put_u256(e, &h->base_fee);
    rlp_put_u64(e, h->view);
    rlp_list_end(e);
}

int block_header_encode(struct buf *out, const struct block_header *h)
{
    struct rlp_enc e;
    rlp_enc_init(&e, out);
    header_put(&e, h);
    return rlp_enc_finish(&e);
}

int block_header_hash(uint8_t out[32], const struct block_header *h)
{
    struct buf b;
    buf_init(&b, HEADER_MAX_ENC);
    int rc = block_header_encode(&b, h);
    if (rc == 0) keccak256(out, b.p, b.len);
    buf_free(&b);
    return rc;
}

int block_encode(struct buf *out, const struct block *b)
{
    struct rlp_enc e;
    if (b->ntx > BLOCK_MAX_TXS || b->cert_len > BLOCK_CERT_MAX || (b->ntx && !b->txs))
        return TALLY_EINVAL;
    rlp_enc_init(&e, out);
    rlp_list_begin(&e);
    header_put(&e, &b->h);
    rlp_list_begin(&e);
    for (size_t i = 0; i < b->ntx; i++) {
        const struct tx *tx = b->txs[i];
        if (tx->type == TX_LEGACY)
            rlp_put_raw(&e, tx->raw, tx->raw_len); /* already an RLP list */
        else
            rlp_put_bytes(&e, tx->raw, tx->raw_len); /* type || payload as a string */
    }
    rlp_list_end(&e);
    rlp_put_bytes(&e, b->cert ? b->cert : empty_bytes, b->cert ? b->cert_len : 0);
    rlp_list_end(&e);
    return rlp_enc_finish(&e);
}

static int header_decode(struct block_header *h, const struct rlp_item *it)
{
    struct rlp_item f[HEADER_FIELDS];
    size_t n;
    int rc;
    if (!it->is_list) return TALLY_EDECODE;
    if ((rc = rlp_list(f, HEADER_FIELDS, &n, it))) return rc == TALLY_ETOOBIG ? TALLY_EDECODE : rc;
    if (n != HEADER_FIELDS) return TALLY_EDECODE;
    if ((rc = rlp_get_fixed(h->parent_hash, 32, &f[0])) || (rc = rlp_get_u64(&h->height, &f[1])) ||
        (rc = rlp_get_u64(&h->timestamp_ms, &f[2])) ||
        (rc = rlp_get_fixed(h->proposer, 20, &f[3])) ||
        (rc = rlp_get_fixed(h->tx_root, 32, &f[4])) ||
        (rc = rlp_get_fixed(h->receipts_root, 32, &f[5])) ||
        (rc = rlp_get_fixed(h->state_root, 32, &f[6])) ||
        (rc = rlp_get_u64(&h->gas_limit, &f[7])) || (rc = rlp_get_u64(&h->gas_used, &f[8])) ||
        (rc = rlp_get_u256(&h->base_fee, &f[9])) || (rc = rlp_get_u64(&h->view, &f[10])))
        return rc;
    return 0;
}

/* Count the items of a list payload, refusing more than max. */
static int count_items(size_t *count, const struct rlp_item *list, size_t max)
{
    const uint8_t *cur = list->p, *end = list->p + list->len;
    struct rlp_item it;
    size_t n = 0;
    while (cur < end) {
        if (n == max) return TALLY_ETOOBIG;
        int rc = rlp_next(&it, &cur, end);
        if (rc) return rc;
        n++;
    }
    *count = n;
    return 0;
}

static int txs_decode(struct block *b, const struct rlp_item *list)
{
    size_t n;
    int rc;
    if (!list->is_list) return TALLY_EDECODE;
    if ((rc = count_items(&n, list, BLOCK_MAX_TXS))) return rc;
    b->txs = calloc(n ? n : 1, sizeof(*b->txs));
    if (!b->txs) return TALLY_ENOMEM;
    const uint8_t *cur = list->p, *end = list->p + list->len;
    for (size_t i = 0; i < n; i++) {
        struct rlp_item it;
        const uint8_t *start = cur;
        if ((rc = rlp_next(&it, &cur, end))) return rc;
        const uint8_t *raw;
        size_t raw_len;
        if (it.is_list) { /* legacy: the list itself */
            raw = start;
            raw_len = (size_t)(cur - start);
        } else { /* typed: a string holding type || payload, type < 0x80 */
            if (it.len == 0 || it.p[0] >= 0x80) return TALLY_EDECODE;
            raw = it.p;
            raw_len = it.len;
        }
        if ((rc = tx_decode(&b->txs[i], raw, raw_len, NULL, 0))) return rc;
        b->ntx = i + 1;
    }
    return 0;
}

int block_decode(struct block **out, const uint8_t *p, size_t len, int recover)
{
    struct rlp_item top, f[BLOCK_FIELDS];
    size_t n;
    uint8_t root[32];
    int rc;

    if (!out) return TALLY_EINVAL;
    *out = NULL;
    if (len > BLOCK_MAX_SIZE) return TALLY_ETOOBIG;
    if ((rc = rlp_decode(&top, p, len))) return rc;
    if (!top.is_list) return TALLY_EDECODE;
    if ((rc = rlp_list(f, BLOCK_FIELDS, &n, &top))) return rc == TALLY_ETOOBIG ? TALLY_EDECODE : rc;
    if (n != BLOCK_FIELDS || f[2].is_list) return TALLY_EDECODE;
    if (f[2].len > BLOCK_CERT_MAX) return TALLY_ETOOBIG;

    struct block *b = calloc(1, sizeof(*b));
    if (!b) return TALLY_ENOMEM;
    if ((rc = header_decode(&b->h, &f[0])) || (rc = txs_decode(b, &f[1]))) goto bad;
    if (f[2].len) {
        b->cert = malloc(f[2].len);
        if (!b->cert) {
            rc = TALLY_ENOMEM;
            goto bad;
        }
        memcpy(b->cert, f[2].p, f[2].len);
        b->cert_len = f[2].len;
    }
    /* The body must be the one the header commits to. */
    if ((rc = block_tx_root(root, b))) goto bad;
    if (memcmp(root, b->h.tx_root, 32) != 0) {
        rc = TALLY_EBADBLOCK;
        goto bad;
    }
    if ((rc = block_seal(b))) goto bad;
    if (recover) {
        for (size_t i = 0; i < b->ntx; i++)
            if ((rc = tx_recover_sender(b->txs[i]))) goto bad;
    }
    *out = b;
    return 0;
bad:
    block_free(b);
    return rc;
}

int block_decode_header(const uint8_t *p, size_t len, struct block_header *h, uint8_t hash[32],
                        size_t *ntx)
{
    struct rlp_item top, f[BLOCK_FIELDS];
    size_t n;
    int rc;
    if (len > BLOCK_MAX_SIZE) return TALLY_ETOOBIG;
    if ((rc = rlp_decode(&top, p, len))) return rc;
    if (!top.is_list) return TALLY_EDECODE;
    if ((rc = rlp_list(f, BLOCK_FIELDS, &n, &top))) return rc == TALLY_ETOOBIG ? TALLY_EDECODE : rc;
    if (n != BLOCK_FIELDS || !f[1].is_list) return TALLY_EDECODE;
    if ((rc = header_decode(h, &f[0])) || (rc = count_items(ntx, &f[1], BLOCK_MAX_TXS))) return rc;
    return block_header_hash(hash, h);
}

int block_tx_root(uint8_t out[32], const struct block *b)
{
    if (b->ntx > BLOCK_MAX_TXS) return TALLY_EINVAL;
    uint8_t(*leaves)[32] = malloc((b->ntx ? b->ntx : 1) * 32);
    if (!leaves) return TALLY_ENOMEM;
    for (size_t i = 0; i < b->ntx; i++) memcpy(leaves[i], b->txs[i]->hash, 32);
    int rc = merkle_root(out, (const uint8_t(*)[32])leaves, b->ntx);
    free(leaves);
    return rc;
}

int block_compute_tx_root(struct block *b)
{
    return block_tx_root(b->h.tx_root, b);
}

int block_receipts_root(uint8_t out[32], const struct receipt *rcpts, size_t n)
{
    if (n > BLOCK_MAX_TXS) return TALLY_EINVAL;
    uint8_t(*leaves)[32] = malloc((n ? n : 1) * 32);
    if (!leaves) return TALLY_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) rc = receipt_hash(leaves[i], &rcpts[i]);
    if (rc == 0) rc = merkle_root(out, (const uint8_t(*)[32])leaves, n);
    free(leaves);
    return rc;
}

int block_seal(struct block *b)
{
    return block_header_hash(b->hash, &b->h);
}

void block_free(struct block *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->ntx; i++) tx_free(b->txs[i]);
    free(b->txs);
    free(b->cert);
    free(b);
}
