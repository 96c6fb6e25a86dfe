/* tally bench: committed transfers per second and commit latency.
 *
 * Phases: (1) read the chain directory (accounts, chain id, node URLs);
 * (2) create --accounts fresh keys and fund them from the development
 * accounts, wait until the funding is committed; (3) pre-sign every transfer
 * the run can need (rate * (warmup + duration)) on all cores, each batch
 * already rendered as its JSON-RPC request body; (4) send the batches over
 * --conns keep-alive connections at --rate tx/s, never more than --window
 * uncommitted at once, while one poller thread follows new blocks and matches
 * their transaction hashes; (5) report.
 *
 * With --erc20 the transfers are ERC-20 token transfers instead: phase (2)
 * also deploys the token from a solc artifact (--token) and gives every
 * sender tokens; after the report every sender's token balance is checked
 * against its committed nonces (a failed transfer would show); --ganache
 * then runs the same kind of load on ganache (bench/ganache_erc20.mjs) and
 * prints both figures. */
#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "chain/tx.h"
#include "cli/cli.h"
#include "crypto/keccak.h"
#include "cli/rpcclient.h"
#include "crypto/secp.h"
#include "node/config.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/u256.h"

#define BENCH_MAX_URLS      64
#define BENCH_MAX_CONNS     64
#define BENCH_POLL_MS       50
#define BENCH_POLL_BLOCKS   64 /* blocks read per JSON-RPC batch by the poller */
#define BENCH_FUND_WAIT_S   120
#define BENCH_RESP_MAX      (16u * 1024 * 1024)
#define BENCH_BYTES_PER_TX  360   /* request body + hash + bookkeeping, for the memory estimate */
#define ERC20_GAS           60000 /* gas limit of one token transfer (~35,000 used) */
#define ERC20_DEPLOY_GAS    3000000
#define ERC20_GRANT         1000000000ull /* tokens given to each sender */
#define ERC20_DEFAULT_TOKEN "bench/Token.json"
#define ERC20_GANACHE       "bench/ganache_erc20.mjs"

enum { TX_UNSENT = 0, TX_SENT, TX_COMMITTED, TX_FAILED };

struct bench_batch {
    char *body; /* owned; freed after sending */
    size_t len;
    atomic_int ready;
};

struct bench {
    /* options */
    const char *dir;
    const char *urls[BENCH_MAX_URLS];
    char *url_store[BENCH_MAX_URLS];
    int nurls;
    double duration_s, warmup_s;
    long naccounts, batch, conns, rate, window;
    long long max_presign;
    int json;
    int erc20;               /* token transfers instead of native ones */
    const char *token_path;  /* solc artifact of the token */
    const char *ganache;     /* reference script to run afterwards, or NULL */
    uint8_t token[20];       /* the deployed token */
    uint8_t sel_transfer[4]; /* transfer(address,uint256) */
    uint8_t sel_balance[4];  /* balanceOf(address) */

    /* chain */
    uint64_t chain_id;
    u256 gas_price;

    /* bench accounts */
    uint8_t (*priv)[32];
    uint8_t (*addr)[20];

    /* transactions: tx k is from account k % naccounts with nonce k / naccounts */
    uint64_t ntx;
    uint64_t nbatch;
    struct bench_batch *batches;
    uint8_t (*hash)[32];
    _Atomic uint8_t *status;
    _Atomic uint64_t *sent_ns;   /* per batch: when its send started */
    atomic_uint_fast32_t *table; /* hash -> tx index + 1, open addressing */
    uint64_t table_mask;

    atomic_uint_fast64_t next_sign; /* next batch to sign */
    atomic_uint_fast64_t next_send; /* next batch to send */
    atomic_uint_fast64_t sent_done; /* batches handed to the network (for run-ahead) */
    atomic_uint_fast64_t send_turn; /* the batch whose send may start next */
    atomic_int sign_failed;

    /* counters */
    atomic_uint_fast64_t submitted, committed, failed;
    atomic_uint_fast64_t committed_window;
    atomic_int pool_size; /* -1 unknown */
    atomic_int stop_send, stop_poll;
    atomic_int runtime_error;
    pthread_mutex_t lock; /* first_error */
    char first_error[256];
    uint64_t first_error_count;

    /* timing (monotonic ns) */
    uint64_t t0, t_measure, t_end;

    /* latencies (ms) of the transactions committed in the window; poller only */
    float *lat;
    uint64_t nlat;
    uint64_t blocks_seen, start_height, end_height;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tally bench --dir CHAIN_DIR [--rpc URL]... [--duration S] [--warmup S]\n"
            "                   [--accounts N] [--batch N] [--conns N] [--rate TPS]\n"
            "                   [--window N] [--max-presign N] [--json]\n"
            "                   [--erc20 [--token ARTIFACT] [--ganache]]\n\n"
            "Measures committed native transfers per second and their commit latency.\n\n"
            "  --dir DIR        chain directory from `tally chain init`: accounts.json (the\n"
            "                   funding development accounts), genesis.json (chain_id) and\n"
            "                   nodeI/config.ini ([rpc] host, port: the nodes to load)\n"
            "  --rpc URL        send to this node instead (repeat for several; round-robin)\n"
            "  --duration S     length of the measurement window (default 60)\n"
            "  --warmup S       sending time before the window opens (default 5)\n"
            "  --accounts N     fresh sender accounts to fund and use (default 2000)\n"
            "  --batch N        eth_sendRawTransaction calls per JSON-RPC batch (default 500)\n"
            "  --conns N        keep-alive connections, one sender thread each (default 8)\n"
            "  --rate TPS       offered load in transactions per second (default 35000)\n"
            "  --window N       at most N sent but not yet committed transactions (default\n"
            "                   100000; keeps the pool from overflowing when the node is slower)\n"
            "  --max-presign N  transactions signed before sending starts (default 4000000);\n"
            "                   the rest are signed during the run, N ahead of the senders\n"
            "  --json           print the result as one JSON object (last line of stdout)\n"
            "  --erc20          ERC-20 token transfers instead of native ones: deploys the\n"
            "                   token, gives each sender tokens, checks balances at the end\n"
            "  --token FILE     solc artifact with a contract Token(name, symbol, supply)\n"
            "                   (default " ERC20_DEFAULT_TOKEN ")\n"
            "  --ganache        then measure ganache on the same load (node " ERC20_GANACHE ")\n\n"
            "How it measures: every transfer needed for rate * (warmup + duration) is signed\n"
            "before the clock starts. Sending starts at t=0 and stops at t=warmup+duration.\n"
            "A poller asks the first node for eth_blockNumber every 50 ms and reads the new\n"
            "blocks (eth_getBlockByNumber, hashes only, up to 64 per JSON-RPC batch). A\n"
            "transaction counts as committed when a block containing it is seen; only\n"
            "blocks seen inside the window\n"
            "[warmup, warmup+duration] count: tps = those commits / duration. Latency is\n"
            "from the start of sending the transaction's batch to the moment its block was\n"
            "seen; p50/p99 are over the transactions committed in the window. failed counts\n"
            "transactions the node refused at submission (JSON-RPC errors, HTTP failures).\n"
            "A progress line (elapsed, submitted, committed, tps in the last second, pool\n"
            "size from tally_status) goes to stderr every second.\n\n"
            "Exit codes: 0 ok, 1 runtime failure (node unreachable, funding failed, nothing\n"
            "committed), 2 usage.\n");
}

static void bench_note_error(struct bench *b, const char *msg, uint64_t n)
{
    pthread_mutex_lock(&b->lock);
    if (!b->first_error[0])
        snprintf(b->first_error, sizeof b->first_error, "%.*s", (int)sizeof b->first_error - 1,
                 msg);
    b->first_error_count += n;
    pthread_mutex_unlock(&b->lock);
}

