/* JSON-RPC methods (Ethereum eth_/net_/web3_ and Tally's tally_) and the
 * teaching ledger's WebSocket ops, over the node's state. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "node/api_int.h"
#include "node/node_int.h"
#include "crypto/keccak.h"
#include "store/chainstore.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/log.h"

#define CLIENT_VERSION "Tally/v0.1.0/linux/c11"
#define WS_BLOCKS_MAX  100 /* blocks per "blocks" op answer */
#define POOL_LIST_MAX  10000

/* ---- JSON helpers ---- */

cJSON *j_hex(const uint8_t *p, size_t len)
{
    char small[256];
    char *s = len * 2 + 3 <= sizeof small ? small : malloc(len * 2 + 3);
    if (!s) return cJSON_CreateNull();
    hex_encode(s, p, len);
    cJSON *j = cJSON_CreateString(s);
    if (s != small) free(s);
    return j;
}

cJSON *j_qty(uint64_t v)
{
    char s[24];
    hex_quantity_from_u64(s, v);
    return cJSON_CreateString(s);
}

cJSON *j_u256(const u256 *v)
{
    char s[70];
    u256_to_hex(s, v);
    return cJSON_CreateString(s);
}

const cJSON *param(const cJSON *params, int i)
{
    return cJSON_IsArray(params) ? cJSON_GetArrayItem(params, i) : NULL;
}

int param_bytes(const cJSON *params, int i, uint8_t *out, size_t n)
{
    const cJSON *p = param(params, i);
    return cJSON_IsString(p) && !hex_decode_fixed(out, n, p->valuestring) ? 0 : -1;
}

void bad_params(struct rpc_req *req, const char *msg)
{
    rpc_reply_error(req, RPC_INVALID_PARAMS, msg, NULL);
}

/* "latest" | "pending" | "safe" | "finalized" | "earliest" | quantity -> height.
 * A missing tag means latest. Returns -1 on a malformed tag. */
int block_tag(struct node *n, const cJSON *tag, uint64_t *height)
{
    uint64_t head = ledger_height(n->ledger);
    if (!tag || cJSON_IsNull(tag)) {
        *height = head;
        return 0;
    }
    if (!cJSON_IsString(tag)) return -1;
    const char *s = tag->valuestring;
    if (!strcmp(s, "latest") || !strcmp(s, "pending") || !strcmp(s, "safe") ||
        !strcmp(s, "finalized")) {
        *height = head;
        return 0;
    }
    if (!strcmp(s, "earliest")) {
        *height = 0;
        return 0;
    }
    return hex_quantity_u64(height, s) ? -1 : 0;
}

/* ---- transactions, receipts, blocks as JSON ---- */

static void add_tx_fields(cJSON *o, const struct tx *tx)
{
    cJSON_AddItemToObject(o, "hash", j_hex(tx->hash, 32));
    cJSON_AddItemToObject(o, "type", j_qty(tx->type));
    cJSON_AddItemToObject(o, "from", j_hex(tx->sender, 20));
    cJSON_AddItemToObject(o, "to", tx->has_to ? j_hex(tx->to, 20) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "nonce", j_qty(tx->nonce));
    cJSON_AddItemToObject(o, "value", j_u256(&tx->value));
    cJSON_AddItemToObject(o, "gas", j_qty(tx->gas_limit));
    cJSON_AddItemToObject(o, "gasPrice", j_u256(&tx->gas_price));
    if (tx->type == TX_DYNAMIC_FEE) {
        cJSON_AddItemToObject(o, "maxFeePerGas", j_u256(&tx->max_fee));
        cJSON_AddItemToObject(o, "maxPriorityFeePerGas", j_u256(&tx->max_priority_fee));
    }
    cJSON_AddItemToObject(o, "input", j_hex(tx->data, tx->data_len));
    if (tx->has_chain_id) cJSON_AddItemToObject(o, "chainId", j_qty(tx->chain_id));
    if (tx->type != TX_LEGACY) {
        cJSON_AddItemToObject(o, "accessList", cJSON_CreateArray()); /* TODO with the EVM */
        cJSON_AddItemToObject(o, "yParity", j_qty((uint64_t)tx->recid));
        cJSON_AddItemToObject(o, "v", j_qty((uint64_t)tx->recid));
    } else {
        uint64_t v = tx->has_chain_id ? tx->chain_id * 2 + 35 + (uint64_t)tx->recid
                                      : 27 + (uint64_t)tx->recid;
        cJSON_AddItemToObject(o, "v", j_qty(v));
    }
    u256 r, s;
    if (u256_from_be(&r, tx->sig, 32) || u256_from_be(&s, tx->sig + 32, 32)) return;
    cJSON_AddItemToObject(o, "r", j_u256(&r));
    cJSON_AddItemToObject(o, "s", j_u256(&s));
}

