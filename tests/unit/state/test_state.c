#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec/rlp.h"
#include "crypto/keccak.h"
#include "state/state.h"
#include "store/chainstore.h"
#include "store/store.h"

static void addr_of(uint8_t a[20], uint32_t i)
{
    memset(a, 0, 20);
    a[0] = 0xaa;
    a[16] = (uint8_t)(i >> 24);
    a[17] = (uint8_t)(i >> 16);
    a[18] = (uint8_t)(i >> 8);
    a[19] = (uint8_t)i;
}

static struct account acct(uint64_t bal, uint64_t nonce)
{
    struct account a;
    memset(&a, 0, sizeof a);
    a.balance = u256_from_u64(bal);
    a.nonce = nonce;
    return a;
}

static void assert_acct(struct state *s, const uint8_t a[20], uint64_t bal, uint64_t nonce)
{
    struct account got;
    assert_int_equal(state_get(s, &got, a), 0);
    assert_true(u256_fits_u64(&got.balance));
    assert_int_equal(got.balance.w[0], bal);
    assert_int_equal(got.nonce, nonce);
}

static void commit(struct store *st, struct state *s, uint8_t root[32])
{
    struct store_txn *t;
    assert_int_equal(store_txn_begin(st, &t, 1), 0);
    assert_int_equal(state_flush(s, t, root), 0);
    assert_int_equal(store_txn_commit(t), 0);
    state_commit_done(s);
}

static void test_mark_revert(void **unused)
{
    struct store *st;
    struct state *s;
    uint8_t a[20], b[20], c[20];
    addr_of(a, 1);
    addr_of(b, 2);
    addr_of(c, 3);
    assert_int_equal(store_open_mem(&st), 0);
    assert_int_equal(state_open(&s, st), 0);

    assert_acct(s, a, 0, 0); /* absent = zero */
    struct account x = acct(100, 1);
    assert_int_equal(state_put(s, a, &x), 0);
    size_t m1 = state_mark(s);
    x = acct(50, 2);
    assert_int_equal(state_put(s, a, &x), 0);
    x = acct(7, 0);
    assert_int_equal(state_put(s, b, &x), 0);
    size_t m2 = state_mark(s);
    x = acct(8, 0);
    assert_int_equal(state_put(s, c, &x), 0);
    x = acct(9, 9);
    assert_int_equal(state_put(s, b, &x), 0);
    assert_acct(s, c, 8, 0);
    assert_acct(s, b, 9, 9);

    state_revert(s, m2);
    assert_acct(s, a, 50, 2);
    assert_acct(s, b, 7, 0);
    assert_acct(s, c, 0, 0);
    x = acct(11, 0); /* c again after its entry was undone */
    assert_int_equal(state_put(s, c, &x), 0);
    assert_acct(s, c, 11, 0);

    state_revert(s, m1);
    assert_acct(s, a, 100, 1);
    assert_acct(s, b, 0, 0);
    assert_acct(s, c, 0, 0);
    state_revert(s, 0);
    assert_acct(s, a, 0, 0);

    state_close(s);
    store_close(st);
}

static void test_flush_commit_discard(void **unused)
{
    struct store *st;
    struct state *s;
    uint8_t a[20], b[20], root0[32], root1[32], root2[32], r[32];
    addr_of(a, 1);
    addr_of(b, 2);
    assert_int_equal(store_open_mem(&st), 0);
    assert_int_equal(state_open(&s, st), 0);
    state_root(s, root0);
    uint8_t zero[32] = {0};
    assert_memory_equal(root0, zero, 32);

    struct account x = acct(1000, 0);
    assert_int_equal(state_put(s, a, &x), 0);
    assert_int_equal(state_flush(s, NULL, r), 0); /* root only */
    commit(st, s, root1);
    assert_memory_equal(r, root1, 32);
    state_root(s, r);
    assert_memory_equal(r, root1, 32);
    assert_memory_not_equal(root1, root0, 32);

    /* Pending is invisible to get_committed; discard drops it. */
    x = acct(1, 5);
    assert_int_equal(state_put(s, a, &x), 0);
    struct account got;
    assert_int_equal(state_get_committed(s, &got, a), 0);
    assert_int_equal(got.balance.w[0], 1000);
    assert_int_equal(state_flush(s, NULL, r), 0);
    state_discard(s);
    assert_acct(s, a, 1000, 0);
    state_root(s, r);
    assert_memory_equal(r, root1, 32);

    /* Flush into a txn that is aborted, then discard: nothing changes. */
    struct store_txn *t;
    assert_int_equal(state_put(s, b, &x), 0);
    assert_int_equal(store_txn_begin(st, &t, 1), 0);
    assert_int_equal(state_flush(s, t, r), 0);
    store_txn_abort(t);
    state_discard(s);
    assert_acct(s, b, 0, 0);

    /* A second block; zeroing an account deletes it. */
    x = acct(0, 0);
    assert_int_equal(state_put(s, a, &x), 0);
    x = acct(5, 1);
    assert_int_equal(state_put(s, b, &x), 0);
    commit(st, s, root2);
    state_close(s);

    /* Reopen: the root and accounts come from the store. */
    assert_int_equal(state_open(&s, st), 0);
    state_root(s, r);
    assert_memory_equal(r, root2, 32);
    assert_acct(s, a, 0, 0);
    assert_acct(s, b, 5, 1);
    const void *v;
    size_t n;
    assert_int_equal(store_txn_begin(st, &t, 0), 0);
    assert_int_equal(store_get(t, STORE_DB_ACCOUNTS, a, 20, &v, &n), TALLY_ENOTFOUND);
    assert_int_equal(chainstore_meta_get(t, STATE_META_ROOT, &v, &n), 0);
    assert_memory_equal(v, root2, 32);
    store_txn_abort(t);
    state_close(s);
    store_close(st);
}

