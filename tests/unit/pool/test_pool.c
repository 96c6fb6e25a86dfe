/* Transaction pool: admission errors, gaps, capacity, selection order and
 * fairness, removal after commit, and a throughput measurement. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/tx.h"
#include "crypto/keccak.h"
#include "pool/pool.h"
#include "util/clock.h"

#define NKEYS 8

static uint8_t keys[NKEYS][32];
static uint8_t addrs[NKEYS][20];

/* A committed-nonce table the callbacks read. */
struct nonces {
    uint64_t n[NKEYS];
};

static int key_of(const uint8_t addr[20])
{
    for (int i = 0; i < NKEYS; i++)
        if (memcmp(addrs[i], addr, 20) == 0) return i;
    return -1;
}

static uint64_t nonce_cb(void *arg, const uint8_t addr[20])
{
    struct nonces *ns = arg;
    int k = key_of(addr);
    return k < 0 ? 0 : ns->n[k];
}

static struct tx *mk(int key, uint64_t nonce)
{
    struct tx_fields f;
    memset(&f, 0, sizeof f);
    f.type = TX_LEGACY;
    f.chain_id = 1337;
    f.nonce = nonce;
    f.gas_price = u256_from_u64(1000000000);
    f.gas_limit = 21000;
    f.has_to = 1;
    memset(f.to, 0xaa, 20);
    f.value = u256_from_u64(1);
    struct tx *t = NULL;
    assert_int_equal(tx_sign(&t, &f, keys[key]), 0);
    assert_true(t->has_sender);
    return t;
}

static int setup_keys(void **state)
{
    for (int i = 0; i < NKEYS; i++) {
        memset(keys[i], 0, 32);
        keys[i][31] = (uint8_t)(i + 1);
        struct tx *t = NULL;
        struct tx_fields f;
        memset(&f, 0, sizeof f);
        f.type = TX_LEGACY;
        f.chain_id = 1;
        f.gas_limit = 21000;
        if (tx_sign(&t, &f, keys[i]) != 0) return -1;
        memcpy(addrs[i], t->sender, 20);
        tx_free(t);
    }
    return 0;
}

static struct pool *mkpool(size_t cap, size_t per_sender, uint64_t gap)
{
    struct pool_cfg cfg = {.capacity = cap, .max_per_sender = per_sender, .max_nonce_gap = gap};
    struct pool *p = NULL;
    assert_int_equal(pool_new(&p, &cfg), 0);
    return p;
}

static void add_ok(struct pool *p, struct tx *t, uint64_t state_nonce)
{
    char why[128] = "";
    int rc = pool_add(p, t, state_nonce, why, sizeof why);
    if (rc) fail_msg("pool_add: %d %s", rc, why);
}

static void test_dup_and_nonce_low(void **state)
{
    struct pool *p = mkpool(100, 16, 16);
    struct tx *a = mk(0, 5);
    add_ok(p, a, 5);
    char why[128];

    struct tx *a2 = mk(0, 5); /* identical bytes: same hash */
    assert_int_equal(pool_add(p, a2, 5, why, sizeof why), TALLY_EDUP);
    assert_string_equal(why, "already known");
    tx_free(a2);

    struct tx *low = mk(0, 4);
    assert_int_equal(pool_add(p, low, 7, why, sizeof why), TALLY_ENONCE);
    assert_string_equal(why, "nonce too low: next is 7, got 4");
    tx_free(low);

    /* Same sender and nonce, different bytes. */
    struct tx_fields f;
    memset(&f, 0, sizeof f);
    f.type = TX_LEGACY;
    f.chain_id = 1337;
    f.nonce = 5;
    f.gas_limit = 21000;
    f.value = u256_from_u64(99);
    struct tx *other = NULL;
    assert_int_equal(tx_sign(&other, &f, keys[0]), 0);
    assert_int_equal(pool_add(p, other, 5, why, sizeof why), TALLY_ENONCE);
    assert_string_equal(why, "nonce 5 already pending");
    tx_free(other);

    assert_int_equal(pool_count(p), 1);
    assert_ptr_equal(pool_find(p, a->hash), a);

    /* Unrecovered sender is refused. */
    struct tx *ns = mk(1, 0);
    ns->has_sender = 0;
    assert_int_equal(pool_add(p, ns, 0, why, sizeof why), TALLY_EINVAL);
    tx_free(ns);
    pool_free(p);
}