static cJSON *tx_json(const struct tx *tx, const struct block *b, size_t index)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "blockHash", b ? j_hex(b->hash, 32) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "blockNumber", b ? j_qty(b->h.height) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "transactionIndex", b ? j_qty(index) : cJSON_CreateNull());
    add_tx_fields(o, tx);
    return o;
}

static cJSON *receipt_json(struct node *n, const struct block *b, size_t index,
                           const struct receipt *r)
{
    const struct tx *tx = b->txs[index];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "transactionHash", j_hex(tx->hash, 32));
    cJSON_AddItemToObject(o, "transactionIndex", j_qty(index));
    cJSON_AddItemToObject(o, "blockHash", j_hex(b->hash, 32));
    cJSON_AddItemToObject(o, "blockNumber", j_qty(b->h.height));
    cJSON_AddItemToObject(o, "from", j_hex(tx->sender, 20));
    cJSON_AddItemToObject(o, "to", tx->has_to ? j_hex(tx->to, 20) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "cumulativeGasUsed", j_qty(r->cumulative_gas));
    cJSON_AddItemToObject(o, "gasUsed", j_qty(r->gas_used));
    u256 price;
    tx_effective_gas_price(&price, tx, &b->h.base_fee);
    cJSON_AddItemToObject(o, "effectiveGasPrice", j_u256(&price));
    cJSON_AddItemToObject(o, "contractAddress",
                          r->has_contract ? j_hex(r->contract, 20) : cJSON_CreateNull());
    uint8_t bloom[256] = {0};
    receipt_bloom(bloom, r);
    cJSON_AddItemToObject(o, "logs", logs_json(b, index, r));
    cJSON_AddItemToObject(o, "logsBloom", j_hex(bloom, 256));
    cJSON_AddItemToObject(o, "type", j_qty(tx->type));
    cJSON_AddItemToObject(o, "status", j_qty(r->status));
    if (r->reason[0]) cJSON_AddStringToObject(o, "error", r->reason);
    (void)n;
    return o;
}

static const uint8_t empty_uncles[32] = {
    0x1d, 0xcc, 0x4d, 0xe8, 0xde, 0xc7, 0x5d, 0x7a, 0xab, 0x85, 0xb5, 0x67, 0xb6, 0xcc, 0xd4, 0x1a,
    0xd3, 0x12, 0x45, 0x1b, 0x94, 0x8a, 0x74, 0x13, 0xf0, 0xa1, 0x42, 0xfd, 0x40, 0xd4, 0x93, 0x47};

cJSON *header_json(const struct block *b, const uint8_t bloom[256])
{
    static const uint8_t zero8[8], zero32[32];
    cJSON *o = cJSON_CreateObject();
    const struct block_header *h = &b->h;
    cJSON_AddItemToObject(o, "number", j_qty(h->height));
    cJSON_AddItemToObject(o, "hash", j_hex(b->hash, 32));
    cJSON_AddItemToObject(o, "parentHash", j_hex(h->parent_hash, 32));
    cJSON_AddItemToObject(o, "nonce", j_hex(zero8, 8));
    cJSON_AddItemToObject(o, "mixHash", j_hex(zero32, 32));
    cJSON_AddItemToObject(o, "sha3Uncles", j_hex(empty_uncles, 32));
    cJSON_AddItemToObject(o, "logsBloom", j_hex(bloom, 256));
    cJSON_AddItemToObject(o, "transactionsRoot", j_hex(h->tx_root, 32));
    cJSON_AddItemToObject(o, "stateRoot", j_hex(h->state_root, 32));
    cJSON_AddItemToObject(o, "receiptsRoot", j_hex(h->receipts_root, 32));
    cJSON_AddItemToObject(o, "miner", j_hex(h->proposer, 20));
    cJSON_AddItemToObject(o, "difficulty", j_qty(0));
    cJSON_AddItemToObject(o, "totalDifficulty", j_qty(0));
    cJSON_AddItemToObject(o, "extraData", j_hex(NULL, 0));
    cJSON_AddItemToObject(o, "gasLimit", j_qty(h->gas_limit));
    cJSON_AddItemToObject(o, "gasUsed", j_qty(h->gas_used));
    cJSON_AddItemToObject(o, "timestamp", j_qty(h->timestamp_ms / 1000));
    cJSON_AddItemToObject(o, "timestampMs", j_qty(h->timestamp_ms));
    cJSON_AddItemToObject(o, "baseFeePerGas", j_u256(&h->base_fee));
    cJSON_AddItemToObject(o, "view", j_qty(h->view));
    cJSON_AddItemToObject(o, "commitCertificate", j_hex(b->cert, b->cert_len));
    cJSON_AddItemToObject(o, "transactionCount", j_qty(b->ntx));
    /* who signed the certificate (validator indexes), for display */
    uint32_t idx[PBFT_MAX_VALIDATORS];
    uint64_t view;
    size_t ns = 0;
    cJSON *signers = cJSON_AddArrayToObject(o, "commitSigners");
    if (b->cert_len &&
        !pbft_cert_signers(b->cert, b->cert_len, &view, idx, PBFT_MAX_VALIDATORS, &ns))
        for (size_t i = 0; i < ns; i++) cJSON_AddItemToArray(signers, cJSON_CreateNumber(idx[i]));
    return o;
}

