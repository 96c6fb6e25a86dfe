/* tally evm-run: run EVM bytecode cases from a JSON file, each as one
 * depth-0 CALL on a fresh in-memory world (exec/evm/world.h), and print the
 * outcome of each as one JSON line. The differential test against
 * @ethereumjs/evm (tests/e2e/evmdiff.test.mjs) drives it; see
 * docs/evm-diff.md for the case and output formats. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli/cli.h"
#include "exec/evm/world.h"
#include "util/hex.h"

#define RUN_MAX_FILE     ((size_t)64 << 20)  /* input file, bytes */
#define RUN_MAX_GAS      100000000           /* per case: bounds memory (~10 bytes per gas) */
#define RUN_MAX_ACCOUNTS 256                 /* per case, the caller and address included */
#define RUN_STACK        ((size_t)256 << 20) /* depth 1024 needs a few MiB; see docs/evm.md */

/* The fixed block and transaction facts of every case (docs/evm-diff.md). */
#define RUN_NUMBER     1000
#define RUN_TIMESTAMP  1700000000
#define RUN_GAS_LIMIT  30000000
#define RUN_PREVRANDAO 0x5a /* every byte */
static const uint8_t RUN_COINBASE[20] = {[16] = 0xc0, [17] = 0x1b, [18] = 0xa5, [19] = 0xe0};

/* One account of a case; code is malloc()ed, storage points into the JSON. */
struct run_account {
    struct evm_address addr;
    u256 balance;
    uint64_t nonce;
    uint8_t *code;
    size_t code_len;
    const cJSON *storage; /* object slot -> value, may be NULL */
};

struct run_case {
    uint8_t *input;
    size_t input_len;
    int64_t gas;
    u256 value;
    struct evm_address caller, address;
    struct run_account accts[RUN_MAX_ACCOUNTS]; /* [0] caller, [1] address */
    size_t naccts;
};

/* ---- input ---- */

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Hex bytes (optional 0x) into a malloc()ed buffer; NULL s is empty. */
static int parse_bytes(uint8_t **out, size_t *len, const char *s)
{
    return hex_decode_alloc(out, len, s ? s : "");
}

static int parse_addr(struct evm_address *a, const char *s)
{
    return s && !hex_decode_fixed(a->bytes, 20, s) ? 0 : TALLY_EDECODE;
}

/* A quantity: a JSON string (decimal or 0x hex) or a non-negative integral
 * JSON number below 2^53. A missing field is zero. */
static int parse_u256(u256 *out, const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *out = u256_from_u64(0);
    if (!v) return 0;
    if (cJSON_IsString(v)) return u256_parse(out, v->valuestring) ? TALLY_EDECODE : 0;
    if (!cJSON_IsNumber(v)) return TALLY_EDECODE;
    double d = v->valuedouble;
    if (!(d >= 0 && d < 9007199254740992.0) || d != (double)(uint64_t)d) return TALLY_EDECODE;
    *out = u256_from_u64((uint64_t)d);
    return 0;
}

static int parse_u64(uint64_t *out, const cJSON *o, const char *k, uint64_t dflt)
{
    u256 v;
    if (!cJSON_GetObjectItemCaseSensitive(o, k)) {
        *out = dflt;
        return 0;
    }
    if (parse_u256(&v, o, k) || !u256_fits_u64(&v)) return TALLY_EDECODE;
    *out = v.w[0];
    return 0;
}

static int parse_b32(struct evm_bytes32 *b, const char *s)
{
    u256 v;
    if (!s || u256_parse(&v, s)) return TALLY_EDECODE;
    u256_to_be32(b->bytes, &v);
    return 0;
}

static int check_storage(const cJSON *st)
{
    if (!st) return 0;
    if (!cJSON_IsObject(st)) return TALLY_EDECODE;
    const cJSON *e;
    cJSON_ArrayForEach(e, st)
    {
        struct evm_bytes32 k, v;
        if (parse_b32(&k, e->string) || !cJSON_IsString(e) || parse_b32(&v, e->valuestring))
            return TALLY_EDECODE;
    }
    return 0;
}

static void case_free(struct run_case *c)
{
    free(c->input);
    for (size_t i = 0; i < c->naccts; i++) free(c->accts[i].code);
    memset(c, 0, sizeof *c);
}

/* Fill c from case object j; on failure a human reason goes to why and c is
 * freed. Errors: TALLY_EDECODE (bad field), TALLY_ERANGE (over a bound),
 * TALLY_EDUP (an address twice), TALLY_ENOMEM. */
