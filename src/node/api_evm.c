/* JSON-RPC for contracts: eth_call, eth_estimateGas, eth_getCode,
 * eth_getStorageAt, eth_getLogs, and eth_subscribe / eth_unsubscribe
 * (newHeads, logs) over the WebSocket endpoint. Calls run on the loop
 * thread against the committed state, bounded by the chain's transaction
 * gas limit. See docs/rpc.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "node/api_int.h"
#include "store/chainstore.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/log.h"

#define MOD                 "rpc"
#define RPC_EXECUTION_ERROR 3     /* geth's code for a reverted call: data holds the revert data */
#define GETLOGS_MAX_RANGE   10000 /* blocks per eth_getLogs */
#define GETLOGS_MAX_LOGS    10000 /* logs per eth_getLogs answer */
#define FILTER_MAX_ADDRS    64    /* addresses in one filter */
#define FILTER_MAX_OR       16    /* alternatives per topic position */
#define SUBS_MAX            4096  /* subscriptions per node */
#define SUBS_PER_CONN       64

/* ---- logs as JSON, blooms ---- */

cJSON *logs_json(const struct block *b, size_t index, const struct receipt *r)
{
    cJSON *a = cJSON_CreateArray();
    for (uint32_t i = 0; i < r->nlogs; i++) {
        const struct receipt_log *l = &r->logs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "address", j_hex(l->addr, 20));
        cJSON *t = cJSON_AddArrayToObject(o, "topics");
        for (uint8_t k = 0; k < l->ntopics; k++) cJSON_AddItemToArray(t, j_hex(l->topics[k], 32));
        cJSON_AddItemToObject(o, "data", j_hex(l->data, l->data_len));
        cJSON_AddItemToObject(o, "blockNumber", j_qty(b->h.height));
        cJSON_AddItemToObject(o, "blockHash", j_hex(b->hash, 32));
        cJSON_AddItemToObject(o, "transactionHash", j_hex(b->txs[index]->hash, 32));
        cJSON_AddItemToObject(o, "transactionIndex", j_qty(index));
        cJSON_AddItemToObject(o, "logIndex", j_qty((uint64_t)r->first_log + i));
        cJSON_AddBoolToObject(o, "removed", 0);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

int block_receipts(struct node *n, const struct block *b, struct receipt **rcpts, int *owned)
{
    const struct recent_block *rb = &n->recent[b->h.height % NODE_RECENT_BLOCKS];
    if (rb->b && rb->b->h.height == b->h.height && !memcmp(rb->b->hash, b->hash, 32)) {
        *rcpts = rb->rcpts;
        *owned = 0;
        return 0;
    }
    struct receipt *r = calloc(b->ntx ? b->ntx : 1, sizeof *r);
    if (!r) return TALLY_ENOMEM;
    struct store_txn *t = NULL;
    int rc = store_txn_begin(n->store, &t, 0);
    size_t i = 0;
    for (; !rc && i < b->ntx; i++) rc = chainstore_receipt(t, &r[i], b->h.height, (uint32_t)i);
    if (t) store_txn_abort(t);
    if (rc) {
        receipts_free(r, i ? i - 1 : 0);
        return rc;
    }
    *rcpts = r;
    *owned = 1;
    return 0;
}

/* Every transaction used at least 21000 gas; one that logged used more. */
static int may_have_logs(const struct block *b)
{
    return b->h.gas_used != 21000 * (uint64_t)b->ntx;
}

void block_bloom(struct node *n, const struct block *b, uint8_t out[256])
{
    memset(out, 0, 256);
    struct receipt *r;
    int owned;
    if (!may_have_logs(b) || block_receipts(n, b, &r, &owned)) return;
    for (size_t i = 0; i < b->ntx; i++) receipt_bloom(out, &r[i]);
    if (owned) receipts_free(r, b->ntx);
}

/* ---- call objects ---- */

/* A 0x-prefixed hex number below 2^256 (leading zeros allowed: storage
 * slots are often written as 32 bytes). */
static int hex_u256(u256 *out, const char *s)
{
    return strncmp(s, "0x", 2) && strncmp(s, "0X", 2) ? TALLY_EDECODE : u256_parse(out, s);
}

/* Parse {from, to, gas, value, data | input} into c (data malloc()ed into
 * *buf). gasPrice and the fee fields are accepted and ignored: calls are
 * free. -1 after replying. */
static int call_param(struct node *n, struct rpc_req *req, const cJSON *o, struct exec_call *c,
                      uint8_t **buf)
{
    memset(c, 0, sizeof *c);
    *buf = NULL;
    c->gas = n->rules.tx_gas_limit;
    if (!cJSON_IsObject(o)) {
        bad_params(req, "expected [{from, to, gas, value, data}, block]");
        return -1;
    }
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "from");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(o, "to");
    const cJSON *gas = cJSON_GetObjectItemCaseSensitive(o, "gas");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(o, "value");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(o, "input");
    if (!data || cJSON_IsNull(data)) data = cJSON_GetObjectItemCaseSensitive(o, "data");
    if (from && !cJSON_IsNull(from) &&
        (!cJSON_IsString(from) || hex_decode_fixed(c->from, 20, from->valuestring))) {
        bad_params(req, "from: expected 0x + 40 hex digits");
        return -1;
    }
    if (to && !cJSON_IsNull(to)) {
        if (!cJSON_IsString(to) || hex_decode_fixed(c->to, 20, to->valuestring)) {
            bad_params(req, "to: expected 0x + 40 hex digits, or null for a creation");
            return -1;
        }
        c->has_to = 1;
    }
    if (gas && !cJSON_IsNull(gas) &&
        (!cJSON_IsString(gas) || hex_quantity_u64(&c->gas, gas->valuestring))) {
        bad_params(req, "gas: expected a 0x quantity");
        return -1;
    }
    if (value && !cJSON_IsNull(value) &&
        (!cJSON_IsString(value) || hex_u256(&c->value, value->valuestring))) {
        bad_params(req, "value: expected a 0x quantity below 2^256");
        return -1;
    }
    if (data && !cJSON_IsNull(data)) {
        size_t len = cJSON_IsString(data) ? strlen(data->valuestring) : 0;
        *buf = malloc(len / 2 + 1);
        if (!cJSON_IsString(data) || !*buf ||
            hex_decode(*buf, len / 2 + 1, &c->data_len, data->valuestring, len)) {
            free(*buf);
            *buf = NULL;
            bad_params(req, "data: expected 0x-prefixed hex bytes");
            return -1;
        }
        c->data = *buf;
    }
    if (c->gas > n->rules.tx_gas_limit) c->gas = n->rules.tx_gas_limit;
    return 0;
}