static cJSON *block_json(const struct block *b, int full, const uint8_t bloom[256])
{
    cJSON *o = header_json(b, bloom);
    size_t size = 600;
    for (size_t i = 0; i < b->ntx; i++) size += b->txs[i]->raw_len + 4;
    cJSON_AddItemToObject(o, "size", j_qty(size));
    cJSON *txs = cJSON_AddArrayToObject(o, "transactions");
    for (size_t i = 0; i < b->ntx; i++)
        cJSON_AddItemToArray(txs, full ? tx_json(b->txs[i], b, i) : j_hex(b->txs[i]->hash, 32));
    cJSON_AddItemToObject(o, "uncles", cJSON_CreateArray());
    return o;
}

/* Teaching-ledger view of a transaction: hash, sender, receiver, amount, nonce, raw. */
static cJSON *ledger_tx_json(const struct tx *tx)
{
    cJSON *o = cJSON_CreateObject();
    char amount[80];
    u256_to_dec(amount, &tx->value);
    cJSON_AddItemToObject(o, "hash", j_hex(tx->hash, 32));
    cJSON_AddItemToObject(o, "sender", j_hex(tx->sender, 20));
    cJSON_AddItemToObject(o, "receiver", tx->has_to ? j_hex(tx->to, 20) : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "amount", amount);
    cJSON_AddNumberToObject(o, "nonce", (double)tx->nonce);
    cJSON_AddItemToObject(o, "raw", j_hex(tx->raw, tx->raw_len));
    return o;
}

/* ---- lookups ---- */

/* Find a committed transaction: block (borrowed or owned) and index. */
static int find_tx(struct node *n, const uint8_t hash[32], struct block **b, int *owned,
                   uint32_t *index, struct receipt *rcpt)
{
    struct store_txn *t;
    uint64_t height;
    int rc = store_txn_begin(n->store, &t, 0);
    if (rc) return rc;
    rc = ledger_tx_loc(n->ledger, t, &height, index, hash);
    if (!rc && rcpt) {
        struct recent_block *r = &n->recent[height % NODE_RECENT_BLOCKS];
        if (r->b && r->b->h.height == height && *index < r->b->ntx)
            rc = receipt_copy(rcpt, &r->rcpts[*index]);
        else
            rc = chainstore_receipt(t, rcpt, height, *index);
    }
    store_txn_abort(t);
    if (rc) return rc;
    rc = node_block_at(n, b, owned, height);
    if (!rc && *index >= (*b)->ntx) {
        if (*owned) block_free(*b);
        rc = TALLY_ENOTFOUND;
    }
    if (rc && rcpt) receipt_clear(rcpt);
    return rc;
}

/* ---- methods ---- */

static void m_chain_id(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    rpc_reply_result(req, j_qty(n->rules.chain_id));
}

static void m_net_version(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)n->rules.chain_id);
    rpc_reply_result(req, cJSON_CreateString(s));
}

