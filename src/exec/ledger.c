/* The ledger: genesis, build / execute / commit of the next block over the
 * store and the account state, and checks of stored history. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "chain/merkle.h"
#include "codec/rlp.h"
#include "crypto/keccak.h"
#include "exec/ledger.h"
#include "store/chainstore.h"
#include "util/hex.h"
#include "util/log.h"

struct ledger {
    struct store *st;
    struct state *state;
    struct chain_rules rules;
    uint8_t (*issuers)[20]; /* owned copy behind rules.issuers */
    /* Committed head: the newest block whose write is durable. */
    uint64_t height;
    uint8_t head[32];
    uint64_t head_ts;
    /* Tip: the newest block committed in memory (= head unless blocks are
     * being written); the next block links to it. */
    uint64_t tip_height;
    uint8_t tip[32];
    uint64_t tip_ts;
    uint64_t tip_txs;         /* transactions in blocks 0..tip */
    int pending;              /* a built or executed block's state is pending */
    uint8_t pending_hash[32]; /* ... and its hash (its roots are checked) */
    size_t jobs;              /* prepared, not finished */
    int broken;               /* a write failed: memory is ahead of disk for good */
    atomic_int write_failed;  /* set by the writer, read by the writer */
    /* Deferred tx index (store/txindex.h): locations of blocks above the
     * merged height, merged into TX_LOC in sorted batches. */
    struct txindex *txi;
    size_t txindex_merge; /* merge once this many locations are deferred */
    size_t txindex_chunk; /* entries merged per block write */
    /* A merge in progress: a sorted snapshot written LEDGER_TXINDEX_CHUNK
     * entries per block job (contiguous key ranges, so locality is kept and
     * no single write is long); the last chunk records merge_upto. */
    struct txindex_entry *merge_v;
    size_t merge_n, merge_pos;
    uint64_t merge_upto;
    /* Hashes of the newest blocks (BLOCKHASH), by height % LEDGER_HASHES;
     * hash_at[i] is the height + 1 of hashes[i] (0: empty). */
    uint8_t hashes[LEDGER_HASHES][32];
    uint64_t hash_at[LEDGER_HASHES];
    char errmsg[256];
};

struct ledger_job {
    struct ledger *l;
    struct store_batch *batch; /* freed by ledger_write_job */
    uint64_t ticket;           /* state_commit_mem */
    uint64_t height, ts, ntx;
    uint8_t hash[32];
    int has_merge;       /* the job merges the deferred tx index ... */
    uint64_t merge_upto; /* ... up to this height */
    int written;         /* ledger_write_job ran */
    int rc;
    char errmsg[256];
};

static int lfail(struct ledger *l, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int lfail(struct ledger *l, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->errmsg, sizeof l->errmsg, fmt, ap);
    va_end(ap);
    return err;
}

/* EBADBLOCK with the reason in why and errmsg. */
static int bad(struct ledger *l, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(struct ledger *l, char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->errmsg, sizeof l->errmsg, fmt, ap);
    va_end(ap);
    if (why && whylen) snprintf(why, whylen, "%s", l->errmsg);
    return TALLY_EBADBLOCK;
}

uint64_t ledger_height(const struct ledger *l)
{
    return l->height;
}
void ledger_head_hash(const struct ledger *l, uint8_t out[32])
{
    memcpy(out, l->head, 32);
}
uint64_t ledger_head_timestamp(const struct ledger *l)
{
    return l->head_ts;
}
uint64_t ledger_tip_height(const struct ledger *l)
{
    return l->tip_height;
}
void ledger_tip_hash(const struct ledger *l, uint8_t out[32])
{
    memcpy(out, l->tip, 32);
}
size_t ledger_jobs(const struct ledger *l)
{
    return l->jobs;
}
struct state *ledger_state(struct ledger *l)
{
    return l->state;
}
struct store *ledger_store(struct ledger *l)
{
    return l->st;
}
const struct chain_rules *ledger_rules(const struct ledger *l)
{
    return &l->rules;
}
const char *ledger_errmsg(const struct ledger *l)
{
    return l->errmsg;
}

static void remember_hash(struct ledger *l, uint64_t height, const uint8_t hash[32])
{
    memcpy(l->hashes[height % LEDGER_HASHES], hash, 32);
    l->hash_at[height % LEDGER_HASHES] = height + 1;
}

/* block_env.block_hash: recent blocks from memory, older ones from the
 * store (they are durable: only the newest few can be unwritten). */
static int block_hash_of(void *arg, uint64_t height, uint8_t out[32])
{
    struct ledger *l = arg;
    if (l->hash_at[height % LEDGER_HASHES] == height + 1) {
        memcpy(out, l->hashes[height % LEDGER_HASHES], 32);
        return 0;
    }
    if (height > l->height) return TALLY_ENOTFOUND;
    struct store_txn *t;
    struct block *b;
    int rc = store_txn_begin(l->st, &t, 0);
    if (rc) return rc;
    rc = chainstore_block(t, &b, height);
    store_txn_abort(t);
    if (rc) return rc;
    memcpy(out, b->hash, 32);
    block_free(b);
    return 0;
}