/* A failed call as JSON-RPC error: a revert as code 3 with its data (what
 * ethers and web3 decode reasons from), anything else as a server error. */
static void reply_failed(struct rpc_req *req, const struct exec_call_result *r)
{
    if (!strncmp(r->reason, "execution reverted", 18)) {
        rpc_reply_error(req, RPC_EXECUTION_ERROR, r->reason, j_hex(r->output, r->output_len));
        return;
    }
    char msg[RECEIPT_REASON_MAX + 32];
    snprintf(msg, sizeof msg, "execution failed: %s", r->reason);
    rpc_reply_error(req, RPC_SERVER_ERROR, msg, NULL);
}

static void reply_call_error(struct rpc_req *req, int rc, const char *why)
{
    int code = rc == TALLY_ENOMEM || rc == TALLY_ESTORE || rc == TALLY_EIO || rc == TALLY_EDECODE
                   ? RPC_INTERNAL_ERROR
                   : RPC_SERVER_ERROR;
    rpc_reply_error(req, code, why[0] ? why : tally_strerror(rc), NULL);
}

/* eth_call, or with estimate eth_estimateGas. */
static void run_call(struct node *n, struct rpc_req *req, const cJSON *params, int estimate)
{
    struct exec_call c;
    uint8_t *buf;
    if (call_param(n, req, param(params, 0), &c, &buf)) return;
    if (latest_only(n, req, param(params, 1))) {
        free(buf);
        return;
    }
    struct block_env env;
    struct exec_call_result r;
    char why[256];
    uint64_t gas = 0;
    struct state *st = ledger_state(n->ledger);
    ledger_call_env(n->ledger, &env, clock_wall_ms());
    int rc = estimate ? exec_estimate_gas(st, &r, &gas, &c, &env, &n->rules, why, sizeof why)
                      : exec_call(st, &r, &c, &env, &n->rules, why, sizeof why);
    free(buf);
    if (rc)
        reply_call_error(req, rc, why);
    else if (!r.status)
        reply_failed(req, &r);
    else
        rpc_reply_result(req, estimate ? j_qty(gas) : j_hex(r.output, r.output_len));
    if (!rc) free(r.output);
}