static void m_client_version(void *ctx, struct rpc_req *req, const cJSON *params)
{
    rpc_reply_result(req, cJSON_CreateString(CLIENT_VERSION));
}

static void m_block_number(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    rpc_reply_result(req, j_qty(ledger_height(n->ledger)));
}

static void m_zero(void *ctx, struct rpc_req *req, const cJSON *params)
{
    rpc_reply_result(req, j_qty(0));
}

static void m_gas_price(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    rpc_reply_result(req, j_u256(&n->rules.base_fee));
}

static void m_true(void *ctx, struct rpc_req *req, const cJSON *params)
{
    rpc_reply_result(req, cJSON_CreateTrue());
}

static void m_empty_list(void *ctx, struct rpc_req *req, const cJSON *params)
{
    rpc_reply_result(req, cJSON_CreateArray());
}

int latest_only(struct node *n, struct rpc_req *req, const cJSON *tag)
{
    uint64_t h;
    if (block_tag(n, tag, &h)) {
        bad_params(req, "invalid block tag: use \"latest\", \"pending\" or a 0x height");
        return -1;
    }
    if (h != ledger_height(n->ledger)) {
        rpc_reply_error(req, RPC_SERVER_ERROR,
                        "historical state is not available: only the latest block is served", NULL);
        return -1;
    }
    return 0;
}

/* Account queries serve the latest committed state only. */
static int account_param(struct node *n, struct rpc_req *req, const cJSON *params, uint8_t addr[20],
                         struct account *acc)
{
    if (param_bytes(params, 0, addr, 20)) {
        bad_params(req, "expected [address, block]: address must be 0x + 40 hex digits");
        return -1;
    }
    if (latest_only(n, req, param(params, 1))) return -1;
    int rc = state_get_committed(ledger_state(n->ledger), acc, addr);
    if (rc) {
        rpc_reply_error(req, RPC_INTERNAL_ERROR, tally_strerror(rc), NULL);
        return -1;
    }
    return 0;
}

static void m_get_balance(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint8_t addr[20];
    struct account acc;
    if (account_param(n, req, params, addr, &acc)) return;
    rpc_reply_result(req, j_u256(&acc.balance));
}

static void m_get_tx_count(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint8_t addr[20];
    struct account acc;
    const cJSON *tag = param(params, 1);
    int pending = cJSON_IsString(tag) && !strcmp(tag->valuestring, "pending");
    if (account_param(n, req, params, addr, &acc)) return;
    uint64_t nonce = pending ? pool_pending_nonce(n->pool, addr, acc.nonce) : acc.nonce;
    rpc_reply_result(req, j_qty(nonce));
}

static void m_send_raw(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    const cJSON *p = param(params, 0);
    if (!cJSON_IsString(p)) {
        bad_params(req, "expected [\"0x...\"]: the signed transaction as hex");
        return;
    }
    node_submit_raw(n, req, NULL, 0, p->valuestring);
}

static void m_get_tx(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint8_t hash[32];
    if (param_bytes(params, 0, hash, 32)) {
        bad_params(req, "expected [hash]: 0x + 64 hex digits");
        return;
    }
    struct tx *ptx = pool_find(n->pool, hash);
    if (ptx) {
        rpc_reply_result(req, tx_json(ptx, NULL, 0));
        return;
    }
    struct block *b;
    int owned;
    uint32_t idx;
    if (find_tx(n, hash, &b, &owned, &idx, NULL)) {
        rpc_reply_result(req, cJSON_CreateNull());
        return;
    }
    rpc_reply_result(req, tx_json(b->txs[idx], b, idx));
    if (owned) block_free(b);
}

static void m_get_receipt(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint8_t hash[32];
    if (param_bytes(params, 0, hash, 32)) {
        bad_params(req, "expected [hash]: 0x + 64 hex digits");
        return;
    }
    struct block *b;
    int owned;
    uint32_t idx;
    struct receipt r;
    if (find_tx(n, hash, &b, &owned, &idx, &r)) {
        rpc_reply_result(req, cJSON_CreateNull());
        return;
    }
    rpc_reply_result(req, receipt_json(n, b, idx, &r));
    receipt_clear(&r);
    if (owned) block_free(b);
}

static void reply_block(struct node *n, struct rpc_req *req, uint64_t height, int full)
{
    struct block *b;
    int owned;
    if (node_block_at(n, &b, &owned, height)) {
        rpc_reply_result(req, cJSON_CreateNull());
        return;
    }
    uint8_t bloom[256];
    block_bloom(n, b, bloom);
    rpc_reply_result(req, block_json(b, full, bloom));
    if (owned) block_free(b);
}

