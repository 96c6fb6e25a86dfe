/* PBFT consensus core as a pure state machine (see docs/consensus.md).
 *
 * The core knows no clock, socket, storage, thread or randomness. The host
 * feeds it events (each carrying the current time in ms) through pbft_step
 * and performs the updates it gets back, in order. Signing and verifying go
 * through an injected table. The same core runs in node/ and in the
 * deterministic simulator (tests/sim/).
 *
 * Proposals are opaque bytes to the core: it only sees (height, 32-byte block
 * hash, 32-byte state root, bytes). The host checks that the bytes decode to
 * a block with that hash, height, parent and state root when it executes
 * them (PBFT_UP_EXECUTE). */
#ifndef TALLY_CONSENSUS_PBFT_H
#define TALLY_CONSENSUS_PBFT_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define PBFT_SIG_LEN        64  /* Ed25519 */
#define PBFT_MAX_VALIDATORS 128 /* bounds message and certificate sizes */
/* Largest message besides the proposal it may carry (n^2 signatures of a
 * NEW-VIEW and framing). */
#define PBFT_MSG_OVERHEAD_MAX (2u * 1024 * 1024)

/* The validator set of the chain, in genesis order; index = position. A
 * validator's ID is its 32-byte public key. */
struct pbft_validators {
    uint32_t n;               /* 1..PBFT_MAX_VALIDATORS */
    const uint8_t (*ids)[32]; /* n IDs (copied by pbft_new) */
};

/* Injected crypto. sign: signature of digest with this node's key, 0 or a
 * negative TALLY_E* code. verify: 0 if sig is id's signature of digest, else
 * TALLY_ESIG. Both must be deterministic for a given input (Ed25519 is). */
struct pbft_crypto {
    void *ctx;
    int (*sign)(void *ctx, uint8_t sig[PBFT_SIG_LEN], const uint8_t digest[32]);
    int (*verify)(void *ctx, const uint8_t id[32], const uint8_t sig[PBFT_SIG_LEN],
                  const uint8_t digest[32]);
};

struct pbft_config {
    struct pbft_validators vs;
    uint32_t self; /* this node's index in vs */
    struct pbft_crypto crypto;
    uint64_t timeout_base_ms; /* view timeout of view 0 (e.g. 1000) */
    uint64_t timeout_max_ms;  /* cap of the doubling back-off (e.g. 30000) */
    size_t max_proposal;      /* largest proposal accepted (e.g. BLOCK_MAX_SIZE) */
    uint64_t resend_ms;       /* retransmit this view's own messages every resend_ms while
                                 undecided (0: timeout_base_ms) */
};

/* f = (n-1)/3 faults tolerated; quorum = n - f (2f+1 when n = 3f+1). */
uint32_t pbft_faults(uint32_t n);
uint32_t pbft_quorum(uint32_t n);
/* Leader of (height, view): (height + view) mod n. */
uint32_t pbft_leader(uint32_t n, uint64_t height, uint64_t view);

/* ---- events ---- */

enum pbft_event_type {
    /* First event. height: the next height to decide (committed head + 1).
     * state/state_len: the bytes of the last PBFT_UP_PERSIST (NULL/0 if
     * none); ignored if they belong to an older height. head_hash and
     * head_cert: the committed head block's hash and certificate (cert NULL
     * for genesis), used to help replicas that are behind. */
    PBFT_EV_START = 1,
    /* A message from the network. from: the peer's index as the transport
     * authenticated it (informational: the signature inside decides). */
    PBFT_EV_RECEIVE,
    /* The timer armed by the last PBFT_UP_TIMER fired. Stale ones are
     * ignored. */
    PBFT_EV_TIMEOUT,
    /* The host's pool has (pending=1) or no longer has (pending=0)
     * transactions for a block. Report every change, including after a
     * commit. Drives idle behaviour: see docs/consensus.md. */
    PBFT_EV_TXS,
    /* Answer to PBFT_UP_BUILD: the executed block this node proposes. */
    PBFT_EV_PROPOSAL_READY,
    /* Answer to PBFT_UP_EXECUTE: ok=1 and the state root after executing the
     * proposal, or ok=0 (does not decode, wrong parent/height/hash, a bad
     * transaction...). */
    PBFT_EV_EXECUTED,
    /* The host committed blocks up to and including height through block
     * sync (each checked with pbft_cert_verify); hash/cert: that block's
     * (cert may be NULL). */
    PBFT_EV_SYNCED,
};

struct pbft_event {
    enum pbft_event_type type;
    uint64_t now_ms; /* the host's monotonic clock */
    union {
        struct {
            uint64_t height;
            const uint8_t *state;
            size_t state_len;
            uint8_t head_hash[32];
            const uint8_t *head_cert;
            size_t head_cert_len;
        } start;
        struct {
            uint32_t from;
            const uint8_t *msg;
            size_t len;
        } receive;
        struct {
            int pending;
        } txs;
        struct {
            uint64_t height;
            uint8_t hash[32];
            uint8_t root[32];
            const uint8_t *proposal;
            size_t len;
        } proposal; /* PBFT_EV_PROPOSAL_READY */
        struct {
            uint64_t height;
            uint8_t hash[32];
            int ok;
            uint8_t root[32];
        } executed;
        struct {
            uint64_t height;
            uint8_t hash[32];
            const uint8_t *cert;
            size_t cert_len;
        } synced;
    } u;
};

/* ---- updates ---- */

