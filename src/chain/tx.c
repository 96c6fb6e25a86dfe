/* Ethereum-format transactions: strict decoding, signing hashes, signing,
 * sender recovery and the stateless validity rules. See docs/chain.md. */
#include "chain/tx.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec/rlp.h"
#include "crypto/keccak.h"
#include "crypto/secp.h"
#include "crypto/secp_batch.h"
#include "util/buf.h"

#define TX_LEGACY_FIELDS 9
#define TX_AL_FIELDS     11
#define TX_DF_FIELDS     12
#define TX_MAX_FIELDS    12

/* Cancun gas schedule. */
#define GAS_TX            21000
#define GAS_TX_CREATE     32000
#define GAS_DATA_ZERO     4
#define GAS_DATA_NONZERO  16
#define GAS_AL_ADDRESS    2400
#define GAS_AL_KEY        1900
#define GAS_INITCODE_WORD 2

/* secp256k1 group order n and n/2, least significant limb first. */
static const u256 secp_n = {
    {0xBFD25E8CD0364141ull, 0xBAAEDCE6AF48A03Bull, 0xFFFFFFFFFFFFFFFEull, 0xFFFFFFFFFFFFFFFFull}};
static const uint8_t empty_bytes[1];
static const u256 secp_half_n = {
    {0xDFE92F46681B20A0ull, 0x5D576E7357A4501Dull, 0xFFFFFFFFFFFFFFFFull, 0x7FFFFFFFFFFFFFFFull}};

/* One element of the outer list: the decoded item and the span of its whole
 * encoding (header included) inside the raw bytes. */
struct tx_field {
    struct rlp_item it;
    const uint8_t *enc;
    size_t enc_len;
};

/* Split a list's payload into at most max fields, keeping each field's
 * encoded span. Errors: TALLY_ETOOBIG (more than max), RLP errors. */
static int tx_split(struct tx_field *f, size_t max, size_t *count, const struct rlp_item *list)
{
    const uint8_t *cur = list->p, *end = list->p + list->len;
    size_t n = 0;
    while (cur < end) {
        if (n == max) return TALLY_ETOOBIG;
        const uint8_t *start = cur;
        int rc = rlp_next(&f[n].it, &cur, end);
        if (rc) return rc;
        f[n].enc = start;
        f[n].enc_len = (size_t)(cur - start);
        n++;
    }
    *count = n;
    return 0;
}

static int get_u64(uint64_t *out, const struct tx_field *f, const char *name, char *err,
                   size_t errlen)
{
    int rc = rlp_get_u64(out, &f->it);
    if (rc) return tally_fail(err, errlen, rc, "%s: %s", name, tally_strerror(rc));
    return 0;
}

static int get_u256(u256 *out, const struct tx_field *f, const char *name, char *err, size_t errlen)
{
    int rc = rlp_get_u256(out, &f->it);
    if (rc) return tally_fail(err, errlen, rc, "%s: %s", name, tally_strerror(rc));
    return 0;
}

static int get_to(struct tx *tx, const struct tx_field *f, char *err, size_t errlen)
{
    if (f->it.is_list) return tally_fail(err, errlen, TALLY_EDECODE, "to: a list, want a string");
    if (f->it.len == 0) {
        tx->has_to = 0;
        return 0;
    }
    if (f->it.len != 20)
        return tally_fail(err, errlen, TALLY_EDECODE, "to: %zu bytes, want 0 or 20", f->it.len);
    tx->has_to = 1;
    memcpy(tx->to, f->it.p, 20);
    return 0;
}

static int get_data(struct tx *tx, const struct tx_field *f, char *err, size_t errlen)
{
    if (f->it.is_list) return tally_fail(err, errlen, TALLY_EDECODE, "data: a list, want a string");
    tx->data = f->it.p;
    tx->data_len = f->it.len;
    return 0;
}