static void m_block_by_number(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint64_t h;
    if (!param(params, 0) || block_tag(n, param(params, 0), &h)) {
        bad_params(req, "expected [block, fullTransactions]: block is a tag or 0x height");
        return;
    }
    reply_block(n, req, h, cJSON_IsTrue(param(params, 1)));
}

static void m_block_by_hash(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint8_t hash[32];
    uint64_t h;
    if (param_bytes(params, 0, hash, 32)) {
        bad_params(req, "expected [hash, fullTransactions]");
        return;
    }
    struct store_txn *t;
    int rc = store_txn_begin(n->store, &t, 0);
    if (!rc) {
        rc = chainstore_height_of(t, &h, hash);
        store_txn_abort(t);
    }
    if (rc) {
        rpc_reply_result(req, cJSON_CreateNull());
        return;
    }
    reply_block(n, req, h, cJSON_IsTrue(param(params, 1)));
}

static void m_block_tx_count(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint64_t h;
    struct block *b;
    int owned;
    if (block_tag(n, param(params, 0), &h)) {
        bad_params(req, "expected [block]");
        return;
    }
    if (node_block_at(n, &b, &owned, h)) {
        rpc_reply_result(req, cJSON_CreateNull());
        return;
    }
    rpc_reply_result(req, j_qty(b->ntx));
    if (owned) block_free(b);
}

static size_t connected_peers(struct node *n)
{
    if (!n->net) return 0;
    struct net_peer_info info[PBFT_MAX_VALIDATORS];
    size_t cnt = net_peers(n->net, info, PBFT_MAX_VALIDATORS), up = 0;
    for (size_t i = 0; i < cnt && i < PBFT_MAX_VALIDATORS; i++) up += info[i].connected;
    return up;
}

static cJSON *status_json(struct node *n)
{
    cJSON *o = cJSON_CreateObject();
    uint8_t head[32];
    ledger_head_hash(n->ledger, head);
    cJSON_AddStringToObject(o, "name", n->cfg.name);
    cJSON_AddNumberToObject(o, "chainId", (double)n->rules.chain_id);
    cJSON_AddNumberToObject(o, "height", (double)ledger_height(n->ledger));
    cJSON_AddItemToObject(o, "headHash", j_hex(head, 32));
    cJSON_AddNumberToObject(o, "headTimestampMs", (double)ledger_head_timestamp(n->ledger));
    cJSON_AddNumberToObject(o, "txCount", (double)n->committed_txs);
    cJSON_AddNumberToObject(o, "poolSize", (double)pool_count(n->pool));
    cJSON_AddNumberToObject(o, "poolCapacity", (double)n->cfg.pool_capacity);
    cJSON_AddNumberToObject(o, "peers", (double)connected_peers(n));
    cJSON_AddNumberToObject(o, "gossipSignatureBatches", (double)n->hint_batches);
    cJSON_AddNumberToObject(o, "gossipSignatureBatchesFailed", (double)n->hint_fallbacks);
    if (n->pbft) {
        cJSON_AddNumberToObject(o, "view", (double)pbft_view(n->pbft));
        cJSON_AddNumberToObject(o, "validators", (double)n->nvals);
    }
    cJSON_AddItemToObject(o, "nodeId", j_hex(n->id, 32));
    cJSON_AddItemToObject(o, "address", j_hex(n->address, 20));
    cJSON_AddNumberToObject(o, "uptimeMs", (double)(clock_wall_ms() - n->started_ms));
    cJSON_AddNumberToObject(o, "timeMs", (double)clock_wall_ms()); /* the node's clock */
    cJSON_AddStringToObject(o, "version", CLIENT_VERSION);
    return o;
}

static void m_tally_status(void *ctx, struct rpc_req *req, const cJSON *params)
{
    rpc_reply_result(req, status_json(ctx));
}

static cJSON *pool_json(struct node *n, size_t max)
{
    size_t cnt = pool_count(n->pool);
    if (cnt > max) cnt = max;
    struct tx **txs = malloc((cnt ? cnt : 1) * sizeof *txs);
    cJSON *arr = cJSON_CreateArray();
    if (!txs) return arr;
    cnt = pool_list(n->pool, txs, cnt);
    for (size_t i = 0; i < cnt; i++) cJSON_AddItemToArray(arr, ledger_tx_json(txs[i]));
    free(txs);
    return arr;
}

