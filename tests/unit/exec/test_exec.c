#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "chain/tx.h"
#include "crypto/secp.h"
#include "exec/exec.h"
#include "state/state.h"
#include "store/store.h"

#define CHAIN_ID 1337

struct fx {
    struct store *st;
    struct state *s;
    uint8_t alice_key[32], issuer_key[32];
    uint8_t alice[20], bob[20], issuer[20], proposer[20];
    struct chain_rules rules;
    struct block_env env;
};

static void addr_of_key(uint8_t addr[20], const uint8_t key[32])
{
    uint8_t pub[64];
    assert_int_equal(secp_pubkey(pub, key), 0);
    secp_pub_to_addr(addr, pub);
}

static void set_balance(struct fx *f, const uint8_t a[20], uint64_t bal, uint64_t nonce)
{
    struct account x = {u256_from_u64(bal), nonce, {0}};
    assert_int_equal(state_put(f->s, a, &x), 0);
}

static uint64_t balance(struct fx *f, const uint8_t a[20])
{
    struct account x;
    assert_int_equal(state_get(f->s, &x, a), 0);
    assert_true(u256_fits_u64(&x.balance));
    return x.balance.w[0];
}

static uint64_t nonce_of(struct fx *f, const uint8_t a[20])
{
    struct account x;
    assert_int_equal(state_get(f->s, &x, a), 0);
    return x.nonce;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->alice_key[31] = 1;
    f->issuer_key[31] = 2;
    addr_of_key(f->alice, f->alice_key);
    addr_of_key(f->issuer, f->issuer_key);
    memset(f->bob, 0xb0, 20);
    memset(f->proposer, 0xcc, 20);
    assert_int_equal(store_open_mem(&f->st), 0);
    assert_int_equal(state_open(&f->s, f->st), 0);
    f->rules.chain_id = CHAIN_ID;
    f->rules.issuers = (const uint8_t(*)[20])f->issuer;
    f->rules.nissuers = 1;
    f->rules.block_gas_limit = 1000000;
    f->rules.tx_gas_limit = 500000;
    f->env.height = 1;
    f->env.gas_limit = f->rules.block_gas_limit;
    memcpy(f->env.proposer, f->proposer, 20);
    set_balance(f, f->alice, 1000000, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    state_close(f->s);
    store_close(f->st);
    free(f);
    return 0;
}

static struct tx *mktx(const uint8_t key[32], uint64_t nonce, const uint8_t *to, uint64_t value,
                       uint64_t gas_limit, uint64_t price)
{
    struct tx_fields tf = {0};
    struct tx *tx;
    tf.type = TX_LEGACY;
    tf.chain_id = CHAIN_ID;
    tf.nonce = nonce;
    tf.gas_price = u256_from_u64(price);
    tf.gas_limit = gas_limit;
    tf.has_to = to != NULL;
    if (to) memcpy(tf.to, to, 20);
    tf.value = u256_from_u64(value);
    assert_int_equal(tx_sign(&tx, &tf, key), 0);
    return tx;
}

static void test_transfer(void **state)
{
    struct fx *f = *state;
    struct receipt rc;
    char why[256];
    struct tx *tx = mktx(f->alice_key, 0, f->bob, 1000, 21000, 0);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), 0);
    assert_int_equal(rc.status, 1);
    assert_int_equal(rc.gas_used, 21000);
    assert_int_equal(rc.cumulative_gas, 21000);
    assert_string_equal(rc.reason, "");
    assert_int_equal(balance(f, f->alice), 999000);
    assert_int_equal(balance(f, f->bob), 1000);
    assert_int_equal(nonce_of(f, f->alice), 1);
    tx_free(tx);

    /* To oneself: only the nonce moves (no fee at price 0). */
    tx = mktx(f->alice_key, 1, f->alice, 500, 21000, 0);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 21000, why, sizeof why), 0);
    assert_int_equal(rc.cumulative_gas, 42000);
    assert_int_equal(balance(f, f->alice), 999000);
    assert_int_equal(nonce_of(f, f->alice), 2);
    tx_free(tx);
}

