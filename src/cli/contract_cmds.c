/* tally deploy / tally call: contracts described by solc's JSON artifacts
 * (docs/contracts-cli.md). Arguments are ABI-encoded from their text
 * (codec/abi.h); view functions go through eth_call, everything else is
 * signed here and sent as a transaction, then its receipt and decoded event
 * logs are printed. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "chain/tx.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "cli/rpcclient.h"
#include "codec/abi.h"
#include "crypto/secp.h"
#include "exec/evm/evm.h"
#include "node/config.h"
#include "util/hex.h"
#include "util/u256.h"

#define ARTIFACT_MAX     (64u << 20) /* bytes of an artifact file */
#define MAX_CONTRACTS    1024        /* contracts listed in one artifact */
#define MAX_ENTRIES      1024        /* events or errors kept from one ABI */
#define MAX_POSITIONAL   (ABI_MAX_PARAMS + 2)
#define WAIT_MS          60000 /* longest wait for a receipt */
#define RPC_REVERTED     3     /* JSON-RPC error code of a revert (geth) */
#define DEFAULT_CHAINDIR "chain"

/* ---- options ---- */

struct opts {
    const char *rpc, *key, *dir, *contract, *to, *from, *gas, *value;
    long dev; /* --from-dev N, -1 if not given */
    int wait, is_static;
    const char *pos[MAX_POSITIONAL];
    size_t npos;
};

/* Parse argv[1..]; 0, EXIT_USAGE (printed), or -1 after printing help. */
static int parse_opts(struct opts *o, int argc, char **argv, const char *cmd, const char *usage,
                      int is_call)
{
    memset(o, 0, sizeof *o);
    o->dev = -1;
    o->wait = 1;
    int only_pos = 0;
    const char *v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || (strncmp(a, "--", 2) && strcmp(a, "-h"))) {
            if (o->npos == MAX_POSITIONAL) {
                fprintf(stderr, "%s: too many arguments (at most %d)\n", cmd, MAX_POSITIONAL);
                return EXIT_USAGE;
            }
            o->pos[o->npos++] = a;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("%s", usage);
            return -1;
        } else if (!strcmp(a, "--")) {
            only_pos = 1;
        } else if ((v = cli_opt(argc, argv, &i, "--rpc"))) {
            o->rpc = v;
        } else if ((v = cli_opt(argc, argv, &i, "--key"))) {
            o->key = v;
        } else if ((v = cli_opt(argc, argv, &i, "--dir"))) {
            o->dir = v;
        } else if ((v = cli_opt(argc, argv, &i, "--from-dev"))) {
            char *end;
            o->dev = strtol(v, &end, 10);
            if (!*v || *end || o->dev < 0) {
                fprintf(stderr, "%s: --from-dev takes an account number (0, 1, ...)\n", cmd);
                return EXIT_USAGE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--contract"))) {
            o->contract = v;
        } else if ((v = cli_opt(argc, argv, &i, "--gas"))) {
            o->gas = v;
        } else if ((v = cli_opt(argc, argv, &i, "--value"))) {
            o->value = v;
        } else if (!strcmp(a, "--wait")) {
            o->wait = 1;
        } else if (!strcmp(a, "--no-wait")) {
            o->wait = 0;
        } else if (is_call && (v = cli_opt(argc, argv, &i, "--to"))) {
            o->to = v;
        } else if (is_call && (v = cli_opt(argc, argv, &i, "--from"))) {
            o->from = v;
        } else if (is_call && !strcmp(a, "--static")) {
            o->is_static = 1;
        } else {
            fprintf(stderr, "%s: unknown option %s (see --help)\n", cmd, a);
            return EXIT_USAGE;
        }
    }
    if (o->key && o->dev >= 0) {
        fprintf(stderr, "%s: give either --key or --from-dev, not both\n", cmd);
        return EXIT_USAGE;
    }
    if (o->dir && o->dev < 0) {
        fprintf(stderr, "%s: --dir is only used with --from-dev N\n", cmd);
        return EXIT_USAGE;
    }
    return 0;
}

/* An address option or argument; prints why it is bad. */
static int parse_address(uint8_t out[20], const char *s, const char *cmd, const char *what)
{
    int rc = abi_address_parse(out, s);
    if (rc == TALLY_EINVAL)
        fprintf(stderr,
                "%s: %s %s has a bad EIP-55 checksum (mixed case); check it or write it "
                "in lowercase\n",
                cmd, what, s);
    else if (rc)
        fprintf(stderr, "%s: %s must be 0x and 40 hex digits, not \"%.60s\"\n", cmd, what, s);
    return rc ? EXIT_USAGE : 0;
}

/* ---- artifacts ---- */

struct contract {
    char name[256];   /* "Token", or "Token.sol:Token" when the artifact names files */
    const char *code; /* creation bytecode as hex (with or without 0x), NULL if none */
    const cJSON *abi; /* array */
};

struct artifact {
    cJSON *doc;
    size_t n;
    struct contract c[MAX_CONTRACTS];
};

static void artifact_free(struct artifact *a)
{
    if (!a) return;
    cJSON_Delete(a->doc);
    free(a);
}

/* Fill k from one contract object: {abi, evm: {bytecode: {object}}} or
 * {abi, bytecode} (bytecode a string or {object}). */
