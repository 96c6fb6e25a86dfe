#include "util/hex.h"
#include <stdlib.h>
#include <string.h>

static const char hexdig[] = "0123456789abcdef";

void hex_encode(char *out, const uint8_t *in, size_t len)
{
    *out++ = '0';
    *out++ = 'x';
    for (size_t i = 0; i < len; i++) {
        *out++ = hexdig[in[i] >> 4];
        *out++ = hexdig[in[i] & 15];
    }
    *out = 0;
}

static int nib(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int hex_decode(uint8_t *out, size_t cap, size_t *outlen, const char *in, size_t len)
{
    if (len >= 2 && in[0] == '0' && (in[1] == 'x' || in[1] == 'X')) {
        in += 2;
        len -= 2;
    }
    if (len & 1) return TALLY_EDECODE;
    if (len / 2 > cap) return TALLY_ETOOBIG;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = nib(in[2 * i]), lo = nib(in[2 * i + 1]);
        if (hi < 0 || lo < 0) return TALLY_EDECODE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *outlen = len / 2;
    return 0;
}

int hex_decode_alloc(uint8_t **out, size_t *len, const char *in)
{
    size_t n = strlen(in);
    *out = NULL;
    *len = 0;
    if (n >= 2 && in[0] == '0' && (in[1] == 'x' || in[1] == 'X')) {
        in += 2;
        n -= 2;
    }
    if (!n) return 0;
    uint8_t *b = malloc(n / 2 + 1);
    if (!b) return TALLY_ENOMEM;
    int rc = hex_decode(b, n / 2 + 1, len, in, n);
    if (rc) {
        free(b);
        *len = 0;
        return rc;
    }
    *out = b;
    return 0;
}

int hex_decode_fixed(uint8_t *out, size_t n, const char *in)
{
    size_t len = strlen(in), got;
    if (len != 2 * n + 2 || in[0] != '0' || (in[1] != 'x' && in[1] != 'X')) return TALLY_EDECODE;
    int rc = hex_decode(out, n, &got, in, len);
    if (rc) return rc;
    return got == n ? 0 : TALLY_EDECODE;
}

int hex_quantity_u64(uint64_t *out, const char *in)
{
    if (in[0] != '0' || (in[1] != 'x' && in[1] != 'X') || !in[2]) return TALLY_EDECODE;
    uint64_t v = 0;
    for (const char *p = in + 2; *p; p++) {
        int d = nib(*p);
        if (d < 0) return TALLY_EDECODE;
        if (v >> 60) return TALLY_ERANGE;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

void hex_quantity_from_u64(char *out, uint64_t v)
{
    char tmp[17];
    int n = 0;
    do {
        tmp[n++] = hexdig[v & 15];
        v >>= 4;
    } while (v);
    *out++ = '0';
    *out++ = 'x';
    while (n) *out++ = tmp[--n];
    *out = 0;
}
