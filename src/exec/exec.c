/* Transaction execution: checks that decide whether a transaction can be
 * included, then the state transition: a native transfer directly on the
 * state, or (creation, or a call to an account with code) the EVM on a
 * world over the state (exec_contract). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec/rlp.h"
#include "exec/evm/evmtx.h"
#include "exec/exec.h"

int exec_is_issuer(const struct chain_rules *rules, const uint8_t addr[20])
{
    for (size_t i = 0; i < rules->nissuers; i++)
        if (!memcmp(rules->issuers[i], addr, 20)) return 1;
    return 0;
}

/* Add v to the pending balance of addr. TALLY_ERANGE on overflow. */
static int credit(struct state *st, const uint8_t addr[20], const u256 *v)
{
    struct account a;
    int rc = state_get(st, &a, addr);
    if (rc) return rc;
    if (u256_add(&a.balance, &a.balance, v)) return TALLY_ERANGE;
    return state_put(st, addr, &a);
}

static int exec_contract(struct state *st, struct receipt *rc, const struct tx *tx,
                         const struct block_env *env, const struct chain_rules *rules, int issuer,
                         uint64_t block_gas_used, char *why, size_t whylen);

/* The message part of a native transfer, after the sender was charged and
 * its nonce bumped: the value moves (or is minted by an issuer). Returns an
 * error only for state failures. */
static int exec_message(struct state *st, struct receipt *rc, const struct tx *tx, int issuer)
{
    if (!u256_is_zero(&tx->value)) {
        if (!issuer) {
            /* The value was checked against the balance before; debit it now
             * (the sender's pending account already carries the fee). */
            struct account s;
            int r = state_get(st, &s, tx->sender);
            if (r) return r;
            u256_sub(&s.balance, &s.balance, &tx->value);
            if ((r = state_put(st, tx->sender, &s))) return r;
        }
        int r = credit(st, tx->to, &tx->value);
        if (r) return r;
    }
    rc->status = 1;
    return 0;
}

