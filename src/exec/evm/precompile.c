#include "exec/evm/precompile.h"
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/keccak.h"
#include "exec/evm/bn254.h"

/* Modexp operands above this size are refused (TALLY_ETOOBIG) even when the
 * gas given would pay for them: 16 MiB costs (2^21)^2 / 3 > 10^12 gas. */
#define MODEXP_MAX_LEN (16u << 20)

int evm_precompile_is(const uint8_t addr[20])
{
    for (int i = 0; i < 19; i++)
        if (addr[i]) return EVM_PRECOMPILE_NONE;
    if (addr[19] >= EVM_PRECOMPILE_ECRECOVER && addr[19] <= EVM_PRECOMPILE_BLAKE2F) return addr[19];
    return EVM_PRECOMPILE_NONE;
}

/* ---- saturating arithmetic for gas ---- */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    if (a && b > UINT64_MAX / a) return UINT64_MAX;
    return a * b;
}

/* base + per_word * ceil(len / 32) */
static uint64_t word_cost(uint64_t base, uint64_t per_word, size_t len)
{
    uint64_t words = (uint64_t)(len / 32) + (len % 32 != 0);
    return sat_add(base, sat_mul(per_word, words));
}

/* Copy in[off..off+n) into dst, zero-filling whatever lies past in_len.
 * off may exceed in_len (then all zeros). */
static void read_padded(uint8_t *dst, const uint8_t *in, size_t in_len, uint64_t off, size_t n)
{
    size_t have = 0;
    if (off < in_len) {
        have = in_len - (size_t)off;
        if (have > n) have = n;
        memcpy(dst, in + off, have);
    }
    memset(dst + have, 0, n - have);
}

/* ---- modexp (EIP-198, gas EIP-2565) ---- */

/* A 32-byte big-endian length, saturated to UINT64_MAX. */
static uint64_t be32_len(const uint8_t b[32])
{
    for (int i = 0; i < 24; i++)
        if (b[i]) return UINT64_MAX;
    uint64_t v = 0;
    for (int i = 24; i < 32; i++) v = v << 8 | b[i];
    return v;
}

struct modexp_hdr {
    uint64_t blen, elen, mlen; /* saturated */
};

static void modexp_header(struct modexp_hdr *h, const uint8_t *in, size_t in_len)
{
    uint8_t hdr[96];
    read_padded(hdr, in, in_len, 0, sizeof hdr);
    h->blen = be32_len(hdr);
    h->elen = be32_len(hdr + 32);
    h->mlen = be32_len(hdr + 64);
}

static int bitlen_be(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i]) {
            int bits = 8;
            while (!(b[i] & 0x80u >> (8 - bits))) bits--;
            return (int)((n - i - 1) * 8) + bits;
        }
    }
    return 0;
}

static uint64_t modexp_gas(const uint8_t *in, size_t in_len)
{
    struct modexp_hdr h;
    modexp_header(&h, in, in_len);

    uint64_t maxlen = h.blen > h.mlen ? h.blen : h.mlen;
    uint64_t words = maxlen / 8 + (maxlen % 8 != 0);
    uint64_t mult = sat_mul(words, words);

    /* The first min(elen, 32) bytes of the exponent, at offset 96 + blen. */
    uint8_t head[32];
    size_t head_len = h.elen < 32 ? (size_t)h.elen : 32;
    uint64_t eoff = sat_add(96, h.blen);
    read_padded(head, in, in_len, eoff, head_len);
    int head_bits = bitlen_be(head, head_len);

    uint64_t iter;
    if (h.elen <= 32) {
        iter = head_bits ? (uint64_t)head_bits - 1 : 0;
    } else {
        iter = sat_add(sat_mul(8, h.elen - 32), head_bits ? (uint64_t)head_bits - 1 : 0);
    }
    if (iter < 1) iter = 1;

    uint64_t prod = sat_mul(mult, iter);
    uint64_t gas = prod == UINT64_MAX ? UINT64_MAX : prod / 3;
    return gas < 200 ? 200 : gas;
}

/* Runs only after the gas was paid, which bounds blen and mlen (mult) and
 * elen when mlen > 0 (iteration count). */
