#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include "chain/block.h"
#include "chain/genesis.h"
#include "chain/tx.h"
#include "crypto/keccak.h"
#include "crypto/secp.h"
#include "exec/ledger.h"
#include "store/chainstore.h"
#include "store/store.h"
#include "util/clock.h"

#define CHAIN_ID 1337

static void key_of(uint8_t key[32], uint32_t i)
{
    uint8_t seed[8] = {
        'k', 'e', 'y', 0, (uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
    keccak256(key, seed, sizeof seed);
}

static void addr_of_key(uint8_t addr[20], const uint8_t key[32])
{
    uint8_t pub[64];
    assert_int_equal(secp_pubkey(pub, key), 0);
    secp_pub_to_addr(addr, pub);
}

struct chain {
    struct genesis g;
    struct chain_rules rules;
    uint8_t (*keys)[32];
    uint8_t (*addrs)[20];
    uint8_t issuer[20];
    size_t n;
};

/* n funded accounts (keys key_of(0..n)), base fee 0 unless given. */
static void chain_init(struct chain *c, size_t n, uint64_t base_fee)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    c->keys = calloc(n, 32);
    c->addrs = calloc(n, 20);
    c->g.alloc = calloc(n, sizeof *c->g.alloc);
    for (size_t i = 0; i < n; i++) {
        key_of(c->keys[i], (uint32_t)i);
        addr_of_key(c->addrs[i], c->keys[i]);
        memcpy(c->g.alloc[i].addr, c->addrs[i], 20);
        c->g.alloc[i].balance = u256_from_u64(1000000000000ull);
    }
    c->g.nalloc = n;
    c->g.chain_id = CHAIN_ID;
    c->g.timestamp_ms = 1700000000000ull;
    c->g.block_gas_limit = 30000ull * 1000 * 1000; /* roomy: 5,000+ transfers */
    c->g.tx_gas_limit = 10000000;
    c->g.base_fee = u256_from_u64(base_fee);
    memset(c->issuer, 0x1e, 20);
    c->g.issuers = (uint8_t(*)[20])c->issuer;
    c->g.nissuers = 1;
    c->rules.chain_id = CHAIN_ID;
    c->rules.issuers = (const uint8_t(*)[20])c->issuer;
    c->rules.nissuers = 1;
    c->rules.block_gas_limit = c->g.block_gas_limit;
    c->rules.tx_gas_limit = c->g.tx_gas_limit;
    c->rules.base_fee = c->g.base_fee;
}

static void chain_free(struct chain *c)
{
    free(c->keys);
    free(c->addrs);
    free(c->g.alloc);
}

static struct tx *transfer(const uint8_t key[32], uint64_t nonce, const uint8_t to[20],
                           uint64_t value, uint64_t price)
{
    struct tx_fields tf = {0};
    struct tx *tx;
    tf.type = TX_DYNAMIC_FEE;
    tf.chain_id = CHAIN_ID;
    tf.nonce = nonce;
    tf.max_fee = u256_from_u64(price);
    tf.max_priority_fee = u256_from_u64(price);
    tf.gas_limit = 21000;
    tf.has_to = 1;
    memcpy(tf.to, to, 20);
    tf.value = u256_from_u64(value);
    assert_int_equal(tx_sign(&tx, &tf, key), 0);
    return tx;
}

static uint64_t committed_balance(struct ledger *l, const uint8_t a[20])
{
    struct account x;
    assert_int_equal(state_get_committed(ledger_state(l), &x, a), 0);
    return x.balance.w[0];
}

struct drops {
    int n;
    int last_err;
    char last_why[256];
};

static void on_drop(void *arg, struct tx *tx, int err, const char *why)
{
    struct drops *d = arg;
    d->n++;
    d->last_err = err;
    snprintf(d->last_why, sizeof d->last_why, "%s", why);
}

static void tmpdir(char *out, size_t n)
{
    snprintf(out, n, "/tmp/tally-ledger-XXXXXX");
    assert_non_null(mkdtemp(out));
}

static void rmdir_all(const char *dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

/* Build and commit one block of the given transactions; returns included count. */
static size_t build_commit(struct ledger *l, struct tx **txs, size_t n, struct drops *d)
{
    struct block *b;
    struct receipt *r;
    uint8_t prop[20] = {0x99};
    assert_int_equal(ledger_build(l, &b, &r, txs, n, prop, clock_wall_ms(), on_drop, d), 0);
    assert_int_equal(ledger_commit(l, b, r), 0);
    size_t k = b->ntx;
    block_free(b);
    free(r);
    return k;
}

static void test_genesis_and_reopen(void **unused)
{
    struct chain c;
    char dir[64];
    struct store *st;
    struct ledger *l;
    chain_init(&c, 3, 0);
    tmpdir(dir, sizeof dir);
    assert_int_equal(store_open_lmdb(&st, dir, 1ull << 30), 0);
    assert_int_equal(ledger_open(&l, st, &c.g, &c.rules), 0);
    assert_int_equal(ledger_height(l), 0);
    assert_int_equal(committed_balance(l, c.addrs[2]), 1000000000000ull);
    uint8_t gh[32], root[32];
    ledger_head_hash(l, gh);
    state_root(ledger_state(l), root);

    /* The genesis block is stored with the alloc's root. */
    struct store_txn *t;
    struct block *b;
    assert_int_equal(store_txn_begin(st, &t, 0), 0);
    assert_int_equal(chainstore_block(t, &b, 0), 0);
    assert_memory_equal(b->hash, gh, 32);
    assert_memory_equal(b->h.state_root, root, 32);
    assert_int_equal(b->ntx, 0);
    block_free(b);
    store_txn_abort(t);

    /* One block, then reopen. */
    struct drops d = {0};
    uint8_t bob[20] = {0xb0};
    struct tx *txs[3] = {transfer(c.keys[0], 0, bob, 10, 0), transfer(c.keys[0], 5, bob, 10, 0),
                         transfer(c.keys[1], 0, bob, 20, 0)};
    assert_int_equal(build_commit(l, txs, 3, &d), 2);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.last_err, TALLY_ENONCE);
    assert_string_equal(d.last_why, "nonce too high: have 1, got 5");
    assert_int_equal(ledger_height(l), 1);
    assert_int_equal(committed_balance(l, bob), 30);
    uint8_t head[32];
    ledger_head_hash(l, head);
    state_root(ledger_state(l), root);
    ledger_close(l);
    store_close(st);

    assert_int_equal(store_open_lmdb(&st, dir, 1ull << 30), 0);
    assert_int_equal(ledger_open(&l, st, &c.g, &c.rules), 0);
    assert_int_equal(ledger_height(l), 1);
    uint8_t h2[32], r2[32];
    ledger_head_hash(l, h2);
    state_root(ledger_state(l), r2);
    assert_memory_equal(h2, head, 32);
    assert_memory_equal(r2, root, 32);
    assert_int_equal(committed_balance(l, bob), 30);
    char why[256];
    assert_int_equal(ledger_validate(l, 0, 1, why, sizeof why), 0);
    /* The tx index knows where the txs are. */
    uint64_t h;
    uint32_t idx;
    assert_int_equal(store_txn_begin(st, &t, 0), 0);
    assert_int_equal(chainstore_tx_loc(t, &h, &idx, txs[2]->hash), 0);
    assert_int_equal(h, 1);
    assert_int_equal(idx, 1);
    assert_int_equal(chainstore_tx_loc(t, &h, &idx, txs[1]->hash), TALLY_ENOTFOUND);
    store_txn_abort(t);
    ledger_close(l);

    /* Another genesis on the same store is refused. */
    c.g.alloc[0].balance = u256_from_u64(1);
    assert_int_equal(ledger_open(&l, st, &c.g, &c.rules), TALLY_ECONFIG);
    c.g.alloc[0].balance = u256_from_u64(1000000000000ull);
    c.g.chain_id = c.rules.chain_id = 7;
    assert_int_equal(ledger_open(&l, st, &c.g, &c.rules), TALLY_ECONFIG);
    store_close(st);

    for (int i = 0; i < 3; i++) tx_free(txs[i]);
    rmdir_all(dir);
    chain_free(&c);
}

static void test_nothing_included(void **unused)
{
    struct chain c;
    struct store *st;
    struct ledger *l;
    chain_init(&c, 1, 0);
    assert_int_equal(store_open_mem(&st), 0);
    assert_int_equal(ledger_open(&l, st, &c.g, &c.rules), 0);
    uint8_t bob[20] = {0xb0}, prop[20] = {0};
    struct tx *tx = transfer(c.keys[0], 3, bob, 1, 0);
    struct block *b;
    struct receipt *r;
    struct drops d = {0};
    assert_int_equal(ledger_build(l, &b, &r, &tx, 1, prop, 0, on_drop, &d), TALLY_ENOTFOUND);
    assert_int_equal(d.n, 1);
    assert_null(b);
    tx_free(tx);
    ledger_close(l);
    store_close(st);
    chain_free(&c);
}

/* Node A builds, node B (same genesis) executes; tampered copies are refused. */
static void test_execute_and_tamper(void **unused)
{
    struct chain c;
    struct store *sa, *sb;
    struct ledger *la, *lb;
    char why[256];
    chain_init(&c, 4, 3);
    assert_int_equal(store_open_mem(&sa), 0);
    assert_int_equal(store_open_mem(&sb), 0);
    assert_int_equal(ledger_open(&la, sa, &c.g, &c.rules), 0);
    assert_int_equal(ledger_open(&lb, sb, &c.g, &c.rules), 0);

    uint8_t bob[20] = {0xb0}, prop[20] = {0x77};
    struct tx *txs[3] = {transfer(c.keys[0], 0, bob, 10, 5), transfer(c.keys[1], 0, bob, 20, 5),
                         transfer(c.keys[2], 0, c.addrs[3], 30, 5)};
    struct block *b;
    struct receipt *r, *rb;
    assert_int_equal(ledger_build(la, &b, &r, txs, 3, prop, 1700000000001ull, NULL, NULL), 0);
    assert_int_equal(b->ntx, 3);
    assert_int_equal(b->h.gas_used, 63000);

    /* Received as bytes, decoded, senders recovered. */
    struct buf enc;
    buf_init(&enc, 1 << 20);
    assert_int_equal(block_encode(&enc, b), 0);
    struct block *got;
    assert_int_equal(block_decode(&got, enc.p, enc.len, 1), 0);

    /* A tampered state root (resealed so the hash fits) is refused. */
    got->h.state_root[0] ^= 1;
    assert_int_equal(block_seal(got), 0);
    assert_int_equal(ledger_execute(lb, &rb, got, why, sizeof why), TALLY_EBADBLOCK);
    assert_string_equal(why, "state root mismatch");
    assert_null(rb);
    got->h.state_root[0] ^= 1;
    assert_int_equal(block_seal(got), 0);
    /* A changed header without resealing. */
    got->h.gas_used++;
    assert_int_equal(ledger_execute(lb, &rb, got, why, sizeof why), TALLY_EBADBLOCK);
    assert_string_equal(why, "block hash does not match its header");
    assert_int_equal(block_seal(got), 0);
    assert_int_equal(ledger_execute(lb, &rb, got, why, sizeof why), TALLY_EBADBLOCK);
    assert_string_equal(why, "gas used 63000, header says 63001");
    got->h.gas_used--;
    assert_int_equal(block_seal(got), 0);
    /* Swapped transactions: tx root. */
    struct tx *tmp = got->txs[0];
    got->txs[0] = got->txs[1];
    got->txs[1] = tmp;
    assert_int_equal(ledger_execute(lb, &rb, got, why, sizeof why), TALLY_EBADBLOCK);
    assert_string_equal(why, "tx root mismatch");
    got->txs[1] = got->txs[0];
    got->txs[0] = tmp;
    /* Wrong height. */
    got->h.height = 2;
    assert_int_equal(block_seal(got), 0);
    assert_int_equal(ledger_execute(lb, &rb, got, why, sizeof why), TALLY_EBADBLOCK);
    assert_string_equal(why, "height 2, expected 1");
    got->h.height = 1;
    assert_int_equal(block_seal(got), 0);
    assert_memory_equal(got->hash, b->hash, 32);

    /* The genuine block executes and commits on B; both agree. */
    assert_int_equal(ledger_execute(lb, &rb, got, why, sizeof why), 0);
    assert_int_equal(ledger_commit(lb, got, rb), 0);
    assert_int_equal(ledger_commit(la, b, r), 0);
    uint8_t ra[32], rb32[32];
    state_root(ledger_state(la), ra);
    state_root(ledger_state(lb), rb32);
    assert_memory_equal(ra, rb32, 32);
    assert_int_equal(committed_balance(lb, prop), 3 * 21000 * 2); /* tip 5 - base 3 */
    assert_int_equal(committed_balance(lb, bob), 30);
    free(rb);

    /* A block whose tx cannot be included (nonce reused) is refused by execute. */
    block_free(got);
    got = NULL;
    assert_int_equal(block_decode(&got, enc.p, enc.len, 1), 0);
    memcpy(got->h.parent_hash, b->hash, 32);
    got->h.height = 2;
    assert_int_equal(block_seal(got), 0);
    assert_int_equal(ledger_execute(lb, &rb, got, why, sizeof why), TALLY_EBADBLOCK);
    assert_non_null(strstr(why, "nonce too low: have 1, got 0"));

    /* Commit refuses a built block with a tampered root; the ledger is unchanged. */
    block_free(b);
    free(r);
    struct tx *t2 = transfer(c.keys[0], 1, bob, 1, 5);
    assert_int_equal(ledger_build(la, &b, &r, &t2, 1, prop, 1700000000002ull, NULL, NULL), 0);
    b->h.state_root[5] ^= 0x40;
    assert_int_equal(block_seal(b), 0);
    assert_int_equal(ledger_commit(la, b, r), TALLY_EBADBLOCK);
    assert_string_equal(ledger_errmsg(la), "state root mismatch");
    assert_int_equal(ledger_height(la), 1);
    uint8_t ra2[32];
    state_root(ledger_state(la), ra2);
    assert_memory_equal(ra, ra2, 32);
    block_free(b);
    free(r);
    /* ... and can build the same block again. */
    assert_int_equal(ledger_build(la, &b, &r, &t2, 1, prop, 1700000000002ull, NULL, NULL), 0);
    assert_int_equal(ledger_commit(la, b, r), 0);
    assert_int_equal(ledger_height(la), 2);
    assert_int_equal(ledger_validate(la, 0, 2, why, sizeof why), 0);

    /* validate notices a broken index. */
    struct store_txn *t;
    uint8_t bad_loc[12] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9};
    assert_int_equal(store_txn_begin(sa, &t, 1), 0);
    assert_int_equal(store_put(t, STORE_DB_TX_LOC, t2->hash, 32, bad_loc, 12), 0);
    assert_int_equal(store_txn_commit(t), 0);
    assert_int_equal(ledger_validate(la, 1, 2, why, sizeof why), TALLY_EBADBLOCK);
    assert_string_equal(why, "tx index of block 2 tx 0 does not point back");
    assert_int_equal(ledger_validate(la, 0, 1, why, sizeof why), 0);
    assert_int_equal(ledger_validate(la, 0, 3, why, sizeof why), TALLY_EINVAL);

    block_free(b);
    free(r);
    block_free(got);
    buf_free(&enc);
    tx_free(t2);
    for (int i = 0; i < 3; i++) tx_free(txs[i]);
    ledger_close(la);
    ledger_close(lb);
    store_close(sa);
    store_close(sb);
    chain_free(&c);
}

