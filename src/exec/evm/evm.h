/* The EVM interpreter (Cancun), behind a host interface modelled on EVMC.
 *
 * The interpreter owns gas, the stack, memory and control flow of one call
 * frame. Everything that touches the world goes through struct evm_host:
 * accounts, storage, warm/cold sets, logs, nested calls and creates. The
 * host also owns journaling and revert, value transfer, precompiles, address
 * derivation and code deposit for CREATE. See docs/evm.md. */
#ifndef TALLY_EXEC_EVM_EVM_H
#define TALLY_EXEC_EVM_EVM_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"
#include "util/u256.h"

#define EVM_MAX_DEPTH     1024  /* a frame at this depth cannot call or create */
#define EVM_STACK_LIMIT   1024  /* stack items */
#define EVM_MAX_CODE_SIZE 24576 /* EIP-170, enforced by the host on deposit */
#define EVM_MAX_INITCODE  49152 /* EIP-3860 */
/* Memory is bounded by gas; this cap only keeps the arithmetic in range and
 * refuses absurd sizes up front. 64 MiB of memory costs about 8.6e9 gas, so
 * the cap never changes a result for a frame with less gas than that. */
#define EVM_MAX_MEMORY ((size_t)1 << 26)

struct evm_address {
    uint8_t bytes[20];
};

/* 32 big-endian bytes: storage keys and values, hashes. */
struct evm_bytes32 {
    uint8_t bytes[32];
};

enum evm_call_kind {
    EVM_CALL = 0,
    EVM_DELEGATECALL = 1,
    EVM_CALLCODE = 2,
    EVM_STATICCALL = 3, /* a CALL with EVM_STATIC set; kept for hosts that log kinds */
    EVM_CREATE = 4,
    EVM_CREATE2 = 5,
};

/* evm_message.flags */
#define EVM_STATIC 1u /* no state changes allowed in this frame or below */

/* One call frame's message. For CALL-family kinds the interpreter fills
 * recipient (whose storage and balance the code acts on), sender, value and
 * code_address (whose code runs; differs from recipient for DELEGATECALL and
 * CALLCODE). For CREATE/CREATE2 input is the initcode, recipient and
 * code_address are left zero (the host derives the new address), and
 * create2_salt is set for CREATE2. input points at the caller's memory and
 * stays valid until host->call returns. */
struct evm_message {
    enum evm_call_kind kind;
    uint32_t flags; /* EVM_STATIC */
    int32_t depth;  /* 0 for the transaction's own frame */
    int64_t gas;
    struct evm_address recipient;
    struct evm_address sender;
    const uint8_t *input;
    size_t input_len;
    u256 value;
    struct evm_bytes32 create2_salt;
    struct evm_address code_address;
};

enum evm_status {
    EVM_SUCCESS = 0,
    EVM_REVERT = 1, /* REVERT: gas_left kept, output is the revert data */
    EVM_OUT_OF_GAS = 2,
    EVM_INVALID_INSTRUCTION = 3,   /* 0xfe INVALID */
    EVM_UNDEFINED_INSTRUCTION = 4, /* an opcode Cancun does not define */
    EVM_STACK_OVERFLOW = 5,
    EVM_STACK_UNDERFLOW = 6,
    EVM_BAD_JUMP_DESTINATION = 7,
    EVM_INVALID_MEMORY_ACCESS = 8, /* RETURNDATACOPY past the return data */
    EVM_CALL_DEPTH_EXCEEDED = 9,   /* evm_execute called with depth > 1024 */
    EVM_STATIC_MODE_VIOLATION = 10,
    EVM_PRECOMPILE_FAILURE = 11,          /* set by the host's precompiles */
    EVM_CONTRACT_VALIDATION_FAILURE = 12, /* host: deployed code starts with 0xEF */
    EVM_ARGUMENT_OUT_OF_RANGE = 13,       /* host: e.g. initcode over the limit */
    EVM_INSUFFICIENT_BALANCE = 14,        /* host: value transfer without funds */
    EVM_INTERNAL_ERROR = 15,              /* allocation or host failure: abort the block */
};