static uint64_t now_ns(void)
{
    return clock_mono_ns();
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

static void sleep_until(uint64_t t)
{
    uint64_t n = now_ns();
    if (t > n) sleep_ns(t - n);
}

/* ---- chain directory ---------------------------------------------------- */

static int load_node_urls(struct bench *b)
{
    char ndir[NODE_PATH_MAX + 32], cfgpath[NODE_PATH_MAX + 64], err[256], url[128];
    for (int i = 0; i < BENCH_MAX_URLS; i++) {
        snprintf(ndir, sizeof ndir, "%s/node%d", b->dir, i);
        snprintf(cfgpath, sizeof cfgpath, "%s/config.ini", ndir);
        if (access(cfgpath, R_OK)) break;
        struct node_cfg c;
        if (node_cfg_load(&c, ndir, err, sizeof err)) {
            fprintf(stderr, "tally bench: %s\n", err);
            return -1;
        }
        node_cfg_rpc_url(url, sizeof url, &c);
        b->url_store[b->nurls] = strdup(url);
        if (!b->url_store[b->nurls]) return -1;
        b->urls[b->nurls] = b->url_store[b->nurls];
        b->nurls++;
    }
    if (b->nurls == 0) {
        fprintf(stderr, "tally bench: no %s/node*/config.ini found (or pass --rpc URL)\n", b->dir);
        return -1;
    }
    return 0;
}

struct dev_account {
    uint8_t priv[32];
    uint8_t addr[20];
    char haddr[43];
    uint64_t nonce; /* next pending nonce */
    uint64_t nfund; /* funding transactions it sends */
};

/* Reads accounts.json; issuers (whose transfers mint) are used only when
 * nothing else is there. */
static int load_dev_accounts(struct bench *b, struct dev_account **out, size_t *n)
{
    char path[NODE_PATH_MAX + 64], *text, err[256];
    snprintf(path, sizeof path, "%s/accounts.json", b->dir);
    if (file_read_all(&text, NULL, path, GENESIS_FILE_MAX)) {
        fprintf(stderr, "tally bench: cannot read %s\n", path);
        return -1;
    }
    cJSON *doc = cJSON_Parse(text);
    free(text);
    int na = cJSON_IsArray(doc) ? cJSON_GetArraySize(doc) : 0;
    struct dev_account *acc = na ? calloc((size_t)na, sizeof *acc) : NULL;
    size_t k = 0, issuers = 0;
    for (int pass = 0; pass < 2 && k == 0; pass++) {
        const cJSON *it;
        cJSON_ArrayForEach(it, doc)
        {
            const cJSON *pk = cJSON_GetObjectItemCaseSensitive(it, "private_key");
            int issuer = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "issuer"));
            if (pass == 0 && issuer) {
                issuers++;
                continue;
            }
            uint8_t pub[64];
            if (!cJSON_IsString(pk) || hex_decode_fixed(acc[k].priv, 32, pk->valuestring) ||
                secp_pubkey(pub, acc[k].priv)) {
                snprintf(err, sizeof err, "bad private_key entry");
                fprintf(stderr, "tally bench: %s: %s\n", path, err);
                cJSON_Delete(doc);
                free(acc);
                return -1;
            }
            secp_pub_to_addr(acc[k].addr, pub);
            hex_encode(acc[k].haddr, acc[k].addr, 20);
            k++;
        }
    }
    cJSON_Delete(doc);
    if (k == 0) {
        fprintf(stderr, "tally bench: %s has no usable accounts\n", path);
        free(acc);
        return -1;
    }
    (void)issuers;
    *out = acc;
    *n = k;
    return 0;
}

static int load_chain_id(struct bench *b)
{
    char path[NODE_PATH_MAX + 64], *text;
    snprintf(path, sizeof path, "%s/genesis.json", b->dir);
    if (file_read_all(&text, NULL, path, GENESIS_FILE_MAX)) {
        fprintf(stderr, "tally bench: cannot read %s\n", path);
        return -1;
    }
    cJSON *doc = cJSON_Parse(text);
    free(text);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "chain_id");
    int rc = 0;
    if (cJSON_IsNumber(id) && id->valuedouble >= 1 && id->valuedouble <= 9007199254740992.0) {
        b->chain_id = (uint64_t)id->valuedouble;
    } else if (cJSON_IsString(id) && !hex_quantity_u64(&b->chain_id, id->valuestring)) {
    } else {
        fprintf(stderr, "tally bench: %s has no valid \"chain_id\"\n", path);
        rc = -1;
    }
    cJSON_Delete(doc);
    return rc;
}

/* ---- small RPC helpers -------------------------------------------------- */

/* A call whose result is a quantity; err gets the reason on failure. */
static int call_u64_quiet(struct rpcc *c, uint64_t *out, const char *method, cJSON *params,
                          char *err, size_t errlen)
{
    cJSON *res;
    int rc = rpcc_call(c, &res, method, params, err, errlen);
    if (rc) return rc;
    rc = cJSON_IsString(res) ? hex_quantity_u64(out, res->valuestring) : TALLY_EDECODE;
    if (rc) snprintf(err, errlen, "unexpected result");
    cJSON_Delete(res);
    return rc;
}

static int call_u64(struct rpcc *c, uint64_t *out, const char *method, cJSON *params)
{
    char err[256];
    int rc = call_u64_quiet(c, out, method, params, err, sizeof err);
    if (rc) fprintf(stderr, "tally bench: %s on %s: %s\n", method, rpcc_url(c), err);
    return rc;
}

static cJSON *params_addr_tag(const char *addr, const char *tag)
{
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateString(addr));
    cJSON_AddItemToArray(p, cJSON_CreateString(tag));
    return p;
}

/* Count JSON-RPC errors in a batch response; records the first message. For
 * each failed request whose id is a transaction index (< limit) calls
 * mark(b, id). Returns the number of errors, or -1 if the response is not a
 * batch answer (the caller then fails the whole batch). */
static long batch_errors(struct bench *b, const struct buf *resp, uint64_t limit,
                         void (*mark)(struct bench *, uint64_t))
{
    if (!resp->len) return -1;
    /* Fast path: a response without the key "error" has no failures. */
    if (!memmem(resp->p, resp->len, "\"error\"", 7)) {
        const uint8_t *p = resp->p;
        size_t i = 0;
        while (i < resp->len && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t')) i++;
        return i < resp->len && p[i] == '[' ? 0 : -1;
    }
    cJSON *doc = cJSON_ParseWithLength((const char *)resp->p, resp->len);
    if (!cJSON_IsArray(doc)) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        if (cJSON_IsString(m)) bench_note_error(b, m->valuestring, 0);
        cJSON_Delete(doc);
        return -1;
    }
    long n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, doc)
    {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(it, "error");
        if (!e) continue;
        n++;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        bench_note_error(b, cJSON_IsString(m) ? m->valuestring : "error without message", 1);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (mark && cJSON_IsNumber(id) && id->valuedouble >= 0 && id->valuedouble < (double)limit)
            mark(b, (uint64_t)id->valuedouble);
    }
    cJSON_Delete(doc);
    return n;
}

/* Append one {"jsonrpc":"2.0","id":ID,"method":"eth_sendRawTransaction",
 * "params":["0x.."]} to body. */
static int append_send(struct buf *body, uint64_t id, const struct tx *tx)
{
    if (body->len > 1 && buf_puts(body, ",")) return TALLY_ENOMEM;
    if (buf_printf(body,
                   "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64
                   ",\"method\":\"eth_sendRawTransaction\",\"params\":[\"",
                   id))
        return TALLY_ENOMEM;
    if (buf_reserve(body, 2 * tx->raw_len + 8)) return TALLY_ENOMEM;
    hex_encode((char *)body->p + body->len, tx->raw, tx->raw_len);
    body->len += 2 * tx->raw_len + 2;
    return buf_puts(body, "\"]}") ? TALLY_ENOMEM : 0;
}

/* ---- funding ------------------------------------------------------------ */