enum pbft_update_type {
    /* Store data (the consensus state) durably, replacing the previous one,
     * before performing any later update of the list. */
    PBFT_UP_PERSIST = 1,
    /* Send data (a message) to validator `to`. */
    PBFT_UP_SEND,
    /* Send data to every validator except this one. */
    PBFT_UP_BROADCAST,
    /* This node leads (height, view) and the host reported transactions:
     * build and execute a block at height (header view = view) and answer
     * PBFT_EV_PROPOSAL_READY. If the pool has emptied, answer nothing. */
    PBFT_UP_BUILD,
    /* Re-execute proposal data (claimed hash, height, root) on top of the
     * committed head and answer PBFT_EV_EXECUTED. Keep the result: a
     * PBFT_UP_COMMIT of the same hash may follow. */
    PBFT_UP_EXECUTE,
    /* Commit the block data (hash, height, root) with the commit certificate
     * cert/cert_len (store it in block->cert). Durable before the host
     * performs the next update. */
    PBFT_UP_COMMIT,
    /* Arm the single timer to fire at at_ms (0: cancel it). */
    PBFT_UP_TIMER,
    /* Peers have certified blocks up to at least `height`: fetch them with
     * block sync, then report PBFT_EV_SYNCED. */
    PBFT_UP_SYNC,
};

struct pbft_update_item {
    enum pbft_update_type type;
    uint32_t to;      /* SEND */
    uint64_t height;  /* BUILD, EXECUTE, COMMIT, SYNC */
    uint64_t view;    /* BUILD; COMMIT: the certificate's view */
    uint64_t at_ms;   /* TIMER */
    uint8_t hash[32]; /* EXECUTE, COMMIT */
    uint8_t root[32]; /* EXECUTE, COMMIT */
    uint8_t *data;    /* PERSIST, SEND, BROADCAST, EXECUTE, COMMIT (owned by the list) */
    size_t len;
    uint8_t *cert; /* COMMIT (owned by the list) */
    size_t cert_len;
};

/* The ordered list of updates one pbft_step produced. Items and their
 * buffers stay valid until the next pbft_step with this list or
 * pbft_update_free. */
struct pbft_update {
    struct pbft_update_item *items;
    size_t n;
    size_t cap;
};

void pbft_update_init(struct pbft_update *up);
void pbft_update_free(struct pbft_update *up);

/* ---- the core ---- */

struct pbft;

/* Create a core (it waits for PBFT_EV_START). The config is copied.
 * Errors: TALLY_EINVAL (n out of range, self >= n, missing crypto, zero
 * timeouts), TALLY_ENOMEM. Free with pbft_free. */
TALLY_WUR int pbft_new(struct pbft **out, const struct pbft_config *cfg);
void pbft_free(struct pbft *p);

/* Feed one event; up is emptied and then receives the updates to perform in
 * order (see docs/consensus.md, "Driving the core").
 * Errors (the event is refused; state unchanged, up may hold updates
 * produced before the failure only for TALLY_ENOMEM):
 *   TALLY_EDECODE/ETRUNC/ENONCANON/ETRAILING/ETOOBIG/ERANGE - a malformed
 *     message or persisted state; TALLY_ESIG - a bad signature or
 *     certificate; TALLY_EINVAL - an event that makes no sense (bad type,
 *     before START, PROPOSAL_READY of wrong size); TALLY_ENOMEM (the core
 *     may be inconsistent: restart it from the persisted state).
 * Stale or irrelevant but well-formed input (old heights and views,
 * duplicates) is not an error. pbft_errmsg has the detail. */
TALLY_WUR int pbft_step(struct pbft *p, const struct pbft_event *ev, struct pbft_update *up);

/* The last failure's detail; static storage of the core. */
const char *pbft_errmsg(const struct pbft *p);
/* Next height to decide, and the current view at it. */
uint64_t pbft_height(const struct pbft *p);
/* Height a persisted state (PBFT_UP_PERSIST data) belongs to. Once the block
 * at that height is durable the state is obsolete (a restart starts above it
 * and ignores it). Errors: TALLY_EDECODE. */
TALLY_WUR int pbft_state_height(const uint8_t *state, size_t len, uint64_t *height);
uint64_t pbft_view(const struct pbft *p);
/* 1 while this node has sent a VIEW-CHANGE for pbft_view and not yet seen
 * its NEW-VIEW. */
int pbft_in_view_change(const struct pbft *p);

/* Check a commit certificate (the bytes PBFT_UP_COMMIT hands out and blocks
 * carry in block->cert) for block_hash at height: rlp([view, [[index, sig],
 * ...]]), indexes strictly increasing and < n, at least pbft_quorum(n)
 * entries, each a valid signature of the commit digest. Only c->verify and
 * c->ctx are used. Errors: TALLY_EDECODE & co (malformed), TALLY_ESIG (a bad
 * signature, too few signers). */
TALLY_WUR int pbft_cert_verify(const struct pbft_validators *vs, const struct pbft_crypto *c,
                               const uint8_t block_hash[32], uint64_t height, const uint8_t *cert,
                               size_t len);

/* The view and the signers' validator indexes (strictly increasing, at most
 * max) of a commit certificate, without checking the signatures (for
 * display; pbft_cert_verify is the check). Errors: TALLY_EDECODE & co
 * (malformed), TALLY_ETOOBIG (more than max signers). */
TALLY_WUR int pbft_cert_signers(const uint8_t *cert, size_t len, uint64_t *view, uint32_t *idx,
                                size_t max, size_t *n);

#endif