static int contract_from(struct contract *k, cJSON *obj, const char *unit, const char *name,
                         char *err, size_t errlen)
{
    snprintf(k->name, sizeof k->name, "%s%s%s", unit ? unit : "", unit ? ":" : "", name);
    cJSON *abi = cJSON_GetObjectItemCaseSensitive(obj, "abi");
    if (cJSON_IsString(abi)) { /* solc --combined-json gives the ABI as a JSON string */
        cJSON *parsed = cJSON_Parse(abi->valuestring);
        if (!cJSON_IsArray(parsed)) {
            cJSON_Delete(parsed);
            snprintf(err, errlen, "%s: \"abi\" is not a JSON ABI", k->name);
            return -1;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(obj, "abi", parsed);
        abi = parsed;
    }
    if (!cJSON_IsArray(abi)) {
        snprintf(err, errlen, "%s has no \"abi\" list", k->name);
        return -1;
    }
    k->abi = abi;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "evm"), "bytecode"),
        "object");
    if (!code) code = cJSON_GetObjectItemCaseSensitive(obj, "bytecode");
    if (cJSON_IsObject(code)) code = cJSON_GetObjectItemCaseSensitive(code, "object");
    k->code = cJSON_IsString(code) ? code->valuestring : NULL;
    return 0;
}

/* Read path: solc standard-JSON output ({"contracts": {file: {Name: ...}}})
 * or one contract object. Prints why on failure (EXIT_USAGE). */
static int artifact_load(struct artifact **out, const char *path, const char *cmd)
{
    char *text, err[512] = "";
    size_t len;
    *out = NULL;
    int rc = file_read_all(&text, &len, path, ARTIFACT_MAX);
    if (rc) {
        fprintf(stderr, "%s: cannot read the artifact %s: %s\n", cmd, path,
                rc == TALLY_ETOOBIG ? "over 64 MiB" : "no such file or not readable");
        return EXIT_USAGE;
    }
    struct artifact *a = calloc(1, sizeof *a);
    if (!a) {
        free(text);
        fprintf(stderr, "%s: out of memory\n", cmd);
        return EXIT_FAIL;
    }
    a->doc = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(a->doc)) {
        fprintf(stderr, "%s: %s is not a JSON object (expected solc's JSON output)\n", cmd, path);
        artifact_free(a);
        return EXIT_USAGE;
    }
    cJSON *contracts = cJSON_GetObjectItemCaseSensitive(a->doc, "contracts");
    if (cJSON_IsObject(contracts)) {
        cJSON *unit, *obj;
        cJSON_ArrayForEach(unit, contracts)
        {
            if (!cJSON_IsObject(unit)) continue;
            cJSON_ArrayForEach(obj, unit)
            {
                if (!cJSON_IsObject(obj) || !obj->string) continue;
                if (a->n == MAX_CONTRACTS) {
                    snprintf(err, sizeof err, "more than %d contracts", MAX_CONTRACTS);
                    break;
                }
                if (contract_from(&a->c[a->n], obj, unit->string, obj->string, err, sizeof err))
                    break;
                a->n++;
            }
            if (err[0]) break;
        }
    } else if (cJSON_GetObjectItemCaseSensitive(a->doc, "abi")) {
        const cJSON *cn = cJSON_GetObjectItemCaseSensitive(a->doc, "contractName");
        const char *base = strrchr(path, '/');
        char name[128];
        snprintf(name, sizeof name, "%s", base ? base + 1 : path);
        char *dot = strrchr(name, '.');
        if (dot && dot != name) *dot = 0;
        if (!contract_from(&a->c[0], a->doc, NULL, cJSON_IsString(cn) ? cn->valuestring : name, err,
                           sizeof err))
            a->n = 1;
    } else {
        snprintf(err, sizeof err, "neither \"contracts\" (solc standard JSON) nor \"abi\"");
    }
    if (err[0] || !a->n) {
        fprintf(stderr, "%s: %s: %s\n", cmd, path, err[0] ? err : "no contracts in it");
        artifact_free(a);
        return EXIT_USAGE;
    }
    *out = a;
    return 0;
}

static const char *short_name(const struct contract *k)
{
    const char *colon = strrchr(k->name, ':');
    return colon ? colon + 1 : k->name;
}

static int has_code(const struct contract *k)
{
    return k->code && k->code[0] && strcmp(k->code, "0x");
}

/* The contract called want ("Name" or "file:Name"), or the only one (with
 * code, for need_code). Prints why when there is none (NULL). */
static const struct contract *contract_pick(const struct artifact *a, const char *want,
                                            int need_code, const char *cmd, const char *path)
{
    const struct contract *found = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct contract *k = &a->c[i];
        int m = want ? !strcmp(k->name, want) || !strcmp(short_name(k), want)
                     : !need_code || has_code(k);
        if (m) {
            found = k;
            matches++;
        }
    }
    if (matches == 1) return found;
    if (want && matches > 1)
        fprintf(stderr, "%s: several contracts are called %s in %s: name one as FILE:NAME\n", cmd,
                want, path);
    else if (want)
        fprintf(stderr, "%s: no contract %s in %s\n", cmd, want, path);
    else if (!matches)
        fprintf(stderr,
                "%s: %s has no contract with bytecode (abstract contracts and interfaces "
                "cannot be deployed)\n",
                cmd, path);
    else
        fprintf(stderr, "%s: %s has several contracts: pick one with --contract NAME\n", cmd, path);
    if (want || matches > 1) {
        fprintf(stderr, "contracts in %s:", path);
        for (size_t i = 0; i < a->n; i++) fprintf(stderr, " %s", a->c[i].name);
        fprintf(stderr, "\n");
    }
    return NULL;
}