int exec_tx(struct state *st, struct receipt *rc, const struct tx *tx, const struct block_env *env,
            const struct chain_rules *rules, uint64_t block_gas_used, char *why, size_t whylen)
{
    char a[80], b[80];
    int r;
    if (why && whylen) why[0] = '\0';
    if (!tx->has_sender) return tally_fail(why, whylen, TALLY_ESIG, "sender not recovered");
    if (!tx->has_chain_id)
        return tally_fail(why, whylen, TALLY_ECHAINID,
                          "transaction without chain id (pre-EIP-155) not accepted");
    if (tx->chain_id != rules->chain_id)
        return tally_fail(why, whylen, TALLY_ECHAINID, "wrong chain id: want %llu, got %llu",
                          (unsigned long long)rules->chain_id, (unsigned long long)tx->chain_id);
    if ((r = tx_validate_basic(tx, why, whylen))) return r;
    if (tx->gas_limit > rules->tx_gas_limit)
        return tally_fail(
            why, whylen, TALLY_EGAS, "gas limit %llu above the transaction limit %llu",
            (unsigned long long)tx->gas_limit, (unsigned long long)rules->tx_gas_limit);
    if (tx->gas_limit > env->gas_limit || block_gas_used > env->gas_limit - tx->gas_limit)
        return tally_fail(why, whylen, TALLY_EGAS,
                          "gas limit %llu does not fit in the block (%llu of %llu used)",
                          (unsigned long long)tx->gas_limit, (unsigned long long)block_gas_used,
                          (unsigned long long)env->gas_limit);
    if (u256_cmp(&tx->max_fee, &env->base_fee) < 0) {
        u256_to_dec(a, &tx->max_fee);
        u256_to_dec(b, &env->base_fee);
        return tally_fail(why, whylen, TALLY_EFEE, "max fee per gas %s below base fee %s", a, b);
    }

    struct account sender;
    if ((r = state_get(st, &sender, tx->sender))) return r;
    if (tx->nonce != sender.nonce)
        return tally_fail(why, whylen, TALLY_ENONCE, "nonce too %s: have %llu, got %llu",
                          tx->nonce < sender.nonce ? "low" : "high",
                          (unsigned long long)sender.nonce, (unsigned long long)tx->nonce);

    /* Up-front cost: gas_limit * price (+ value unless the issuer mints it).
     * gas_limit * max_fee fits in 256 bits (tx_validate_basic) and price <=
     * max_fee, so only adding the value can overflow. */
    int issuer = exec_is_issuer(rules, tx->sender);
    u256 price, gas, cost;
    tx_effective_gas_price(&price, tx, &env->base_fee);
    gas = u256_from_u64(tx->gas_limit);
    u256_mul(&cost, &gas, &price);
    int over = !issuer && u256_add(&cost, &cost, &tx->value);
    if (over || u256_cmp(&sender.balance, &cost) < 0) {
        u256_to_dec(a, &sender.balance);
        if (over)
            snprintf(b, sizeof b, "above 2^256");
        else
            u256_to_dec(b, &cost);
        return tally_fail(why, whylen, TALLY_EFUNDS, "insufficient funds: balance %s, cost %s", a,
                          b);
    }

    /* Creation, or a call into code: the EVM. */
    struct account to;
    static const uint8_t no_code[32];
    if (tx->has_to && (r = state_get(st, &to, tx->to))) return r;
    if (!tx->has_to || memcmp(to.code_hash, no_code, 32))
        return exec_contract(st, rc, tx, env, rules, issuer, block_gas_used, why, whylen);

    /* A native transfer, included from here on: charge the fee for the
     * intrinsic gas and bump the nonce, then move the value. */
    uint64_t gas_used = tx_intrinsic_gas(tx);
    u256 fee, tip, tip_price;
    gas = u256_from_u64(gas_used);
    u256_mul(&fee, &gas, &price);
    u256_sub(&tip_price, &price, &env->base_fee); /* price >= base fee: checked above */
    u256_mul(&tip, &gas, &tip_price);

    size_t mark = state_mark(st);
    memset(rc, 0, sizeof *rc);
    u256_sub(&sender.balance, &sender.balance, &fee);
    sender.nonce++;
    if ((r = state_put(st, tx->sender, &sender))) goto undo;
    if ((r = exec_message(st, rc, tx, issuer))) goto undo;
    /* The base fee part is burnt; the tip goes to the proposer. */
    if (!u256_is_zero(&tip) && (r = credit(st, env->proposer, &tip))) goto undo;
    rc->gas_used = gas_used;
    rc->cumulative_gas = block_gas_used + gas_used;
    return 0;
undo:
    state_revert(st, mark);
    memset(rc, 0, sizeof *rc);
    if (r == TALLY_ERANGE) return tally_fail(why, whylen, r, "a balance would exceed 2^256");
    return tally_fail(why, whylen, r, "state error: %s", tally_strerror(r));
}

/* ---- contracts: the EVM over the state ---- */

/* The world's backend: the state in one of its views. */
struct backend {
    struct state *st;
    const struct block_env *env;
    int committed; /* RPC: the committed view; else the pending one */
};

static int be_account(void *ctx, const uint8_t addr[20], int *present, u256 *balance,
                      uint64_t *nonce, const uint8_t **code, size_t *code_len, uint8_t hash[32])
{
    struct backend *b = ctx;
    struct account a;
    int rc = b->committed ? state_get_committed(b->st, &a, addr) : state_get(b->st, &a, addr);
    if (rc) return rc;
    static const uint8_t zero[32];
    int has_code = memcmp(a.code_hash, zero, 32) != 0;
    *present = has_code || a.nonce || !u256_is_zero(&a.balance);
    *balance = a.balance;
    *nonce = a.nonce;
    memcpy(hash, a.code_hash, 32);
    *code = NULL;
    *code_len = 0;
    return has_code ? state_get_code(b->st, a.code_hash, code, code_len) : 0;
}

static int be_storage(void *ctx, const uint8_t addr[20], const uint8_t key[32], uint8_t out[32])
{
    struct backend *b = ctx;
    return b->committed ? state_get_committed_slot(b->st, out, addr, key)
                        : state_get_slot(b->st, out, addr, key);
}

static int be_block_hash(void *ctx, uint64_t number, uint8_t out[32])
{
    const struct block_env *env = ((struct backend *)ctx)->env;
    memset(out, 0, 32);
    if (!env->block_hash || number >= env->height || number + 256 < env->height) return 0;
    int rc = env->block_hash(env->block_hash_arg, number, out);
    return rc == TALLY_ENOTFOUND ? 0 : rc;
}