static void m_call(void *ctx, struct rpc_req *req, const cJSON *params)
{
    run_call(ctx, req, params, 0);
}

static void m_estimate_gas(void *ctx, struct rpc_req *req, const cJSON *params)
{
    run_call(ctx, req, params, 1);
}

static void m_get_code(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint8_t addr[20];
    struct account a;
    const uint8_t *code;
    size_t len;
    if (param_bytes(params, 0, addr, 20)) {
        bad_params(req, "expected [address, block]: address must be 0x + 40 hex digits");
        return;
    }
    if (latest_only(n, req, param(params, 1))) return;
    struct state *st = ledger_state(n->ledger);
    int rc = state_get_committed(st, &a, addr);
    if (!rc) rc = state_get_code(st, a.code_hash, &code, &len);
    if (rc) {
        rpc_reply_error(req, RPC_INTERNAL_ERROR, tally_strerror(rc), NULL);
        return;
    }
    rpc_reply_result(req, j_hex(code, len));
}

static void m_get_storage_at(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint8_t addr[20], slot[32], val[32];
    const cJSON *k = param(params, 1);
    u256 key;
    if (param_bytes(params, 0, addr, 20) || !cJSON_IsString(k) || hex_u256(&key, k->valuestring)) {
        bad_params(req, "expected [address, slot, block]: slot is a 0x quantity below 2^256");
        return;
    }
    if (latest_only(n, req, param(params, 2))) return;
    u256_to_be32(slot, &key);
    int rc = state_get_committed_slot(ledger_state(n->ledger), val, addr, slot);
    if (rc) {
        rpc_reply_error(req, RPC_INTERNAL_ERROR, tally_strerror(rc), NULL);
        return;
    }
    rpc_reply_result(req, j_hex(val, 32));
}

/* ---- log filters ---- */

struct log_filter {
    uint8_t (*addrs)[20];
    size_t naddrs; /* 0: any address */
    /* topics[i]: alternatives for position i (ntopic[i] == 0: any) */
    uint8_t topics[4][FILTER_MAX_OR][32];
    size_t ntopic[4];
};

static void filter_free(struct log_filter *f)
{
    free(f->addrs);
    f->addrs = NULL;
}

/* address (string or array) and topics ([null | hash | [hash...]]...) of a
 * filter object. Returns NULL or the reason it is malformed. */
static const char *filter_parse(struct log_filter *f, const cJSON *o)
{
    memset(f, 0, sizeof *f);
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(o, "address");
    const cJSON *topics = cJSON_GetObjectItemCaseSensitive(o, "topics");
    if (addr && !cJSON_IsNull(addr)) {
        int arr = cJSON_IsArray(addr);
        size_t cnt = arr ? (size_t)cJSON_GetArraySize(addr) : 1;
        if (cnt > FILTER_MAX_ADDRS) return "address: at most 64 addresses";
        f->addrs = malloc((cnt ? cnt : 1) * 20);
        if (!f->addrs) return "out of memory";
        for (size_t i = 0; i < cnt; i++) {
            const cJSON *a = arr ? cJSON_GetArrayItem(addr, (int)i) : addr;
            if (!cJSON_IsString(a) || hex_decode_fixed(f->addrs[i], 20, a->valuestring))
                return "address: expected 0x + 40 hex digits, or an array of them";
        }
        f->naddrs = cnt;
        if (!cnt) { /* [] matches nothing in geth; here: any address */
            free(f->addrs);
            f->addrs = NULL;
        }
    }
    if (topics && !cJSON_IsNull(topics)) {
        if (!cJSON_IsArray(topics) || cJSON_GetArraySize(topics) > 4)
            return "topics: expected an array of at most 4 entries";
        for (int i = 0; i < cJSON_GetArraySize(topics); i++) {
            const cJSON *t = cJSON_GetArrayItem(topics, i);
            if (cJSON_IsNull(t)) continue;
            int arr = cJSON_IsArray(t);
            size_t cnt = arr ? (size_t)cJSON_GetArraySize(t) : 1;
            if (cnt > FILTER_MAX_OR) return "topics: at most 16 alternatives per position";
            for (size_t k = 0; k < cnt; k++) {
                const cJSON *h = arr ? cJSON_GetArrayItem(t, (int)k) : t;
                if (!cJSON_IsString(h) || hex_decode_fixed(f->topics[i][k], 32, h->valuestring))
                    return "topics: each entry is null, a 0x + 64 hex digit hash, or an array of "
                           "them";
            }
            f->ntopic[i] = cnt;
        }
    }
    return NULL;
}