static int case_parse(struct run_case *c, const cJSON *j, char *why, size_t whylen)
{
    int rc;
    memset(c, 0, sizeof *c);
#define BAD(code, ...)                      \
    do {                                    \
        snprintf(why, whylen, __VA_ARGS__); \
        rc = (code);                        \
        goto fail;                          \
    } while (0)
    if (!cJSON_IsObject(j)) BAD(TALLY_EDECODE, "not an object");
    uint64_t gas;
    u256 g;
    if (!cJSON_GetObjectItemCaseSensitive(j, "gas") || parse_u256(&g, j, "gas"))
        BAD(TALLY_EDECODE, "gas: missing or not a quantity");
    if (!u256_fits_u64(&g) || g.w[0] > RUN_MAX_GAS)
        BAD(TALLY_ERANGE, "gas: above the limit of %d", RUN_MAX_GAS);
    gas = g.w[0];
    c->gas = (int64_t)gas;
    if (parse_u256(&c->value, j, "value")) BAD(TALLY_EDECODE, "value: not a quantity");
    if ((rc = parse_bytes(&c->input, &c->input_len, jstr(j, "input"))))
        BAD(rc, "input: %s", rc == TALLY_ENOMEM ? "out of memory" : "bad hex");
    if (cJSON_GetObjectItemCaseSensitive(j, "input") && !jstr(j, "input"))
        BAD(TALLY_EDECODE, "input: not a string");
    if (parse_addr(&c->caller, jstr(j, "caller")))
        BAD(TALLY_EDECODE, "caller: missing or not a 20-byte hex address");
    if (parse_addr(&c->address, jstr(j, "address")))
        BAD(TALLY_EDECODE, "address: missing or not a 20-byte hex address");

    /* [0] the caller: balance, nonce 0, no code. */
    struct run_account *a = &c->accts[c->naccts++];
    a->addr = c->caller;
    if (parse_u256(&a->balance, j, "balance")) BAD(TALLY_EDECODE, "balance: not a quantity");
    /* [1] the address: code, storage, nonce (default 1, a deployed contract). */
    a = &c->accts[c->naccts++];
    a->addr = c->address;
    if (parse_u64(&a->nonce, j, "nonce", 1)) BAD(TALLY_EDECODE, "nonce: not a 64-bit quantity");
    if (!jstr(j, "code")) BAD(TALLY_EDECODE, "code: missing or not a string");
    if ((rc = parse_bytes(&a->code, &a->code_len, jstr(j, "code"))))
        BAD(rc, "code: %s", rc == TALLY_ENOMEM ? "out of memory" : "bad hex");
    a->storage = cJSON_GetObjectItemCaseSensitive(j, "storage");
    if (check_storage(a->storage)) BAD(TALLY_EDECODE, "storage: bad slot or value");

    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "accounts"), *e;
    if (list && !cJSON_IsArray(list)) BAD(TALLY_EDECODE, "accounts: not an array");
    int k = 0;
    cJSON_ArrayForEach(e, list)
    {
        if (c->naccts == RUN_MAX_ACCOUNTS)
            BAD(TALLY_ERANGE, "accounts: more than %d", RUN_MAX_ACCOUNTS - 2);
        a = &c->accts[c->naccts++];
        if (!cJSON_IsObject(e) || parse_addr(&a->addr, jstr(e, "address")))
            BAD(TALLY_EDECODE, "accounts[%d].address: missing or not a 20-byte hex address", k);
        if (parse_u256(&a->balance, e, "balance"))
            BAD(TALLY_EDECODE, "accounts[%d].balance: not a quantity", k);
        if (parse_u64(&a->nonce, e, "nonce", 1))
            BAD(TALLY_EDECODE, "accounts[%d].nonce: not a 64-bit quantity", k);
        if (cJSON_GetObjectItemCaseSensitive(e, "code") && !jstr(e, "code"))
            BAD(TALLY_EDECODE, "accounts[%d].code: not a string", k);
        if ((rc = parse_bytes(&a->code, &a->code_len, jstr(e, "code"))))
            BAD(rc, "accounts[%d].code: %s", k, rc == TALLY_ENOMEM ? "out of memory" : "bad hex");
        a->storage = cJSON_GetObjectItemCaseSensitive(e, "storage");
        if (check_storage(a->storage)) BAD(TALLY_EDECODE, "accounts[%d].storage: bad slot", k);
        k++;
    }
    for (size_t x = 0; x < c->naccts; x++)
        for (size_t y = 0; y < x; y++)
            if (!memcmp(c->accts[x].addr.bytes, c->accts[y].addr.bytes, 20))
                BAD(TALLY_EDUP, "the same address twice (caller, address and accounts)");
    return 0;
