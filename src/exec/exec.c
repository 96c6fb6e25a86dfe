/* Transaction execution: checks that decide whether a transaction can be
 * included, then the state transition. Only native transfers for now; the
 * EVM plugs in at exec_message(). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "exec/exec.h"

static int fail(char *why, size_t whylen, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t whylen, int err, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return err;
}

int exec_is_issuer(const struct chain_rules *rules, const uint8_t addr[20])
{
    for (size_t i = 0; i < rules->nissuers; i++)
        if (!memcmp(rules->issuers[i], addr, 20)) return 1;
    return 0;
}

/* Add v to the pending balance of addr. TALLY_ERANGE on overflow. */
static int credit(struct state *st, const uint8_t addr[20], const u256 *v)
{
    struct account a;
    int rc = state_get(st, &a, addr);
    if (rc) return rc;
    if (u256_add(&a.balance, &a.balance, v)) return TALLY_ERANGE;
    return state_put(st, addr, &a);
}

/* The message part of a transaction, after the sender was charged and its
 * nonce bumped: value transfer to an account, or (EVM issue) contract
 * creation / code execution. Fills status, reason and *gas_used (starts at
 * the intrinsic gas). Returns an error only for state failures. */
static int exec_message(struct state *st, struct receipt *rc, const struct tx *tx, int issuer,
                        uint64_t *gas_used)
{
    if (!tx->has_to) {
        /* Seam for the EVM: creation runs the initcode here. Until then the
         * transaction is included as failed, paying the intrinsic gas. */
        rc->status = 0;
        snprintf(rc->reason, sizeof rc->reason, "%s", EXEC_REASON_NO_EVM);
        return 0;
    }
    /* Seam for the EVM: a call to an account with code runs it here. No
     * account has code before the EVM, so every call is a plain transfer. */
    if (!u256_is_zero(&tx->value)) {
        if (!issuer) {
            /* The value was checked against the balance before; debit it now
             * (the sender's pending account already carries the fee). */
            struct account s;
            int r = state_get(st, &s, tx->sender);
            if (r) return r;
            u256_sub(&s.balance, &s.balance, &tx->value);
            if ((r = state_put(st, tx->sender, &s))) return r;
        }
        int r = credit(st, tx->to, &tx->value);
        if (r) return r;
    }
    rc->status = 1;
    (void)gas_used;
    return 0;
}

int exec_tx(struct state *st, struct receipt *rc, const struct tx *tx, const struct block_env *env,
            const struct chain_rules *rules, uint64_t block_gas_used, char *why, size_t whylen)
{
    char a[80], b[80];
    int r;
    if (why && whylen) why[0] = '\0';
    if (!tx->has_sender) return fail(why, whylen, TALLY_ESIG, "sender not recovered");
    if (!tx->has_chain_id)
        return fail(why, whylen, TALLY_ECHAINID,
                    "transaction without chain id (pre-EIP-155) not accepted");
    if (tx->chain_id != rules->chain_id)
        return fail(why, whylen, TALLY_ECHAINID, "wrong chain id: want %llu, got %llu",
                    (unsigned long long)rules->chain_id, (unsigned long long)tx->chain_id);
    if ((r = tx_validate_basic(tx, why, whylen))) return r;
    if (tx->gas_limit > rules->tx_gas_limit)
        return fail(why, whylen, TALLY_EGAS, "gas limit %llu above the transaction limit %llu",
                    (unsigned long long)tx->gas_limit, (unsigned long long)rules->tx_gas_limit);
    if (tx->gas_limit > env->gas_limit || block_gas_used > env->gas_limit - tx->gas_limit)
        return fail(why, whylen, TALLY_EGAS,
                    "gas limit %llu does not fit in the block (%llu of %llu used)",
                    (unsigned long long)tx->gas_limit, (unsigned long long)block_gas_used,
                    (unsigned long long)env->gas_limit);
    if (u256_cmp(&tx->max_fee, &env->base_fee) < 0) {
        u256_to_dec(a, &tx->max_fee);
        u256_to_dec(b, &env->base_fee);
        return fail(why, whylen, TALLY_EFEE, "max fee per gas %s below base fee %s", a, b);
    }

    struct account sender;
    if ((r = state_get(st, &sender, tx->sender))) return r;
    if (tx->nonce != sender.nonce)
        return fail(why, whylen, TALLY_ENONCE, "nonce too %s: have %llu, got %llu",
                    tx->nonce < sender.nonce ? "low" : "high", (unsigned long long)sender.nonce,
                    (unsigned long long)tx->nonce);

    /* Up-front cost: gas_limit * price (+ value unless the issuer mints it).
     * gas_limit * max_fee fits in 256 bits (tx_validate_basic) and price <=
     * max_fee, so only adding the value can overflow. */
    int issuer = exec_is_issuer(rules, tx->sender);
    u256 price, gas, cost;
    tx_effective_gas_price(&price, tx, &env->base_fee);
    gas = u256_from_u64(tx->gas_limit);
    u256_mul(&cost, &gas, &price);
    int over = !issuer && u256_add(&cost, &cost, &tx->value);
    if (over || u256_cmp(&sender.balance, &cost) < 0) {
        u256_to_dec(a, &sender.balance);
        if (over)
            snprintf(b, sizeof b, "above 2^256");
        else
            u256_to_dec(b, &cost);
        return fail(why, whylen, TALLY_EFUNDS, "insufficient funds: balance %s, cost %s", a, b);
    }

    /* Included from here on: charge the fee for the intrinsic gas and bump
     * the nonce, then run the message. */
    uint64_t gas_used = tx_intrinsic_gas(tx);
    u256 fee, tip, tip_price;
    gas = u256_from_u64(gas_used);
    u256_mul(&fee, &gas, &price);
    u256_sub(&tip_price, &price, &env->base_fee); /* price >= base fee: checked above */
    u256_mul(&tip, &gas, &tip_price);

    size_t mark = state_mark(st);
    memset(rc, 0, sizeof *rc);
    u256_sub(&sender.balance, &sender.balance, &fee);
    sender.nonce++;
    if ((r = state_put(st, tx->sender, &sender))) goto undo;
    if ((r = exec_message(st, rc, tx, issuer, &gas_used))) goto undo;
    /* The base fee part is burnt; the tip goes to the proposer. */
    if (!u256_is_zero(&tip) && (r = credit(st, env->proposer, &tip))) goto undo;
    rc->gas_used = gas_used;
    rc->cumulative_gas = block_gas_used + gas_used;
    return 0;
undo:
    state_revert(st, mark);
    memset(rc, 0, sizeof *rc);
    if (r == TALLY_ERANGE) return fail(why, whylen, r, "a balance would exceed 2^256");
    return fail(why, whylen, r, "state error: %s", tally_strerror(r));
}
