/* JSON-RPC methods for the block explorer (web/) and `tally status`:
 * compact listings that a browser can ask for without decoding whole blocks
 * (tally_nodes, tally_blocks, tally_latestTxs, tally_accountTxs). Every
 * answer is bounded; see docs/explorer.md. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "node/api_int.h"
#include "crypto/keccak.h"
#include "store/chainstore.h"
#include "util/hex.h"

#define BLOCKS_MAX        1000  /* summaries per tally_blocks */
#define LATEST_TXS_MAX    100   /* transactions per tally_latestTxs and tally_blockTxs */
#define LATEST_SCAN_MAX   1000  /* blocks tally_latestTxs looks through */
#define ACCOUNT_TXS_MAX   100   /* "limit" of tally_accountTxs */
#define ACCOUNT_BLOCK_MAX 1000  /* matches of one block shown in one answer */
#define ACCOUNT_SCAN_TXS  10000 /* transactions decoded per tally_accountTxs call */
#define ACCOUNT_SCAN_MAX  5000  /* blocks read per tally_accountTxs call */

/* An optional non-negative integer parameter (JSON number or 0x quantity)
 * no larger than max; def if absent. -1 if malformed. */
static int param_count(const cJSON *p, uint64_t def, uint64_t max, uint64_t *out)
{
    if (!p || cJSON_IsNull(p)) {
        *out = def;
        return 0;
    }
    uint64_t v;
    if (cJSON_IsNumber(p)) {
        if (p->valuedouble < 0 || p->valuedouble > 9007199254740991.0 ||
            p->valuedouble != (double)(uint64_t)p->valuedouble)
            return -1;
        v = (uint64_t)p->valuedouble;
    } else if (!cJSON_IsString(p) || hex_quantity_u64(&v, p->valuestring)) {
        return -1;
    }
    if (v > max) return -1;
    *out = v;
    return 0;
}

/* ---- tally_nodes (alias tally_validators): the validators as this node
 * sees them ---- */

static void m_tally_nodes(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    struct net_peer_info info[PBFT_MAX_VALIDATORS];
    size_t npeers = n->net ? net_peers(n->net, info, PBFT_MAX_VALIDATORS) : 0;
    uint32_t leader = UINT32_MAX;
    if (n->pbft) leader = pbft_leader(n->nvals, pbft_height(n->pbft), pbft_view(n->pbft));
    cJSON *arr = cJSON_CreateArray();
    for (uint32_t i = 0; i < n->nvals; i++) {
        const uint8_t *id = n->val_ids[i];
        uint8_t addr[20], h[32];
        keccak256(h, id, 32);
        memcpy(addr, h + 12, 20);
        int self = i == n->self, connected = self;
        for (size_t j = 0; j < npeers && j < PBFT_MAX_VALIDATORS; j++)
            if (!memcmp(info[j].id, id, 32)) connected = info[j].connected;
        uint64_t height = self ? ledger_height(n->ledger) : 0, view = SYNC_VIEW_UNKNOWN;
        if (self && n->pbft)
            view = pbft_view(n->pbft);
        else if (!self && n->sync) {
            height = sync_peer_height(n->sync, id);
            view = sync_peer_view(n->sync, id);
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", i);
        cJSON_AddStringToObject(o, "name", validator_name(n, id));
        cJSON_AddItemToObject(o, "id", j_hex(id, 32));
        cJSON_AddItemToObject(o, "address", j_hex(addr, 20));
        cJSON_AddBoolToObject(o, "self", self);
        cJSON_AddBoolToObject(o, "connected", connected);
        if (connected)
            cJSON_AddNumberToObject(o, "height", (double)height);
        else
            cJSON_AddNullToObject(o, "height");
        if (connected && view != SYNC_VIEW_UNKNOWN)
            cJSON_AddNumberToObject(o, "view", (double)view);
        else
            cJSON_AddNullToObject(o, "view");
        cJSON_AddBoolToObject(o, "leader", i == leader);
        cJSON_AddItemToArray(arr, o);
    }
    rpc_reply_result(req, arr);
}

/* ---- tally_blocks: block summaries, newest first ---- */

static cJSON *summary_json(const struct block_header *h, const uint8_t hash[32], size_t ntx)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "number", (double)h->height);
    cJSON_AddItemToObject(o, "hash", j_hex(hash, 32));
    cJSON_AddNumberToObject(o, "timestampMs", (double)h->timestamp_ms);
    cJSON_AddNumberToObject(o, "transactionCount", (double)ntx);
    cJSON_AddNumberToObject(o, "gasUsed", (double)h->gas_used);
    cJSON_AddItemToObject(o, "miner", j_hex(h->proposer, 20));
    cJSON_AddNumberToObject(o, "view", (double)h->view);
    return o;
}