static void m_tally_pool(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)pool_count(n->pool));
    cJSON_AddItemToObject(o, "pool", pool_json(n, POOL_LIST_MAX));
    rpc_reply_result(req, o);
}

const char *validator_name(struct node *n, const uint8_t id[32])
{
    for (size_t i = 0; i < n->genesis.nvalidators; i++)
        if (!memcmp(n->genesis.validators[i], id, 32)) return n->genesis.validator_names[i];
    return "";
}

/* The other validators as the transport sees them. */
static cJSON *peers_json(struct node *n)
{
    cJSON *arr = cJSON_CreateArray();
    if (!n->net) return arr;
    struct net_peer_info info[PBFT_MAX_VALIDATORS];
    size_t cnt = net_peers(n->net, info, PBFT_MAX_VALIDATORS);
    for (size_t i = 0; i < cnt && i < PBFT_MAX_VALIDATORS; i++) {
        const struct net_peer_info *p = &info[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "id", j_hex(p->id, 32));
        cJSON_AddStringToObject(o, "name", validator_name(n, p->id));
        cJSON_AddStringToObject(o, "address", p->addr);
        cJSON_AddBoolToObject(o, "connected", p->connected);
        cJSON_AddStringToObject(o, "direction", p->outbound ? "outbound" : "inbound");
        cJSON_AddNumberToObject(o, "bytesIn", (double)p->bytes_in);
        cJSON_AddNumberToObject(o, "bytesOut", (double)p->bytes_out);
        cJSON_AddNumberToObject(o, "framesIn", (double)p->frames_in);
        cJSON_AddNumberToObject(o, "framesOut", (double)p->frames_out);
        cJSON_AddNumberToObject(o, "dropped", (double)p->dropped);
        cJSON_AddNumberToObject(o, "queued", (double)p->queued);
        if (n->sync) cJSON_AddNumberToObject(o, "height", (double)sync_peer_height(n->sync, p->id));
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static void m_tally_peers(void *ctx, struct rpc_req *req, const cJSON *params)
{
    rpc_reply_result(req, peers_json(ctx));
}

static void m_net_peer_count(void *ctx, struct rpc_req *req, const cJSON *params)
{
    rpc_reply_result(req, j_qty(connected_peers(ctx)));
}

static void m_tally_consensus(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    if (!n->pbft) {
        rpc_reply_error(req, RPC_SERVER_ERROR, "consensus is not running", NULL);
        return;
    }
    uint64_t h = pbft_height(n->pbft), v = pbft_view(n->pbft);
    uint32_t leader = pbft_leader(n->nvals, h, v);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "algorithm", "pbft");
    cJSON_AddNumberToObject(o, "height", (double)ledger_height(n->ledger));
    cJSON_AddNumberToObject(o, "deciding", (double)h);
    cJSON_AddNumberToObject(o, "view", (double)v);
    cJSON_AddNumberToObject(o, "leaderIndex", leader);
    cJSON_AddStringToObject(o, "leader", validator_name(n, n->val_ids[leader]));
    cJSON_AddItemToObject(o, "leaderId", j_hex(n->val_ids[leader], 32));
    cJSON_AddBoolToObject(o, "isLeader", leader == n->self);
    cJSON_AddBoolToObject(o, "inViewChange", pbft_in_view_change(n->pbft));
    cJSON_AddNumberToObject(o, "validators", n->nvals);
    cJSON_AddNumberToObject(o, "faultsTolerated", pbft_faults(n->nvals));
    cJSON_AddNumberToObject(o, "quorum", pbft_quorum(n->nvals));
    cJSON_AddNumberToObject(o, "selfIndex", n->self);
    cJSON_AddNumberToObject(o, "viewChanges", (double)n->view_changes);
    cJSON_AddNumberToObject(o, "peersConnected", (double)connected_peers(n));
    rpc_reply_result(req, o);
}

static cJSON *sync_json(struct node *n, struct sync_status *ss)
{
    memset(ss, 0, sizeof *ss);
    uint64_t head = ledger_height(n->ledger);
    if (n->sync)
        sync_get_status(n->sync, ss);
    else
        ss->current = ss->target = ss->start = head;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "syncing", ss->active);
    cJSON_AddNumberToObject(o, "startingBlock", (double)ss->start);
    cJSON_AddNumberToObject(o, "currentBlock", (double)ss->current);
    cJSON_AddNumberToObject(o, "highestBlock", (double)ss->target);
    cJSON_AddNumberToObject(o, "peers", (double)ss->peers);
    cJSON_AddNumberToObject(o, "blocksPerSecond", ss->blocks_per_s);
    cJSON_AddNumberToObject(o, "blocksApplied", (double)ss->applied);
    return o;
}

