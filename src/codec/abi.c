/* Solidity contract ABI: entries, argument encoding, decoding; see abi.h. */
#include "codec/abi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypto/keccak.h"
#include "util/buf.h"
#include "util/hex.h"
#include "util/u256.h"

static int is_dynamic(const struct abi_type *t)
{
    return t->array || t->base == ABI_BYTES || t->base == ABI_STRING;
}

/* ---- addresses ------------------------------------------------------------ */

void abi_address_checksum(char out[43], const uint8_t addr[20])
{
    char lower[43];
    uint8_t h[32];
    hex_encode(lower, addr, 20);
    keccak256(h, lower + 2, 40);
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 40; i++) {
        char c = lower[2 + i];
        int nibble = (h[i / 2] >> (i % 2 ? 0 : 4)) & 15;
        out[2 + i] = (c >= 'a' && c <= 'f' && nibble >= 8) ? (char)(c - 'a' + 'A') : c;
    }
    out[42] = 0;
}

int abi_address_parse(uint8_t out[20], const char *s)
{
    if (strlen(s) != 42 || s[0] != '0' || s[1] != 'x' || hex_decode_fixed(out, 20, s))
        return TALLY_EDECODE;
    int upper = 0, lower = 0;
    for (int i = 2; i < 42; i++) {
        if (s[i] >= 'a' && s[i] <= 'f') lower = 1;
        if (s[i] >= 'A' && s[i] <= 'F') upper = 1;
    }
    if (upper && lower) {
        char want[43];
        abi_address_checksum(want, out);
        if (strcmp(want, s)) return TALLY_EINVAL;
    }
    return 0;
}

/* ---- types ---------------------------------------------------------------- */

/* Strict decimal without leading zeros, at most 3 digits. -1 if not one. */
static int small_number(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 3 || (s[0] == '0' && n > 1)) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int abi_type_parse(struct abi_type *out, const char *s)
{
    char base[48];
    size_t n = strlen(s);
    memset(out, 0, sizeof *out);
    if (n >= sizeof base) return TALLY_EDECODE;
    memcpy(base, s, n + 1);
    if (n > 2 && !strcmp(base + n - 2, "[]")) {
        out->array = 1;
        n -= 2;
        base[n] = 0;
    }
    /* More array suffixes ("[3]", "[]") are well-formed but not supported. */
    int more = 0;
    char *br = strchr(base, '[');
    if (br) {
        const char *p = br;
        while (*p == '[') {
            p++;
            while (*p >= '0' && *p <= '9') p++;
            if (*p != ']') return TALLY_EDECODE;
            p++;
        }
        if (*p) return TALLY_EDECODE;
        *br = 0;
        more = 1;
    }
    if (!strcmp(base, "tuple") || !strcmp(base, "function") || !strncmp(base, "fixed", 5) ||
        !strncmp(base, "ufixed", 6))
        return TALLY_EUNSUPPORTED;
    if (!strcmp(base, "address")) {
        out->base = ABI_ADDRESS;
    } else if (!strcmp(base, "bool")) {
        out->base = ABI_BOOL;
    } else if (!strcmp(base, "string")) {
        out->base = ABI_STRING;
    } else if (!strcmp(base, "bytes")) {
        out->base = ABI_BYTES;
    } else if (!strncmp(base, "bytes", 5)) {
        int v = small_number(base + 5);
        if (v < 1 || v > 32) return TALLY_EDECODE;
        out->base = ABI_FIXED_BYTES;
        out->size = (uint16_t)v;
    } else if (!strncmp(base, "uint", 4) || !strncmp(base, "int", 3)) {
        int u = base[0] == 'u';
        const char *digits = base + (u ? 4 : 3);
        int v = *digits ? small_number(digits) : 256;
        if (v < 8 || v > 256 || v % 8) return TALLY_EDECODE;
        out->base = u ? ABI_UINT : ABI_INT;
        out->size = (uint16_t)v;
    } else {
        return TALLY_EDECODE;
    }
    return more ? TALLY_EUNSUPPORTED : 0;
}

void abi_type_name(char *out, size_t cap, const struct abi_type *t)
{
    const char *arr = t->array ? "[]" : "";
    switch (t->base) {
    case ABI_ADDRESS: snprintf(out, cap, "address%s", arr); break;
    case ABI_BOOL: snprintf(out, cap, "bool%s", arr); break;
    case ABI_UINT: snprintf(out, cap, "uint%u%s", t->size, arr); break;
    case ABI_INT: snprintf(out, cap, "int%u%s", t->size, arr); break;
    case ABI_FIXED_BYTES: snprintf(out, cap, "bytes%u%s", t->size, arr); break;
    case ABI_BYTES: snprintf(out, cap, "bytes%s", arr); break;
    default: snprintf(out, cap, "string%s", arr); break;
    }
}

/* ---- entries -------------------------------------------------------------- */

static int valid_identifier(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9')) return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '$'))
            return 0;
    }
    return 1;
}