static void test_gap_held_then_filled(void **state)
{
    struct pool *p = mkpool(100, 16, 4);
    struct nonces ns = {{0}};
    struct tx *out[16];
    struct tx *t2 = mk(0, 2), *t3 = mk(0, 3);
    add_ok(p, t2, 0);
    add_ok(p, t3, 0);
    assert_int_equal(pool_count(p), 2);
    assert_int_equal(pool_select(p, out, 16, nonce_cb, &ns), 0); /* gap at 0, 1 */
    assert_int_equal(pool_pending_nonce(p, addrs[0], 0), 0);

    /* Too far ahead: pending nonce is 0, max gap 4. */
    char why[128];
    struct tx *far = mk(0, 5);
    assert_int_equal(pool_add(p, far, 0, why, sizeof why), TALLY_ERANGE);
    assert_string_equal(why, "nonce too far ahead: next is 0, got 5 (max gap 4)");
    tx_free(far);

    struct tx *t0 = mk(0, 0);
    add_ok(p, t0, 0);
    assert_int_equal(pool_select(p, out, 16, nonce_cb, &ns), 1);
    assert_ptr_equal(out[0], t0);
    assert_int_equal(pool_pending_nonce(p, addrs[0], 0), 1);

    struct tx *t1 = mk(0, 1);
    add_ok(p, t1, 0);
    assert_int_equal(pool_select(p, out, 16, nonce_cb, &ns), 4);
    assert_ptr_equal(out[0], t0);
    assert_ptr_equal(out[1], t1);
    assert_ptr_equal(out[2], t2);
    assert_ptr_equal(out[3], t3);
    assert_int_equal(pool_pending_nonce(p, addrs[0], 0), 4);
    /* Now 5 is within the gap measured from the pending nonce 4. */
    struct tx *t5 = mk(0, 5);
    add_ok(p, t5, 0);
    assert_int_equal(pool_select(p, out, 16, nonce_cb, &ns), 4);

    /* max wins over the run */
    assert_int_equal(pool_select(p, out, 2, nonce_cb, &ns), 2);
    pool_free(p);
}

static void test_full_and_per_sender(void **state)
{
    struct pool *p = mkpool(3, 2, 100);
    char why[128];
    add_ok(p, mk(0, 0), 0);
    add_ok(p, mk(0, 1), 0);
    struct tx *x = mk(0, 2);
    assert_int_equal(pool_add(p, x, 0, why, sizeof why), TALLY_ERANGE);
    assert_string_equal(why, "sender has 2 pending transactions (limit)");
    tx_free(x);
    add_ok(p, mk(1, 0), 0);
    x = mk(2, 0);
    assert_int_equal(pool_add(p, x, 0, why, sizeof why), TALLY_EFULL);
    assert_string_equal(why, "pool full: 3 transactions");
    tx_free(x);
    assert_int_equal(pool_count(p), 3);
    assert_int_equal(pool_sender_count(p), 2);
    pool_free(p);
}

