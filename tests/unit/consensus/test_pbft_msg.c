/* PBFT messages (strict encode/decode), commit certificates, and the core's
 * update ordering on a single node. The cluster behaviour is tested by the
 * simulator (tests/sim/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "consensus/pbft.h"
#include "consensus/pbft_msg.h"
#include "crypto/keccak.h"

#define N       4
#define MAXPROP 1000

static uint8_t secret[N][32], ids[N][32];

static void fake_sig(uint8_t sig[64], const uint8_t s[32], const uint8_t d[32])
{
    uint8_t b[64];
    memcpy(b, s, 32);
    memcpy(b + 32, d, 32);
    keccak256(sig, b, 64);
    keccak256(sig + 32, sig, 32);
}

static int t_sign(void *ctx, uint8_t sig[64], const uint8_t d[32])
{
    fake_sig(sig, secret[*(int *)ctx], d);
    return 0;
}

static int t_verify(void *ctx, const uint8_t id[32], const uint8_t sig[64], const uint8_t d[32])
{
    (void)ctx;
    for (int i = 0; i < N; i++)
        if (!memcmp(ids[i], id, 32)) {
            uint8_t w[64];
            fake_sig(w, secret[i], d);
            return memcmp(w, sig, 64) ? TALLY_ESIG : 0;
        }
    return TALLY_ESIG;
}

static int setup(void **st)
{
    (void)st;
    for (int i = 0; i < N; i++) {
        memset(secret[i], 0x40 + i, 32);
        keccak256(ids[i], secret[i], 32);
    }
    return 0;
}

static void sign_as(struct pbft__msg *m, int who)
{
    uint8_t d[32];
    pbft__msg_digest(d, m);
    fake_sig(m->sig, secret[who], d);
}

static size_t encode(uint8_t *out, size_t cap, const struct pbft__msg *m,
                     const struct pbft__sigent *s, size_t ns)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(pbft__msg_encode(&b, m, s, ns), 0);
    assert_true(b.len <= cap);
    memcpy(out, b.p, b.len);
    size_t n = b.len;
    buf_free(&b);
    return n;
}

/* Every strict prefix and one trailing byte must be refused. */
static void assert_strict(const uint8_t *p, size_t len)
{
    struct pbft__msg m;
    uint8_t *t = malloc(len + 1);
    assert_non_null(t);
    memcpy(t, p, len);
    for (size_t k = 0; k < len; k++) assert_int_not_equal(pbft__msg_decode(&m, t, k, MAXPROP), 0);
    t[len] = 0;
    assert_int_equal(pbft__msg_decode(&m, t, len + 1, MAXPROP), TALLY_ETRAILING);
    assert_int_equal(pbft__msg_decode(&m, t, len, MAXPROP), 0);
    free(t);
}