#undef BAD
fail:
    case_free(c);
    return rc;
}

/* ---- output ---- */

static void put_hex(const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char buf[4096];
    size_t k = 0;
    fputs("\"0x", stdout);
    for (size_t i = 0; i < n; i++) {
        buf[k++] = digits[b[i] >> 4];
        buf[k++] = digits[b[i] & 15];
        if (k == sizeof buf) {
            fwrite(buf, 1, k, stdout);
            k = 0;
        }
    }
    fwrite(buf, 1, k, stdout);
    putchar('"');
}

static void put_quantity(const struct evm_bytes32 *b)
{
    u256 v;
    char s[67];
    if (u256_from_be(&v, b->bytes, 32)) v = u256_from_u64(0);
    u256_to_hex(s, &v);
    printf("\"%s\"", s);
}

static const char *status_name(enum evm_status s)
{
    switch (s) {
    case EVM_SUCCESS: return "success";
    case EVM_REVERT: return "revert";
    case EVM_OUT_OF_GAS: return "out-of-gas";
    case EVM_INVALID_INSTRUCTION: return "invalid-instruction";
    case EVM_UNDEFINED_INSTRUCTION: return "undefined-instruction";
    case EVM_STACK_OVERFLOW: return "stack-overflow";
    case EVM_STACK_UNDERFLOW: return "stack-underflow";
    case EVM_BAD_JUMP_DESTINATION: return "bad-jump-destination";
    case EVM_INVALID_MEMORY_ACCESS: return "invalid-memory-access";
    case EVM_CALL_DEPTH_EXCEEDED: return "call-depth-exceeded";
    case EVM_STATIC_MODE_VIOLATION: return "static-mode-violation";
    case EVM_PRECOMPILE_FAILURE: return "precompile-failure";
    case EVM_CONTRACT_VALIDATION_FAILURE: return "contract-validation-failure";
    case EVM_ARGUMENT_OUT_OF_RANGE: return "argument-out-of-range";
    case EVM_INSUFFICIENT_BALANCE: return "insufficient-balance";
    case EVM_INTERNAL_ERROR: return "internal-error";
    }
    return "unknown";
}

struct slot_printer {
    int first;
};

static void put_slot(void *arg, const struct evm_bytes32 *key, const struct evm_bytes32 *value)
{
    struct slot_printer *p = arg;
    if (!p->first) putchar(',');
    p->first = 0;
    put_quantity(key);
    putchar(':');
    put_quantity(value);
}

static void put_storage(const struct world *w)
{
    int first = 1;
    fputs("\"storage\":{", stdout);
    for (size_t i = 0; i < world_count(w); i++) {
        const struct world_account *a = world_at(w, i);
        if (!a->present || !world_storage_each(w, i, NULL, NULL)) continue;
        if (!first) putchar(',');
        first = 0;
        put_hex(a->addr.bytes, 20);
        fputs(":{", stdout);
        struct slot_printer p = {1};
        world_storage_each(w, i, put_slot, &p);
        putchar('}');
    }
    putchar('}');
}

/* Every account after the transaction: balance, nonce, code hash. */
static void put_accounts(const struct world *w)
{
    int first = 1;
    fputs("\"accounts\":{", stdout);
    for (size_t i = 0; i < world_count(w); i++) {
        const struct world_account *a = world_at(w, i);
        char bal[67], nonce[19];
        if (!a->present) continue;
        if (!first) putchar(',');
        first = 0;
        put_hex(a->addr.bytes, 20);
        u256_to_hex(bal, &a->balance);
        hex_quantity_from_u64(nonce, a->nonce);
        printf(":{\"balance\":\"%s\",\"nonce\":\"%s\",\"codeHash\":", bal, nonce);
        put_hex(a->code_hash.bytes, 32);
        putchar('}');
    }
    putchar('}');
}