static int wb_account(void *arg, const struct world_account *a, int exists, const uint8_t *new_code)
{
    struct state *st = arg;
    struct account x;
    memset(&x, 0, sizeof x);
    if (exists) {
        x.balance = a->balance;
        x.nonce = a->nonce;
        if (a->code_len) memcpy(x.code_hash, a->code_hash.bytes, 32);
    }
    int rc;
    if (exists && new_code && (rc = state_put_code(st, x.code_hash, new_code, a->code_len)))
        return rc;
    return state_put(st, a->addr.bytes, &x);
}

static int wb_slot(void *arg, const struct evm_address *addr, const struct evm_bytes32 *key,
                   const struct evm_bytes32 *value)
{
    return state_put_slot(arg, addr->bytes, key->bytes, value->bytes);
}

struct log_sink {
    struct receipt_log *v;
    size_t n, cap;
    int failed;
};

static void collect_log(void *arg, const struct evm_address *addr, const struct evm_bytes32 *topics,
                        size_t ntopics, const uint8_t *data, size_t data_len)
{
    struct log_sink *k = arg;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 8;
        struct receipt_log *v = realloc(k->v, cap * sizeof *v);
        if (!v) {
            k->failed = 1;
            return;
        }
        k->v = v;
        k->cap = cap;
    }
    struct receipt_log *l = &k->v[k->n++];
    memcpy(l->addr, addr->bytes, 20);
    l->ntopics = (uint8_t)ntopics;
    for (size_t i = 0; i < ntopics; i++) memcpy(l->topics[i], topics[i].bytes, 32);
    l->data = data;
    l->data_len = data_len;
}

/* The access list of tx as the EVM's entries: [[address, [key...]]...] (the
 * decoder checked its shape). *out and *keys are malloc()ed. */
static int access_list(const struct tx *tx, struct evmtx_access **out, size_t *n,
                       struct evm_bytes32 **keys)
{
    *out = NULL;
    *keys = NULL;
    *n = 0;
    if (!tx->access_list || !tx->access_list_addrs) return 0;
    struct evmtx_access *a = calloc(tx->access_list_addrs, sizeof *a);
    struct evm_bytes32 *k = malloc((tx->access_list_keys ? tx->access_list_keys : 1) * sizeof *k);
    struct rlp_item top, entry, f[2], key;
    int rc = a && k ? rlp_decode(&top, tx->access_list, tx->access_list_len) : TALLY_ENOMEM;
    const uint8_t *cur = rc ? NULL : top.p, *end = rc ? NULL : top.p + top.len;
    size_t na = 0, nk = 0, cnt;
    while (!rc && cur < end) {
        if ((rc = rlp_next(&entry, &cur, end)) || (rc = rlp_list(f, 2, &cnt, &entry))) break;
        if (cnt != 2 || na == tx->access_list_addrs || f[0].len != 20 || !f[1].is_list) {
            rc = TALLY_EDECODE;
            break;
        }
        memcpy(a[na].addr.bytes, f[0].p, 20);
        a[na].keys = k + nk;
        const uint8_t *kc = f[1].p, *ke = f[1].p + f[1].len;
        while (!rc && kc < ke) {
            if ((rc = rlp_next(&key, &kc, ke))) break;
            if (key.len != 32 || nk == tx->access_list_keys) {
                rc = TALLY_EDECODE;
                break;
            }
            memcpy(k[nk++].bytes, key.p, 32);
            a[na].nkeys++;
        }
        na++;
    }
    if (rc) {
        free(a);
        free(k);
        return rc;
    }
    *out = a;
    *keys = k;
    *n = na;
    return 0;
}