/* ---- ABI entries ---- */

static const char *json_name(const cJSON *it)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
    return cJSON_IsString(n) ? n->valuestring : "";
}

static const char *json_type(const cJSON *it)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "type");
    return cJSON_IsString(t) ? t->valuestring : "function";
}

/* The constructor (none in the ABI: one without inputs). */
static int find_constructor(struct abi_entry *e, const struct contract *k, const char *cmd)
{
    const cJSON *it;
    char err[512];
    cJSON_ArrayForEach(it, k->abi)
    {
        if (strcmp(json_type(it), "constructor")) continue;
        if (abi_entry_parse(e, it, err, sizeof err)) {
            fprintf(stderr, "%s: %s: %s\n", cmd, k->name, err);
            return EXIT_USAGE;
        }
        return 0;
    }
    memset(e, 0, sizeof *e);
    e->kind = ABI_CONSTRUCTOR;
    snprintf(e->name, sizeof e->name, "constructor");
    return 0;
}

/* The function spec names: "name" (an overload is chosen by argument count)
 * or a full signature "name(type,...)". */
static int find_function(struct abi_entry *e, const struct contract *k, const char *spec,
                         size_t nargs, const char *cmd)
{
    int by_sig = strchr(spec, '(') != NULL;
    size_t nmatch = 0, nfit = 0;
    char unsupported[512] = "";
    const cJSON *it;
    struct abi_entry *cand = malloc(sizeof *cand);
    if (!cand) return EXIT_FAIL;
    cJSON_ArrayForEach(it, k->abi)
    {
        if (strcmp(json_type(it), "function")) continue;
        if (!by_sig && strcmp(json_name(it), spec)) continue;
        char err[512];
        if (abi_entry_parse(cand, it, err, sizeof err)) {
            if (!by_sig) snprintf(unsupported, sizeof unsupported, "%s", err);
            continue;
        }
        if (by_sig && strcmp(cand->signature, spec)) continue;
        nmatch++;
        if (nmatch == 1 || (cand->ninputs == nargs && !nfit)) *e = *cand;
        if (cand->ninputs == nargs) nfit++;
    }
    free(cand);
    if (nmatch == 1 || (nmatch > 1 && nfit == 1)) return 0;
    if (nmatch > 1) {
        if (nfit)
            fprintf(stderr, "%s: %s is overloaded; give the full signature, one of:", cmd, spec);
        else
            fprintf(stderr, "%s: no overload of %s takes %zu argument%s; there are:", cmd, spec,
                    nargs, nargs == 1 ? "" : "s");
        cJSON_ArrayForEach(it, k->abi)
        {
            struct abi_entry f;
            char err[64];
            if (!strcmp(json_type(it), "function") && !strcmp(json_name(it), spec) &&
                !abi_entry_parse(&f, it, err, sizeof err))
                fprintf(stderr, " %s", f.signature);
        }
        fprintf(stderr, "\n");
    } else if (unsupported[0]) {
        fprintf(stderr, "%s: %s: %s\n", cmd, k->name, unsupported);
    } else {
        fprintf(stderr, "%s: %s has no function %s; its functions:", cmd, k->name, spec);
        cJSON_ArrayForEach(it, k->abi)
        {
            if (!strcmp(json_type(it), "function")) fprintf(stderr, " %s", json_name(it));
        }
        fprintf(stderr, "\n");
    }
    return EXIT_USAGE;
}

/* Every event or error entry (kind) of the ABI that this codec supports. */
static size_t load_entries(struct abi_entry **out, const struct contract *k, int kind)
{
    const char *ks = kind == ABI_EVENT ? "event" : "error";
    size_t n = 0, cap = 0;
    const cJSON *it;
    *out = NULL;
    cJSON_ArrayForEach(it, k->abi)
    {
        if (strcmp(json_type(it), ks) || n == MAX_ENTRIES) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            struct abi_entry *ne = realloc(*out, cap * sizeof *ne);
            if (!ne) break;
            *out = ne;
        }
        char err[64];
        if (!abi_entry_parse(&(*out)[n], it, err, sizeof err)) n++;
    }
    return n;
}

/* ---- talking to the node ---- */

struct job {
    const char *cmd;  /* "tally deploy" */
    const char *what; /* "Token's constructor", "transfer" */
    struct rpcc *c;
    struct abi_entry *events, *errors;
    size_t nevents, nerrors;
    int has_to;
    uint8_t to[20];
    char hto[43];
    uint8_t *data;
    size_t data_len;
    u256 value;
    uint64_t gas;   /* 0: eth_estimateGas */
    uint64_t nonce; /* of the transaction job_send sent */
    int has_from, has_key, wait;
    uint8_t from[20], priv[32];
    char hfrom[43];
};

/* A JSON-RPC error the node answered with. */
struct node_error {
    int code;
    char message[1024];
    uint8_t *data; /* error.data as bytes, if it was hex */
    size_t data_len;
};

/* One JSON-RPC call that keeps the whole error object (rpcc_call keeps only
 * its text): eth_call and eth_estimateGas answer a revert with the revert
 * data in error.data. Returns 0 (*res owned by the caller), EXIT_FAIL with
 * ne filled (free ne->data), or EXIT_UNREACH (printed). params is consumed. */
