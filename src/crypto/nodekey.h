/* Node identity keys: Ed25519 through OpenSSL (PEM files on disk). The node
 * ID is the raw 32-byte public key; the node's address (block proposer) is
 * the last 20 bytes of Keccak-256 of it. */
#ifndef TALLY_CRYPTO_NODEKEY_H
#define TALLY_CRYPTO_NODEKEY_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

struct nodekey;

/* Generate a new key. Errors: TALLY_ENOMEM, TALLY_EIO (OpenSSL failure). */
TALLY_WUR int nodekey_generate(struct nodekey **out);
/* Load a PEM private key file (mode should be 0600). Errors: TALLY_EIO
 * (missing/unreadable), TALLY_EDECODE (not an Ed25519 PEM key). */
TALLY_WUR int nodekey_load(struct nodekey **out, const char *path);
/* Write the private key as PEM, mode 0600. Errors: TALLY_EIO. */
TALLY_WUR int nodekey_save(const struct nodekey *k, const char *path);
void nodekey_free(struct nodekey *k);
/* Raw public key (the node ID). */
void nodekey_id(const struct nodekey *k, uint8_t id[32]);
/* Address: last 20 bytes of Keccak-256(id). */
void nodekey_address(const struct nodekey *k, uint8_t addr[20]);
/* Ed25519 signature of msg. Errors: TALLY_EIO. */
TALLY_WUR int nodekey_sign(const struct nodekey *k, uint8_t sig[64], const uint8_t *msg,
                           size_t len);
/* Verify a signature by node ID. Errors: TALLY_ESIG. */
TALLY_WUR int nodekey_verify(const uint8_t id[32], const uint8_t sig[64], const uint8_t *msg,
                             size_t len);
/* The underlying EVP_PKEY (borrowed), for TLS certificates. */
void *nodekey_evp(const struct nodekey *k);

#endif