/* The documented rule, computed by hand for one account. */
static void test_root_rule(void **unused)
{
    struct store *st;
    struct state *s;
    uint8_t a[20], r[32], want[32], inner[32], cat[64];
    addr_of(a, 0x1234);
    assert_int_equal(store_open_mem(&st), 0);
    assert_int_equal(state_open(&s, st), 0);
    struct account x = acct(1000000, 3);
    assert_int_equal(state_put(s, a, &x), 0);
    assert_int_equal(state_flush(s, NULL, r), 0);

    struct buf b;
    struct rlp_enc e;
    buf_init(&b, 256);
    assert_int_equal(buf_append(&b, a, 20), 0);
    rlp_enc_init(&e, &b);
    rlp_list_begin(&e);
    rlp_put_u64(&e, 3);
    rlp_put_u256(&e, &x.balance);
    rlp_list_end(&e);
    assert_int_equal(rlp_enc_finish(&e), 0);
    keccak256(inner, b.p, b.len);
    memset(cat, 0, 32);
    memcpy(cat + 32, inner, 32);
    keccak256(want, cat, 64);
    assert_memory_equal(r, want, 32);
    buf_free(&b);

    /* An empty diff still advances the chain: Keccak(root || Keccak("")). */
    commit(st, s, r);
    uint8_t r2[32];
    assert_int_equal(state_flush(s, NULL, r2), 0);
    memcpy(cat, r, 32);
    keccak256(cat + 32, "", 0);
    keccak256(want, cat, 64);
    assert_memory_equal(r2, want, 32);
    state_close(s);
    store_close(st);
}

/* Same final diff in any order, through any intermediate values = same root. */
static void test_root_order_independent(void **unused)
{
    uint8_t roots[3][32];
    for (int run = 0; run < 3; run++) {
        struct store *st;
        struct state *s;
        assert_int_equal(store_open_mem(&st), 0);
        assert_int_equal(state_open(&s, st), 0);
        for (uint32_t k = 0; k < 300; k++) {
            uint32_t i = run == 0 ? k : run == 1 ? 299 - k : (k * 7) % 300;
            uint8_t a[20];
            addr_of(a, i * 2654435761u);
            struct account x = acct(i + 1, i % 3);
            if (run == 2) { /* detours that end at the same value */
                struct account y = acct(999, 9);
                assert_int_equal(state_put(s, a, &y), 0);
                size_t m = state_mark(s);
                uint8_t c[20];
                addr_of(c, 0xdead0000u + i); /* touched then reverted */
                assert_int_equal(state_put(s, c, &y), 0);
                state_revert(s, m);
            }
            assert_int_equal(state_put(s, a, &x), 0);
        }
        uint8_t other[20];
        addr_of(other, 0xbeef);
        if (run == 1) { /* put back its committed (zero) value: not a change */
            struct account y = acct(5, 0), z = acct(0, 0);
            assert_int_equal(state_put(s, other, &y), 0);
            assert_int_equal(state_put(s, other, &z), 0);
        }
        commit(st, s, roots[run]);
        state_close(s);
        store_close(st);
    }
    assert_memory_equal(roots[0], roots[1], 32);
    assert_memory_equal(roots[0], roots[2], 32);
}