static void test_roundtrip(void **st)
{
    (void)st;
    uint8_t buf[8192], prop[100];
    struct pbft__msg m, d;
    memset(prop, 0xab, sizeof prop);

    /* PRE-PREPARE */
    memset(&m, 0, sizeof m);
    m.type = PBFT_MSG_PREPREPARE;
    m.sender = 1;
    m.height = 77;
    m.view = 3;
    memset(m.hash, 1, 32);
    memset(m.root, 2, 32);
    m.proposal = prop;
    m.proposal_len = sizeof prop;
    sign_as(&m, 1);
    size_t len = encode(buf, sizeof buf, &m, NULL, 0);
    assert_int_equal(pbft__msg_decode(&d, buf, len, MAXPROP), 0);
    assert_int_equal(d.type, PBFT_MSG_PREPREPARE);
    assert_int_equal(d.sender, 1);
    assert_int_equal(d.height, 77);
    assert_int_equal(d.view, 3);
    assert_memory_equal(d.hash, m.hash, 32);
    assert_memory_equal(d.root, m.root, 32);
    assert_int_equal(d.proposal_len, sizeof prop);
    assert_memory_equal(d.proposal, prop, sizeof prop);
    assert_memory_equal(d.sig, m.sig, 64);
    assert_strict(buf, len);
    /* Oversized proposal and message. */
    assert_int_equal(pbft__msg_decode(&d, buf, len, 99), TALLY_ETOOBIG);
    assert_int_equal(
        pbft__msg_decode(&d, buf, (size_t)MAXPROP + PBFT_MSG_OVERHEAD_MAX + 1, MAXPROP),
        TALLY_ETOOBIG);

    /* PREPARE, COMMIT */
    m.type = PBFT_MSG_PREPARE;
    len = encode(buf, sizeof buf, &m, NULL, 0);
    assert_int_equal(pbft__msg_decode(&d, buf, len, MAXPROP), 0);
    assert_int_equal(d.type, PBFT_MSG_PREPARE);
    assert_memory_equal(d.root, m.root, 32);
    assert_strict(buf, len);
    m.type = PBFT_MSG_COMMIT;
    len = encode(buf, sizeof buf, &m, NULL, 0);
    assert_int_equal(pbft__msg_decode(&d, buf, len, MAXPROP), 0);
    assert_int_equal(d.type, PBFT_MSG_COMMIT);
    assert_strict(buf, len);

    /* VIEW-CHANGE with a prepared certificate */
    struct pbft__sigent s[3];
    for (int i = 0; i < 3; i++) {
        s[i].idx = (uint32_t)i;
        memset(s[i].sig, 0x10 + i, 64);
    }
    memset(&m, 0, sizeof m);
    m.type = PBFT_MSG_VIEWCHANGE;
    m.sender = 2;
    m.height = 9;
    m.view = 5;
    m.has_prepared = 1;
    m.pview = 4;
    memset(m.phash, 3, 32);
    memset(m.proot, 4, 32);
    m.proposal = prop;
    m.proposal_len = 10;
    sign_as(&m, 2);
    len = encode(buf, sizeof buf, &m, s, 3);
    assert_int_equal(pbft__msg_decode(&d, buf, len, MAXPROP), 0);
    assert_true(d.has_prepared);
    assert_int_equal(d.pview, 4);
    assert_int_equal(d.proposal_len, 10);
    struct pbft__sigent ds[PBFT_MAX_VALIDATORS];
    size_t nds;
    assert_int_equal(pbft__sigs_decode(ds, PBFT_MAX_VALIDATORS, &nds, &d.psigs), 0);
    assert_int_equal(nds, 3);
    assert_memory_equal(ds[2].sig, s[2].sig, 64);
    assert_strict(buf, len);
    /* A prepared view not below the new view is refused. */
    m.pview = 5;
    len = encode(buf, sizeof buf, &m, s, 3);
    assert_int_equal(pbft__msg_decode(&d, buf, len, MAXPROP), TALLY_EDECODE);

    /* NEW-VIEW embedding two VIEW-CHANGEs and a PRE-PREPARE */
    uint8_t vcs[2048], pp[512];
    memset(&m, 0, sizeof m);
    m.type = PBFT_MSG_VIEWCHANGE;
    m.height = 9;
    m.view = 5;
    size_t l1 = encode(vcs, sizeof vcs, &m, NULL, 0);
    m.sender = 3;
    size_t l2 = encode(vcs + l1, sizeof vcs - l1, &m, NULL, 0);
    memset(&m, 0, sizeof m);
    m.type = PBFT_MSG_PREPREPARE;
    m.height = 9;
    m.view = 5;
    m.proposal = prop;
    m.proposal_len = 5;
    size_t lpp = encode(pp, sizeof pp, &m, NULL, 0);
    memset(&m, 0, sizeof m);
    m.type = PBFT_MSG_NEWVIEW;
    m.sender = 2;
    m.height = 9;
    m.view = 5;
    m.vcs.p = vcs;
    m.vcs.len = l1 + l2;
    m.pp = pp;
    m.pp_len = lpp;
    len = encode(buf, sizeof buf, &m, NULL, 0);
    assert_int_equal(pbft__msg_decode(&d, buf, len, MAXPROP), 0);
    assert_int_equal(d.vcs.len, l1 + l2);
    assert_int_equal(d.pp_len, lpp);
    assert_memory_equal(d.pp, pp, lpp);
    assert_strict(buf, len);
}

