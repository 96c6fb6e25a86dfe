/* Transaction application over struct world: see evmtx.h. */
#include "exec/evm/evmtx.h"
#include <stdio.h>
#include <string.h>

#define G_TX                21000
#define G_CREATE            32000
#define G_DATA_ZERO         4
#define G_DATA_NONZERO      16
#define G_ACCESS_ADDR       2400
#define G_ACCESS_KEY        1900
#define G_INITCODE_WORD     2
#define MAX_REFUND_QUOTIENT 5
#define SYSTEM_GAS          30000000

static const uint8_t BEACON_ROOTS[20] = {0x00, 0x0f, 0x3d, 0xf6, 0xd7, 0x32, 0x80,
                                         0x7e, 0xf1, 0x31, 0x9f, 0xb7, 0xb8, 0xbb,
                                         0x85, 0x22, 0xd0, 0xbe, 0xac, 0x02};

uint64_t evmtx_intrinsic_gas(const struct evmtx *tx)
{
    uint64_t g = G_TX;
    for (size_t i = 0; i < tx->data_len; i++) g += tx->data[i] ? G_DATA_NONZERO : G_DATA_ZERO;
    if (!tx->has_to) g += G_CREATE + G_INITCODE_WORD * ((tx->data_len + 31) / 32);
    for (size_t i = 0; i < tx->naccess; i++)
        g += G_ACCESS_ADDR + G_ACCESS_KEY * (uint64_t)tx->access[i].nkeys;
    return g;
}

#define FAIL(code, ...)                              \
    do {                                             \
        if (err) snprintf(err, errlen, __VA_ARGS__); \
        return code;                                 \
    } while (0)

