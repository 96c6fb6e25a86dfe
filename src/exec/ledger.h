/* The chain as a whole over a store and the account state: genesis, building
 * and validating the next block, committing it in one write transaction, and
 * checking stored history. Single-threaded: the node loop owns a ledger
 * (other threads may read the store with their own read transactions). */
#ifndef TALLY_EXEC_LEDGER_H
#define TALLY_EXEC_LEDGER_H
#include <stddef.h>
#include <stdint.h>
#include "chain/block.h"
#include "chain/genesis.h"
#include "chain/receipt.h"
#include "chain/tx.h"
#include "exec/exec.h"
#include "state/state.h"
#include "store/store.h"
#include "util/err.h"

#define LEDGER_META_GENESIS "genesis"      /* genesis block hash */
#define LEDGER_META_CHAIN   "chain_config" /* Keccak of chain id, tx gas limit, issuers */

#define LEDGER_HASHES 256 /* block hashes kept in memory for BLOCKHASH */

struct ledger;

/* Open the ledger over st (which must outlive it). rules are copied (the
 * issuers too). On an empty store writes the genesis block (height 0, no txs,
 * state root of g's alloc) with its state in one txn; otherwise checks that
 * the stored genesis hash and chain config match g and loads the head.
 * *out is owned by the caller: ledger_close it.
 * Errors: TALLY_ECONFIG (store holds another chain), TALLY_EINVAL, TALLY_ENOMEM,
 * store/state errors. */
TALLY_WUR int ledger_open(struct ledger **out, struct store *st, const struct genesis *g,
                          const struct chain_rules *rules);

/* Free the ledger (pending state is dropped; the store stays open). NULL ok. */
void ledger_close(struct ledger *l);

/* Height and hash of the committed head block: the newest block whose write
 * is durable (what clients may be told about). */
uint64_t ledger_height(const struct ledger *l);
void ledger_head_hash(const struct ledger *l, uint8_t out[32]);
/* Timestamp of the head block (ms). */
uint64_t ledger_head_timestamp(const struct ledger *l);

/* Height of the tip: the newest block committed in memory, which the next
 * built or executed block links to. Equal to ledger_height unless prepared
 * blocks are still being written (ledger_commit_prepare). */
uint64_t ledger_tip_height(const struct ledger *l);
/* Hash of the tip block. */
void ledger_tip_hash(const struct ledger *l, uint8_t out[32]);

/* Number of prepared blocks not finished yet (ledger_commit_finish). */
size_t ledger_jobs(const struct ledger *l);

/* Borrowed pointers, valid while the ledger is open. */
struct state *ledger_state(struct ledger *l);
struct store *ledger_store(struct ledger *l);
const struct chain_rules *ledger_rules(const struct ledger *l);

/* Human detail of the last failure ("" if none); valid until the next call. */
const char *ledger_errmsg(const struct ledger *l);

/* Build the block after the tip from candidates cands[0..n) in order (each with its
 * sender recovered). Each is executed; included ones are copied into the
 * block (the caller keeps cands); for each refused one on_drop(arg, tx, err,
 * why) is called (may be NULL; the caller decides to drop or keep it). Stops
 * early, without calling on_drop, when the block is full (BLOCK_MAX_TXS or
 * BLOCK_MAX_SIZE). Fills the header (parent, height, timestamp = max(given,
 * parent's), proposer, roots, gas) and seals. *out (block_free) and
 * *out_rcpts (free; one per tx) are owned by the caller. The state changes
 * stay pending until ledger_commit or ledger_discard.
 * Errors: TALLY_ENOTFOUND (nothing included; nothing pending),
 * TALLY_ESTATE (a built/executed block is still pending), TALLY_ENOMEM,
 * store/state errors (pending dropped). */
TALLY_WUR int ledger_build(struct ledger *l, struct block **out, struct receipt **out_rcpts,
                           struct tx *const *cands, size_t n, const uint8_t proposer[20],
                           uint64_t timestamp_ms,
                           void (*on_drop)(void *arg, struct tx *tx, int err, const char *why),
                           void *arg);

/* Validate a block received from outside (every tx with its sender
 * recovered): hash, link (parent hash, height = tip + 1, timestamp >=
 * parent's), gas limit and base fee as the rules say, tx root, re-execution
 * of all txs (every tx must be includable), gas used, receipts root, state
 * root. On success the state changes are pending and *out_rcpts (free) is
 * set. Errors: TALLY_EBADBLOCK with why (pending dropped), TALLY_ESTATE
 * (another block is pending), TALLY_ENOMEM, store/state errors. */
TALLY_WUR int ledger_execute(struct ledger *l, struct receipt **out_rcpts, const struct block *b,
                             char *why, size_t whylen);

/* Append a block built by ledger_build or checked by ledger_execute with its
 * receipts: writes block, receipts, indexes and state in ONE write txn,
 * commits (durable), then state_commit_done. The pending block itself (same
 * hash, header intact) is not checked again (its roots were computed or
 * checked); any other block gets the link, gas, receipts and state root
 * checks. On failure the pending state is dropped, the ledger is unchanged,
 * and ledger_errmsg says why. Errors: TALLY_EBADBLOCK, TALLY_EBUSY (prepared
 * blocks are still being written; the pending block stays pending),
 * TALLY_ESTATE (a pipelined write failed earlier), store/state errors. */