static void test_malformed(void **st)
{
    (void)st;
    struct pbft__msg d;
    uint8_t sig[66] = {0xb8, 64};
    /* Hand-built: [2, 0, 1, 0, hash, root, sig] with variations. */
    struct buf b;
    struct rlp_enc e;
    uint8_t h32[32] = {0};
    for (int variant = 0; variant < 7; variant++) {
        buf_init(&b, 4096);
        rlp_enc_init(&e, &b);
        rlp_list_begin(&e);
        rlp_put_u64(&e, variant == 0 ? 7 : 2);   /* 0: unknown type */
        rlp_put_u64(&e, variant == 1 ? 200 : 0); /* 1: sender out of range */
        if (variant == 2) {
            uint8_t nc[2] = {0, 1}; /* 2: non-canonical integer */
            rlp_put_bytes(&e, nc, 2);
        } else {
            rlp_put_u64(&e, 1);
        }
        rlp_put_u64(&e, 0);
        rlp_put_bytes(&e, h32, variant == 3 ? 31 : 32);     /* 3: short hash */
        if (variant != 4) rlp_put_bytes(&e, h32, 32);       /* 4: missing field */
        rlp_put_bytes(&e, sig + 2, variant == 5 ? 63 : 64); /* 5: short signature */
        if (variant == 6) rlp_put_u64(&e, 1);               /* 6: extra field */
        rlp_list_end(&e);
        assert_int_equal(rlp_enc_finish(&e), 0);
        assert_int_not_equal(pbft__msg_decode(&d, b.p, b.len, MAXPROP), 0);
        buf_free(&b);
    }
    /* Not a list, empty input. */
    uint8_t junk[3] = {0x82, 1, 2};
    assert_int_not_equal(pbft__msg_decode(&d, junk, 3, MAXPROP), 0);
    assert_int_not_equal(pbft__msg_decode(&d, junk, 0, MAXPROP), 0);
}

static void make_cert(struct buf *out, uint64_t h, uint64_t v, const uint8_t hash[32],
                      const int *who, size_t n)
{
    struct pbft__sigent s[N];
    uint8_t d[32];
    pbft__commit_digest(d, h, v, hash);
    for (size_t i = 0; i < n; i++) {
        s[i].idx = (uint32_t)who[i];
        fake_sig(s[i].sig, secret[who[i]], d);
    }
    buf_init(out, 1 << 16);
    assert_int_equal(pbft__cert_encode(out, v, s, n), 0);
}

static void test_cert(void **st)
{
    (void)st;
    struct pbft_validators vs = {N, (const uint8_t(*)[32])ids};
    int ctx = 0;
    struct pbft_crypto c = {&ctx, t_sign, t_verify};
    uint8_t hash[32];
    memset(hash, 7, 32);
    struct buf b;
    int good[3] = {0, 2, 3}, all[4] = {0, 1, 2, 3}, few[2] = {0, 1}, dup[3] = {0, 0, 1},
        unsorted[3] = {2, 0, 1};
    make_cert(&b, 5, 2, hash, good, 3);
    assert_int_equal(pbft_cert_verify(&vs, &c, hash, 5, b.p, b.len), 0);
    uint32_t signers[N];
    uint64_t view;
    size_t ns;
    assert_int_equal(pbft_cert_signers(b.p, b.len, &view, signers, N, &ns), 0);
    assert_int_equal(view, 2);
    assert_int_equal(ns, 3);
    assert_int_equal(signers[0], 0);
    assert_int_equal(signers[1], 2);
    assert_int_equal(signers[2], 3);
    assert_int_equal(pbft_cert_signers(b.p, b.len, &view, signers, 2, &ns), TALLY_ETOOBIG);
    for (size_t k = 0; k < b.len; k++)
        assert_int_not_equal(pbft_cert_signers(b.p, k, &view, signers, N, &ns), 0);
    assert_int_equal(pbft_cert_verify(&vs, &c, hash, 6, b.p, b.len), TALLY_ESIG); /* height */
    uint8_t other[32];
    memset(other, 8, 32);
    assert_int_equal(pbft_cert_verify(&vs, &c, other, 5, b.p, b.len), TALLY_ESIG);
    b.p[b.len - 1] ^= 1; /* a signature byte */
    assert_int_equal(pbft_cert_verify(&vs, &c, hash, 5, b.p, b.len), TALLY_ESIG);
    b.p[b.len - 1] ^= 1;
    for (size_t k = 0; k < b.len; k++)
        assert_int_not_equal(pbft_cert_verify(&vs, &c, hash, 5, b.p, k), 0);
    buf_free(&b);
    make_cert(&b, 5, 2, hash, all, 4);
    assert_int_equal(pbft_cert_verify(&vs, &c, hash, 5, b.p, b.len), 0);
    buf_free(&b);
    make_cert(&b, 5, 2, hash, few, 2);
    assert_int_equal(pbft_cert_verify(&vs, &c, hash, 5, b.p, b.len), TALLY_ESIG);
    buf_free(&b);
    make_cert(&b, 5, 2, hash, dup, 3);
    assert_int_equal(pbft_cert_verify(&vs, &c, hash, 5, b.p, b.len), TALLY_EDECODE);
    buf_free(&b);
    make_cert(&b, 5, 2, hash, unsorted, 3);
    assert_int_equal(pbft_cert_verify(&vs, &c, hash, 5, b.p, b.len), TALLY_EDECODE);
    assert_int_equal(pbft_cert_signers(b.p, b.len, &view, signers, N, &ns), TALLY_EDECODE);
    buf_free(&b);
    assert_int_equal(pbft_quorum(4), 3);
    assert_int_equal(pbft_quorum(5), 4);
    assert_int_equal(pbft_quorum(7), 5);
    assert_int_equal(pbft_quorum(1), 1);
    assert_int_equal(pbft_leader(4, 5, 2), 3);
}

