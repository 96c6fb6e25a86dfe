/* The in-memory journaling world (exec/evm/world.h) and transaction
 * application (exec/evm/evmtx.h): journal and revert, original values for
 * SSTORE, per-transaction warm sets and transient storage, a value
 * transfer's fees, invalid transactions, EIP-6780 and EIP-161 deletion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "exec/evm/evmtx.h"
#include "exec/evm/world.h"

static struct evm_address A(uint8_t last) {
    struct evm_address a = {{0}};
    a.bytes[0] = 0xaa;
    a.bytes[19] = last;
    return a;
}

static struct evm_bytes32
W(uint8_t v) {
    struct evm_bytes32 b = {{0}};
    b.bytes[31] = v;
    return b;
}

static u256
U(uint64_t v)
{
    return u256_from_u64(v);
}

static uint64_t balance(struct world *w, uint8_t last)
{
    struct evm_address a = A(last);
    const struct world_account *x = world_get(w, &a);
    if (!x) return UINT64_MAX;
    assert_true(u256_fits_u64(&x->balance));
    return x->balance.w[0];
}

static struct evm_tx_context block_ctx(void)
{
    struct evm_tx_context c;
    memset(&c, 0, sizeof c);
    c.coinbase = A(0xcb);
    c.number = 1;
    c.gas_limit = 30000000;
    c.base_fee = U(10);
    c.chain_id = U(1);
    return c;
}

static void test_journal_revert(void **state)
{
    struct world *w;
    assert_int_equal(world_new(&w), 0);
    struct evm_address a = A(1);
    u256 b = U(100);
    assert_int_equal(world_put_account(w, &a, &b, 0, NULL, 0), 0);
    struct evm_bytes32 k = W(1), v1 = W(7), v2 = W(9);
    assert_int_equal(world_put_storage(w, &a, &k, &v1), 0);
    struct evm_tx_context c = block_ctx();
    world_begin_tx(w, &c);
    struct evm_host h = world_host(w);
    size_t snap = world_snapshot(w);
    /* original 7, current 7, new 9: modified; then 9 -> 7 restores. */
    assert_int_equal(h.set_storage(w, &a, &k, &v2), EVM_STORAGE_MODIFIED);
    assert_int_equal(h.set_storage(w, &a, &k, &v1), EVM_STORAGE_MODIFIED_RESTORED);
    assert_int_equal(h.set_storage(w, &a, &k, &v2), EVM_STORAGE_MODIFIED);
    u256 ten = U(10);
    world_add_balance(w, &a, &ten);
    struct evm_address fresh = A(2);
    world_add_balance(w, &fresh, &ten);
    assert_int_equal(balance(w, 1), 110);
    assert_int_equal(balance(w, 2), 10);
    world_revert(w, snap);
    assert_int_equal(balance(w, 1), 100);
    assert_null(world_get(w, &fresh));
    struct evm_bytes32 got = world_storage(w, &a, &k);
    assert_memory_equal(got.bytes, v1.bytes, 32);
    /* Insufficient funds changes nothing. */
    u256 big = U(1000);
    assert_int_equal(world_sub_balance(w, &a, &big), TALLY_EFUNDS);
    assert_int_equal(balance(w, 1), 100);
    world_end_tx(w);
    world_free(w);
}

static void test_warm_and_transient_reset(void **state)
{
    struct world *w;
    assert_int_equal(world_new(&w), 0);
    struct evm_address a = A(1);
    struct evm_bytes32 k = W(3), v = W(5);
    struct evm_tx_context c = block_ctx();
    struct evm_host h = world_host(w);
    world_begin_tx(w, &c);
    assert_int_equal(h.access_account(w, &a), EVM_ACCESS_COLD);
    assert_int_equal(h.access_account(w, &a), EVM_ACCESS_WARM);
    assert_int_equal(h.access_storage(w, &a, &k), EVM_ACCESS_COLD);
    assert_int_equal(h.access_storage(w, &a, &k), EVM_ACCESS_WARM);
    h.set_transient_storage(w, &a, &k, &v);
    struct evm_bytes32 t = h.get_transient_storage(w, &a, &k);
    assert_memory_equal(t.bytes, v.bytes, 32);
    /* Warming an address does not create it. */
    assert_null(world_get(w, &a));
    world_end_tx(w);
    world_begin_tx(w, &c);
    assert_int_equal(h.access_account(w, &a), EVM_ACCESS_COLD);
    assert_int_equal(h.access_storage(w, &a, &k), EVM_ACCESS_COLD);
    t = h.get_transient_storage(w, &a, &k);
    assert_memory_equal(t.bytes, W(0).bytes, 32);
    /* A reverted warm mark is cold again. */
    struct evm_address b = A(2);
    size_t snap = world_snapshot(w);
    assert_int_equal(h.access_account(w, &b), EVM_ACCESS_COLD);
    world_revert(w, snap);
    assert_int_equal(h.access_account(w, &b), EVM_ACCESS_COLD);
    world_end_tx(w);
    world_free(w);
}