/* More accounts than the cache holds: evicted entries read back from the store. */
static void test_cache_bounded(void **unused)
{
    struct store *st;
    struct state *s;
    uint8_t r[32];
    const uint32_t n = STATE_CACHE_ENTRIES + STATE_CACHE_ENTRIES / 4;
    assert_int_equal(store_open_mem(&st), 0);
    assert_int_equal(state_open(&s, st), 0);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t a[20];
        addr_of(a, i);
        struct account x = acct(i + 1, 1);
        assert_int_equal(state_put(s, a, &x), 0);
    }
    commit(st, s, r);
    for (uint32_t i = 0; i < n; i += 7) {
        uint8_t a[20];
        addr_of(a, i);
        struct account got;
        assert_int_equal(state_get_committed(s, &got, a), 0);
        assert_int_equal(got.balance.w[0], i + 1);
    }
    state_close(s);
    store_close(st);
}

static void assert_view(struct state *s, int committed, const uint8_t a[20], uint64_t bal,
                        uint64_t nonce)
{
    struct account got;
    if (committed)
        assert_int_equal(state_get_committed(s, &got, a), 0);
    else
        assert_int_equal(state_get_latest(s, &got, a), 0);
    assert_int_equal(got.balance.w[0], bal);
    assert_int_equal(got.nonce, nonce);
}

/* Blocks committed in memory (state_commit_mem) before their batches are
 * written: the latest view has them at once, the committed view only after
 * state_commit_written; roots equal those of the one-txn path. */
static void test_pipelined_commit(void **unused)
{
    struct store *st, *st2;
    struct state *s, *s2;
    uint8_t a[20], b[20], c[20], r1[32], r2[32], r3[32], w[32];
    struct store_batch *b1, *b2, *b3;
    uint64_t t1, t2, t3;
    addr_of(a, 1);
    addr_of(b, 2);
    addr_of(c, 3);
    assert_int_equal(store_open_mem(&st), 0);
    assert_int_equal(state_open(&s, st), 0);
    assert_int_equal(store_open_mem(&st2), 0); /* the same blocks, one txn each */
    assert_int_equal(state_open(&s2, st2), 0);

    /* Block 1: a = 100, b = 50. */
    struct account x = acct(100, 1);
    assert_int_equal(state_put(s, a, &x), 0);
    assert_int_equal(state_put(s2, a, &x), 0);
    x = acct(50, 0);
    assert_int_equal(state_put(s, b, &x), 0);
    assert_int_equal(state_put(s2, b, &x), 0);
    assert_int_equal(state_flush(s, NULL, r1), 0); /* as ledger_build does */
    assert_int_equal(store_batch_new(&b1), 0);
    assert_int_equal(state_flush_batch(s, b1, w), 0);
    assert_memory_equal(w, r1, 32);
    assert_int_equal(state_commit_mem(s, &t1), 0);
    commit(st2, s2, w);
    assert_memory_equal(w, r1, 32);
    state_root(s, w);
    assert_memory_equal(w, r1, 32);
    assert_int_equal(state_unwritten(s), 1);
    assert_view(s, 0, a, 100, 1);
    assert_view(s, 1, a, 0, 0);
    assert_acct(s, a, 100, 1); /* state_get builds on the latest */

    /* Block 2 on top, before block 1 is written: a = 70, c = 30, b zeroed. */
    x = acct(70, 2);
    assert_int_equal(state_put(s, a, &x), 0);
    assert_int_equal(state_put(s2, a, &x), 0);
    x = acct(30, 0);
    assert_int_equal(state_put(s, c, &x), 0);
    assert_int_equal(state_put(s2, c, &x), 0);
    x = acct(0, 0);
    assert_int_equal(state_put(s, b, &x), 0);
    assert_int_equal(state_put(s2, b, &x), 0);
    assert_int_equal(store_batch_new(&b2), 0);
    assert_int_equal(state_flush_batch(s, b2, r2), 0);
    assert_int_equal(state_commit_mem(s, &t2), 0);
    commit(st2, s2, w);
    assert_memory_equal(w, r2, 32);
    assert_int_equal(state_unwritten(s), 2);
    assert_view(s, 0, a, 70, 2);
    assert_view(s, 0, b, 0, 0);
    assert_view(s, 0, c, 30, 0);
    assert_view(s, 1, a, 0, 0);

    /* Block 3 pending (not committed) is in neither view. */
    x = acct(1, 3);
    assert_int_equal(state_put(s, a, &x), 0);
    assert_view(s, 0, a, 70, 2);
    state_discard(s);

    /* Block 1 written. */
    assert_int_equal(store_batch_write(st, b1), 0);
    state_commit_written(s, t1);
    assert_view(s, 1, a, 100, 1);
    assert_view(s, 1, b, 50, 0);
    assert_view(s, 1, c, 0, 0);
    assert_view(s, 0, a, 70, 2);
    assert_view(s, 0, b, 0, 0);

    /* Block 3 committed in memory, then blocks 2 and 3 written. */
    x = acct(2, 0);
    assert_int_equal(state_put(s, c, &x), 0);
    assert_int_equal(state_put(s2, c, &x), 0);
    assert_int_equal(store_batch_new(&b3), 0);
    assert_int_equal(state_flush_batch(s, b3, r3), 0);
    assert_int_equal(state_commit_mem(s, &t3), 0);
    commit(st2, s2, w);
    assert_memory_equal(w, r3, 32);
    assert_int_equal(store_batch_write(st, b2), 0);
    state_commit_written(s, t2);
    assert_view(s, 1, a, 70, 2);
    assert_view(s, 1, b, 0, 0);
    assert_view(s, 1, c, 30, 0);
    assert_view(s, 0, c, 2, 0);
    assert_int_equal(store_batch_write(st, b3), 0);
    state_commit_written(s, t3);
    assert_int_equal(state_unwritten(s), 0);
    assert_view(s, 1, c, 2, 0);
    store_batch_free(b1);
    store_batch_free(b2);
    store_batch_free(b3);
    state_close(s);

    /* The store holds what the one-txn path wrote. */
    assert_int_equal(state_open(&s, st), 0);
    state_root(s, w);
    assert_memory_equal(w, r3, 32);
    assert_view(s, 1, a, 70, 2);
    assert_view(s, 1, b, 0, 0);
    assert_view(s, 1, c, 2, 0);
    struct store_txn *t;
    const void *v;
    size_t n;
    assert_int_equal(store_txn_begin(st, &t, 0), 0);
    assert_int_equal(store_get(t, STORE_DB_ACCOUNTS, b, 20, &v, &n), TALLY_ENOTFOUND);
    store_txn_abort(t);
    state_close(s);
    state_close(s2);
    store_close(st);
    store_close(st2);
}

