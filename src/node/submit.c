/* Transaction submission: decode on the loop, recover senders on worker
 * threads in chunks, admit into the pool on the loop, answer the caller. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/keccak.h"
#include "node/node_int.h"
#include "store/chainstore.h"
#include "util/hex.h"
#include "util/log.h"

#define MOD "submit"

static void merge_item_done(struct node *n, struct merge_op *m, size_t index, const char *hash_hex,
                            int err, const char *why);

/* Map an admission error to the message a client sees. */
static void reply_submit(struct node *n, struct submit_item *it)
{
    char h[67];
    hex_encode(h, it->tx ? it->tx->hash : (const uint8_t[32]){0}, 32);
    if (it->merge) {
        merge_item_done(n, it->merge, it->merge_index, it->tx ? h : NULL, it->err, it->why);
        return;
    }
    if (!it->req) return;
    if (!it->err)
        rpc_reply_result(it->req, cJSON_CreateString(h));
    else
        rpc_reply_error(it->req,
                        it->err == TALLY_EDECODE || it->err == TALLY_ETOOBIG ? RPC_INVALID_PARAMS
                                                                             : RPC_SERVER_ERROR,
                        it->why[0] ? it->why : tally_strerror(it->err), NULL);
}

static int admit(struct node *n, struct store_txn *t, struct tx *tx, char *why, size_t whylen)
{
    if (!tx->has_chain_id) {
        snprintf(why, whylen, "only replay-protected (EIP-155) transactions are accepted");
        return TALLY_ECHAINID;
    }
    if (tx->chain_id != n->rules.chain_id) {
        snprintf(why, whylen, "wrong chain id: expected %llu, got %llu",
                 (unsigned long long)n->rules.chain_id, (unsigned long long)tx->chain_id);
        return TALLY_ECHAINID;
    }
    int rc = tx_validate_basic(tx, why, whylen);
    if (rc) return rc;
    if (tx->gas_limit > n->rules.tx_gas_limit) {
        snprintf(why, whylen, "gas limit %llu above the chain's per-transaction limit %llu",
                 (unsigned long long)tx->gas_limit, (unsigned long long)n->rules.tx_gas_limit);
        return TALLY_EGAS;
    }
    if (u256_cmp(&tx->max_fee, &n->rules.base_fee) < 0) {
        char bf[80];
        u256_to_dec(bf, &n->rules.base_fee);
        snprintf(why, whylen, "max fee per gas below the base fee %s", bf);
        return TALLY_EFEE;
    }
    uint64_t h;
    uint32_t idx;
    if (t && !ledger_tx_loc(n->ledger, t, &h, &idx, tx->hash)) {
        snprintf(why, whylen, "already known: committed in block %llu", (unsigned long long)h);
        return TALLY_EDUP;
    }
    struct account acc;
    rc = state_get_committed(ledger_state(n->ledger), &acc, tx->sender);
    if (rc) {
        snprintf(why, whylen, "cannot read the sender's account: %s", tally_strerror(rc));
        return rc;
    }
    if (tx->nonce < acc.nonce) {
        snprintf(why, whylen, "nonce too low: next is %llu, got %llu",
                 (unsigned long long)acc.nonce, (unsigned long long)tx->nonce);
        return TALLY_ENONCE;
    }
    /* cost = gas_limit * max_fee (+ value unless an issuer, who mints) */
    u256 gas = u256_from_u64(tx->gas_limit), cost;
    int ovf = u256_mul(&cost, &gas, &tx->max_fee);
    if (!exec_is_issuer(&n->rules, tx->sender)) ovf |= u256_add(&cost, &cost, &tx->value);
    if (ovf || u256_cmp(&cost, &acc.balance) > 0) {
        char b[80], c[80];
        u256_to_dec(b, &acc.balance);
        u256_to_dec(c, &cost);
        snprintf(why, whylen, "insufficient funds: balance %s, cost %s%s", b, ovf ? ">2^256 " : "",
                 ovf ? "" : c);
        return TALLY_EFUNDS;
    }
    if (pool_count(n->pool) >= n->cfg.pool_capacity) {
        snprintf(why, whylen, "pool full: %zu transactions", pool_count(n->pool));
        return TALLY_EFULL;
    }
    return pool_add(n->pool, tx, acc.nonce, why, whylen);
}

