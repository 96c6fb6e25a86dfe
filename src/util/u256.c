#include "util/u256.h"
#include <string.h>

typedef unsigned __int128 u128;

int u256_cmp(const u256 *a, const u256 *b)
{
    for (int i = 3; i >= 0; i--) {
        if (a->w[i] != b->w[i]) return a->w[i] < b->w[i] ? -1 : 1;
    }
    return 0;
}

int u256_add(u256 *r, const u256 *a, const u256 *b)
{
    uint64_t carry = 0;
    for (int i = 0; i < 4; i++) {
        u128 s = (u128)a->w[i] + b->w[i] + carry;
        r->w[i] = (uint64_t)s;
        carry = (uint64_t)(s >> 64);
    }
    return (int)carry;
}

int u256_sub(u256 *r, const u256 *a, const u256 *b)
{
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t ai = a->w[i], bi = b->w[i];
        uint64_t d = ai - bi - borrow;
        borrow = (ai < bi) | ((ai == bi) & borrow);
        r->w[i] = d;
    }
    return (int)borrow;
}

void u256_mul_wide(uint64_t t[8], const u256 *a, const u256 *b)
{
    memset(t, 0, 8 * sizeof t[0]);
    for (int i = 0; i < 4; i++) {
        if (a->w[i] == 0) continue;
        uint64_t carry = 0;
        for (int j = 0; j < 4; j++) {
            u128 p = (u128)a->w[i] * b->w[j] + t[i + j] + carry;
            t[i + j] = (uint64_t)p;
            carry = (uint64_t)(p >> 64);
        }
        t[i + 4] = carry;
    }
}

int u256_mul(u256 *r, const u256 *a, const u256 *b)
{
    uint64_t t[8];
    u256_mul_wide(t, a, b);
    memcpy(r->w, t, sizeof r->w);
    return (t[4] | t[5] | t[6] | t[7]) != 0;
}

/* Number of significant bits (0 for zero). */
static int u256_bits(const u256 *a)
{
    for (int i = 3; i >= 0; i--) {
        if (a->w[i]) return 64 * i + 64 - __builtin_clzll(a->w[i]);
    }
    return 0;
}

static void u256_shl(u256 *r, const u256 *a, int n)
{
    u256 t = {{0, 0, 0, 0}};
    int limbs = n / 64, bits = n % 64;
    for (int i = 3; i >= limbs; i--) {
        uint64_t v = a->w[i - limbs] << bits;
        if (bits && i - limbs - 1 >= 0) v |= a->w[i - limbs - 1] >> (64 - bits);
        t.w[i] = v;
    }
    *r = t;
}

static void u256_shr1(u256 *a)
{
    for (int i = 0; i < 3; i++) a->w[i] = (a->w[i] >> 1) | (a->w[i + 1] << 63);
    a->w[3] >>= 1;
}

/* Divide by a 64-bit divisor d != 0; returns the remainder. */
static uint64_t u256_divmod_u64(u256 *q, const u256 *a, uint64_t d)
{
    uint64_t rem = 0;
    u256 t;
    for (int i = 3; i >= 0; i--) {
        u128 cur = ((u128)rem << 64) | a->w[i];
        t.w[i] = (uint64_t)(cur / d);
        rem = (uint64_t)(cur % d);
    }
    *q = t;
    return rem;
}

void u256_divmod(u256 *q, u256 *m, const u256 *a, const u256 *b)
{
    u256 quot = {{0, 0, 0, 0}}, rem = *a;
    if (u256_is_zero(b)) {
        rem = quot;
    } else if (u256_fits_u64(b)) {
        rem = u256_from_u64(u256_divmod_u64(&quot, a, b->w[0]));
    } else if (u256_cmp(a, b) >= 0) {
        /* Shift-subtract over the bit-length difference (at most 192 steps,
         * since b has more than 64 bits). */
        int shift = u256_bits(a) - u256_bits(b);
        u256 d;
        u256_shl(&d, b, shift);
        for (int i = shift; i >= 0; i--) {
            if (u256_cmp(&rem, &d) >= 0) {
                u256_sub(&rem, &rem, &d);
                quot.w[i / 64] |= (uint64_t)1 << (i % 64);
            }
            u256_shr1(&d);
        }
    }
    if (q) *q = quot;
    if (m) *m = rem;
}

int u256_from_be(u256 *r, const uint8_t *be, size_t len)
{
    if (len > 32) return TALLY_ERANGE;
    u256 t = {{0, 0, 0, 0}};
    for (size_t i = 0; i < len; i++) {
        size_t bit = 8 * (len - 1 - i);
        t.w[bit / 64] |= (uint64_t)be[i] << (bit % 64);
    }
    *r = t;
    return 0;
}

void u256_to_be32(uint8_t out[32], const u256 *a)
{
    for (int i = 0; i < 32; i++) {
        int bit = 8 * (31 - i);
        out[i] = (uint8_t)(a->w[bit / 64] >> (bit % 64));
    }
}

size_t u256_to_be_min(uint8_t out[32], const u256 *a)
{
    uint8_t full[32];
    u256_to_be32(full, a);
    size_t skip = 0;
    while (skip < 32 && full[skip] == 0) skip++;
    memcpy(out, full + skip, 32 - skip);
    return 32 - skip;
}

void u256_to_dec(char *out, const u256 *a)
{
    /* Peel off 19 digits at a time (10^19 < 2^64). */
    const uint64_t big = 10000000000000000000ULL;
    char tmp[80];
    size_t n = 0;
    u256 v = *a;
    do {
        uint64_t chunk = u256_divmod_u64(&v, &v, big);
        int more = !u256_is_zero(&v);
        for (int i = 0; i < 19 && (more || chunk); i++) {
            tmp[n++] = (char)('0' + chunk % 10);
            chunk /= 10;
        }
    } while (!u256_is_zero(&v));
    if (n == 0) tmp[n++] = '0';
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    out[n] = 0;
}

void u256_to_hex(char *out, const u256 *a)
{
    static const char dig[] = "0123456789abcdef";
    int nib = (u256_bits(a) + 3) / 4;
    if (nib == 0) nib = 1;
    *out++ = '0';
    *out++ = 'x';
    for (int i = nib - 1; i >= 0; i--) *out++ = dig[(a->w[i / 16] >> (4 * (i % 16))) & 15];
    *out = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int u256_parse(u256 *r, const char *s)
{
    u256 t = {{0, 0, 0, 0}};
    int overflow = 0;
    if (!s || !*s) return TALLY_EDECODE;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        if (!*s) return TALLY_EDECODE;
        int digits = 0; /* significant digits so far; 64 fit exactly */
        for (; *s; s++) {
            int v = hexval(*s);
            if (v < 0) return TALLY_EDECODE;
            if (digits == 0 && v == 0) continue; /* leading zeros */
            if (++digits > 64) {
                overflow = 1;
                continue; /* keep scanning: a bad digit is still EDECODE */
            }
            u256_shl(&t, &t, 4);
            t.w[0] |= (uint64_t)v;
        }
        if (overflow) return TALLY_ERANGE;
        *r = t;
        return 0;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return TALLY_EDECODE;
        if (overflow) continue;
        u256 ten = u256_from_u64(10), d = u256_from_u64((uint64_t)(*s - '0'));
        if (u256_mul(&t, &t, &ten) || u256_add(&t, &t, &d)) overflow = 1;
    }
    if (overflow) return TALLY_ERANGE;
    *r = t;
    return 0;
}