static int filter_match(const struct log_filter *f, const struct receipt_log *l)
{
    if (f->naddrs) {
        size_t i = 0;
        while (i < f->naddrs && memcmp(f->addrs[i], l->addr, 20)) i++;
        if (i == f->naddrs) return 0;
    }
    for (int p = 0; p < 4; p++) {
        if (!f->ntopic[p]) continue;
        if (p >= l->ntopics) return 0;
        size_t k = 0;
        while (k < f->ntopic[p] && memcmp(f->topics[p][k], l->topics[p], 32)) k++;
        if (k == f->ntopic[p]) return 0;
    }
    return 1;
}

/* Append the logs of block b matching f to out; -1 past max. */
static int block_logs(struct node *n, const struct block *b, const struct log_filter *f, cJSON *out,
                      size_t *count, size_t max)
{
    if (!may_have_logs(b)) return 0;
    struct receipt *r;
    int owned, full = 0;
    if (block_receipts(n, b, &r, &owned)) return 0;
    for (size_t i = 0; i < b->ntx && !full; i++) {
        for (uint32_t k = 0; k < r[i].nlogs && !full; k++) {
            if (!filter_match(f, &r[i].logs[k])) continue;
            if (++*count > max) {
                full = 1;
                break;
            }
            /* One log: a receipt view of just it, at its index. */
            struct receipt one = r[i];
            one.logs = &r[i].logs[k];
            one.nlogs = 1;
            one.first_log = r[i].first_log + k;
            cJSON *a = logs_json(b, i, &one);
            cJSON_AddItemToArray(out, cJSON_DetachItemFromArray(a, 0));
            cJSON_Delete(a);
        }
    }
    if (owned) receipts_free(r, b->ntx);
    return full ? -1 : 0;
}