/* Hex-decode and RLP-decode one item (worker thread: pure, no shared state). */
static void decode_item(struct submit_item *it)
{
    if (it->raw) {
        char err[128] = "";
        it->err = tx_decode(&it->tx, it->raw, it->raw_len, err, sizeof err);
        if (it->err)
            snprintf(it->why, sizeof it->why, "invalid transaction: %s",
                     err[0] ? err : tally_strerror(it->err));
        free(it->raw);
        it->raw = NULL;
        return;
    }
    const char *hex = it->hex;
    size_t len = it->hex_len, got;
    uint8_t *raw = NULL;
    if (!(raw = malloc(len / 2 + 1))) { /* len was bounded by node_submit_raw */
        it->err = TALLY_ENOMEM;
        snprintf(it->why, sizeof it->why, "out of memory");
    } else if (len < 2 || hex[0] != '0' || (hex[1] != 'x' && hex[1] != 'X') ||
               hex_decode(raw, len / 2 + 1, &got, hex, len)) {
        it->err = TALLY_EDECODE;
        snprintf(it->why, sizeof it->why, "raw transaction must be 0x-prefixed hex");
    } else {
        char err[128] = "";
        it->err = tx_decode(&it->tx, raw, got, err, sizeof err);
        if (it->err)
            snprintf(it->why, sizeof it->why, "invalid transaction: %s",
                     err[0] ? err : tally_strerror(it->err));
    }
    free(raw);
    free(it->hex);
    it->hex = NULL;
}

/* ---- the sender cache ---- */

static struct sender_slot *sender_slot(const struct node *n, const uint8_t hash[32])
{
    uint32_t k = (uint32_t)hash[0] | (uint32_t)hash[1] << 8 | (uint32_t)hash[2] << 16;
    return &n->senders[k & ((1u << NODE_SENDERS_BITS) - 1)];
}

int node_sender_find(const struct node *n, const uint8_t hash[32], uint8_t sender[20])
{
    const struct sender_slot *s = sender_slot(n, hash);
    if (s->state == SENDER_EMPTY || memcmp(s->hash, hash, 32)) return SENDER_EMPTY;
    if (s->state == SENDER_KNOWN) memcpy(sender, s->sender, 20);
    return s->state;
}

void node_sender_put(struct node *n, const uint8_t hash[32], const uint8_t *sender, int state)
{
    struct sender_slot *s = sender_slot(n, hash);
    memcpy(s->hash, hash, 32);
    if (sender) memcpy(s->sender, sender, 20);
    s->state = (uint8_t)(sender ? SENDER_KNOWN : state);
}

void node_sender_drop(struct node *n, const uint8_t hash[32])
{
    struct sender_slot *s = sender_slot(n, hash);
    if (!memcmp(s->hash, hash, 32)) s->state = SENDER_EMPTY;
}

static void recover_work(uv_work_t *w)
{
    struct submit_work *sw = w->data;
    struct tx **hinted = NULL;
    uint8_t(*hints)[64] = NULL;
    size_t nh = 0;
    for (size_t i = 0; i < sw->count; i++) {
        struct submit_item *it = &sw->items[i];
        if (it->hex || it->raw) decode_item(it);
        if (it->err) continue;
        if (it->sender_known && !memcmp(it->tx->hash, it->hash, 32)) {
            memcpy(it->tx->sender, it->sender, 20);
            it->tx->has_sender = 1;
        } else if (it->has_hint) {
            if (!hinted) {
                hinted = malloc(sw->count * sizeof *hinted);
                hints = malloc(sw->count * sizeof *hints);
            }
            if (hinted && hints) {
                hinted[nh] = it->tx;
                memcpy(hints[nh++], it->hint, 64);
            }
        }
    }
    /* gossip with the peer's public keys: one batch check for all; if it
     * fails, they are recovered one by one below like the rest */
    if (nh) {
        sw->hint_batch = 1;
        sw->hint_fallback = tx_senders_from_hints(hinted, (const uint8_t(*)[64])hints, nh) != 0;
    }
    free(hinted);
    free(hints);
    for (size_t i = 0; i < sw->count; i++) {
        struct submit_item *it = &sw->items[i];
        if (it->err || it->tx->has_sender) continue;
        if (tx_recover_sender(it->tx)) {
            it->err = TALLY_ESIG;
            snprintf(it->why, sizeof it->why, "invalid signature: cannot recover the sender");
        }
    }
}

static void start_waiting(struct node *n);