void exec_revert_reason(char *out, size_t outlen, const uint8_t *data, size_t len)
{
    static const uint8_t ERROR_SEL[4] = {0x08, 0xc3, 0x79, 0xa0};
    static const uint8_t PANIC_SEL[4] = {0x4e, 0x48, 0x7b, 0x71};
    if (len >= 68 && !memcmp(data, ERROR_SEL, 4)) {
        /* Error(string): offset, length, bytes. */
        u256 off, n;
        if (!u256_from_be(&off, data + 4, 32) && u256_fits_u64(&off) && off.w[0] <= len - 36 &&
            !u256_from_be(&n, data + 4 + off.w[0], 32) && u256_fits_u64(&n) &&
            n.w[0] <= len - 36 - off.w[0]) {
            const uint8_t *p = data + 36 + off.w[0];
            size_t k = snprintf(out, outlen, "execution reverted: ");
            for (size_t i = 0; i < n.w[0] && k + 1 < outlen; i++)
                out[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
            if (k < outlen) out[k] = '\0';
            return;
        }
    }
    if (len == 36 && !memcmp(data, PANIC_SEL, 4)) {
        u256 code;
        char hx[70];
        if (!u256_from_be(&code, data + 4, 32)) {
            u256_to_hex(hx, &code);
            snprintf(out, outlen, "execution reverted: panic %s", hx);
            return;
        }
    }
    snprintf(out, outlen, "execution reverted");
}

static void status_reason(char *out, size_t outlen, const struct evmtx_result *r)
{
    if (r->status == EVM_SUCCESS)
        out[0] = '\0';
    else if (r->status == EVM_REVERT)
        exec_revert_reason(out, outlen, r->output, r->output_len);
    else
        snprintf(out, outlen, "%s", evm_status_str(r->status));
}

static struct evm_tx_context tx_context(const struct block_env *env,
                                        const struct chain_rules *rules)
{
    struct evm_tx_context c;
    memset(&c, 0, sizeof c);
    memcpy(c.coinbase.bytes, env->proposer, 20);
    c.number = (int64_t)env->height;
    c.timestamp = (int64_t)(env->timestamp_ms / 1000);
    c.gas_limit = (int64_t)env->gas_limit;
    c.chain_id = u256_from_u64(rules->chain_id);
    c.base_fee = env->base_fee;
    return c;
}

/* One run of a transaction-shaped message on a fresh world over the state.
 * mint: the sender is an issuer whose value is minted. The world is left
 * for the caller to write back or drop. */
static int run_world(struct world **wout, struct evmtx_result *res, const struct evmtx *etx,
                     struct backend *be, const struct chain_rules *rules, uint64_t gas_left,
                     int mint, char *err, size_t errlen)
{
    struct world *w;
    int rc = world_new(&w);
    if (rc) return rc;
    struct world_backend wb = {
        .ctx = be, .account = be_account, .storage = be_storage, .block_hash = be_block_hash};
    world_set_backend(w, &wb);
    struct evm_tx_context ctx = tx_context(be->env, rules);
    if (mint) world_add_balance(w, &etx->sender, &etx->value);
    rc = evmtx_apply(w, res, etx, &ctx, gas_left, err, errlen);
    if (!rc && mint && res->status != EVM_SUCCESS &&
        world_sub_balance(w, &etx->sender, &etx->value))
        rc = TALLY_ESTATE;                    /* cannot happen: the reverted value came back */
    if (world_failed(w)) rc = world_error(w); /* the real cause of any failure */
    if (rc) {
        free(res->output);
        res->output = NULL;
        world_free(w);
        return rc;
    }
    *wout = w;
    return 0;
}

/* Creation or a call into code: the whole transaction (fee, nonce, value,
 * code) runs in the world and is written back to the state at the end. */
static int exec_contract(struct state *st, struct receipt *rc, const struct tx *tx,
                         const struct block_env *env, const struct chain_rules *rules, int issuer,
                         uint64_t block_gas_used, char *why, size_t whylen)
{
    struct evmtx etx;
    memset(&etx, 0, sizeof etx);
    etx.type = tx->type;
    memcpy(etx.sender.bytes, tx->sender, 20);
    etx.nonce = tx->nonce;
    etx.gas_limit = tx->gas_limit;
    etx.max_fee = tx->max_fee;
    etx.max_priority_fee = tx->max_priority_fee;
    etx.has_to = tx->has_to;
    memcpy(etx.to.bytes, tx->to, 20);
    etx.value = tx->value;
    etx.data = tx->data;
    etx.data_len = tx->data_len;
    struct evmtx_access *al;
    struct evm_bytes32 *keys;
    int r = access_list(tx, &al, &etx.naccess, &keys);
    if (r) return tally_fail(why, whylen, r, "access list: %s", tally_strerror(r));
    etx.access = al;

    struct backend be = {.st = st, .env = env, .committed = 0};
    struct world *w = NULL;
    struct evmtx_result res;
    char err[160];
    r = run_world(&w, &res, &etx, &be, rules, env->gas_limit - block_gas_used,
                  issuer && !u256_is_zero(&tx->value), err, sizeof err);
    free(al);
    free(keys);
    if (r) return tally_fail(why, whylen, r, "%s", err[0] ? err : tally_strerror(r));

    size_t mark = state_mark(st);
    struct log_sink logs = {0};
    memset(rc, 0, sizeof *rc);
    rc->status = res.status == EVM_SUCCESS;
    status_reason(rc->reason, sizeof rc->reason, &res);
    if (!tx->has_to && res.status == EVM_SUCCESS) {
        rc->has_contract = 1;
        memcpy(rc->contract, res.create_address.bytes, 20);
    }
    rc->gas_used = res.gas_used;
    rc->cumulative_gas = block_gas_used + res.gas_used;
    world_logs(w, &logs, collect_log);
    r = logs.failed ? TALLY_ENOMEM : 0;
    if (!r) r = receipt_set_logs(rc, logs.v, logs.n);
    if (!r) r = world_changes(w, st, wb_account, wb_slot);
    free(logs.v);
    free(res.output);
    world_free(w);
    if (r) {
        state_revert(st, mark);
        receipt_clear(rc);
        memset(rc, 0, sizeof *rc);
        return tally_fail(why, whylen, r, "state error: %s", tally_strerror(r));
    }
    return 0;
}

int exec_call(struct state *st, struct exec_call_result *out, const struct exec_call *c,
              const struct block_env *env, const struct chain_rules *rules, char *why,
              size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (why && whylen) why[0] = '\0';
    if (c->gas > rules->tx_gas_limit)
        return tally_fail(why, whylen, TALLY_EGAS, "gas %llu above the transaction limit %llu",
                          (unsigned long long)c->gas, (unsigned long long)rules->tx_gas_limit);
    struct backend be = {.st = st, .env = env, .committed = 1};
    struct account a;
    int r = state_get_committed(st, &a, c->from);
    if (r) return tally_fail(why, whylen, r, "state error: %s", tally_strerror(r));
    struct evmtx etx;
    memset(&etx, 0, sizeof etx);
    etx.type = 2;
    memcpy(etx.sender.bytes, c->from, 20);
    etx.nonce = a.nonce;
    etx.gas_limit = c->gas;
    etx.has_to = c->has_to;
    memcpy(etx.to.bytes, c->to, 20);
    etx.value = c->value;
    etx.data = c->data;
    etx.data_len = c->data_len;
    /* Gas price 0 needs a base fee of 0: the call's block has none. */
    struct block_env e = *env;
    e.base_fee = u256_from_u64(0);
    be.env = &e;
    struct world *w = NULL;
    struct evmtx_result res;
    char err[160];
    r = run_world(&w, &res, &etx, &be, rules, c->gas, 0, err, sizeof err);
    if (r) {
        if (r == TALLY_EFUNDS) snprintf(err, sizeof err, "insufficient funds for the value");
        return tally_fail(why, whylen, r, "%s", err[0] ? err : tally_strerror(r));
    }
    world_free(w);
    out->status = res.status == EVM_SUCCESS;
    out->gas_used = res.gas_used;
    out->gas_spent = res.gas_spent;
    out->output = res.output;
    out->output_len = res.output_len;
    status_reason(out->reason, sizeof out->reason, &res);
    return 0;
}

int exec_estimate_gas(struct state *st, struct exec_call_result *out, uint64_t *gas,
                      const struct exec_call *c, const struct block_env *env,
                      const struct chain_rules *rules, char *why, size_t whylen)
{
    int r = exec_call(st, out, c, env, rules, why, whylen);
    if (r || !out->status) return r;
    /* It succeeds with c->gas; the least limit that still succeeds lies in
     * (spent - 1, c->gas]. Try spent * 64/63 first: it usually suffices. */
    uint64_t lo = out->gas_spent ? out->gas_spent - 1 : 0, hi = c->gas;
    uint64_t guess = out->gas_spent + out->gas_spent / 63 + 1;
    struct exec_call t = *c;
    struct exec_call_result tr;
    while (lo + 1 < hi) {
        uint64_t mid = guess && guess > lo && guess < hi ? guess : lo + (hi - lo) / 2;
        guess = 0;
        t.gas = mid;
        r = exec_call(st, &tr, &t, env, rules, why, whylen);
        free(tr.output);
        if (r == TALLY_EINTRINSIC || (!r && !tr.status))
            lo = mid;
        else if (!r)
            hi = mid;
        else
            return r;
    }
    *gas = hi;
    return 0;
}
