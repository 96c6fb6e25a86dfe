#include "consensus/pbft_msg.h"
#include <string.h>
#include "crypto/keccak.h"

/* Domain separation for every signed digest. */
static const uint8_t domain[] = "tally-pbft-v1";

static void digest_of(uint8_t out[32], struct buf *b)
{
    keccak256(out, b->p, b->len);
    buf_free(b);
}

/* The fixed-size inputs below never fail to encode except on ENOMEM, in
 * which case the digest is of whatever was encoded: a wrong digest only
 * makes a signature fail to verify, never a false accept (a forger would
 * need the same allocation failure), and the signer side reports it. */
static void digest_begin(struct rlp_enc *e, struct buf *b, uint32_t type, uint64_t h, uint64_t v)
{
    buf_init(b, 4096);
    rlp_enc_init(e, b);
    rlp_list_begin(e);
    rlp_put_bytes(e, domain, sizeof domain - 1);
    rlp_put_u64(e, type);
    rlp_put_u64(e, h);
    rlp_put_u64(e, v);
}

void pbft__prepare_digest(uint8_t out[32], uint64_t h, uint64_t v, const uint8_t hash[32],
                          const uint8_t root[32])
{
    struct buf b;
    struct rlp_enc e;
    digest_begin(&e, &b, PBFT_MSG_PREPARE, h, v);
    rlp_put_bytes(&e, hash, 32);
    rlp_put_bytes(&e, root, 32);
    rlp_list_end(&e);
    digest_of(out, &b);
}

void pbft__commit_digest(uint8_t out[32], uint64_t h, uint64_t v, const uint8_t hash[32])
{
    struct buf b;
    struct rlp_enc e;
    digest_begin(&e, &b, PBFT_MSG_COMMIT, h, v);
    rlp_put_bytes(&e, hash, 32);
    rlp_list_end(&e);
    digest_of(out, &b);
}

void pbft__msg_digest(uint8_t out[32], const struct pbft__msg *m)
{
    struct buf b;
    struct rlp_enc e;
    uint8_t tmp[32];
    switch (m->type) {
    case PBFT_MSG_PREPARE: pbft__prepare_digest(out, m->height, m->view, m->hash, m->root); return;
    case PBFT_MSG_COMMIT: pbft__commit_digest(out, m->height, m->view, m->hash); return;
    default: break;
    }
    digest_begin(&e, &b, m->type, m->height, m->view);
    switch (m->type) {
    case PBFT_MSG_PREPREPARE:
        rlp_put_bytes(&e, m->hash, 32);
        rlp_put_bytes(&e, m->root, 32);
        break;
    case PBFT_MSG_VIEWCHANGE:
        rlp_list_begin(&e);
        if (m->has_prepared) {
            rlp_put_u64(&e, m->pview);
            rlp_put_bytes(&e, m->phash, 32);
            rlp_put_bytes(&e, m->proot, 32);
        }
        rlp_list_end(&e);
        break;
    case PBFT_MSG_NEWVIEW:
        keccak256(tmp, m->vcs.p, m->vcs.len);
        rlp_put_bytes(&e, tmp, 32);
        if (m->pp) keccak256(tmp, m->pp, m->pp_len);
        rlp_put_bytes(&e, tmp, m->pp ? 32 : 0);
        break;
    case PBFT_MSG_COMMITTED:
        rlp_put_bytes(&e, m->hash, 32);
        keccak256(tmp, m->cert, m->cert_len);
        rlp_put_bytes(&e, tmp, 32);
        break;
    default: break;
    }
    rlp_list_end(&e);
    digest_of(out, &b);
}

void pbft__sigs_put(struct rlp_enc *e, const struct pbft__sigent *s, size_t n)
{
    rlp_list_begin(e);
    for (size_t i = 0; i < n; i++) {
        rlp_list_begin(e);
        rlp_put_u64(e, s[i].idx);
        rlp_put_bytes(e, s[i].sig, PBFT_SIG_LEN);
        rlp_list_end(e);
    }
    rlp_list_end(e);
}

int pbft__cert_encode(struct buf *out, uint64_t view, const struct pbft__sigent *s, size_t n)
{
    struct rlp_enc e;
    rlp_enc_init(&e, out);
    rlp_list_begin(&e);
    rlp_put_u64(&e, view);
    pbft__sigs_put(&e, s, n);
    rlp_list_end(&e);
    return rlp_enc_finish(&e);
}