/* r in [1, n-1], s in [1, n/2]; stores r || s as 64 bytes. */
static int get_sig(struct tx *tx, const struct tx_field *fr, const struct tx_field *fs, char *err,
                   size_t errlen)
{
    u256 r, s;
    int rc = get_u256(&r, fr, "r", err, errlen);
    if (rc) return rc;
    rc = get_u256(&s, fs, "s", err, errlen);
    if (rc) return rc;
    if (u256_is_zero(&r) || u256_cmp(&r, &secp_n) >= 0)
        return tally_fail(err, errlen, TALLY_ESIG, "signature r out of range [1, n-1]");
    if (u256_is_zero(&s) || u256_cmp(&s, &secp_half_n) > 0)
        return tally_fail(err, errlen, TALLY_ESIG, "signature s out of range [1, n/2]");
    u256_to_be32(tx->sig, &r);
    u256_to_be32(tx->sig + 32, &s);
    return 0;
}

/* The access list: [[address(20), [key(32)...]]...]. Only the structure is
 * checked and counted; the bytes stay in raw. */
static int get_access_list(struct tx *tx, const struct tx_field *f, char *err, size_t errlen)
{
    if (!f->it.is_list)
        return tally_fail(err, errlen, TALLY_EDECODE, "access list: a string, want a list");
    const uint8_t *cur = f->it.p, *end = f->it.p + f->it.len;
    size_t naddr = 0, nkey = 0;
    while (cur < end) {
        struct rlp_item entry, addr, keys, key;
        int rc = rlp_next(&entry, &cur, end);
        if (rc)
            return tally_fail(err, errlen, rc, "access list entry %zu: %s", naddr,
                              tally_strerror(rc));
        if (!entry.is_list)
            return tally_fail(err, errlen, TALLY_EDECODE, "access list entry %zu: not a list",
                              naddr);
        const uint8_t *ec = entry.p, *ee = entry.p + entry.len;
        if (ec == ee || (rc = rlp_next(&addr, &ec, ee)) != 0 || ec == ee ||
            (rc = rlp_next(&keys, &ec, ee)) != 0 || ec != ee)
            return tally_fail(err, errlen, rc ? rc : TALLY_EDECODE,
                              "access list entry %zu: want [address, [keys]]", naddr);
        if (addr.is_list || addr.len != 20)
            return tally_fail(err, errlen, TALLY_EDECODE,
                              "access list entry %zu: address not 20 bytes", naddr);
        if (!keys.is_list)
            return tally_fail(err, errlen, TALLY_EDECODE, "access list entry %zu: keys not a list",
                              naddr);
        const uint8_t *kc = keys.p, *ke = keys.p + keys.len;
        while (kc < ke) {
            rc = rlp_next(&key, &kc, ke);
            if (rc)
                return tally_fail(err, errlen, rc, "access list entry %zu key: %s", naddr,
                                  tally_strerror(rc));
            if (key.is_list || key.len != 32)
                return tally_fail(err, errlen, TALLY_EDECODE,
                                  "access list entry %zu: storage key not 32 bytes", naddr);
            nkey++;
        }
        naddr++;
    }
    tx->access_list = f->enc;
    tx->access_list_len = f->enc_len;
    tx->access_list_addrs = naddr;
    tx->access_list_keys = nkey;
    return 0;
}

/* sighash = keccak(prefix || rlp([fields[0..n)] ++ suffix)), where prefix is
 * the type byte of a typed transaction and suffix [chain_id, 0, 0] for an
 * EIP-155 legacy one. The fields are re-used verbatim from raw. */