static void m_get_logs(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    const cJSON *o = param(params, 0);
    if (!cJSON_IsObject(o)) {
        bad_params(req, "expected [{fromBlock, toBlock, address, topics}] or [{blockHash, ...}]");
        return;
    }
    struct log_filter f;
    const char *bad = filter_parse(&f, o);
    if (bad) {
        filter_free(&f);
        bad_params(req, bad);
        return;
    }
    uint64_t from, to, head = ledger_height(n->ledger);
    const cJSON *bh = cJSON_GetObjectItemCaseSensitive(o, "blockHash");
    if (bh && !cJSON_IsNull(bh)) {
        uint8_t hash[32];
        struct store_txn *t;
        if (!cJSON_IsString(bh) || hex_decode_fixed(hash, 32, bh->valuestring)) {
            filter_free(&f);
            bad_params(req, "blockHash: expected 0x + 64 hex digits");
            return;
        }
        int rc = store_txn_begin(n->store, &t, 0);
        if (!rc) {
            rc = chainstore_height_of(t, &from, hash);
            store_txn_abort(t);
        }
        if (rc) {
            filter_free(&f);
            rpc_reply_error(req, RPC_SERVER_ERROR, "unknown block", NULL);
            return;
        }
        to = from;
    } else {
        const cJSON *fb = cJSON_GetObjectItemCaseSensitive(o, "fromBlock");
        const cJSON *tb = cJSON_GetObjectItemCaseSensitive(o, "toBlock");
        if (block_tag(n, fb, &from) || block_tag(n, tb, &to)) {
            filter_free(&f);
            bad_params(req, "fromBlock/toBlock: a tag or a 0x height");
            return;
        }
    }
    if (to > head) to = head;
    if (from > to) {
        filter_free(&f);
        rpc_reply_result(req, cJSON_CreateArray());
        return;
    }
    if (to - from >= GETLOGS_MAX_RANGE) {
        filter_free(&f);
        char msg[128];
        snprintf(msg, sizeof msg, "block range too large: at most %d blocks per query",
                 GETLOGS_MAX_RANGE);
        rpc_reply_error(req, RPC_LIMIT_EXCEEDED, msg, NULL);
        return;
    }
    cJSON *out = cJSON_CreateArray();
    size_t count = 0;
    int over = 0;
    for (uint64_t h = from; h <= to && !over; h++) {
        struct block *b;
        int owned;
        if (node_block_at(n, &b, &owned, h)) break;
        over = block_logs(n, b, &f, out, &count, GETLOGS_MAX_LOGS) < 0;
        if (owned) block_free(b);
    }
    filter_free(&f);
    if (over) {
        cJSON_Delete(out);
        char msg[128];
        snprintf(msg, sizeof msg, "more than %d logs match: narrow the block range or the filter",
                 GETLOGS_MAX_LOGS);
        rpc_reply_error(req, RPC_LIMIT_EXCEEDED, msg, NULL);
        return;
    }
    rpc_reply_result(req, out);
}

/* ---- subscriptions ---- */

enum { SUB_HEADS, SUB_LOGS };

struct node_sub {
    struct node_sub *next;
    uint64_t conn;
    uint64_t id;
    int kind;
    struct log_filter f; /* SUB_LOGS */
};

static void sub_id_hex(char out[19], uint64_t id)
{
    static const char hx[] = "0123456789abcdef";
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 16; i++) out[2 + i] = hx[(id >> (60 - 4 * i)) & 15];
    out[18] = '\0';
}

static void sub_free(struct node_sub *s)
{
    filter_free(&s->f);
    free(s);
}

static void m_subscribe(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    const cJSON *kind = param(params, 0);
    if (!rpc_req_is_ws(req)) {
        rpc_reply_error(req, RPC_METHOD_NOT_FOUND,
                        "eth_subscribe needs the WebSocket endpoint (ws://host:port/)", NULL);
        return;
    }
    if (!cJSON_IsString(kind) ||
        (strcmp(kind->valuestring, "newHeads") && strcmp(kind->valuestring, "logs"))) {
        bad_params(req, "expected [\"newHeads\"] or [\"logs\", {address, topics}]");
        return;
    }
    size_t mine = 0, all = 0;
    uint64_t conn = rpc_req_conn_id(req);
    for (struct node_sub *s = n->subs; s; s = s->next, all++) mine += s->conn == conn;
    if (mine >= SUBS_PER_CONN || all >= SUBS_MAX) {
        rpc_reply_error(req, RPC_LIMIT_EXCEEDED, "too many subscriptions", NULL);
        return;
    }
    struct node_sub *s = calloc(1, sizeof *s);
    if (!s) {
        rpc_reply_error(req, RPC_INTERNAL_ERROR, "out of memory", NULL);
        return;
    }
    s->conn = conn;
    s->kind = strcmp(kind->valuestring, "logs") ? SUB_HEADS : SUB_LOGS;
    if (s->kind == SUB_LOGS) {
        const cJSON *o = param(params, 1);
        const char *bad = o && !cJSON_IsObject(o) ? "logs: the filter must be an object"
                          : o                     ? filter_parse(&s->f, o)
                                                  : NULL;
        if (bad) {
            sub_free(s);
            bad_params(req, bad);
            return;
        }
    }
    s->id = ++n->sub_seq ^ (n->started_ms << 24);
    s->next = n->subs;
    n->subs = s;
    char id[19];
    sub_id_hex(id, s->id);
    rpc_reply_result(req, cJSON_CreateString(id));
}