/* Header, hash and transaction count of the block at height: from the
 * node's recent blocks, else the stored block without decoding its body. */
static int block_head(struct node *n, struct store_txn *t, uint64_t height,
                      struct block_header *hdr, uint8_t hash[32], size_t *ntx)
{
    const struct recent_block *r = &n->recent[height % NODE_RECENT_BLOCKS];
    if (r->b && r->b->h.height == height) {
        *hdr = r->b->h;
        memcpy(hash, r->b->hash, 32);
        *ntx = r->b->ntx;
        return 0;
    }
    const uint8_t *p;
    size_t len;
    int rc = chainstore_block_raw(t, &p, &len, height);
    return rc ? rc : block_decode_header(p, len, hdr, hash, ntx);
}

static void m_tally_blocks(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint64_t head = ledger_height(n->ledger), count, before;
    if (param_count(param(params, 0), 20, BLOCKS_MAX, &count) ||
        param_count(param(params, 1), head + 1, UINT64_MAX, &before)) {
        bad_params(req, "expected [count (at most 1000), before (a height)]");
        return;
    }
    if (before > head + 1) before = head + 1;
    struct store_txn *t = NULL;
    int rc = store_txn_begin(n->store, &t, 0);
    cJSON *arr = cJSON_CreateArray();
    for (uint64_t h = before; !rc && h > 0 && count > 0; count--) {
        struct block_header hdr;
        uint8_t hash[32];
        size_t ntx;
        if (!(rc = block_head(n, t, --h, &hdr, hash, &ntx)))
            cJSON_AddItemToArray(arr, summary_json(&hdr, hash, ntx));
    }
    if (t) store_txn_abort(t);
    if (rc) {
        cJSON_Delete(arr);
        rpc_reply_error(req, RPC_SERVER_ERROR, tally_strerror(rc), NULL);
        return;
    }
    rpc_reply_result(req, arr);
}

/* ---- transactions, newest first ---- */

static cJSON *tx_summary(const struct block *b, size_t i, const struct receipt *r)
{
    const struct tx *tx = b->txs[i];
    char value[80];
    u256_to_dec(value, &tx->value);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "hash", j_hex(tx->hash, 32));
    cJSON_AddItemToObject(o, "from", j_hex(tx->sender, 20));
    cJSON_AddItemToObject(o, "to", tx->has_to ? j_hex(tx->to, 20) : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "value", value);
    cJSON_AddNumberToObject(o, "blockNumber", (double)b->h.height);
    cJSON_AddNumberToObject(o, "index", (double)i);
    cJSON_AddBoolToObject(o, "success", r->status == 1);
    if (r->has_contract) cJSON_AddItemToObject(o, "contractAddress", j_hex(r->contract, 20));
    return o;
}

/* Append the transactions of b that match (all if addr is NULL: from,
 * to, or the contract created), newest first, while arr holds fewer than
 * max. */
static int add_txs(struct node *n, cJSON *arr, const struct block *b, const uint8_t *addr,
                   size_t max)
{
    struct receipt *rcpts = NULL;
    int owned = 0, rc = 0;
    for (size_t i = b->ntx; i-- > 0 && (size_t)cJSON_GetArraySize(arr) < max;) {
        const struct tx *tx = b->txs[i];
        /* 1: matches; -1: a creation, which matches if it created addr */
        int match = 1;
        if (addr && memcmp(tx->sender, addr, 20))
            match = tx->has_to ? !memcmp(tx->to, addr, 20) : -1;
        if (!match) continue;
        if (!rcpts && (rc = block_receipts(n, b, &rcpts, &owned))) break;
        if (match < 0 && !(rcpts[i].has_contract && !memcmp(rcpts[i].contract, addr, 20))) continue;
        cJSON_AddItemToArray(arr, tx_summary(b, i, &rcpts[i]));
    }
    if (owned) receipts_free(rcpts, b->ntx);
    return rc;
}

