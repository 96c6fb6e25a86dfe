/* Helpers shared by the client commands (client_cmds.c, contract_cmds.c):
 * signing keys, amounts, and the JSON-RPC connection with failures mapped to
 * exit codes. */
#ifndef TALLY_CLI_COMMON_H
#define TALLY_CLI_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "cli/rpcclient.h"
#include "util/err.h"
#include "util/u256.h"

/* An amount: wei ("1000"), or a decimal number with a unit: "1.5ether",
 * "2eth", "20gwei", "7wei". Errors: TALLY_EINVAL (bad form, more decimals
 * than the unit has, >= 2^256). */
TALLY_WUR int cli_parse_amount(u256 *out, const char *s);

/* A secp256k1 private key from arg: "0x" + 64 hex digits, or the path of a
 * file whose first word is one. Errors: TALLY_EINVAL. */
TALLY_WUR int cli_load_key(uint8_t priv[32], const char *arg);

/* The private key of development account n (0-based) of DIR/accounts.json,
 * written by `tally chain init`. Errors: TALLY_EIO (unreadable file),
 * TALLY_EDECODE (not an accounts file, bad key), TALLY_ENOTFOUND (no
 * account n); the reason is in err. */
TALLY_WUR int cli_dev_key(uint8_t priv[32], const char *dir, long n, char *err, size_t errlen);

/* Open a JSON-RPC client for url (NULL: cli_default_rpc()). On failure
 * prints the reason and returns EXIT_USAGE; 0 otherwise. */
int cli_connect(struct rpcc **c, const char *url);

/* rpcc_call with failures printed and mapped to exit codes: EXIT_FAIL when
 * the node answered with a JSON-RPC error ("tally: METHOD refused: ..."),
 * EXIT_UNREACH when it could not be reached; 0 and *res (owned by the
 * caller) on success. params is consumed. */
int cli_call(struct rpcc *c, cJSON **res, const char *method, cJSON *params);

#endif
