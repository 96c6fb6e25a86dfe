/* Client commands that talk to a node over JSON-RPC: account, send, balance,
 * block, tx, pool, status. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "chain/tx.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "cli/rpcclient.h"
#include "crypto/secp.h"
#include "node/config.h"
#include "util/hex.h"
#include "util/u256.h"

static const char *rpc_url_opt(int argc, char **argv, int *i)
{
    return cli_opt(argc, argv, i, "--rpc");
}

static void print_json(const cJSON *j)
{
    char *s = cJSON_Print(j);
    if (s) puts(s);
    free(s);
}

/* ---- account ---- */

int cmd_account(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1]) || strcmp(argv[1], "new")) {
        printf("usage: tally account new\n\nCreates a secp256k1 key pair and prints it as JSON\n"
               "{\"address\", \"private_key\"}. Keep the private key secret.\n");
        return argc < 2 || !cli_is_help(argv[1]) ? EXIT_USAGE : EXIT_OK;
    }
    uint8_t priv[32], pub[64], addr[20];
    char hp[67], ha[43];
    if (secp_random_key(priv) || secp_pubkey(pub, priv)) {
        fprintf(stderr, "tally account new: key generation failed\n");
        return EXIT_FAIL;
    }
    secp_pub_to_addr(addr, pub);
    hex_encode(hp, priv, 32);
    hex_encode(ha, addr, 20);
    printf("{\"address\": \"%s\", \"private_key\": \"%s\"}\n", ha, hp);
    return EXIT_OK;
}

int cmd_send(int argc, char **argv)
{
    const char *url = NULL, *key = NULL, *to = NULL, *value = "0", *v, *nonce_s = NULL;
    const char *gas_price = "0";
    int type = 2, wait = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: tally send --key 0xPRIVKEY|KEYFILE --to ADDRESS --value AMOUNT\n"
                   "                  [--nonce N] [--gas-price WEI] [--legacy] [--wait] [--rpc "
                   "URL]\n\n"
                   "Signs a transfer locally and submits it with eth_sendRawTransaction.\n"
                   "AMOUNT is wei, or a number with a unit: 1.5ether, 20gwei. Prints the\n"
                   "transaction hash; with --wait also waits (up to 60 s) until it is in a\n"
                   "block or dropped. Exit 1 if the node refuses or drops it.\n");
            return EXIT_OK;
        } else if ((v = rpc_url_opt(argc, argv, &i)))
            url = v;
        else if ((v = cli_opt(argc, argv, &i, "--key")))
            key = v;
        else if ((v = cli_opt(argc, argv, &i, "--to")))
            to = v;
        else if ((v = cli_opt(argc, argv, &i, "--value")))
            value = v;
        else if ((v = cli_opt(argc, argv, &i, "--nonce")))
            nonce_s = v;
        else if ((v = cli_opt(argc, argv, &i, "--gas-price")))
            gas_price = v;
        else if (!strcmp(argv[i], "--legacy"))
            type = 0;
        else if (!strcmp(argv[i], "--wait"))
            wait = 1;
        else {
            fprintf(stderr, "tally send: unknown option %s (see --help)\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    struct tx_fields f = {.type = (uint8_t)type, .gas_limit = 21000, .has_to = 1};
    uint8_t priv[32];
    if (!key || cli_load_key(priv, key)) {
        fprintf(stderr, "tally send: --key must be a 0x private key or a file holding one\n");
        return EXIT_USAGE;
    }
    if (!to || hex_decode_fixed(f.to, 20, to)) {
        fprintf(stderr, "tally send: --to must be a 0x-prefixed 20-byte address\n");
        return EXIT_USAGE;
    }
    if (cli_parse_amount(&f.value, value) || cli_parse_amount(&f.gas_price, gas_price)) {
        fprintf(stderr, "tally send: bad amount (use wei, or e.g. 1.5ether, 20gwei)\n");
        return EXIT_USAGE;
    }
    f.max_fee = f.max_priority_fee = f.gas_price;
    struct rpcc *c;
    int rc = cli_connect(&c, url);
    if (rc) return rc;
    cJSON *res;
    uint64_t q;
    if ((rc = cli_call(c, &res, "eth_chainId", NULL))) goto out;
    if (!cJSON_IsString(res) || hex_quantity_u64(&f.chain_id, res->valuestring)) {
        fprintf(stderr, "tally send: bad eth_chainId answer\n");
        cJSON_Delete(res);
        rc = EXIT_FAIL;
        goto out;
    }
    cJSON_Delete(res);
    uint8_t pub[64], from[20];
    char hfrom[43];
    if (secp_pubkey(pub, priv)) {
        fprintf(stderr, "tally send: invalid private key\n");
        rc = EXIT_USAGE;
        goto out;
    }
    secp_pub_to_addr(from, pub);
    hex_encode(hfrom, from, 20);
    if (nonce_s) {
        f.nonce = strtoull(nonce_s, NULL, 10);
    } else {
        cJSON *p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateString(hfrom));
        cJSON_AddItemToArray(p, cJSON_CreateString("pending"));
        if ((rc = cli_call(c, &res, "eth_getTransactionCount", p))) goto out;
        if (!cJSON_IsString(res) || hex_quantity_u64(&q, res->valuestring)) {
            cJSON_Delete(res);
            rc = EXIT_FAIL;
            goto out;
        }
        f.nonce = q;
        cJSON_Delete(res);
    }
    struct tx *tx;
    if (tx_sign(&tx, &f, priv)) {
        fprintf(stderr, "tally send: signing failed\n");
        rc = EXIT_FAIL;
        goto out;
    }
    char *raw = malloc(tx->raw_len * 2 + 3);
    hex_encode(raw, tx->raw, tx->raw_len);
    tx_free(tx);
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(raw));
    free(raw);
    if ((rc = cli_call(c, &res, "eth_sendRawTransaction", p))) goto out;
    char hash[67];
    snprintf(hash, sizeof hash, "%s", cJSON_IsString(res) ? res->valuestring : "?");
    cJSON_Delete(res);
    printf("%s\n", hash);
    if (!wait) goto out;
    for (int waited = 0; waited < 60000; waited += 100) {
        p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateString(hash));
        if ((rc = cli_call(c, &res, "tally_txStatus", p))) goto out;
        const cJSON *st = cJSON_GetObjectItem(res, "status");
        const char *s = cJSON_IsString(st) ? st->valuestring : "unknown";
        if (!strcmp(s, "committed")) {
            const cJSON *bn = cJSON_GetObjectItem(res, "blockNumber");
            printf("committed in block %.0f\n", cJSON_IsNumber(bn) ? bn->valuedouble : -1);
            cJSON_Delete(res);
            goto out;
        }
        if (!strcmp(s, "dropped")) {
            const cJSON *r = cJSON_GetObjectItem(res, "reason");
            fprintf(stderr, "tally send: dropped: %s\n", cJSON_IsString(r) ? r->valuestring : "?");
            cJSON_Delete(res);
            rc = EXIT_FAIL;
            goto out;
        }
        cJSON_Delete(res);
        usleep(100 * 1000);
    }
    fprintf(stderr, "tally send: not committed after 60 s (still %s)\n", "pending");
    rc = EXIT_FAIL;