static void m_tally_latest_txs(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint64_t count, head = ledger_height(n->ledger);
    if (param_count(param(params, 0), 20, LATEST_TXS_MAX, &count)) {
        bad_params(req, "expected [count (at most 100)]");
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    int rc = 0;
    for (uint64_t h = head, seen = 0;
         !rc && h > 0 && seen < LATEST_SCAN_MAX && (uint64_t)cJSON_GetArraySize(arr) < count;
         h--, seen++) {
        struct block *b;
        int owned;
        if ((rc = node_block_at(n, &b, &owned, h))) break;
        rc = add_txs(n, arr, b, NULL, count);
        if (owned) block_free(b);
    }
    if (rc) {
        cJSON_Delete(arr);
        rpc_reply_error(req, RPC_SERVER_ERROR, tally_strerror(rc), NULL);
        return;
    }
    rpc_reply_result(req, arr);
}

/* tally_blockTxs(block, offset, count): a page of a block's transactions in
 * block order, for blocks too big to list at once. */
static void m_tally_block_txs(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint64_t height, offset, count;
    struct block *b;
    int owned;
    if (block_tag(n, param(params, 0), &height) ||
        param_count(param(params, 1), 0, UINT32_MAX, &offset) ||
        param_count(param(params, 2), LATEST_TXS_MAX, LATEST_TXS_MAX, &count)) {
        bad_params(req, "expected [block (number or tag), offset, count (at most 100)]");
        return;
    }
    if (node_block_at(n, &b, &owned, height)) {
        rpc_reply_result(req, cJSON_CreateNull());
        return;
    }
    struct receipt *rcpts = NULL;
    int rowned = 0, rc = offset < b->ntx ? block_receipts(n, b, &rcpts, &rowned) : 0;
    if (rc) {
        if (owned) block_free(b);
        rpc_reply_error(req, RPC_SERVER_ERROR, tally_strerror(rc), NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "transactions");
    for (uint64_t i = offset; i < b->ntx && i < offset + count; i++)
        cJSON_AddItemToArray(arr, tx_summary(b, (size_t)i, &rcpts[i]));
    cJSON_AddNumberToObject(o, "total", (double)b->ntx);
    if (rowned) receipts_free(rcpts, b->ntx);
    if (owned) block_free(b);
    rpc_reply_result(req, o);
}

/* tally_accountTxs(address, {before, limit}): a bounded scan backwards from
 * before - 1 (default: the head) through at most ACCOUNT_SCAN_MAX blocks and
 * ACCOUNT_SCAN_TXS transactions (at least one block); the answer says which
 * blocks it covered: call again with before = scannedFrom for older ones. */
static void m_tally_account_txs(void *ctx, struct rpc_req *req, const cJSON *params)
{
    struct node *n = ctx;
    uint8_t addr[20];
    uint64_t head = ledger_height(n->ledger), before, limit;
    const cJSON *opt = param(params, 1);
    if (param_bytes(params, 0, addr, 20) || (opt && !cJSON_IsNull(opt) && !cJSON_IsObject(opt)) ||
        param_count(cJSON_GetObjectItemCaseSensitive(opt, "before"), head + 1, UINT64_MAX,
                    &before) ||
        param_count(cJSON_GetObjectItemCaseSensitive(opt, "limit"), 25, ACCOUNT_TXS_MAX, &limit)) {
        bad_params(req, "expected [address, {\"before\": height, \"limit\": at most 100}]");
        return;
    }
    if (before > head + 1) before = head + 1;
    cJSON *arr = cJSON_CreateArray();
    struct store_txn *t = NULL;
    int rc = store_txn_begin(n->store, &t, 0);
    uint64_t h = before, scanned = 0, decoded = 0;
    /* whole blocks: a block's matches all go into one answer (up to
     * ACCOUNT_BLOCK_MAX more), so that the next call can start below it */
    while (!rc && h > 0 && scanned < ACCOUNT_SCAN_MAX &&
           (uint64_t)cJSON_GetArraySize(arr) < limit) {
        struct block_header hdr;
        uint8_t hash[32];
        size_t ntx;
        if ((rc = block_head(n, t, h - 1, &hdr, hash, &ntx))) break;
        if (scanned > 0 && decoded + ntx > ACCOUNT_SCAN_TXS) break;
        h--;
        scanned++;
        if (!ntx) continue;
        decoded += ntx;
        struct block *b;
        int owned;
        if ((rc = node_block_at(n, &b, &owned, h))) break;
        rc = add_txs(n, arr, b, addr, (size_t)cJSON_GetArraySize(arr) + ACCOUNT_BLOCK_MAX);
        if (owned) block_free(b);
    }
    if (t) store_txn_abort(t);
    if (rc) {
        cJSON_Delete(arr);
        rpc_reply_error(req, RPC_SERVER_ERROR, tally_strerror(rc), NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "transactions", arr);
    cJSON_AddNumberToObject(o, "scannedFrom", (double)h);
    cJSON_AddNumberToObject(o, "scannedTo", (double)(before ? before - 1 : 0));
    cJSON_AddBoolToObject(o, "more", h > 0);
    rpc_reply_result(req, o);
}

int node_api_explorer_register(struct node *n)
{
    static const struct api_method methods[] = {
        {"tally_nodes", m_tally_nodes},        {"tally_validators", m_tally_nodes},
        {"tally_blocks", m_tally_blocks},      {"tally_latestTxs", m_tally_latest_txs},
        {"tally_blockTxs", m_tally_block_txs}, {"tally_accountTxs", m_tally_account_txs},
    };
    return api_register_methods(n, methods, sizeof methods / sizeof methods[0]);
}
