/* Keccak-256 as used by Ethereum (original Keccak padding 0x01, not SHA3's
 * 0x06). Written here: OpenSSL 3.0 has no Keccak-256. */
#ifndef TALLY_CRYPTO_KECCAK_H
#define TALLY_CRYPTO_KECCAK_H
#include <stddef.h>
#include <stdint.h>

struct keccak_ctx {
    uint64_t st[25];
    size_t pos; /* bytes absorbed into the current block */
};

void keccak256_init(struct keccak_ctx *c);
void keccak256_update(struct keccak_ctx *c, const void *in, size_t len);
void keccak256_final(struct keccak_ctx *c, uint8_t out[32]);
/* One-shot digest; out may alias in. */
void keccak256(uint8_t out[32], const void *in, size_t len);

#endif