/* The committed head and the tip both at b (nothing is being written). */
static void set_head(struct ledger *l, uint64_t height, const uint8_t hash[32], uint64_t ts)
{
    remember_hash(l, height, hash);
    l->height = l->tip_height = height;
    memcpy(l->head, hash, 32);
    memcpy(l->tip, hash, 32);
    l->head_ts = l->tip_ts = ts;
}

/* ---- genesis ---- */

/* Keccak(rlp([chain_id, block_gas_limit, tx_gas_limit, base_fee, [issuer...]])):
 * the genesis settings that the genesis header does not carry. */
static int chain_config_hash(uint8_t out[32], const struct genesis *g)
{
    struct buf b;
    struct rlp_enc e;
    buf_init(&b, 64 + 21 * (size_t)GENESIS_MAX_ISSUERS);
    rlp_enc_init(&e, &b);
    rlp_list_begin(&e);
    rlp_put_u64(&e, g->chain_id);
    rlp_put_u64(&e, g->block_gas_limit);
    rlp_put_u64(&e, g->tx_gas_limit);
    rlp_put_u256(&e, &g->base_fee);
    rlp_list_begin(&e);
    for (size_t i = 0; i < g->nissuers; i++) rlp_put_bytes(&e, g->issuers[i], 20);
    rlp_list_end(&e);
    rlp_list_end(&e);
    int rc = rlp_enc_finish(&e);
    if (!rc) keccak256(out, b.p, b.len);
    buf_free(&b);
    return rc;
}

/* Put g's alloc into st's pending state. */
static int genesis_alloc(struct state *st, const struct genesis *g)
{
    for (size_t i = 0; i < g->nalloc; i++) {
        struct account a;
        int rc = state_get(st, &a, g->alloc[i].addr);
        if (rc) return rc;
        a.balance = g->alloc[i].balance;
        if ((rc = state_put(st, g->alloc[i].addr, &a))) return rc;
    }
    return 0;
}