static int modexp_run(uint8_t **out, size_t *out_len, const uint8_t *in, size_t in_len)
{
    struct modexp_hdr h;
    modexp_header(&h, in, in_len);
    if (h.mlen == 0) return 0; /* empty output, whatever base and exponent */
    if (h.blen > MODEXP_MAX_LEN || h.elen > MODEXP_MAX_LEN || h.mlen > MODEXP_MAX_LEN)
        return TALLY_ETOOBIG;

    size_t blen = (size_t)h.blen, elen = (size_t)h.elen, mlen = (size_t)h.mlen;
    int rc = TALLY_ENOMEM;
    uint8_t *buf = malloc(blen + elen + mlen + 1);
    uint8_t *res = calloc(1, mlen);
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *b = BN_new(), *e = BN_new(), *m = BN_new(), *r = BN_new();
    if (!buf || !res || !ctx || !b || !e || !m || !r) goto done;

    read_padded(buf, in, in_len, 96, blen);
    read_padded(buf + blen, in, in_len, 96 + (uint64_t)blen, elen);
    read_padded(buf + blen + elen, in, in_len, 96 + (uint64_t)blen + elen, mlen);
    if (!BN_bin2bn(buf, (int)blen, b) || !BN_bin2bn(buf + blen, (int)elen, e) ||
        !BN_bin2bn(buf + blen + elen, (int)mlen, m))
        goto done;

    /* Modulus 0 gives mlen zero bytes; so does modulus 1 (x^0 mod 1 = 0). */
    if (!BN_is_zero(m) && !BN_is_one(m)) {
        if (!BN_mod_exp(r, b, e, m, ctx)) goto done;
        if (BN_bn2binpad(r, res, (int)mlen) < 0) goto done;
    }
    *out = res;
    *out_len = mlen;
    res = NULL;
    rc = 0;
done:
    free(buf);
    free(res);
    BN_free(b);
    BN_free(e);
    BN_free(m);
    BN_free(r);
    BN_CTX_free(ctx);
    return rc;
}

/* ---- ecrecover ---- */

static const uint8_t secp256k1_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
};

static int in_scalar_range(const uint8_t x[32])
{
    uint8_t acc = 0;
    for (int i = 0; i < 32; i++) acc |= x[i];
    return acc != 0 && memcmp(x, secp256k1_order, 32) < 0;
}

/* Writes the 32-byte left-padded address; returns 0, or -1 when nothing can
 * be recovered (the contract then returns empty output). Unlike transaction
 * signatures, s in the upper half of the order is accepted: libsecp256k1
 * recovers from any s in [1, n-1]. */
static int ecrecover(uint8_t res[32], const uint8_t *in, size_t in_len)
{
    uint8_t buf[128];
    read_padded(buf, in, in_len, 0, sizeof buf);
    const uint8_t *hash = buf, *v = buf + 32, *sig = buf + 64;
    for (int i = 0; i < 31; i++)
        if (v[i]) return -1;
    if (v[31] != 27 && v[31] != 28) return -1;
    if (!in_scalar_range(sig) || !in_scalar_range(sig + 32)) return -1;

    const secp256k1_context *ctx = secp256k1_context_static;
    secp256k1_ecdsa_recoverable_signature rs;
    secp256k1_pubkey pk;
    uint8_t ser[65];
    size_t ser_len = sizeof ser;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rs, sig, v[31] - 27)) return -1;
    if (!secp256k1_ecdsa_recover(ctx, &pk, &rs, hash)) return -1;
    if (!secp256k1_ec_pubkey_serialize(ctx, ser, &ser_len, &pk, SECP256K1_EC_UNCOMPRESSED) ||
        ser_len != 65)
        return -1;
    uint8_t h[32];
    keccak256(h, ser + 1, 64);
    memset(res, 0, 12);
    memcpy(res + 12, h + 12, 20);
    return 0;
}

/* ---- sha256, ripemd160 ---- */

static int digest(uint8_t *md, const char *name, const uint8_t *in, size_t in_len)
{
    EVP_MD *alg = EVP_MD_fetch(NULL, name, NULL);
    unsigned int len = 0;
    int ok = alg && EVP_Digest(in, in_len, md, &len, alg, NULL) == 1;
    EVP_MD_free(alg);
    return ok ? 0 : TALLY_EUNSUPPORTED;
}

/* ---- blake2f (EIP-152) ---- */