static int fund_accounts(struct bench *b, struct rpcc *c)
{
    struct dev_account *dev;
    size_t ndev;
    char err[256];
    if (load_dev_accounts(b, &dev, &ndev)) return -1;
    int rc = -1;

    /* Amount per account: every transfer it may send (value 1 + gas) twice
     * over, plus 10^15 wei. */
    uint64_t per = b->ntx / (uint64_t)b->naccounts + 1;
    u256 fee, need, tmp, amount;
    u256 g = u256_from_u64(b->erc20 ? ERC20_GAS : 21000), one = u256_from_u64(1);
    u256_mul(&fee, &b->gas_price, &g);
    u256_add(&fee, &fee, &one);
    tmp = u256_from_u64(per * 2);
    u256_mul(&need, &fee, &tmp);
    tmp = u256_from_u64(1000000000000000ull);
    u256_add(&amount, &need, &tmp);

    for (size_t d = 0; d < ndev; d++) {
        dev[d].nfund = (uint64_t)b->naccounts / ndev + ((uint64_t)b->naccounts % ndev > d);
        if (call_u64(c, &dev[d].nonce, "eth_getTransactionCount",
                     params_addr_tag(dev[d].haddr, "pending")))
            goto out;
    }

    struct buf body, resp;
    buf_init(&body, 64u << 20);
    buf_init(&resp, BENCH_RESP_MAX);
    uint64_t *next = calloc(ndev, sizeof *next);
    long sent = 0;
    while (sent < b->naccounts) {
        body.len = 0;
        if (buf_puts(&body, "[")) goto fail;
        long end = sent + b->batch < b->naccounts ? sent + b->batch : b->naccounts;
        for (long i = sent; i < end; i++) {
            size_t d = (size_t)i % ndev;
            struct tx_fields f = {0};
            f.type = TX_LEGACY;
            f.chain_id = b->chain_id;
            f.nonce = dev[d].nonce + next[d]++;
            f.gas_price = b->gas_price;
            f.gas_limit = 21000;
            f.has_to = 1;
            memcpy(f.to, b->addr[i], 20);
            f.value = amount;
            struct tx *tx;
            if (tx_sign(&tx, &f, dev[d].priv)) {
                fprintf(stderr, "tally bench: signing a funding transaction failed\n");
                goto fail;
            }
            int arc = append_send(&body, (uint64_t)i, tx);
            tx_free(tx);
            if (arc) goto fail;
        }
        if (buf_puts(&body, "]")) goto fail;
        if (rpcc_post(c, &resp, (const char *)body.p, body.len, err, sizeof err)) {
            fprintf(stderr, "tally bench: funding batch to %s: %s\n", rpcc_url(c), err);
            goto fail;
        }
        long nerr = batch_errors(b, &resp, 0, NULL);
        if (nerr != 0) {
            fprintf(stderr, "tally bench: %ld funding transaction(s) refused: %s\n",
                    nerr < 0 ? end - sent : nerr, b->first_error[0] ? b->first_error : "?");
            goto fail;
        }
        sent = end;
    }

    /* Wait until every development account's committed nonce covers its
     * funding transactions. */
    fprintf(stderr,
            "tally bench: funded %ld accounts from %zu development account(s); "
            "waiting for commit...\n",
            b->naccounts, ndev);
    uint64_t deadline = now_ns() + (uint64_t)BENCH_FUND_WAIT_S * 1000000000u;
    for (size_t d = 0; d < ndev; d++) {
        for (;;) {
            uint64_t n;
            if (call_u64(c, &n, "eth_getTransactionCount", params_addr_tag(dev[d].haddr, "latest")))
                goto fail;
            if (n >= dev[d].nonce + dev[d].nfund) break;
            if (now_ns() > deadline) {
                fprintf(stderr,
                        "tally bench: funding not committed after %d s (%s: nonce %" PRIu64
                        ", want %" PRIu64 ")\n",
                        BENCH_FUND_WAIT_S, dev[d].haddr, n, dev[d].nonce + dev[d].nfund);
                goto fail;
            }
            sleep_ns(100 * 1000000u);
        }
    }
    /* Spot-check the last funded account's balance. */
    {
        char ha[43];
        hex_encode(ha, b->addr[b->naccounts - 1], 20);
        cJSON *res;
        if (rpcc_call(c, &res, "eth_getBalance", params_addr_tag(ha, "latest"), err, sizeof err)) {
            fprintf(stderr, "tally bench: eth_getBalance: %s\n", err);
            goto fail;
        }
        u256 bal;
        int ok = cJSON_IsString(res) && !u256_parse(&bal, res->valuestring) &&
                 u256_cmp(&bal, &amount) >= 0;
        cJSON_Delete(res);
        if (!ok) {
            fprintf(stderr, "tally bench: funded account %s has less than the funded amount\n", ha);
            goto fail;
        }
    }
    rc = 0;
fail:
    free(next);
    buf_free(&body);
    buf_free(&resp);
out:
    free(dev);
    return rc;
}

/* ---- ERC-20 -------------------------------------------------------------- */

static void selector(uint8_t out[4], const char *sig)
{
    uint8_t h[32];
    keccak256(h, (const uint8_t *)sig, strlen(sig));
    memcpy(out, h, 4);
}

/* Call data of transfer(to, amount). */
static void erc20_transfer_data(const struct bench *b, uint8_t out[68], const uint8_t to[20],
                                uint64_t amount)
{
    memset(out, 0, 68);
    memcpy(out, b->sel_transfer, 4);
    memcpy(out + 16, to, 20);
    for (int i = 0; i < 8; i++) out[67 - i] = (uint8_t)(amount >> (8 * i));
}

/* The creation code of the artifact's contract "Token" (solc standard-JSON
 * output, or one contract object {abi, evm: {bytecode: {object}}}). */
static int load_token(const char *path, uint8_t **code, size_t *len)
{
    char *text;
    if (file_read_all(&text, NULL, path, 64u << 20)) {
        fprintf(stderr, "tally bench: cannot read the token artifact %s (--token)\n", path);
        return -1;
    }
    cJSON *doc = cJSON_Parse(text);
    free(text);
    const cJSON *c = doc, *units = cJSON_GetObjectItemCaseSensitive(doc, "contracts"), *u;
    cJSON_ArrayForEach(u, units)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(u, "Token");
        if (t) c = t;
    }
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "evm"), "bytecode"),
        "object");
    int rc = -1;
    if (cJSON_IsString(obj)) {
        const char *h = obj->valuestring;
        size_t n = strlen(h);
        *code = malloc(n / 2 + 1);
        if (*code && !hex_decode(*code, n / 2 + 1, len, h, n) && *len) rc = 0;
        if (rc) free(*code);
    }
    if (rc) fprintf(stderr, "tally bench: %s has no creation code for a contract Token\n", path);
    cJSON_Delete(doc);
    return rc;
}

/* ABI (string, string, uint256): the token's constructor arguments. */
static size_t token_ctor_args(uint8_t *out, const char *name, const char *symbol,
                              const u256 *supply)
{
    const char *str[2] = {name, symbol};
    size_t off = 96;
    memset(out, 0, 96);
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(str[i]); /* < 32 */
        out[32 * i + 31] = (uint8_t)off;
        memset(out + off, 0, 64);
        out[off + 31] = (uint8_t)n;
        memcpy(out + off + 32, str[i], n);
        off += 64;
    }
    u256_to_be32(out + 64, supply);
    return off;
}

static int send_tx(struct rpcc *c, const struct tx *tx, char *err, size_t errlen)
{
    char *hx = malloc(2 * tx->raw_len + 3);
    if (!hx) return TALLY_ENOMEM;
    hex_encode(hx, tx->raw, tx->raw_len);
    cJSON *p = cJSON_CreateArray(), *res;
    cJSON_AddItemToArray(p, cJSON_CreateString(hx));
    free(hx);
    int rc = rpcc_call(c, &res, "eth_sendRawTransaction", p, err, errlen);
    if (!rc) cJSON_Delete(res);
    return rc;
}

