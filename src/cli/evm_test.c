/* tally evm-test: run ethereum-tests BlockchainTests (network Cancun) on the
 * in-memory world (exec/evm/world.h) and compare the full post state. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "chain/tx.h"
#include "cli/cli.h"
#include "exec/evm/evmtx.h"
#include "exec/evm/world.h"
#include "util/hex.h"

int cmd_evm_test(int argc, char **argv);

enum outcome { T_PASS, T_FAIL, T_SKIP };

#define MAX_SETS 64
struct set_count {
    char name[64];
    unsigned pass, fail, skip;
};

struct runner {
    struct set_count sets[MAX_SETS];
    size_t nsets;
    unsigned pass, fail, skip;
    int verbose;
};

#define REASON_MAX 512

/* ---- JSON helpers ---- */

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int ju256(u256 *out, const cJSON *o, const char *k)
{
    const char *s = jstr(o, k);
    if (!s) return -1;
    return u256_parse(out, s) ? -1 : 0;
}

static int ju64(uint64_t *out, const cJSON *o, const char *k)
{
    u256 v;
    if (ju256(&v, o, k) || !u256_fits_u64(&v)) return -1;
    *out = v.w[0];
    return 0;
}

static int jaddr(struct evm_address *a, const char *s)
{
    return s && !hex_decode_fixed(a->bytes, 20, s) ? 0 : -1;
}

static int jb32(struct evm_bytes32 *b, const char *s)
{
    u256 v;
    if (!s || u256_parse(&v, s)) return -1;
    u256_to_be32(b->bytes, &v);
    return 0;
}

/* Hex bytes into a malloc()ed buffer (NULL for none); -1 if s is missing or
 * malformed. */
static int jbytes(uint8_t **out, size_t *len, const char *s)
{
    *out = NULL;
    *len = 0;
    return s && !hex_decode_alloc(out, len, s) ? 0 : -1;
}

/* ---- the world from `pre` ---- */

static int load_pre(struct world **out, const cJSON *pre)
{
    struct world *w;
    if (world_new(&w)) return -1;
    const cJSON *acc;
    cJSON_ArrayForEach(acc, pre)
    {
        struct evm_address a;
        u256 bal;
        uint64_t nonce;
        uint8_t *code;
        size_t code_len;
        if (jaddr(&a, acc->string) || ju256(&bal, acc, "balance") || ju64(&nonce, acc, "nonce") ||
            jbytes(&code, &code_len, jstr(acc, "code")))
            goto fail;
        int rc = world_put_account(w, &a, &bal, nonce, code, code_len);
        free(code);
        if (rc) goto fail;
        const cJSON *st;
        cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(acc, "storage"))
        {
            struct evm_bytes32 k, v;
            if (jb32(&k, st->string) || jb32(&v, cJSON_IsString(st) ? st->valuestring : NULL) ||
                world_put_storage(w, &a, &k, &v))
                goto fail;
        }
    }
    *out = w;
    return 0;
fail:
    world_free(w);
    return -1;
}

/* ---- transactions from JSON ---- */

struct jtx {
    struct evmtx tx;
    uint8_t *data;
    struct evmtx_access *access;
    struct evm_bytes32 *keys;
};

static void jtx_free(struct jtx *t)
{
    free(t->data);
    free(t->access);
    free(t->keys);
}

/* raw: the signed encoding, used to recover the sender when the JSON has
 * none. Returns 0, -1 for a transaction that is invalid as encoded, -2 for
 * an unsupported one (reason in why). */