int evmtx_apply(struct world *w, struct evmtx_result *res, const struct evmtx *tx,
                const struct evm_tx_context *blk, uint64_t block_gas_left, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (tx->nonce == UINT64_MAX) FAIL(TALLY_ERANGE, "nonce 2^64-1 (EIP-2681)");
    if (tx->gas_limit > block_gas_left)
        FAIL(TALLY_EGAS, "gas limit %llu above the block's gas left %llu",
             (unsigned long long)tx->gas_limit, (unsigned long long)block_gas_left);
    if (u256_cmp(&tx->max_priority_fee, &tx->max_fee) > 0)
        FAIL(TALLY_EFEE, "max priority fee above max fee");
    if (u256_cmp(&tx->max_fee, &blk->base_fee) < 0) FAIL(TALLY_EFEE, "max fee below base fee");
    const struct world_account *s = world_get(w, &tx->sender);
    if (s && s->code_len) FAIL(TALLY_ESTATE, "sender has code (EIP-3607)");
    uint64_t have = s ? s->nonce : 0;
    if (have != tx->nonce)
        FAIL(TALLY_ENONCE, "nonce: account has %llu, tx %llu", (unsigned long long)have,
             (unsigned long long)tx->nonce);
    uint64_t intrinsic = evmtx_intrinsic_gas(tx);
    if (intrinsic > tx->gas_limit)
        FAIL(TALLY_EINTRINSIC, "intrinsic gas %llu above gas limit %llu",
             (unsigned long long)intrinsic, (unsigned long long)tx->gas_limit);
    if (!tx->has_to && tx->data_len > EVM_MAX_INITCODE)
        FAIL(TALLY_ETOOBIG, "initcode of %zu bytes (EIP-3860)", tx->data_len);
    u256 gl = u256_from_u64(tx->gas_limit), maxcost, total;
    if (u256_mul(&maxcost, &gl, &tx->max_fee) || u256_add(&total, &maxcost, &tx->value))
        FAIL(TALLY_ERANGE, "gas_limit * max_fee + value overflows");
    u256 bal = s ? s->balance : u256_from_u64(0);
    if (u256_cmp(&bal, &total) < 0)
        FAIL(TALLY_EFUNDS, "insufficient funds for gas * price + value");

    /* Effective price: min(max_fee, base_fee + priority). */
    u256 price, tip;
    u256_add(&price, &blk->base_fee, &tx->max_priority_fee);
    if (u256_cmp(&price, &tx->max_fee) > 0) price = tx->max_fee;
    u256_sub(&tip, &price, &blk->base_fee);

    struct evm_tx_context ctx = *blk;
    ctx.gas_price = price;
    ctx.origin = tx->sender;
    world_begin_tx(w, &ctx);
    u256 upfront;
    u256_mul(&upfront, &gl, &price);
    if (world_sub_balance(w, &tx->sender, &upfront)) FAIL(TALLY_EFUNDS, "insufficient funds");
    world_inc_nonce(w, &tx->sender);

    struct evm_host h = world_host(w);
    h.access_account(w, &tx->sender);
    if (tx->has_to) h.access_account(w, &tx->to);
    h.access_account(w, &blk->coinbase);
    for (uint8_t p = 1; p <= 10; p++) {
        struct evm_address a = {{0}};
        a.bytes[19] = p;
        h.access_account(w, &a);
    }
    for (size_t i = 0; i < tx->naccess; i++) {
        h.access_account(w, &tx->access[i].addr);
        for (size_t k = 0; k < tx->access[i].nkeys; k++)
            h.access_storage(w, &tx->access[i].addr, &tx->access[i].keys[k]);
    }

    struct evm_message m = {
        .kind = tx->has_to ? EVM_CALL : EVM_CREATE,
        .depth = 0,
        .gas = (int64_t)(tx->gas_limit - intrinsic),
        .sender = tx->sender,
        .input = tx->data,
        .input_len = tx->data_len,
        .value = tx->value,
    };
    if (tx->has_to) m.recipient = m.code_address = tx->to;
    struct evm_result r;
    world_call(w, &r, &m);
    if (r.status == EVM_INTERNAL_ERROR || world_failed(w)) {
        evm_result_free(&r);
        FAIL(TALLY_ENOMEM, "out of memory");
    }
    uint64_t gas_left = r.gas_left > 0 ? (uint64_t)r.gas_left : 0;
    uint64_t used = tx->gas_limit - gas_left;
    res->gas_spent = used;
    uint64_t refund = r.status == EVM_SUCCESS && r.gas_refund > 0 ? (uint64_t)r.gas_refund : 0;
    if (refund > used / MAX_REFUND_QUOTIENT) refund = used / MAX_REFUND_QUOTIENT;
    used -= refund;

    u256 back, g = u256_from_u64(tx->gas_limit - used), fee;
    u256_mul(&back, &g, &price);
    world_add_balance(w, &tx->sender, &back);
    g = u256_from_u64(used);
    u256_mul(&fee, &g, &tip);
    world_add_balance(w, &blk->coinbase, &fee);
    world_end_tx(w);

    res->gas_used = used;
    res->status = r.status;
    res->create_address = r.create_address;
    res->output = r.output;
    res->output_len = r.output_len;
    return world_failed(w) ? TALLY_ENOMEM : 0;
}

int evmtx_beacon_root(struct world *w, const struct evm_tx_context *blk,
                      const struct evm_bytes32 *root)
{
    struct evm_address beacon;
    memcpy(beacon.bytes, BEACON_ROOTS, 20);
    const struct world_account *a = world_get(w, &beacon);
    if (!a || !a->code_len) return 0;
    struct evm_tx_context ctx = *blk;
    struct evm_message m = {
        .kind = EVM_CALL, .gas = SYSTEM_GAS, .input = root->bytes, .input_len = 32};
    memset(m.sender.bytes, 0xff, 20);
    m.sender.bytes[19] = 0xfe;
    m.recipient = m.code_address = beacon;
    ctx.gas_price = u256_from_u64(0);
    ctx.origin = m.sender;
    world_begin_tx(w, &ctx);
    struct evm_result r;
    world_call(w, &r, &m);
    evm_result_free(&r);
    world_end_tx(w);
    return world_failed(w) ? TALLY_ENOMEM : 0;
}