/* Wait up to timeout_s for the receipt of tx; *out is the receipt object. */
static int wait_receipt(struct rpcc *c, const struct tx *tx, cJSON **out, int timeout_s)
{
    char hh[67], err[256];
    hex_encode(hh, tx->hash, 32);
    uint64_t deadline = now_ns() + (uint64_t)timeout_s * 1000000000u;
    while (now_ns() < deadline) {
        cJSON *p = cJSON_CreateArray(), *res;
        cJSON_AddItemToArray(p, cJSON_CreateString(hh));
        if (rpcc_call(c, &res, "eth_getTransactionReceipt", p, err, sizeof err)) {
            fprintf(stderr, "tally bench: eth_getTransactionReceipt: %s\n", err);
            return -1;
        }
        if (cJSON_IsObject(res)) {
            *out = res;
            return 0;
        }
        cJSON_Delete(res);
        sleep_ns(100 * 1000000u);
    }
    fprintf(stderr, "tally bench: transaction %s not committed after %d s\n", hh, timeout_s);
    return -1;
}

/* balanceOf(addr) through eth_call. */
static int erc20_balance(struct bench *b, struct rpcc *c, const uint8_t addr[20], u256 *out)
{
    uint8_t data[36] = {0};
    char hd[75], ht[43], err[256];
    memcpy(data, b->sel_balance, 4);
    memcpy(data + 16, addr, 20);
    hex_encode(hd, data, sizeof data);
    hex_encode(ht, b->token, 20);
    cJSON *p = cJSON_CreateArray(), *o = cJSON_CreateObject(), *res;
    cJSON_AddStringToObject(o, "to", ht);
    cJSON_AddStringToObject(o, "data", hd);
    cJSON_AddItemToArray(p, o);
    cJSON_AddItemToArray(p, cJSON_CreateString("latest"));
    if (rpcc_call(c, &res, "eth_call", p, err, sizeof err)) {
        fprintf(stderr, "tally bench: eth_call balanceOf: %s\n", err);
        return -1;
    }
    uint8_t word[32];
    int rc = cJSON_IsString(res) && !hex_decode_fixed(word, 32, res->valuestring) &&
                     !u256_from_be(out, word, 32)
                 ? 0
                 : -1;
    if (rc) fprintf(stderr, "tally bench: eth_call balanceOf: unexpected result\n");
    cJSON_Delete(res);
    return rc;
}

/* Deploy the token from the first development account and give every
 * sender ERC20_GRANT tokens; wait until all of it is committed. */
static int erc20_setup(struct bench *b, struct rpcc *c)
{
    struct dev_account *dev;
    size_t ndev, len;
    uint8_t *code;
    char err[256];
    selector(b->sel_transfer, "transfer(address,uint256)");
    selector(b->sel_balance, "balanceOf(address)");
    if (load_token(b->token_path, &code, &len)) return -1;
    if (load_dev_accounts(b, &dev, &ndev)) {
        free(code);
        return -1;
    }
    int rc = -1;
    struct tx *tx = NULL;
    cJSON *rcpt = NULL;
    struct buf body, resp;
    buf_init(&body, 64u << 20);
    buf_init(&resp, BENCH_RESP_MAX);
    uint64_t nonce;
    uint8_t *data = malloc(len + 256);
    if (!data ||
        call_u64(c, &nonce, "eth_getTransactionCount", params_addr_tag(dev[0].haddr, "pending")))
        goto out;
    memcpy(data, code, len);
    u256 supply = u256_from_u64(ERC20_GRANT), cnt = u256_from_u64((uint64_t)b->naccounts + 1);
    u256_mul(&supply, &supply, &cnt);
    struct tx_fields f = {0};
    f.type = TX_LEGACY;
    f.chain_id = b->chain_id;
    f.nonce = nonce;
    f.gas_price = b->gas_price;
    f.gas_limit = ERC20_DEPLOY_GAS;
    f.data = data;
    f.data_len = len + token_ctor_args(data + len, "Bench Token", "BNCH", &supply);
    if (tx_sign(&tx, &f, dev[0].priv) || send_tx(c, tx, err, sizeof err)) {
        fprintf(stderr, "tally bench: deploying the token: %s\n", err);
        goto out;
    }
    if (wait_receipt(c, tx, &rcpt, BENCH_FUND_WAIT_S)) goto out;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(rcpt, "status");
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(rcpt, "contractAddress");
    if (!cJSON_IsString(st) || strcmp(st->valuestring, "0x1") || !cJSON_IsString(ca) ||
        hex_decode_fixed(b->token, 20, ca->valuestring)) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(rcpt, "error");
        fprintf(stderr, "tally bench: the token deployment failed: %s\n",
                cJSON_IsString(e) ? e->valuestring : "no contract address");
        goto out;
    }
    fprintf(stderr, "tally bench: token deployed at %s; giving %ld senders tokens...\n",
            ca->valuestring, b->naccounts);

    /* One transfer per sender from the deployer, in JSON-RPC batches. */
    for (long sent = 0; sent < b->naccounts;) {
        long end = sent + b->batch < b->naccounts ? sent + b->batch : b->naccounts;
        body.len = 0;
        if (buf_puts(&body, "[")) goto out;
        for (long i = sent; i < end; i++) {
            uint8_t call[68];
            struct tx *t;
            erc20_transfer_data(b, call, b->addr[i], ERC20_GRANT);
            f.nonce = nonce + 1 + (uint64_t)i;
            f.gas_limit = ERC20_GAS;
            memcpy(f.to, b->token, 20);
            f.has_to = 1;
            f.data = call;
            f.data_len = sizeof call;
            if (tx_sign(&t, &f, dev[0].priv)) goto out;
            int arc = append_send(&body, (uint64_t)i, t);
            tx_free(t);
            if (arc || buf_puts(&body, i + 1 < end ? "" : "]")) goto out;
        }
        if (rpcc_post(c, &resp, (const char *)body.p, body.len, err, sizeof err) ||
            batch_errors(b, &resp, 0, NULL) != 0) {
            fprintf(stderr, "tally bench: token grants refused: %s\n",
                    b->first_error[0] ? b->first_error : err);
            goto out;
        }
        sent = end;
    }
    uint64_t want = nonce + 1 + (uint64_t)b->naccounts, deadline = now_ns() + 120000000000ull;
    for (uint64_t n = 0; n < want;) {
        if (now_ns() > deadline) {
            fprintf(stderr, "tally bench: token grants not committed after 120 s\n");
            goto out;
        }
        sleep_ns(100 * 1000000u);
        if (call_u64(c, &n, "eth_getTransactionCount", params_addr_tag(dev[0].haddr, "latest")))
            goto out;
    }
    u256 bal;
    if (erc20_balance(b, c, b->addr[b->naccounts - 1], &bal)) goto out;
    if (!u256_fits_u64(&bal) || bal.w[0] != ERC20_GRANT) {
        fprintf(stderr, "tally bench: a sender did not get its tokens\n");
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(rcpt);
    tx_free(tx);
    buf_free(&body);
    buf_free(&resp);
    free(data);
    free(code);
    free(dev);
    return rc;
}

/* After the run: once the pool is empty, every sender's token balance must
 * be its grant minus its committed transfers (its nonce) plus those of the
 * sender before it (each sends 1 to the next). Returns the number of
 * senders that differ (a failed transfer shows here), or -1. */
static long erc20_verify(struct bench *b, struct rpcc *c)
{
    uint64_t deadline = now_ns() + 60000000000ull;
    for (;;) {
        cJSON *res;
        char err[256];
        if (rpcc_call(c, &res, "tally_status", NULL, err, sizeof err)) return -1;
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(res, "poolSize");
        int empty = cJSON_IsNumber(ps) && ps->valuedouble == 0;
        cJSON_Delete(res);
        if (empty) break;
        if (now_ns() > deadline) {
            fprintf(stderr, "tally bench: the pool did not drain in 60 s; cannot check balances\n");
            return -1;
        }
        sleep_ns(200 * 1000000u);
    }
    sleep_ns(1000 * 1000000u); /* the last block reaches every node */
    uint64_t *sent = calloc((size_t)b->naccounts, sizeof *sent);
    if (!sent) return -1;
    long off = 0;
    for (long a = 0; a < b->naccounts; a++) {
        char ha[43];
        hex_encode(ha, b->addr[a], 20);
        if (call_u64(c, &sent[a], "eth_getTransactionCount", params_addr_tag(ha, "latest"))) {
            free(sent);
            return -1;
        }
    }
    for (long a = 0; a < b->naccounts; a++) {
        u256 bal;
        uint64_t in = sent[(a + b->naccounts - 1) % b->naccounts];
        if (erc20_balance(b, c, b->addr[a], &bal)) {
            free(sent);
            return -1;
        }
        off += !u256_fits_u64(&bal) || bal.w[0] != ERC20_GRANT - sent[a] + in;
    }
    free(sent);
    return off;
}