static int jtx_parse(struct jtx *t, const cJSON *j, const char *raw, char *why, size_t whylen)
{
    memset(t, 0, sizeof *t);
    struct evmtx *tx = &t->tx;
    uint64_t type = 0;
    if (jstr(j, "type") && ju64(&type, j, "type")) return -1;
    if (type == 3) {
        snprintf(why, whylen, "blob transaction (type 3) not supported");
        return -2;
    }
    if (type > 2) {
        snprintf(why, whylen, "transaction type %llu not supported", (unsigned long long)type);
        return -2;
    }
    tx->type = (uint8_t)type;
    if (ju64(&tx->nonce, j, "nonce") || ju64(&tx->gas_limit, j, "gasLimit") ||
        ju256(&tx->value, j, "value") || jbytes(&t->data, &tx->data_len, jstr(j, "data"))) {
        snprintf(why, whylen, "bad transaction field");
        return -1;
    }
    tx->data = t->data;
    if (type == 2) {
        if (ju256(&tx->max_fee, j, "maxFeePerGas") ||
            ju256(&tx->max_priority_fee, j, "maxPriorityFeePerGas"))
            return -1;
    } else {
        if (ju256(&tx->max_fee, j, "gasPrice")) return -1;
        tx->max_priority_fee = tx->max_fee;
    }
    if (type) {
        uint64_t cid;
        if (ju64(&cid, j, "chainId") || cid != 1) {
            snprintf(why, whylen, "wrong chain id");
            return -1;
        }
    }
    const char *to = jstr(j, "to");
    if (to && strlen(to) > 2) {
        if (jaddr(&tx->to, to)) return -1;
        tx->has_to = 1;
    }
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(j, "accessList");
    size_t na = (size_t)cJSON_GetArraySize(al), nk = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, al) nk +=
        (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "storageKeys"));
    t->access = calloc(na + 1, sizeof *t->access);
    t->keys = calloc(nk + 1, sizeof *t->keys);
    if (!t->access || !t->keys) return -1;
    size_t ia = 0, ik = 0;
    cJSON_ArrayForEach(e, al)
    {
        struct evmtx_access *x = &t->access[ia++];
        if (jaddr(&x->addr, jstr(e, "address"))) return -1;
        x->keys = &t->keys[ik];
        const cJSON *k;
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(e, "storageKeys"))
        {
            if (jb32(&t->keys[ik++], cJSON_IsString(k) ? k->valuestring : NULL)) return -1;
            x->nkeys++;
        }
    }
    tx->access = t->access;
    tx->naccess = na;
    if (jstr(j, "sender")) return jaddr(&tx->sender, jstr(j, "sender"));
    /* No sender given (blocks the test expects to be rejected): recover it
     * from the signed encoding. */
    uint8_t *rb;
    size_t rlen;
    struct tx *dec = NULL;
    if (!raw || jbytes(&rb, &rlen, raw)) {
        snprintf(why, whylen, "no sender and no raw transaction");
        return -1;
    }
    int rc = tx_decode(&dec, rb, rlen, why, whylen);
    free(rb);
    if (!rc) rc = tx_recover_sender(dec);
    if (!rc)
        memcpy(tx->sender.bytes, dec->sender, 20);
    else if (!why[0])
        snprintf(why, whylen, "%s", tally_strerror(rc));
    tx_free(dec);
    return rc ? -1 : 0;
}

/* ---- blocks ---- */

/* EIP-4844 fake_exponential(1, excess, 3338477). */
static u256 blob_base_fee(uint64_t excess)
{
    unsigned __int128 num = 3338477, out = 0, acc = 1 * (unsigned __int128)num;
    for (unsigned i = 1; acc > 0 && i < 1000; i++) {
        out += acc;
        acc = acc * excess / (num * i);
    }
    unsigned __int128 r = out / num;
    u256 v = {{(uint64_t)r, (uint64_t)(r >> 64), 0, 0}};
    return v;
}