/* 5,000 transfers between distinct accounts per block on LMDB: the cost of
 * ledger_build + ledger_commit (the node needs 25,000 tx/s). */
static void test_bench_5000(void **unused)
{
    enum { N = 5000, BLOCKS = 4 };
    struct chain c;
    char dir[64];
    struct store *st;
    struct ledger *l;
    chain_init(&c, N, 1);
    tmpdir(dir, sizeof dir);
    assert_int_equal(store_open_lmdb(&st, dir, 1ull << 32), 0);
    assert_int_equal(ledger_open(&l, st, &c.g, &c.rules), 0);
    ledger_close(l); /* reopen so the state cache starts cold, as after a restart */
    assert_int_equal(ledger_open(&l, st, &c.g, &c.rules), 0);
    struct tx **txs = calloc(N, sizeof *txs);
    uint8_t prop[20] = {0x99};
    for (int blk = 0; blk < BLOCKS; blk++) {
        for (uint32_t i = 0; i < N; i++) {
            uint8_t to[20] = {0xee, (uint8_t)blk};
            to[16] = (uint8_t)(i >> 24);
            to[17] = (uint8_t)(i >> 16);
            to[18] = (uint8_t)(i >> 8);
            to[19] = (uint8_t)i;
            txs[i] = transfer(c.keys[i], (uint64_t)blk, to, 1000 + i, 2);
        }
        struct block *b;
        struct receipt *r;
        uint64_t t0 = clock_mono_ns();
        assert_int_equal(ledger_build(l, &b, &r, txs, N, prop, clock_wall_ms(), NULL, NULL), 0);
        uint64_t t1 = clock_mono_ns();
        assert_int_equal(ledger_commit(l, b, r), 0);
        uint64_t t2 = clock_mono_ns();
        assert_int_equal(b->ntx, N);
        printf("bench: block %d of %d transfers: build %.1f ms + commit %.1f ms = %.1f ms "
               "(%.0f tx/s)\n",
               blk + 1, N, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t2 - t0) / 1e6,
               N / ((t2 - t0) / 1e9));
        block_free(b);
        free(r);
        for (uint32_t i = 0; i < N; i++) tx_free(txs[i]);
    }
    char why[256];
    assert_int_equal(ledger_validate(l, 0, BLOCKS, why, sizeof why), 0);
    free(txs);
    ledger_close(l);
    store_close(st);
    rmdir_all(dir);
    chain_free(&c);
}