/* Run the ganache reference (node SCRIPT --duration D --warmup W, with the
 * script's own ganache settings: see its header); its transfers per
 * second, or -1. */
static double run_ganache(const struct bench *b)
{
    char cmd[1024], line[4096], last[4096] = "";
    snprintf(cmd, sizeof cmd, "node '%s' --duration %g --warmup %g", b->ganache, b->duration_s,
             b->warmup_s);
    fprintf(stderr, "tally bench: reference: %s\n", cmd);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    while (fgets(line, sizeof line, p))
        if (line[0] == '{') snprintf(last, sizeof last, "%s", line);
    int st = pclose(p);
    cJSON *o = cJSON_Parse(last);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "transfersPerSec");
    double v = st == 0 && cJSON_IsNumber(t) ? t->valuedouble : -1;
    cJSON_Delete(o);
    if (v < 0) fprintf(stderr, "tally bench: the ganache reference failed (exit %d)\n", st);
    return v;
}

/* ---- signing ------------------------------------------------------------ */

static void table_insert(struct bench *b, uint64_t k)
{
    uint64_t h;
    memcpy(&h, b->hash[k], 8);
    for (uint64_t i = h & b->table_mask;; i = (i + 1) & b->table_mask) {
        uint_fast32_t expect = 0;
        if (atomic_compare_exchange_strong_explicit(&b->table[i], &expect, (uint_fast32_t)(k + 1),
                                                    memory_order_release, memory_order_relaxed))
            return;
    }
}

/* Index of the bench transaction with this hash, or -1. */
static int64_t table_find(struct bench *b, const uint8_t hash[32])
{
    uint64_t h;
    memcpy(&h, hash, 8);
    for (uint64_t i = h & b->table_mask;; i = (i + 1) & b->table_mask) {
        uint_fast32_t v = atomic_load_explicit(&b->table[i], memory_order_acquire);
        if (!v) return -1;
        if (!memcmp(b->hash[v - 1], hash, 32)) return (int64_t)(v - 1);
    }
}

static int sign_batch(struct bench *b, uint64_t bi)
{
    uint64_t first = bi * (uint64_t)b->batch;
    uint64_t end = first + (uint64_t)b->batch < b->ntx ? first + (uint64_t)b->batch : b->ntx;
    struct buf body;
    buf_init(&body, 64u << 20);
    if (buf_reserve(&body, (size_t)(end - first) * 300 + 16) || buf_puts(&body, "[")) goto fail;
    for (uint64_t k = first; k < end; k++) {
        uint64_t a = k % (uint64_t)b->naccounts;
        struct tx_fields f = {0};
        f.type = TX_LEGACY;
        f.chain_id = b->chain_id;
        f.nonce = k / (uint64_t)b->naccounts;
        f.gas_price = b->gas_price;
        f.gas_limit = 21000;
        f.has_to = 1;
        memcpy(f.to, b->addr[(a + 1) % (uint64_t)b->naccounts], 20);
        f.value = u256_from_u64(1);
        uint8_t call[68];
        if (b->erc20) {
            erc20_transfer_data(b, call, f.to, 1);
            memcpy(f.to, b->token, 20);
            f.value = u256_from_u64(0);
            f.gas_limit = ERC20_GAS;
            f.data = call;
            f.data_len = sizeof call;
        }
        struct tx *tx;
        if (tx_sign(&tx, &f, b->priv[a])) goto fail;
        memcpy(b->hash[k], tx->hash, 32);
        int rc = append_send(&body, k, tx);
        tx_free(tx);
        if (rc) goto fail;
        table_insert(b, k);
    }
    if (buf_puts(&body, "]")) goto fail;
    b->batches[bi].body = (char *)buf_detach(&body, &b->batches[bi].len);
    atomic_store_explicit(&b->batches[bi].ready, 1, memory_order_release);
    return 0;
fail:
    buf_free(&body);
    return -1;
}

/* Signer thread: signs batches in order, at most max_presign transactions
 * ahead of the senders. */
static void *signer_main(void *arg)
{
    struct bench *b = arg;
    uint64_t ahead = (uint64_t)b->max_presign / (uint64_t)b->batch + 1;
    for (;;) {
        uint64_t bi = atomic_fetch_add(&b->next_sign, 1);
        if (bi >= b->nbatch || atomic_load(&b->sign_failed)) break;
        while (bi >= atomic_load(&b->sent_done) + ahead && !atomic_load(&b->stop_send))
            sleep_ns(2 * 1000000u);
        if (atomic_load(&b->stop_send)) break;
        if (sign_batch(b, bi)) {
            atomic_store(&b->sign_failed, 1);
            break;
        }
    }
    return NULL;
}

/* ---- sending ------------------------------------------------------------ */

static void mark_failed(struct bench *b, uint64_t k)
{
    uint8_t expect = TX_SENT;
    if (atomic_compare_exchange_strong(&b->status[k], &expect, TX_FAILED))
        atomic_fetch_add(&b->failed, 1);
}

struct sender {
    struct bench *b;
    const char *url;
    pthread_t th;
};

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    struct bench *b = s->b;
    struct rpcc *c;
    char err[256];
    struct buf resp;
    if (rpcc_open(&c, s->url, err, sizeof err)) {
        bench_note_error(b, err, 0);
        atomic_store(&b->runtime_error, 1);
        return NULL;
    }
    buf_init(&resp, BENCH_RESP_MAX);
    double ns_per_tx = 1e9 / (double)b->rate;
    for (;;) {
        if (atomic_load(&b->stop_send)) break;
        uint64_t bi = atomic_fetch_add(&b->next_send, 1);
        if (bi >= b->nbatch) break;
        uint64_t first = bi * (uint64_t)b->batch;
        uint64_t end = first + (uint64_t)b->batch < b->ntx ? first + (uint64_t)b->batch : b->ntx;
        uint64_t n = end - first;
        /* pacing */
        sleep_until(b->t0 + (uint64_t)((double)first * ns_per_tx));
        /* window of uncommitted transactions */
        while (!atomic_load(&b->stop_send)) {
            uint64_t out =
                atomic_load(&b->submitted) - atomic_load(&b->committed) - atomic_load(&b->failed);
            if ((long)(out + n) <= b->window || out == 0) break;
            sleep_ns(1000000u);
        }
        /* the batch must be signed */
        while (!atomic_load_explicit(&b->batches[bi].ready, memory_order_acquire) &&
               !atomic_load(&b->stop_send) && !atomic_load(&b->sign_failed))
            sleep_ns(500000u);
        /* In batch order: a batch left unsent at the stop must not have
         * later ones sent, whose nonces would then wait forever. */
        while (atomic_load(&b->send_turn) != bi && !atomic_load(&b->stop_send)) sleep_ns(100000u);
        if (atomic_load(&b->stop_send) ||
            !atomic_load_explicit(&b->batches[bi].ready, memory_order_acquire))
            break;
        for (uint64_t k = first; k < end; k++) atomic_store(&b->status[k], TX_SENT);
        atomic_store_explicit(&b->sent_ns[bi], now_ns(), memory_order_release);
        atomic_fetch_add(&b->submitted, n);
        atomic_store(&b->send_turn, bi + 1);
        int rc = rpcc_post(c, &resp, b->batches[bi].body, b->batches[bi].len, err, sizeof err);
        free(b->batches[bi].body);
        b->batches[bi].body = NULL;
        atomic_fetch_add(&b->sent_done, 1);
        long nerr = rc ? -1 : batch_errors(b, &resp, b->ntx, mark_failed);
        if (nerr < 0) {
            char msg[300];
            snprintf(msg, sizeof msg, "batch to %s: %s", s->url,
                     rc ? err : "response is not a JSON-RPC batch answer");
            bench_note_error(b, msg, n);
            for (uint64_t k = first; k < end; k++) mark_failed(b, k);
        }
    }
    buf_free(&resp);
    rpcc_close(c);
    return NULL;
}