/* Apply one block; 0 valid, -1 invalid (reason), -2 unsupported (reason). */
static int apply_block(struct world *w, const cJSON *b, char *why, size_t whylen)
{
    const cJSON *blk = cJSON_GetObjectItemCaseSensitive(b, "rlp_decoded");
    if (!blk) blk = b;
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(blk, "blockHeader");
    if (!hd) {
        snprintf(why, whylen, "block without a decodable header");
        return -1;
    }
    struct evm_tx_context ctx;
    memset(&ctx, 0, sizeof ctx);
    uint64_t number, ts, gl, excess = 0;
    struct evm_bytes32 parent, root = {{0}};
    if (jaddr(&ctx.coinbase, jstr(hd, "coinbase")) || ju64(&number, hd, "number") ||
        ju64(&ts, hd, "timestamp") || ju64(&gl, hd, "gasLimit") ||
        ju256(&ctx.base_fee, hd, "baseFeePerGas") || jb32(&ctx.prevrandao, jstr(hd, "mixHash")) ||
        jb32(&parent, jstr(hd, "parentHash"))) {
        snprintf(why, whylen, "bad block header");
        return -1;
    }
    if (jstr(hd, "excessBlobGas") && ju64(&excess, hd, "excessBlobGas")) return -1;
    if (jstr(hd, "parentBeaconBlockRoot") && jb32(&root, jstr(hd, "parentBeaconBlockRoot")))
        return -1;
    ctx.number = (int64_t)number;
    ctx.timestamp = (int64_t)ts;
    ctx.gas_limit = (int64_t)gl;
    ctx.chain_id = u256_from_u64(1);
    ctx.blob_base_fee = blob_base_fee(excess);
    if (number) world_set_block_hash(w, (int64_t)number - 1, &parent);
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(blk, "withdrawals")) > 0) {
        snprintf(why, whylen, "withdrawals not supported");
        return -2;
    }
    if (evmtx_beacon_root(w, &ctx, &root)) {
        snprintf(why, whylen, "out of memory");
        return -2;
    }
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(b, "transactionSequence");
    uint64_t used = 0;
    int i = 0;
    const cJSON *j;
    cJSON_ArrayForEach(j, cJSON_GetObjectItemCaseSensitive(blk, "transactions"))
    {
        struct jtx t;
        const char *raw = jstr(cJSON_GetArrayItem(seq, i), "rawBytes");
        i++;
        why[0] = 0;
        int rc = jtx_parse(&t, j, raw, why, whylen);
        if (rc) {
            jtx_free(&t);
            if (!why[0]) snprintf(why, whylen, "transaction %d: bad encoding", i);
            return rc;
        }
        struct evmtx_result r;
        rc = evmtx_apply(w, &r, &t.tx, &ctx, gl - used, why, whylen);
        jtx_free(&t);
        if (rc == TALLY_ENOMEM) return -2;
        if (rc) return -1;
        free(r.output);
        used += r.gas_used;
    }
    return 0;
}

/* ---- post-state comparison ---- */

static void add_reason(char *why, size_t whylen, const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(why);
    if (n + 8 >= whylen) return;
    snprintf(why + n, whylen - n, fmt, a, b);
}

