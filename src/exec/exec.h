/* Applying transactions to the state: native value transfers with EIP-1559
 * style fees, and contract creation and calls run by the EVM (exec/evm) on a
 * world read through from the state and written back when the transaction
 * ends (docs/evm.md, "In the node"). */
#ifndef TALLY_EXEC_EXEC_H
#define TALLY_EXEC_EXEC_H
#include <stddef.h>
#include <stdint.h>
#include "chain/receipt.h"
#include "chain/tx.h"
#include "state/state.h"
#include "util/err.h"
#include "util/u256.h"

/* Rules of the chain (from genesis). issuers points at caller-owned storage
 * that must outlive every use of the rules. */
struct chain_rules {
    uint64_t chain_id;
    const uint8_t (*issuers)[20]; /* accounts whose transfers mint the value */
    size_t nissuers;
    uint64_t block_gas_limit;
    uint64_t tx_gas_limit;
    u256 base_fee; /* constant base fee per gas */
};

/* The block a transaction executes in. */
struct block_env {
    uint64_t height;
    uint64_t timestamp_ms;
    uint8_t proposer[20]; /* receives the tips */
    u256 base_fee;
    uint64_t gas_limit;
    /* BLOCKHASH: the hash of an earlier block (asked only for the 256 below
     * height); NULL answers zero. */
    int (*block_hash)(void *arg, uint64_t height, uint8_t out[32]);
    void *block_hash_arg;
};

/* 1 if addr is one of rules' issuers. */
int exec_is_issuer(const struct chain_rules *rules, const uint8_t addr[20]);

/* Execute tx (sender recovered) on st's pending state in block env, where
 * block_gas_used gas was used by the block's earlier transactions.
 *
 * Returns 0 if the tx is included: *rc is filled (status 1 with the logs; or
 * status 0 with rc->reason for a failed-but-included tx, e.g. a contract
 * call that reverted, which pays its gas and bumps the nonce and leaves no
 * other trace). rc owns its logs (receipt_clear). The sender pays
 * gas_used * effective price plus the value; the base fee part is burnt, the
 * tip goes to env->proposer. An issuer's value is minted (the receiver is
 * credited, the issuer only pays the fee).
 *
 * Returns a negative code if it cannot be included; the state is untouched
 * and why (may be NULL) gets a human reason:
 * TALLY_ESIG (sender not recovered), TALLY_ECHAINID (missing/wrong chain id),
 * TALLY_EGAS (gas limit above the tx limit, or does not fit in the block),
 * TALLY_EINTRINSIC (gas limit below intrinsic gas), TALLY_EFEE (max fee below
 * base fee, priority fee above max fee), TALLY_ENONCE ("nonce too low: have
 * 7, got 5" / "nonce too high: ..."), TALLY_EFUNDS ("insufficient funds:
 * balance X, cost Y", cost = value + gas_limit * effective price; issuers
 * only the fee part), TALLY_ERANGE (a balance would pass 2^256), and state
 * errors (TALLY_ENOMEM, TALLY_EFULL, store errors). */
TALLY_WUR int exec_tx(struct state *st, struct receipt *rc, const struct tx *tx,
                      const struct block_env *env, const struct chain_rules *rules,
                      uint64_t block_gas_used, char *why, size_t whylen);

/* A message that is not a transaction (eth_call, eth_estimateGas). */
struct exec_call {
    uint8_t from[20];
    int has_to; /* 0: contract creation (data is the initcode) */
    uint8_t to[20];
    u256 value;
    const uint8_t *data;
    size_t data_len;
    uint64_t gas; /* gas limit, intrinsic gas included */
};

struct exec_call_result {
    int status;         /* 1 success, 0 failed (reverted or halted) */
    uint64_t gas_used;  /* intrinsic gas included, after refunds */
    uint64_t gas_spent; /* the same before refunds (a lower bound for a limit) */
    uint8_t *output;    /* return or revert data (malloc()ed; free it), NULL if none */
    size_t output_len;
    char reason[RECEIPT_REASON_MAX]; /* why it failed ("" on success) */
};

/* Run call c on the committed state (what RPC serves) in block env, charging
 * no fee (gas price 0) and changing nothing: every change is dropped. The
 * sender needs the value. Errors: TALLY_EINTRINSIC (gas below the intrinsic
 * gas), TALLY_EGAS (gas above the chain's transaction limit), TALLY_EFUNDS
 * (value above the balance), TALLY_ETOOBIG (initcode too long), TALLY_ENOMEM
 * and state errors; why (may be NULL) gets the reason. */
TALLY_WUR int exec_call(struct state *st, struct exec_call_result *out, const struct exec_call *c,
                        const struct block_env *env, const struct chain_rules *rules, char *why,
                        size_t whylen);

/* eth_estimateGas: the least gas limit (<= c->gas) with which c succeeds,
 * found by running it (binary search over the limit, as Ethereum clients
 * do: the 63/64 rule and refunds make the gas used not enough). When c
 * fails even with c->gas, returns 0 with out->status 0 and the failure in
 * out (reason, revert data). Errors: as exec_call. */
TALLY_WUR int exec_estimate_gas(struct state *st, struct exec_call_result *out, uint64_t *gas,
                                const struct exec_call *c, const struct block_env *env,
                                const struct chain_rules *rules, char *why, size_t whylen);

/* Decode the reason of revert data: Error(string) -> "execution reverted:
 * <text>" (non-printable bytes as '?'), Panic(uint256) -> "execution
 * reverted: panic 0x..", anything else -> "execution reverted". */
void exec_revert_reason(char *out, size_t outlen, const uint8_t *data, size_t len);

#endif