static const char *kind_name(int kind)
{
    static const char *const names[] = {"function", "constructor", "event",
                                        "error",    "fallback",    "receive"};
    return names[kind];
}

static int parse_params(struct abi_param *ps, size_t *n, const cJSON *arr, const char *what,
                        const char *entry, int event, char *err, size_t errlen)
{
    *n = 0;
    if (!arr || cJSON_IsNull(arr)) return 0;
    if (!cJSON_IsArray(arr)) {
        tally_errf(err, errlen, "%s: \"%s\" is not an array", entry, what);
        return TALLY_EDECODE;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        size_t i = *n;
        if (i == ABI_MAX_PARAMS) {
            tally_errf(err, errlen, "%s: more than %d %s", entry, ABI_MAX_PARAMS, what);
            return TALLY_ETOOBIG;
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *indexed = cJSON_GetObjectItemCaseSensitive(it, "indexed");
        if (!cJSON_IsObject(it) || !cJSON_IsString(type)) {
            tally_errf(err, errlen, "%s: %s %zu has no \"type\"", entry, what, i + 1);
            return TALLY_EDECODE;
        }
        if (name && !cJSON_IsNull(name)) {
            if (!cJSON_IsString(name) ||
                (name->valuestring[0] && !valid_identifier(name->valuestring))) {
                tally_errf(err, errlen, "%s: %s %zu has a bad \"name\"", entry, what, i + 1);
                return TALLY_EDECODE;
            }
            if (strlen(name->valuestring) >= ABI_MAX_NAME) {
                tally_errf(err, errlen, "%s: %s %zu: name too long", entry, what, i + 1);
                return TALLY_ETOOBIG;
            }
            snprintf(ps[i].name, sizeof ps[i].name, "%s", name->valuestring);
        } else {
            ps[i].name[0] = 0;
        }
        int rc = abi_type_parse(&ps[i].type, type->valuestring);
        if (rc == TALLY_EUNSUPPORTED) {
            tally_errf(err, errlen,
                       "%s: %s %zu has type %.48s, which is not supported (only "
                       "address, bool, uintN, intN, bytesN, bytes, string and T[] of those)",
                       entry, what, i + 1, type->valuestring);
            return rc;
        }
        if (rc) {
            tally_errf(err, errlen, "%s: %s %zu has an unknown type \"%.48s\"", entry, what, i + 1,
                       type->valuestring);
            return rc;
        }
        ps[i].indexed = 0;
        if (event && indexed && !cJSON_IsNull(indexed)) {
            if (!cJSON_IsBool(indexed)) {
                tally_errf(err, errlen, "%s: %s %zu: \"indexed\" is not a boolean", entry, what,
                           i + 1);
                return TALLY_EDECODE;
            }
            ps[i].indexed = cJSON_IsTrue(indexed) ? 1 : 0;
        }
        (*n)++;
    }
    return 0;
}

int abi_entry_parse(struct abi_entry *out, const cJSON *item, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(item)) {
        tally_errf(err, errlen, "ABI entry is not an object");
        return TALLY_EDECODE;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
    const char *ts = "function";
    if (type) {
        if (!cJSON_IsString(type)) {
            tally_errf(err, errlen, "ABI entry: \"type\" is not a string");
            return TALLY_EDECODE;
        }
        ts = type->valuestring;
    }
    int kind = -1;
    for (int k = ABI_FUNCTION; k <= ABI_RECEIVE; k++)
        if (!strcmp(ts, kind_name(k))) kind = k;
    if (kind < 0) {
        tally_errf(err, errlen, "ABI entry: unknown type \"%.32s\"", ts);
        return TALLY_EDECODE;
    }
    out->kind = (uint8_t)kind;
    int named = kind == ABI_FUNCTION || kind == ABI_EVENT || kind == ABI_ERROR;
    if (named) {
        if (!cJSON_IsString(name) || !valid_identifier(name->valuestring)) {
            tally_errf(err, errlen, "ABI %s entry without a valid \"name\"", ts);
            return TALLY_EDECODE;
        }
        if (strlen(name->valuestring) >= ABI_MAX_NAME) {
            tally_errf(err, errlen, "ABI %s entry: name too long", ts);
            return TALLY_ETOOBIG;
        }
        snprintf(out->name, sizeof out->name, "%s", name->valuestring);
    } else {
        snprintf(out->name, sizeof out->name, "%s", ts);
    }

    const cJSON *sm = cJSON_GetObjectItemCaseSensitive(item, "stateMutability");
    out->mutability = ABI_NONPAYABLE;
    if (cJSON_IsString(sm)) {
        static const char *const m[] = {"nonpayable", "payable", "view", "pure"};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(sm->valuestring, m[i])) found = i;
        if (found < 0) {
            tally_errf(err, errlen, "%s: unknown stateMutability \"%.32s\"", out->name,
                       sm->valuestring);
            return TALLY_EDECODE;
        }
        out->mutability = (uint8_t)found;
    } else if (sm && !cJSON_IsNull(sm)) {
        tally_errf(err, errlen, "%s: \"stateMutability\" is not a string", out->name);
        return TALLY_EDECODE;
    } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "constant"))) {
        out->mutability = ABI_VIEW;
    } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "payable"))) {
        out->mutability = ABI_PAYABLE;
    }
    if (kind == ABI_EVENT) {
        out->anonymous = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "anonymous")) ? 1 : 0;
    }

    int rc =
        parse_params(out->inputs, &out->ninputs, cJSON_GetObjectItemCaseSensitive(item, "inputs"),
                     "input", out->name, kind == ABI_EVENT, err, errlen);
    if (!rc && kind == ABI_FUNCTION)
        rc = parse_params(out->outputs, &out->noutputs,
                          cJSON_GetObjectItemCaseSensitive(item, "outputs"), "output", out->name, 0,
                          err, errlen);
    if (rc) return rc;

    if (named) {
        size_t len = (size_t)snprintf(out->signature, sizeof out->signature, "%s(", out->name);
        for (size_t i = 0; i < out->ninputs; i++) {
            char tn[24];
            abi_type_name(tn, sizeof tn, &out->inputs[i].type);
            len += (size_t)snprintf(out->signature + len, sizeof out->signature - len, "%s%s",
                                    i ? "," : "", tn);
        }
        snprintf(out->signature + len, sizeof out->signature - len, ")");
        keccak256(out->topic0, out->signature, strlen(out->signature));
        memcpy(out->selector, out->topic0, 4);
    }
    return 0;
}