/* ---- block poller ------------------------------------------------------- */

/* Match the transactions of one block (an eth_getBlockByNumber result) seen
 * at time `seen`. */
static void handle_block(struct bench *b, const cJSON *blk, uint64_t seen, int in_window)
{
    const cJSON *txs = cJSON_GetObjectItemCaseSensitive(blk, "transactions");
    const cJSON *it;
    uint64_t ncommit = 0;
    cJSON_ArrayForEach(it, txs)
    {
        const char *hs = cJSON_IsString(it) ? it->valuestring : NULL;
        if (!hs && cJSON_IsObject(it)) {
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, "hash");
            hs = cJSON_IsString(h) ? h->valuestring : NULL;
        }
        uint8_t hash[32];
        if (!hs || hex_decode_fixed(hash, 32, hs)) continue;
        int64_t k = table_find(b, hash);
        if (k < 0) continue;
        uint8_t st = atomic_exchange(&b->status[k], TX_COMMITTED);
        if (st == TX_COMMITTED) continue;
        if (st == TX_FAILED) atomic_fetch_sub(&b->failed, 1);
        ncommit++;
        if (in_window) {
            uint64_t sent = atomic_load_explicit(&b->sent_ns[(uint64_t)k / (uint64_t)b->batch],
                                                 memory_order_acquire);
            b->lat[b->nlat++] = sent && seen > sent ? (float)((double)(seen - sent) / 1e6) : 0.0f;
        }
    }
    atomic_fetch_add(&b->committed, ncommit);
    if (in_window) atomic_fetch_add(&b->committed_window, ncommit);
    b->blocks_seen++;
}

/* Read blocks first..last (at most BENCH_POLL_BLOCKS) in one JSON-RPC batch
 * and match their transactions. Returns the number of consecutive blocks
 * from `first` that were read, or -1. */
static long poll_blocks(struct bench *b, struct rpcc *c, struct buf *body, struct buf *resp,
                        uint64_t first, uint64_t last, int in_window)
{
    char err[256], hq[24];
    body->len = 0;
    if (buf_puts(body, "[")) return -1;
    for (uint64_t h = first; h <= last; h++) {
        hex_quantity_from_u64(hq, h);
        if (buf_printf(body,
                       "%s{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64
                       ",\"method\":\"eth_getBlockByNumber\",\"params\":[\"%s\",false]}",
                       h == first ? "" : ",", h, hq))
            return -1;
    }
    if (buf_puts(body, "]")) return -1;
    if (rpcc_post(c, resp, (const char *)body->p, body->len, err, sizeof err)) {
        fprintf(stderr, "tally bench: eth_getBlockByNumber batch: %s\n", err);
        return -1;
    }
    uint64_t seen = now_ns();
    cJSON *doc = cJSON_ParseWithLength((const char *)resp->p, resp->len);
    if (!cJSON_IsArray(doc)) {
        fprintf(stderr, "tally bench: eth_getBlockByNumber batch: unexpected answer\n");
        cJSON_Delete(doc);
        return -1;
    }
    /* Answers may come in any order: index them by id (= height). */
    const cJSON *byh[BENCH_POLL_BLOCKS] = {0};
    const cJSON *it;
    cJSON_ArrayForEach(it, doc)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(it, "result");
        if (!cJSON_IsNumber(id) || !cJSON_IsObject(res)) continue;
        double h = id->valuedouble;
        if (h >= (double)first && h <= (double)last) byh[(uint64_t)h - first] = res;
    }
    long n = 0;
    for (uint64_t h = first; h <= last && byh[h - first]; h++, n++)
        handle_block(b, byh[h - first], seen, in_window);
    cJSON_Delete(doc);
    return n;
}

struct poller {
    struct bench *b;
    struct rpcc *c;
    uint64_t height; /* last height read */
    pthread_t th;
};

static void *poller_main(void *arg)
{
    struct poller *pl = arg;
    struct bench *b = pl->b;
    uint64_t next_status = 0, sched = now_ns();
    int failures = 0;
    struct buf body, resp;
    buf_init(&body, 1u << 20);
    buf_init(&resp, RPCC_MAX_RESPONSE);
    /* Polls are scheduled every BENCH_POLL_MS; one is scheduled exactly at
     * the window's end and is the last. A poll's blocks count in the window
     * when its scheduled time lies in [t_measure, t_end]. */
    while (!atomic_load(&b->stop_poll)) {
        sleep_until(sched);
        uint64_t start = now_ns();
        int in_window = sched >= b->t_measure && sched <= b->t_end;
        uint64_t head;
        char err[256];
        if (call_u64_quiet(pl->c, &head, "eth_blockNumber", NULL, err, sizeof err)) {
            if (failures == 0)
                fprintf(stderr, "tally bench: eth_blockNumber on %s: %s (retrying)\n",
                        rpcc_url(pl->c), err);
            if (++failures >= 100) { /* ~5 s of failures */
                bench_note_error(b, "lost the node (eth_blockNumber keeps failing)", 0);
                atomic_store(&b->runtime_error, 1);
                break;
            }
        } else {
            failures = 0;
            while (pl->height < head && !atomic_load(&b->stop_poll)) {
                uint64_t last =
                    head - pl->height > BENCH_POLL_BLOCKS ? pl->height + BENCH_POLL_BLOCKS : head;
                long got = poll_blocks(b, pl->c, &body, &resp, pl->height + 1, last, in_window);
                if (got <= 0) break;
                pl->height += (uint64_t)got;
            }
            b->end_height = pl->height;
        }
        if (start >= next_status && sched < b->t_end) {
            cJSON *res;
            if (!rpcc_call(pl->c, &res, "tally_status", NULL, err, sizeof err)) {
                const cJSON *ps = cJSON_GetObjectItemCaseSensitive(res, "poolSize");
                atomic_store(&b->pool_size, cJSON_IsNumber(ps) ? (int)ps->valuedouble : -1);
                cJSON_Delete(res);
            } else {
                atomic_store(&b->pool_size, -1);
            }
            next_status = start + 1000000000u;
        }
        if (sched >= b->t_end) break;
        uint64_t now = now_ns();
        sched += BENCH_POLL_MS * 1000000u;
        if (sched < now) sched = now;
        if (sched > b->t_end) sched = b->t_end;
    }
    buf_free(&body);
    buf_free(&resp);
    return NULL;
}

/* ---- results ------------------------------------------------------------ */

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double percentile(const float *v, uint64_t n, double p)
{
    if (!n) return 0;
    uint64_t i = (uint64_t)ceil(p / 100.0 * (double)n);
    if (i < 1) i = 1;
    if (i > n) i = n;
    return v[i - 1];
}

/* ---- main --------------------------------------------------------------- */