static void test_nonce_errors(void **state)
{
    struct fx *f = *state;
    struct receipt rc;
    char why[256];
    set_balance(f, f->alice, 1000000, 7);
    struct tx *tx = mktx(f->alice_key, 5, f->bob, 1, 21000, 0);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), TALLY_ENONCE);
    assert_string_equal(why, "nonce too low: have 7, got 5");
    tx_free(tx);
    set_balance(f, f->alice, 1000000, 5);
    tx = mktx(f->alice_key, 7, f->bob, 1, 21000, 0);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), TALLY_ENONCE);
    assert_string_equal(why, "nonce too high: have 5, got 7");
    assert_int_equal(balance(f, f->bob), 0);
    tx_free(tx);
}

static void test_insufficient_funds(void **state)
{
    struct fx *f = *state;
    struct receipt rc;
    char why[256];
    size_t mark = state_mark(f->s);
    struct tx *tx = mktx(f->alice_key, 0, f->bob, 999999, 21000, 1);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), TALLY_EFUNDS);
    assert_string_equal(why, "insufficient funds: balance 1000000, cost 1020999");
    assert_int_equal(state_mark(f->s), mark); /* nothing touched */
    assert_int_equal(balance(f, f->alice), 1000000);
    assert_int_equal(nonce_of(f, f->alice), 0);
    tx_free(tx);
}

static void test_issuer_mints(void **state)
{
    struct fx *f = *state;
    struct receipt rc;
    char why[256];
    /* The issuer has nothing; its value is minted, it pays only fees. */
    struct tx *tx = mktx(f->issuer_key, 0, f->bob, 5000000, 21000, 0);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), 0);
    assert_int_equal(rc.status, 1);
    assert_int_equal(balance(f, f->bob), 5000000);
    assert_int_equal(balance(f, f->issuer), 0);
    assert_int_equal(nonce_of(f, f->issuer), 1);
    tx_free(tx);
    /* With a fee it needs the fee part only. */
    tx = mktx(f->issuer_key, 1, f->bob, 5000000, 21000, 2);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), TALLY_EFUNDS);
    assert_string_equal(why, "insufficient funds: balance 0, cost 42000");
    set_balance(f, f->issuer, 42000, 1);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), 0);
    assert_int_equal(balance(f, f->bob), 10000000);
    assert_int_equal(balance(f, f->issuer), 0);
    tx_free(tx);
}

static void test_fees(void **state)
{
    struct fx *f = *state;
    struct receipt rc;
    char why[256];
    f->env.base_fee = u256_from_u64(7);
    f->rules.base_fee = f->env.base_fee;
    /* EIP-1559: max fee 10, tip 2 -> pays 9 per gas, proposer gets 2, 7 burnt. */
    struct tx_fields tf = {0};
    struct tx *tx;
    tf.type = TX_DYNAMIC_FEE;
    tf.chain_id = CHAIN_ID;
    tf.max_fee = u256_from_u64(10);
    tf.max_priority_fee = u256_from_u64(2);
    tf.gas_limit = 30000;
    tf.has_to = 1;
    memcpy(tf.to, f->bob, 20);
    tf.value = u256_from_u64(100);
    assert_int_equal(tx_sign(&tx, &tf, f->alice_key), 0);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), 0);
    assert_int_equal(rc.gas_used, 21000);
    assert_int_equal(balance(f, f->alice), 1000000 - 100 - 21000 * 9);
    assert_int_equal(balance(f, f->bob), 100);
    assert_int_equal(balance(f, f->proposer), 21000 * 2);
    tx_free(tx);

    /* Legacy at price 8 with base fee 7: tip 1. */
    tx = mktx(f->alice_key, 1, f->bob, 0, 21000, 8);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 21000, why, sizeof why), 0);
    assert_int_equal(balance(f, f->proposer), 21000 * 3);
    tx_free(tx);

    /* Below the base fee. */
    tx = mktx(f->alice_key, 2, f->bob, 0, 21000, 6);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), TALLY_EFEE);
    assert_string_equal(why, "max fee per gas 6 below base fee 7");
    tx_free(tx);
}