/* ---- pipelined commit ---- */

static void *write_job_main(void *arg)
{
    ledger_write_job(arg);
    return NULL;
}

/* The ledger of test_pipelined: on LMDB, each block's write runs on a thread
 * while the next block is built on top of it; a second ledger (in memory,
 * one txn per block) builds the same blocks. */
static void test_pipelined(void **unused)
{
    enum { BLOCKS = 6, N = 40 };
    struct chain c;
    char dir[64], why[256];
    struct store *sa, *sb;
    struct ledger *la, *lb;
    chain_init(&c, N, 1);
    tmpdir(dir, sizeof dir);
    assert_int_equal(store_open_lmdb(&sa, dir, 1ull << 30), 0);
    assert_int_equal(store_open_mem(&sb), 0);
    assert_int_equal(ledger_open(&la, sa, &c.g, &c.rules), 0);
    assert_int_equal(ledger_open(&lb, sb, &c.g, &c.rules), 0);
    /* merge the deferred tx index every few blocks, in chunks over two writes */
    ledger_set_txindex_merge(la, 100, 60);
    uint8_t bob[20] = {0xb0}, prop[20] = {0x99};
    struct tx *txs[N];
    uint8_t hashes[BLOCKS][N][32];
    struct ledger_job *writing = NULL;
    pthread_t th;
    for (int blk = 1; blk <= BLOCKS; blk++) {
        for (uint32_t i = 0; i < N; i++) {
            txs[i] = transfer(c.keys[i], (uint64_t)blk - 1, bob, 10, 2);
            memcpy(hashes[blk - 1][i], txs[i]->hash, 32);
        }
        struct block *b, *b2;
        struct receipt *r, *r2;
        uint64_t ts = 1700000000000ull + (uint64_t)blk;
        assert_int_equal(ledger_build(la, &b, &r, txs, N, prop, ts, NULL, NULL), 0);
        assert_int_equal(b->h.height, blk);
        if (writing) /* the one-txn commit refuses while a write is in flight */
            assert_int_equal(ledger_commit(la, b, r), TALLY_EBUSY);
        struct ledger_job *j;
        assert_int_equal(ledger_commit_prepare(la, &j, b, r), 0);
        assert_int_equal(ledger_tip_height(la), blk);
        assert_int_equal(ledger_job_height(j), blk);
        /* The next block builds on it; clients do not see it yet. */
        assert_int_equal(ledger_height(la), writing ? blk - 2 : blk - 1);
        struct account latest, committed;
        assert_int_equal(state_get_latest(ledger_state(la), &latest, bob), 0);
        assert_int_equal(state_get_committed(ledger_state(la), &committed, bob), 0);
        assert_int_equal(latest.balance.w[0], 10ull * N * blk);
        assert_true(committed.balance.w[0] < latest.balance.w[0]);
        if (writing) {
            assert_int_equal(pthread_join(th, NULL), 0);
            assert_int_equal(ledger_commit_finish(la, writing), 0);
            assert_int_equal(ledger_height(la), blk - 1);
        }
        writing = j;
        assert_int_equal(pthread_create(&th, NULL, write_job_main, j), 0);

        /* The same block, one txn. */
        assert_int_equal(ledger_build(lb, &b2, &r2, txs, N, prop, ts, NULL, NULL), 0);
        assert_memory_equal(b2->hash, b->hash, 32);
        assert_int_equal(ledger_commit(lb, b2, r2), 0);
        block_free(b);
        block_free(b2);
        free(r);
        free(r2);
        for (uint32_t i = 0; i < N; i++) tx_free(txs[i]);
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(ledger_commit_finish(la, writing), 0);
    assert_int_equal(ledger_jobs(la), 0);
    assert_int_equal(ledger_height(la), BLOCKS);
    assert_int_equal(committed_balance(la, bob), 10ull * N * BLOCKS);
    assert_int_equal(ledger_validate(la, 0, BLOCKS, why, sizeof why), 0);
    uint8_t ha[32], hb[32], ra[32], rb[32];
    ledger_head_hash(la, ha);
    ledger_head_hash(lb, hb);
    assert_memory_equal(ha, hb, 32);
    state_root(ledger_state(la), ra);
    state_root(ledger_state(lb), rb);
    assert_memory_equal(ra, rb, 32);
    ledger_close(la);
    store_close(sa);

    /* Reopen: the store holds all of it, tx count included. */
    uint64_t count;
    struct store_txn *t;
    assert_int_equal(store_open_lmdb(&sa, dir, 1ull << 30), 0);
    assert_int_equal(ledger_open(&la, sa, &c.g, &c.rules), 0);
    assert_int_equal(ledger_height(la), BLOCKS);
    assert_int_equal(committed_balance(la, bob), 10ull * N * BLOCKS);
    assert_int_equal(store_txn_begin(sa, &t, 0), 0);
    assert_int_equal(chainstore_tx_count(t, &count), 0);
    assert_int_equal(count, (uint64_t)N * BLOCKS);
    /* Every transaction is found again: merged ones in TX_LOC, the rest
     * reloaded from the blocks above the merged height. */
    uint64_t merged;
    assert_int_equal(chainstore_txloc_height(t, &merged), 0);
    assert_true(merged > 0 && merged < BLOCKS);
    for (int blk = 1; blk <= BLOCKS; blk++)
        for (uint32_t i = 0; i < N; i++) {
            uint64_t at;
            uint32_t idx;
            assert_int_equal(ledger_tx_loc(la, t, &at, &idx, hashes[blk - 1][i]), 0);
            assert_int_equal(at, (uint64_t)blk);
        }
    store_txn_abort(t);
    assert_int_equal(ledger_validate(la, 0, BLOCKS, why, sizeof why), 0);
    ledger_close(la);
    ledger_close(lb);
    store_close(sa);
    store_close(sb);
    rmdir_all(dir);
    chain_free(&c);
}

/* A write that fails (map full) stops the pipeline: the job after it is not
 * written, the ledger refuses further blocks, and a reopened store is at the
 * last written block with consistent indexes and state. */
static void test_pipelined_write_failure(void **unused)
{
    enum { N = 300 };
    struct chain c;
    char dir[64], why[256];
    struct store *st;
    struct ledger *l;
    chain_init(&c, N, 0);
    tmpdir(dir, sizeof dir);
    assert_int_equal(store_open_lmdb(&st, dir, 640u << 10), 0);
    assert_int_equal(ledger_open(&l, st, &c.g, &c.rules), 0);
    uint8_t bob[20] = {0xb0}, prop[20] = {0x99};
    struct tx *txs[N];
    uint64_t written = 0;
    int failed = 0;
    for (int blk = 1; blk <= 40 && !failed; blk++) {
        struct ledger_job *j[2];
        for (int k = 0; k < 2; k++) { /* two blocks in flight */
            uint64_t nonce = 2 * (uint64_t)(blk - 1) + (uint64_t)k;
            for (uint32_t i = 0; i < N; i++) txs[i] = transfer(c.keys[i], nonce, bob, 1, 0);
            struct block *b;
            struct receipt *r;
            assert_int_equal(ledger_build(l, &b, &r, txs, N, prop, 0, NULL, NULL), 0);
            assert_int_equal(ledger_commit_prepare(l, &j[k], b, r), 0);
            block_free(b);
            free(r);
            for (uint32_t i = 0; i < N; i++) tx_free(txs[i]);
        }
        ledger_write_job(j[0]);
        ledger_write_job(j[1]);
        uint64_t h0 = ledger_job_height(j[0]);
        int rc0 = ledger_commit_finish(l, j[0]);
        int rc1 = ledger_commit_finish(l, j[1]);
        if (rc0 || rc1) {
            failed = 1;
            if (rc0) {
                assert_int_equal(rc0, TALLY_EFULL);
                assert_int_equal(rc1, TALLY_ESTATE); /* not written after a failure */
            } else {
                assert_int_equal(rc1, TALLY_EFULL);
                written = h0;
            }
            assert_int_equal(ledger_height(l), written);
            assert_non_null(strstr(ledger_errmsg(l), "failed"));
        } else {
            written = h0 + 1;
        }
    }
    assert_true(failed);
    /* Broken for good: no more blocks. */
    txs[0] = transfer(c.keys[0], 1000, bob, 1, 0);
    struct block *b;
    struct receipt *r;
    assert_int_equal(ledger_build(l, &b, &r, txs, 1, prop, 0, NULL, NULL), TALLY_ESTATE);
    tx_free(txs[0]);
    ledger_close(l);
    store_close(st);

    assert_int_equal(store_open_lmdb(&st, dir, 1ull << 30), 0);
    assert_int_equal(ledger_open(&l, st, &c.g, &c.rules), 0); /* head matches the state */
    assert_int_equal(ledger_height(l), written);
    assert_int_equal(committed_balance(l, bob), written * N);
    assert_int_equal(ledger_validate(l, 0, written, why, sizeof why), 0);
    ledger_close(l);
    store_close(st);
    rmdir_all(dir);
    chain_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_genesis_and_reopen), cmocka_unit_test(test_nothing_included),
        cmocka_unit_test(test_execute_and_tamper), cmocka_unit_test(test_bench_5000),
        cmocka_unit_test(test_pipelined),          cmocka_unit_test(test_pipelined_write_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