/* ---- encoding ------------------------------------------------------------- */

static int bitlen(const u256 *v)
{
    for (int i = 3; i >= 0; i--)
        if (v->w[i]) return 64 * i + 64 - __builtin_clzll(v->w[i]);
    return 0;
}

/* Parse integer text into a 32-byte word for t (ABI_UINT / ABI_INT). */
static int enc_integer(uint8_t word[32], const struct abi_type *t, const char *s, char *why,
                       size_t whylen)
{
    int neg = s[0] == '-';
    const char *p = s + neg;
    u256 m;
    if (strlen(s) > 100) {
        tally_errf(why, whylen, "number too long");
        return TALLY_EINVAL;
    }
    int rc = u256_parse(&m, p);
    if (rc == TALLY_ERANGE) {
        tally_errf(why, whylen, "%s is out of range for %s%u", s,
                   t->base == ABI_UINT ? "uint" : "int", t->size);
        return TALLY_EINVAL;
    }
    if (rc) {
        tally_errf(why, whylen, "\"%.40s\" is not a number (decimal or 0x hex)", s);
        return TALLY_EINVAL;
    }
    int bits = bitlen(&m);
    if (t->base == ABI_UINT) {
        if (neg && !u256_is_zero(&m)) {
            tally_errf(why, whylen, "%s is negative, uint%u is unsigned", s, t->size);
            return TALLY_EINVAL;
        }
        if (bits > t->size) {
            tally_errf(why, whylen, "%s is out of range for uint%u", s, t->size);
            return TALLY_EINVAL;
        }
    } else {
        /* 0 <= m < 2^(size-1), or m == 2^(size-1) when negative. */
        int fits = bits < t->size;
        if (!fits && neg && bits == t->size) {
            u256 lim = {{0, 0, 0, 0}};
            lim.w[(t->size - 1) / 64] = 1ull << ((t->size - 1) % 64);
            fits = !u256_cmp(&m, &lim);
        }
        if (!fits) {
            tally_errf(why, whylen, "%s is out of range for int%u", s, t->size);
            return TALLY_EINVAL;
        }
        if (neg) {
            u256 zero = {{0, 0, 0, 0}};
            u256_sub(&m, &zero, &m);
        }
    }
    u256_to_be32(word, &m);
    return 0;
}

/* Encode one value of base type t (t->array ignored) from text s[0..len)
 * (NUL-terminated at len): a 32-byte word, or length + padded data. */