static int call_keep_error(struct job *j, cJSON **res, struct node_error *ne, const char *method,
                           cJSON *params)
{
    char err[512];
    *res = NULL;
    memset(ne, 0, sizeof *ne);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(req, "id", 1);
    cJSON_AddStringToObject(req, "method", method);
    cJSON_AddItemToObject(req, "params", params);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!body) return EXIT_FAIL;
    struct buf resp;
    buf_init(&resp, RPCC_MAX_RESPONSE);
    int rc = rpcc_post(j->c, &resp, body, strlen(body), err, sizeof err);
    free(body);
    cJSON *doc = resp.len ? cJSON_ParseWithLength((const char *)resp.p, resp.len) : NULL;
    buf_free(&resp);
    if (rc && !doc) {
        fprintf(stderr, "%s: cannot reach the node at %s: %s\n", j->cmd, rpcc_url(j->c), err);
        return EXIT_UNREACH;
    }
    const cJSON *eo = cJSON_GetObjectItemCaseSensitive(doc, "error");
    if (cJSON_IsObject(eo)) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(eo, "code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(eo, "message");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(eo, "data");
        ne->code = cJSON_IsNumber(code) ? (int)code->valuedouble : 0;
        snprintf(ne->message, sizeof ne->message, "%s",
                 cJSON_IsString(msg) ? msg->valuestring : "unknown error");
        if (cJSON_IsString(data) && !strncmp(data->valuestring, "0x", 2)) {
            size_t len = strlen(data->valuestring);
            ne->data = malloc(len / 2 + 1);
            if (ne->data && hex_decode(ne->data, len / 2, &ne->data_len, data->valuestring, len)) {
                free(ne->data);
                ne->data = NULL;
                ne->data_len = 0;
            }
        }
        cJSON_Delete(doc);
        return EXIT_FAIL;
    }
    cJSON *result = cJSON_DetachItemFromObjectCaseSensitive(doc, "result");
    cJSON_Delete(doc);
    if (rc || !result) {
        cJSON_Delete(result);
        fprintf(stderr, "%s: %s: bad answer from the node at %s%s%s\n", j->cmd, method,
                rpcc_url(j->c), rc ? ": " : "", rc ? err : "");
        return rc ? EXIT_UNREACH : EXIT_FAIL;
    }
    *res = result;
    return 0;
}

/* Print a failed eth_call / eth_estimateGas: a revert with its decoded
 * reason, anything else with the node's message. */
static void report_node_error(const struct job *j, const struct node_error *ne, const char *method)
{
    if (ne->code == RPC_REVERTED || !strncmp(ne->message, "execution reverted", 18)) {
        char *why =
            ne->data ? abi_format_revert(j->errors, j->nerrors, ne->data, ne->data_len) : NULL;
        if (why && ne->data_len)
            fprintf(stderr, "%s: %s reverted: %s\n", j->cmd, j->what, why);
        else
            fprintf(stderr, "%s: %s reverted: %s\n", j->cmd, j->what, ne->message);
        free(why);
    } else {
        fprintf(stderr, "%s: %s refused: %s\n", j->cmd, method, ne->message);
    }
}

/* {from?, to?, data, value?} for eth_call / eth_estimateGas. */
static cJSON *call_object(const struct job *j)
{
    cJSON *o = cJSON_CreateObject();
    char *hx = malloc(2 * j->data_len + 3);
    if (!o || !hx) {
        cJSON_Delete(o);
        free(hx);
        return NULL;
    }
    if (j->has_from) cJSON_AddStringToObject(o, "from", j->hfrom);
    if (j->has_to) cJSON_AddStringToObject(o, "to", j->hto);
    hex_encode(hx, j->data, j->data_len);
    cJSON_AddStringToObject(o, "data", hx);
    free(hx);
    if (!u256_is_zero(&j->value)) {
        char q[67];
        u256_to_hex(q, &j->value);
        cJSON_AddStringToObject(o, "value", q);
    }
    return o;
}

/* A quantity answer ("0x1a") of method. */
static int get_quantity(struct job *j, u256 *out, const char *method, cJSON *params)
{
    cJSON *res;
    int rc = cli_call(j->c, &res, method, params);
    if (rc) return rc;
    if (!cJSON_IsString(res) || strncmp(res->valuestring, "0x", 2) ||
        u256_parse(out, res->valuestring)) {
        fprintf(stderr, "%s: bad %s answer from the node\n", j->cmd, method);
        rc = EXIT_FAIL;
    }
    cJSON_Delete(res);
    return rc;
}

static int quantity_u64(uint64_t *out, const cJSON *q)
{
    u256 v;
    if (!cJSON_IsString(q) || strncmp(q->valuestring, "0x", 2) || u256_parse(&v, q->valuestring) ||
        !u256_fits_u64(&v))
        return -1;
    *out = v.w[0];
    return 0;
}

/* Sign j's transaction (nonce, chain id and gas price from the node; gas from
 * eth_estimateGas unless given) and send it; hash gets its hash. */