/* The genesis block (no txs) with the given state root. */
static int genesis_block(struct block **out, const struct genesis *g, const uint8_t root[32])
{
    struct block *b = calloc(1, sizeof *b);
    if (!b) return TALLY_ENOMEM;
    b->h.height = 0;
    b->h.timestamp_ms = g->timestamp_ms;
    b->h.gas_limit = g->block_gas_limit;
    b->h.base_fee = g->base_fee;
    memcpy(b->h.state_root, root, 32);
    int rc = block_compute_tx_root(b);
    if (!rc) rc = block_receipts_root(b->h.receipts_root, NULL, 0);
    if (!rc) rc = block_seal(b);
    if (rc) {
        block_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* State root of g's alloc, computed on a scratch in-memory store. */
static int genesis_root(uint8_t root[32], const struct genesis *g)
{
    struct store *ms;
    struct state *st;
    int rc = store_open_mem(&ms);
    if (rc) return rc;
    if ((rc = state_open(&st, ms))) {
        store_close(ms);
        return rc;
    }
    rc = genesis_alloc(st, g);
    if (!rc) rc = state_flush(st, NULL, root);
    state_close(st);
    store_close(ms);
    return rc;
}

static int write_genesis(struct ledger *l, const struct genesis *g, const uint8_t cfg[32])
{
    struct store_txn *t = NULL;
    struct block *b = NULL;
    uint8_t root[32];
    int rc = genesis_alloc(l->state, g);
    if (!rc) rc = store_txn_begin(l->st, &t, 1);
    if (!rc) rc = state_flush(l->state, t, root);
    if (!rc) rc = genesis_block(&b, g, root);
    if (!rc) rc = chainstore_put_block(t, b, NULL);
    if (!rc) rc = chainstore_meta_put(t, LEDGER_META_GENESIS, b->hash, 32);
    if (!rc) rc = chainstore_meta_put(t, LEDGER_META_CHAIN, cfg, 32);
    if (!rc) rc = chainstore_set_txloc_height(t, 0);
    if (!rc) {
        rc = store_txn_commit(t);
        t = NULL;
    }
    store_txn_abort(t);
    if (rc) {
        state_discard(l->state);
        block_free(b);
        return lfail(l, rc, "writing genesis: %s (%s)", tally_strerror(rc), store_errmsg(l->st));
    }
    state_commit_done(l->state);
    set_head(l, 0, b->hash, b->h.timestamp_ms);
    l->tip_txs = 0;
    char hx[67];
    hex_encode(hx, b->hash, 32);
    log_info("ledger", "wrote genesis block %s (%zu accounts)", hx, g->nalloc);
    block_free(b);
    return 0;
}

/* After a restart: the locations of blocks above the merged height were only
 * in memory; read them back from the stored blocks. */
static int refill_txindex(struct ledger *l, struct store_txn *t, uint64_t head)
{
    uint64_t merged;
    int rc = chainstore_txloc_height(t, &merged);
    if (rc == TALLY_ENOTFOUND) return 0; /* written before the deferred index: all in TX_LOC */
    if (rc) return rc;
    for (uint64_t h = merged + 1; h <= head && !rc; h++) {
        struct block *b;
        if ((rc = chainstore_block(t, &b, h))) break;
        rc = txindex_add_block(l->txi, b);
        block_free(b);
    }
    if (!rc && head > merged)
        log_info("ledger", "tx index: %zu locations of blocks %llu..%llu reloaded",
                 txindex_count(l->txi), (unsigned long long)merged + 1, (unsigned long long)head);
    return rc;
}

static int load_existing(struct ledger *l, const struct genesis *g, const uint8_t cfg[32])
{
    uint8_t root[32];
    struct block *gb = NULL, *head = NULL;
    struct store_txn *t = NULL;
    const void *v;
    size_t n;
    int rc = genesis_root(root, g);
    if (!rc) rc = genesis_block(&gb, g, root);
    if (!rc) rc = store_txn_begin(l->st, &t, 0);
    if (rc) goto out;
    if ((rc = chainstore_meta_get(t, LEDGER_META_GENESIS, &v, &n)) || n != 32) {
        rc = lfail(l, TALLY_ECONFIG, "store has a head but no genesis hash");
        goto out;
    }
    if (memcmp(v, gb->hash, 32)) {
        char a[67], b[67];
        hex_encode(a, v, 32);
        hex_encode(b, gb->hash, 32);
        rc = lfail(l, TALLY_ECONFIG, "store holds another chain: genesis %s, expected %s", a, b);
        goto out;
    }
    if ((rc = chainstore_meta_get(t, LEDGER_META_CHAIN, &v, &n)) || n != 32 || memcmp(v, cfg, 32)) {
        rc = lfail(l, TALLY_ECONFIG,
                   "genesis settings (chain id, gas limits, base fee, issuers) differ from the "
                   "stored chain");
        goto out;
    }
    uint64_t hh;
    uint8_t hhash[32];
    if ((rc = chainstore_head(t, &hh, hhash))) goto out;
    if ((rc = chainstore_block(t, &head, hh))) goto out;
    if ((rc = chainstore_tx_count(t, &l->tip_txs))) goto out;
    set_head(l, hh, hhash, head->h.timestamp_ms);
    state_root(l->state, root);
    if (memcmp(head->h.state_root, root, 32) || memcmp(head->hash, l->head, 32)) {
        rc = lfail(l, TALLY_ESTATE, "head block %llu does not match the stored state",
                   (unsigned long long)l->height);
        goto out;
    }
    rc = refill_txindex(l, t, hh);
out:
    if (rc && !l->errmsg[0])
        lfail(l, rc, "opening ledger: %s (%s)", tally_strerror(rc), store_errmsg(l->st));
    store_txn_abort(t);
    block_free(gb);
    block_free(head);
    return rc;
}

void ledger_close(struct ledger *l)
{
    if (!l) return;
    if (l->jobs) log_error("ledger", "closed with %zu prepared block(s) not finished", l->jobs);
    state_close(l->state);
    txindex_free(l->txi);
    free(l->merge_v);
    free(l->issuers);
    free(l);
}

int ledger_open(struct ledger **out, struct store *st, const struct genesis *g,
                const struct chain_rules *rules)
{
    *out = NULL;
    if (g->nalloc > GENESIS_MAX_ALLOC || g->nissuers > GENESIS_MAX_ISSUERS ||
        rules->nissuers > GENESIS_MAX_ISSUERS || (g->nalloc && !g->alloc))
        return TALLY_EINVAL;
    if (rules->chain_id != g->chain_id || rules->block_gas_limit != g->block_gas_limit ||
        rules->tx_gas_limit != g->tx_gas_limit || u256_cmp(&rules->base_fee, &g->base_fee)) {
        log_error("ledger", "chain rules differ from the genesis");
        return TALLY_ECONFIG;
    }
    struct ledger *l = calloc(1, sizeof *l);
    if (!l) return TALLY_ENOMEM;
    l->st = st;
    l->rules = *rules;
    if (rules->nissuers) {
        l->issuers = malloc(rules->nissuers * 20);
        if (!l->issuers) {
            free(l);
            return TALLY_ENOMEM;
        }
        memcpy(l->issuers, rules->issuers, rules->nissuers * 20);
    }
    l->rules.issuers = (const uint8_t(*)[20])l->issuers;

    uint8_t cfg[32], hash[32];
    uint64_t h;
    struct store_txn *t;
    int rc = chain_config_hash(cfg, g);
    if (!rc) rc = txindex_new(&l->txi);
    l->txindex_merge = LEDGER_TXINDEX_MERGE;
    l->txindex_chunk = LEDGER_TXINDEX_CHUNK;
    if (!rc) rc = state_open(&l->state, st);
    if (!rc) rc = store_txn_begin(st, &t, 0);
    if (!rc) {
        rc = chainstore_head(t, &h, hash);
        store_txn_abort(t);
        if (rc == TALLY_ENOTFOUND)
            rc = write_genesis(l, g, cfg);
        else if (!rc)
            rc = load_existing(l, g, cfg);
    }
    if (rc) {
        log_error("ledger", "open: %s", l->errmsg[0] ? l->errmsg : tally_strerror(rc));
        ledger_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

/* ---- building and checking blocks ---- */

/* A copy of tx that the block owns (tx_free frees raw and the struct). */
static struct tx *tx_clone(const struct tx *src)
{
    struct tx *t = malloc(sizeof *t);
    if (!t) return NULL;
    *t = *src;
    t->raw = malloc(src->raw_len ? src->raw_len : 1);
    if (!t->raw) {
        free(t);
        return NULL;
    }
    memcpy(t->raw, src->raw, src->raw_len);
    const uint8_t *lo = src->raw, *hi = src->raw + src->raw_len;
    if (src->data >= lo && src->data <= hi) t->data = t->raw + (src->data - lo);
    if (src->access_list >= lo && src->access_list <= hi)
        t->access_list = t->raw + (src->access_list - lo);
    return t;
}

/* Errors of exec_tx that are about the transaction (it is refused), as
 * opposed to failures of the node (memory, storage). */
static int tx_refusal(int err)
{
    return err != TALLY_ENOMEM && err != TALLY_ESTORE && err != TALLY_EIO && err != TALLY_EDECODE &&
           err != TALLY_EFULL;
}

void ledger_discard(struct ledger *l)
{
    state_discard(l->state);
    l->pending = 0;
}

static int check_broken(struct ledger *l)
{
    if (!l->broken) return 0;
    return lfail(l, TALLY_ESTATE, "a block's write failed: the ledger is ahead of the store");
}

int ledger_build(struct ledger *l, struct block **out, struct receipt **out_rcpts,
                 struct tx *const *cands, size_t n, const uint8_t proposer[20],
                 uint64_t timestamp_ms,
                 void (*on_drop)(void *arg, struct tx *tx, int err, const char *why), void *arg)
{
    *out = NULL;
    *out_rcpts = NULL;
    l->errmsg[0] = '\0';
    if (check_broken(l)) return TALLY_ESTATE;
    if (l->pending) return lfail(l, TALLY_ESTATE, "a block is already pending");
    size_t cap = n < BLOCK_MAX_TXS ? n : BLOCK_MAX_TXS;
    struct block *b = calloc(1, sizeof *b);
    struct receipt *rcpts = malloc((cap ? cap : 1) * sizeof *rcpts);
    if (b) b->txs = malloc((cap ? cap : 1) * sizeof *b->txs);
    int rc = 0;
    if (!b || !rcpts || !b->txs) {
        rc = TALLY_ENOMEM;
        goto fail;
    }
    struct block_env env = {0};
    env.height = l->tip_height + 1;
    env.timestamp_ms = timestamp_ms > l->tip_ts ? timestamp_ms : l->tip_ts;
    memcpy(env.proposer, proposer, 20);
    env.base_fee = l->rules.base_fee;
    env.gas_limit = l->rules.block_gas_limit;
    env.block_hash = block_hash_of;
    env.block_hash_arg = l;

    uint64_t gas = 0;
    size_t bytes = 4096; /* header, list prefixes, certificate slack */
    char why[256];
    for (size_t i = 0; i < n && b->ntx < cap; i++) {
        const struct tx *tx = cands[i];
        if (bytes + tx->raw_len + 8 > BLOCK_MAX_SIZE - BLOCK_CERT_MAX) break;
        size_t mark = state_mark(l->state);
        int r = exec_tx(l->state, &rcpts[b->ntx], tx, &env, &l->rules, gas, why, sizeof why);
        if (r == TALLY_EFULL) break;
        if (r && !tx_refusal(r)) {
            rc = lfail(l, r, "building block %llu: %s", (unsigned long long)env.height, why);
            goto fail;
        }
        if (r) {
            if (on_drop) on_drop(arg, cands[i], r, why);
            continue;
        }
        struct tx *copy = tx_clone(tx);
        if (!copy) {
            receipt_clear(&rcpts[b->ntx]);
            state_revert(l->state, mark);
            rc = TALLY_ENOMEM;
            goto fail;
        }
        rcpts[b->ntx].first_log =
            b->ntx ? rcpts[b->ntx - 1].first_log + rcpts[b->ntx - 1].nlogs : 0;
        b->txs[b->ntx++] = copy;
        gas = rcpts[b->ntx - 1].cumulative_gas;
        bytes += tx->raw_len + 8;
    }
    if (!b->ntx) {
        rc = TALLY_ENOTFOUND;
        lfail(l, rc, "no transaction could be included");
        goto fail;
    }
    memcpy(b->h.parent_hash, l->tip, 32);
    b->h.height = env.height;
    b->h.timestamp_ms = env.timestamp_ms;
    memcpy(b->h.proposer, proposer, 20);
    b->h.gas_limit = env.gas_limit;
    b->h.gas_used = gas;
    b->h.base_fee = env.base_fee;
    if ((rc = block_compute_tx_root(b)) ||
        (rc = block_receipts_root(b->h.receipts_root, rcpts, b->ntx)) ||
        (rc = state_flush(l->state, NULL, b->h.state_root)) || (rc = block_seal(b)))
        goto fail;
    l->pending = 1;
    memcpy(l->pending_hash, b->hash, 32);
    *out = b;
    *out_rcpts = rcpts;
    return 0;
fail:
    state_discard(l->state);
    receipts_free(rcpts, b ? b->ntx : 0);
    block_free(b);
    if (!l->errmsg[0]) lfail(l, rc, "building block: %s", tally_strerror(rc));
    return rc;
}

/* Header checks shared by execute and commit: hash, link, rules, tx root. */
static int check_header(struct ledger *l, const struct block *b, char *why, size_t whylen)
{
    uint8_t h[32];
    int rc = block_header_hash(h, &b->h);
    if (rc) return rc;
    if (memcmp(h, b->hash, 32)) return bad(l, why, whylen, "block hash does not match its header");
    if (b->h.height != l->tip_height + 1)
        return bad(l, why, whylen, "height %llu, expected %llu", (unsigned long long)b->h.height,
                   (unsigned long long)l->tip_height + 1);
    if (memcmp(b->h.parent_hash, l->tip, 32))
        return bad(l, why, whylen, "parent hash is not the hash of block %llu",
                   (unsigned long long)l->tip_height);
    if (b->h.timestamp_ms < l->tip_ts)
        return bad(l, why, whylen, "timestamp %llu before the parent's %llu",
                   (unsigned long long)b->h.timestamp_ms, (unsigned long long)l->tip_ts);
    if (b->h.gas_limit != l->rules.block_gas_limit)
        return bad(l, why, whylen, "gas limit %llu, the chain's is %llu",
                   (unsigned long long)b->h.gas_limit,
                   (unsigned long long)l->rules.block_gas_limit);
    if (u256_cmp(&b->h.base_fee, &l->rules.base_fee))
        return bad(l, why, whylen, "base fee differs from the chain's");
    if (b->ntx > BLOCK_MAX_TXS) return bad(l, why, whylen, "too many transactions");
    if ((rc = block_tx_root(h, b))) return rc;
    if (memcmp(h, b->h.tx_root, 32)) return bad(l, why, whylen, "tx root mismatch");
    return 0;
}

int ledger_execute(struct ledger *l, struct receipt **out_rcpts, const struct block *b, char *why,
                   size_t whylen)
{
    *out_rcpts = NULL;
    l->errmsg[0] = '\0';
    if (why && whylen) why[0] = '\0';
    if (check_broken(l)) return TALLY_ESTATE;
    if (l->pending) return lfail(l, TALLY_ESTATE, "a block is already pending");
    int rc = check_header(l, b, why, whylen);
    if (rc) return rc;
    struct receipt *rcpts = malloc((b->ntx ? b->ntx : 1) * sizeof *rcpts);
    if (!rcpts) return TALLY_ENOMEM;
    struct block_env env = {0};
    env.height = b->h.height;
    env.timestamp_ms = b->h.timestamp_ms;
    memcpy(env.proposer, b->h.proposer, 20);
    env.base_fee = b->h.base_fee;
    env.gas_limit = b->h.gas_limit;
    env.block_hash = block_hash_of;
    env.block_hash_arg = l;
    uint64_t gas = 0;
    char txwhy[256];
    uint8_t root[32];
    size_t done = 0; /* receipts filled */
    for (size_t i = 0; i < b->ntx; i++) {
        rc = exec_tx(l->state, &rcpts[i], b->txs[i], &env, &l->rules, gas, txwhy, sizeof txwhy);
        if (!rc) done = i + 1;
        if (rc && !tx_refusal(rc)) {
            lfail(l, rc, "executing tx %zu: %s", i, txwhy);
            goto fail;
        }
        if (rc) {
            char hx[67];
            hex_encode(hx, b->txs[i]->hash, 32);
            rc = bad(l, why, whylen, "tx %zu (%s) cannot be included: %s", i, hx, txwhy);
            goto fail;
        }
        gas = rcpts[i].cumulative_gas;
        rcpts[i].first_log = i ? rcpts[i - 1].first_log + rcpts[i - 1].nlogs : 0;
    }
    if (gas != b->h.gas_used) {
        rc = bad(l, why, whylen, "gas used %llu, header says %llu", (unsigned long long)gas,
                 (unsigned long long)b->h.gas_used);
        goto fail;
    }
    if ((rc = block_receipts_root(root, rcpts, b->ntx))) goto fail;
    if (memcmp(root, b->h.receipts_root, 32)) {
        rc = bad(l, why, whylen, "receipts root mismatch");
        goto fail;
    }
    if ((rc = state_flush(l->state, NULL, root))) goto fail;
    if (memcmp(root, b->h.state_root, 32)) {
        rc = bad(l, why, whylen, "state root mismatch");
        goto fail;
    }
    l->pending = 1;
    memcpy(l->pending_hash, b->hash, 32);
    *out_rcpts = rcpts;
    return 0;
fail:
    state_discard(l->state);
    receipts_free(rcpts, done);
    if (!l->errmsg[0]) lfail(l, rc, "executing block: %s", tally_strerror(rc));
    return rc;
}

/* Checks before a block is committed: it is the pending block. One that
 * ledger_build or ledger_execute produced (same hash, header intact) had its
 * roots computed or checked then and is not checked again; any other goes
 * through the header, gas and receipts checks (the caller compares the state
 * root after flushing). */
static int check_commit(struct ledger *l, const struct block *b, const struct receipt *rcpts,
                        int *trusted)
{
    uint8_t h[32];
    int rc;
    *trusted = 0;
    if (check_broken(l)) return TALLY_ESTATE;
    if (!l->pending) return bad(l, NULL, 0, "no built or executed block is pending");
    if (!memcmp(b->hash, l->pending_hash, 32) && !block_header_hash(h, &b->h) &&
        !memcmp(h, b->hash, 32) && b->h.height == l->tip_height + 1 &&
        !memcmp(b->h.parent_hash, l->tip, 32)) {
        *trusted = 1;
        return 0;
    }
    if ((rc = check_header(l, b, NULL, 0))) return rc;
    if (b->h.gas_used != (b->ntx ? rcpts[b->ntx - 1].cumulative_gas : 0))
        return bad(l, NULL, 0, "gas used does not match the receipts");
    if ((rc = block_receipts_root(h, rcpts, b->ntx))) return rc;
    if (memcmp(h, b->h.receipts_root, 32)) return bad(l, NULL, 0, "receipts root mismatch");
    return 0;
}

int ledger_commit(struct ledger *l, const struct block *b, const struct receipt *rcpts)
{
    l->errmsg[0] = '\0';
    uint8_t root[32];
    struct store_txn *t = NULL;
    int rc, trusted;
    if (l->jobs) {
        /* Its txn would race the writer's: finish the pipeline first. */
        lfail(l, TALLY_EBUSY, "%zu block(s) are still being written", l->jobs);
        log_error("ledger", "%s", l->errmsg);
        return TALLY_EBUSY; /* the pending block stays pending */
    }
    if ((rc = check_commit(l, b, rcpts, &trusted))) goto fail;
    if ((rc = store_txn_begin(l->st, &t, 1))) goto fail;
    if ((rc = state_flush(l->state, t, root))) goto fail;
    if (memcmp(root, b->h.state_root, 32)) {
        rc = bad(l, NULL, 0, "state root mismatch");
        goto fail;
    }
    if ((rc = chainstore_put_block(t, b, rcpts))) goto fail;
    rc = store_txn_commit(t);
    t = NULL;
    if (rc) goto fail;
    state_commit_done(l->state);
    l->pending = 0;
    set_head(l, b->h.height, b->hash, b->h.timestamp_ms);
    l->tip_txs += b->ntx;
    return 0;
fail:
    store_txn_abort(t);
    ledger_discard(l);
    if (!l->errmsg[0])
        lfail(l, rc, "commit of block %llu: %s (%s)", (unsigned long long)b->h.height,
              tally_strerror(rc), store_errmsg(l->st));
    log_error("ledger", "%s", l->errmsg);
    return rc;
}

/* ---- pipelined commit ---- */

int ledger_commit_prepare(struct ledger *l, struct ledger_job **out, const struct block *b,
                          const struct receipt *rcpts)
{
    *out = NULL;
    l->errmsg[0] = '\0';
    uint8_t root[32];
    struct ledger_job *j = NULL;
    int rc, trusted;
    if ((rc = check_commit(l, b, rcpts, &trusted))) goto fail;
    if (!(j = calloc(1, sizeof *j))) {
        rc = TALLY_ENOMEM;
        goto fail;
    }
    if ((rc = store_batch_new(&j->batch))) goto fail;
    if ((rc = state_flush_batch(l->state, j->batch, root))) goto fail;
    if (memcmp(root, b->h.state_root, 32)) {
        rc = bad(l, NULL, 0, "state root mismatch");
        goto fail;
    }
    if ((rc = chainstore_batch_block(j->batch, b, rcpts, l->tip_txs, 1))) goto fail;
    /* Merge the deferred locations of the blocks before this one once enough
     * have gathered; this block's own go into memory below, after the last
     * step that can fail (txindex_reserve makes that add infallible). */
    if ((rc = txindex_reserve(l->txi, b->ntx))) goto fail;
    if (!l->merge_v && txindex_count(l->txi) >= l->txindex_merge && b->h.height > 0) {
        if ((rc = txindex_sorted(l->txi, &l->merge_v, &l->merge_n, b->h.height - 1))) goto fail;
        l->merge_pos = 0;
        l->merge_upto = b->h.height - 1;
    }
    size_t chunk = 0;
    if (l->merge_v) {
        chunk = l->merge_n - l->merge_pos;
        if (chunk > l->txindex_chunk) chunk = l->txindex_chunk;
        int last = l->merge_pos + chunk == l->merge_n;
        if ((rc = chainstore_batch_txloc(j->batch, l->merge_v + l->merge_pos, chunk,
                                         last ? l->merge_upto : CHAINSTORE_TXLOC_PARTIAL)))
            goto fail;
        if (last) {
            j->has_merge = 1;
            j->merge_upto = l->merge_upto;
        }
    }
    if ((rc = state_commit_mem(l->state, &j->ticket))) goto fail;
    if (txindex_add_block(l->txi, b)) abort(); /* reserved above: cannot fail */
    l->merge_pos += chunk;
    j->l = l;
    j->height = b->h.height;
    j->ts = b->h.timestamp_ms;
    j->ntx = b->ntx;
    memcpy(j->hash, b->hash, 32);
    l->pending = 0;
    l->tip_height = b->h.height;
    memcpy(l->tip, b->hash, 32);
    remember_hash(l, b->h.height, b->hash);
    l->tip_ts = b->h.timestamp_ms;
    l->tip_txs += b->ntx;
    l->jobs++;
    *out = j;
    return 0;
fail:
    if (j) store_batch_free(j->batch);
    free(j);
    ledger_discard(l);
    if (!l->errmsg[0])
        lfail(l, rc, "preparing block %llu: %s", (unsigned long long)b->h.height,
              tally_strerror(rc));
    log_error("ledger", "%s", l->errmsg);
    return rc;
}

void ledger_call_env(struct ledger *l, struct block_env *env, uint64_t timestamp_ms)
{
    memset(env, 0, sizeof *env);
    env->height = l->height + 1;
    env->timestamp_ms = timestamp_ms > l->head_ts ? timestamp_ms : l->head_ts;
    env->base_fee = l->rules.base_fee;
    env->gas_limit = l->rules.block_gas_limit;
    env->block_hash = block_hash_of;
    env->block_hash_arg = l;
}

void ledger_set_txindex_merge(struct ledger *l, size_t n, size_t chunk)
{
    l->txindex_merge = n ? n : 1;
    l->txindex_chunk = chunk ? chunk : 1;
}

int ledger_tx_loc(struct ledger *l, struct store_txn *t, uint64_t *height, uint32_t *index,
                  const uint8_t txhash[32])
{
    if (!txindex_get(l->txi, height, index, txhash)) return 0;
    return chainstore_tx_loc(t, height, index, txhash);
}

uint64_t ledger_job_height(const struct ledger_job *j)
{
    return j->height;
}

int ledger_job_result(const struct ledger_job *j)
{
    return j->written ? j->rc : TALLY_EINVAL;
}

int ledger_job_put(struct ledger_job *j, enum store_db db, const void *key, size_t klen,
                   const void *val, size_t vlen)
{
    if (!j->batch || j->written) return TALLY_EINVAL;
    return store_batch_put(j->batch, db, key, klen, val, vlen, 0);
}

void ledger_write_job(struct ledger_job *j)
{
    struct ledger *l = j->l;
    if (atomic_load(&l->write_failed)) {
        j->rc = TALLY_ESTATE;
        snprintf(j->errmsg, sizeof j->errmsg, "not written: an earlier block's write failed");
    } else if ((j->rc = store_batch_write(l->st, j->batch))) {
        atomic_store(&l->write_failed, 1);
        snprintf(j->errmsg, sizeof j->errmsg, "%s: %s", tally_errname(j->rc), store_errmsg(l->st));
    }
    store_batch_free(j->batch);
    j->batch = NULL;
    j->written = 1;
}

int ledger_commit_finish(struct ledger *l, struct ledger_job *j)
{
    int rc = j->written ? j->rc : TALLY_EINVAL;
    l->jobs--;
    if (!rc) {
        state_commit_written(l->state, j->ticket);
        if (j->has_merge) {
            txindex_drop_upto(l->txi, j->merge_upto);
            free(l->merge_v);
            l->merge_v = NULL;
        }
        l->height = j->height;
        memcpy(l->head, j->hash, 32);
        l->head_ts = j->ts;
    } else {
        l->broken = 1;
        lfail(l, rc, "writing block %llu failed: %s; the store ends at block %llu",
              (unsigned long long)j->height, j->written ? j->errmsg : "never written",
              (unsigned long long)l->height);
        log_error("ledger", "%s", l->errmsg);
    }
    store_batch_free(j->batch);
    free(j);
    return rc;
}

int ledger_validate(struct ledger *l, uint64_t from, uint64_t to, char *why, size_t whylen)
{
    l->errmsg[0] = '\0';
    if (why && whylen) why[0] = '\0';
    if (from > to || to > l->height) return lfail(l, TALLY_EINVAL, "bad range");
    /* l->height is the committed (written) head, so [from, to] is on disk. */
    struct store_txn *t;
    int rc = store_txn_begin(l->st, &t, 0);
    if (rc) return rc;
    uint8_t prev[32] = {0}, h32[32];
    struct block *b = NULL;
    struct receipt *rcpts = NULL;
    size_t nr = 0;
    for (uint64_t h = from ? from - 1 : 0; h <= to; h++) {
        const uint8_t *raw;
        size_t len;
        block_free(b);
        b = NULL;
        rc = chainstore_block_raw(t, &raw, &len, h);
        if (rc == TALLY_ENOTFOUND) {
            rc = bad(l, why, whylen, "block %llu is missing", (unsigned long long)h);
            break;
        }
        if (rc) break;
        if ((rc = block_decode(&b, raw, len, 0))) {
            rc = bad(l, why, whylen, "block %llu does not decode (or its tx root is wrong): %s",
                     (unsigned long long)h, tally_strerror(rc));
            break;
        }
        if (h < from) { /* only the parent of the range */
            memcpy(prev, b->hash, 32);
            continue;
        }
        if (b->h.height != h) {
            rc = bad(l, why, whylen, "block stored at %llu says height %llu", (unsigned long long)h,
                     (unsigned long long)b->h.height);
            break;
        }
        if (memcmp(b->h.parent_hash, prev, 32)) {
            rc = bad(l, why, whylen, "block %llu does not link to its parent",
                     (unsigned long long)h);
            break;
        }
        if ((rc = block_tx_root(h32, b))) break;
        if (memcmp(h32, b->h.tx_root, 32)) {
            rc = bad(l, why, whylen, "block %llu: tx root mismatch", (unsigned long long)h);
            break;
        }
        uint64_t at;
        if (chainstore_height_of(t, &at, b->hash) || at != h) {
            rc = bad(l, why, whylen, "hash index of block %llu does not point back",
                     (unsigned long long)h);
            break;
        }
        receipts_free(rcpts, nr);
        nr = 0;
        rcpts = malloc((b->ntx ? b->ntx : 1) * sizeof *rcpts);
        if (!rcpts) {
            rc = TALLY_ENOMEM;
            break;
        }
        for (size_t i = 0; i < b->ntx && !rc; i++) {
            uint32_t idx;
            if (ledger_tx_loc(l, t, &at, &idx, b->txs[i]->hash) || at != h || idx != i)
                rc = bad(l, why, whylen, "tx index of block %llu tx %zu does not point back",
                         (unsigned long long)h, i);
            else if (chainstore_receipt(t, &rcpts[i], h, (uint32_t)i))
                rc = bad(l, why, whylen, "receipt of block %llu tx %zu is missing",
                         (unsigned long long)h, i);
            else
                nr = i + 1;
        }
        if (rc) break;
        if ((rc = block_receipts_root(h32, rcpts, b->ntx))) break;
        if (memcmp(h32, b->h.receipts_root, 32)) {
            rc = bad(l, why, whylen, "block %llu: stored receipts do not match its receipts root",
                     (unsigned long long)h);
            break;
        }
        if (h == l->height && memcmp(b->hash, l->head, 32)) {
            rc = bad(l, why, whylen, "head pointer does not match block %llu",
                     (unsigned long long)h);
            break;
        }
        memcpy(prev, b->hash, 32);
    }
    receipts_free(rcpts, nr);
    block_free(b);
    store_txn_abort(t);
    if (rc && !l->errmsg[0]) lfail(l, rc, "validate: %s", tally_strerror(rc));
    return rc;
}
