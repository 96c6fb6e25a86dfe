/* Applying transactions to the state. Today: native value transfers with
 * EIP-1559 style fees. Contract creation and calls into code come with the
 * EVM issue; exec_tx is the seam where the interpreter plugs in. */
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
};

#define EXEC_REASON_NO_EVM "contract execution is not supported yet (EVM issue)"

/* 1 if addr is one of rules' issuers. */
int exec_is_issuer(const struct chain_rules *rules, const uint8_t addr[20]);

/* Execute tx (sender recovered) on st's pending state in block env, where
 * block_gas_used gas was used by the block's earlier transactions.
 *
 * Returns 0 if the tx is included: *rc is filled (status 1; or status 0 with
 * rc->reason for a failed-but-included tx, e.g. contract creation before the
 * EVM, which still pays intrinsic gas and bumps the nonce). The sender pays
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

#endif