static struct tx *mktx_data(const uint8_t key[32], uint64_t nonce, const uint8_t *to,
                            uint64_t value, uint64_t gas_limit, const uint8_t *data, size_t len)
{
    struct tx_fields tf = {0};
    struct tx *tx;
    tf.type = TX_LEGACY;
    tf.chain_id = CHAIN_ID;
    tf.nonce = nonce;
    tf.gas_limit = gas_limit;
    tf.has_to = to != NULL;
    if (to) memcpy(tf.to, to, 20);
    tf.value = u256_from_u64(value);
    tf.data = data;
    tf.data_len = len;
    assert_int_equal(tx_sign(&tx, &tf, key), 0);
    return tx;
}

/* Runtime code: slot 0 = calldata word, LOG1(word, topic 0xaa), and revert
 * when called with value. Initcode: return the runtime code. */
static const uint8_t RUNTIME[] = {0x60, 0x00, 0x35, 0x80, 0x60, 0x00, 0x55, 0x60, 0x00, 0x52,
                                  0x60, 0xaa, 0x60, 0x20, 0x60, 0x00, 0xa1, 0x34, 0x15, 0x60,
                                  0x1b, 0x57, 0x60, 0x00, 0x60, 0x00, 0xfd, 0x5b, 0x00};
static const uint8_t INIT_HEAD[] = {0x60, sizeof RUNTIME, 0x80, 0x60, 0x0b, 0x60,
                                    0x00, 0x39,           0x60, 0x00, 0xf3};

static void test_contract_create_call_revert(void **state)
{
    struct fx *f = *state;
    struct receipt rc;
    char why[256];
    uint8_t init[sizeof INIT_HEAD + sizeof RUNTIME], arg[32] = {0}, slot0[32] = {0}, got[32];
    memcpy(init, INIT_HEAD, sizeof INIT_HEAD);
    memcpy(init + sizeof INIT_HEAD, RUNTIME, sizeof RUNTIME);

    /* Creation: the receipt names the contract; code and nonce are set. */
    struct tx *tx = mktx_data(f->alice_key, 0, NULL, 0, 200000, init, sizeof init);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), 0);
    assert_int_equal(rc.status, 1);
    assert_int_equal(rc.has_contract, 1);
    assert_true(rc.gas_used > tx_intrinsic_gas(tx));
    uint8_t c[20];
    memcpy(c, rc.contract, 20);
    struct account a;
    const uint8_t *code;
    size_t len;
    assert_int_equal(state_get(f->s, &a, c), 0);
    assert_int_equal(a.nonce, 1);
    assert_int_equal(state_get_code(f->s, a.code_hash, &code, &len), 0);
    assert_int_equal(len, sizeof RUNTIME);
    assert_memory_equal(code, RUNTIME, len);
    assert_int_equal(nonce_of(f, f->alice), 1);
    receipt_clear(&rc);
    tx_free(tx);

    /* A call stores the word and logs it. */
    arg[31] = 0x42;
    tx = mktx_data(f->alice_key, 1, c, 0, 100000, arg, 32);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), 0);
    assert_int_equal(rc.status, 1);
    assert_int_equal(rc.nlogs, 1);
    assert_memory_equal(rc.logs[0].addr, c, 20);
    assert_int_equal(rc.logs[0].ntopics, 1);
    assert_int_equal(rc.logs[0].topics[0][31], 0xaa);
    assert_int_equal(rc.logs[0].data_len, 32);
    assert_memory_equal(rc.logs[0].data, arg, 32);
    assert_int_equal(state_get_slot(f->s, got, c, slot0), 0);
    assert_memory_equal(got, arg, 32);
    uint8_t bloom[256] = {0}, zero[256] = {0};
    receipt_bloom(bloom, &rc);
    assert_memory_not_equal(bloom, zero, 256);
    receipt_clear(&rc);
    tx_free(tx);

    /* With value it reverts: included with status 0, the nonce moves, the
     * slot and the balances do not, no logs. */
    arg[31] = 0x99;
    uint64_t before = balance(f, f->alice);
    tx = mktx_data(f->alice_key, 2, c, 5, 100000, arg, 32);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), 0);
    assert_int_equal(rc.status, 0);
    assert_string_equal(rc.reason, "execution reverted");
    assert_int_equal(rc.nlogs, 0);
    assert_int_equal(nonce_of(f, f->alice), 3);
    assert_int_equal(balance(f, f->alice), before);
    assert_int_equal(balance(f, c), 0);
    assert_int_equal(state_get_slot(f->s, got, c, slot0), 0);
    assert_int_equal(got[31], 0x42);
    receipt_clear(&rc);
    tx_free(tx);

    /* Out of gas: all of the gas limit is used. */
    tx = mktx_data(f->alice_key, 3, c, 0, 21000 + 140 + 100, arg, 32);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), 0);
    assert_int_equal(rc.status, 0);
    assert_int_equal(rc.gas_used, 21000 + 140 + 100);
    assert_string_equal(rc.reason, "out of gas");
    tx_free(tx);
}