/* An unwritten block changes more accounts than the cache holds: after the
 * write, evicted entries read back from the store. */
/* Storage slots and code: journaled with the accounts, in the three views
 * through a pipelined commit, written to the store, in the root. */
static void test_slots_and_code(void **unused)
{
    (void)unused;
    struct store *st;
    struct state *s;
    uint8_t a[20], k1[32] = {1}, k2[32] = {2}, v[32], got[32], r0[32], r1[32], h[32];
    const uint8_t code[] = {0x60, 0x00, 0x60, 0x00, 0xf3};
    const uint8_t *cp;
    size_t clen;
    uint64_t t1;
    struct store_batch *b1;
    addr_of(a, 7);
    memset(v, 0, 32);
    v[31] = 9;
    keccak256(h, code, sizeof code);
    assert_int_equal(store_open_mem(&st), 0);
    assert_int_equal(state_open(&s, st), 0);

    /* A reverted slot and code leave nothing. */
    state_root(s, r0);
    size_t m = state_mark(s);
    assert_int_equal(state_put_slot(s, a, k1, v), 0);
    assert_int_equal(state_put_code(s, h, code, sizeof code), 0);
    assert_int_equal(state_get_slot(s, got, a, k1), 0);
    assert_memory_equal(got, v, 32);
    assert_int_equal(state_get_code(s, h, &cp, &clen), 0);
    assert_int_equal(clen, sizeof code);
    state_revert(s, m);
    assert_int_equal(state_get_slot(s, got, a, k1), 0);
    assert_true(!memcmp(got, (uint8_t[32]){0}, 32));
    assert_int_equal(state_get_code(s, h, &cp, &clen), TALLY_EDECODE);
    assert_int_equal(state_flush(s, NULL, r1), 0);
    uint8_t empty[32];
    state_root(s, empty);
    assert_memory_equal(empty, r0, 32);

    /* A contract with code and a slot, committed in memory then written. */
    struct account x = acct(5, 1);
    memcpy(x.code_hash, h, 32);
    assert_int_equal(state_put(s, a, &x), 0);
    assert_int_equal(state_put_code(s, h, code, sizeof code), 0);
    assert_int_equal(state_put_slot(s, a, k1, v), 0);
    assert_int_equal(state_flush(s, NULL, r1), 0);
    assert_memory_not_equal(r1, r0, 32);
    assert_int_equal(store_batch_new(&b1), 0);
    assert_int_equal(state_flush_batch(s, b1, got), 0);
    assert_int_equal(state_commit_mem(s, &t1), 0);
    assert_int_equal(state_get_committed_slot(s, got, a, k1), 0);
    assert_true(!memcmp(got, (uint8_t[32]){0}, 32)); /* not written yet */
    assert_int_equal(state_get_latest_slot(s, got, a, k1), 0);
    assert_memory_equal(got, v, 32);
    assert_int_equal(state_get_code(s, h, &cp, &clen), 0); /* from the unwritten list */
    assert_memory_equal(cp, code, sizeof code);
    assert_int_equal(store_batch_write(st, b1), 0);
    store_batch_free(b1);
    state_commit_written(s, t1);
    assert_int_equal(state_get_committed_slot(s, got, a, k1), 0);
    assert_memory_equal(got, v, 32);
    assert_int_equal(state_get_slot(s, got, a, k2), 0);
    assert_true(!memcmp(got, (uint8_t[32]){0}, 32));
    state_close(s);

    /* Reopened: everything comes from the store. */
    assert_int_equal(state_open(&s, st), 0);
    struct account y;
    assert_int_equal(state_get_committed(s, &y, a), 0);
    assert_memory_equal(y.code_hash, h, 32);
    assert_int_equal(y.nonce, 1);
    assert_int_equal(state_get_committed_slot(s, got, a, k1), 0);
    assert_memory_equal(got, v, 32);
    assert_int_equal(state_get_code(s, h, &cp, &clen), 0);
    assert_int_equal(clen, sizeof code);
    assert_memory_equal(cp, code, sizeof code);
    /* Zeroing the slot deletes it. */
    memset(v, 0, 32);
    assert_int_equal(state_put_slot(s, a, k1, v), 0);
    struct store_txn *t;
    assert_int_equal(store_txn_begin(st, &t, 1), 0);
    assert_int_equal(state_flush(s, t, r1), 0);
    assert_int_equal(store_txn_commit(t), 0);
    state_commit_done(s);
    assert_int_equal(store_txn_begin(st, &t, 0), 0);
    uint8_t key[52];
    const void *val;
    size_t vlen;
    memcpy(key, a, 20);
    memcpy(key + 20, k1, 32);
    assert_int_equal(store_get(t, STORE_DB_STORAGE, key, 52, &val, &vlen), TALLY_ENOTFOUND);
    store_txn_abort(t);
    state_close(s);
    store_close(st);
}