static void m_tally_sync_status(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct sync_status ss;
    rpc_reply_result(req, sync_json(ctx, &ss));
}

/* false, or the Ethereum shape while sync is fetching blocks */
static void m_eth_syncing(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct sync_status ss;
    cJSON *o = sync_json(ctx, &ss);
    cJSON_Delete(o);
    if (!ss.active) {
        rpc_reply_result(req, cJSON_CreateFalse());
        return;
    }
    o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "startingBlock", j_qty(ss.start));
    cJSON_AddItemToObject(o, "currentBlock", j_qty(ss.current));
    cJSON_AddItemToObject(o, "highestBlock", j_qty(ss.target));
    rpc_reply_result(req, o);
}

static void m_tally_tx_status(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint8_t hash[32];
    if (param_bytes(params, 0, hash, 32)) {
        bad_params(req, "expected [hash]: 0x + 64 hex digits");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    struct block *b;
    int owned;
    uint32_t idx;
    struct receipt r;
    const char *why;
    if (pool_find(n->pool, hash)) {
        cJSON_AddStringToObject(o, "status", "pending");
    } else if (!find_tx(n, hash, &b, &owned, &idx, &r)) {
        cJSON_AddStringToObject(o, "status", "committed");
        cJSON_AddNumberToObject(o, "blockNumber", (double)b->h.height);
        cJSON_AddItemToObject(o, "blockHash", j_hex(b->hash, 32));
        cJSON_AddNumberToObject(o, "transactionIndex", idx);
        cJSON_AddBoolToObject(o, "success", r.status == 1);
        if (r.reason[0]) cJSON_AddStringToObject(o, "reason", r.reason);
        receipt_clear(&r);
        if (owned) block_free(b);
    } else if ((why = node_find_dropped(n, hash))) {
        cJSON_AddStringToObject(o, "status", "dropped");
        cJSON_AddStringToObject(o, "reason", why);
    } else {
        cJSON_AddStringToObject(o, "status", "unknown");
    }
    rpc_reply_result(req, o);
}

/* ---- WebSocket ops (the teaching ledger's protocol) ---- */

static void op_pool(void *ctx, struct rpc_req *req, const cJSON *args)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "pool", pool_json(ctx, POOL_LIST_MAX));
    rpc_reply_op(req, 200, NULL, o);
}

static void op_peers(void *ctx, struct rpc_req *req, const cJSON *args)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "peers", peers_json(ctx));
    rpc_reply_op(req, 200, NULL, o);
}

static void op_blocks(void *ctx, struct rpc_req *req, const cJSON *args)
{
    struct node *n = ctx;
    uint64_t start = 0, head = ledger_height(n->ledger);
    const cJSON *s = cJSON_IsObject(args) ? cJSON_GetObjectItemCaseSensitive(args, "start") : NULL;
    if (s && !cJSON_IsNull(s)) {
        if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > 9007199254740991.0 ||
            s->valuedouble != (double)(uint64_t)s->valuedouble) {
            rpc_reply_op(req, 400, "\"start\" must be a non-negative integer height", NULL);
            return;
        }
        start = (uint64_t)s->valuedouble;
    }
    cJSON *arr = cJSON_CreateArray();
    for (uint64_t h = start; h <= head && h < start + WS_BLOCKS_MAX; h++) {
        struct block *b;
        int owned;
        if (node_block_at(n, &b, &owned, h)) break;
        cJSON *bj = cJSON_CreateObject();
        cJSON_AddNumberToObject(bj, "height", (double)b->h.height);
        cJSON_AddItemToObject(bj, "hash", j_hex(b->hash, 32));
        cJSON_AddItemToObject(bj, "parentHash", j_hex(b->h.parent_hash, 32));
        cJSON_AddNumberToObject(bj, "timestampMs", (double)b->h.timestamp_ms);
        cJSON_AddItemToObject(bj, "proposer", j_hex(b->h.proposer, 20));
        cJSON_AddItemToObject(bj, "stateRoot", j_hex(b->h.state_root, 32));
        cJSON *txs = cJSON_AddArrayToObject(bj, "transactions");
        for (size_t i = 0; i < b->ntx; i++) cJSON_AddItemToArray(txs, ledger_tx_json(b->txs[i]));
        cJSON_AddItemToArray(arr, bj);
        if (owned) block_free(b);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "blocks", arr);
    rpc_reply_op(req, 200, NULL, o);
}