static void test_select_order_and_fairness(void **state)
{
    struct pool *p = mkpool(1000, 100, 100);
    struct nonces ns = {{0}};
    /* Sender 0 sends 10 transactions first, then 1, 2, 3 send 2 each;
     * sender 4 sends nonce 1 (held), then later its nonce 0. */
    struct tx *s0[10], *s1[2], *s2[2], *s3[2], *s4[2];
    for (int i = 0; i < 10; i++) add_ok(p, s0[i] = mk(0, (uint64_t)i), 0);
    s4[1] = mk(4, 1);
    add_ok(p, s4[1], 0);
    for (int i = 0; i < 2; i++) add_ok(p, s1[i] = mk(1, (uint64_t)i), 0);
    for (int i = 0; i < 2; i++) add_ok(p, s2[i] = mk(2, (uint64_t)i), 0);
    for (int i = 0; i < 2; i++) add_ok(p, s3[i] = mk(3, (uint64_t)i), 0);
    s4[0] = mk(4, 0);
    add_ok(p, s4[0], 0);

    struct tx *out[64];
    size_t n = pool_select(p, out, 64, nonce_cb, &ns);
    assert_int_equal(n, 18);
    /* Round 1: heads in arrival order of each sender's first ready tx
     * (sender 4 became ready last). Round 2: second txs. Then sender 0. */
    struct tx *want[18] = {s0[0], s1[0], s2[0], s3[0], s4[0], s0[1], s1[1], s2[1], s3[1],
                           s4[1], s0[2], s0[3], s0[4], s0[5], s0[6], s0[7], s0[8], s0[9]};
    for (size_t i = 0; i < 18; i++) assert_ptr_equal(out[i], want[i]);

    /* A small block still gets one tx of every sender before a second. */
    n = pool_select(p, out, 5, nonce_cb, &ns);
    assert_int_equal(n, 5);
    assert_ptr_equal(out[0], s0[0]);
    assert_ptr_equal(out[4], s4[0]);

    /* nonce_of ahead of the pool's knowledge (a block in execution):
     * the run starts at the caller's nonce. */
    ns.n[0] = 8;
    n = pool_select(p, out, 64, nonce_cb, &ns);
    assert_int_equal(n, 10);
    int seen8 = 0;
    for (size_t i = 0; i < n; i++) {
        if (out[i] == s0[8]) seen8 = 1;
        for (int k = 0; k < 8; k++) assert_ptr_not_equal(out[i], s0[k]);
    }
    assert_true(seen8);

    /* pool_list is arrival order. */
    struct tx *all[64];
    assert_int_equal(pool_list(p, all, 64), 18);
    assert_ptr_equal(all[0], s0[0]);
    assert_ptr_equal(all[10], s4[1]);
    assert_ptr_equal(all[17], s4[0]);
    pool_free(p);
}

static void test_remove_committed_and_drop(void **state)
{
    struct pool *p = mkpool(1000, 100, 100);
    struct nonces ns = {{0}};
    struct tx *a[5], *b[3];
    uint8_t ha0[32], ha3[32];
    for (int i = 0; i < 5; i++) add_ok(p, a[i] = mk(0, (uint64_t)i), 0);
    memcpy(ha0, a[0]->hash, 32);
    memcpy(ha3, a[3]->hash, 32);
    for (int i = 0; i < 3; i++) add_ok(p, b[i] = mk(1, (uint64_t)i), 0);

    /* Block holds copies (as a decoded block would): a0, a1, b0. Also sender
     * 1's nonce jumped to 2 (b1 was committed through another node's tx with
     * a different hash), so b1 must go too. */
    struct tx *blk[3] = {mk(0, 0), mk(0, 1), mk(1, 0)};
    ns.n[0] = 2;
    ns.n[1] = 2;
    pool_remove_committed(p, blk, 3, nonce_cb, &ns);
    for (int i = 0; i < 3; i++) tx_free(blk[i]);
    assert_int_equal(pool_count(p), 4);
    assert_null(pool_find(p, ha0)); /* a[0] was freed by the pool */
    struct tx *out[16];
    size_t n = pool_select(p, out, 16, nonce_cb, &ns);
    assert_int_equal(n, 4);
    assert_ptr_equal(out[0], a[2]);
    assert_ptr_equal(out[1], b[2]);
    assert_ptr_equal(out[2], a[3]);
    assert_ptr_equal(out[3], a[4]);

    /* A block built from borrowed pool pointers: those are not freed by the
     * pool (the block owns them now). */
    struct tx *borrowed[1] = {a[2]};
    ns.n[0] = 3;
    pool_remove_committed(p, borrowed, 1, nonce_cb, &ns);
    assert_int_equal(pool_count(p), 3);
    tx_free(a[2]);

    /* Drop a[3] (e.g. insufficient funds): a[4] stays, behind a gap. */
    pool_drop(p, ha3);
    assert_int_equal(pool_count(p), 2);
    n = pool_select(p, out, 16, nonce_cb, &ns);
    assert_int_equal(n, 1);
    assert_ptr_equal(out[0], b[2]);
    pool_drop(p, ha3); /* unknown now: no-op */
    assert_int_equal(pool_count(p), 2);
    pool_free(p);
}

static void test_state_nonce_catch_up(void **state)
{
    struct pool *p = mkpool(100, 100, 100);
    add_ok(p, mk(0, 0), 0);
    add_ok(p, mk(0, 1), 0);
    /* The caller says the committed nonce is 2 now: old ones are pruned. */
    add_ok(p, mk(0, 2), 2);
    assert_int_equal(pool_count(p), 1);
    assert_int_equal(pool_pending_nonce(p, addrs[0], 2), 3);
    pool_free(p);
}