int pbft__msg_encode(struct buf *out, const struct pbft__msg *m, const struct pbft__sigent *sigs,
                     size_t nsigs)
{
    struct rlp_enc e;
    rlp_enc_init(&e, out);
    rlp_list_begin(&e);
    rlp_put_u64(&e, m->type);
    rlp_put_u64(&e, m->sender);
    rlp_put_u64(&e, m->height);
    rlp_put_u64(&e, m->view);
    switch (m->type) {
    case PBFT_MSG_PREPREPARE:
        rlp_put_bytes(&e, m->hash, 32);
        rlp_put_bytes(&e, m->root, 32);
        rlp_put_bytes(&e, m->proposal, m->proposal_len);
        break;
    case PBFT_MSG_PREPARE:
        rlp_put_bytes(&e, m->hash, 32);
        rlp_put_bytes(&e, m->root, 32);
        break;
    case PBFT_MSG_COMMIT: rlp_put_bytes(&e, m->hash, 32); break;
    case PBFT_MSG_VIEWCHANGE:
        rlp_list_begin(&e);
        if (m->has_prepared) {
            rlp_put_u64(&e, m->pview);
            rlp_put_bytes(&e, m->phash, 32);
            rlp_put_bytes(&e, m->proot, 32);
            pbft__sigs_put(&e, sigs, nsigs);
            rlp_put_bytes(&e, m->proposal, m->proposal_len);
        }
        rlp_list_end(&e);
        break;
    case PBFT_MSG_NEWVIEW:
        rlp_list_begin(&e);
        if (m->vcs.len) {
            if (e.err == 0) {
                int rc = buf_append(out, m->vcs.p, m->vcs.len);
                if (rc) e.err = rc;
            }
        }
        rlp_list_end(&e);
        if (m->pp)
            rlp_put_raw(&e, m->pp, m->pp_len);
        else
            rlp_put_bytes(&e, NULL, 0);
        break;
    case PBFT_MSG_COMMITTED:
        rlp_put_bytes(&e, m->hash, 32);
        rlp_put_raw(&e, m->cert, m->cert_len);
        break;
    default: return TALLY_EINVAL;
    }
    rlp_put_bytes(&e, m->sig, PBFT_SIG_LEN);
    rlp_list_end(&e);
    return rlp_enc_finish(&e);
}

static int get_u32(uint32_t *out, const struct rlp_item *it, uint32_t max)
{
    uint64_t v;
    int rc = rlp_get_u64(&v, it);
    if (rc) return rc;
    if (v >= max) return TALLY_ERANGE;
    *out = (uint32_t)v;
    return 0;
}

int pbft__sigs_decode(struct pbft__sigent *out, size_t max, size_t *count,
                      const struct rlp_item *list)
{
    if (!list->is_list) return TALLY_EDECODE;
    const uint8_t *cur = list->p, *end = list->p + list->len;
    size_t n = 0;
    while (cur < end) {
        struct rlp_item ent, f[2];
        size_t nf;
        int rc = rlp_next(&ent, &cur, end);
        if (rc) return rc;
        if (n == max) return TALLY_ETOOBIG;
        rc = rlp_list(f, 2, &nf, &ent);
        if (rc) return rc;
        if (nf != 2) return TALLY_EDECODE;
        rc = get_u32(&out[n].idx, &f[0], PBFT_MAX_VALIDATORS);
        if (rc) return rc;
        rc = rlp_get_fixed(out[n].sig, PBFT_SIG_LEN, &f[1]);
        if (rc) return rc;
        n++;
    }
    *count = n;
    return 0;
}

/* A certificate: [view, [[idx, sig]...]]; checks the shape only. */
static int cert_shape(const uint8_t *p, size_t len)
{
    struct rlp_item top, f[2];
    size_t nf, ns;
    struct pbft__sigent s[PBFT_MAX_VALIDATORS];
    uint64_t v;
    int rc = rlp_decode_all(&top, p, len, 4);
    if (rc) return rc;
    rc = rlp_list(f, 2, &nf, &top);
    if (rc) return rc;
    if (nf != 2) return TALLY_EDECODE;
    rc = rlp_get_u64(&v, &f[0]);
    if (rc) return rc;
    return pbft__sigs_decode(s, PBFT_MAX_VALIDATORS, &ns, &f[1]);
}

