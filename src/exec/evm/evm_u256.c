/* 256-bit helpers for the interpreter (see evm_int.h). */
#include <string.h>
#include "exec/evm/evm_int.h"

typedef unsigned __int128 u128;
typedef __int128 i128;

static int nlimbs(const uint64_t *a, int n)
{
    while (n > 0 && a[n - 1] == 0) n--;
    return n;
}

/* Knuth's algorithm D (after Hacker's Delight divmnu64) with 64-bit digits:
 * u has m limbs, v has n limbs with v[n-1] != 0, m >= n >= 1. Writes
 * m - n + 1 quotient limbs to q (if not NULL) and n remainder limbs to r. */
static void divmnu(uint64_t *q, uint64_t *r, const uint64_t *u, int m, const uint64_t *v, int n)
{
    if (n == 1) {
        uint64_t rem = 0;
        for (int j = m - 1; j >= 0; j--) {
            u128 cur = ((u128)rem << 64) | u[j];
            if (q) q[j] = (uint64_t)(cur / v[0]);
            rem = (uint64_t)(cur % v[0]);
        }
        r[0] = rem;
        return;
    }
    uint64_t vn[4], un[9];
    int s = __builtin_clzll(v[n - 1]);
    for (int i = n - 1; i > 0; i--) vn[i] = (v[i] << s) | (s ? v[i - 1] >> (64 - s) : 0);
    vn[0] = v[0] << s;
    un[m] = s ? u[m - 1] >> (64 - s) : 0;
    for (int i = m - 1; i > 0; i--) un[i] = (u[i] << s) | (s ? u[i - 1] >> (64 - s) : 0);
    un[0] = u[0] << s;

    for (int j = m - n; j >= 0; j--) {
        u128 num = ((u128)un[j + n] << 64) | un[j + n - 1];
        u128 qhat = num / vn[n - 1];
        u128 rhat = num - qhat * vn[n - 1];
        while (qhat >> 64 || qhat * vn[n - 2] > ((rhat << 64) | un[j + n - 2])) {
            qhat--;
            rhat += vn[n - 1];
            if (rhat >> 64) break;
        }
        /* Multiply and subtract. */
        i128 k = 0, t;
        for (int i = 0; i < n; i++) {
            u128 p = qhat * vn[i];
            t = (i128)un[i + j] - k - (i128)(uint64_t)p;
            un[i + j] = (uint64_t)t;
            k = (i128)(uint64_t)(p >> 64) - (t >> 64);
        }
        t = (i128)un[j + n] - k;
        un[j + n] = (uint64_t)t;
        if (t < 0) { /* qhat was one too large: add back. */
            qhat--;
            u128 c = 0;
            for (int i = 0; i < n; i++) {
                c += (u128)un[i + j] + vn[i];
                un[i + j] = (uint64_t)c;
                c >>= 64;
            }
            un[j + n] += (uint64_t)c;
        }
        if (q) q[j] = (uint64_t)qhat;
    }
    for (int i = 0; i < n; i++) r[i] = (un[i] >> s) | (s ? un[i + 1] << (64 - s) : 0);
}

/* r = u (ulen limbs, up to 8) mod m (4 limbs); m != 0. */
static void mod_wide(u256 *r, const uint64_t *u, int ulen, const u256 *m)
{
    int n = nlimbs(m->w, 4), len = nlimbs(u, ulen);
    uint64_t rem[4] = {0, 0, 0, 0};
    if (len < n) {
        memcpy(rem, u, sizeof(uint64_t) * (size_t)len);
    } else {
        divmnu(NULL, rem, u, len, m->w, n);
    }
    memcpy(r->w, rem, sizeof rem);
}

void evm__divmod(u256 *q, u256 *r, const u256 *a, const u256 *b)
{
    u256 qq = {{0, 0, 0, 0}}, rr = {{0, 0, 0, 0}};
    int n = nlimbs(b->w, 4), m = nlimbs(a->w, 4);
    if (n == 0) {
        /* DIV/MOD by zero give zero. */
    } else if (m < n || (m == n && u256_cmp(a, b) < 0)) {
        rr = *a;
    } else if (m == 1) {
        qq.w[0] = a->w[0] / b->w[0];
        rr.w[0] = a->w[0] % b->w[0];
    } else {
        divmnu(qq.w, rr.w, a->w, m, b->w, n);
    }
    if (q) *q = qq;
    if (r) *r = rr;
}

static int is_neg(const u256 *a)
{
    return (int)(a->w[3] >> 63);
}

static void neg(u256 *r, const u256 *a)
{
    u256 z = {{0, 0, 0, 0}};
    u256_sub(r, &z, a);
}

void evm__sdiv(u256 *r, const u256 *a, const u256 *b)
{
    u256 x = *a, y = *b;
    int na = is_neg(&x), nb = is_neg(&y);
    if (na) neg(&x, &x);
    if (nb) neg(&y, &y);
    evm__divmod(r, NULL, &x, &y);
    if (na != nb) neg(r, r);
}

