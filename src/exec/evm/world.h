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

/* Where a world finds the accounts and slots it does not hold yet: the
 * node's state (exec/exec.c). Without one, what the world does not hold does
 * not exist. A backend's failure makes the world failed (world_failed) and
 * the running call end with EVM_INTERNAL_ERROR. */
struct world_backend {
    void *ctx;
    /* The account at addr: *present 0 if it does not exist; else balance,
     * nonce and code (*code valid until the next backend call; copied). */
    int (*account)(void *ctx, const uint8_t addr[20], int *present, u256 *balance, uint64_t *nonce,
                   const uint8_t **code, size_t *code_len, uint8_t code_hash[32]);
    /* Value of a slot (zero if unset). */
    int (*storage)(void *ctx, const uint8_t addr[20], const uint8_t key[32], uint8_t out[32]);
    /* Hash of block `number` (zero if unknown). */
    int (*block_hash)(void *ctx, uint64_t number, uint8_t out[32]);
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

/* Read through b (copied; b->ctx must outlive its use) from now on. */
void world_set_backend(struct world *w, const struct world_backend *b);

/* Forget every account (a backed world starts each transaction empty, so
 * lookups stay short); keeps the backend and block hashes. */
void world_reset(struct world *w);

/* What a transaction changed, for writing it back to the backend: calls
 * account() for every account that exists after it or existed before it
 * (exists 0: deleted; code is non-NULL only for code deployed by it) and
 * slot() for every slot whose value differs from the one loaded. The first
 * non-zero return stops the walk and is returned. */
TALLY_WUR int world_changes(struct world *w, void *arg,
                            int (*account)(void *arg, const struct world_account *a, int exists,
                                           const uint8_t *new_code),
                            int (*slot)(void *arg, const struct evm_address *addr,
                                        const struct evm_bytes32 *key,
                                        const struct evm_bytes32 *value));

/* The logs of the current transaction, in order: calls fn for each. */
void world_logs(const struct world *w, void *arg,
                void (*fn)(void *arg, const struct evm_address *addr,
                           const struct evm_bytes32 *topics, size_t ntopics, const uint8_t *data,
                           size_t data_len));

/* The account at addr, or NULL if it does not exist. Owned by the world. */
const struct world_account *world_get(struct world *w, const struct evm_address *addr);
/* Iterate: accounts 0..world_count()-1 (check ->present). */
size_t world_count(const struct world *w);
const struct world_account *world_at(const struct world *w, size_t i);
/* Non-zero storage of account i: calls fn for each slot; returns the count. */
size_t world_storage_each(const struct world *w, size_t i,
                          void (*fn)(void *arg, const struct evm_bytes32 *key,
                                     const struct evm_bytes32 *value),
                          void *arg);
/* Current value of a slot (zero if unset or no account). */
struct evm_bytes32 world_storage(struct world *w, const struct evm_address *addr,
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

/* 1 if the world hit an allocation or backend failure since world_new;
 * world_error gives the error code (TALLY_ENOMEM or the backend's). */
int world_failed(const struct world *w);
int world_error(const struct world *w);
/* 1 if some frame since world_new called the KZG point-evaluation
 * precompile (0x0a), which is not implemented: it ran as an empty account,
 * so the result cannot be trusted. */
int world_used_unsupported(const struct world *w);

#endif