static size_t find(const struct pbft_update *up, enum pbft_update_type t)
{
    for (size_t i = 0; i < up->n; i++)
        if (up->items[i].type == t) return i;
    return SIZE_MAX;
}

/* One validator: build, persist before commit, certificate, idle. */
static void test_single_node(void **st)
{
    (void)st;
    int self = 0;
    struct pbft_config cfg = {
        {1, (const uint8_t(*)[32])ids}, 0, {&self, t_sign, t_verify}, 100, 1600, MAXPROP, 0};
    struct pbft *p;
    struct pbft_update up;
    pbft_update_init(&up);
    assert_int_equal(pbft_new(&p, &cfg), 0);
    struct pbft_event ev = {.type = PBFT_EV_TXS, .now_ms = 1};
    assert_int_equal(pbft_step(p, &ev, &up), TALLY_EINVAL); /* before START */
    ev.type = PBFT_EV_START;
    ev.u.start.height = 1;
    assert_int_equal(pbft_step(p, &ev, &up), 0);
    assert_int_equal(up.n, 0); /* idle: no timer, nothing to do */
    memset(&ev, 0, sizeof ev);
    ev.type = PBFT_EV_TXS;
    ev.now_ms = 10;
    ev.u.txs.pending = 1;
    assert_int_equal(pbft_step(p, &ev, &up), 0);
    size_t bi = find(&up, PBFT_UP_BUILD);
    assert_true(bi != SIZE_MAX);
    assert_int_equal(up.items[bi].height, 1);
    assert_true(find(&up, PBFT_UP_TIMER) != SIZE_MAX);

    uint8_t prop[40];
    memset(prop, 0x33, sizeof prop);
    memset(&ev, 0, sizeof ev);
    ev.type = PBFT_EV_PROPOSAL_READY;
    ev.now_ms = 12;
    ev.u.proposal.height = 1;
    memset(ev.u.proposal.hash, 0x44, 32);
    memset(ev.u.proposal.root, 0x55, 32);
    ev.u.proposal.proposal = prop;
    ev.u.proposal.len = sizeof prop;
    assert_int_equal(pbft_step(p, &ev, &up), 0);
    size_t pi = find(&up, PBFT_UP_PERSIST), ci = find(&up, PBFT_UP_COMMIT);
    assert_true(pi != SIZE_MAX && ci != SIZE_MAX && pi < ci);
    struct pbft_update_item *c = &up.items[ci];
    assert_int_equal(c->height, 1);
    assert_int_equal(c->len, sizeof prop);
    struct pbft_validators vs = {1, (const uint8_t(*)[32])ids};
    struct pbft_crypto cr = {&self, t_sign, t_verify};
    assert_int_equal(pbft_cert_verify(&vs, &cr, ev.u.proposal.hash, 1, c->cert, c->cert_len), 0);
    assert_int_equal(pbft_height(p), 2);

    /* Pool empty: the timer is cancelled, the chain idles. */
    memset(&ev, 0, sizeof ev);
    ev.type = PBFT_EV_TXS;
    ev.now_ms = 13;
    assert_int_equal(pbft_step(p, &ev, &up), 0);
    size_t ti = find(&up, PBFT_UP_TIMER);
    assert_true(ti != SIZE_MAX);
    assert_int_equal(up.items[ti].at_ms, 0);

    /* A forged message is refused and changes nothing. */
    struct pbft__msg m;
    memset(&m, 0, sizeof m);
    m.type = PBFT_MSG_COMMIT;
    m.sender = 0;
    m.height = 2;
    memset(m.sig, 9, 64);
    uint8_t buf[512];
    size_t len = encode(buf, sizeof buf, &m, NULL, 0);
    memset(&ev, 0, sizeof ev);
    ev.type = PBFT_EV_RECEIVE;
    ev.u.receive.msg = buf;
    ev.u.receive.len = len;
    /* Sender 0 is self (ignored); make it a 1-of-1 chain's unknown sender. */
    m.sender = 3;
    len = encode(buf, sizeof buf, &m, NULL, 0);
    ev.u.receive.len = len;
    assert_int_not_equal(pbft_step(p, &ev, &up), 0);
    assert_int_equal(up.n, 0);
    pbft_update_free(&up);
    pbft_free(p);
}

