#include "crypto/nodekey.h"
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "crypto/keccak.h"

struct nodekey {
    EVP_PKEY *pkey;
    uint8_t id[32];
};

static int fill_id(struct nodekey *k)
{
    size_t len = 32;
    if (EVP_PKEY_get_raw_public_key(k->pkey, k->id, &len) != 1 || len != 32) return TALLY_EDECODE;
    return 0;
}

int nodekey_generate(struct nodekey **out)
{
    struct nodekey *k = calloc(1, sizeof *k);
    if (!k) return TALLY_ENOMEM;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &k->pkey) != 1 ||
        fill_id(k)) {
        EVP_PKEY_CTX_free(ctx);
        nodekey_free(k);
        return TALLY_EIO;
    }
    EVP_PKEY_CTX_free(ctx);
    *out = k;
    return 0;
}

int nodekey_load(struct nodekey **out, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return TALLY_EIO;
    struct nodekey *k = calloc(1, sizeof *k);
    if (!k) {
        fclose(f);
        return TALLY_ENOMEM;
    }
    k->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!k->pkey || EVP_PKEY_get_id(k->pkey) != EVP_PKEY_ED25519 || fill_id(k)) {
        nodekey_free(k);
        return TALLY_EDECODE;
    }
    *out = k;
    return 0;
}

int nodekey_save(const struct nodekey *k, const char *path)
{
    mode_t old = umask(077);
    FILE *f = fopen(path, "w");
    umask(old);
    if (!f) return TALLY_EIO;
    int ok = PEM_write_PrivateKey(f, k->pkey, NULL, NULL, 0, NULL, NULL) == 1;
    ok &= fflush(f) == 0;
    ok &= fclose(f) == 0;
    return ok ? 0 : TALLY_EIO;
}

void nodekey_free(struct nodekey *k)
{
    if (!k) return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

void nodekey_id(const struct nodekey *k, uint8_t id[32])
{
    for (int i = 0; i < 32; i++) id[i] = k->id[i];
}

void nodekey_address(const struct nodekey *k, uint8_t addr[20])
{
    uint8_t h[32];
    keccak256(h, k->id, 32);
    for (int i = 0; i < 20; i++) addr[i] = h[12 + i];
}

int nodekey_sign(const struct nodekey *k, uint8_t sig[64], const uint8_t *msg, size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = 64;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == 64;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : TALLY_EIO;
}

int nodekey_verify(const uint8_t id[32], const uint8_t sig[64], const uint8_t *msg, size_t len)
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, id, 32);
    if (!pk) return TALLY_ESIG;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok ? 0 : TALLY_ESIG;
}

void *nodekey_evp(const struct nodekey *k)
{
    return k->pkey;
}