static int compare_post(struct world *w, const cJSON *post, char *why, size_t whylen)
{
    int bad = 0;
    why[0] = 0;
    const cJSON *acc;
    cJSON_ArrayForEach(acc, post)
    {
        struct evm_address a;
        if (jaddr(&a, acc->string)) return -1;
        const struct world_account *x = world_get(w, &a);
        if (!x) {
            add_reason(why, whylen, "%s missing%s; ", acc->string, "");
            bad = 1;
            continue;
        }
        u256 bal;
        uint64_t nonce;
        uint8_t *code;
        size_t code_len;
        char have[80];
        if (ju256(&bal, acc, "balance") || ju64(&nonce, acc, "nonce") ||
            jbytes(&code, &code_len, jstr(acc, "code")))
            return -1;
        if (u256_cmp(&bal, &x->balance)) {
            u256_to_hex(have, &x->balance);
            add_reason(why, whylen, "%s balance %s", acc->string, have);
            add_reason(why, whylen, " want %s%s; ", jstr(acc, "balance"), "");
            bad = 1;
        }
        if (nonce != x->nonce) {
            snprintf(have, sizeof have, "%llu", (unsigned long long)x->nonce);
            add_reason(why, whylen, "%s nonce %s; ", acc->string, have);
            bad = 1;
        }
        if (code_len != x->code_len || (code_len && memcmp(code, x->code, code_len))) {
            add_reason(why, whylen, "%s code differs%s; ", acc->string, "");
            bad = 1;
        }
        free(code);
        size_t want_nz = 0;
        const cJSON *st;
        cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(acc, "storage"))
        {
            struct evm_bytes32 k, v, got;
            if (jb32(&k, st->string) || jb32(&v, st->valuestring)) return -1;
            got = world_storage(w, &a, &k);
            u256 zero = u256_from_u64(0), vv;
            if (u256_from_be(&vv, v.bytes, 32)) return -1;
            if (u256_cmp(&vv, &zero)) want_nz++;
            if (memcmp(got.bytes, v.bytes, 32)) {
                u256 g;
                if (u256_from_be(&g, got.bytes, 32)) return -1;
                u256_to_hex(have, &g);
                add_reason(why, whylen, "%s [%s] = ", acc->string, st->string);
                add_reason(why, whylen, "%s want %s; ", have, st->valuestring);
                bad = 1;
            }
        }
        for (size_t i = 0; i < world_count(w); i++) {
            if (world_at(w, i) != x) continue;
            if (world_storage_each(w, i, NULL, NULL) != want_nz) {
                add_reason(why, whylen, "%s has extra storage slots%s; ", acc->string, "");
                bad = 1;
            }
        }
    }
    for (size_t i = 0; i < world_count(w); i++) {
        const struct world_account *x = world_at(w, i);
        if (!x->present) continue;
        char hx[43];
        hex_encode(hx, x->addr.bytes, 20);
        if (!cJSON_GetObjectItemCaseSensitive(post, hx)) {
            add_reason(why, whylen, "%s exists but should not%s; ", hx, "");
            bad = 1;
        }
    }
    return bad;
}

/* ---- one test ---- */

static enum outcome run_test(const cJSON *t, char *why, size_t whylen)
{
    const char *net = jstr(t, "network");
    if (!net || strcmp(net, "Cancun")) {
        snprintf(why, whylen, "network %s (only Cancun)", net ? net : "?");
        return T_SKIP;
    }
    const cJSON *post = cJSON_GetObjectItemCaseSensitive(t, "postState");
    if (!post) {
        snprintf(why, whylen, "no postState (only postStateHash)");
        return T_SKIP;
    }
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(t, "pre");
    const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(t, "blocks");
    int n = cJSON_GetArraySize(blocks);
    char *valid = calloc((size_t)n + 1, 1);
    struct world *w = NULL;
    struct evm_bytes32 gh;
    enum outcome res = T_FAIL;
    if (!valid || load_pre(&w, pre) ||
        jb32(&gh, jstr(cJSON_GetObjectItemCaseSensitive(t, "genesisBlockHeader"), "hash"))) {
        snprintf(why, whylen, "cannot load pre state");
        goto out;
    }
    world_set_block_hash(w, 0, &gh);
    for (int i = 0; i < n; i++) {
        const cJSON *b = cJSON_GetArrayItem(blocks, i);
        const char *expect = jstr(b, "expectException");
        char bwhy[REASON_MAX] = "";
        int rc = apply_block(w, b, bwhy, sizeof bwhy);
        if (world_used_unsupported(w)) {
            snprintf(bwhy, sizeof bwhy, "calls the KZG precompile 0x0a (not implemented)");
            rc = -2;
        }
        if (rc == -2) {
            snprintf(why, whylen, "%s", bwhy);
            res = T_SKIP;
            goto out;
        }
        if (rc == 0) {
            valid[i] = 1;
            if (expect) {
                snprintf(why, whylen, "block %d valid, expected %s", i + 1, expect);
                goto out;
            }
            continue;
        }
        if (!expect) {
            snprintf(why, whylen, "block %d rejected: %s", i + 1, bwhy);
            goto out;
        }
        /* Rejected as expected: rebuild the state without this block. */
        world_free(w);
        w = NULL;
        if (load_pre(&w, pre)) goto out;
        world_set_block_hash(w, 0, &gh);
        for (int k = 0; k < i; k++)
            if (valid[k] && apply_block(w, cJSON_GetArrayItem(blocks, k), bwhy, sizeof bwhy))
                goto out;
    }
    int c = compare_post(w, post, why, whylen);
    if (c < 0) snprintf(why, whylen, "bad postState");
    res = c ? T_FAIL : T_PASS;
out:
    world_free(w);
    free(valid);
    return res;
}