static void put_log(void *arg, const struct evm_address *addr, const struct evm_bytes32 *topics,
                    size_t ntopics, const uint8_t *data, size_t data_len)
{
    int *first = arg;
    fputs(*first ? "{\"address\":" : ",{\"address\":", stdout);
    *first = 0;
    put_hex(addr->bytes, 20);
    fputs(",\"topics\":[", stdout);
    for (size_t t = 0; t < ntopics; t++) {
        if (t) putchar(',');
        put_hex(topics[t].bytes, 32);
    }
    fputs("],\"data\":", stdout);
    put_hex(data, data_len);
    putchar('}');
}

/* ---- one case ---- */

/* Set up the world, run the CALL, print the line. Errors: TALLY_ENOMEM. */
static int case_run(const struct run_case *c)
{
    struct world *w;
    if (world_new(&w)) return TALLY_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < c->naccts && !rc; i++) {
        const struct run_account *a = &c->accts[i];
        rc = world_put_account(w, &a->addr, &a->balance, a->nonce, a->code, a->code_len);
        const cJSON *e;
        cJSON_ArrayForEach(e, a->storage)
        {
            struct evm_bytes32 k, v;
            if (rc || parse_b32(&k, e->string) || parse_b32(&v, e->valuestring)) break;
            rc = world_put_storage(w, &a->addr, &k, &v);
        }
    }
    if (rc) {
        world_free(w);
        return TALLY_ENOMEM;
    }
    struct evm_tx_context ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.origin = c->caller;
    memcpy(ctx.coinbase.bytes, RUN_COINBASE, 20);
    ctx.number = RUN_NUMBER;
    ctx.timestamp = RUN_TIMESTAMP;
    ctx.gas_limit = RUN_GAS_LIMIT;
    memset(ctx.prevrandao.bytes, RUN_PREVRANDAO, 32);
    ctx.chain_id = u256_from_u64(1);
    ctx.blob_base_fee = u256_from_u64(1);

    /* As a transaction would (evmtx_apply): the sender's nonce goes up;
     * sender, recipient, coinbase (EIP-3651) and the precompiles are warm. */
    struct evm_host h = world_host(w);
    world_begin_tx(w, &ctx);
    world_inc_nonce(w, &c->caller);
    h.access_account(w, &c->caller);
    h.access_account(w, &c->address);
    h.access_account(w, &ctx.coinbase);
    for (uint8_t p = 1; p <= 10; p++) {
        struct evm_address a = {{0}};
        a.bytes[19] = p;
        h.access_account(w, &a);
    }
    struct evm_message m = {
        .kind = EVM_CALL,
        .depth = 0,
        .gas = c->gas,
        .recipient = c->address,
        .code_address = c->address,
        .sender = c->caller,
        .input = c->input,
        .input_len = c->input_len,
        .value = c->value,
    };
    struct evm_result res;
    world_call(w, &res, &m);
    if (res.status == EVM_INTERNAL_ERROR || world_failed(w)) {
        evm_result_free(&res);
        world_free(w);
        return TALLY_ENOMEM;
    }

    int64_t left = res.gas_left > 0 ? res.gas_left : 0;
    printf("{\"status\":\"%s\",\"gasUsed\":%lld,\"gasRefund\":%lld,\"returnData\":",
           status_name(res.status), (long long)(c->gas - left), (long long)res.gas_refund);
    put_hex(res.output, res.output_len);
    fputs(",\"logs\":[", stdout);
    int first = 1;
    world_logs(w, &first, put_log);
    putchar(']');
    if (world_used_unsupported(w)) fputs(",\"unsupported\":\"kzg\"", stdout);
    world_end_tx(w); /* EIP-6780 and EIP-161 deletions */
    putchar(',');
    put_storage(w);
    putchar(',');
    put_accounts(w);
    fputs("}\n", stdout);
    evm_result_free(&res);
    world_free(w);
    return 0;
}

/* ---- the command ---- */

/* The whole of path ("-": stdin), at most RUN_MAX_FILE bytes, NUL-ended,
 * into *out (malloc()ed, the caller frees it). On failure a human reason
 * goes to why. Errors: TALLY_EIO, TALLY_ETOOBIG, TALLY_ENOMEM. */