static const uint64_t blake2b_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t blake2b_sigma[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

static uint64_t rotr64(uint64_t x, int n)
{
    return x >> n | x << (64 - n);
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

#define B2_G(a, b, c, d, x, y)          \
    do {                                \
        v[a] = v[a] + v[b] + (x);       \
        v[d] = rotr64(v[d] ^ v[a], 32); \
        v[c] = v[c] + v[d];             \
        v[b] = rotr64(v[b] ^ v[c], 24); \
        v[a] = v[a] + v[b] + (y);       \
        v[d] = rotr64(v[d] ^ v[a], 16); \
        v[c] = v[c] + v[d];             \
        v[b] = rotr64(v[b] ^ v[c], 63); \
    } while (0)

/* The BLAKE2b compression function F with a caller-chosen round count. */
static void blake2b_f(uint64_t h[8], const uint64_t m[16], const uint64_t t[2], int final,
                      uint32_t rounds)
{
    uint64_t v[16];
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = blake2b_iv[i];
    }
    v[12] ^= t[0];
    v[13] ^= t[1];
    if (final) v[14] = ~v[14];
    for (uint32_t r = 0; r < rounds; r++) {
        const uint8_t *s = blake2b_sigma[r % 10];
        B2_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        B2_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        B2_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        B2_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        B2_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        B2_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        B2_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        B2_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
}

#define BLAKE2F_INPUT_LEN 213

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int blake2f(uint8_t res[64], const uint8_t *in, size_t in_len)
{
    if (in_len != BLAKE2F_INPUT_LEN) return TALLY_EINVAL;
    if (in[212] > 1) return TALLY_EINVAL;
    uint64_t h[8], m[16], t[2];
    for (int i = 0; i < 8; i++) h[i] = load_le64(in + 4 + 8 * i);
    for (int i = 0; i < 16; i++) m[i] = load_le64(in + 68 + 8 * i);
    t[0] = load_le64(in + 196);
    t[1] = load_le64(in + 204);
    blake2b_f(h, m, t, in[212], load_be32(in));
    for (int i = 0; i < 8; i++) store_le64(res + 8 * i, h[i]);
    return 0;
}

/* ---- dispatch ---- */

int evm_precompile_gas(uint64_t *cost, const uint8_t addr[20], const uint8_t *in, size_t in_len)
{
    switch (evm_precompile_is(addr)) {
    case EVM_PRECOMPILE_ECRECOVER: *cost = 3000; break;
    case EVM_PRECOMPILE_SHA256: *cost = word_cost(60, 12, in_len); break;
    case EVM_PRECOMPILE_RIPEMD160: *cost = word_cost(600, 120, in_len); break;
    case EVM_PRECOMPILE_IDENTITY: *cost = word_cost(15, 3, in_len); break;
    case EVM_PRECOMPILE_MODEXP: *cost = modexp_gas(in, in_len); break;
    case EVM_PRECOMPILE_BN256_ADD: *cost = 150; break;
    case EVM_PRECOMPILE_BN256_MUL: *cost = 6000; break;
    case EVM_PRECOMPILE_BN256_PAIRING:
        *cost = sat_add(45000, sat_mul(34000, (uint64_t)(in_len / 192)));
        break;
    case EVM_PRECOMPILE_BLAKE2F:
        /* Wrong-length input costs 0 here and then fails, consuming all gas. */
        *cost = in_len == BLAKE2F_INPUT_LEN ? load_be32(in) : 0;
        break;
    default: return TALLY_EUNSUPPORTED;
    }
    return 0;
}

/* Hand a fixed-size result on the stack to the caller as a malloc'd copy. */
static int emit(uint8_t **out, size_t *out_len, const uint8_t *res, size_t n)
{
    uint8_t *p = malloc(n);
    if (!p) return TALLY_ENOMEM;
    memcpy(p, res, n);
    *out = p;
    *out_len = n;
    return 0;
}

static int run_contract(uint8_t **out, size_t *out_len, int id, const uint8_t *in, size_t in_len)
{
    uint8_t res[64];
    int rc;
    switch (id) {
    case EVM_PRECOMPILE_ECRECOVER:
        if (ecrecover(res, in, in_len)) return 0; /* empty output */
        return emit(out, out_len, res, 32);
    case EVM_PRECOMPILE_SHA256:
        if ((rc = digest(res, "SHA256", in, in_len))) return rc;
        return emit(out, out_len, res, 32);
    case EVM_PRECOMPILE_RIPEMD160:
        memset(res, 0, 12);
        if ((rc = digest(res + 12, "RIPEMD160", in, in_len))) return rc;
        return emit(out, out_len, res, 32);
    case EVM_PRECOMPILE_IDENTITY:
        if (in_len == 0) return 0;
        return emit(out, out_len, in, in_len);
    case EVM_PRECOMPILE_MODEXP: return modexp_run(out, out_len, in, in_len);
    case EVM_PRECOMPILE_BN256_ADD: {
        uint8_t buf[128];
        read_padded(buf, in, in_len, 0, sizeof buf);
        if ((rc = bn254__g1_add(res, buf))) return rc;
        return emit(out, out_len, res, 64);
    }
    case EVM_PRECOMPILE_BN256_MUL: {
        uint8_t buf[96];
        read_padded(buf, in, in_len, 0, sizeof buf);
        if ((rc = bn254__g1_mul(res, buf))) return rc;
        return emit(out, out_len, res, 64);
    }
    case EVM_PRECOMPILE_BN256_PAIRING: {
        int one;
        if (in_len % 192) return TALLY_EINVAL;
        if ((rc = bn254__pairing_check(&one, in, in_len / 192))) return rc;
        memset(res, 0, 32);
        res[31] = (uint8_t)one;
        return emit(out, out_len, res, 32);
    }
    case EVM_PRECOMPILE_BLAKE2F:
        if ((rc = blake2f(res, in, in_len))) return rc;
        return emit(out, out_len, res, 64);
    default: return TALLY_EUNSUPPORTED;
    }
}

int evm_precompile_run(uint8_t **out, size_t *out_len, int64_t *gas_left, const uint8_t addr[20],
                       const uint8_t *in, size_t in_len, int64_t gas)
{
    *out = NULL;
    *out_len = 0;
    *gas_left = 0;
    if (in_len && !in) return TALLY_EINVAL;
    uint64_t cost;
    int rc = evm_precompile_gas(&cost, addr, in, in_len);
    if (rc) return rc;
    if (gas < 0 || (uint64_t)gas < cost) return TALLY_EGAS;
    rc = run_contract(out, out_len, evm_precompile_is(addr), in, in_len);
    if (rc) {
        free(*out);
        *out = NULL;
        *out_len = 0;
        return rc;
    }
    *gas_left = gas - (int64_t)cost;
    return 0;
}