int pbft__msg_decode(struct pbft__msg *m, const uint8_t *p, size_t len, size_t max_proposal)
{
    struct rlp_item top, f[8];
    size_t nf;
    int rc;
    if (len > max_proposal + PBFT_MSG_OVERHEAD_MAX) return TALLY_ETOOBIG;
    memset(m, 0, sizeof *m);
    /* Depth: msg > NV vcs > vc > prepared > sigs > entry. */
    rc = rlp_decode_all(&top, p, len, 7);
    if (rc) return rc;
    if (!top.is_list) return TALLY_EDECODE;
    rc = rlp_list(f, 8, &nf, &top);
    if (rc) return rc == TALLY_ETOOBIG ? TALLY_EDECODE : rc;
    if (nf < 5) return TALLY_EDECODE;
    uint64_t type;
    rc = rlp_get_u64(&type, &f[0]);
    if (rc) return rc;
    static const size_t want[] = {0, 8, 7, 6, 6, 7, 7};
    if (type < 1 || type > 6 || nf != want[type]) return TALLY_EDECODE;
    m->type = (uint32_t)type;
    if ((rc = get_u32(&m->sender, &f[1], PBFT_MAX_VALIDATORS))) return rc;
    if ((rc = rlp_get_u64(&m->height, &f[2]))) return rc;
    if ((rc = rlp_get_u64(&m->view, &f[3]))) return rc;
    if ((rc = rlp_get_fixed(m->sig, PBFT_SIG_LEN, &f[nf - 1]))) return rc;
    switch (m->type) {
    case PBFT_MSG_PREPREPARE:
        if ((rc = rlp_get_fixed(m->hash, 32, &f[4]))) return rc;
        if ((rc = rlp_get_fixed(m->root, 32, &f[5]))) return rc;
        if (f[6].is_list) return TALLY_EDECODE;
        if (f[6].len == 0 || f[6].len > max_proposal) return TALLY_ETOOBIG;
        m->proposal = f[6].p;
        m->proposal_len = f[6].len;
        break;
    case PBFT_MSG_PREPARE:
        if ((rc = rlp_get_fixed(m->hash, 32, &f[4]))) return rc;
        if ((rc = rlp_get_fixed(m->root, 32, &f[5]))) return rc;
        break;
    case PBFT_MSG_COMMIT:
        if ((rc = rlp_get_fixed(m->hash, 32, &f[4]))) return rc;
        break;
    case PBFT_MSG_VIEWCHANGE: {
        struct rlp_item pf[5];
        size_t npf;
        if (!f[4].is_list) return TALLY_EDECODE;
        rc = rlp_list(pf, 5, &npf, &f[4]);
        if (rc) return rc == TALLY_ETOOBIG ? TALLY_EDECODE : rc;
        if (npf == 0) break;
        if (npf != 5) return TALLY_EDECODE;
        m->has_prepared = 1;
        if ((rc = rlp_get_u64(&m->pview, &pf[0]))) return rc;
        if ((rc = rlp_get_fixed(m->phash, 32, &pf[1]))) return rc;
        if ((rc = rlp_get_fixed(m->proot, 32, &pf[2]))) return rc;
        if (!pf[3].is_list) return TALLY_EDECODE;
        struct pbft__sigent s[PBFT_MAX_VALIDATORS];
        size_t ns;
        if ((rc = pbft__sigs_decode(s, PBFT_MAX_VALIDATORS, &ns, &pf[3]))) return rc;
        m->psigs = pf[3];
        if (pf[4].is_list) return TALLY_EDECODE;
        if (pf[4].len > max_proposal) return TALLY_ETOOBIG;
        m->proposal = pf[4].len ? pf[4].p : NULL;
        m->proposal_len = pf[4].len;
        if (m->pview >= m->view) return TALLY_EDECODE;
        break;
    }
    case PBFT_MSG_NEWVIEW: {
        if (!f[4].is_list) return TALLY_EDECODE;
        m->vcs = f[4];
        /* Each element must itself be a VIEW-CHANGE (checked fully by the
         * core when it verifies them); count them here. */
        const uint8_t *cur = f[4].p, *end = f[4].p + f[4].len;
        size_t n = 0;
        while (cur < end) {
            struct rlp_item it;
            if ((rc = rlp_next(&it, &cur, end))) return rc;
            if (!it.is_list) return TALLY_EDECODE;
            if (++n > PBFT_MAX_VALIDATORS) return TALLY_ETOOBIG;
        }
        if (f[5].is_list) {
            /* The embedded PRE-PREPARE: its whole encoding, header included. */
            const uint8_t *start = f[5].p;
            size_t hl = (size_t)(f[5].p - (f[4].p + f[4].len));
            m->pp = start - hl;
            m->pp_len = hl + f[5].len;
        } else if (f[5].len != 0) {
            return TALLY_EDECODE;
        }
        break;
    }
    case PBFT_MSG_COMMITTED:
        if ((rc = rlp_get_fixed(m->hash, 32, &f[4]))) return rc;
        if (!f[5].is_list) return TALLY_EDECODE;
        /* Whole encoding of the certificate item. */
        {
            size_t hl = (size_t)(f[5].p - (f[4].p + f[4].len));
            m->cert = f[5].p - hl;
            m->cert_len = hl + f[5].len;
        }
        if (m->cert_len > 2 + 9 + PBFT_MAX_VALIDATORS * 80) return TALLY_ETOOBIG;
        if ((rc = cert_shape(m->cert, m->cert_len))) return rc;
        break;
    }
    return 0;
}