static int parse_long(long *out, const char *v, long min, long max, const char *name)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) {
        fprintf(stderr, "tally bench: %s must be an integer in %ld..%ld\n", name, min, max);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_double(double *out, const char *v, double min, double max, const char *name)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= min && x <= max)) {
        fprintf(stderr, "tally bench: %s must be a number in %g..%g\n", name, min, max);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_args(struct bench *b, int argc, char **argv)
{
    const char *v;
    long l;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            exit(EXIT_OK);
        } else if ((v = cli_opt(argc, argv, &i, "--dir"))) {
            b->dir = v;
        } else if ((v = cli_opt(argc, argv, &i, "--rpc"))) {
            if (b->nurls == BENCH_MAX_URLS) {
                fprintf(stderr, "tally bench: at most %d --rpc URLs\n", BENCH_MAX_URLS);
                return -1;
            }
            b->urls[b->nurls++] = v;
        } else if ((v = cli_opt(argc, argv, &i, "--duration"))) {
            if (parse_double(&b->duration_s, v, 0.5, 86400, "--duration")) return -1;
        } else if ((v = cli_opt(argc, argv, &i, "--warmup"))) {
            if (parse_double(&b->warmup_s, v, 0, 3600, "--warmup")) return -1;
        } else if ((v = cli_opt(argc, argv, &i, "--accounts"))) {
            if (parse_long(&b->naccounts, v, 1, 1000000, "--accounts")) return -1;
        } else if ((v = cli_opt(argc, argv, &i, "--batch"))) {
            if (parse_long(&b->batch, v, 1, 100000, "--batch")) return -1;
        } else if ((v = cli_opt(argc, argv, &i, "--conns"))) {
            if (parse_long(&b->conns, v, 1, BENCH_MAX_CONNS, "--conns")) return -1;
        } else if ((v = cli_opt(argc, argv, &i, "--rate"))) {
            if (parse_long(&b->rate, v, 1, 10000000, "--rate")) return -1;
        } else if ((v = cli_opt(argc, argv, &i, "--window"))) {
            if (parse_long(&b->window, v, 1, 100000000, "--window")) return -1;
        } else if ((v = cli_opt(argc, argv, &i, "--max-presign"))) {
            if (parse_long(&l, v, 1, 1000000000, "--max-presign")) return -1;
            b->max_presign = l;
        } else if (!strcmp(argv[i], "--json")) {
            b->json = 1;
        } else if (!strcmp(argv[i], "--erc20")) {
            b->erc20 = 1;
        } else if ((v = cli_opt(argc, argv, &i, "--token"))) {
            b->token_path = v;
        } else if (!strcmp(argv[i], "--ganache")) {
            b->ganache = ERC20_GANACHE;
        } else if ((v = cli_opt(argc, argv, &i, "--ganache-script"))) {
            b->ganache = v;
        } else {
            fprintf(stderr, "tally bench: unknown option %s\n", argv[i]);
            return -1;
        }
    }
    if (!b->dir) {
        fprintf(stderr, "tally bench: --dir CHAIN_DIR is required\n");
        return -1;
    }
    if (b->ganache && !b->erc20) {
        fprintf(stderr, "tally bench: --ganache is the reference of --erc20\n");
        return -1;
    }
    return 0;
}

static void bench_free(struct bench *b)
{
    if (b->batches)
        for (uint64_t i = 0; i < b->nbatch; i++) free(b->batches[i].body);
    free(b->batches);
    free(b->hash);
    free((void *)b->status);
    free((void *)b->sent_ns);
    free((void *)b->table);
    free(b->lat);
    free(b->priv);
    free(b->addr);
    for (int i = 0; i < BENCH_MAX_URLS; i++) free(b->url_store[i]);
    pthread_mutex_destroy(&b->lock);
}

static int bench_alloc(struct bench *b)
{
    double want = (double)b->rate * (b->warmup_s + b->duration_s) + (double)b->batch;
    if (want > 4.0e9 - 1) {
        fprintf(stderr, "tally bench: rate * (warmup + duration) is too large\n");
        return -1;
    }
    b->ntx = (uint64_t)want;
    b->ntx = (b->ntx + (uint64_t)b->batch - 1) / (uint64_t)b->batch * (uint64_t)b->batch;
    b->nbatch = b->ntx / (uint64_t)b->batch;
    uint64_t tsize = 1;
    while (tsize < 2 * b->ntx) tsize <<= 1;
    b->table_mask = tsize - 1;
    b->batches = calloc(b->nbatch, sizeof *b->batches);
    b->hash = malloc(b->ntx * sizeof *b->hash);
    b->status = calloc(b->ntx, sizeof *b->status);
    b->sent_ns = calloc(b->nbatch, sizeof *b->sent_ns);
    b->table = calloc(tsize, sizeof *b->table);
    b->lat = malloc(b->ntx * sizeof *b->lat);
    b->priv = malloc((size_t)b->naccounts * sizeof *b->priv);
    b->addr = malloc((size_t)b->naccounts * sizeof *b->addr);
    if (!b->batches || !b->hash || !b->status || !b->sent_ns || !b->table || !b->lat || !b->priv ||
        !b->addr) {
        fprintf(stderr, "tally bench: out of memory for %" PRIu64 " transactions\n", b->ntx);
        return -1;
    }
    for (long i = 0; i < b->naccounts; i++) {
        uint8_t pub[64];
        if (secp_random_key(b->priv[i]) || secp_pubkey(pub, b->priv[i])) {
            fprintf(stderr, "tally bench: key generation failed\n");
            return -1;
        }
        secp_pub_to_addr(b->addr[i], pub);
    }
    return 0;
}

static int check_node(struct bench *b, struct rpcc *c)
{
    uint64_t id;
    if (call_u64(c, &id, "eth_chainId", NULL)) return -1;
    if (id != b->chain_id) {
        fprintf(stderr, "tally bench: %s has chain id %" PRIu64 ", genesis.json says %" PRIu64 "\n",
                rpcc_url(c), id, b->chain_id);
        return -1;
    }
    cJSON *res;
    char err[256];
    if (rpcc_call(c, &res, "eth_gasPrice", NULL, err, sizeof err)) {
        fprintf(stderr, "tally bench: eth_gasPrice: %s\n", err);
        return -1;
    }
    int rc = cJSON_IsString(res) ? u256_parse(&b->gas_price, res->valuestring) : -1;
    cJSON_Delete(res);
    if (rc) fprintf(stderr, "tally bench: eth_gasPrice: unexpected result\n");
    return rc ? -1 : 0;
}

static void print_progress(struct bench *b, uint64_t now, uint64_t *last_committed)
{
    uint64_t committed = atomic_load(&b->committed);
    int pool = atomic_load(&b->pool_size);
    char ps[24];
    if (pool >= 0)
        snprintf(ps, sizeof ps, "%d", pool);
    else
        snprintf(ps, sizeof ps, "-");
    double el = (double)(now - b->t0) / 1e9;
    fprintf(stderr,
            "[%6.1fs]%s submitted %" PRIu64 "  committed %" PRIu64 "  tps %" PRIu64
            "  failed %" PRIu64 "  pool %s\n",
            el, now < b->t_measure ? " warmup" : (now < b->t_end ? "       " : "   done"),
            (uint64_t)atomic_load(&b->submitted), committed, committed - *last_committed,
            (uint64_t)atomic_load(&b->failed), ps);
    *last_committed = committed;
}