static int read_all(char **out, size_t *len, const char *path, char *why, size_t whylen)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        snprintf(why, whylen, "%s", strerror(errno));
        return TALLY_EIO;
    }
    struct stat st;
    int rc = 0;
    if (f != stdin && !fstat(fileno(f), &st) && (uint64_t)st.st_size > RUN_MAX_FILE)
        rc = TALLY_ETOOBIG;
    size_t cap = 1 << 16, n = 0;
    char *buf = rc ? NULL : malloc(cap + 1);
    if (!rc && !buf) rc = TALLY_ENOMEM;
    while (!rc) {
        if (n == cap) {
            if (cap > RUN_MAX_FILE) { /* read RUN_MAX_FILE + 1 bytes: too big */
                rc = TALLY_ETOOBIG;
                break;
            }
            size_t ncap = cap * 2 > RUN_MAX_FILE ? RUN_MAX_FILE + 1 : cap * 2;
            char *b = realloc(buf, ncap + 1);
            if (!b) {
                rc = TALLY_ENOMEM;
                break;
            }
            buf = b;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (!got) {
            if (ferror(f)) {
                snprintf(why, whylen, "read error");
                rc = TALLY_EIO;
            }
            break;
        }
    }
    if (f != stdin) fclose(f);
    if (rc == TALLY_ETOOBIG) snprintf(why, whylen, "larger than 64 MiB");
    if (rc == TALLY_ENOMEM) snprintf(why, whylen, "out of memory");
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

struct run_job {
    const cJSON *cases;
    int rc;
};

static void *run_all(void *arg)
{
    struct run_job *job = arg;
    struct run_case *c = calloc(1, sizeof *c);
    if (!c) {
        job->rc = EXIT_FAIL;
        return NULL;
    }
    const cJSON *j;
    int i = 0;
    cJSON_ArrayForEach(j, job->cases)
    {
        char why[256];
        if (case_parse(c, j, why, sizeof why) || case_run(c)) {
            fprintf(stderr, "tally evm-run: case %d: out of memory\n", i);
            job->rc = EXIT_FAIL;
            break;
        }
        case_free(c);
        i++;
    }
    case_free(c);
    free(c);
    fflush(stdout);
    return NULL;
}

int cmd_evm_run(int argc, char **argv)
{
    if (argc != 2 || cli_is_help(argv[1])) {
        FILE *f = argc == 2 ? stdout : stderr;
        fprintf(f, "usage: tally evm-run FILE\n"
                   "Run each case of a JSON array (\"-\" reads stdin; at most 64 MiB) as one\n"
                   "depth-0 CALL on a fresh in-memory world and print one JSON line per case:\n"
                   "status, gasUsed, gasRefund, returnData, logs, storage, accounts.\n"
                   "See docs/evm-diff.md.\n");
        return argc == 2 ? EXIT_OK : EXIT_USAGE;
    }
    char *text;
    size_t len;
    char why[256] = "";
    int rc = read_all(&text, &len, argv[1], why, sizeof why);
    if (rc) {
        fprintf(stderr, "tally evm-run: %s: %s\n", argv[1], why);
        return rc == TALLY_ENOMEM ? EXIT_FAIL : EXIT_USAGE;
    }
    cJSON *doc = cJSON_ParseWithLength(text, len);
    free(text);
    if (!doc || !cJSON_IsArray(doc)) {
        fprintf(stderr, "tally evm-run: %s: not a JSON array of cases\n", argv[1]);
        cJSON_Delete(doc);
        return EXIT_USAGE;
    }
    /* Check every case before running any, so a bad file prints nothing. */
    struct run_case *c = calloc(1, sizeof *c);
    if (!c) {
        cJSON_Delete(doc);
        return EXIT_FAIL;
    }
    const cJSON *j;
    int i = 0;
    rc = 0;
    cJSON_ArrayForEach(j, doc)
    {
        if ((rc = case_parse(c, j, why, sizeof why))) {
            fprintf(stderr, "tally evm-run: %s: case %d: %s\n", argv[1], i, why);
            break;
        }
        case_free(c);
        i++;
    }
    free(c);
    if (rc) {
        cJSON_Delete(doc);
        return rc == TALLY_ENOMEM ? EXIT_FAIL : EXIT_USAGE;
    }
    /* Run on a thread with a large stack: nested frames recurse in C. */
    struct run_job job = {doc, EXIT_OK};
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr)) {
        cJSON_Delete(doc);
        return EXIT_FAIL;
    }
    if (pthread_attr_setstacksize(&attr, RUN_STACK) || pthread_create(&t, &attr, run_all, &job)) {
        fprintf(stderr, "tally evm-run: cannot start the execution thread\n");
        pthread_attr_destroy(&attr);
        cJSON_Delete(doc);
        return EXIT_FAIL;
    }
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    cJSON_Delete(doc);
    return job.rc;
}
