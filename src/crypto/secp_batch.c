/* Batch check of recoverable secp256k1 signatures (see secp_batch.h and
 * docs/secp-batch.md). For item i with R_i recovered from (r_i, recid_i) and
 * the claimed key Q_i, recovery yields Q_i iff
 *     R_i - (e_i/s_i) G - (r_i/s_i) Q_i == O.
 * With random 128-bit c_i the batch checks
 *     sum c_i R_i + (sum c_i e_i/s_i)(-G) + sum (c_i r_i/s_i)(-Q_i) == O
 * with one multi-scalar multiplication (Pippenger). */
#include "crypto/secp_batch.h"
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/secp256k1_group.h"

/* n / 2, rounded down: EIP-2's bound on s. */
static const uint64_t secp_batch_half_n[4] = {0xDFE92F46681B20A0ULL, 0x5D576E7357A4501DULL,
                                              0xFFFFFFFFFFFFFFFFULL, 0x7FFFFFFFFFFFFFFFULL};

/* ---- multi-scalar multiplication ---- */

/* w bits of k starting at bit pos (zero above bit 255). */
static unsigned sc_bits(const secp__sc *k, unsigned pos, unsigned w)
{
    if (pos >= 256) return 0;
    unsigned limb = pos / 64, off = pos % 64;
    uint64_t v = k->v[limb] >> off;
    if (off + w > 64 && limb + 1 < 4) v |= k->v[limb + 1] << (64 - off);
    return (unsigned)(v & ((1u << w) - 1));
}

static unsigned sc_bitlen(const secp__sc *k)
{
    for (int i = 3; i >= 0; i--) {
        if (k->v[i]) return (unsigned)(64 * i + 64 - __builtin_clzll(k->v[i]));
    }
    return 0;
}

/* Relative costs (roughly, in field multiplications) of one digit's
 * affine bucket addition, batched inversion included, and of folding one
 * bucket into its window's sum (a mixed and a Jacobian addition, both on a
 * dependency chain). Tuned with bench_secp_batch --sweep. */
#define COST_ENTRY  8
#define COST_BUCKET 32

int secp__msm_window(const secp__sc *k, size_t n)
{
    /* Histogram of scalar lengths, so each candidate costs O(256). */
    size_t len_count[257] = {0};
    for (size_t i = 0; i < n; i++) len_count[sc_bitlen(&k[i])]++;
    int best_w = 2;
    double best = -1;
    for (int w = 2; w <= 15; w++) {
        unsigned nwin = 256 / (unsigned)w + 1;
        double entries = 0;
        unsigned top = 0; /* windows that can hold a digit at all */
        for (unsigned b = 1; b <= 256; b++) {
            unsigned wins = b / (unsigned)w + 1;
            if (wins > nwin) wins = nwin;
            entries += (double)len_count[b] * wins;
            if (len_count[b] && wins > top) top = wins;
        }
        double cost = entries * COST_ENTRY + (double)top * (double)(1u << (w - 1)) * COST_BUCKET;
        if (best < 0 || cost < best) {
            best = cost;
            best_w = w;
        }
    }
    return best_w;
}

/* Affine bucket additions are queued and done BATCH_ADDS at a time with one
 * field inversion (Montgomery's trick): about 6 multiplications each instead
 * of 11 for a Jacobian + affine addition. */
#define BATCH_ADDS 256

struct msm_scratch {
    secp__ge *bucket; /* nwin * nbuckets, window-major */
    uint8_t *full;    /* bucket holds a point (else it is empty) */
    uint32_t *mark;   /* batch id that last queued an addition to the bucket */
    secp__gej *extra; /* per bucket: additions that could not be queued */
    uint8_t *has_extra;
    uint32_t *entry;  /* per nonzero digit: its bucket */
    uint32_t *epoint; /* per nonzero digit: point index << 1 | negative */
    /* The queued batch. */
    uint32_t qb[BATCH_ADDS];
    secp__fe qx[BATCH_ADDS], qnum[BATCH_ADDS], qden[BATCH_ADDS], qpre[BATCH_ADDS];
};

/* Apply the queued additions: bucket = bucket + P with slope num/den.
 * Montgomery's trick over four interleaved product chains (entry j in chain
 * j % 4), so that consecutive multiplications are independent and the core
 * overlaps them instead of waiting on one long dependency chain. */
#define CHAINS 4