static int job_send(struct job *j, char hash[67])
{
    struct tx_fields f = {.type = TX_DYNAMIC_FEE, .has_to = j->has_to, .value = j->value};
    u256 q;
    int rc;
    memcpy(f.to, j->to, 20);
    f.data = j->data;
    f.data_len = j->data_len;
    if ((rc = get_quantity(j, &q, "eth_chainId", NULL))) return rc;
    if (!u256_fits_u64(&q)) return EXIT_FAIL;
    f.chain_id = q.w[0];
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(j->hfrom));
    cJSON_AddItemToArray(p, cJSON_CreateString("pending"));
    if ((rc = get_quantity(j, &q, "eth_getTransactionCount", p))) return rc;
    if (!u256_fits_u64(&q)) return EXIT_FAIL;
    f.nonce = j->nonce = q.w[0];
    if ((rc = get_quantity(j, &f.gas_price, "eth_gasPrice", NULL))) return rc;
    f.max_fee = f.max_priority_fee = f.gas_price;
    f.gas_limit = j->gas;
    if (!f.gas_limit) {
        cJSON *res;
        struct node_error ne;
        p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, call_object(j));
        rc = call_keep_error(j, &res, &ne, "eth_estimateGas", p);
        if (rc == EXIT_FAIL) report_node_error(j, &ne, "eth_estimateGas");
        free(ne.data);
        if (rc) return rc;
        rc = quantity_u64(&f.gas_limit, res);
        cJSON_Delete(res);
        if (rc) {
            fprintf(stderr, "%s: bad eth_estimateGas answer from the node\n", j->cmd);
            return EXIT_FAIL;
        }
    }
    struct tx *tx;
    if (tx_sign(&tx, &f, j->priv)) {
        fprintf(stderr, "%s: signing failed\n", j->cmd);
        return EXIT_FAIL;
    }
    char *raw = malloc(tx->raw_len * 2 + 3);
    if (!raw) {
        tx_free(tx);
        return EXIT_FAIL;
    }
    hex_encode(raw, tx->raw, tx->raw_len);
    tx_free(tx);
    p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(raw));
    free(raw);
    cJSON *res;
    if ((rc = cli_call(j->c, &res, "eth_sendRawTransaction", p))) return rc;
    snprintf(hash, 67, "%s", cJSON_IsString(res) ? res->valuestring : "?");
    cJSON_Delete(res);
    printf("%-12s %s\n", "transaction", hash);
    fflush(stdout);
    return 0;
}

/* Poll for the receipt of hash (up to WAIT_MS); a transaction the node
 * dropped from its pool fails at once. */
static int job_wait(struct job *j, cJSON **receipt, const char *hash)
{
    for (int waited = 0; waited < WAIT_MS; waited += 100) {
        cJSON *p = cJSON_CreateArray(), *res;
        cJSON_AddItemToArray(p, cJSON_CreateString(hash));
        int rc = cli_call(j->c, &res, "eth_getTransactionReceipt", p);
        if (rc) return rc;
        if (cJSON_IsObject(res)) {
            *receipt = res;
            return 0;
        }
        cJSON_Delete(res);
        /* Tally tells dropped transactions apart; other nodes may not know it. */
        char err[256];
        p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateString(hash));
        if (!rpcc_call(j->c, &res, "tally_txStatus", p, err, sizeof err)) {
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(res, "status");
            if (cJSON_IsString(st) && !strcmp(st->valuestring, "dropped")) {
                const cJSON *r = cJSON_GetObjectItemCaseSensitive(res, "reason");
                fprintf(stderr, "%s: the transaction was dropped: %s\n", j->cmd,
                        cJSON_IsString(r) ? r->valuestring : "no reason given");
                cJSON_Delete(res);
                return EXIT_FAIL;
            }
            cJSON_Delete(res);
        }
        usleep(100 * 1000);
    }
    fprintf(stderr, "%s: no receipt after %d s; look later with `tally tx %s`\n", j->cmd,
            WAIT_MS / 1000, hash);
    return EXIT_FAIL;
}

/* One log: decoded with the first event of the ABI it matches, else raw. */
static void print_log(const struct job *j, const cJSON *log, const uint8_t *contract)
{
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(log, "address");
    const cJSON *topics = cJSON_GetObjectItemCaseSensitive(log, "topics");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(log, "data");
    uint8_t a[20], t[4][32];
    size_t nt = 0, len = 0;
    int ok = cJSON_IsString(addr) && !hex_decode_fixed(a, 20, addr->valuestring) &&
             cJSON_IsArray(topics) && cJSON_GetArraySize(topics) <= 4 && cJSON_IsString(data);
    const cJSON *it;
    if (ok) {
        cJSON_ArrayForEach(it, topics)
        {
            if (!cJSON_IsString(it) || hex_decode_fixed(t[nt++], 32, it->valuestring)) ok = 0;
        }
    }
    size_t dlen = ok ? strlen(data->valuestring) : 0;
    uint8_t *d = ok ? malloc(dlen / 2 + 1) : NULL;
    if (!d || hex_decode(d, dlen / 2, &len, data->valuestring, dlen)) ok = 0;
    char at[64] = "";
    if (ok && contract && memcmp(a, contract, 20)) {
        char ca[43];
        abi_address_checksum(ca, a);
        snprintf(at, sizeof at, " at %s", ca);
    }
    for (size_t i = 0; ok && i < j->nevents; i++) {
        struct abi_values v;
        char err[64];
        if (abi_decode_log(&v, &j->events[i], (const uint8_t(*)[32])t, nt, d, len, err, sizeof err))
            continue;
        char *s = abi_format(&j->events[i], &v);
        abi_values_free(&v);
        if (!s) continue;
        printf("%-12s %s%s\n", "event", s, at);
        free(s);
        free(d);
        return;
    }
    free(d);
    char *raw = cJSON_PrintUnformatted(log);
    printf("%-12s %s\n", "log", raw ? raw : "?");
    free(raw);
}