/* Synthetic copies for the throughput run: distinct hashes, many senders. */
static struct tx *clone_as(const struct tx *proto, uint32_t sender, uint64_t nonce, uint64_t ctr)
{
    struct tx *t = malloc(sizeof *t);
    *t = *proto;
    t->raw = malloc(proto->raw_len);
    memcpy(t->raw, proto->raw, proto->raw_len);
    t->nonce = nonce;
    memset(t->sender, 0, 20);
    memcpy(t->sender, &sender, sizeof sender);
    t->sender[19] = 0x77;
    keccak256(t->hash, &ctr, sizeof ctr);
    return t;
}

static uint64_t bench_nonce(void *arg, const uint8_t addr[20])
{
    uint64_t *committed = arg;
    uint32_t s;
    memcpy(&s, addr, sizeof s);
    return committed[s];
}

static void test_throughput(void **state)
{
    enum { SENDERS = 20000, PER = 10, TOTAL = SENDERS * PER, BLOCK = 10000 };
    struct pool *p = mkpool(TOTAL, 4096, 1024);
    struct tx *proto = mk(0, 0);
    struct tx **txs = malloc(TOTAL * sizeof *txs);
    uint64_t *committed = calloc(SENDERS, sizeof *committed);
    for (uint64_t i = 0; i < TOTAL; i++)
        txs[i] = clone_as(proto, (uint32_t)(i % SENDERS), i / SENDERS, i);

    uint64_t t0 = clock_mono_ns();
    for (size_t i = 0; i < TOTAL; i++) add_ok(p, txs[i], 0);
    uint64_t t1 = clock_mono_ns();
    assert_int_equal(pool_count(p), TOTAL);

    struct tx **out = malloc(BLOCK * sizeof *out);
    size_t sel = 0, rounds = 0;
    uint64_t t2 = clock_mono_ns();
    for (int r = 0; r < 200; r++) {
        sel += pool_select(p, out, BLOCK, bench_nonce, committed);
        rounds++;
    }
    uint64_t t3 = clock_mono_ns();

    /* Commit blocks until empty. */
    uint64_t t4 = clock_mono_ns();
    size_t blocks = 0;
    while (pool_count(p) > 0) {
        size_t n = pool_select(p, out, BLOCK, bench_nonce, committed);
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
            uint32_t s;
            memcpy(&s, out[i]->sender, sizeof s);
            committed[s] = out[i]->nonce + 1;
        }
        /* A block made of the pooled pointers is committed (the block owns
         * them from now on; the pool only forgets them). */
        struct tx **copy = malloc(n * sizeof *copy);
        memcpy(copy, out, n * sizeof *copy);
        pool_remove_committed(p, copy, n, bench_nonce, committed);
        for (size_t i = 0; i < n; i++) tx_free(copy[i]); /* the "block" owned them */
        free(copy);
        blocks++;
    }
    uint64_t t5 = clock_mono_ns();
    double add_s = (double)(t1 - t0) / 1e9, sel_s = (double)(t3 - t2) / 1e9;
    printf("# pool_add: %d txs (%d senders) in %.3f s = %.0f tx/s\n", TOTAL, SENDERS, add_s,
           TOTAL / add_s);
    printf("# pool_select(max %d) on %d txs: %.3f ms per call (%zu txs/call)\n", BLOCK, TOTAL,
           sel_s * 1e3 / (double)rounds, sel / rounds);
    printf("# select+remove_committed: %zu blocks in %.3f s = %.0f tx/s\n", blocks,
           (double)(t5 - t4) / 1e9, TOTAL / ((double)(t5 - t4) / 1e9));
    assert_true(TOTAL / add_s > 100000);
    tx_free(proto);
    free(out);
    free(txs);
    free(committed);
    pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dup_and_nonce_low),
        cmocka_unit_test(test_gap_held_then_filled),
        cmocka_unit_test(test_full_and_per_sender),
        cmocka_unit_test(test_select_order_and_fairness),
        cmocka_unit_test(test_remove_committed_and_drop),
        cmocka_unit_test(test_state_nonce_catch_up),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, setup_keys, NULL);
}