static void msm_flush(struct msm_scratch *s, size_t m)
{
    if (m == 0) return;
    for (size_t j = 0; j < m; j++) {
        if (j < CHAINS) {
            s->qpre[j] = s->qden[j];
        } else {
            secp__fe_mul(&s->qpre[j], &s->qpre[j - CHAINS], &s->qden[j]);
        }
    }
    /* The chains' products (1 for an empty chain), inverted together. */
    secp__fe prod[CHAINS], inv[CHAINS], t01, t23, all, i01, i23;
    for (size_t l = 0; l < CHAINS; l++) {
        if (l < m) {
            size_t last = l + (m - 1 - l) / CHAINS * CHAINS;
            prod[l] = s->qpre[last];
        } else {
            secp__fe_set_u64(&prod[l], 1);
        }
    }
    secp__fe_mul(&t01, &prod[0], &prod[1]);
    secp__fe_mul(&t23, &prod[2], &prod[3]);
    secp__fe_mul(&all, &t01, &t23);
    secp__fe_inv(&all, &all);
    secp__fe_mul(&i01, &all, &t23);
    secp__fe_mul(&i23, &all, &t01);
    secp__fe_mul(&inv[0], &i01, &prod[1]);
    secp__fe_mul(&inv[1], &i01, &prod[0]);
    secp__fe_mul(&inv[2], &i23, &prod[3]);
    secp__fe_mul(&inv[3], &i23, &prod[2]);
    for (size_t j = m; j-- > 0;) {
        secp__fe invj, lam, x3, t;
        secp__fe *il = &inv[j % CHAINS];
        if (j >= CHAINS) {
            secp__fe_mul(&invj, il, &s->qpre[j - CHAINS]);
            secp__fe_mul(il, il, &s->qden[j]);
        } else {
            invj = *il;
        }
        secp__ge *b = &s->bucket[s->qb[j]];
        secp__fe_mul(&lam, &s->qnum[j], &invj);
        secp__fe_sqr(&x3, &lam);
        secp__fe_sub(&x3, &x3, &b->x);
        secp__fe_sub(&x3, &x3, &s->qx[j]);
        secp__fe_sub(&t, &b->x, &x3);
        secp__fe_mul(&t, &t, &lam);
        secp__fe_sub(&b->y, &t, &b->y);
        b->x = x3;
    }
}