static int tx_compute_sighash(struct tx *tx, const struct tx_field *f, size_t n)
{
    struct buf b;
    struct rlp_enc e;
    int rc = 0;
    buf_init(&b, TX_MAX_SIZE + 64);
    if (tx->type != TX_LEGACY) rc = buf_append(&b, &tx->type, 1);
    if (rc == 0) {
        rlp_enc_init(&e, &b);
        rlp_list_begin(&e);
        for (size_t i = 0; i < n; i++) rlp_put_raw(&e, f[i].enc, f[i].enc_len);
        if (tx->type == TX_LEGACY && tx->has_chain_id) {
            rlp_put_u64(&e, tx->chain_id);
            rlp_put_u64(&e, 0);
            rlp_put_u64(&e, 0);
        }
        rlp_list_end(&e);
        rc = rlp_enc_finish(&e);
    }
    if (rc == 0) keccak256(tx->sighash, b.p, b.len);
    buf_free(&b);
    return rc;
}

static int decode_legacy(struct tx *tx, const struct tx_field *f, size_t n, char *err,
                         size_t errlen)
{
    uint64_t v;
    int rc;
    if (n != TX_LEGACY_FIELDS)
        return tally_fail(err, errlen, TALLY_EDECODE, "legacy transaction: %zu fields, want 9", n);
    if ((rc = get_u64(&tx->nonce, &f[0], "nonce", err, errlen)) ||
        (rc = get_u256(&tx->gas_price, &f[1], "gas price", err, errlen)) ||
        (rc = get_u64(&tx->gas_limit, &f[2], "gas limit", err, errlen)) ||
        (rc = get_to(tx, &f[3], err, errlen)) ||
        (rc = get_u256(&tx->value, &f[4], "value", err, errlen)) ||
        (rc = get_data(tx, &f[5], err, errlen)))
        return rc;
    rc = rlp_get_u64(&v, &f[6].it);
    if (rc)
        return tally_fail(err, errlen, rc == TALLY_ERANGE ? TALLY_ESIG : rc, "v: %s",
                          tally_strerror(rc));
    if (v == 27 || v == 28) {
        tx->has_chain_id = 0;
        tx->recid = (int)(v - 27);
    } else if (v >= 35) {
        tx->has_chain_id = 1;
        tx->chain_id = (v - 35) / 2;
        tx->recid = (int)((v - 35) & 1);
    } else {
        return tally_fail(err, errlen, TALLY_ESIG, "v=%llu, want 27, 28 or chain_id*2+35/36",
                          (unsigned long long)v);
    }
    if ((rc = get_sig(tx, &f[7], &f[8], err, errlen))) return rc;
    tx->max_fee = tx->gas_price;
    tx->max_priority_fee = tx->gas_price;
    return tx_compute_sighash(tx, f, 6);
}

static int decode_typed(struct tx *tx, const struct tx_field *f, size_t n, char *err, size_t errlen)
{
    size_t want = tx->type == TX_ACCESS_LIST ? TX_AL_FIELDS : TX_DF_FIELDS;
    uint64_t parity;
    int rc;
    if (n != want)
        return tally_fail(err, errlen, TALLY_EDECODE, "type %u transaction: %zu fields, want %zu",
                          tx->type, n, want);
    tx->has_chain_id = 1;
    if ((rc = get_u64(&tx->chain_id, &f[0], "chain id", err, errlen)) ||
        (rc = get_u64(&tx->nonce, &f[1], "nonce", err, errlen)))
        return rc;
    size_t i = 2;
    if (tx->type == TX_ACCESS_LIST) {
        if ((rc = get_u256(&tx->gas_price, &f[i++], "gas price", err, errlen))) return rc;
        tx->max_fee = tx->gas_price;
        tx->max_priority_fee = tx->gas_price;
    } else {
        if ((rc = get_u256(&tx->max_priority_fee, &f[i++], "max priority fee", err, errlen)) ||
            (rc = get_u256(&tx->max_fee, &f[i++], "max fee", err, errlen)))
            return rc;
        tx->gas_price = tx->max_fee;
    }
    if ((rc = get_u64(&tx->gas_limit, &f[i], "gas limit", err, errlen)) ||
        (rc = get_to(tx, &f[i + 1], err, errlen)) ||
        (rc = get_u256(&tx->value, &f[i + 2], "value", err, errlen)) ||
        (rc = get_data(tx, &f[i + 3], err, errlen)) ||
        (rc = get_access_list(tx, &f[i + 4], err, errlen)))
        return rc;
    rc = rlp_get_u64(&parity, &f[i + 5].it);
    if (rc)
        return tally_fail(err, errlen, rc == TALLY_ERANGE ? TALLY_ESIG : rc, "y parity: %s",
                          tally_strerror(rc));
    if (parity > 1)
        return tally_fail(err, errlen, TALLY_ESIG, "y parity %llu, want 0 or 1",
                          (unsigned long long)parity);
    tx->recid = (int)parity;
    if ((rc = get_sig(tx, &f[i + 6], &f[i + 7], err, errlen))) return rc;
    return tx_compute_sighash(tx, f, n - 3);
}

