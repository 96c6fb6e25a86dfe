/* Chain data on top of a store transaction. Formats (docs/storage.md):
 *   BLOCKS     height8 -> u32 len || block_encode bytes || sender[20] * ntx
 *   BLOCK_HASH hash32  -> height8
 *   TX_LOC     txhash32 -> height8 || index4
 *   RECEIPTS   height8 -> u32 n || u32 off[n+1] || receipt_encode bytes...
 *              (offsets relative to the start of the encodings)
 *   META       "head" -> height8 || hash32, "tx_count" -> u64 BE
 * All integers big-endian. */
#include <stdlib.h>
#include <string.h>
#include "store/chainstore.h"

#define META_HEAD         "head"
#define META_TX_COUNT     "tx_count"
#define META_TXLOC_HEIGHT "txloc_height" /* TX_LOC holds every tx of blocks <= this */

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) out[i] = (uint8_t)v;
}
static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}
static void be32(uint8_t out[4], uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8) out[i] = (uint8_t)v;
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int chainstore_meta_get(struct store_txn *t, const char *key, const void **val, size_t *len)
{
    size_t n = strlen(key);
    if (!n || n > STORE_KEY_MAX) return TALLY_EINVAL;
    return store_get(t, STORE_DB_META, key, n, val, len);
}

int chainstore_meta_put(struct store_txn *t, const char *key, const void *val, size_t len)
{
    size_t n = strlen(key);
    if (!n || n > STORE_KEY_MAX) return TALLY_EINVAL;
    return store_put(t, STORE_DB_META, key, n, val, len);
}

int chainstore_tx_count(struct store_txn *t, uint64_t *count)
{
    const void *v;
    size_t n;
    int rc = chainstore_meta_get(t, META_TX_COUNT, &v, &n);
    if (rc == TALLY_ENOTFOUND) {
        *count = 0;
        return 0;
    }
    if (rc) return rc;
    if (n != 8) return TALLY_EDECODE;
    *count = rd64(v);
    return 0;
}

struct tx_order {
    const uint8_t *hash;
    uint32_t index;
};

static int cmp_tx_order(const void *a, const void *b)
{
    return memcmp(((const struct tx_order *)a)->hash, ((const struct tx_order *)b)->hash, 32);
}

/* Where the writes of a block go: a live write transaction or a batch. */
struct sink {
    struct store_txn *t;
    struct store_batch *b;
    int defer_txloc; /* leave TX_LOC to a later chainstore_batch_txloc merge */
};

static int sink_put(const struct sink *k, enum store_db db, const void *key, size_t klen,
                    const void *val, size_t vlen, unsigned flags)
{
    if (k->b) return store_batch_put(k->b, db, key, klen, val, vlen, flags);
    return store_put(k->t, db, key, klen, val, vlen);
}

static int put_receipts(const struct sink *k, const uint8_t hkey[8], const struct receipt *rcpts,
                        size_t n)
{
    struct buf enc, val;
    buf_init(&enc, STORE_VAL_MAX);
    buf_init(&val, STORE_VAL_MAX);
    uint32_t *off = malloc((n + 1) * sizeof *off);
    int rc = off ? 0 : TALLY_ENOMEM;
    if (!rc) rc = buf_reserve(&enc, 64 * n + 64);
    for (size_t i = 0; i < n && !rc; i++) {
        off[i] = (uint32_t)enc.len;
        rc = receipt_encode(&enc, &rcpts[i]);
    }
    if (!rc) {
        off[n] = (uint32_t)enc.len;
        rc = buf_reserve(&val, 4 + 4 * (n + 1) + enc.len);
        if (!rc) {
            /* reserved above: write the table in place */
            uint8_t *p = val.p;
            be32(p, (uint32_t)n);
            for (size_t i = 0; i <= n; i++) be32(p + 4 + 4 * i, off[i]);
            val.len = 4 + 4 * (n + 1);
            if (enc.len) rc = buf_append(&val, enc.p, enc.len);
        }
    }
    if (!rc) rc = sink_put(k, STORE_DB_RECEIPTS, hkey, 8, val.p, val.len, STORE_PUT_APPEND);
    free(off);
    buf_free(&enc);
    buf_free(&val);
    return rc;
}