/* Print a receipt; EXIT_OK if it succeeded, EXIT_FAIL otherwise. */
static int print_receipt(const struct job *j, const cJSON *r, int deploy)
{
    uint64_t block = 0, gas = 0, status = 0;
    int ok = !quantity_u64(&status, cJSON_GetObjectItemCaseSensitive(r, "status")) && status == 1;
    uint8_t contract[20];
    const uint8_t *emitter = j->has_to ? j->to : NULL;
    if (!quantity_u64(&block, cJSON_GetObjectItemCaseSensitive(r, "blockNumber")))
        printf("%-12s %llu\n", "block", (unsigned long long)block);
    if (!quantity_u64(&gas, cJSON_GetObjectItemCaseSensitive(r, "gasUsed")))
        printf("%-12s %llu\n", "gas used", (unsigned long long)gas);
    if (!ok) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
        const char *why = cJSON_IsString(e) ? e->valuestring : "failed (no reason given)";
        printf("%-12s failed: %s\n", "status", why);
        fprintf(stderr, "%s: %s failed: %s\n", j->cmd, j->what, why);
        return EXIT_FAIL;
    }
    printf("%-12s success\n", "status");
    if (deploy) {
        const cJSON *ca = cJSON_GetObjectItemCaseSensitive(r, "contractAddress");
        char cs[43];
        if (!cJSON_IsString(ca) || hex_decode_fixed(contract, 20, ca->valuestring)) {
            fprintf(stderr, "%s: the receipt has no contractAddress\n", j->cmd);
            return EXIT_FAIL;
        }
        abi_address_checksum(cs, contract);
        printf("%-12s %s\n", "contract", cs);
        emitter = contract;
    }
    const cJSON *log;
    cJSON_ArrayForEach(log, cJSON_GetObjectItemCaseSensitive(r, "logs")) print_log(j, log, emitter);
    return EXIT_OK;
}

/* Send j as a transaction and print its outcome. */
static int job_transact(struct job *j, int deploy)
{
    char hash[67];
    int rc = job_send(j, hash);
    if (rc) return rc;
    if (!j->wait) {
        if (deploy) {
            struct evm_address sender, created;
            char cs[43];
            memcpy(sender.bytes, j->from, 20);
            evm_create_address(&created, &sender, j->nonce);
            abi_address_checksum(cs, created.bytes);
            printf("%-12s %s (once the transaction is in a block)\n", "contract", cs);
        }
        return EXIT_OK;
    }
    cJSON *receipt = NULL;
    if ((rc = job_wait(j, &receipt, hash))) return rc;
    rc = print_receipt(j, receipt, deploy);
    cJSON_Delete(receipt);
    return rc;
}

/* eth_call j and print fn's decoded outputs, one per line. */
static int job_static_call(struct job *j, const struct abi_entry *fn)
{
    cJSON *p = cJSON_CreateArray(), *res;
    struct node_error ne;
    cJSON_AddItemToArray(p, call_object(j));
    cJSON_AddItemToArray(p, cJSON_CreateString("latest"));
    int rc = call_keep_error(j, &res, &ne, "eth_call", p);
    if (rc == EXIT_FAIL) report_node_error(j, &ne, "eth_call");
    free(ne.data);
    if (rc) return rc;
    size_t len = cJSON_IsString(res) ? strlen(res->valuestring) : 0;
    uint8_t *out = malloc(len / 2 + 1);
    size_t n = 0;
    if (!out || !cJSON_IsString(res) || hex_decode(out, len / 2, &n, res->valuestring, len)) {
        fprintf(stderr, "%s: eth_call: the node's answer is not hex\n", j->cmd);
        free(out);
        cJSON_Delete(res);
        return EXIT_FAIL;
    }
    cJSON_Delete(res);
    if (n == 0 && fn->noutputs) {
        /* Solidity never returns nothing for a function with outputs. */
        fprintf(stderr, "%s: %s returned no data: is there a contract at %s?\n", j->cmd, j->what,
                j->hto);
        free(out);
        return EXIT_FAIL;
    }
    struct abi_values v;
    char err[512];
    rc = abi_decode(&v, fn->outputs, fn->noutputs, out, n, err, sizeof err);
    free(out);
    if (rc) {
        fprintf(stderr, "%s: cannot decode what %s returned: %s\n", j->cmd, j->what, err);
        return EXIT_FAIL;
    }
    for (size_t i = 0; i < v.n; i++) {
        if (v.n > 1 && fn->outputs[i].name[0])
            printf("%s: %s\n", fn->outputs[i].name, v.v[i]);
        else
            printf("%s\n", v.v[i]);
    }
    abi_values_free(&v);
    return EXIT_OK;
}

/* The signing key of --key or --from-dev; j->from follows it. */
static int job_key(struct job *j, const struct opts *o)
{
    char err[512];
    if (o->key) {
        if (cli_load_key(j->priv, o->key)) {
            fprintf(stderr,
                    "%s: --key must be a 0x private key (64 hex digits) or a file "
                    "holding one\n",
                    j->cmd);
            return EXIT_USAGE;
        }
    } else if (o->dev >= 0) {
        if (cli_dev_key(j->priv, o->dir ? o->dir : DEFAULT_CHAINDIR, o->dev, err, sizeof err)) {
            fprintf(stderr, "%s: --from-dev %ld: %s\n", j->cmd, o->dev, err);
            return EXIT_USAGE;
        }
    } else {
        return 0;
    }
    uint8_t pub[64];
    if (secp_pubkey(pub, j->priv)) {
        fprintf(stderr, "%s: invalid private key\n", j->cmd);
        return EXIT_USAGE;
    }
    secp_pub_to_addr(j->from, pub);
    hex_encode(j->hfrom, j->from, 20);
    j->has_key = j->has_from = 1;
    return 0;
}