int tx_decode(struct tx **out, const uint8_t *raw, size_t len, char *err, size_t errlen)
{
    struct tx_field f[TX_MAX_FIELDS];
    struct rlp_item list;
    size_t n;
    int rc;

    if (err && errlen) err[0] = '\0';
    if (!out) return tally_fail(err, errlen, TALLY_EINVAL, "no output");
    *out = NULL;
    if (!raw || len == 0) return tally_fail(err, errlen, TALLY_EDECODE, "empty transaction");
    if (len > TX_MAX_SIZE)
        return tally_fail(err, errlen, TALLY_ETOOBIG, "transaction of %zu bytes, limit %u", len,
                          (unsigned)TX_MAX_SIZE);

    uint8_t type;
    if (raw[0] >= 0xc0)
        type = TX_LEGACY;
    else if (raw[0] == TX_ACCESS_LIST || raw[0] == TX_DYNAMIC_FEE)
        type = raw[0];
    else if (raw[0] < 0x80)
        return tally_fail(err, errlen, TALLY_ETXTYPE, "transaction type 0x%02x not supported",
                          raw[0]);
    else
        return tally_fail(err, errlen, TALLY_EDECODE, "transaction is an RLP string, want a list");

    struct tx *tx = calloc(1, sizeof(*tx));
    if (!tx) return tally_fail(err, errlen, TALLY_ENOMEM, "out of memory");
    tx->raw = malloc(len);
    if (!tx->raw) {
        free(tx);
        return tally_fail(err, errlen, TALLY_ENOMEM, "out of memory");
    }
    memcpy(tx->raw, raw, len);
    tx->raw_len = len;
    tx->type = type;

    size_t off = type == TX_LEGACY ? 0 : 1;
    rc = rlp_decode(&list, tx->raw + off, len - off);
    if (rc) {
        tally_fail(err, errlen, rc, "transaction RLP: %s", tally_strerror(rc));
        goto out;
    }
    if (!list.is_list) {
        rc = tally_fail(err, errlen, TALLY_EDECODE, "transaction payload is not a list");
        goto out;
    }
    rc = tx_split(f, TX_MAX_FIELDS, &n, &list);
    if (rc == TALLY_ETOOBIG) {
        rc = tally_fail(err, errlen, TALLY_EDECODE, "too many transaction fields");
        goto out;
    }
    if (rc) {
        tally_fail(err, errlen, rc, "transaction field: %s", tally_strerror(rc));
        goto out;
    }
    rc = type == TX_LEGACY ? decode_legacy(tx, f, n, err, errlen)
                           : decode_typed(tx, f, n, err, errlen);
    if (rc) goto out;
    keccak256(tx->hash, tx->raw, tx->raw_len);
    *out = tx;
    return 0;
out:
    if (rc == TALLY_ENOMEM) tally_fail(err, errlen, rc, "out of memory");
    tx_free(tx);
    return rc;
}

int tx_recover_sender(struct tx *tx)
{
    if (secp_recover(tx->pub, tx->sig, tx->recid, tx->sighash) != 0) {
        tx->has_sender = tx->has_pub = 0;
        return TALLY_ESIG;
    }
    secp_pub_to_addr(tx->sender, tx->pub);
    tx->has_sender = tx->has_pub = 1;
    return 0;
}