/* ---- files and directories ---- */

static struct set_count *set_of(struct runner *r, const char *path)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *name = ".";
    if (slash) {
        *slash = 0;
        slash = strrchr(dir, '/');
        name = slash ? slash + 1 : dir;
    }
    for (size_t i = 0; i < r->nsets; i++)
        if (!strcmp(r->sets[i].name, name)) return &r->sets[i];
    if (r->nsets == MAX_SETS) return &r->sets[MAX_SETS - 1];
    struct set_count *s = &r->sets[r->nsets++];
    size_t l = strlen(name) < sizeof s->name - 1 ? strlen(name) : sizeof s->name - 1;
    memcpy(s->name, name, l);
    s->name[l] = 0;
    return s;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                buf[n] = 0;
                *len = (size_t)n;
            }
        }
    }
    fclose(f);
    return buf;
}

static void run_file(struct runner *r, const char *path)
{
    struct set_count *s = set_of(r, path);
    size_t len;
    char *text = read_file(path, &len);
    cJSON *doc = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    if (!doc) {
        printf("%s: cannot read or parse\n", path);
        s->fail++;
        r->fail++;
        return;
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, doc)
    {
        char why[REASON_MAX] = "";
        enum outcome o = run_test(t, why, sizeof why);
        if (o == T_PASS) {
            s->pass++;
            r->pass++;
        } else if (o == T_FAIL) {
            s->fail++;
            r->fail++;
            printf("FAIL %s: %s: %s\n", path, t->string, why);
        } else {
            s->skip++;
            r->skip++;
            if (r->verbose) printf("SKIP %s: %s: %s\n", path, t->string, why);
        }
    }
    cJSON_Delete(doc);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_path(struct runner *r, const char *path)
{
    struct stat st;
    if (stat(path, &st)) {
        printf("%s: not found\n", path);
        r->fail++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(r, path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) break;
            names = nn;
        }
        size_t l = strlen(path) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(l))) break;
        snprintf(names[n++], l, "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (stat(names[i], &st) == 0 &&
            (S_ISDIR(st.st_mode) || (l > 5 && !strcmp(names[i] + l - 5, ".json"))))
            run_path(r, names[i]);
        free(names[i]);
    }
    free(names);
}

int cmd_evm_test(int argc, char **argv)
{
    struct runner *r = calloc(1, sizeof *r);
    int npaths = 0;
    if (!r) return EXIT_FAIL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: tally evm-test [-v] PATH...\n"
                   "Run ethereum-tests BlockchainTests JSON files (Cancun) on an in-memory\n"
                   "world; directories are searched recursively. -v lists skipped tests.\n");
            free(r);
            return EXIT_OK;
        }
        if (!strcmp(argv[i], "-v")) r->verbose = 1;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v")) continue;
        npaths++;
        run_path(r, argv[i]);
    }
    if (!npaths) {
        fprintf(stderr, "usage: tally evm-test [-v] PATH...\n");
        free(r);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < r->nsets; i++)
        printf("%-24s %5u passed, %5u failed, %5u skipped\n", r->sets[i].name, r->sets[i].pass,
               r->sets[i].fail, r->sets[i].skip);
    printf("%u passed, %u failed (%u skipped)\n", r->pass, r->fail, r->skip);
    int rc = r->fail ? EXIT_FAIL : EXIT_OK;
    free(r);
    return rc;
}