out:
    rpcc_close(c);
    return rc;
}

/* ---- read-only queries ---- */

static int simple_query(int argc, char **argv, const char *usage, int nargs, const char **args,
                        const char **url, int *full)
{
    int got = 0;
    const char *v;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("%s", usage);
            return -1;
        } else if ((v = rpc_url_opt(argc, argv, &i)))
            *url = v;
        else if (full && !strcmp(argv[i], "--full"))
            *full = 1;
        else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "tally: unknown option %s\n%s", argv[i], usage);
            return EXIT_USAGE;
        } else if (got < nargs)
            args[got++] = argv[i];
        else {
            fprintf(stderr, "tally: too many arguments\n%s", usage);
            return EXIT_USAGE;
        }
    }
    return 0;
}

int cmd_balance(int argc, char **argv)
{
    const char *usage = "usage: tally balance ADDRESS [--rpc URL]\n\nPrints the balance (wei) "
                        "and nonce of ADDRESS at the latest block.\n";
    const char *args[1] = {NULL}, *url = NULL;
    int rc = simple_query(argc, argv, usage, 1, args, &url, NULL);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    uint8_t addr[20];
    if (!args[0] || hex_decode_fixed(addr, 20, args[0])) {
        fprintf(stderr, "tally balance: ADDRESS must be 0x + 40 hex digits\n%s", usage);
        return EXIT_USAGE;
    }
    struct rpcc *c;
    if ((rc = cli_connect(&c, url))) return rc;
    cJSON *bal = NULL, *nonce = NULL, *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(args[0]));
    cJSON_AddItemToArray(p, cJSON_CreateString("latest"));
    cJSON *p2 = cJSON_Duplicate(p, 1);
    rc = cli_call(c, &bal, "eth_getBalance", p);
    if (rc)
        cJSON_Delete(p2);
    else
        rc = cli_call(c, &nonce, "eth_getTransactionCount", p2);
    if (!rc) {
        u256 b;
        uint64_t nn = 0;
        char dec[80];
        if (cJSON_IsString(bal) && !u256_parse(&b, bal->valuestring) && cJSON_IsString(nonce) &&
            !hex_quantity_u64(&nn, nonce->valuestring)) {
            u256_to_dec(dec, &b);
            printf("address %s\nbalance %s wei\nnonce   %llu\n", args[0], dec,
                   (unsigned long long)nn);
        } else
            rc = EXIT_FAIL;
    }
    cJSON_Delete(bal);
    cJSON_Delete(nonce);
    rpcc_close(c);
    return rc;
}