int tx_senders_from_hints(struct tx *const *txs, const uint8_t (*hints)[64], size_t n)
{
    if (!n) return 0;
    struct secp_batch_item *items = malloc(n * sizeof *items);
    if (!items) return TALLY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        items[i].digest = txs[i]->sighash;
        items[i].sig = txs[i]->sig;
        items[i].recid = txs[i]->recid;
        items[i].pub = hints[i];
    }
    int rc = secp_batch_check(items, n);
    free(items);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        memcpy(txs[i]->pub, hints[i], 64);
        secp_pub_to_addr(txs[i]->sender, txs[i]->pub);
        txs[i]->has_sender = txs[i]->has_pub = 1;
    }
    return 0;
}

void tx_free(struct tx *tx)
{
    if (!tx) return;
    free(tx->raw);
    free(tx);
}

int tx_validate_basic(const struct tx *tx, char *err, size_t errlen)
{
    u256 gas, cost;
    if (err && errlen) err[0] = '\0';
    if (tx->nonce == UINT64_MAX)
        return tally_fail(err, errlen, TALLY_ERANGE, "nonce 2^64-1 is not allowed (EIP-2681)");
    gas = u256_from_u64(tx->gas_limit);
    if (u256_mul(&cost, &gas, &tx->max_fee))
        return tally_fail(err, errlen, TALLY_ERANGE, "gas limit * max fee overflows 256 bits");
    if (u256_cmp(&tx->max_priority_fee, &tx->max_fee) > 0)
        return tally_fail(err, errlen, TALLY_EFEE,
                          "max priority fee per gas above max fee per gas");
    if (!tx->has_to && tx->data_len > TX_MAX_INITCODE_SIZE)
        return tally_fail(err, errlen, TALLY_ETOOBIG, "initcode of %zu bytes, limit %u",
                          tx->data_len, (unsigned)TX_MAX_INITCODE_SIZE);
    uint64_t need = tx_intrinsic_gas(tx);
    if (need > tx->gas_limit)
        return tally_fail(err, errlen, TALLY_EINTRINSIC,
                          "intrinsic gas too low: have %llu, want %llu",
                          (unsigned long long)tx->gas_limit, (unsigned long long)need);
    return 0;
}

int tx_check_chain_id(const struct tx *tx, uint64_t chain_id, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (tx->has_chain_id && tx->chain_id != chain_id)
        return tally_fail(err, errlen, TALLY_ECHAINID, "wrong chain id: have %llu, want %llu",
                          (unsigned long long)tx->chain_id, (unsigned long long)chain_id);
    return 0;
}

uint64_t tx_intrinsic_gas_of(const uint8_t *data, size_t len, int is_create, size_t al_addrs,
                             size_t al_keys)
{
    /* len and the access-list counts are bounded by the request or
     * transaction size, so none of these sums can overflow 64 bits. */
    uint64_t g = GAS_TX;
    size_t zeros = 0;
    for (size_t i = 0; i < len; i++) zeros += data[i] == 0;
    g += (uint64_t)zeros * GAS_DATA_ZERO + (uint64_t)(len - zeros) * GAS_DATA_NONZERO;
    if (is_create) g += GAS_TX_CREATE + GAS_INITCODE_WORD * (((uint64_t)len + 31) / 32);
    g += (uint64_t)al_addrs * GAS_AL_ADDRESS + (uint64_t)al_keys * GAS_AL_KEY;
    return g;
}

uint64_t tx_intrinsic_gas(const struct tx *tx)
{
    return tx_intrinsic_gas_of(tx->data, tx->data_len, !tx->has_to, tx->access_list_addrs,
                               tx->access_list_keys);
}

void tx_effective_gas_price(u256 *out, const struct tx *tx, const u256 *base_fee)
{
    u256 sum;
    if (u256_add(&sum, base_fee, &tx->max_priority_fee) || u256_cmp(&sum, &tx->max_fee) > 0)
        *out = tx->max_fee;
    else
        *out = sum;
}

