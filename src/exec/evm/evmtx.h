/* One Ethereum transaction applied to a struct world under Cancun rules:
 * validity (nonce, fee caps, EIP-3607 sender without code, intrinsic gas
 * with access lists and EIP-3860 initcode words, block gas left, up-front
 * balance), EIP-1559 effective gas price, pre-warming (sender, recipient,
 * coinbase per EIP-3651, precompiles, access list), the refund cap
 * gas_used/5 (EIP-3529), the priority fee to the coinbase and the base fee
 * burnt. Also the EIP-4788 beacon-roots system call. Blob (type 3)
 * transactions are not supported. See docs/evm.md ("tally evm-test"). */
#ifndef TALLY_EXEC_EVM_EVMTX_H
#define TALLY_EXEC_EVM_EVMTX_H
#include <stddef.h>
#include <stdint.h>
#include "exec/evm/world.h"

/* One access-list entry: an address and its storage keys. */
struct evmtx_access {
    struct evm_address addr;
    const struct evm_bytes32 *keys; /* owned by the caller */
    size_t nkeys;
};

/* A transaction with its sender already known. For legacy and type-1
 * transactions max_fee and max_priority_fee both equal the gas price.
 * data and access are owned by the caller. */
struct evmtx {
    uint8_t type; /* 0, 1, 2 */
    struct evm_address sender;
    uint64_t nonce;
    uint64_t gas_limit;
    u256 max_fee, max_priority_fee;
    int has_to;
    struct evm_address to;
    u256 value;
    const uint8_t *data;
    size_t data_len;
    const struct evmtx_access *access;
    size_t naccess;
};

struct evmtx_result {
    uint64_t gas_used;  /* after the refund */
    uint64_t gas_spent; /* before the refund */
    enum evm_status status;
    struct evm_address create_address;
    uint8_t *output; /* return or revert data, malloc()ed: the caller frees it */
    size_t output_len;
};

/* Intrinsic gas: 21000 (+32000 creation), 4/16 per zero/non-zero data byte,
 * 2400 per access-list address and 1900 per key, 2 per initcode word. */
uint64_t evmtx_intrinsic_gas(const struct evmtx *tx);

/* Validate and apply tx to w in the block described by blk (coinbase,
 * base_fee, number...; gas_price and origin are filled in here on a copy).
 * block_gas_left is the block's gas limit minus the gas used so far.
 * Returns 0 when the transaction was included (*res filled; the EVM outcome
 * may still be a failure), or when it is invalid and w is unchanged:
 *   TALLY_ERANGE      nonce 2^64-1, or gas_limit*max_fee+value overflows
 *   TALLY_EGAS        gas_limit above block_gas_left
 *   TALLY_EFEE        max_priority_fee > max_fee, or max_fee < base_fee
 *   TALLY_ESTATE      the sender has code (EIP-3607)
 *   TALLY_ENONCE      nonce differs from the account's
 *   TALLY_EINTRINSIC  gas_limit below the intrinsic gas
 *   TALLY_ETOOBIG     initcode above EVM_MAX_INITCODE
 *   TALLY_EFUNDS      balance below gas_limit*max_fee + value
 *   TALLY_ENOMEM      allocation failure (w is then unusable)
 * A human detail goes to err (may be NULL). */
TALLY_WUR int evmtx_apply(struct world *w, struct evmtx_result *res, const struct evmtx *tx,
                          const struct evm_tx_context *blk, uint64_t block_gas_left, char *err,
                          size_t errlen);

/* EIP-4788: call the beacon-roots contract from the system address with
 * root as input, 30,000,000 gas, no fee, if the contract has code.
 * Errors: TALLY_ENOMEM. */
TALLY_WUR int evmtx_beacon_root(struct world *w, const struct evm_tx_context *blk,
                                const struct evm_bytes32 *root);

#endif
