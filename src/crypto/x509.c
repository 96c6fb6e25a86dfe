#include "crypto/x509.h"
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct x509_ca {
    EVP_PKEY *key;
    X509 *cert;
};

static int join(char *out, size_t cap, const char *dir, const char *file)
{
    int n = snprintf(out, cap, "%s/%s", dir, file);
    return n > 0 && (size_t)n < cap ? 0 : TALLY_EINVAL;
}

void x509_ca_free(struct x509_ca *ca)
{
    if (!ca) return;
    EVP_PKEY_free(ca->key);
    X509_free(ca->cert);
    free(ca);
}

static int gen_ed25519(EVP_PKEY **out)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    int ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, out) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : TALLY_EIO;
}

/* A random positive 127-bit serial number (RFC 5280: at most 20 octets). */
static int set_serial(X509 *x)
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1) return TALLY_EIO;
    r[0] &= 0x7f;
    r[0] |= 0x01; /* never zero */
    BIGNUM *bn = BN_bin2bn(r, sizeof r, NULL);
    ASN1_INTEGER *serial = bn ? BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) : NULL;
    BN_free(bn);
    return serial ? 0 : TALLY_EIO;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (!ext) return TALLY_EIO;
    int ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok ? 0 : TALLY_EIO;
}

/* The common fields: version 3, serial, validity (backdated one hour for
 * clock skew), subject CN, public key. */
static int cert_init(X509 **out, const char *cn, EVP_PKEY *pub)
{
    X509 *x = X509_new();
    if (!x) return TALLY_ENOMEM;
    X509_NAME *name = X509_get_subject_name(x);
    int ok = X509_set_version(x, 2) == 1 && set_serial(x) == 0 &&
             X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
             X509_time_adj_ex(X509_getm_notAfter(x), X509_VALIDITY_DAYS, 0, NULL) &&
             X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Tally", -1,
                                        -1, 0) == 1 &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                        0) == 1 &&
             X509_set_pubkey(x, pub) == 1;
    if (!ok) {
        X509_free(x);
        return TALLY_EIO;
    }
    *out = x;
    return 0;
}

/* Open path for writing with the given mode; excl refuses an existing file. */
static FILE *open_out(const char *path, mode_t mode, int excl, int *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC), mode);
    if (fd < 0) {
        *err = errno == EEXIST ? TALLY_EDUP : TALLY_EIO;
        return NULL;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        *err = TALLY_EIO;
    }
    return f;
}

static int close_out(FILE *f, int ok)
{
    ok &= fflush(f) == 0;
    ok &= fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    return ok ? 0 : TALLY_EIO;
}

static int write_cert(const char *path, X509 *x)
{
    int err = 0;
    FILE *f = open_out(path, 0644, 0, &err);
    if (!f) return err;
    return close_out(f, PEM_write_X509(f, x) == 1);
}