static int enc_elem(struct buf *b, const struct abi_type *t, const char *s, size_t len, char *why,
                    size_t whylen)
{
    uint8_t w[32] = {0};
    if (t->base != ABI_STRING && strlen(s) != len) {
        tally_errf(why, whylen, "contains a NUL character");
        return TALLY_EINVAL;
    }
    switch (t->base) {
    case ABI_ADDRESS: {
        int rc = abi_address_parse(w + 12, s);
        if (rc == TALLY_EINVAL) {
            tally_errf(why, whylen,
                       "%.42s has a bad EIP-55 checksum (mixed case); check the address "
                       "or write it in lowercase",
                       s);
            return TALLY_EINVAL;
        }
        if (rc) {
            tally_errf(why, whylen, "\"%.50s\" is not an address (0x and 40 hex digits)", s);
            return TALLY_EINVAL;
        }
        break;
    }
    case ABI_BOOL:
        if (!strcmp(s, "true") || !strcmp(s, "1"))
            w[31] = 1;
        else if (strcmp(s, "false") && strcmp(s, "0")) {
            tally_errf(why, whylen, "\"%.40s\" is not a bool (true, false, 1 or 0)", s);
            return TALLY_EINVAL;
        }
        break;
    case ABI_UINT:
    case ABI_INT: {
        int rc = enc_integer(w, t, s, why, whylen);
        if (rc) return rc;
        break;
    }
    case ABI_FIXED_BYTES: {
        size_t got = 0;
        if (len != 2u + 2u * t->size || s[0] != '0' || s[1] != 'x' ||
            hex_decode(w, 32, &got, s, len) || got != t->size) {
            tally_errf(why, whylen, "\"%.70s\" is not bytes%u (0x and exactly %u hex digits)", s,
                       t->size, 2u * t->size);
            return TALLY_EINVAL;
        }
        break;
    }
    case ABI_BYTES:
    case ABI_STRING: {
        const uint8_t *data = (const uint8_t *)s;
        size_t n = len;
        uint8_t *tmp = NULL;
        if (t->base == ABI_BYTES) {
            if (len < 2 || s[0] != '0' || s[1] != 'x' || (len & 1)) {
                tally_errf(why, whylen,
                           "\"%.40s\" is not bytes (0x and an even number of hex "
                           "digits)",
                           s);
                return TALLY_EINVAL;
            }
            tmp = malloc(len / 2 + 1);
            if (!tmp) return TALLY_ENOMEM;
            if (hex_decode(tmp, len / 2, &n, s, len)) {
                free(tmp);
                tally_errf(why, whylen,
                           "\"%.40s\" is not bytes (0x and an even number of hex "
                           "digits)",
                           s);
                return TALLY_EINVAL;
            }
            data = tmp;
        }
        u256 l = u256_from_u64(n);
        u256_to_be32(w, &l);
        static const uint8_t zero[32];
        int rc = buf_append(b, w, 32);
        if (!rc && n) rc = buf_append(b, data, n);
        if (!rc && n % 32) rc = buf_append(b, zero, 32 - n % 32);
        free(tmp);
        if (rc) tally_errf(why, whylen, "encoding over %u bytes", ABI_MAX_ENCODED);
        return rc;
    }
    default: return TALLY_EINVAL;
    }
    int rc = buf_append(b, w, 32);
    if (rc) tally_errf(why, whylen, "encoding over %u bytes", ABI_MAX_ENCODED);
    return rc;
}

struct elem {
    char *s; /* NUL-terminated; may contain NULs from \u0000 */
    size_t len;
};

static void elems_free(struct elem *e, size_t n)
{
    for (size_t i = 0; i < n; i++) free(e[i].s);
    free(e);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v << 4 | d;
    }
    return v;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A JSON string starting at *pp (on the opening quote) into e; advances *pp
 * past the closing quote. */
static int json_string(struct elem *e, const char **pp, char *why, size_t whylen)
{
    const char *p = *pp + 1;
    size_t cap = strlen(p) + 1; /* unescaped text is never longer */
    char *o = malloc(cap);
    size_t n = 0;
    if (!o) return TALLY_ENOMEM;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (!c) {
            tally_errf(why, whylen, "unterminated string");
            goto bad;
        }
        if (c == '"') break;
        if (c < 0x20) {
            tally_errf(why, whylen, "control character in a quoted string (use \\n, \\t, \\u00XX)");
            goto bad;
        }
        if (c != '\\') {
            o[n++] = (char)c;
            p++;
            continue;
        }
        char x = p[1];
        p += 2;
        switch (x) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            int cp = hex4(p);
            if (cp < 0) {
                tally_errf(why, whylen, "bad \\u escape");
                goto bad;
            }
            p += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                tally_errf(why, whylen, "lone low surrogate in \\u escape");
                goto bad;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                int lo = p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -1;
                if (lo < 0xdc00 || lo > 0xdfff) {
                    tally_errf(why, whylen, "high surrogate without a low one in \\u escape");
                    goto bad;
                }
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            n += put_utf8(o + n, (unsigned)cp);
            break;
        }
        default: tally_errf(why, whylen, "bad escape in a quoted string"); goto bad;
        }
    }
    o[n] = 0;
    e->s = o;
    e->len = n;
    *pp = p + 1;
    return 0;
bad:
    free(o);
    return TALLY_EINVAL;
}

