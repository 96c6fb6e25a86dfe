#include "crypto/secp.h"
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/keccak.h"

/* The group order n and n / 2, big-endian. */
static const uint8_t secp_n[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
};
static const uint8_t secp_half_n[32] = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
};

/* Created once, randomised once (blinding against side channels when
 * signing), then only read: libsecp256k1 allows concurrent use of a context
 * by many threads as long as nobody modifies it. */
static secp256k1_context *secp_ctx;
static pthread_once_t secp_once = PTHREAD_ONCE_INIT;

static void secp_init(void)
{
    secp256k1_context *c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (!c) {
        /* Only on allocation failure at start-up; nothing sensible to do. */
        fprintf(stderr, "tally: cannot create the secp256k1 context\n");
        abort();
    }
    uint8_t seed[32];
    if (RAND_bytes(seed, sizeof seed) == 1) {
        /* Failure here only loses the blinding, never correctness. */
        if (!secp256k1_context_randomize(c, seed)) {
            fprintf(stderr, "tally: secp256k1 context randomisation failed\n");
        }
    }
    OPENSSL_cleanse(seed, sizeof seed);
    secp_ctx = c;
}

static const secp256k1_context *ctx(void)
{
    pthread_once(&secp_once, secp_init);
    return secp_ctx;
}

static int is_zero32(const uint8_t a[32])
{
    uint8_t acc = 0;
    for (int i = 0; i < 32; i++) acc |= a[i];
    return acc == 0;
}

static int serialize_pub(uint8_t pub[64], const secp256k1_pubkey *pk)
{
    uint8_t ser[65];
    size_t len = sizeof ser;
    if (!secp256k1_ec_pubkey_serialize(ctx(), ser, &len, pk, SECP256K1_EC_UNCOMPRESSED) ||
        len != 65 || ser[0] != 0x04)
        return -1;
    memcpy(pub, ser + 1, 64);
    return 0;
}

int secp_pubkey(uint8_t pub[64], const uint8_t priv[32])
{
    secp256k1_pubkey pk;
    if (!secp256k1_ec_seckey_verify(ctx(), priv)) return TALLY_EINVAL;
    if (!secp256k1_ec_pubkey_create(ctx(), &pk, priv)) return TALLY_EINVAL;
    if (serialize_pub(pub, &pk)) return TALLY_EINVAL;
    return 0;
}

int secp_sign(uint8_t sig[64], int *recid, const uint8_t digest[32], const uint8_t priv[32])
{
    secp256k1_ecdsa_recoverable_signature rs;
    if (!secp256k1_ec_seckey_verify(ctx(), priv)) return TALLY_EINVAL;
    /* NULL nonce function = RFC 6979; libsecp256k1 always emits low s. */
    if (!secp256k1_ecdsa_sign_recoverable(ctx(), &rs, digest, priv, NULL, NULL))
        return TALLY_EINVAL;
    int id;
    if (!secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx(), sig, &id, &rs))
        return TALLY_EINVAL;
    *recid = id;
    return 0;
}

int secp_recover(uint8_t pub[64], const uint8_t sig[64], int recid, const uint8_t digest[32])
{
    const uint8_t *r = sig, *s = sig + 32;
    if (recid < 0 || recid > 3) return TALLY_ESIG;
    if (is_zero32(r) || is_zero32(s)) return TALLY_ESIG;
    if (memcmp(r, secp_n, 32) >= 0) return TALLY_ESIG;
    if (memcmp(s, secp_half_n, 32) > 0) return TALLY_ESIG; /* EIP-2: s <= n/2 */

    secp256k1_ecdsa_recoverable_signature rs;
    secp256k1_pubkey pk;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx(), &rs, sig, recid))
        return TALLY_ESIG;
    if (!secp256k1_ecdsa_recover(ctx(), &pk, &rs, digest)) return TALLY_ESIG;
    if (serialize_pub(pub, &pk)) return TALLY_ESIG;
    return 0;
}

void secp_pub_to_addr(uint8_t addr[20], const uint8_t pub[64])
{
    uint8_t h[32];
    keccak256(h, pub, 64);
    memcpy(addr, h + 12, 20);
}

int secp_recover_addr(uint8_t addr[20], const uint8_t sig[64], int recid, const uint8_t digest[32])
{
    uint8_t pub[64];
    int rc = secp_recover(pub, sig, recid, digest);
    if (rc) return rc;
    secp_pub_to_addr(addr, pub);
    return 0;
}

int secp_random_key(uint8_t priv[32])
{
    /* A uniform 256-bit value is a valid key except with probability about
     * 2^-128; the bound only guards against a broken RNG. */
    for (int tries = 0; tries < 64; tries++) {
        if (RAND_bytes(priv, 32) != 1) break;
        if (secp256k1_ec_seckey_verify(ctx(), priv)) return 0;
    }
    OPENSSL_cleanse(priv, 32);
    return TALLY_EIO;
}