static void test_transfer_fees(void **state)
{
    struct world *w;
    assert_int_equal(world_new(&w), 0);
    struct evm_address snd = A(1);
    u256 b = U(1000000);
    assert_int_equal(world_put_account(w, &snd, &b, 0, NULL, 0), 0);
    struct evm_tx_context c = block_ctx();
    struct evmtx tx = {.type = 2,
                       .sender = snd,
                       .nonce = 0,
                       .gas_limit = 30000,
                       .max_fee = U(15),
                       .max_priority_fee = U(2),
                       .has_to = 1,
                       .to = A(2),
                       .value = U(5)};
    struct evmtx_result r;
    char err[128];
    assert_int_equal(evmtx_apply(w, &r, &tx, &c, 30000000, err, sizeof err), 0);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(r.gas_used, 21000);
    /* price = min(15, 10 + 2) = 12: sender pays 21000*12 + 5. */
    assert_int_equal(balance(w, 1), 1000000 - 21000 * 12 - 5);
    assert_int_equal(balance(w, 2), 5);
    assert_int_equal(balance(w, 0xcb), 21000 * 2); /* the base fee is burnt */
    assert_int_equal(world_get(w, &snd)->nonce, 1);

    /* Replay: wrong nonce, nothing changes. */
    assert_int_equal(evmtx_apply(w, &r, &tx, &c, 30000000, err, sizeof err), TALLY_ENONCE);
    assert_int_equal(balance(w, 1), 1000000 - 21000 * 12 - 5);
    tx.nonce = 1;
    tx.gas_limit = 20999;
    assert_int_equal(evmtx_apply(w, &r, &tx, &c, 30000000, err, sizeof err), TALLY_EINTRINSIC);
    tx.gas_limit = 21000;
    assert_int_equal(evmtx_apply(w, &r, &tx, &c, 20000, err, sizeof err), TALLY_EGAS);
    tx.max_fee = U(9);
    tx.max_priority_fee = U(1);
    assert_int_equal(evmtx_apply(w, &r, &tx, &c, 30000000, err, sizeof err), TALLY_EFEE);
    tx.max_fee = U(1000);
    assert_int_equal(evmtx_apply(w, &r, &tx, &c, 30000000, err, sizeof err), TALLY_EFUNDS);
    assert_int_equal(world_get(w, &snd)->nonce, 1);
    world_free(w);
}

static void test_create_selfdestruct_and_touch(void **state)
{
    struct world *w;
    assert_int_equal(world_new(&w), 0);
    struct evm_address snd = A(1), empty = A(3);
    u256 b = U(10000000), zero = U(0);
    assert_int_equal(world_put_account(w, &snd, &b, 0, NULL, 0), 0);
    assert_int_equal(world_put_account(w, &empty, &zero, 0, NULL, 0), 0);
    struct evm_tx_context c = block_ctx();
    struct evmtx_result r;
    char err[128];

    /* Initcode returning the one-byte code 0x00: PUSH1 0 PUSH1 0 MSTORE8
     * PUSH1 1 PUSH1 0 RETURN. */
    static const uint8_t deploy[] = {0x60, 0x00, 0x60, 0x00, 0x53, 0x60, 0x01, 0x60, 0x00, 0xf3};
    struct evmtx tx = {.sender = snd,
                       .gas_limit = 100000,
                       .max_fee = U(10),
                       .max_priority_fee = U(10),
                       .data = deploy,
                       .data_len = sizeof deploy};
    assert_int_equal(evmtx_apply(w, &r, &tx, &c, 30000000, err, sizeof err), 0);
    assert_int_equal(r.status, EVM_SUCCESS);
    struct evm_address want;
    evm_create_address(&want, &snd, 0);
    assert_memory_equal(r.create_address.bytes, want.bytes, 20);
    const struct world_account *x = world_get(w, &want);
    assert_non_null(x);
    assert_int_equal(x->nonce, 1);
    assert_int_equal(x->code_len, 1);

    /* Initcode that self-destructs to A(4) in its own creation
     * transaction: the account is gone (EIP-6780), the value moved. */
    uint8_t sd[22] = {0x73};
    memcpy(sd + 1, A(4).bytes, 20);
    sd[21] = 0xff;
    tx.nonce = 1;
    tx.value = U(77);
    tx.data = sd;
    tx.data_len = sizeof sd;
    assert_int_equal(evmtx_apply(w, &r, &tx, &c, 30000000, err, sizeof err), 0);
    assert_int_equal(r.status, EVM_SUCCESS);
    evm_create_address(&want, &snd, 1);
    assert_null(world_get(w, &want));
    assert_int_equal(balance(w, 4), 77);

    /* A zero-value call touches the empty account A(3): deleted (EIP-161). */
    struct evmtx call = {.sender = snd,
                         .nonce = 2,
                         .gas_limit = 21000,
                         .max_fee = U(10),
                         .max_priority_fee = U(0),
                         .has_to = 1,
                         .to = empty};
    assert_non_null(world_get(w, &empty));
    assert_int_equal(evmtx_apply(w, &r, &call, &c, 30000000, err, sizeof err), 0);
    assert_null(world_get(w, &empty));
    world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal_revert),
        cmocka_unit_test(test_warm_and_transient_reset),
        cmocka_unit_test(test_transfer_fees),
        cmocka_unit_test(test_create_selfdestruct_and_touch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