static void op_merge(void *ctx, struct rpc_req *req, const cJSON *args)
{
    struct node *n = ctx;
    const cJSON *pool =
        cJSON_IsObject(args) ? cJSON_GetObjectItemCaseSensitive(args, "pool") : NULL;
    if (!pool) {
        rpc_reply_op(req, 500, "Operation \"merge\" requires the following \"args\": \"pool\"",
                     NULL);
        return;
    }
    if (!cJSON_IsArray(pool)) {
        rpc_reply_op(req, 400, "\"pool\" must be an array of transactions", NULL);
        return;
    }
    size_t total = (size_t)cJSON_GetArraySize(pool);
    if (!total) {
        cJSON *resp = cJSON_CreateObject();
        cJSON_AddStringToObject(resp, "message", "Accepted");
        cJSON_AddNumberToObject(resp, "received", 0);
        cJSON_AddNumberToObject(resp, "accepted", 0);
        cJSON_AddItemToObject(resp, "refused", cJSON_CreateArray());
        rpc_reply_op(req, 202, NULL, resp);
        return;
    }
    struct merge_op *m = calloc(1, sizeof *m);
    if (!m) {
        rpc_reply_op(req, 500, "out of memory", NULL);
        return;
    }
    m->req = req;
    m->total = total;
    m->results = cJSON_CreateArray();
    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, pool)
    {
        const cJSON *raw = cJSON_IsObject(item) ? cJSON_GetObjectItemCaseSensitive(item, "raw")
                                                : (cJSON_IsString(item) ? item : NULL);
        node_submit_raw(n, NULL, m, i++,
                        cJSON_IsString(raw) ? raw->valuestring : "missing \"raw\"");
    }
}

int api_register_methods(struct node *n, const struct api_method *m, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (rpc_register_method(n->rpc, m[i].name, m[i].fn)) return TALLY_ENOMEM;
    return 0;
}

int node_api_register(struct node *n)
{
    static const struct api_method methods[] = {
        {"eth_chainId", m_chain_id},
        {"net_version", m_net_version},
        {"web3_clientVersion", m_client_version},
        {"net_listening", m_true},
        {"net_peerCount", m_net_peer_count},
        {"eth_syncing", m_eth_syncing},
        {"eth_accounts", m_empty_list},
        {"eth_blockNumber", m_block_number},
        {"eth_getBalance", m_get_balance},
        {"eth_getTransactionCount", m_get_tx_count},
        {"eth_sendRawTransaction", m_send_raw},
        {"eth_getTransactionByHash", m_get_tx},
        {"eth_getTransactionReceipt", m_get_receipt},
        {"eth_getBlockByNumber", m_block_by_number},
        {"eth_getBlockByHash", m_block_by_hash},
        {"eth_getBlockTransactionCountByNumber", m_block_tx_count},
        {"eth_gasPrice", m_gas_price},
        {"eth_maxPriorityFeePerGas", m_zero},
        {"tally_status", m_tally_status},
        {"tally_pool", m_tally_pool},
        {"tally_peers", m_tally_peers},
        {"tally_consensus", m_tally_consensus},
        {"tally_syncStatus", m_tally_sync_status},
        {"tally_txStatus", m_tally_tx_status},
    };
    static const struct {
        const char *name;
        rpc_op_fn fn;
    } ops[] = {
        {"pool", op_pool},
        {"merge", op_merge},
        {"blocks", op_blocks},
        {"peers", op_peers},
    };
    if (api_register_methods(n, methods, sizeof methods / sizeof methods[0])) return TALLY_ENOMEM;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (rpc_register_op(n->rpc, ops[i].name, ops[i].fn)) return TALLY_ENOMEM;
    int rc = node_api_evm_register(n);
    if (!rc) rc = node_api_explorer_register(n);
    return rc ? rc : node_metrics_register(n);
}