int secp__msm(secp__gej *r, const secp__ge *p, const secp__sc *k, size_t n, int window)
{
    int w = window ? window : secp__msm_window(k, n);
    if (w < 2 || w > 15) return TALLY_EINVAL;
    if (n == 0) {
        secp__gej_set_inf(r);
        return 0;
    }
    const unsigned nwin = 256 / (unsigned)w + 1; /* the last one takes the carry */
    const size_t nb = (size_t)1 << (w - 1);
    const size_t nbk = nwin * nb;
    const int full = 1 << w, half = 1 << (w - 1);
    if (n >= ((size_t)1 << 31) / nwin) return TALLY_ENOMEM;
    struct msm_scratch *s = malloc(sizeof *s);
    if (!s) return TALLY_ENOMEM;
    s->bucket = malloc(nbk * sizeof *s->bucket);
    s->full = calloc(nbk, 1);
    s->mark = calloc(nbk, sizeof *s->mark);
    s->extra = malloc(nbk * sizeof *s->extra);
    s->has_extra = calloc(nbk, 1);
    s->entry = malloc(n * nwin * sizeof *s->entry);
    s->epoint = malloc(n * nwin * sizeof *s->epoint);
    int rc = TALLY_ENOMEM;
    if (!s->bucket || !s->full || !s->mark || !s->extra || !s->has_extra || !s->entry || !s->epoint)
        goto out;

    /* Signed digits in (-2^(w-1), 2^(w-1)]: k = sum d_j 2^(jw). One entry
     * per nonzero digit, point-major so that consecutive entries go to
     * different windows and rarely collide in a batch. */
    size_t cnt = 0;
    unsigned top = 0; /* highest window with a nonzero digit, plus one */
    for (size_t i = 0; i < n; i++) {
        int carry = 0;
        for (unsigned j = 0; j < nwin; j++) {
            int d = (int)sc_bits(&k[i], j * (unsigned)w, (unsigned)w) + carry;
            carry = d > half;
            if (carry) d -= full;
            if (d == 0) continue;
            int neg = d < 0;
            s->entry[cnt] = (uint32_t)(j * nb + (size_t)(neg ? -d : d) - 1);
            s->epoint[cnt] = (uint32_t)(i << 1 | (size_t)neg);
            cnt++;
            if (j + 1 > top) top = j + 1;
        }
    }

    /* Fill the buckets in one pass. An entry whose bucket already has an
     * addition queued in this batch goes to the bucket's Jacobian extra sum
     * instead: rare, except in the windows that only take carries (digit 1
     * for about half the scalars), where waiting would serialise. */
    uint32_t batch_id = 1;
    size_t m = 0;
    for (size_t e = 0; e < cnt; e++) {
        uint32_t b = s->entry[e], ep = s->epoint[e];
        secp__ge pt = p[ep >> 1];
        if (ep & 1) secp__fe_neg(&pt.y, &pt.y);
        if (s->mark[b] == batch_id) {
            if (!s->has_extra[b]) {
                secp__gej_set_ge(&s->extra[b], &pt);
                s->has_extra[b] = 1;
            } else {
                secp__gej_add_ge(&s->extra[b], &s->extra[b], &pt);
            }
            continue;
        }
        secp__ge *bk = &s->bucket[b];
        if (!s->full[b]) {
            *bk = pt;
            s->full[b] = 1;
            continue;
        }
        secp__fe dx;
        secp__fe_sub(&dx, &pt.x, &bk->x);
        if (secp__fe_is_zero(&dx)) {
            secp__fe dy;
            secp__fe_sub(&dy, &pt.y, &bk->y);
            if (!secp__fe_is_zero(&dy)) {
                s->full[b] = 0; /* P + (-P) */
                continue;
            }
            /* P + P: slope 3x^2 / 2y (y != 0 on this curve). */
            secp__fe x2;
            secp__fe_sqr(&x2, &bk->x);
            secp__fe_add(&s->qnum[m], &x2, &x2);
            secp__fe_add(&s->qnum[m], &s->qnum[m], &x2);
            secp__fe_add(&s->qden[m], &bk->y, &bk->y);
        } else {
            secp__fe_sub(&s->qnum[m], &pt.y, &bk->y);
            s->qden[m] = dx;
        }
        s->qx[m] = pt.x;
        s->qb[m] = b;
        s->mark[b] = batch_id;
        if (++m == BATCH_ADDS) {
            msm_flush(s, m);
            m = 0;
            batch_id++;
        }
    }
    msm_flush(s, m);

    /* Each window's sum_b (b+1) bucket[b] as a running sum from the top
     * bucket down, then Horner over the windows. */
    secp__gej acc;
    secp__gej_set_inf(&acc);
    for (unsigned j = top; j-- > 0;) {
        for (int t = 0; t < w; t++) secp__gej_double(&acc, &acc);
        secp__gej run, sum;
        secp__gej_set_inf(&run);
        secp__gej_set_inf(&sum);
        for (size_t b = nb; b-- > 0;) {
            if (s->full[j * nb + b]) secp__gej_add_ge(&run, &run, &s->bucket[j * nb + b]);
            if (s->has_extra[j * nb + b]) secp__gej_add(&run, &run, &s->extra[j * nb + b]);
            if (!run.inf) secp__gej_add(&sum, &sum, &run);
        }
        secp__gej_add(&acc, &acc, &sum);
    }
    *r = acc;
    rc = 0;
out:
    free(s->bucket);
    free(s->full);
    free(s->mark);
    free(s->extra);
    free(s->has_extra);
    free(s->entry);
    free(s->epoint);
    free(s);
    return rc;
}

/* ---- the batch check ---- */

struct item_scalars {
    secp__sc r, s, e;
};

/* Parse and range-check one item; fill -Q and the x coordinate of R. 0 if
 * the item cannot recover to its pub (the batch is then rejected without any
 * arithmetic on the others). */
static int item_prepare(struct item_scalars *sc, secp__fe *rx, secp__ge *negq,
                        const struct secp_batch_item *it)
{
    if (it->recid < 0 || it->recid > 3) return 0;
    if (secp__sc_set_b32(&sc->r, it->sig) || secp__sc_is_zero(&sc->r)) return 0;
    if (secp__sc_set_b32(&sc->s, it->sig + 32) || secp__sc_is_zero(&sc->s)) return 0;
    if (secp__u256_cmp(sc->s.v, secp_batch_half_n) > 0) return 0;
    (void)secp__sc_set_b32(&sc->e, it->digest); /* e is taken mod n */

    secp__ge q;
    if (!secp__fe_set_b32(&q.x, it->pub) || !secp__fe_set_b32(&q.y, it->pub + 32)) return 0;
    if (!secp__ge_is_valid(&q)) return 0;
    secp__ge_neg(negq, &q);

    memcpy(rx->v, sc->r.v, sizeof rx->v);
    if (it->recid & 2) {
        /* x = r + n, which must still be a field element. */
        if (secp__u256_add(rx->v, rx->v, secp__sc_n.v)) return 0;
        if (secp__u256_cmp(rx->v, secp__fe_p.v) >= 0) return 0;
    }
    return 1;
}

/* Decompress R_i for items [0, n): y^2 = x^3 + 7 with the parity recid & 1,
 * SECP__LANES square roots at a time. 0 if some x^3 + 7 is not a square. */