/* eth_call and eth_estimateGas run on the committed state and change nothing. */
static void test_call_and_estimate(void **state)
{
    struct fx *f = *state;
    struct receipt rc;
    char why[256];
    uint8_t init[sizeof INIT_HEAD + sizeof RUNTIME], arg[32] = {0}, slot0[32] = {0}, got[32];
    memcpy(init, INIT_HEAD, sizeof INIT_HEAD);
    memcpy(init + sizeof INIT_HEAD, RUNTIME, sizeof RUNTIME);
    struct tx *tx = mktx_data(f->alice_key, 0, NULL, 0, 200000, init, sizeof init);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), 0);
    tx_free(tx);
    struct store_txn *t;
    uint8_t root[32];
    assert_int_equal(store_txn_begin(f->st, &t, 1), 0);
    assert_int_equal(state_flush(f->s, t, root), 0);
    assert_int_equal(store_txn_commit(t), 0);
    state_commit_done(f->s);

    struct exec_call c = {.has_to = 1, .data = arg, .data_len = 32, .gas = 100000};
    memcpy(c.from, f->alice, 20);
    memcpy(c.to, rc.contract, 20);
    arg[31] = 7;
    struct exec_call_result r;
    assert_int_equal(exec_call(f->s, &r, &c, &f->env, &f->rules, why, sizeof why), 0);
    assert_int_equal(r.status, 1);
    assert_true(r.gas_used > 21000 + 20000);
    free(r.output);
    assert_int_equal(state_get_slot(f->s, got, rc.contract, slot0), 0);
    assert_int_equal(got[31], 0); /* nothing was written */
    uint64_t gas;
    assert_int_equal(exec_estimate_gas(f->s, &r, &gas, &c, &f->env, &f->rules, why, sizeof why), 0);
    assert_int_equal(r.status, 1);
    free(r.output);
    /* The estimate is enough and one less is not. */
    c.gas = gas;
    assert_int_equal(exec_call(f->s, &r, &c, &f->env, &f->rules, why, sizeof why), 0);
    assert_int_equal(r.status, 1);
    free(r.output);
    c.gas = gas - 1;
    assert_int_equal(exec_call(f->s, &r, &c, &f->env, &f->rules, why, sizeof why), 0);
    assert_int_equal(r.status, 0);
    free(r.output);
    /* A reverting call reports it. */
    c.value = u256_from_u64(1);
    c.gas = 100000;
    assert_int_equal(exec_call(f->s, &r, &c, &f->env, &f->rules, why, sizeof why), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.reason, "execution reverted");
    free(r.output);
    receipt_clear(&rc);
}

/* A contract that calls itself with all its gas: hundreds of nested frames
 * on the calling thread's stack (the node's loop thread), until the 63/64
 * rule leaves too little gas; the outermost call succeeds. */