void evm__smod(u256 *r, const u256 *a, const u256 *b)
{
    u256 x = *a, y = *b;
    int na = is_neg(&x);
    if (na) neg(&x, &x);
    if (is_neg(&y)) neg(&y, &y);
    evm__divmod(NULL, r, &x, &y);
    if (na) neg(r, r);
}

void evm__addmod(u256 *r, const u256 *a, const u256 *b, const u256 *m)
{
    if (u256_is_zero(m)) {
        *r = u256_from_u64(0);
        return;
    }
    uint64_t s[5];
    u256 t;
    s[4] = (uint64_t)u256_add(&t, a, b);
    memcpy(s, t.w, sizeof t.w);
    mod_wide(r, s, 5, m);
}

void evm__mulmod(u256 *r, const u256 *a, const u256 *b, const u256 *m)
{
    if (u256_is_zero(m)) {
        *r = u256_from_u64(0);
        return;
    }
    uint64_t p[8];
    u256_mul_wide(p, a, b);
    mod_wide(r, p, 8, m);
}

void evm__exp(u256 *r, const u256 *base, const u256 *e)
{
    u256 acc = u256_from_u64(1), b = *base;
    int top = 255;
    while (top >= 0 && !((e->w[top / 64] >> (top % 64)) & 1)) top--;
    for (int i = 0; i <= top; i++) {
        if ((e->w[i / 64] >> (i % 64)) & 1) u256_mul(&acc, &acc, &b);
        if (i < top) u256_mul(&b, &b, &b);
    }
    *r = acc;
}

/* Shift amount as an int, or 256 when n >= 256. */
static unsigned shift_of(const u256 *n)
{
    return (n->w[1] | n->w[2] | n->w[3] || n->w[0] >= 256) ? 256u : (unsigned)n->w[0];
}

void evm__shl(u256 *r, const u256 *a, const u256 *n)
{
    unsigned s = shift_of(n);
    u256 t = {{0, 0, 0, 0}};
    if (s < 256) {
        unsigned limbs = s / 64, bits = s % 64;
        for (int i = 3; i >= (int)limbs; i--) {
            uint64_t v = a->w[i - limbs] << bits;
            if (bits && i - (int)limbs - 1 >= 0) v |= a->w[i - limbs - 1] >> (64 - bits);
            t.w[i] = v;
        }
    }
    *r = t;
}

void evm__shr(u256 *r, const u256 *a, const u256 *n)
{
    unsigned s = shift_of(n);
    u256 t = {{0, 0, 0, 0}};
    if (s < 256) {
        unsigned limbs = s / 64, bits = s % 64;
        for (unsigned i = 0; i + limbs < 4; i++) {
            uint64_t v = a->w[i + limbs] >> bits;
            if (bits && i + limbs + 1 < 4) v |= a->w[i + limbs + 1] << (64 - bits);
            t.w[i] = v;
        }
    }
    *r = t;
}

void evm__sar(u256 *r, const u256 *a, const u256 *n)
{
    if (!is_neg(a)) {
        evm__shr(r, a, n);
        return;
    }
    /* sar(a) = ~shr(~a) for negative a. */
    u256 t;
    for (int i = 0; i < 4; i++) t.w[i] = ~a->w[i];
    evm__shr(&t, &t, n);
    for (int i = 0; i < 4; i++) r->w[i] = ~t.w[i];
}

void evm__signextend(u256 *r, const u256 *b, const u256 *x)
{
    if (!u256_fits_u64(b) || b->w[0] >= 31) {
        *r = *x;
        return;
    }
    unsigned bit = (unsigned)b->w[0] * 8 + 7; /* the sign bit, 7..247 */
    unsigned limb = bit / 64, off = bit % 64;
    int sign = (int)((x->w[limb] >> off) & 1);
    u256 t = *x;
    uint64_t low_mask = off == 63 ? ~(uint64_t)0 : (((uint64_t)1 << (off + 1)) - 1);
    if (sign) {
        t.w[limb] |= ~low_mask;
        for (unsigned i = limb + 1; i < 4; i++) t.w[i] = ~(uint64_t)0;
    } else {
        t.w[limb] &= low_mask;
        for (unsigned i = limb + 1; i < 4; i++) t.w[i] = 0;
    }
    *r = t;
}

void evm__byte(u256 *r, const u256 *i, const u256 *x)
{
    if (!u256_fits_u64(i) || i->w[0] >= 32) {
        *r = u256_from_u64(0);
        return;
    }
    unsigned bit = 8 * (31 - (unsigned)i->w[0]);
    *r = u256_from_u64((x->w[bit / 64] >> (bit % 64)) & 0xff);
}

int evm__scmp(const u256 *a, const u256 *b)
{
    int na = is_neg(a), nb = is_neg(b);
    if (na != nb) return na ? -1 : 1;
    return u256_cmp(a, b);
}

unsigned evm__byte_len(const u256 *a)
{
    for (int i = 3; i >= 0; i--) {
        if (a->w[i]) return (unsigned)(8 * i + 8 - __builtin_clzll(a->w[i]) / 8);
    }
    return 0;
}