static void m_unsubscribe(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    const cJSON *p = param(params, 0);
    uint64_t id;
    if (!cJSON_IsString(p) || hex_quantity_u64(&id, p->valuestring)) {
        bad_params(req, "expected [subscription id]");
        return;
    }
    uint64_t conn = rpc_req_conn_id(req);
    for (struct node_sub **pp = &n->subs; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id && (*pp)->conn == conn) {
            struct node_sub *s = *pp;
            *pp = s->next;
            sub_free(s);
            rpc_reply_result(req, cJSON_CreateTrue());
            return;
        }
    }
    rpc_reply_result(req, cJSON_CreateFalse());
}

static void on_ws_close(void *ctx, uint64_t conn)
{
    struct node *n = ctx;
    for (struct node_sub **pp = &n->subs; *pp;) {
        struct node_sub *s = *pp;
        if (s->conn == conn) {
            *pp = s->next;
            sub_free(s);
        } else {
            pp = &s->next;
        }
    }
}

/* Send {"jsonrpc":"2.0","method":"eth_subscription","params":{subscription,
 * result}} to s's connection (takes result). 0, or -1 when the connection
 * is gone. */
static int notify(struct node *n, const struct node_sub *s, cJSON *result)
{
    cJSON *o = cJSON_CreateObject();
    char id[19];
    sub_id_hex(id, s->id);
    cJSON_AddStringToObject(o, "jsonrpc", "2.0");
    cJSON_AddStringToObject(o, "method", "eth_subscription");
    cJSON *p = cJSON_AddObjectToObject(o, "params");
    cJSON_AddStringToObject(p, "subscription", id);
    cJSON_AddItemToObject(p, "result", result);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) return 0;
    int rc = rpc_ws_send(n->rpc, s->conn, text, strlen(text));
    free(text);
    return rc == TALLY_ENOTFOUND || rc == TALLY_EFULL ? -1 : 0;
}

/* A newHeads notification: the header, as eth_getBlockByNumber shows it,
 * and the number of transactions. */
static cJSON *head_json(const struct block *b, const uint8_t bloom[256])
{
    cJSON *o = header_json(b, bloom);
    cJSON_AddItemToObject(o, "transactionCount", j_qty(b->ntx));
    return o;
}

void node_api_block_committed(struct node *n, const struct block *b, const struct receipt *rcpts)
{
    if (!n->subs) return;
    uint8_t bloom[256] = {0};
    int logs = may_have_logs(b);
    for (size_t i = 0; logs && i < b->ntx; i++) receipt_bloom(bloom, &rcpts[i]);
    for (struct node_sub **pp = &n->subs; *pp;) {
        struct node_sub *s = *pp;
        int gone = 0;
        if (s->kind == SUB_HEADS) {
            gone = notify(n, s, head_json(b, bloom));
        } else {
            for (size_t i = 0; logs && i < b->ntx && !gone; i++) {
                for (uint32_t k = 0; k < rcpts[i].nlogs && !gone; k++) {
                    if (!filter_match(&s->f, &rcpts[i].logs[k])) continue;
                    struct receipt one = rcpts[i];
                    one.logs = &rcpts[i].logs[k];
                    one.nlogs = 1;
                    one.first_log = rcpts[i].first_log + k;
                    cJSON *a = logs_json(b, i, &one);
                    gone = notify(n, s, cJSON_DetachItemFromArray(a, 0));
                    cJSON_Delete(a);
                }
            }
        }
        if (gone) {
            *pp = s->next;
            sub_free(s);
        } else {
            pp = &s->next;
        }
    }
}

void node_api_close(struct node *n)
{
    while (n->subs) {
        struct node_sub *s = n->subs;
        n->subs = s->next;
        sub_free(s);
    }
}

int node_api_evm_register(struct node *n)
{
    static const struct api_method methods[] = {
        {"eth_call", m_call},
        {"eth_estimateGas", m_estimate_gas},
        {"eth_getCode", m_get_code},
        {"eth_getStorageAt", m_get_storage_at},
        {"eth_getLogs", m_get_logs},
        {"eth_subscribe", m_subscribe},
        {"eth_unsubscribe", m_unsubscribe},
    };
    rpc_set_ws_close(n->rpc, on_ws_close);
    return api_register_methods(n, methods, sizeof methods / sizeof methods[0]);
}
