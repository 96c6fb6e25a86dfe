/* PBFT wire messages and signed digests. Private to consensus/ (the unit
 * tests and the simulator's Byzantine replicas use it too).
 *
 * Every message is rlp([type, sender, height, view, ..., sig]):
 *   PRE-PREPARE  [1, s, h, v, hash, root, proposal, sig]
 *   PREPARE      [2, s, h, v, hash, root, sig]
 *   COMMIT       [3, s, h, v, hash, sig]
 *   VIEW-CHANGE  [4, s, h, v, prepared, sig]   prepared = [] or
 *                [pv, hash, root, [[idx, sig]...], proposal-or-empty]
 *   NEW-VIEW     [5, s, h, v, [view-change...], pre-prepare-or-empty, sig]
 *   COMMITTED    [6, s, h, v, hash, cert, sig] cert as in pbft_cert_verify
 * Decoding is strict (canonical RLP, exact field counts, fixed-size hashes
 * and signatures, indexes < PBFT_MAX_VALIDATORS, sizes bounded); decoded
 * pointers point into the input buffer. */
#ifndef TALLY_CONSENSUS_PBFT_MSG_H
#define TALLY_CONSENSUS_PBFT_MSG_H
#include <stddef.h>
#include <stdint.h>
#include "codec/rlp.h"
#include "consensus/pbft.h"
#include "util/buf.h"

enum pbft__msg_type {
    PBFT_MSG_PREPREPARE = 1,
    PBFT_MSG_PREPARE = 2,
    PBFT_MSG_COMMIT = 3,
    PBFT_MSG_VIEWCHANGE = 4,
    PBFT_MSG_NEWVIEW = 5,
    PBFT_MSG_COMMITTED = 6,
};

struct pbft__sigent {
    uint32_t idx;
    uint8_t sig[PBFT_SIG_LEN];
};

struct pbft__msg {
    uint32_t type;
    uint32_t sender;
    uint64_t height;
    uint64_t view;
    uint8_t hash[32];        /* PP, PREPARE, COMMIT, COMMITTED */
    uint8_t root[32];        /* PP, PREPARE */
    const uint8_t *proposal; /* PP; VC (prepared proposal, may be empty) */
    size_t proposal_len;
    /* VIEW-CHANGE: prepared certificate */
    int has_prepared;
    uint64_t pview;
    uint8_t phash[32];
    uint8_t proot[32];
    struct rlp_item psigs; /* list of [idx, sig] (decoded by pbft__sigs_decode) */
    /* NEW-VIEW */
    struct rlp_item vcs; /* list of VIEW-CHANGE messages */
    const uint8_t *pp;   /* embedded PRE-PREPARE message, or NULL */
    size_t pp_len;
    /* COMMITTED */
    const uint8_t *cert;
    size_t cert_len;
    uint8_t sig[PBFT_SIG_LEN];
};

/* Digest a message signs (depends on type and the signed fields only; for
 * NEW-VIEW it covers the VIEW-CHANGE list and the PRE-PREPARE bytes). */
void pbft__msg_digest(uint8_t out[32], const struct pbft__msg *m);
/* Digests used inside certificates. */
void pbft__prepare_digest(uint8_t out[32], uint64_t h, uint64_t v, const uint8_t hash[32],
                          const uint8_t root[32]);
void pbft__commit_digest(uint8_t out[32], uint64_t h, uint64_t v, const uint8_t hash[32]);

/* Encode m (sig included as given) into out (appended). For VIEW-CHANGE
 * the certificate comes from sigs/nsigs (psigs is ignored); for NEW-VIEW
 * vcs.p/len must be the concatenated encodings of the VIEW-CHANGE messages.
 * Errors: TALLY_ENOMEM, TALLY_ETOOBIG, TALLY_EINVAL. */
TALLY_WUR int pbft__msg_encode(struct buf *out, const struct pbft__msg *m,
                               const struct pbft__sigent *sigs, size_t nsigs);

/* Decode one message of at most max_proposal + PBFT_MSG_OVERHEAD_MAX bytes.
 * Errors: TALLY_ETOOBIG, TALLY_EDECODE, RLP errors. */
TALLY_WUR int pbft__msg_decode(struct pbft__msg *m, const uint8_t *p, size_t len,
                               size_t max_proposal);

/* Decode a list of [idx, sig] entries (at most max). Errors: TALLY_EDECODE,
 * TALLY_ETOOBIG, RLP errors. */
TALLY_WUR int pbft__sigs_decode(struct pbft__sigent *out, size_t max, size_t *count,
                                const struct rlp_item *list);
/* Encode a list of [idx, sig] entries into an encoder. */
void pbft__sigs_put(struct rlp_enc *e, const struct pbft__sigent *s, size_t n);

/* Certificate bytes: rlp([view, [[idx, sig]...]]). Errors as above. */
TALLY_WUR int pbft__cert_encode(struct buf *out, uint64_t view, const struct pbft__sigent *s,
                                size_t n);

#endif