static void test_pipelined_cache_bounded(void **unused)
{
    struct store *st;
    struct state *s;
    struct store_batch *bt;
    uint64_t ticket;
    uint8_t r[32];
    const uint32_t n = STATE_CACHE_ENTRIES + STATE_CACHE_ENTRIES / 4;
    assert_int_equal(store_open_mem(&st), 0);
    assert_int_equal(state_open(&s, st), 0);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t a[20];
        addr_of(a, i);
        struct account x = acct(i + 1, 1);
        assert_int_equal(state_put(s, a, &x), 0);
    }
    assert_int_equal(store_batch_new(&bt), 0);
    assert_int_equal(state_flush_batch(s, bt, r), 0);
    assert_int_equal(state_commit_mem(s, &ticket), 0);
    for (uint32_t i = 0; i < n; i += 7) {
        uint8_t a[20];
        addr_of(a, i);
        assert_view(s, 0, a, i + 1, 1);
        assert_view(s, 1, a, 0, 0);
    }
    assert_int_equal(store_batch_write(st, bt), 0);
    store_batch_free(bt);
    state_commit_written(s, ticket);
    for (uint32_t i = 0; i < n; i += 7) {
        uint8_t a[20];
        addr_of(a, i);
        assert_view(s, 1, a, i + 1, 1);
        assert_view(s, 0, a, i + 1, 1);
    }
    state_close(s);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mark_revert),
        cmocka_unit_test(test_flush_commit_discard),
        cmocka_unit_test(test_root_rule),
        cmocka_unit_test(test_root_order_independent),
        cmocka_unit_test(test_cache_bounded),
        cmocka_unit_test(test_pipelined_commit),
        cmocka_unit_test(test_pipelined_cache_bounded),
        cmocka_unit_test(test_slots_and_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
