#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "chain/block.h"
#include "chain/receipt.h"
#include "chain/tx.h"
#include "store/chainstore.h"
#include "store/store.h"

/* ---- helpers ---- */

static void tmpdir(char *out, size_t n)
{
    snprintf(out, n, "/tmp/tally-store-XXXXXX");
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

static struct store *open_backend(int lmdb, char *dir, size_t dirlen)
{
    struct store *s;
    if (lmdb) {
        tmpdir(dir, dirlen);
        assert_int_equal(store_open_lmdb(&s, dir, 1ull << 30), 0);
    } else {
        dir[0] = '\0';
        assert_int_equal(store_open_mem(&s), 0);
    }
    return s;
}

static uint64_t seed_from_env(const char *test)
{
    const char *e = getenv("TALLY_SEED");
    uint64_t seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    printf("%s: seed %llu (TALLY_SEED=%llu replays)\n", test, (unsigned long long)seed,
           (unsigned long long)seed);
    return seed;
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const uint8_t key1[32] = {[31] = 1};

/* A block at height with ntx signed transfers (nonces from *nonce on). */
static struct block *make_block(uint64_t height, const uint8_t parent[32], size_t ntx,
                                uint64_t *nonce, struct receipt **rcpts)
{
    struct block *b = calloc(1, sizeof *b);
    assert_non_null(b);
    b->txs = calloc(ntx ? ntx : 1, sizeof *b->txs);
    *rcpts = calloc(ntx ? ntx : 1, sizeof **rcpts);
    for (size_t i = 0; i < ntx; i++) {
        struct tx_fields f = {0};
        f.type = i % 2 ? TX_DYNAMIC_FEE : TX_LEGACY;
        f.chain_id = 1337;
        f.nonce = (*nonce)++;
        f.gas_limit = 21000;
        f.has_to = 1;
        f.to[0] = (uint8_t)i;
        f.value = u256_from_u64(height * 1000 + i);
        assert_int_equal(tx_sign(&b->txs[i], &f, key1), 0);
        b->ntx++;
        (*rcpts)[i].status = 1;
        (*rcpts)[i].gas_used = 21000;
        (*rcpts)[i].cumulative_gas = 21000 * (i + 1);
    }
    b->h.height = height;
    if (parent) memcpy(b->h.parent_hash, parent, 32);
    b->h.timestamp_ms = 1700000000000ull + height;
    b->h.gas_limit = 30000000;
    b->h.gas_used = 21000 * ntx;
    assert_int_equal(block_compute_tx_root(b), 0);
    assert_int_equal(block_receipts_root(b->h.receipts_root, *rcpts, ntx), 0);
    assert_int_equal(block_seal(b), 0);
    return b;
}

/* ---- key-value ---- */

static void kv_basic(int lmdb)
{
    char dir[64];
    struct store *s = open_backend(lmdb, dir, sizeof dir);
    struct store_txn *t, *r;
    const void *v;
    size_t n;

    assert_int_equal(store_txn_begin(s, &t, 1), 0);
    assert_int_equal(store_put(t, STORE_DB_META, "a", 1, "one", 3), 0);
    assert_int_equal(store_put(t, STORE_DB_BLOCKS, "a", 1, "other db", 8), 0);
    assert_int_equal(store_get(t, STORE_DB_META, "a", 1, &v, &n), 0); /* own writes */
    assert_int_equal(n, 3);
    assert_memory_equal(v, "one", 3);
    assert_int_equal(store_txn_commit(t), 0);

    /* Abort leaves nothing. */
    assert_int_equal(store_txn_begin(s, &t, 1), 0);
    assert_int_equal(store_put(t, STORE_DB_META, "b", 1, "two", 3), 0);
    assert_int_equal(store_put(t, STORE_DB_META, "a", 1, "changed", 7), 0);
    assert_int_equal(store_del(t, STORE_DB_BLOCKS, "a", 1), 0);
    /* A reader does not see uncommitted writes. */
    assert_int_equal(store_txn_begin(s, &r, 0), 0);
    assert_int_equal(store_get(r, STORE_DB_META, "b", 1, &v, &n), TALLY_ENOTFOUND);
    store_txn_abort(r);
    store_txn_abort(t);

    assert_int_equal(store_txn_begin(s, &r, 0), 0);
    assert_int_equal(store_get(r, STORE_DB_META, "b", 1, &v, &n), TALLY_ENOTFOUND);
    assert_int_equal(store_get(r, STORE_DB_META, "a", 1, &v, &n), 0);
    assert_memory_equal(v, "one", 3);
    assert_int_equal(store_get(r, STORE_DB_BLOCKS, "a", 1, &v, &n), 0);
    assert_memory_equal(v, "other db", 8);
    assert_int_equal(store_put(r, STORE_DB_META, "c", 1, "x", 1), TALLY_EINVAL);
    assert_int_equal(store_get(r, STORE_DB_META, "", 0, &v, &n), TALLY_EINVAL);
    assert_int_equal(store_get(r, STORE_DB_COUNT, "a", 1, &v, &n), TALLY_EINVAL);
    store_txn_abort(r);

    /* Delete, replace, empty values. */
    assert_int_equal(store_txn_begin(s, &t, 1), 0);
    assert_int_equal(store_del(t, STORE_DB_META, "a", 1), 0);
    assert_int_equal(store_del(t, STORE_DB_META, "a", 1), TALLY_ENOTFOUND);
    assert_int_equal(store_del(t, STORE_DB_META, "zz", 2), TALLY_ENOTFOUND);
    assert_int_equal(store_put(t, STORE_DB_BLOCKS, "a", 1, "new", 3), 0);
    assert_int_equal(store_put(t, STORE_DB_CODE, "e", 1, "", 0), 0);
    assert_int_equal(store_txn_commit(t), 0);
    assert_int_equal(store_txn_begin(s, &r, 0), 0);
    assert_int_equal(store_get(r, STORE_DB_META, "a", 1, &v, &n), TALLY_ENOTFOUND);
    assert_int_equal(store_get(r, STORE_DB_BLOCKS, "a", 1, &v, &n), 0);
    assert_memory_equal(v, "new", 3);
    assert_int_equal(store_get(r, STORE_DB_CODE, "e", 1, &v, &n), 0);
    assert_int_equal(n, 0);
    store_txn_abort(r);

    /* Many keys (the in-memory table grows). */
    assert_int_equal(store_txn_begin(s, &t, 1), 0);
    for (uint32_t i = 0; i < 5000; i++)
        assert_int_equal(store_put(t, STORE_DB_ACCOUNTS, &i, 4, &i, 4), 0);
    assert_int_equal(store_txn_commit(t), 0);
    assert_int_equal(store_txn_begin(s, &r, 0), 0);
    for (uint32_t i = 0; i < 5000; i++) {
        assert_int_equal(store_get(r, STORE_DB_ACCOUNTS, &i, 4, &v, &n), 0);
        assert_memory_equal(v, &i, 4);
    }
    store_txn_abort(r);

    store_close(s);
    if (lmdb) rmdir_all(dir);
}

static void test_kv_mem(void **st)
{
    kv_basic(0);
}
static void test_kv_lmdb(void **st)
{
    kv_basic(1);
}

static void test_mem_one_writer(void **st)
{
    struct store *s;
    struct store_txn *a, *b;
    assert_int_equal(store_open_mem(&s), 0);
    assert_int_equal(store_txn_begin(s, &a, 1), 0);
    assert_int_equal(store_txn_begin(s, &b, 1), TALLY_EBUSY);
    store_txn_abort(a);
    assert_int_equal(store_txn_begin(s, &b, 1), 0);
    store_txn_abort(b);
    store_close(s);
}

static void test_lmdb_reopen(void **st)
{
    char dir[64];
    struct store *s = open_backend(1, dir, sizeof dir);
    struct store_txn *t;
    const void *v;
    size_t n;
    assert_int_equal(store_txn_begin(s, &t, 1), 0);
    assert_int_equal(store_put(t, STORE_DB_CONSENSUS, "view", 4, "\x00\x07", 2), 0);
    assert_int_equal(store_txn_commit(t), 0);
    assert_int_equal(store_txn_begin(s, &t, 1), 0);
    assert_int_equal(store_put(t, STORE_DB_CONSENSUS, "lost", 4, "x", 1), 0);
    store_txn_abort(t);
    store_close(s);

    assert_int_equal(store_open_lmdb(&s, dir, 0), 0);
    assert_int_equal(store_txn_begin(s, &t, 0), 0);
    assert_int_equal(store_get(t, STORE_DB_CONSENSUS, "view", 4, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(v, "\x00\x07", 2);
    assert_int_equal(store_get(t, STORE_DB_CONSENSUS, "lost", 4, &v, &n), TALLY_ENOTFOUND);
    store_txn_abort(t);
    store_close(s);
    rmdir_all(dir);
}

/* ---- write batches ---- */

struct batch_writer {
    struct store *s;
    struct store_batch *b;
    int rc;
};

static void *batch_writer_main(void *arg)
{
    struct batch_writer *w = arg;
    w->rc = store_batch_write(w->s, w->b);
    return NULL;
}

static void batch_basic(int lmdb)
{
    char dir[64];
    struct store *s = open_backend(lmdb, dir, sizeof dir);
    struct store_batch *b;
    struct store_txn *t;
    const void *v;
    size_t n;
    uint8_t h8[8] = {0};

    assert_int_equal(store_txn_begin(s, &t, 1), 0);
    assert_int_equal(store_put(t, STORE_DB_META, "old", 3, "x", 1), 0);
    h8[7] = 5;
    assert_int_equal(store_put(t, STORE_DB_BLOCKS, h8, 8, "five", 4), 0);
    assert_int_equal(store_txn_commit(t), 0);

    assert_int_equal(store_batch_new(&b), 0);
    assert_int_equal(store_batch_put(b, STORE_DB_META, "a", 1, "one", 3, 0), 0);
    assert_int_equal(store_batch_put(b, STORE_DB_META, "a", 1, "uno", 3, 0), 0); /* later wins */
    assert_int_equal(store_batch_del(b, STORE_DB_META, "old", 3), 0);
    assert_int_equal(store_batch_del(b, STORE_DB_META, "never", 5), 0); /* absent: fine */
    h8[7] = 6;
    assert_int_equal(store_batch_put(b, STORE_DB_BLOCKS, h8, 8, "six", 3, STORE_PUT_APPEND), 0);
    h8[7] = 3; /* not after the last key: still written */
    assert_int_equal(store_batch_put(b, STORE_DB_BLOCKS, h8, 8, "three", 5, STORE_PUT_APPEND), 0);
    assert_int_equal(store_batch_put(b, STORE_DB_CODE, "e", 1, "", 0, 0), 0);
    assert_int_equal(store_batch_put(b, STORE_DB_COUNT, "a", 1, "x", 1, 0), TALLY_EINVAL);
    assert_int_equal(store_batch_put(b, STORE_DB_META, "", 0, "x", 1, 0), TALLY_EINVAL);
    assert_int_equal(store_batch_del(b, STORE_DB_META, "", 0), TALLY_EINVAL);
    assert_int_equal(store_batch_count(b), 7);

    /* Nothing is visible before the write. */
    assert_int_equal(store_txn_begin(s, &t, 0), 0);
    assert_int_equal(store_get(t, STORE_DB_META, "a", 1, &v, &n), TALLY_ENOTFOUND);
    store_txn_abort(t);

    /* On LMDB, written from another thread (as the node's writer does). */
    struct batch_writer w = {s, b, -1};
    if (lmdb) {
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, batch_writer_main, &w), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
    } else {
        batch_writer_main(&w);
    }
    assert_int_equal(w.rc, 0);
    store_batch_free(b);

    assert_int_equal(store_txn_begin(s, &t, 0), 0);
    assert_int_equal(store_get(t, STORE_DB_META, "a", 1, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "uno", 3);
    assert_int_equal(store_get(t, STORE_DB_META, "old", 3, &v, &n), TALLY_ENOTFOUND);
    const char *want[] = {[3] = "three", [5] = "five", [6] = "six"};
    for (int i = 3; i <= 6; i += (i == 3 ? 2 : 1)) {
        h8[7] = (uint8_t)i;
        assert_int_equal(store_get(t, STORE_DB_BLOCKS, h8, 8, &v, &n), 0);
        assert_int_equal(n, strlen(want[i]));
        assert_memory_equal(v, want[i], n);
    }
    assert_int_equal(store_get(t, STORE_DB_CODE, "e", 1, &v, &n), 0);
    assert_int_equal(n, 0);
    store_txn_abort(t);

    /* A failing batch writes nothing (LMDB: a value too big for the map). */
    if (lmdb) {
        store_close(s);
        assert_int_equal(store_open_lmdb(&s, dir, 1ull << 20), 0);
        assert_int_equal(store_batch_new(&b), 0);
        assert_int_equal(store_batch_put(b, STORE_DB_META, "first", 5, "1", 1, 0), 0);
        static uint8_t big[2 << 20];
        assert_int_equal(store_batch_put(b, STORE_DB_CODE, "big", 3, big, sizeof big, 0), 0);
        assert_int_equal(store_batch_write(s, b), TALLY_EFULL);
        store_batch_free(b);
        assert_int_equal(store_txn_begin(s, &t, 0), 0);
        assert_int_equal(store_get(t, STORE_DB_META, "first", 5, &v, &n), TALLY_ENOTFOUND);
        assert_int_equal(store_get(t, STORE_DB_META, "a", 1, &v, &n), 0);
        store_txn_abort(t);
    }
    store_close(s);
    if (lmdb) rmdir_all(dir);
}

static void test_batch_mem(void **st)
{
    batch_basic(0);
}
static void test_batch_lmdb(void **st)
{
    batch_basic(1);
}

/* ---- chainstore ---- */

static void chainstore_roundtrip(int lmdb, int batched)
{
    char dir[64];
    struct store *s = open_backend(lmdb, dir, sizeof dir);
    struct store_txn *t;
    uint64_t h, nonce = 0, count;
    uint8_t hash[32];
    uint32_t idx;

    assert_int_equal(store_txn_begin(s, &t, 0), 0);
    assert_int_equal(chainstore_head(t, &h, hash), TALLY_ENOTFOUND);
    assert_int_equal(chainstore_tx_count(t, &count), 0);
    assert_int_equal(count, 0);
    store_txn_abort(t);

    struct receipt *r0, *r1;
    struct block *b0 = make_block(0, NULL, 0, &nonce, &r0);
    struct block *b1 = make_block(1, b0->hash, 3, &nonce, &r1);
    strcpy(r1[2].reason, "failed for a reason");
    r1[2].status = 0;
    assert_int_equal(store_txn_begin(s, &t, 1), 0);
    assert_int_equal(chainstore_put_block(t, b0, r0), 0);
    if (!batched) assert_int_equal(chainstore_put_block(t, b1, r1), 0);
    assert_int_equal(chainstore_meta_put(t, "hello", "world", 5), 0);
    assert_int_equal(store_txn_commit(t), 0);
    if (batched) { /* the same writes through a batch; the count comes from the caller */
        struct store_batch *bt;
        assert_int_equal(store_batch_new(&bt), 0);
        assert_int_equal(chainstore_batch_block(bt, b1, r1, 0, 0), 0);
        assert_int_equal(store_batch_write(s, bt), 0);
        store_batch_free(bt);
    }

    assert_int_equal(store_txn_begin(s, &t, 0), 0);
    assert_int_equal(chainstore_head(t, &h, hash), 0);
    assert_int_equal(h, 1);
    assert_memory_equal(hash, b1->hash, 32);
    assert_int_equal(chainstore_tx_count(t, &count), 0);
    assert_int_equal(count, 3);

    struct block *got;
    assert_int_equal(chainstore_block(t, &got, 1), 0);
    assert_memory_equal(got->hash, b1->hash, 32);
    assert_int_equal(got->ntx, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_true(got->txs[i]->has_sender);
        assert_memory_equal(got->txs[i]->sender, b1->txs[i]->sender, 20);
        assert_memory_equal(got->txs[i]->hash, b1->txs[i]->hash, 32);
    }
    block_free(got);
    assert_int_equal(chainstore_block(t, &got, 2), TALLY_ENOTFOUND);

    const uint8_t *raw;
    size_t len;
    struct buf enc;
    buf_init(&enc, 1 << 20);
    assert_int_equal(block_encode(&enc, b1), 0);
    assert_int_equal(chainstore_block_raw(t, &raw, &len, 1), 0);
    assert_int_equal(len, enc.len);
    assert_memory_equal(raw, enc.p, len);
    buf_free(&enc);

    assert_int_equal(chainstore_height_of(t, &h, b0->hash), 0);
    assert_int_equal(h, 0);
    assert_int_equal(chainstore_height_of(t, &h, b1->hash), 0);
    assert_int_equal(h, 1);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(chainstore_tx_loc(t, &h, &idx, b1->txs[i]->hash), 0);
        assert_int_equal(h, 1);
        assert_int_equal(idx, i);
        struct receipt rc;
        assert_int_equal(chainstore_receipt(t, &rc, 1, i), 0);
        assert_int_equal(rc.status, r1[i].status);
        assert_int_equal(rc.cumulative_gas, r1[i].cumulative_gas);
        assert_string_equal(rc.reason, r1[i].reason);
    }
    struct receipt rc;
    assert_int_equal(chainstore_receipt(t, &rc, 1, 3), TALLY_ENOTFOUND);
    assert_int_equal(chainstore_receipt(t, &rc, 0, 0), TALLY_ENOTFOUND);
    assert_int_equal(chainstore_receipt(t, &rc, 9, 0), TALLY_ENOTFOUND);
    assert_int_equal(chainstore_tx_loc(t, &h, &idx, b1->hash), TALLY_ENOTFOUND);
    const void *v;
    assert_int_equal(chainstore_meta_get(t, "hello", &v, &len), 0);
    assert_memory_equal(v, "world", 5);
    assert_int_equal(chainstore_meta_get(t, "", &v, &len), TALLY_EINVAL);
    store_txn_abort(t);

    block_free(b0);
    block_free(b1);
    free(r0);
    free(r1);
    store_close(s);
    if (lmdb) rmdir_all(dir);
}

static void test_chainstore_mem(void **st)
{
    chainstore_roundtrip(0, 0);
    chainstore_roundtrip(0, 1);
}
static void test_chainstore_lmdb(void **st)
{
    chainstore_roundtrip(1, 0);
    chainstore_roundtrip(1, 1);
}

/* ---- crash: SIGKILL a writer at random moments ---- */

/* Child: append blocks forever; after each commit returns, report its height. */
static void crash_child(const char *dir, int fd)
{
    struct store *s;
    struct store_txn *t;
    uint64_t h;
    uint8_t hash[32];
    if (store_open_lmdb(&s, dir, 1ull << 30)) _exit(2);
    if (store_txn_begin(s, &t, 0)) _exit(2);
    int rc = chainstore_head(t, &h, hash);
    uint64_t nonce = 0;
    if (rc == 0 && chainstore_tx_count(t, &nonce)) _exit(2); /* nonces stay unique */
    store_txn_abort(t);
    if (rc == TALLY_ENOTFOUND) {
        h = (uint64_t)-1;
        memset(hash, 0, 32);
    } else if (rc) {
        _exit(2);
    }
    for (;;) {
        struct receipt *r;
        struct block *b = make_block(h + 1, hash, 1 + (h + 1) % 4, &nonce, &r);
        if (store_txn_begin(s, &t, 1) || chainstore_put_block(t, b, r) || store_txn_commit(t))
            _exit(3);
        h = b->h.height;
        memcpy(hash, b->hash, 32);
        block_free(b);
        free(r);
        if (write(fd, &h, sizeof h) != sizeof h) _exit(4);
    }
}

/* Child, pipelined like the node: block h+1's batch is prepared while a
 * thread writes block h's; after each write returns, report its height. */
static void crash_child_batched(const char *dir, int fd)
{
    struct store *s;
    struct store_txn *t;
    uint64_t h, count = 0;
    uint8_t hash[32];
    if (store_open_lmdb(&s, dir, 1ull << 30)) _exit(2);
    if (store_txn_begin(s, &t, 0)) _exit(2);
    int rc = chainstore_head(t, &h, hash);
    if (rc == 0 && chainstore_tx_count(t, &count)) _exit(2);
    store_txn_abort(t);
    if (rc == TALLY_ENOTFOUND) {
        h = (uint64_t)-1;
        memset(hash, 0, 32);
    } else if (rc) {
        _exit(2);
    }
    uint64_t nonce = count, writing = 0;
    pthread_t th;
    struct batch_writer w = {s, NULL, 0};
    int busy = 0;
    for (;;) {
        struct receipt *r;
        struct block *b = make_block(h + 1, hash, 1 + (h + 1) % 4, &nonce, &r);
        struct store_batch *bt;
        if (store_batch_new(&bt) || chainstore_batch_block(bt, b, r, count, 0)) _exit(3);
        count += b->ntx;
        h = b->h.height;
        memcpy(hash, b->hash, 32);
        block_free(b);
        free(r);
        if (busy) {
            if (pthread_join(th, NULL) || w.rc) _exit(3);
            store_batch_free(w.b);
            if (write(fd, &writing, sizeof writing) != sizeof writing) _exit(4);
        }
        w.b = bt;
        writing = h;
        if (pthread_create(&th, NULL, batch_writer_main, &w)) _exit(3);
        busy = 1;
    }
}

/* Every index agrees with the blocks, heights 0..head. */
static void check_chain(struct store *s, uint64_t *head)
{
    struct store_txn *t;
    uint8_t hash[32], prev[32] = {0};
    uint64_t h, count, txs = 0, at;
    uint32_t idx;
    assert_int_equal(store_txn_begin(s, &t, 0), 0);
    assert_int_equal(chainstore_head(t, head, hash), 0);
    for (h = 0; h <= *head; h++) {
        struct block *b;
        assert_int_equal(chainstore_block(t, &b, h), 0);
        assert_int_equal(b->h.height, h);
        assert_memory_equal(b->h.parent_hash, prev, 32);
        assert_int_equal(chainstore_height_of(t, &at, b->hash), 0);
        assert_int_equal(at, h);
        for (uint32_t i = 0; i < b->ntx; i++) {
            struct receipt rc;
            assert_int_equal(chainstore_tx_loc(t, &at, &idx, b->txs[i]->hash), 0);
            assert_int_equal(at, h);
            assert_int_equal(idx, i);
            assert_int_equal(chainstore_receipt(t, &rc, h, i), 0);
            assert_int_equal(rc.cumulative_gas, 21000ull * (i + 1));
        }
        txs += b->ntx;
        memcpy(prev, b->hash, 32);
        block_free(b);
    }
    assert_memory_equal(prev, hash, 32);
    struct block *none;
    assert_int_equal(chainstore_block(t, &none, h), TALLY_ENOTFOUND);
    assert_int_equal(chainstore_tx_count(t, &count), 0);
    assert_int_equal(count, txs);
    store_txn_abort(t);
}

static void crash_lmdb(int batched)
{
    uint64_t seed = seed_from_env(batched ? "crash_lmdb_batched" : "crash_lmdb"), rs = seed;
    char dir[64];
    tmpdir(dir, sizeof dir);
    uint64_t last = 0; /* highest height whose commit returned, over all rounds */
    int any = 0;
    for (int round = 0; round < 12; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            if (batched)
                crash_child_batched(dir, p[1]);
            else
                crash_child(dir, p[1]);
        }
        close(p[1]);
        usleep((useconds_t)(2000 + rnd(&rs) % 60000));
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status)) fail_msg("child exited with %d", WEXITSTATUS(status));
        uint64_t h;
        while (read(p[0], &h, sizeof h) == sizeof h) {
            last = h;
            any = 1;
        }
        close(p[0]);

        struct store *s;
        assert_int_equal(store_open_lmdb(&s, dir, 1ull << 30), 0);
        struct store_txn *t;
        uint8_t hash[32];
        uint64_t head;
        assert_int_equal(store_txn_begin(s, &t, 0), 0);
        int rc = chainstore_head(t, &head, hash);
        store_txn_abort(t);
        if (rc == TALLY_ENOTFOUND) {
            assert_false(any); /* nothing was ever reported committed */
        } else {
            assert_int_equal(rc, 0);
            check_chain(s, &head);
            /* The killed commit may have reached the disk before its report. */
            if (any)
                assert_true(head == last || head == last + 1);
            else
                assert_true(head == 0);
            last = head;
            any = 1;
        }
        store_close(s);
    }
    printf("crash_lmdb%s: 12 kills, final head %llu\n", batched ? " (batched)" : "",
           (unsigned long long)last);
    rmdir_all(dir);
}

static void test_crash_lmdb(void **st)
{
    crash_lmdb(0);
}

static void test_crash_lmdb_batched(void **st)
{
    crash_lmdb(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_mem),         cmocka_unit_test(test_kv_lmdb),
        cmocka_unit_test(test_mem_one_writer), cmocka_unit_test(test_lmdb_reopen),
        cmocka_unit_test(test_chainstore_mem), cmocka_unit_test(test_chainstore_lmdb),
        cmocka_unit_test(test_crash_lmdb),     cmocka_unit_test(test_batch_mem),
        cmocka_unit_test(test_batch_lmdb),     cmocka_unit_test(test_crash_lmdb_batched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