static int put_block(const struct sink *k, const struct block *b, const struct receipt *rcpts,
                     uint64_t count_before)
{
    if (b->ntx && !rcpts) return TALLY_EINVAL;
    for (size_t i = 0; i < b->ntx; i++)
        if (!b->txs[i]->has_sender) return TALLY_EINVAL;
    uint8_t hkey[8];
    be64(hkey, b->h.height);
    struct buf enc, val;
    buf_init(&enc, BLOCK_MAX_SIZE + BLOCK_CERT_MAX);
    buf_init(&val, STORE_VAL_MAX);
    struct tx_order *order = NULL;
    int rc = block_encode(&enc, b);
    if (!rc) rc = buf_reserve(&val, 4 + enc.len + 20 * b->ntx);
    if (!rc) {
        uint8_t b4[4];
        be32(b4, (uint32_t)enc.len);
        rc = buf_append(&val, b4, 4);
        if (!rc) rc = buf_append(&val, enc.p, enc.len);
        for (size_t i = 0; i < b->ntx && !rc; i++) rc = buf_append(&val, b->txs[i]->sender, 20);
    }
    buf_free(&enc);
    if (!rc) rc = sink_put(k, STORE_DB_BLOCKS, hkey, 8, val.p, val.len, STORE_PUT_APPEND);
    buf_free(&val);
    if (rc) return rc;
    if ((rc = sink_put(k, STORE_DB_BLOCK_HASH, b->hash, 32, hkey, 8, 0))) return rc;

    /* Tx index: insert in key order (kinder to the B-tree). */
    if (b->ntx && !k->defer_txloc) {
        order = malloc(b->ntx * sizeof *order);
        if (!order) return TALLY_ENOMEM;
        for (size_t i = 0; i < b->ntx; i++) {
            order[i].hash = b->txs[i]->hash;
            order[i].index = (uint32_t)i;
        }
        qsort(order, b->ntx, sizeof *order, cmp_tx_order);
        uint8_t loc[12];
        memcpy(loc, hkey, 8);
        for (size_t i = 0; i < b->ntx && !rc; i++) {
            be32(loc + 8, order[i].index);
            rc = sink_put(k, STORE_DB_TX_LOC, order[i].hash, 32, loc, 12, 0);
        }
        free(order);
        if (rc) return rc;
    }
    if ((rc = put_receipts(k, hkey, rcpts, b->ntx))) return rc;

    uint8_t head[40];
    memcpy(head, hkey, 8);
    memcpy(head + 8, b->hash, 32);
    if ((rc = sink_put(k, STORE_DB_META, META_HEAD, strlen(META_HEAD), head, 40, 0))) return rc;
    uint8_t c8[8];
    be64(c8, count_before + b->ntx);
    return sink_put(k, STORE_DB_META, META_TX_COUNT, strlen(META_TX_COUNT), c8, 8, 0);
}

int chainstore_put_block(struct store_txn *t, const struct block *b, const struct receipt *rcpts)
{
    struct sink k = {t, NULL, 0};
    uint64_t count;
    int rc = chainstore_tx_count(t, &count);
    return rc ? rc : put_block(&k, b, rcpts, count);
}

int chainstore_batch_block(struct store_batch *batch, const struct block *b,
                           const struct receipt *rcpts, uint64_t tx_count_before, int defer_txloc)
{
    struct sink k = {NULL, batch, defer_txloc};
    return put_block(&k, b, rcpts, tx_count_before);
}

int chainstore_batch_txloc(struct store_batch *batch, const struct txindex_entry *e, size_t n,
                           uint64_t merged_height)
{
    uint8_t loc[12], h8[8];
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        be64(loc, e[i].height);
        be32(loc + 8, e[i].index);
        rc = store_batch_put(batch, STORE_DB_TX_LOC, e[i].hash, 32, loc, 12, 0);
    }
    be64(h8, merged_height);
    if (!rc && merged_height != CHAINSTORE_TXLOC_PARTIAL)
        rc = store_batch_put(batch, STORE_DB_META, META_TXLOC_HEIGHT, strlen(META_TXLOC_HEIGHT), h8,
                             8, 0);
    return rc;
}

int chainstore_txloc_height(struct store_txn *t, uint64_t *height)
{
    const void *v;
    size_t n;
    int rc = chainstore_meta_get(t, META_TXLOC_HEIGHT, &v, &n);
    if (rc) return rc;
    if (n != 8) return TALLY_EDECODE;
    *height = rd64(v);
    return 0;
}