/* The outcome of one frame. On SUCCESS and REVERT gas_left is what the frame
 * did not use; on every other status the frame used all its gas (gas_left 0).
 * gas_refund is the frame's accumulated refund (EIP-3529 SSTORE refunds,
 * including its successful sub-calls), 0 unless SUCCESS; the transaction
 * layer applies the gas_used/5 cap. output is malloc()ed and owned by the
 * result (NULL when output_len is 0); free it with evm_result_free. A host's
 * call() must allocate output the same way. create_address is set by the
 * host for a successful CREATE/CREATE2. */
struct evm_result {
    enum evm_status status;
    int64_t gas_left;
    int64_t gas_refund;
    uint8_t *output;
    size_t output_len;
    struct evm_address create_address;
};

/* Block and transaction facts, the same for every frame of a transaction.
 * blob_hashes (EIP-4844 versioned hashes) is owned by the host. */
struct evm_tx_context {
    u256 gas_price;
    struct evm_address origin;
    struct evm_address coinbase;
    int64_t number;
    int64_t timestamp; /* seconds */
    int64_t gas_limit;
    struct evm_bytes32 prevrandao;
    u256 chain_id;
    u256 base_fee;
    u256 blob_base_fee;
    const struct evm_bytes32 *blob_hashes;
    size_t blob_hashes_count;
};

enum evm_access_status {
    EVM_ACCESS_COLD = 0, /* first access in the transaction (now warm) */
    EVM_ACCESS_WARM = 1,
};

/* What an SSTORE did, in terms of the slot's original value (at the start of
 * the transaction), current value and new value; the interpreter turns it
 * into gas and refund (EIP-2200 with EIP-2929 and EIP-3529). Same meaning and
 * numbering as EVMC's evmc_storage_status. X, Y, Z are distinct non-zero. */
enum evm_storage_status {
    EVM_STORAGE_ASSIGNED = 0,          /* no-op, or dirty 0->Y->Z / X->Y->Z */
    EVM_STORAGE_ADDED = 1,             /* 0 -> 0 -> Z */
    EVM_STORAGE_DELETED = 2,           /* X -> X -> 0 */
    EVM_STORAGE_MODIFIED = 3,          /* X -> X -> Z */
    EVM_STORAGE_DELETED_ADDED = 4,     /* X -> 0 -> Z */
    EVM_STORAGE_MODIFIED_DELETED = 5,  /* X -> Y -> 0 */
    EVM_STORAGE_DELETED_RESTORED = 6,  /* X -> 0 -> X */
    EVM_STORAGE_ADDED_DELETED = 7,     /* 0 -> Y -> 0 */
    EVM_STORAGE_MODIFIED_RESTORED = 8, /* X -> Y -> X */
};

/* The world, as the interpreter sees it. Every function gets ctx first.
 * Host functions cannot fail: a host whose backing store fails records the
 * error in its own context, answers with zero values, and (best) makes
 * call() return EVM_INTERNAL_ERROR, which the interpreter propagates up
 * without running more code. The caller then discards the whole result.
 * Addresses and keys passed in are valid only during the call. */