static void recover_done(uv_work_t *w, int status)
{
    struct submit_work *sw = w->data;
    struct node *n = sw->n;
    n->inflight -= sw->count;
    n->hint_batches += sw->hint_batch;
    if (sw->hint_fallback && !n->hint_fallbacks++)
        log_warn(MOD, "a batch of gossiped transactions did not match the peer's public keys; "
                      "recovered one by one (counted in tally_status)");
    n->recover_running--;
    struct store_txn *t = NULL;
    if (store_txn_begin(n->store, &t, 0)) t = NULL;
    int admitted = 0, gossip = 0;
    for (size_t i = 0; i < sw->count; i++) {
        struct submit_item *it = &sw->items[i];
        if (it->from_peer) {
            gossip = 1;
            node_sender_drop(n, it->hash); /* no longer pending */
        }
        if (!it->err && it->tx) node_sender_put(n, it->tx->hash, it->tx->sender, SENDER_KNOWN);
        if (!it->err && (status || n->stopping)) {
            it->err = TALLY_EBUSY;
            snprintf(it->why, sizeof it->why, "node is shutting down");
        }
        if (!it->err) it->err = admit(n, t, it->tx, it->why, sizeof it->why);
        if (!it->err) {
            admitted++;
            if (!it->from_peer) node_gossip_add(n, it->tx); /* the pool owns tx now */
        }
        reply_submit(n, it);
        if (it->err && it->tx) {
            if (it->err != TALLY_EDUP && !it->from_peer)
                node_remember_dropped(n, it->tx->hash, it->why);
            tx_free(it->tx);
        }
        free(it->hex);
        free(it->raw);
        it->tx = NULL;
    }
    if (t) store_txn_abort(t);
    free(sw);
    if (admitted) n->build_wanted = 1; /* built in the check phase: coalesces completions */
    if (gossip && !n->stopping) node_exec_recheck(n);
    start_waiting(n);
}

/* Hand a batch to the workers; gossip whose sender a proposal recovered
 * meanwhile is not recovered again, the rest is marked running (a proposal
 * waits for those instead of recovering them twice). */
static void start_batch(struct node *n, struct submit_work *sw)
{
    for (size_t i = 0; i < sw->count; i++) {
        struct submit_item *it = &sw->items[i];
        if (!it->from_peer || it->sender_known) continue;
        if (node_sender_find(n, it->hash, it->sender) == SENDER_KNOWN)
            it->sender_known = 1;
        else
            node_sender_put(n, it->hash, NULL, SENDER_RUNNING);
    }
    sw->work.data = sw;
    sw->n = n;
    n->recover_running++;
    if (uv_queue_work(&n->loop, &sw->work, recover_work, recover_done)) {
        /* cannot happen with a live loop; fail the items */
        for (size_t i = 0; i < sw->count; i++) {
            sw->items[i].err = TALLY_EBUSY;
            snprintf(sw->items[i].why, sizeof sw->items[i].why, "cannot queue work");
        }
        recover_work(&sw->work);
        recover_done(&sw->work, -1);
    }
}

/* Start waiting batches while fewer than NODE_RECOVER_RUNNING run. */
static void start_waiting(struct node *n)
{
    while (n->waiting && n->recover_running < NODE_RECOVER_RUNNING && !n->stopping) {
        struct submit_work *sw = n->waiting;
        n->waiting = sw->next;
        if (!n->waiting) n->waiting_tail = NULL;
        start_batch(n, sw);
    }
}

static struct submit_work *work_new(size_t cap)
{
    struct submit_work *sw = malloc(sizeof *sw + cap * sizeof sw->items[0]);
    if (!sw) return NULL;
    sw->count = 0;
    sw->cap = cap;
    sw->hint_batch = sw->hint_fallback = 0;
    return sw;
}

static void dispatch_one(struct node *n, struct submit_work **slot)
{
    struct submit_work *sw = *slot;
    *slot = NULL;
    if (!sw) return;
    sw->next = NULL;
    if (n->waiting_tail)
        n->waiting_tail->next = sw;
    else
        n->waiting = sw;
    n->waiting_tail = sw;
    start_waiting(n);
}

void node_submit_flush(struct node *n)
{
    dispatch_one(n, &n->collect);
    dispatch_one(n, &n->collect_peer);
}