static void test_deep_recursion(void **state)
{
    struct fx *f = *state;
    struct receipt rc;
    char why[256];
    static const uint8_t runtime[] = {0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60,
                                      0x00, 0x60, 0x00, 0x30, 0x5a, 0xf1, 0x00};
    uint8_t init[11 + sizeof runtime] = {0x60, sizeof runtime, 0x80, 0x60, 0x0b, 0x60,
                                         0x00, 0x39,           0x60, 0x00, 0xf3};
    memcpy(init + 11, runtime, sizeof runtime);
    f->rules.tx_gas_limit = f->rules.block_gas_limit = f->env.gas_limit = 30000000;
    struct tx *tx = mktx_data(f->alice_key, 0, NULL, 0, 200000, init, sizeof init);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), 0);
    assert_int_equal(rc.status, 1);
    tx_free(tx);
    tx = mktx_data(f->alice_key, 1, rc.contract, 0, 30000000, NULL, 0);
    struct receipt r2;
    assert_int_equal(exec_tx(f->s, &r2, tx, &f->env, &f->rules, 0, why, sizeof why), 0);
    assert_int_equal(r2.status, 1);
    /* Each level costs ~120 gas (a warm CALL and its arguments): ~520
     * levels deep, where the 63/64 rule leaves too little for another. */
    assert_true(r2.gas_used > 21000 + 400 * 120);
    tx_free(tx);
}

static void test_revert_reason(void **unused)
{
    (void)unused;
    char out[128];
    uint8_t d[100] = {0x08, 0xc3, 0x79, 0xa0};
    d[4 + 31] = 0x20; /* offset */
    d[36 + 31] = 3;   /* length */
    memcpy(d + 68, "no!", 3);
    exec_revert_reason(out, sizeof out, d, 100);
    assert_string_equal(out, "execution reverted: no!");
    d[36 + 31] = 200; /* longer than the data */
    exec_revert_reason(out, sizeof out, d, 100);
    assert_string_equal(out, "execution reverted");
    uint8_t p[36] = {0x4e, 0x48, 0x7b, 0x71};
    p[35] = 0x11;
    exec_revert_reason(out, sizeof out, p, 36);
    assert_string_equal(out, "execution reverted: panic 0x11");
}

static void test_other_refusals(void **state)
{
    struct fx *f = *state;
    struct receipt rc;
    char why[256];
    struct tx *tx = mktx(f->alice_key, 0, f->bob, 1, 600000, 0);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), TALLY_EGAS);
    tx_free(tx);
    tx = mktx(f->alice_key, 0, f->bob, 1, 21000, 0);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 990000, why, sizeof why),
                     TALLY_EGAS); /* block full */
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 979000, why, sizeof why), 0);
    tx_free(tx);
    tx = mktx(f->alice_key, 1, f->bob, 1, 20000, 0);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why),
                     TALLY_EINTRINSIC);
    tx_free(tx);

    struct tx_fields tf = {0};
    tf.type = TX_LEGACY;
    tf.chain_id = CHAIN_ID + 1;
    tf.nonce = 1;
    tf.gas_limit = 21000;
    tf.has_to = 1;
    assert_int_equal(tx_sign(&tx, &tf, f->alice_key), 0);
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why),
                     TALLY_ECHAINID);
    assert_string_equal(why, "wrong chain id: want 1337, got 1338");
    tx_free(tx);

    tx = mktx(f->alice_key, 1, f->bob, 1, 21000, 0);
    tx->has_sender = 0;
    assert_int_equal(exec_tx(f->s, &rc, tx, &f->env, &f->rules, 0, why, sizeof why), TALLY_ESIG);
    tx_free(tx);
    assert_int_equal(nonce_of(f, f->alice), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transfer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonce_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insufficient_funds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issuer_mints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fees, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contract_create_call_revert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_and_estimate, setup, teardown),
        cmocka_unit_test(test_revert_reason),
        cmocka_unit_test_setup_teardown(test_deep_recursion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