int cmd_block(int argc, char **argv)
{
    const char *usage = "usage: tally block [latest|HEIGHT|0xHASH] [--full] [--rpc URL]\n\n"
                        "Prints a block as JSON (transactions as hashes, or whole with --full).\n";
    const char *args[1] = {NULL}, *url = NULL;
    int full = 0;
    int rc = simple_query(argc, argv, usage, 1, args, &url, &full);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    const char *which = args[0] ? args[0] : "latest";
    cJSON *p = cJSON_CreateArray();
    const char *method = "eth_getBlockByNumber";
    if (!strncmp(which, "0x", 2) && strlen(which) == 66) {
        method = "eth_getBlockByHash";
        cJSON_AddItemToArray(p, cJSON_CreateString(which));
    } else if (!strcmp(which, "latest") || !strcmp(which, "earliest")) {
        cJSON_AddItemToArray(p, cJSON_CreateString(which));
    } else {
        char *end;
        unsigned long long h = strtoull(which, &end, 10);
        if (*end || !*which) {
            cJSON_Delete(p);
            fprintf(stderr, "tally block: expected latest, a height or a block hash\n");
            return EXIT_USAGE;
        }
        char q[24];
        hex_quantity_from_u64(q, h);
        cJSON_AddItemToArray(p, cJSON_CreateString(q));
    }
    cJSON_AddItemToArray(p, full ? cJSON_CreateTrue() : cJSON_CreateFalse());
    struct rpcc *c;
    if ((rc = cli_connect(&c, url))) {
        cJSON_Delete(p);
        return rc;
    }
    cJSON *res;
    if (!(rc = cli_call(c, &res, method, p))) {
        if (cJSON_IsNull(res)) {
            fprintf(stderr, "tally block: no block %s\n", which);
            rc = EXIT_NOTFOUND;
        } else
            print_json(res);
        cJSON_Delete(res);
    }
    rpcc_close(c);
    return rc;
}

int cmd_tx(int argc, char **argv)
{
    const char *usage = "usage: tally tx 0xHASH [--rpc URL]\n\nPrints a transaction with its "
                        "receipt, or its pool/dropped status.\n";
    const char *args[1] = {NULL}, *url = NULL;
    int rc = simple_query(argc, argv, usage, 1, args, &url, NULL);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    uint8_t h[32];
    if (!args[0] || hex_decode_fixed(h, 32, args[0])) {
        fprintf(stderr, "tally tx: HASH must be 0x + 64 hex digits\n");
        return EXIT_USAGE;
    }
    struct rpcc *c;
    if ((rc = cli_connect(&c, url))) return rc;
    cJSON *out = cJSON_CreateObject(), *res;
    const char *methods[] = {"tally_txStatus", "eth_getTransactionByHash",
                             "eth_getTransactionReceipt"};
    const char *keys[] = {"status", "transaction", "receipt"};
    for (int i = 0; i < 3 && !rc; i++) {
        cJSON *p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateString(args[0]));
        if (!(rc = cli_call(c, &res, methods[i], p))) cJSON_AddItemToObject(out, keys[i], res);
    }
    if (!rc) {
        print_json(out);
        const cJSON *st = cJSON_GetObjectItem(cJSON_GetObjectItem(out, "status"), "status");
        if (cJSON_IsString(st) && !strcmp(st->valuestring, "unknown")) rc = EXIT_NOTFOUND;
    }
    cJSON_Delete(out);
    rpcc_close(c);
    return rc;
}

static int print_method(int argc, char **argv, const char *usage, const char *method)
{
    const char *url = NULL;
    int rc = simple_query(argc, argv, usage, 0, NULL, &url, NULL);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    struct rpcc *c;
    if ((rc = cli_connect(&c, url))) return rc;
    cJSON *res;
    if (!(rc = cli_call(c, &res, method, NULL))) {
        print_json(res);
        cJSON_Delete(res);
    }
    rpcc_close(c);
    return rc;
}

int cmd_pool(int argc, char **argv)
{
    return print_method(argc, argv,
                        "usage: tally pool [--rpc URL]\n\nLists the node's transaction pool.\n",
                        "tally_pool");
}

int cmd_status(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--watch") || (argv[i][0] != '-' && strcmp(argv[i - 1], "--rpc")))
            return cli_cluster_status(argc, argv);
    return print_method(argc, argv,
                        "usage: tally status [--rpc URL]     one node's status (JSON): height, "
                        "head hash, pool size, peers\n"
                        "       tally status DIR [--watch]   a local cluster on one screen (see "
                        "tally status DIR --help)\n",
                        "tally_status");
}