TALLY_WUR int ledger_commit(struct ledger *l, const struct block *b, const struct receipt *rcpts);

/* ---- Pipelined commit ----
 * The same one-txn-per-block write, split so that the write (puts, commit,
 * fsync) runs on a writer thread while the loop goes on building:
 *
 *   loop:   ledger_build / ledger_execute -> ledger_commit_prepare(b) -> job
 *   writer: ledger_write_job(job)          (jobs strictly one at a time, in
 *                                          the order they were prepared)
 *   loop:   ledger_commit_finish(job)      (in the same order)
 *
 * After prepare the block is the tip: the state the next block builds on
 * includes it (state_get_latest), ledger_tip_height counts it, but
 * ledger_height, the committed state (state_get_committed) and the store do
 * not until its finish. A failed write is final: the store keeps the blocks
 * before it, later jobs are not written, and every later build, execute,
 * prepare or commit fails with TALLY_ESTATE (restart from the store). */
struct ledger_job;

/* Take the pending block b (as ledger_commit; a built or executed block is
 * not checked again) and record everything it writes (ledger_commit's one
 * txn) into a batch owned by *out; commit its state in memory
 * (state_commit_mem) and make it the tip. b and rcpts are not referenced
 * after this returns. On failure the pending state is dropped and the ledger
 * is unchanged. Errors: TALLY_EBADBLOCK, TALLY_ESTATE, TALLY_ENOMEM. */
TALLY_WUR int ledger_commit_prepare(struct ledger *l, struct ledger_job **out,
                                    const struct block *b, const struct receipt *rcpts);

/* Height of the job's block. */
uint64_t ledger_job_height(const struct ledger_job *j);

/* Add a put of a key outside the chain's own records (e.g. the consensus
 * state) to the job's batch, so that it becomes durable in the same write
 * txn as the block. Before ledger_write_job, on the thread that will write
 * it. Errors: TALLY_EINVAL (already written), TALLY_ENOMEM. */
TALLY_WUR int ledger_job_put(struct ledger_job *j, enum store_db db, const void *key, size_t klen,
                             const void *val, size_t vlen);

/* Write the job's batch in one write txn and commit it (durable on LMDB).
 * Any thread, one job at a time, in prepare order; touches only the job and
 * the store (never the ledger's loop-owned state). The result is kept in the
 * job for ledger_commit_finish. With the in-memory store (not thread-safe
 * against the loop's reads) call it on the loop thread. */
void ledger_write_job(struct ledger_job *j);

/* After ledger_write_job, on the thread that wrote it: 0 when the write is
 * durable, else its error (TALLY_EINVAL before the write). */
int ledger_job_result(const struct ledger_job *j);

/* Loop thread, in prepare order, after ledger_write_job: on success the
 * block becomes the committed head (ledger_height, state_get_committed).
 * Frees j in all cases. Errors: the write's (TALLY_EFULL, TALLY_ESTORE, ...,
 * TALLY_ESTATE when an earlier write failed; detail in ledger_errmsg): the
 * ledger is then broken (see above); the caller should stop. */
TALLY_WUR int ledger_commit_finish(struct ledger *l, struct ledger_job *j);

/* Deferred tx index entries merged into TX_LOC per merge (docs/storage.md). */
#define LEDGER_TXINDEX_MERGE 65536
/* ... written at most this many per block write, in key order. */
#define LEDGER_TXINDEX_CHUNK 8192

/* Change the merge threshold and chunk size (tests use small ones). */
void ledger_set_txindex_merge(struct ledger *l, size_t n, size_t chunk);

/* Location of a committed transaction: the in-memory deferred index first,
 * then TX_LOC through t (a read txn). May name a block that is prepared but
 * not yet durable (height > ledger_height): callers that serve clients check
 * the height. Errors: TALLY_ENOTFOUND, TALLY_EDECODE. */
TALLY_WUR int ledger_tx_loc(struct ledger *l, struct store_txn *t, uint64_t *height,
                            uint32_t *index, const uint8_t txhash[32]);

/* The environment a call (eth_call, eth_estimateGas) runs in: the block
 * after the committed head, proposed by nobody, at timestamp_ms. */
void ledger_call_env(struct ledger *l, struct block_env *env, uint64_t timestamp_ms);

/* Drop the pending state of a built/executed block that will not be committed. */
void ledger_discard(struct ledger *l);

/* Check stored history for heights [from, to] (to <= committed head): each block
 * decodes, has its height, links to its parent's hash, has the right tx root,
 * the hash index points back at its height and each tx's location index
 * points back at it. Errors: TALLY_EBADBLOCK with why (the first problem),
 * TALLY_EINVAL (bad range), store errors. */
TALLY_WUR int ledger_validate(struct ledger *l, uint64_t from, uint64_t to, char *why,
                              size_t whylen);

#endif