/* Encode the signed or unsigned (sig == NULL) transaction into b. */
static void tx_fields_put(struct rlp_enc *e, const struct tx_fields *f, const uint8_t *sig,
                          uint64_t v)
{
    u256 r, s;
    rlp_list_begin(e);
    if (f->type != TX_LEGACY) rlp_put_u64(e, f->chain_id);
    rlp_put_u64(e, f->nonce);
    if (f->type == TX_DYNAMIC_FEE) {
        rlp_put_u256(e, &f->max_priority_fee);
        rlp_put_u256(e, &f->max_fee);
    } else {
        rlp_put_u256(e, &f->gas_price);
    }
    rlp_put_u64(e, f->gas_limit);
    rlp_put_bytes(e, f->to, f->has_to ? 20 : 0);
    rlp_put_u256(e, &f->value);
    rlp_put_bytes(e, f->data_len ? f->data : empty_bytes, f->data_len);
    if (f->type != TX_LEGACY) {
        rlp_list_begin(e); /* empty access list */
        rlp_list_end(e);
    }
    if (sig) {
        /* u256_from_be of 32 bytes cannot fail. */
        (void)!u256_from_be(&r, sig, 32);
        (void)!u256_from_be(&s, sig + 32, 32);
        rlp_put_u64(e, v);
        rlp_put_u256(e, &r);
        rlp_put_u256(e, &s);
    } else if (f->type == TX_LEGACY) {
        rlp_put_u64(e, f->chain_id);
        rlp_put_u64(e, 0);
        rlp_put_u64(e, 0);
    }
    rlp_list_end(e);
}

static int tx_fields_encode(struct buf *b, const struct tx_fields *f, const uint8_t *sig,
                            uint64_t v)
{
    struct rlp_enc e;
    if (f->type != TX_LEGACY) {
        int rc = buf_append(b, &f->type, 1);
        if (rc) return rc;
    }
    rlp_enc_init(&e, b);
    tx_fields_put(&e, f, sig, v);
    return rlp_enc_finish(&e);
}

int tx_sign(struct tx **out, const struct tx_fields *f, const uint8_t priv[32])
{
    uint8_t digest[32], sig[64], pub[64];
    int recid, rc;
    uint64_t v;
    struct buf b;

    if (!out) return TALLY_EINVAL;
    *out = NULL;
    if (f->type != TX_LEGACY && f->type != TX_ACCESS_LIST && f->type != TX_DYNAMIC_FEE)
        return TALLY_EINVAL;
    if (f->type == TX_LEGACY && f->chain_id > (UINT64_MAX - 36) / 2) return TALLY_EINVAL;
    if (f->data_len && !f->data) return TALLY_EINVAL;
    if ((rc = secp_pubkey(pub, priv))) return rc;

    buf_init(&b, TX_MAX_SIZE);
    if ((rc = tx_fields_encode(&b, f, NULL, 0))) goto done;
    keccak256(digest, b.p, b.len);
    if ((rc = secp_sign(sig, &recid, digest, priv))) goto done;
    v = f->type == TX_LEGACY ? f->chain_id * 2 + 35 + (uint64_t)recid : (uint64_t)recid;
    b.len = 0;
    if ((rc = tx_fields_encode(&b, f, sig, v))) goto done;
    if ((rc = tx_decode(out, b.p, b.len, NULL, 0))) goto done;
    if (memcmp((*out)->sighash, digest, 32) != 0) { /* encoder and decoder disagree */
        tx_free(*out);
        *out = NULL;
        rc = TALLY_EINVAL;
        goto done;
    }
    secp_pub_to_addr((*out)->sender, pub);
    memcpy((*out)->pub, pub, 64);
    (*out)->has_sender = (*out)->has_pub = 1;
done:
    buf_free(&b);
    return rc;
}