int chainstore_set_txloc_height(struct store_txn *t, uint64_t height)
{
    uint8_t h8[8];
    be64(h8, height);
    return chainstore_meta_put(t, META_TXLOC_HEIGHT, h8, 8);
}

int chainstore_head(struct store_txn *t, uint64_t *height, uint8_t hash[32])
{
    const void *v;
    size_t n;
    int rc = chainstore_meta_get(t, META_HEAD, &v, &n);
    if (rc) return rc;
    if (n != 40) return TALLY_EDECODE;
    *height = rd64(v);
    memcpy(hash, (const uint8_t *)v + 8, 32);
    return 0;
}

/* The stored value at height split into the block encoding and senders. */
static int get_block_value(struct store_txn *t, uint64_t height, const uint8_t **blk, size_t *blen,
                           const uint8_t **senders, size_t *slen)
{
    uint8_t hkey[8];
    be64(hkey, height);
    const void *v;
    size_t n;
    int rc = store_get(t, STORE_DB_BLOCKS, hkey, 8, &v, &n);
    if (rc) return rc;
    const uint8_t *p = v;
    if (n < 4) return TALLY_EDECODE;
    uint32_t len = rd32(p);
    if (len > n - 4 || (n - 4 - len) % 20) return TALLY_EDECODE;
    *blk = p + 4;
    *blen = len;
    *senders = p + 4 + len;
    *slen = n - 4 - len;
    return 0;
}

int chainstore_block_raw(struct store_txn *t, const uint8_t **p, size_t *len, uint64_t height)
{
    const uint8_t *s;
    size_t slen;
    return get_block_value(t, height, p, len, &s, &slen);
}

int chainstore_block(struct store_txn *t, struct block **out, uint64_t height)
{
    *out = NULL;
    const uint8_t *p, *s;
    size_t len, slen;
    int rc = get_block_value(t, height, &p, &len, &s, &slen);
    if (rc) return rc;
    struct block *b;
    if ((rc = block_decode(&b, p, len, 0))) return rc;
    if (slen != 20 * b->ntx) {
        block_free(b);
        return TALLY_EDECODE;
    }
    for (size_t i = 0; i < b->ntx; i++) {
        memcpy(b->txs[i]->sender, s + 20 * i, 20);
        b->txs[i]->has_sender = 1;
    }
    *out = b;
    return 0;
}

int chainstore_height_of(struct store_txn *t, uint64_t *height, const uint8_t hash[32])
{
    const void *v;
    size_t n;
    int rc = store_get(t, STORE_DB_BLOCK_HASH, hash, 32, &v, &n);
    if (rc) return rc;
    if (n != 8) return TALLY_EDECODE;
    *height = rd64(v);
    return 0;
}

int chainstore_tx_loc(struct store_txn *t, uint64_t *height, uint32_t *index,
                      const uint8_t txhash[32])
{
    const void *v;
    size_t n;
    int rc = store_get(t, STORE_DB_TX_LOC, txhash, 32, &v, &n);
    if (rc) return rc;
    if (n != 12) return TALLY_EDECODE;
    *height = rd64(v);
    *index = rd32((const uint8_t *)v + 8);
    return 0;
}

int chainstore_receipt(struct store_txn *t, struct receipt *out, uint64_t height, uint32_t index)
{
    uint8_t hkey[8];
    be64(hkey, height);
    const void *v;
    size_t n;
    int rc = store_get(t, STORE_DB_RECEIPTS, hkey, 8, &v, &n);
    if (rc) return rc;
    const uint8_t *p = v;
    if (n < 4) return TALLY_EDECODE;
    uint32_t cnt = rd32(p);
    if (index >= cnt) return TALLY_ENOTFOUND;
    if ((n - 4) / 4 < (size_t)cnt + 1) return TALLY_EDECODE;
    size_t base = 4 + 4 * ((size_t)cnt + 1);
    uint32_t a = rd32(p + 4 + 4 * (size_t)index), b = rd32(p + 8 + 4 * (size_t)index);
    if (a > b || b > n - base) return TALLY_EDECODE;
    return receipt_decode(out, p + base + a, b - a);
}