/* --gas and --value. */
static int job_amounts(struct job *j, const struct opts *o)
{
    if (o->gas) {
        u256 g;
        if (u256_parse(&g, o->gas) || !u256_fits_u64(&g) || u256_is_zero(&g)) {
            fprintf(stderr, "%s: --gas takes a positive gas limit (decimal or 0x)\n", j->cmd);
            return EXIT_USAGE;
        }
        j->gas = g.w[0];
    }
    if (o->value && cli_parse_amount(&j->value, o->value)) {
        fprintf(stderr, "%s: bad --value (use wei, or e.g. 1.5ether, 20gwei)\n", j->cmd);
        return EXIT_USAGE;
    }
    return 0;
}

static void job_free(struct job *j)
{
    free(j->events);
    free(j->errors);
    free(j->data);
    rpcc_close(j->c);
}

static const char needs_key[] = "a signing key: --key 0xPRIVKEY|KEYFILE, or --from-dev N "
                                "[--dir CHAIN_DIR] for development account N of `tally chain "
                                "init`";

/* ---- tally deploy ---- */

static const char deploy_usage[] =
    "usage: tally deploy ARTIFACT [ARGS...] [--contract NAME] [--key 0xPRIVKEY|KEYFILE |\n"
    "                    --from-dev N [--dir CHAIN_DIR]] [--gas N] [--value AMOUNT]\n"
    "                    [--no-wait] [--rpc URL]\n\n"
    "Deploys a contract from solc's JSON output: ARTIFACT is the standard-JSON output\n"
    "({\"contracts\": {FILE: {NAME: {abi, evm: {bytecode: {object}}}}}}) or one contract\n"
    "object ({abi, evm: {bytecode: {object}}} or {abi, bytecode}). --contract picks one\n"
    "when there are several (NAME or FILE:NAME). ARGS are the constructor's arguments\n"
    "(see docs/contracts-cli.md for how each type is written).\n\n"
    "The creation transaction is signed here: chain id, nonce and gas price from the\n"
    "node, gas from eth_estimateGas unless --gas. It waits (up to 60 s) for the receipt\n"
    "and prints the transaction hash, block, gas used, the contract address and the\n"
    "events the constructor emitted; --no-wait prints the hash and the address the\n"
    "contract will have. --from-dev N signs with account N (from 0) of\n"
    "CHAIN_DIR/accounts.json (default ./chain).\n\n"
    "Exit codes: 0 deployed, 1 reverted or refused (the reason is printed), 2 bad\n"
    "arguments or artifact, 3 node unreachable.\n";

int cmd_deploy(int argc, char **argv)
{
    const char *cmd = "tally deploy";
    struct opts o;
    int rc = parse_opts(&o, argc, argv, cmd, deploy_usage, 0);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    if (o.npos < 1) {
        fprintf(stderr, "%s: which artifact? (see --help)\n", cmd);
        return EXIT_USAGE;
    }
    struct job j = {.cmd = cmd, .wait = o.wait};
    struct artifact *a = NULL;
    struct abi_entry *ctor = malloc(sizeof *ctor);
    const struct contract *k;
    char what[300], err[1024];
    if (!ctor) return EXIT_FAIL;
    if ((rc = artifact_load(&a, o.pos[0], cmd))) {
        free(ctor);
        return rc;
    }
    rc = EXIT_USAGE;
    if (!(k = contract_pick(a, o.contract, 1, cmd, o.pos[0]))) goto out;
    snprintf(what, sizeof what, "%s's constructor", short_name(k));
    j.what = what;
    if (!has_code(k)) {
        fprintf(stderr, "%s: %s has no bytecode (abstract contract or interface?)\n", cmd, k->name);
        goto out;
    }
    if (strstr(k->code, "__")) {
        fprintf(stderr,
                "%s: %s's bytecode has unlinked library placeholders (__$...$__): link "
                "the libraries first\n",
                cmd, k->name);
        goto out;
    }
    if ((rc = find_constructor(ctor, k, cmd))) goto out;
    uint8_t *args;
    size_t nargs;
    if (abi_encode_args(&args, &nargs, ctor, o.pos + 1, o.npos - 1, err, sizeof err)) {
        fprintf(stderr, "%s: %s: %s\n", cmd, short_name(k), err);
        rc = EXIT_USAGE;
        goto out;
    }
    const char *hx = k->code + (!strncmp(k->code, "0x", 2) ? 2 : 0);
    size_t hlen = strlen(hx), clen = 0;
    j.data = malloc(hlen / 2 + nargs + 1);
    if (!j.data || hex_decode(j.data, hlen / 2, &clen, hx, hlen)) {
        fprintf(stderr, "%s: %s's bytecode is not hex\n", cmd, k->name);
        free(args);
        rc = EXIT_USAGE;
        goto out;
    }
    memcpy(j.data + clen, args, nargs);
    j.data_len = clen + nargs;
    free(args);
    if ((rc = job_amounts(&j, &o)) || (rc = job_key(&j, &o))) goto out;
    if (!j.has_key) {
        fprintf(stderr, "%s: deploying needs %s\n", cmd, needs_key);
        rc = EXIT_USAGE;
        goto out;
    }
    if (!u256_is_zero(&j.value) && ctor->mutability != ABI_PAYABLE) {
        fprintf(stderr, "%s: %s is not payable: --value must be 0\n", cmd, what);
        rc = EXIT_USAGE;
        goto out;
    }
    j.nevents = load_entries(&j.events, k, ABI_EVENT);
    j.nerrors = load_entries(&j.errors, k, ABI_ERROR);
    if ((rc = cli_connect(&j.c, o.rpc))) goto out;
    rc = job_transact(&j, 1);
out:
    job_free(&j);
    free(ctor);
    artifact_free(a);
    return rc;
}