static int decompress_r(secp__ge *R, const struct secp_batch_item *items, size_t n)
{
    for (size_t i = 0; i < n; i += SECP__LANES) {
        secp__fe rhs[SECP__LANES], y[SECP__LANES], seven;
        int ok[SECP__LANES];
        secp__fe_set_u64(&seven, 7);
        for (size_t l = 0; l < SECP__LANES; l++) {
            /* Past the end: repeat the last item (its answer is the same). */
            const secp__fe *x = &R[i + l < n ? i + l : n - 1].x;
            secp__fe_sqr(&rhs[l], x);
            secp__fe_mul(&rhs[l], &rhs[l], x);
            secp__fe_add(&rhs[l], &rhs[l], &seven);
        }
        secp__fe_sqrt_lanes(y, ok, rhs);
        for (size_t l = 0; l < SECP__LANES && i + l < n; l++) {
            if (!ok[l]) return 0;
            secp__fe_normalize(&y[l]);
            if ((int)(y[l].v[0] & 1) != (items[i + l].recid & 1)) {
                secp__fe_neg(&y[l], &y[l]);
                secp__fe_normalize(&y[l]);
            }
            R[i + l].y = y[l];
        }
    }
    return 1;
}

static int check_chunk(const struct secp_batch_item *items, size_t n)
{
    const size_t np = 2 * n + 1;
    secp__ge *pts = malloc(np * sizeof *pts);
    secp__sc *k = malloc(np * sizeof *k);
    struct item_scalars *sc = malloc(n * sizeof *sc);
    secp__sc *pre = malloc(n * sizeof *pre);
    uint8_t *rnd = malloc(n * 16);
    int rc;
    if (!pts || !k || !sc || !pre || !rnd) {
        rc = TALLY_ENOMEM;
        goto out;
    }
    /* Points: [0] = -G, [1..n] = R_i, [n+1..2n] = -Q_i. */
    secp__ge_neg(&pts[0], &secp__ge_g);
    for (size_t i = 0; i < n; i++) {
        if (!item_prepare(&sc[i], &pts[1 + i].x, &pts[1 + n + i], &items[i])) {
            rc = 0;
            goto out;
        }
    }
    if (!decompress_r(pts + 1, items, n)) {
        rc = 0;
        goto out;
    }

    /* All s_i^-1 with one inversion (Montgomery's trick). */
    pre[0] = sc[0].s;
    for (size_t i = 1; i < n; i++) secp__sc_mul(&pre[i], &pre[i - 1], &sc[i].s);
    secp__sc inv;
    secp__sc_inv(&inv, &pre[n - 1]);
    for (size_t i = n; i-- > 1;) {
        secp__sc t = inv;
        secp__sc_mul(&pre[i], &inv, &pre[i - 1]); /* 1/s_i */
        secp__sc_mul(&inv, &t, &sc[i].s);         /* 1/(s_0..s_{i-1}) */
    }
    pre[0] = inv;

    /* The coefficients are drawn after the items are fixed: a batch chosen
     * to cancel out must guess them. */
    if (RAND_bytes(rnd, (int)(n * 16)) != 1) {
        rc = TALLY_EIO;
        goto out;
    }
    secp__sc gsum = {{0, 0, 0, 0}};
    for (size_t i = 0; i < n; i++) {
        secp__sc c = {{0, 0, 0, 0}}, u, t;
        memcpy(&c.v[0], rnd + 16 * i, 8);
        memcpy(&c.v[1], rnd + 16 * i + 8, 8);
        if (secp__sc_is_zero(&c)) c.v[0] = 1; /* a zero would skip the item */
        k[1 + i] = c;
        secp__sc_mul(&u, &c, &pre[i]); /* c_i / s_i */
        secp__sc_mul(&k[1 + n + i], &u, &sc[i].r);
        secp__sc_mul(&t, &u, &sc[i].e);
        secp__sc_add(&gsum, &gsum, &t);
    }
    k[0] = gsum;

    secp__gej sum;
    rc = secp__msm(&sum, pts, k, np, 0);
    if (rc == 0) rc = secp__gej_is_inf(&sum);
out:
    free(pts);
    free(k);
    free(sc);
    free(pre);
    free(rnd);
    return rc;
}

int secp_batch_check(const struct secp_batch_item *items, size_t n)
{
    while (n > 0) {
        size_t m = n < SECP_BATCH_MAX ? n : SECP_BATCH_MAX;
        int rc = check_chunk(items, m); /* 1 all hold, 0 not, or TALLY_E* (> 1) */
        if (rc == 0) return TALLY_ESIG;
        if (rc != 1) return rc;
        items += m;
        n -= m;
    }
    return 0;
}
