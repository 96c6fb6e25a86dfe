/* Domain-separated binary Merkle root (see merkle.h and docs/chain.md). */
#include "chain/merkle.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/keccak.h"

static void merkle_leaf(uint8_t out[32], const uint8_t leaf[32])
{
    struct keccak_ctx c;
    const uint8_t tag = 0x00;
    keccak256_init(&c);
    keccak256_update(&c, &tag, 1);
    keccak256_update(&c, leaf, 32);
    keccak256_final(&c, out);
}

/* out may alias left (the level is reduced in place). */
static void merkle_inner(uint8_t out[32], const uint8_t left[32], const uint8_t right[32])
{
    struct keccak_ctx c;
    const uint8_t tag = 0x01;
    keccak256_init(&c);
    keccak256_update(&c, &tag, 1);
    keccak256_update(&c, left, 32);
    keccak256_update(&c, right, 32);
    keccak256_final(&c, out);
}

int merkle_root(uint8_t out[32], const uint8_t (*leaves)[32], size_t n)
{
    if (n == 0) {
        keccak256(out, "", 0);
        return 0;
    }
    if (n > SIZE_MAX / 32) return TALLY_ENOMEM;
    uint8_t(*level)[32] = malloc(n * 32);
    if (!level) return TALLY_ENOMEM;
    for (size_t i = 0; i < n; i++) merkle_leaf(level[i], leaves[i]);
    while (n > 1) {
        size_t m = 0;
        for (size_t i = 0; i + 1 < n; i += 2) merkle_inner(level[m++], level[i], level[i + 1]);
        if (n & 1) memmove(level[m++], level[n - 1], 32); /* odd node carried up unchanged */
        n = m;
    }
    memcpy(out, level[0], 32);
    free(level);
    return 0;
}