/* ---- tally call ---- */

static const char call_usage[] =
    "usage: tally call ARTIFACT --to ADDRESS FUNCTION [ARGS...] [--contract NAME]\n"
    "                  [--from ADDRESS] [--static] [--key 0xPRIVKEY|KEYFILE |\n"
    "                  --from-dev N [--dir CHAIN_DIR]] [--gas N] [--value AMOUNT]\n"
    "                  [--no-wait] [--rpc URL]\n\n"
    "Calls FUNCTION of the contract at ADDRESS, described by ARTIFACT (as for tally\n"
    "deploy). FUNCTION is a name, or a full signature such as \"transfer(address,uint256)\"\n"
    "for an overloaded one. ARGS are its arguments: address 0x..., bool true|false,\n"
    "integers in decimal or 0x hex (negative for intN), bytes and bytesN as 0x hex,\n"
    "string as is, arrays as \"[a, b, ...]\" (use -- before arguments that start with --).\n\n"
    "A view or pure function (or any function with --static) is run with eth_call and\n"
    "its return values are printed one per line (--from sets msg.sender). Any other\n"
    "function is signed with --key / --from-dev and sent as a transaction: it waits\n"
    "(up to 60 s) for the receipt and prints the hash, block, gas used, status and the\n"
    "emitted events decoded with the ABI (other logs raw). A call that would revert is\n"
    "stopped before it is sent, with the reason (custom errors decoded with the ABI).\n\n"
    "Exit codes: 0 ok, 1 reverted, failed or refused (the reason is printed), 2 bad\n"
    "arguments (unknown function, wrong argument count, bad value), 3 node unreachable.\n";

int cmd_call(int argc, char **argv)
{
    const char *cmd = "tally call";
    struct opts o;
    int rc = parse_opts(&o, argc, argv, cmd, call_usage, 1);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    if (o.npos < 2) {
        fprintf(stderr, "%s: expected ARTIFACT and FUNCTION (see --help)\n", cmd);
        return EXIT_USAGE;
    }
    if (!o.to) {
        fprintf(stderr, "%s: --to ADDRESS (the contract) is required\n", cmd);
        return EXIT_USAGE;
    }
    struct job j = {.cmd = cmd, .wait = o.wait, .has_to = 1, .what = o.pos[1]};
    struct artifact *a = NULL;
    struct abi_entry *fn = malloc(sizeof *fn);
    const struct contract *k;
    char err[1024];
    if (!fn) return EXIT_FAIL;
    if ((rc = parse_address(j.to, o.to, cmd, "--to"))) goto out;
    hex_encode(j.hto, j.to, 20);
    if ((rc = artifact_load(&a, o.pos[0], cmd))) goto out;
    rc = EXIT_USAGE;
    if (!(k = contract_pick(a, o.contract, 0, cmd, o.pos[0]))) goto out;
    if ((rc = find_function(fn, k, o.pos[1], o.npos - 2, cmd))) goto out;
    j.what = fn->name;
    if (abi_encode_args(&j.data, &j.data_len, fn, o.pos + 2, o.npos - 2, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        rc = EXIT_USAGE;
        goto out;
    }
    if ((rc = job_amounts(&j, &o)) || (rc = job_key(&j, &o))) goto out;
    if (o.from) {
        uint8_t from[20];
        if ((rc = parse_address(from, o.from, cmd, "--from"))) goto out;
        if (j.has_key && memcmp(from, j.from, 20)) {
            fprintf(stderr, "%s: --from %s is not the address of the signing key (%s)\n", cmd,
                    o.from, j.hfrom);
            rc = EXIT_USAGE;
            goto out;
        }
        memcpy(j.from, from, 20);
        hex_encode(j.hfrom, j.from, 20);
        j.has_from = 1;
    }
    if (!u256_is_zero(&j.value) && fn->mutability != ABI_PAYABLE) {
        fprintf(stderr, "%s: %s is not payable: --value must be 0\n", cmd, fn->name);
        rc = EXIT_USAGE;
        goto out;
    }
    int is_view = fn->mutability == ABI_VIEW || fn->mutability == ABI_PURE;
    if (!is_view && !o.is_static && !j.has_key) {
        fprintf(stderr,
                "%s: %s changes state, so it is sent as a transaction, which needs %s (or "
                "use --static to only simulate it with eth_call)\n",
                cmd, fn->signature, needs_key);
        rc = EXIT_USAGE;
        goto out;
    }
    j.nevents = load_entries(&j.events, k, ABI_EVENT);
    j.nerrors = load_entries(&j.errors, k, ABI_ERROR);
    if ((rc = cli_connect(&j.c, o.rpc))) goto out;
    rc = is_view || o.is_static ? job_static_call(&j, fn) : job_transact(&j, 0);
out:
    job_free(&j);
    free(fn);
    artifact_free(a);
    return rc;
}