/* Persisted state survives a restart: the view and the vote come back. */
static void test_restart(void **st)
{
    (void)st;
    int self = 1;
    struct pbft_config cfg = {
        {N, (const uint8_t(*)[32])ids}, 1, {&self, t_sign, t_verify}, 100, 1600, MAXPROP, 0};
    struct pbft *p;
    struct pbft_update up;
    pbft_update_init(&up);
    assert_int_equal(pbft_new(&p, &cfg), 0);
    struct pbft_event ev = {.type = PBFT_EV_START, .now_ms = 0};
    ev.u.start.height = 4;
    assert_int_equal(pbft_step(p, &ev, &up), 0);
    memset(&ev, 0, sizeof ev);
    ev.type = PBFT_EV_TXS;
    ev.u.txs.pending = 1;
    assert_int_equal(pbft_step(p, &ev, &up), 0);
    size_t ti = find(&up, PBFT_UP_TIMER);
    assert_true(ti != SIZE_MAX);
    memset(&ev, 0, sizeof ev);
    ev.type = PBFT_EV_TIMEOUT;
    ev.now_ms = up.items[ti].at_ms;
    assert_int_equal(pbft_step(p, &ev, &up), 0);
    /* Retransmission ticks first (resend = base timeout); run until view 1. */
    for (int k = 0; k < 10 && pbft_view(p) == 0; k++) {
        ti = find(&up, PBFT_UP_TIMER);
        if (ti != SIZE_MAX) ev.now_ms = up.items[ti].at_ms;
        assert_int_equal(pbft_step(p, &ev, &up), 0);
    }
    assert_int_equal(pbft_view(p), 1);
    assert_true(pbft_in_view_change(p));
    size_t pi = find(&up, PBFT_UP_PERSIST), bi = find(&up, PBFT_UP_BROADCAST);
    assert_true(pi != SIZE_MAX && bi != SIZE_MAX && pi < bi);
    uint8_t *state = malloc(up.items[pi].len);
    size_t slen = up.items[pi].len;
    memcpy(state, up.items[pi].data, slen);
    pbft_free(p);
    assert_int_equal(pbft_new(&p, &cfg), 0);
    memset(&ev, 0, sizeof ev);
    ev.type = PBFT_EV_START;
    ev.u.start.height = 4;
    ev.u.start.state = state;
    ev.u.start.state_len = slen;
    assert_int_equal(pbft_step(p, &ev, &up), 0);
    assert_int_equal(pbft_view(p), 1);
    assert_true(pbft_in_view_change(p));
    pbft_free(p);
    /* Corrupt state is refused, not ignored. */
    assert_int_equal(pbft_new(&p, &cfg), 0);
    state[slen - 1] ^= 0xff;
    ev.u.start.state_len = slen - 1;
    assert_int_not_equal(pbft_step(p, &ev, &up), 0);
    /* A state of an older height is ignored. */
    ev.u.start.state_len = slen;
    state[slen - 1] ^= 0xff;
    ev.u.start.height = 5;
    pbft_free(p);
    assert_int_equal(pbft_new(&p, &cfg), 0);
    assert_int_equal(pbft_step(p, &ev, &up), 0);
    assert_int_equal(pbft_view(p), 0);
    free(state);
    pbft_update_free(&up);
    pbft_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_cert),      cmocka_unit_test(test_single_node),
        cmocka_unit_test(test_restart),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
