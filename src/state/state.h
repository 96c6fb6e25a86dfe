/* Accounts (balance, nonce, code hash), contract storage slots and contract
 * code over the store, with a bounded in-memory cache of
 * committed accounts, a pending layer for the block being executed, and a
 * journal for undoing part of it. The state root is a hash chain over the
 * per-block diffs (docs/state.md).
 *
 * Life of a block: state_get/state_put (pending) ... state_mark/state_revert
 * ... state_flush(t) into the block's write txn; after the txn committed
 * state_commit_done, else state_discard.
 *
 * Pipelined (the write happens later, on another thread): state_flush_batch
 * into the block's batch, state_commit_mem (the changes are now what later
 * blocks build on) and, once the batch is durable, state_commit_written.
 * Three views: state_get (pending over latest), state_get_latest (every
 * block committed in memory, written or not) and state_get_committed (only
 * what is written: what RPC serves).
 *
 * Not thread-safe: one thread (the node loop) owns a struct state. */
#ifndef TALLY_STATE_STATE_H
#define TALLY_STATE_STATE_H
#include <stddef.h>
#include <stdint.h>
#include "store/store.h"
#include "util/err.h"
#include "util/u256.h"

#define STATE_CACHE_ENTRIES (1u << 18)   /* committed accounts kept in memory */
#define STATE_PENDING_MAX   (1u << 22)   /* accounts one block may change */
#define STATE_META_ROOT     "state_root" /* STORE_DB_META key of the committed root */

struct account {
    u256 balance;
    uint64_t nonce;
    uint8_t code_hash[32]; /* Keccak of the contract code; all zero: no code */
};

struct state;

/* Open the account state over st (which must outlive it), reading the
 * committed root from metadata (32 zero bytes on an empty store). *out is
 * owned by the caller: state_close it.
 * Errors: TALLY_ENOMEM, TALLY_EDECODE (corrupt root), store errors. */
TALLY_WUR int state_open(struct state **out, struct store *st);

/* Free the state (pending changes are dropped). NULL is fine. */
void state_close(struct state *s);

/* The account at addr as the block being executed sees it (pending over
 * committed). An absent account reads as zero. Errors: TALLY_EDECODE
 * (corrupt stored account), store errors. */
TALLY_WUR int state_get(struct state *s, struct account *out, const uint8_t addr[20]);

/* The committed account as written to the store, ignoring pending changes
 * and blocks committed in memory whose batch is not written yet (RPC
 * "latest"). Errors: as state_get. */
TALLY_WUR int state_get_committed(struct state *s, struct account *out, const uint8_t addr[20]);

/* The account after the newest block committed in memory (state_commit_mem
 * or state_commit_done), written or not, ignoring pending changes: the state
 * the next block builds on (pool nonces). Errors: as state_get. */
TALLY_WUR int state_get_latest(struct state *s, struct account *out, const uint8_t addr[20]);

/* Storage slot `slot` of the contract at addr (32 big-endian bytes; zero if
 * unset), in the same three views as the accounts: pending over latest
 * (execution), latest (after the newest block built) and committed (RPC).
 * Errors: TALLY_EDECODE (corrupt stored slot), store errors. */
TALLY_WUR int state_get_slot(struct state *s, uint8_t out[32], const uint8_t addr[20],
                             const uint8_t slot[32]);
TALLY_WUR int state_get_latest_slot(struct state *s, uint8_t out[32], const uint8_t addr[20],
                                    const uint8_t slot[32]);
TALLY_WUR int state_get_committed_slot(struct state *s, uint8_t out[32], const uint8_t addr[20],
                                       const uint8_t slot[32]);

/* Set a pending storage slot (journaled; zero deletes it). Errors: as
 * state_put. */
TALLY_WUR int state_put_slot(struct state *s, const uint8_t addr[20], const uint8_t slot[32],
                             const uint8_t value[32]);

/* The code whose Keccak is hash: *code points at len bytes owned by the
 * state, valid until the next call that changes, flushes, commits or
 * discards the state (copy it). A zero hash gives len 0. Errors:
 * TALLY_EDECODE (an account names code that is not stored), store errors. */
TALLY_WUR int state_get_code(struct state *s, const uint8_t hash[32], const uint8_t **code,
                             size_t *len);

/* Add contract code (copied) under its Keccak hash, pending with the block
 * (journaled: state_revert drops it). Code already known is not added again.
 * Errors: TALLY_ENOMEM, store errors. */
TALLY_WUR int state_put_code(struct state *s, const uint8_t hash[32], const uint8_t *code,
                             size_t len);

/* Set the pending account at addr (journaled). Errors: TALLY_ENOMEM,
 * TALLY_EFULL (more than STATE_PENDING_MAX accounts), store errors. */
TALLY_WUR int state_put(struct state *s, const uint8_t addr[20], const struct account *a);

/* Journal checkpoint: pass it to state_revert to undo later changes. */
size_t state_mark(struct state *s);

/* Undo all pending changes made after mark (a value from state_mark that is
 * not newer than the current journal). */
void state_revert(struct state *s, size_t mark);

/* Compute the root the committed state would have with the pending changes
 * (root = Keccak(committed root || Keccak(diff))) into new_root and, if t is
 * not NULL, write the changed accounts and the new root (metadata
 * STATE_META_ROOT) into write txn t. t == NULL only computes the root.
 * Pending changes stay until state_commit_done or state_discard.
 * Errors: TALLY_ENOMEM, store errors. */
TALLY_WUR int state_flush(struct state *s, struct store_txn *t, uint8_t new_root[32]);

/* As state_flush with a write txn, but the puts and deletes go into batch b
 * (written later by store_batch_write). Errors: TALLY_ENOMEM. */
TALLY_WUR int state_flush_batch(struct state *s, struct store_batch *b, uint8_t new_root[32]);

/* The txn that state_flush wrote into has committed: the pending changes
 * become the committed state (cache updated, root = the flushed root). */
void state_commit_done(struct state *s);

/* Commit the flushed pending changes in memory, before their batch is
 * written: they become the latest state (state_get, state_get_latest, the
 * root the next block chains from) but not yet the committed one
 * (state_get_committed). *ticket names them for state_commit_written.
 * Blocks are committed and written strictly in this order. On failure
 * nothing changed (the changes are still pending). Errors: TALLY_ENOMEM. */
TALLY_WUR int state_commit_mem(struct state *s, uint64_t *ticket);

/* The batch of the oldest block committed in memory (ticket) is durable:
 * its changes become the committed state. Tickets must come in order. */
void state_commit_written(struct state *s, uint64_t ticket);

/* Number of blocks committed in memory whose batches are not written. */
size_t state_unwritten(const struct state *s);

/* Drop all pending changes (block refused or its txn aborted). */
void state_discard(struct state *s);

/* The root of the latest state (the newest block committed in memory or
 * on disk; pending changes not included). */
void state_root(const struct state *s, uint8_t out[32]);

#endif