int cmd_bench(int argc, char **argv)
{
    struct bench *b = calloc(1, sizeof *b);
    if (!b) return EXIT_FAIL;
    pthread_mutex_init(&b->lock, NULL);
    b->duration_s = 60;
    b->warmup_s = 5;
    b->naccounts = 2000;
    b->batch = 500;
    b->conns = 8;
    b->rate = 35000;
    b->window = 100000;
    b->max_presign = 4000000;
    b->token_path = ERC20_DEFAULT_TOKEN;
    atomic_store(&b->pool_size, -1);
    int exit_code = EXIT_FAIL;
    struct rpcc *ctl = NULL;
    struct sender senders[BENCH_MAX_CONNS];
    pthread_t signers[16];
    int nsigners = 0, nsenders = 0, poller_started = 0;
    struct poller pl = {0};

    if (parse_args(b, argc, argv)) {
        fprintf(stderr, "see: tally bench --help\n");
        bench_free(b);
        free(b);
        return EXIT_USAGE;
    }
    if (load_chain_id(b)) goto out;
    if (b->nurls == 0 && load_node_urls(b)) goto out;
    if (bench_alloc(b)) goto out;

    char err[256];
    if (rpcc_open(&ctl, b->urls[0], err, sizeof err)) {
        fprintf(stderr, "tally bench: %s\n", err);
        exit_code = EXIT_USAGE;
        goto out;
    }
    for (int i = 0; i < b->nurls; i++) {
        struct rpcc *c;
        if (rpcc_open(&c, b->urls[i], err, sizeof err)) {
            fprintf(stderr, "tally bench: %s\n", err);
            exit_code = EXIT_USAGE;
            goto out;
        }
        int rc = check_node(b, c);
        rpcc_close(c);
        if (rc) goto out;
    }
    if (fund_accounts(b, ctl)) goto out;
    if (b->erc20 && erc20_setup(b, ctl)) goto out;

    /* Pre-sign. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    nsigners = ncpu < 1 ? 1 : (ncpu > 16 ? 16 : (int)ncpu);
    uint64_t presign = b->ntx < (uint64_t)b->max_presign ? b->ntx : (uint64_t)b->max_presign;
    fprintf(stderr,
            "tally bench: signing %" PRIu64 " transfers (%" PRIu64 " before the start, ~%" PRIu64
            " MB) on %d threads...\n",
            b->ntx, presign, presign * BENCH_BYTES_PER_TX >> 20, nsigners);
    uint64_t ts0 = now_ns();
    for (int i = 0; i < nsigners; i++) {
        if (pthread_create(&signers[i], NULL, signer_main, b)) {
            nsigners = i;
            atomic_store(&b->sign_failed, 1);
            break;
        }
    }
    {
        uint64_t need = (presign + (uint64_t)b->batch - 1) / (uint64_t)b->batch;
        for (uint64_t i = 0; i < need && !atomic_load(&b->sign_failed); i++)
            while (!atomic_load_explicit(&b->batches[i].ready, memory_order_acquire) &&
                   !atomic_load(&b->sign_failed))
                sleep_ns(5 * 1000000u);
    }
    if (atomic_load(&b->sign_failed)) {
        fprintf(stderr, "tally bench: signing failed\n");
        goto out;
    }
    double sign_s = (double)(now_ns() - ts0) / 1e9;
    fprintf(stderr, "tally bench: signed %" PRIu64 " in %.1f s (%.1f us/tx per thread)\n", presign,
            sign_s, sign_s * 1e6 * nsigners / (double)presign);

    /* Start: poller first (it needs the height before the first send). */
    if (call_u64(ctl, &b->start_height, "eth_blockNumber", NULL)) goto out;
    b->end_height = b->start_height;
    pl.b = b;
    pl.c = ctl;
    pl.height = b->start_height;
    b->t0 = now_ns();
    b->t_measure = b->t0 + (uint64_t)(b->warmup_s * 1e9);
    b->t_end = b->t_measure + (uint64_t)(b->duration_s * 1e9);
    if (pthread_create(&pl.th, NULL, poller_main, &pl)) goto out;
    poller_started = 1;
    for (int i = 0; i < b->conns; i++) {
        senders[i].b = b;
        senders[i].url = b->urls[i % b->nurls];
        if (pthread_create(&senders[i].th, NULL, sender_main, &senders[i])) break;
        nsenders++;
    }
    fprintf(stderr,
            "tally bench: sending up to %ld tx/s in batches of %ld over %d connection(s) to %d "
            "node(s); warm-up %.1f s, window %.1f s\n",
            b->rate, b->batch, nsenders, b->nurls, b->warmup_s, b->duration_s);
    uint64_t last_committed = 0;
    for (uint64_t tick = b->t0 + 1000000000u;; tick += 1000000000u) {
        uint64_t until = tick < b->t_end ? tick : b->t_end;
        sleep_until(until);
        if (atomic_load(&b->runtime_error)) break;
        if (until == b->t_end) break;
        print_progress(b, until, &last_committed);
    }
    atomic_store(&b->stop_send, 1);
    for (int i = 0; i < nsenders; i++) pthread_join(senders[i].th, NULL);
    nsenders = 0;
    if (atomic_load(&b->runtime_error)) atomic_store(&b->stop_poll, 1);
    pthread_join(pl.th, NULL); /* it stops after its poll at t_end */
    poller_started = 0;
    print_progress(b, now_ns(), &last_committed);
    if (atomic_load(&b->runtime_error)) {
        fprintf(stderr, "tally bench: runtime failure: %s\n", b->first_error);
        goto out;
    }

    /* Report. */
    qsort(b->lat, b->nlat, sizeof *b->lat, cmp_float);
    uint64_t committed = atomic_load(&b->committed_window);
    double tps = (double)committed / b->duration_s;
    double p50 = percentile(b->lat, b->nlat, 50), p99 = percentile(b->lat, b->nlat, 99);
    uint64_t failed = atomic_load(&b->failed);
    uint64_t submitted = atomic_load(&b->submitted);
    uint64_t pending = submitted - atomic_load(&b->committed) - failed;
    if (b->first_error[0])
        fprintf(stderr, "tally bench: submission errors, first: %s\n", b->first_error);
    if (b->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "tps", round(tps * 10) / 10);
        cJSON_AddNumberToObject(o, "p50_ms", round(p50 * 10) / 10);
        cJSON_AddNumberToObject(o, "p99_ms", round(p99 * 10) / 10);
        cJSON_AddNumberToObject(o, "committed", (double)committed);
        cJSON_AddNumberToObject(o, "failed", (double)failed);
        cJSON_AddNumberToObject(o, "duration_s", b->duration_s);
        cJSON_AddNumberToObject(o, "warmup_s", b->warmup_s);
        cJSON_AddNumberToObject(o, "submitted", (double)submitted);
        cJSON_AddNumberToObject(o, "committed_total", (double)atomic_load(&b->committed));
        cJSON_AddNumberToObject(o, "pending_at_end", (double)pending);
        cJSON_AddNumberToObject(o, "blocks", (double)(b->end_height - b->start_height));
        cJSON_AddNumberToObject(o, "rate", (double)b->rate);
        cJSON_AddNumberToObject(o, "accounts", (double)b->naccounts);
        cJSON_AddNumberToObject(o, "batch", (double)b->batch);
        cJSON_AddNumberToObject(o, "conns", (double)b->conns);
        cJSON_AddNumberToObject(o, "nodes", (double)b->nurls);
        if (b->first_error[0]) cJSON_AddStringToObject(o, "first_error", b->first_error);
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("committed   %" PRIu64 " transfers in %.1f s (after %.1f s warm-up)\n", committed,
               b->duration_s, b->warmup_s);
        printf("tps         %.1f\n", tps);
        printf("latency     p50 %.1f ms   p99 %.1f ms\n", p50, p99);
        printf("submitted   %" PRIu64 "   failed %" PRIu64 "   pending at end %" PRIu64 "\n",
               submitted, failed, pending);
        printf("blocks      %" PRIu64 " (heights %" PRIu64 "..%" PRIu64 ")\n",
               b->end_height - b->start_height, b->start_height + 1, b->end_height);
    }
    fflush(stdout);
    if (committed == 0) {
        fprintf(stderr, "tally bench: nothing was committed in the window\n");
        goto out;
    }
    if (b->erc20) {
        fprintf(stderr, "tally bench: checking every sender's token balance...\n");
        long off = erc20_verify(b, ctl);
        if (off < 0) goto out;
        if (off) {
            fprintf(stderr,
                    "tally bench: %ld sender(s) hold other token balances than their committed "
                    "transfers give: some transfers failed\n",
                    off);
            goto out;
        }
        printf("checked     %ld senders' token balances match their committed transfers\n",
               b->naccounts);
        if (b->ganache) {
            double g = run_ganache(b);
            if (g < 0) goto out;
            printf("reference   ganache %.1f token transfers/s on this machine, same run; "
                   "Tally/ganache %.1fx\n",
                   g, g > 0 ? tps / g : 0);
        }
        fflush(stdout);
    }
    exit_code = EXIT_OK;
out:
    atomic_store(&b->stop_send, 1);
    atomic_store(&b->stop_poll, 1);
    for (int i = 0; i < nsenders; i++) pthread_join(senders[i].th, NULL);
    if (poller_started) pthread_join(pl.th, NULL);
    atomic_store(&b->sign_failed, 1);
    for (int i = 0; i < nsigners; i++) pthread_join(signers[i], NULL);
    rpcc_close(ctl);
    bench_free(b);
    free(b);
    return exit_code;
}