/* Add an item to *slot (a new work of cap items if none); full: dispatch. */
static int collect_item(struct node *n, struct submit_work **slot, size_t cap,
                        const struct submit_item *it)
{
    if (!*slot && !(*slot = work_new(cap))) return TALLY_ENOMEM;
    n->inflight++; /* counted from collection, so the capacity checks see it */
    (*slot)->items[(*slot)->count++] = *it;
    if ((*slot)->count == (*slot)->cap) dispatch_one(n, slot);
    return 0;
}

void node_submit_peer_raw(struct node *n, const uint8_t *raw, size_t len, const uint8_t *hint)
{
    if (n->stopping || len == 0 || len > TX_MAX_SIZE) return;
    if (n->inflight + pool_count(n->pool) >= n->cfg.pool_capacity ||
        n->inflight >= NODE_SUBMIT_MAX_INFLIGHT)
        return; /* full: the peer's clients were answered by the peer */
    struct submit_item it = {.from_peer = 1, .raw_len = len};
    /* the hash of a signed transaction is keccak of its raw bytes */
    keccak256(it.hash, raw, len);
    if (pool_find(n->pool, it.hash)) return; /* have it */
    switch (node_sender_find(n, it.hash, it.sender)) {
    case SENDER_QUEUED:
    case SENDER_RUNNING: return; /* a batch holds the same bytes */
    case SENDER_KNOWN: it.sender_known = 1; break;
    default: node_sender_put(n, it.hash, NULL, SENDER_QUEUED);
    }
    if (hint) {
        it.has_hint = 1;
        memcpy(it.hint, hint, 64);
    }
    if (!(it.raw = malloc(len))) {
        node_sender_drop(n, it.hash);
        return;
    }
    memcpy(it.raw, raw, len);
    if (collect_item(n, &n->collect_peer, NODE_GOSSIP_CHUNK, &it)) {
        free(it.raw);
        node_sender_drop(n, it.hash);
    }
}

void node_submit_raw(struct node *n, struct rpc_req *req, struct merge_op *merge, size_t index,
                     const char *hex)
{
    struct submit_item it = {.req = req, .merge = merge, .merge_index = index};
    size_t len = strlen(hex);
    if (n->stopping) {
        it.err = TALLY_EBUSY;
        snprintf(it.why, sizeof it.why, "node is shutting down");
    } else if (n->inflight + pool_count(n->pool) >= n->cfg.pool_capacity ||
               n->inflight >= NODE_SUBMIT_MAX_INFLIGHT) {
        it.err = TALLY_EFULL;
        snprintf(it.why, sizeof it.why, "pool full: %zu transactions (+%zu being checked)",
                 pool_count(n->pool), n->inflight);
    } else if (len / 2 > TX_MAX_SIZE + 1) {
        it.err = TALLY_ETOOBIG;
        snprintf(it.why, sizeof it.why, "transaction larger than %d bytes", TX_MAX_SIZE);
    } else if (!(it.hex = malloc(len + 1))) {
        it.err = TALLY_ENOMEM;
        snprintf(it.why, sizeof it.why, "out of memory");
    } else {
        memcpy(it.hex, hex, len + 1);
        it.hex_len = len;
        if (collect_item(n, &n->collect, NODE_RECOVER_CHUNK, &it)) {
            free(it.hex);
            it.hex = NULL;
            it.err = TALLY_ENOMEM;
            snprintf(it.why, sizeof it.why, "out of memory");
        }
    }
    if (it.err) reply_submit(n, &it);
}

/* ---- WS merge: the teaching ledger's pool merge ---- */

static void merge_item_done(struct node *n, struct merge_op *m, size_t index, const char *hash_hex,
                            int err, const char *why)
{
    if (err && err != TALLY_EDUP) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "index", (double)index);
        if (hash_hex) cJSON_AddStringToObject(r, "hash", hash_hex);
        cJSON_AddStringToObject(r, "error", why && why[0] ? why : tally_strerror(err));
        cJSON_AddItemToArray((cJSON *)m->results, r);
    }
    if (++m->done < m->total) return;
    cJSON *resp = cJSON_CreateObject();
    cJSON_AddStringToObject(resp, "message", "Accepted");
    cJSON_AddNumberToObject(resp, "received", (double)m->total);
    cJSON_AddNumberToObject(resp, "accepted",
                            (double)(m->total - (size_t)cJSON_GetArraySize(m->results)));
    cJSON_AddItemToObject(resp, "refused", (cJSON *)m->results);
    rpc_reply_op(m->req, 202, NULL, resp);
    free(m);
    (void)n;
}
