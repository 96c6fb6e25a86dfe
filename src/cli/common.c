/* Helpers shared by the client commands; see common.h. */
#include "cli/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "crypto/secp.h"
#include "node/config.h"
#include "util/hex.h"

int cli_parse_amount(u256 *out, const char *s)
{
    static const struct {
        const char *suffix;
        int decimals;
    } units[] = {{"ether", 18}, {"eth", 18}, {"gwei", 9}, {"wei", 0}};
    char buf[100];
    size_t len = strlen(s);
    int decimals = 0;
    if (len >= sizeof buf) return TALLY_EINVAL;
    memcpy(buf, s, len + 1);
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        size_t sl = strlen(units[u].suffix);
        if (len > sl && !strcmp(buf + len - sl, units[u].suffix)) {
            buf[len - sl] = 0;
            decimals = units[u].decimals;
            break;
        }
    }
    char digits[100];
    size_t nd = 0;
    int frac = -1;
    for (const char *p = buf; *p; p++) {
        if (*p == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (*p < '0' || *p > '9') return TALLY_EINVAL;
        if (frac >= 0) frac++;
        digits[nd++] = *p;
    }
    if (!nd) return TALLY_EINVAL;
    if (frac < 0) frac = 0;
    if (frac > decimals) return TALLY_EINVAL;
    for (int i = frac; i < decimals; i++) digits[nd++] = '0';
    digits[nd] = 0;
    return u256_parse(out, digits) ? TALLY_EINVAL : 0;
}

int cli_load_key(uint8_t priv[32], const char *arg)
{
    if (!strncmp(arg, "0x", 2)) return hex_decode_fixed(priv, 32, arg) ? TALLY_EINVAL : 0;
    char *text;
    if (file_read_all(&text, NULL, arg, 4096)) return TALLY_EINVAL;
    char *p = text;
    while (*p == ' ' || *p == '\n') p++;
    char *e = p;
    while (*e && *e != '\n' && *e != ' ' && *e != '\r') e++;
    *e = 0;
    int rc = hex_decode_fixed(priv, 32, p) ? TALLY_EINVAL : 0;
    free(text);
    return rc;
}

int cli_dev_key(uint8_t priv[32], const char *dir, long n, char *err, size_t errlen)
{
    char path[NODE_PATH_MAX + 32], *text;
    snprintf(path, sizeof path, "%s/accounts.json", dir);
    if (file_read_all(&text, NULL, path, GENESIS_FILE_MAX)) {
        snprintf(err, errlen, "cannot read %s (the chain directory of `tally chain init`)", path);
        return TALLY_EIO;
    }
    cJSON *doc = cJSON_Parse(text);
    free(text);
    int rc = 0;
    if (!cJSON_IsArray(doc)) {
        snprintf(err, errlen, "%s is not a list of accounts", path);
        rc = TALLY_EDECODE;
    } else if (n < 0 || n >= cJSON_GetArraySize(doc)) {
        snprintf(err, errlen, "%s has %d accounts: no account %ld (counted from 0)", path,
                 cJSON_GetArraySize(doc), n);
        rc = TALLY_ENOTFOUND;
    } else {
        const cJSON *pk =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(doc, (int)n), "private_key");
        if (!cJSON_IsString(pk) || hex_decode_fixed(priv, 32, pk->valuestring)) {
            snprintf(err, errlen, "%s: account %ld has no valid private_key", path, n);
            rc = TALLY_EDECODE;
        }
    }
    cJSON_Delete(doc);
    return rc;
}

int cli_connect(struct rpcc **c, const char *url)
{
    char err[256];
    if (rpcc_open(c, url ? url : cli_default_rpc(), err, sizeof err)) {
        fprintf(stderr, "tally: %s\n", err);
        return EXIT_USAGE;
    }
    return 0;
}

int cli_call(struct rpcc *c, cJSON **res, const char *method, cJSON *params)
{
    char err[512];
    int rc = rpcc_call(c, res, method, params, err, sizeof err);
    if (!rc) return 0;
    if (rc == TALLY_EINVAL) {
        fprintf(stderr, "tally: %s refused: %s\n", method, err);
        return EXIT_FAIL;
    }
    fprintf(stderr, "tally: cannot reach the node at %s: %s\n", rpcc_url(c), err);
    return EXIT_UNREACH;
}