struct evm_host {
    void *ctx;
    /* 1 if the account exists (EIP-161: non-empty, for the new-account
     * charge of CALL with value and SELFDESTRUCT), else 0. */
    int (*account_exists)(void *ctx, const struct evm_address *addr);
    /* Current value of addr's slot key (zero if unset). */
    struct evm_bytes32 (*get_storage)(void *ctx, const struct evm_address *addr,
                                      const struct evm_bytes32 *key);
    /* Write value, journaled; returns the status for gas (see
     * evm_storage_status(), which a host can use to compute it). */
    enum evm_storage_status (*set_storage)(void *ctx, const struct evm_address *addr,
                                           const struct evm_bytes32 *key,
                                           const struct evm_bytes32 *value);
    u256 (*get_balance)(void *ctx, const struct evm_address *addr);
    size_t (*get_code_size)(void *ctx, const struct evm_address *addr);
    /* keccak256 of the code; all zero for an account that does not exist
     * (EIP-1052, EIP-161 empty). */
    struct evm_bytes32 (*get_code_hash)(void *ctx, const struct evm_address *addr);
    /* Copy up to buf_len bytes of addr's code from code_offset into buf;
     * returns the count copied (0 past the end). */
    size_t (*copy_code)(void *ctx, const struct evm_address *addr, size_t code_offset, uint8_t *buf,
                        size_t buf_len);
    /* Register addr's self-destruct sending its balance to beneficiary
     * (EIP-6780: delete only if created in this transaction). Returns 1 the
     * first time for addr in the transaction, else 0 (no refund since
     * London; informational). */
    int (*selfdestruct)(void *ctx, const struct evm_address *addr,
                        const struct evm_address *beneficiary);
    /* Run a nested frame: CALL-family (transfer value, then precompile or
     * code at code_address, or nothing) or CREATE-family (nonce, address
     * derivation, collision check, initcode run, EIP-170/3541 checks, code
     * deposit 200 gas/byte). Fill *out (output malloc()ed); revert the
     * frame's state changes unless out->status is EVM_SUCCESS. The
     * interpreter has already checked depth and the caller's balance. */
    void (*call)(void *ctx, struct evm_result *out, const struct evm_message *msg);
    /* The transaction's context; owned by the host, valid for the whole
     * execution. Asked once per frame, on first use. */
    const struct evm_tx_context *(*get_tx_context)(void *ctx);
    /* Hash of block number (the interpreter only asks for the 256 blocks
     * below the current one). */
    struct evm_bytes32 (*get_block_hash)(void *ctx, int64_t number);
    /* Record a log (journaled: dropped if the frame reverts). */
    void (*emit_log)(void *ctx, const struct evm_address *addr, const uint8_t *data,
                     size_t data_len, const struct evm_bytes32 topics[], size_t ntopics);
    /* EIP-2929: mark warm, returning whether it was cold or warm before. */
    enum evm_access_status (*access_account)(void *ctx, const struct evm_address *addr);
    enum evm_access_status (*access_storage)(void *ctx, const struct evm_address *addr,
                                             const struct evm_bytes32 *key);
    /* EIP-1153 transient storage (journaled, cleared after the transaction). */
    struct evm_bytes32 (*get_transient_storage)(void *ctx, const struct evm_address *addr,
                                                const struct evm_bytes32 *key);
    void (*set_transient_storage)(void *ctx, const struct evm_address *addr,
                                  const struct evm_bytes32 *key, const struct evm_bytes32 *value);
};

/* Execute code (code_len bytes, owned by the caller, unchanged during the
 * call) for msg against host, and fill *out. Every EVM outcome, including
 * exceptional halts, is a return of 0 with out->status telling which;
 * free out's output with evm_result_free.
 * Errors: TALLY_EINVAL (NULL argument), TALLY_ENOMEM (out->status is then
 * EVM_INTERNAL_ERROR). The C stack grows by one interpreter frame per
 * nested call; see docs/evm.md for the depth-1024 budget. */
TALLY_WUR int evm_execute(const struct evm_host *host, const struct evm_message *msg,
                          const uint8_t *code, size_t code_len, struct evm_result *out);

/* Free r's output and zero it. NULL is ignored. */
void evm_result_free(struct evm_result *r);

/* The SSTORE status for a slot going from current to new, where original is
 * its value at the start of the transaction (EVMC's rules). Pure. */
enum evm_storage_status evm_storage_status(const struct evm_bytes32 *original,
                                           const struct evm_bytes32 *current,
                                           const struct evm_bytes32 *new_value);

/* CREATE address: keccak256(rlp([sender, nonce]))[12:]. */
void evm_create_address(struct evm_address *out, const struct evm_address *sender, uint64_t nonce);
/* CREATE2 address (EIP-1014):
 * keccak256(0xff ++ sender ++ salt ++ keccak256(initcode))[12:]. */
void evm_create2_address(struct evm_address *out, const struct evm_address *sender,
                         const struct evm_bytes32 *salt, const uint8_t *initcode,
                         size_t initcode_len);

/* Mnemonic of opcode op ("ADD", "PUSH1"); "UNDEFINED" for one Cancun does
 * not define. Static storage. */
const char *evm_opcode_name(uint8_t op);
/* Text for a status ("out of gas"). Static storage. */
const char *evm_status_str(enum evm_status s);

#endif
