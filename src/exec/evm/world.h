/* An in-memory, journaling world state implementing struct evm_host: the
 * reference host for the ethereum-tests runner (`tally evm-test`) and unit
 * tests. Accounts (balance, nonce, code, storage), original values for
 * SSTORE pricing, EIP-2929 warm sets and EIP-1153 transient storage (both
 * reset per transaction), logs, snapshots for nested calls, EIP-6780
 * SELFDESTRUCT, EIP-161 deletion of touched empty accounts, precompiles,
 * CREATE/CREATE2 (collision, EIP-170, EIP-3541, 200 gas/byte deposit).
 * Linear lookups: meant for test-sized worlds, not for a node's state.
 * Not thread-safe. See docs/evm.md ("tally evm-test"). */
#ifndef TALLY_EXEC_EVM_WORLD_H
#define TALLY_EXEC_EVM_WORLD_H
#include <stddef.h>
#include <stdint.h>
#include "exec/evm/evm.h"

struct world;

/* One account as stored; pointers stay valid until the next call that
 * changes the world. */
struct world_account {
    struct evm_address addr;
    int present; /* 0: the slot is unused (never created or deleted) */
    u256 balance;
    uint64_t nonce;
    uint8_t *code; /* owned by the world */
    size_t code_len;
    struct evm_bytes32 code_hash;
};

/* A new empty world; *out is owned by the caller, free with world_free.
 * Errors: TALLY_ENOMEM. */
TALLY_WUR int world_new(struct world **out);
void world_free(struct world *w);

/* Set up an account outside any transaction (not journaled): creates it,
 * replacing balance, nonce and code (copied). Errors: TALLY_ENOMEM. */
TALLY_WUR int world_put_account(struct world *w, const struct evm_address *addr,
                                const u256 *balance, uint64_t nonce, const uint8_t *code,
                                size_t code_len);
/* Set one storage slot of an existing account outside any transaction.
 * Errors: TALLY_ENOTFOUND (no such account), TALLY_ENOMEM. */
TALLY_WUR int world_put_storage(struct world *w, const struct evm_address *addr,
                                const struct evm_bytes32 *key, const struct evm_bytes32 *value);

/* The account at addr, or NULL if it does not exist. Owned by the world. */
const struct world_account *world_get(const struct world *w, const struct evm_address *addr);
/* Iterate: accounts 0..world_count()-1 (check ->present). */
size_t world_count(const struct world *w);
const struct world_account *world_at(const struct world *w, size_t i);
/* Non-zero storage of account i: calls fn for each slot; returns the count. */
size_t world_storage_each(const struct world *w, size_t i,
                          void (*fn)(void *arg, const struct evm_bytes32 *key,
                                     const struct evm_bytes32 *value),
                          void *arg);
/* Current value of a slot (zero if unset or no account). */
struct evm_bytes32 world_storage(const struct world *w, const struct evm_address *addr,
                                 const struct evm_bytes32 *key);

/* The host table over w; ctx is w. tx_ctx (owned by the caller) must stay
 * valid until world_end_tx. Block hashes come from world_set_block_hash. */
struct evm_host world_host(struct world *w);
void world_set_block_hash(struct world *w, int64_t number, const struct evm_bytes32 *hash);

/* Start a transaction: clears warm sets, transient storage, logs and the
 * journal; original storage values are taken from here on. */
void world_begin_tx(struct world *w, const struct evm_tx_context *tx_ctx);
/* Finish it: delete accounts self-destructed in it (EIP-6780) and touched
 * accounts that are empty (EIP-161); drop the journal. */
void world_end_tx(struct world *w);
/* Number of logs of the current transaction. */
size_t world_log_count(const struct world *w);

/* Journal position and revert to it (within a transaction). */
size_t world_snapshot(const struct world *w);
void world_revert(struct world *w, size_t snap);

/* Journaled balance changes for the transaction layer; both touch the
 * account (creating it for a non-zero add). world_sub_balance fails with
 * TALLY_EFUNDS, changing nothing, if the balance is short. */
void world_add_balance(struct world *w, const struct evm_address *addr, const u256 *v);
TALLY_WUR int world_sub_balance(struct world *w, const struct evm_address *addr, const u256 *v);
/* Journaled nonce increment (creates the account if needed). */
void world_inc_nonce(struct world *w, const struct evm_address *addr);

/* Run a frame as host->call does (depth 0 for a transaction's own frame:
 * for a depth-0 CREATE the sender's nonce was already incremented by the
 * caller, and the address uses nonce-1). Free out with evm_result_free.
 * Sets out->status EVM_INTERNAL_ERROR on allocation failure. */
void world_call(struct world *w, struct evm_result *out, const struct evm_message *msg);

/* 1 if the world hit an allocation failure since world_new. */
int world_failed(const struct world *w);
/* 1 if some frame since world_new called the KZG point-evaluation
 * precompile (0x0a), which is not implemented: it ran as an empty account,
 * so the result cannot be trusted. */
int world_used_unsupported(const struct world *w);

#endif