int x509_ca_create(struct x509_ca **out, const char *dir)
{
    char kpath[4096], cpath[4096];
    if (join(kpath, sizeof kpath, dir, X509_CA_KEY_FILE) ||
        join(cpath, sizeof cpath, dir, X509_CA_CERT_FILE))
        return TALLY_EINVAL;
    struct x509_ca *ca = calloc(1, sizeof *ca);
    if (!ca) return TALLY_ENOMEM;
    int rc = gen_ed25519(&ca->key);
    if (!rc) rc = cert_init(&ca->cert, "Tally chain CA", ca->key);
    if (rc) goto fail;
    X509_set_issuer_name(ca->cert, X509_get_subject_name(ca->cert));
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, ca->cert, ca->cert, NULL, NULL, 0);
    if ((rc = add_ext(ca->cert, &v3, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")) ||
        (rc = add_ext(ca->cert, &v3, NID_key_usage, "critical,keyCertSign,cRLSign")) ||
        (rc = add_ext(ca->cert, &v3, NID_subject_key_identifier, "hash")))
        goto fail;
    if (X509_sign(ca->cert, ca->key, NULL) <= 0) { /* Ed25519: no separate digest */
        rc = TALLY_EIO;
        goto fail;
    }
    FILE *f = open_out(kpath, 0600, 1, &rc);
    if (!f) goto fail;
    rc = close_out(f, PEM_write_PrivateKey(f, ca->key, NULL, NULL, 0, NULL, NULL) == 1);
    if (!rc) rc = write_cert(cpath, ca->cert);
    if (rc) {
        unlink(kpath);
        unlink(cpath);
        goto fail;
    }
    if (out)
        *out = ca;
    else
        x509_ca_free(ca);
    return 0;
fail:
    x509_ca_free(ca);
    return rc;
}

static int read_cert(X509 **out, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return TALLY_EIO;
    *out = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return *out ? 0 : TALLY_EDECODE;
}

int x509_ca_load(struct x509_ca **out, const char *dir)
{
    char kpath[4096], cpath[4096];
    if (join(kpath, sizeof kpath, dir, X509_CA_KEY_FILE) ||
        join(cpath, sizeof cpath, dir, X509_CA_CERT_FILE))
        return TALLY_EINVAL;
    struct x509_ca *ca = calloc(1, sizeof *ca);
    if (!ca) return TALLY_ENOMEM;
    int rc = read_cert(&ca->cert, cpath);
    if (rc) goto fail;
    FILE *f = fopen(kpath, "r");
    if (!f) {
        rc = TALLY_EIO;
        goto fail;
    }
    ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!ca->key || EVP_PKEY_get_id(ca->key) != EVP_PKEY_ED25519 ||
        X509_check_private_key(ca->cert, ca->key) != 1 || X509_check_ca(ca->cert) == 0) {
        rc = TALLY_EDECODE;
        goto fail;
    }
    *out = ca;
    return 0;
fail:
    x509_ca_free(ca);
    return rc;
}

static int name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > X509_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (name[i] < 0x20 || name[i] > 0x7e) return 0;
    return 1;
}

int x509_node_cert(const struct x509_ca *ca, const struct nodekey *key, const char *name,
                   const char *out_path)
{
    if (!name_ok(name)) return TALLY_EINVAL;
    uint8_t id[32];
    nodekey_id(key, id);
    char san[64 + 32];
    int n = snprintf(san, sizeof san, "URI:urn:tally:node:");
    for (int i = 0; i < 32; i++) n += snprintf(san + n, sizeof san - (size_t)n, "%02x", id[i]);

    X509 *x = NULL;
    int rc = cert_init(&x, name, nodekey_evp(key));
    if (rc) return rc;
    X509_set_issuer_name(x, X509_get_subject_name(ca->cert));
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, ca->cert, x, NULL, NULL, 0);
    if ((rc = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE")) ||
        (rc = add_ext(x, &v3, NID_key_usage, "critical,digitalSignature")) ||
        (rc = add_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth")) ||
        (rc = add_ext(x, &v3, NID_subject_key_identifier, "hash")) ||
        (rc = add_ext(x, &v3, NID_authority_key_identifier, "keyid:always")) ||
        (rc = add_ext(x, &v3, NID_subject_alt_name, san)))
        goto out;
    if (X509_sign(x, ca->key, NULL) <= 0) {
        rc = TALLY_EIO;
        goto out;
    }
    rc = write_cert(out_path, x);
out:
    X509_free(x);
    return rc;
}

int x509_cert_node_id(uint8_t id[32], const char *ca_path, const char *cert_path)
{
    X509 *ca = NULL, *x = NULL;
    X509_STORE *store = NULL;
    X509_STORE_CTX *vctx = NULL;
    int rc = read_cert(&ca, ca_path);
    if (!rc) rc = read_cert(&x, cert_path);
    if (rc) goto out;
    EVP_PKEY *pub = X509_get0_pubkey(x);
    size_t len = 32;
    if (!pub || EVP_PKEY_get_id(pub) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(pub, id, &len) != 1 || len != 32) {
        rc = TALLY_EDECODE;
        goto out;
    }
    store = X509_STORE_new();
    vctx = X509_STORE_CTX_new();
    if (!store || !vctx || X509_STORE_add_cert(store, ca) != 1 ||
        X509_STORE_CTX_init(vctx, store, x, NULL) != 1) {
        rc = TALLY_ENOMEM;
        goto out;
    }
    X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT);
    rc = X509_verify_cert(vctx) == 1 ? 0 : TALLY_ESIG;
out:
    X509_STORE_CTX_free(vctx);
    X509_STORE_free(store);
    X509_free(x);
    X509_free(ca);
    return rc;
}