/* Split "[a, "b", ...]" into elements. */
static int split_array(struct elem **out, size_t *count, const char *s, char *why, size_t whylen)
{
    *out = NULL;
    *count = 0;
    const char *p = skip_ws(s);
    if (*p != '[') {
        tally_errf(why, whylen, "\"%.40s\" is not an array (write [a, b, ...])", s);
        return TALLY_EINVAL;
    }
    p = skip_ws(p + 1);
    struct elem *e = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (*p == ']') {
        p++;
        goto end;
    }
    for (;;) {
        p = skip_ws(p);
        if (n == ABI_MAX_ARRAY) {
            tally_errf(why, whylen, "more than %d array elements", ABI_MAX_ARRAY);
            rc = TALLY_ETOOBIG;
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct elem *ne = realloc(e, cap * sizeof *e);
            if (!ne) {
                rc = TALLY_ENOMEM;
                goto fail;
            }
            e = ne;
        }
        if (*p == '"') {
            if ((rc = json_string(&e[n], &p, why, whylen))) goto fail;
        } else {
            const char *q = p;
            while (*q && *q != ',' && *q != ']' && *q != '"' && *q != '[') q++;
            const char *end = q;
            while (end > p &&
                   (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
                end--;
            if (end == p || *q == '"' || *q == '[') {
                tally_errf(why, whylen, "element %zu: %s", n + 1,
                           *q == '"' || *q == '['
                               ? "misplaced quote or bracket (quote the whole element)"
                               : "empty");
                rc = TALLY_EINVAL;
                goto fail;
            }
            e[n].len = (size_t)(end - p);
            e[n].s = malloc(e[n].len + 1);
            if (!e[n].s) {
                rc = TALLY_ENOMEM;
                goto fail;
            }
            memcpy(e[n].s, p, e[n].len);
            e[n].s[e[n].len] = 0;
            p = q;
        }
        n++;
        p = skip_ws(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']') {
            p++;
            break;
        }
        tally_errf(why, whylen, "expected , or ] after element %zu", n);
        rc = TALLY_EINVAL;
        goto fail;
    }
end:
    p = skip_ws(p);
    if (*p) {
        tally_errf(why, whylen, "unexpected text after the closing ]");
        rc = TALLY_EINVAL;
        goto fail;
    }
    *out = e;
    *count = n;
    return 0;
fail:
    elems_free(e, n);
    return rc;
}

static int put_word_u64(struct buf *b, uint64_t v)
{
    uint8_t w[32];
    u256 x = u256_from_u64(v);
    u256_to_be32(w, &x);
    return buf_append(b, w, 32);
}

/* Encode a T[] argument (its length, then the elements as a tuple). */
static int enc_array(struct buf *b, const struct abi_type *t, const char *s, char *why,
                     size_t whylen)
{
    struct elem *e;
    size_t n;
    int rc = split_array(&e, &n, s, why, whylen);
    if (rc) return rc;
    struct abi_type et = *t;
    et.array = 0;
    rc = put_word_u64(b, n);
    if (!is_dynamic(&et)) {
        for (size_t i = 0; i < n && !rc; i++) {
            char ewhy[200];
            rc = enc_elem(b, &et, e[i].s, e[i].len, ewhy, sizeof ewhy);
            if (rc) tally_errf(why, whylen, "element %zu: %s", i + 1, ewhy);
        }
    } else {
        /* Heads are offsets from the start of the elements (after the length). */
        struct buf tail;
        buf_init(&tail, ABI_MAX_ENCODED);
        for (size_t i = 0; i < n && !rc; i++) {
            char ewhy[200];
            rc = put_word_u64(b, 32 * n + tail.len);
            if (!rc) rc = enc_elem(&tail, &et, e[i].s, e[i].len, ewhy, sizeof ewhy);
            if (rc) tally_errf(why, whylen, "element %zu: %s", i + 1, ewhy);
        }
        if (!rc) rc = buf_append(b, tail.p, tail.len);
        buf_free(&tail);
    }
    if (rc == TALLY_ETOOBIG) tally_errf(why, whylen, "encoding over %u bytes", ABI_MAX_ENCODED);
    elems_free(e, n);
    return rc;
}

static void param_desc(char *out, size_t cap, const struct abi_param *p)
{
    char tn[24];
    abi_type_name(tn, sizeof tn, &p->type);
    snprintf(out, cap, "%s%s%s", tn, p->name[0] ? " " : "", p->name);
}

int abi_encode_args(uint8_t **out, size_t *outlen, const struct abi_entry *e,
                    const char *const *args, size_t nargs, char *err, size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    if (nargs != e->ninputs) {
        char list[ABI_MAX_SIG] = "";
        size_t len = 0;
        for (size_t i = 0; i < e->ninputs && len < sizeof list; i++) {
            char d[ABI_MAX_NAME + 32];
            param_desc(d, sizeof d, &e->inputs[i]);
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", d);
        }
        tally_errf(err, errlen, "%s expects %zu argument%s (%s), got %zu", e->name, e->ninputs,
                   e->ninputs == 1 ? "" : "s", list, nargs);
        return TALLY_EINVAL;
    }
    struct buf head, tail;
    buf_init(&head, ABI_MAX_ENCODED);
    buf_init(&tail, ABI_MAX_ENCODED);
    int rc = 0;
    if (e->kind == ABI_FUNCTION || e->kind == ABI_ERROR) rc = buf_append(&head, e->selector, 4);
    for (size_t i = 0; i < nargs && !rc; i++) {
        const struct abi_param *p = &e->inputs[i];
        char why[256] = "";
        if (!args[i]) {
            rc = TALLY_EINVAL;
            snprintf(why, sizeof why, "missing");
        } else if (p->type.array) {
            rc = put_word_u64(&head, 32 * nargs + tail.len);
            if (!rc) rc = enc_array(&tail, &p->type, args[i], why, sizeof why);
        } else if (is_dynamic(&p->type)) {
            rc = put_word_u64(&head, 32 * nargs + tail.len);
            if (!rc) rc = enc_elem(&tail, &p->type, args[i], strlen(args[i]), why, sizeof why);
        } else {
            rc = enc_elem(&head, &p->type, args[i], strlen(args[i]), why, sizeof why);
        }
        if (rc) {
            char d[ABI_MAX_NAME + 32];
            param_desc(d, sizeof d, p);
            if (rc == TALLY_ETOOBIG && !why[0])
                snprintf(why, sizeof why, "encoding over %u bytes", ABI_MAX_ENCODED);
            tally_errf(err, errlen, "%s: argument %zu (%s): %s", e->name, i + 1, d,
                       rc == TALLY_ENOMEM ? "out of memory" : why);
        }
    }
    if (!rc && head.len + tail.len > ABI_MAX_ENCODED) {
        tally_errf(err, errlen, "%s: encoded arguments over %u bytes", e->name, ABI_MAX_ENCODED);
        rc = TALLY_ETOOBIG;
    }
    if (!rc) rc = buf_append(&head, tail.p, tail.len);
    buf_free(&tail);
    if (rc) {
        buf_free(&head);
        return rc;
    }
    if (!head.p) { /* nothing to encode: still return an allocation */
        *out = malloc(1);
        if (!*out) return TALLY_ENOMEM;
        return 0;
    }
    *out = buf_detach(&head, outlen);
    return 0;
}

/* ---- decoding ------------------------------------------------------------- */

struct dec {
    const uint8_t *data;
    size_t len;
    size_t budget;   /* bytes of text still allowed */
    int raw_strings; /* strings without quotes (revert reasons) */
    char *err;
    size_t errlen;
};

static int put(struct buf *b, const char *s)
{
    return buf_puts(b, s);
}

/* Length of a valid UTF-8 sequence at p (1..4), 0 if invalid. */
static size_t utf8_len(const uint8_t *p, size_t rem)
{
    uint8_t c = p[0];
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (rem < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    return n;
}

static int put_string(struct buf *b, const uint8_t *p, size_t n, int quoted)
{
    int rc = quoted ? put(b, "\"") : 0;
    for (size_t i = 0; i < n && !rc;) {
        uint8_t c = p[i];
        char esc[8];
        size_t l = utf8_len(p + i, n - i);
        if (l > 1) {
            rc = buf_append(b, p + i, l);
            i += l;
            continue;
        }
        i++;
        if (l == 0)
            snprintf(esc, sizeof esc, "\\x%02x", c);
        else if (c == '"' && quoted)
            snprintf(esc, sizeof esc, "\\\"");
        else if (c == '\\')
            snprintf(esc, sizeof esc, "\\\\");
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (c == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (c == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (c < 0x20 || c == 0x7f)
            snprintf(esc, sizeof esc, "\\u%04x", c);
        else {
            esc[0] = (char)c;
            esc[1] = 0;
        }
        rc = put(b, esc);
    }
    if (!rc && quoted) rc = put(b, "\"");
    return rc;
}

static int put_hex(struct buf *b, const uint8_t *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    int rc = put(b, "0x");
    if (rc || !n) return rc;
    if ((rc = buf_reserve(b, 2 * n))) return rc;
    for (size_t i = 0; i < n; i++) {
        b->p[b->len++] = (uint8_t)d[p[i] >> 4];
        b->p[b->len++] = (uint8_t)d[p[i] & 15];
    }
    return 0;
}

/* Decode the word w as a value of base type t into b. */
static int dec_word(struct dec *d, struct buf *b, const struct abi_type *t, const uint8_t w[32])
{
    static const uint8_t zero[32];
    char tn[24];
    u256 v;
    abi_type_name(tn, sizeof tn, t);
    if (u256_from_be(&v, w, 32)) return TALLY_EDECODE;
    switch (t->base) {
    case ABI_ADDRESS: {
        char a[43];
        if (memcmp(w, zero, 12)) break;
        abi_address_checksum(a, w + 12);
        return put(b, a);
    }
    case ABI_BOOL:
        if (memcmp(w, zero, 31) || w[31] > 1) break;
        return put(b, w[31] ? "true" : "false");
    case ABI_UINT: {
        char dec[80];
        if (bitlen(&v) > t->size) break;
        u256_to_dec(dec, &v);
        return put(b, dec);
    }
    case ABI_INT: {
        char dec[81];
        int neg = (w[0] & 0x80) != 0;
        u256 m = v;
        if (neg)
            for (int i = 0; i < 4; i++) m.w[i] = ~m.w[i]; /* -v - 1 */
        if (bitlen(&m) > t->size - 1) break;
        if (neg) {
            u256 zero256 = {{0, 0, 0, 0}};
            u256_sub(&v, &zero256, &v);
            dec[0] = '-';
            u256_to_dec(dec + 1, &v);
        } else {
            u256_to_dec(dec, &v);
        }
        return put(b, dec);
    }
    case ABI_FIXED_BYTES:
        if (memcmp(w + t->size, zero, 32u - t->size)) break;
        return put_hex(b, w, t->size);
    default: break;
    }
    tally_errf(d->err, d->errlen, "value 0x%02x%02x%02x%02x... is not a valid %s (dirty high bits)",
               w[0], w[1], w[2], w[3], tn);
    return TALLY_EDECODE;
}

/* A word at pos as an offset or length that is at most max. */
static int dec_size(struct dec *d, size_t *out, size_t pos, size_t max, const char *what)
{
    if (pos > d->len || d->len - pos < 32) {
        tally_errf(d->err, d->errlen, "data too short: %s at byte %zu, have %zu bytes", what, pos,
                   d->len);
        return TALLY_EDECODE;
    }
    u256 v;
    if (u256_from_be(&v, d->data + pos, 32)) return TALLY_EDECODE;
    if (!u256_fits_u64(&v) || v.w[0] > max) {
        tally_errf(d->err, d->errlen, "%s at byte %zu is past the end of the data (%zu bytes)",
                   what, pos, d->len);
        return TALLY_EDECODE;
    }
    *out = (size_t)v.w[0];
    return 0;
}

/* A dynamic value of base type t (bytes or string) at pos. */
static int dec_bytes_at(struct dec *d, struct buf *b, const struct abi_type *t, size_t pos)
{
    size_t n;
    int rc = dec_size(d, &n, pos, d->len, "length");
    if (rc) return rc;
    if (d->len - pos - 32 < n) {
        tally_errf(d->err, d->errlen, "%s of %zu bytes at byte %zu runs past the end of the data",
                   t->base == ABI_STRING ? "string" : "bytes", n, pos);
        return TALLY_EDECODE;
    }
    const uint8_t *p = d->data + pos + 32;
    return t->base == ABI_STRING ? put_string(b, p, n, !d->raw_strings) : put_hex(b, p, n);
}

/* A value of type t whose head word is at pos; base is the start of the
 * enclosing tuple (offsets are relative to it). */
static int dec_value(struct dec *d, struct buf *b, const struct abi_type *t, size_t base,
                     size_t pos)
{
    if (pos > d->len || d->len - pos < 32) {
        tally_errf(d->err, d->errlen, "data too short: value at byte %zu, have %zu bytes", pos,
                   d->len);
        return TALLY_EDECODE;
    }
    if (!is_dynamic(t)) return dec_word(d, b, t, d->data + pos);
    size_t off;
    int rc = dec_size(d, &off, pos, d->len - base, "offset");
    if (rc) return rc;
    size_t at = base + off;
    if (!t->array) return dec_bytes_at(d, b, t, at);
    size_t n;
    if ((rc = dec_size(d, &n, at, (d->len - at - 32) / 32, "array length"))) return rc;
    struct abi_type et = *t;
    et.array = 0;
    size_t start = at + 32;
    if ((rc = put(b, "["))) return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        if (i) rc = put(b, ", ");
        if (!rc) rc = dec_value(d, b, &et, start, start + 32 * i);
    }
    return rc ? rc : put(b, "]");
}

void abi_values_free(struct abi_values *v)
{
    for (size_t i = 0; i < v->n; i++) free(v->v[i]);
    v->n = 0;
}

/* Finish the text of one value: on rc == 0 NUL-terminate b and move it to
 * *out (b is then empty); otherwise free b and return rc. */
static int text_of(char **out, struct dec *d, struct buf *b, int rc)
{
    if (!rc) rc = buf_append(b, "", 1);
    /* Only the text buffer fails this way inside a value. */
    if (rc == TALLY_ETOOBIG)
        tally_errf(d->err, d->errlen, "decoded text over %u bytes", ABI_MAX_TEXT);
    if (rc == TALLY_ENOMEM) tally_errf(d->err, d->errlen, "out of memory");
    if (rc) {
        buf_free(b);
        return rc;
    }
    size_t len;
    *out = (char *)buf_detach(b, &len);
    d->budget -= len;
    return 0;
}

static int dec_tuple(struct dec *d, struct abi_values *out, const struct abi_param *params,
                     size_t n, int skip_indexed)
{
    out->n = 0;
    if (d->len > ABI_MAX_DECODE) {
        tally_errf(d->err, d->errlen, "data of %zu bytes is over %u", d->len, ABI_MAX_DECODE);
        return TALLY_ETOOBIG;
    }
    size_t slot = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip_indexed && params[i].indexed) {
            out->v[out->n++] = NULL;
            continue;
        }
        struct buf b;
        buf_init(&b, d->budget);
        int rc = text_of(&out->v[out->n], d, &b, dec_value(d, &b, &params[i].type, 0, 32 * slot++));
        if (rc) {
            abi_values_free(out);
            return rc;
        }
        out->n++;
    }
    return 0;
}

int abi_decode(struct abi_values *out, const struct abi_param *params, size_t n,
               const uint8_t *data, size_t len, char *err, size_t errlen)
{
    struct dec d = {data, len, ABI_MAX_TEXT, 0, err, errlen};
    return dec_tuple(&d, out, params, n > ABI_MAX_PARAMS ? ABI_MAX_PARAMS : n, 0);
}

int abi_decode_log(struct abi_values *out, const struct abi_entry *ev, const uint8_t (*topics)[32],
                   size_t ntopics, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    out->n = 0;
    size_t nindexed = 0;
    for (size_t i = 0; i < ev->ninputs; i++) nindexed += ev->inputs[i].indexed;
    size_t first = ev->anonymous ? 0 : 1;
    if (ev->kind != ABI_EVENT || ntopics != first + nindexed ||
        (first && memcmp(topics[0], ev->topic0, 32))) {
        tally_errf(err, errlen, "log does not match event %s", ev->signature);
        return TALLY_EINVAL;
    }
    struct dec d = {data, len, ABI_MAX_TEXT, 0, err, errlen};
    int rc = dec_tuple(&d, out, ev->inputs, ev->ninputs, 1);
    if (rc) return rc;
    size_t t = first;
    for (size_t i = 0; i < ev->ninputs && !rc; i++) {
        if (!ev->inputs[i].indexed) continue;
        struct buf b;
        buf_init(&b, d.budget);
        if (is_dynamic(&ev->inputs[i].type)) {
            rc = put(&b, "keccak256:");
            if (!rc) rc = put_hex(&b, topics[t], 32);
        } else {
            rc = dec_word(&d, &b, &ev->inputs[i].type, topics[t]);
        }
        t++;
        rc = text_of(&out->v[i], &d, &b, rc);
    }
    if (rc) abi_values_free(out);
    return rc;
}

/* ---- formatting ----------------------------------------------------------- */

char *abi_format(const struct abi_entry *e, const struct abi_values *v)
{
    struct buf b;
    buf_init(&b, (size_t)ABI_MAX_TEXT + 64 * 1024);
    int rc = put(&b, e->kind == ABI_CONSTRUCTOR ? "constructor" : e->name);
    if (!rc) rc = put(&b, "(");
    for (size_t i = 0; i < v->n && i < e->ninputs && !rc; i++) {
        if (i) rc = put(&b, ", ");
        if (!rc && e->inputs[i].name[0]) rc = buf_printf(&b, "%s: ", e->inputs[i].name);
        if (!rc) rc = put(&b, v->v[i] ? v->v[i] : "?");
    }
    if (!rc) rc = buf_append(&b, ")", 2);
    if (rc) {
        buf_free(&b);
        return NULL;
    }
    size_t len;
    return (char *)buf_detach(&b, &len);
}

static const char *panic_reason(uint64_t code)
{
    switch (code) {
    case 0x00: return "generic compiler panic";
    case 0x01: return "assertion failed";
    case 0x11: return "arithmetic overflow or underflow";
    case 0x12: return "division or modulo by zero";
    case 0x21: return "invalid enum value";
    case 0x22: return "corrupt storage byte array";
    case 0x31: return "pop on an empty array";
    case 0x32: return "array index out of bounds";
    case 0x41: return "out of memory";
    case 0x51: return "call to a zero-initialized function";
    default: return "unknown panic code";
    }
}

char *abi_format_revert(const struct abi_entry *errors, size_t nerrors, const uint8_t *data,
                        size_t len)
{
    static const uint8_t error_string[4] = {0x08, 0xc3, 0x79, 0xa0};
    static const uint8_t panic[4] = {0x4e, 0x48, 0x7b, 0x71};
    char err[64];
    if (len == 0) return strdup("no reason given");
    if (len >= 4 && !memcmp(data, error_string, 4)) {
        struct abi_type st = {.base = ABI_STRING};
        struct dec d = {data + 4, len - 4, ABI_MAX_TEXT, 1, err, sizeof err};
        struct buf b;
        buf_init(&b, ABI_MAX_TEXT);
        char *s = NULL;
        if (!text_of(&s, &d, &b, dec_value(&d, &b, &st, 0, 0))) return s;
    } else if (len == 36 && !memcmp(data, panic, 4)) {
        u256 code;
        if (!u256_from_be(&code, data + 4, 32)) {
            char hx[67], out[140];
            u256_to_hex(hx, &code);
            snprintf(out, sizeof out, "panic %s (%s)", hx,
                     u256_fits_u64(&code) ? panic_reason(code.w[0]) : "unknown panic code");
            return strdup(out);
        }
    } else if (len >= 4) {
        for (size_t i = 0; i < nerrors; i++) {
            const struct abi_entry *e = &errors[i];
            struct abi_values v;
            if (e->kind != ABI_ERROR || memcmp(e->selector, data, 4)) continue;
            if (abi_decode(&v, e->inputs, e->ninputs, data + 4, len - 4, err, sizeof err)) continue;
            char *s = abi_format(e, &v);
            abi_values_free(&v);
            return s;
        }
    }
    if (len > ABI_MAX_DECODE) len = ABI_MAX_DECODE;
    char *hx = malloc(2 * len + 3);
    if (hx) hex_encode(hx, data, len);
    return hx;
}
