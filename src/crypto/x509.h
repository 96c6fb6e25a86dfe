/* X.509 certificates for the chain CA and node identities (OpenSSL).
 *
 * The chain CA is an Ed25519 key with a self-signed certificate (10 years,
 * CA:TRUE, pathlen 0). A node certificate carries the node's Ed25519 public
 * key (its node ID), subject CN = the node name, and a subjectAltName URI
 * "urn:tally:node:<64 hex digits of the node ID>"; it is valid for 10 years
 * and usable for both TLS client and server authentication. Files are PEM. */
#ifndef TALLY_CRYPTO_X509_H
#define TALLY_CRYPTO_X509_H
#include <stdint.h>
#include "crypto/nodekey.h"
#include "util/err.h"

#define X509_CA_KEY_FILE   "ca.key"
#define X509_CA_CERT_FILE  "ca.crt"
#define X509_NAME_MAX      64 /* X.509 upper bound for a common name */
#define X509_VALIDITY_DAYS 3650

/* A loaded chain CA (private key + certificate). */
struct x509_ca;

/* Create a new chain CA: write DIR/ca.key (PEM, mode 0600) and DIR/ca.crt
 * (PEM). DIR must exist. Never overwrites: if DIR/ca.key already exists the
 * call fails with TALLY_EDUP and changes nothing. If out is not NULL it gets
 * the new CA (caller frees with x509_ca_free). Errors: TALLY_EDUP,
 * TALLY_EIO (cannot write, OpenSSL failure), TALLY_ENOMEM. */
TALLY_WUR int x509_ca_create(struct x509_ca **out, const char *dir);

/* Load DIR/ca.key and DIR/ca.crt; the key must match the certificate.
 * Caller frees with x509_ca_free. Errors: TALLY_EIO (missing/unreadable),
 * TALLY_EDECODE (not an Ed25519 CA key/certificate, or they do not match). */
TALLY_WUR int x509_ca_load(struct x509_ca **out, const char *dir);

void x509_ca_free(struct x509_ca *ca);

/* Issue a certificate for a node key, signed by ca, and write it as PEM to
 * out_path (overwritten if present). name: 1..X509_NAME_MAX printable ASCII
 * characters, becomes the subject CN. Errors: TALLY_EINVAL (bad name),
 * TALLY_EIO (cannot write, OpenSSL failure), TALLY_ENOMEM. */
TALLY_WUR int x509_node_cert(const struct x509_ca *ca, const struct nodekey *key, const char *name,
                             const char *out_path);

/* Verify that the certificate in cert_path was issued by the CA in ca_path
 * (signature, validity period) and holds an Ed25519 key; on success id gets
 * the node ID (the raw public key). Errors: TALLY_EIO (unreadable file),
 * TALLY_EDECODE (not a PEM certificate / not Ed25519), TALLY_ESIG (not issued
 * by that CA, expired, or not yet valid). */
TALLY_WUR int x509_cert_node_id(uint8_t id[32], const char *ca_path, const char *cert_path);

#endif
