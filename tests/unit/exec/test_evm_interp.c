/* EVM interpreter: hand-assembled programs against an in-memory test host.
 *
 * The host keeps accounts (balance, nonce, code, storage with original
 * values), warm sets, transient storage, logs and self-destructs in small
 * arrays, with a journal so a failed frame's changes are undone. Its call()
 * runs evm_execute recursively for CALL-family messages and runs initcode
 * for CREATE/CREATE2, storing the returned code.
 *
 * Gas figures in comments are worked out by hand from the yellow paper and
 * the EIPs (2929 warm/cold, 2200/3529 SSTORE, 3860 initcode, 150 63/64).
 * The randomized 256-bit test prints its seed; TALLY_SEED=<n> replays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "crypto/keccak.h"
#include "exec/evm/evm.h"
#include "exec/evm/evm_int.h"
#include "util/hex.h"

/* ---- test host ---- */

#define MAX_ACCTS   64
#define MAX_SLOTS   1024
#define MAX_WARM    2048
#define MAX_TSLOTS  32
#define MAX_LOGS    64
#define MAX_JOURNAL 8192

struct slot {
    struct evm_bytes32 key, val, orig;
};

struct acct {
    int used;
    struct evm_address addr;
    u256 balance;
    uint64_t nonce;
    uint8_t *code;
    size_t code_len;
    struct slot slots[MAX_SLOTS];
    int nslots;
};

struct tslot {
    struct evm_address addr;
    struct evm_bytes32 key, val;
};

struct logrec {
    struct evm_address addr;
    uint8_t data[64];
    size_t len, ntopics;
    struct evm_bytes32 topics[4];
};

enum jkind { J_STORAGE, J_BALANCE, J_NONCE, J_CREATE, J_CODE };

struct jentry {
    enum jkind kind;
    int acct, slot;
    struct evm_bytes32 old_val;
    u256 old_balance;
    uint64_t old_nonce;
};

struct world {
    struct acct accts[MAX_ACCTS];
    struct evm_address warm_accts[MAX_WARM];
    int nwarm_accts;
    struct {
        struct evm_address addr;
        struct evm_bytes32 key;
    } warm_slots[MAX_WARM];
    int nwarm_slots;
    struct tslot tslots[MAX_TSLOTS]; /* append-only; the last entry for a key wins */
    int ntslots;
    struct logrec logs[MAX_LOGS];
    int nlogs;
    struct evm_address destructed[4];
    int ndestructed;
    struct jentry journal[MAX_JOURNAL];
    int njournal;
    struct evm_tx_context tx;
    struct evm_bytes32 blob_hashes[2];
    int calls;     /* host->call invocations */
    int max_depth; /* deepest message seen by call() */
    int overflow;  /* a storage write found the slot array full */
};

struct snap {
    int njournal, nwarm_accts, nwarm_slots, ntslots, nlogs, ndestructed;
};

static int addr_eq(const struct evm_address *a, const struct evm_address *b)
{
    return memcmp(a->bytes, b->bytes, 20) == 0;
}

static int b32_eq(const struct evm_bytes32 *a, const struct evm_bytes32 *b)
{
    return memcmp(a->bytes, b->bytes, 32) == 0;
}

static struct evm_address ADDR(uint8_t last) {
    struct evm_address a;
    memset(&a, 0, sizeof a);
    a.bytes[0] = 0xaa;
    a.bytes[19] = last;
    return a;
}

static struct evm_bytes32
B32(uint64_t v) {
    struct evm_bytes32 b;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < 8; i++) b.bytes[31 - i] = (uint8_t)(v >> (8 * i));
    return b;
}

static u256
U(uint64_t v)
{
    return u256_from_u64(v);
}

static u256 UH(const char *hex)
{
    u256 r;
    if (u256_parse(&r, hex)) fail_msg("bad u256 %s", hex);
    return r;
}

static struct acct *find(struct world *w, const struct evm_address *a)
{
    for (int i = 0; i < MAX_ACCTS; i++)
        if (w->accts[i].used && addr_eq(&w->accts[i].addr, a)) return &w->accts[i];
    return NULL;
}

static void jpush(struct world *w, struct jentry e)
{
    assert_true(w->njournal < MAX_JOURNAL);
    w->journal[w->njournal++] = e;
}

static struct acct *get_or_create(struct world *w, const struct evm_address *a)
{
    struct acct *x = find(w, a);
    if (x) return x;
    for (int i = 0; i < MAX_ACCTS; i++) {
        if (!w->accts[i].used) {
            memset(&w->accts[i], 0, sizeof w->accts[i]);
            w->accts[i].used = 1;
            w->accts[i].addr = *a;
            jpush(w, (struct jentry){.kind = J_CREATE, .acct = i});
            return &w->accts[i];
        }
    }
    fail_msg("test host: too many accounts");
    return NULL;
}

static struct snap snapshot(struct world *w)
{
    struct snap s = {w->njournal, w->nwarm_accts, w->nwarm_slots,
                     w->ntslots,  w->nlogs,       w->ndestructed};
    return s;
}

static void revert_to(struct world *w, const struct snap *s)
{
    while (w->njournal > s->njournal) {
        struct jentry *e = &w->journal[--w->njournal];
        struct acct *x = &w->accts[e->acct];
        switch (e->kind) {
        case J_STORAGE: x->slots[e->slot].val = e->old_val; break;
        case J_BALANCE: x->balance = e->old_balance; break;
        case J_NONCE: x->nonce = e->old_nonce; break;
        case J_CODE:
            free(x->code);
            x->code = NULL;
            x->code_len = 0;
            break;
        case J_CREATE:
            free(x->code);
            memset(x, 0, sizeof *x);
            break;
        }
    }
    w->nwarm_accts = s->nwarm_accts;
    w->nwarm_slots = s->nwarm_slots;
    w->ntslots = s->ntslots;
    w->nlogs = s->nlogs;
    w->ndestructed = s->ndestructed;
}

static void set_balance(struct world *w, struct acct *x, u256 v)
{
    jpush(w, (struct jentry){
                 .kind = J_BALANCE, .acct = (int)(x - w->accts), .old_balance = x->balance});
    x->balance = v;
}

static struct slot *find_slot(struct acct *x, const struct evm_bytes32 *key)
{
    for (int i = 0; i < x->nslots; i++)
        if (b32_eq(&x->slots[i].key, key)) return &x->slots[i];
    return NULL;
}

static int h_account_exists(void *ctx, const struct evm_address *addr)
{
    struct acct *x = find(ctx, addr);
    return x && (x->nonce || !u256_is_zero(&x->balance) || x->code_len);
}

static struct evm_bytes32 h_get_storage(void *ctx, const struct evm_address *addr,
                                        const struct evm_bytes32 *key)
{
    struct acct *x = find(ctx, addr);
    struct slot *s = x ? find_slot(x, key) : NULL;
    return s ? s->val : B32(0);
}

static enum evm_storage_status h_set_storage(void *ctx, const struct evm_address *addr,
                                             const struct evm_bytes32 *key,
                                             const struct evm_bytes32 *value)
{
    struct world *w = ctx;
    struct acct *x = get_or_create(w, addr);
    struct slot *s = find_slot(x, key);
    if (!s && x->nslots == MAX_SLOTS) { /* only big ethereum-tests vectors get here */
        w->overflow = 1;
        return EVM_STORAGE_ASSIGNED;
    }
    if (!s) {
        s = &x->slots[x->nslots++];
        s->key = *key;
        s->val = s->orig = B32(0);
    }
    enum evm_storage_status st = evm_storage_status(&s->orig, &s->val, value);
    jpush(w, (struct jentry){.kind = J_STORAGE,
                             .acct = (int)(x - w->accts),
                             .slot = (int)(s - x->slots),
                             .old_val = s->val});
    s->val = *value;
    return st;
}

static u256 h_get_balance(void *ctx, const struct evm_address *addr)
{
    struct acct *x = find(ctx, addr);
    return x ? x->balance : U(0);
}

static size_t h_get_code_size(void *ctx, const struct evm_address *addr)
{
    struct acct *x = find(ctx, addr);
    return x ? x->code_len : 0;
}

static struct evm_bytes32 h_get_code_hash(void *ctx, const struct evm_address *addr)
{
    struct evm_bytes32 h = B32(0);
    if (!h_account_exists(ctx, addr)) return h;
    struct acct *x = find(ctx, addr);
    keccak256(h.bytes, x->code ? x->code : h.bytes, x->code_len);
    return h;
}

static size_t h_copy_code(void *ctx, const struct evm_address *addr, size_t off, uint8_t *buf,
                          size_t len)
{
    struct acct *x = find(ctx, addr);
    if (!x || off >= x->code_len) return 0;
    size_t n = x->code_len - off < len ? x->code_len - off : len;
    memcpy(buf, x->code + off, n);
    return n;
}

static int h_selfdestruct(void *ctx, const struct evm_address *addr, const struct evm_address *ben)
{
    struct world *w = ctx;
    struct acct *x = get_or_create(w, addr), *b = get_or_create(w, ben);
    u256 sum;
    u256_add(&sum, &b->balance, &x->balance);
    set_balance(w, x, U(0));
    if (x != b) set_balance(w, b, sum);
    assert_true(w->ndestructed < 4);
    w->destructed[w->ndestructed++] = *addr;
    return 1;
}

static const struct evm_tx_context *h_get_tx_context(void *ctx)
{
    return &((struct world *)ctx)->tx;
}

static struct evm_bytes32 h_get_block_hash(void *ctx, int64_t number)
{
    return B32(0xb10c0000u + (uint64_t)number);
}

static void h_emit_log(void *ctx, const struct evm_address *addr, const uint8_t *data, size_t len,
                       const struct evm_bytes32 topics[], size_t ntopics)
{
    struct world *w = ctx;
    assert_true(w->nlogs < MAX_LOGS);
    struct logrec *l = &w->logs[w->nlogs++];
    l->addr = *addr;
    l->len = len;
    if (len) memcpy(l->data, data, len < sizeof l->data ? len : sizeof l->data);
    l->ntopics = ntopics;
    memcpy(l->topics, topics, ntopics * sizeof topics[0]);
}

static enum evm_access_status h_access_account(void *ctx, const struct evm_address *addr)
{
    struct world *w = ctx;
    for (int i = 0; i < w->nwarm_accts; i++)
        if (addr_eq(&w->warm_accts[i], addr)) return EVM_ACCESS_WARM;
    assert_true(w->nwarm_accts < MAX_WARM);
    w->warm_accts[w->nwarm_accts++] = *addr;
    return EVM_ACCESS_COLD;
}

static enum evm_access_status h_access_storage(void *ctx, const struct evm_address *addr,
                                               const struct evm_bytes32 *key)
{
    struct world *w = ctx;
    for (int i = 0; i < w->nwarm_slots; i++)
        if (addr_eq(&w->warm_slots[i].addr, addr) && b32_eq(&w->warm_slots[i].key, key))
            return EVM_ACCESS_WARM;
    assert_true(w->nwarm_slots < MAX_WARM);
    w->warm_slots[w->nwarm_slots].addr = *addr;
    w->warm_slots[w->nwarm_slots++].key = *key;
    return EVM_ACCESS_COLD;
}

static struct evm_bytes32 h_get_tstore(void *ctx, const struct evm_address *addr,
                                       const struct evm_bytes32 *key)
{
    struct world *w = ctx;
    for (int i = w->ntslots - 1; i >= 0; i--)
        if (addr_eq(&w->tslots[i].addr, addr) && b32_eq(&w->tslots[i].key, key))
            return w->tslots[i].val;
    return B32(0);
}

static void h_set_tstore(void *ctx, const struct evm_address *addr, const struct evm_bytes32 *key,
                         const struct evm_bytes32 *value)
{
    struct world *w = ctx;
    assert_true(w->ntslots < MAX_TSLOTS);
    w->tslots[w->ntslots++] = (struct tslot){*addr, *key, *value};
}

static void h_call(void *ctx, struct evm_result *out, const struct evm_message *msg);

static const struct evm_host test_host_table = {
    .account_exists = h_account_exists,
    .get_storage = h_get_storage,
    .set_storage = h_set_storage,
    .get_balance = h_get_balance,
    .get_code_size = h_get_code_size,
    .get_code_hash = h_get_code_hash,
    .copy_code = h_copy_code,
    .selfdestruct = h_selfdestruct,
    .call = h_call,
    .get_tx_context = h_get_tx_context,
    .get_block_hash = h_get_block_hash,
    .emit_log = h_emit_log,
    .access_account = h_access_account,
    .access_storage = h_access_storage,
    .get_transient_storage = h_get_tstore,
    .set_transient_storage = h_set_tstore,
};

static struct evm_host host_of(struct world *w)
{
    struct evm_host h = test_host_table;
    h.ctx = w;
    return h;
}

/* Move value from -> to; 0 or -1 when from lacks the funds. */
static int transfer(struct world *w, const struct evm_address *from, const struct evm_address *to,
                    const u256 *value)
{
    if (u256_is_zero(value)) return 0;
    struct acct *f = get_or_create(w, from);
    if (u256_cmp(&f->balance, value) < 0) return -1;
    u256 nb;
    u256_sub(&nb, &f->balance, value);
    set_balance(w, f, nb);
    struct acct *t = get_or_create(w, to);
    u256_add(&nb, &t->balance, value);
    set_balance(w, t, nb);
    return 0;
}

static void h_call(void *ctx, struct evm_result *out, const struct evm_message *msg)
{
    struct world *w = ctx;
    struct evm_host h = host_of(w);
    struct snap s = snapshot(w);
    memset(out, 0, sizeof *out);
    w->calls++;
    if (msg->depth > w->max_depth) w->max_depth = msg->depth;

    if (msg->kind == EVM_CREATE || msg->kind == EVM_CREATE2) {
        struct acct *snd = get_or_create(w, &msg->sender);
        struct evm_address na;
        if (msg->kind == EVM_CREATE)
            evm_create_address(&na, &msg->sender, snd->nonce);
        else
            evm_create2_address(&na, &msg->sender, &msg->create2_salt, msg->input, msg->input_len);
        jpush(w, (struct jentry){
                     .kind = J_NONCE, .acct = (int)(snd - w->accts), .old_nonce = snd->nonce});
        snd->nonce++;
        h_access_account(w, &na);
        struct acct *x = find(w, &na);
        if (x && (x->nonce || x->code_len)) { /* collision: all gas gone */
            out->status = EVM_OUT_OF_GAS;
            revert_to(w, &s);
            return;
        }
        x = get_or_create(w, &na);
        jpush(w,
              (struct jentry){.kind = J_NONCE, .acct = (int)(x - w->accts), .old_nonce = x->nonce});
        x->nonce = 1;
        if (transfer(w, &msg->sender, &na, &msg->value)) {
            out->status = EVM_INSUFFICIENT_BALANCE;
            out->gas_left = msg->gas;
            revert_to(w, &s);
            return;
        }
        struct evm_message m = *msg;
        m.recipient = na;
        m.code_address = na;
        m.input = NULL;
        m.input_len = 0;
        assert_int_equal(evm_execute(&h, &m, msg->input, msg->input_len, out), 0);
        if (out->status == EVM_SUCCESS) {
            int64_t deposit = 200 * (int64_t)out->output_len;
            if (out->output_len > EVM_MAX_CODE_SIZE || out->gas_left < deposit) {
                out->status = EVM_OUT_OF_GAS;
            } else if (out->output_len && out->output[0] == 0xef) {
                out->status = EVM_CONTRACT_VALIDATION_FAILURE;
            } else {
                out->gas_left -= deposit;
                x = find(w, &na);
                jpush(w, (struct jentry){.kind = J_CODE, .acct = (int)(x - w->accts)});
                x->code = out->output;
                x->code_len = out->output_len;
                out->output = NULL;
                out->output_len = 0;
                out->create_address = na;
                return;
            }
            evm_result_free(out);
            out->gas_left = 0;
            out->gas_refund = 0;
        }
        revert_to(w, &s);
        return;
    }

    if (msg->kind != EVM_DELEGATECALL && transfer(w, &msg->sender, &msg->recipient, &msg->value)) {
        out->status = EVM_INSUFFICIENT_BALANCE;
        out->gas_left = msg->gas;
        revert_to(w, &s);
        return;
    }
    struct acct *c = find(w, &msg->code_address);
    if (!c || !c->code_len) {
        out->status = EVM_SUCCESS;
        out->gas_left = msg->gas;
        return;
    }
    assert_int_equal(evm_execute(&h, msg, c->code, c->code_len, out), 0);
    if (out->status != EVM_SUCCESS) revert_to(w, &s);
}

/* ---- fixture helpers ---- */

static const struct evm_address *CALLER_ADDR(void)
{
    static struct evm_address a;
    a = ADDR(0xca);
    return &a;
}

static struct world *world_new(void)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->tx.origin = ADDR(0xca);
    w->tx.coinbase = ADDR(0xcb);
    w->tx.number = 1000;
    w->tx.timestamp = 1700000000;
    w->tx.gas_limit = 30000000;
    w->tx.chain_id = U(1337);
    w->tx.base_fee = U(7);
    w->tx.blob_base_fee = U(3);
    w->tx.gas_price = U(10);
    w->blob_hashes[0] = B32(0x0111);
    w->blob_hashes[1] = B32(0x0122);
    w->tx.blob_hashes = w->blob_hashes;
    w->tx.blob_hashes_count = 2;
    for (int i = 0; i < 32; i++) w->tx.prevrandao.bytes[i] = (uint8_t)i;
    return w;
}

static void world_free(struct world *w)
{
    for (int i = 0; i < MAX_ACCTS; i++) free(w->accts[i].code);
    free(w);
}

static struct acct *put_code(struct world *w, struct evm_address a, const uint8_t *code, size_t len)
{
    struct acct *x = get_or_create(w, &a);
    free(x->code);
    x->code = malloc(len ? len : 1);
    if (len) memcpy(x->code, code, len);
    x->code_len = len;
    return x;
}

/* Start a transaction: forget the journal, make current values original,
 * warm the caller and the called contract (EIP-2929). */
static void begin_tx(struct world *w, const struct evm_address *to)
{
    w->njournal = 0;
    w->nwarm_accts = w->nwarm_slots = w->ntslots = w->nlogs = 0;
    for (int i = 0; i < MAX_ACCTS; i++)
        for (int j = 0; j < w->accts[i].nslots; j++)
            w->accts[i].slots[j].orig = w->accts[i].slots[j].val;
    h_access_account(w, CALLER_ADDR());
    h_access_account(w, to);
}

#define CONTRACT ADDR(0xc0)

static const struct evm_address *CADDR(void)
{
    static struct evm_address a;
    a = CONTRACT;
    return &a;
}

/* Run code as contract CONTRACT called by CALLER_ADDR with gas and input. */
static struct evm_result run_full(struct world *w, const uint8_t *code, size_t len, int64_t gas,
                                  const uint8_t *input, size_t input_len, uint32_t flags)
{
    struct evm_host h = host_of(w);
    struct evm_address c = CONTRACT;
    put_code(w, c, code, len);
    begin_tx(w, &c);
    struct evm_message m;
    memset(&m, 0, sizeof m);
    m.kind = EVM_CALL;
    m.flags = flags;
    m.gas = gas;
    m.recipient = c;
    m.code_address = c;
    m.sender = *CALLER_ADDR();
    m.input = input;
    m.input_len = input_len;
    struct evm_result r;
    assert_int_equal(evm_execute(&h, &m, code, len, &r), 0);
    return r;
}

static struct evm_result run(struct world *w, const uint8_t *code, size_t len, int64_t gas)
{
    return run_full(w, code, len, gas, NULL, 0, 0);
}

#define GAS          1000000
#define RUN(w, code) run(w, code, sizeof code, GAS)

/* Append: store the top of the stack at 0 and return those 32 bytes. */
#define RET_TOP OP_PUSH1, 0, OP_MSTORE, OP_PUSH1, 32, OP_PUSH1, 0, OP_RETURN

static u256 out_word(const struct evm_result *r, size_t i)
{
    assert_true(r->output_len >= 32 * (i + 1));
    u256 v;
    assert_int_equal(u256_from_be(&v, r->output + 32 * i, 32), 0);
    return v;
}

static void assert_u256_eq(const u256 *got, const u256 *want)
{
    if (u256_cmp(got, want)) {
        char g[67], x[67];
        u256_to_hex(g, got);
        u256_to_hex(x, want);
        fail_msg("got %s, want %s", g, x);
    }
}

/* Run PUSH32 c, PUSH32 b, PUSH32 a, op, RET_TOP (nargs of a, b, c) and
 * return the result: op(a, b[, c]) with a on top. */
static u256 opn(uint8_t op, int nargs, u256 a, u256 b, u256 c)
{
    uint8_t code[3 * 33 + 1 + 8];
    size_t n = 0;
    u256 args[3] = {a, b, c};
    for (int i = nargs - 1; i >= 0; i--) {
        code[n++] = OP_PUSH32;
        u256_to_be32(code + n, &args[i]);
        n += 32;
    }
    code[n++] = op;
    const uint8_t tail[] = {RET_TOP};
    memcpy(code + n, tail, sizeof tail);
    n += sizeof tail;
    struct world *w = world_new();
    struct evm_result r = run(w, code, n, GAS);
    assert_int_equal(r.status, EVM_SUCCESS);
    u256 v = out_word(&r, 0);
    evm_result_free(&r);
    world_free(w);
    return v;
}

static u256 op2(uint8_t op, u256 a, u256 b)
{
    return opn(op, 2, a, b, U(0));
}

#define CHECK2(op, a, b, want)                   \
    do {                                         \
        u256 got_ = op2(op, a, b), want_ = want; \
        assert_u256_eq(&got_, &want_);           \
    } while (0)
#define CHECK3(op, a, b, c, want)                      \
    do {                                               \
        u256 got_ = opn(op, 3, a, b, c), want_ = want; \
        assert_u256_eq(&got_, &want_);                 \
    } while (0)

#define MAX  "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define MIN  "0x8000000000000000000000000000000000000000000000000000000000000000" /* -2^255 */
#define NEG1 MAX

static u256 neg(uint64_t v)
{
    u256 z = U(0), x = U(v), r;
    u256_sub(&r, &z, &x);
    return r;
}

/* ---- arithmetic ---- */

static void test_add_sub_mul(void **state)
{
    CHECK2(OP_ADD, U(1), U(2), U(3));
    CHECK2(OP_ADD, UH(MAX), U(1), U(0));
    CHECK2(OP_SUB, U(0), U(1), UH(MAX));
    CHECK2(OP_SUB, U(10), U(3), U(7)); /* a - b with a on top */
    CHECK2(OP_MUL, UH(MAX), UH(MAX), U(1));
    CHECK2(OP_MUL, UH("0x100000000000000000000000000000000"),
           UH("0x100000000000000000000000000000000"), U(0));
}

static void test_div_mod(void **state)
{
    CHECK2(OP_DIV, U(7), U(0), U(0));
    CHECK2(OP_DIV, U(7), U(2), U(3));
    CHECK2(OP_DIV, UH(MAX), UH("0x100000000000000000000000000000000"),
           UH("0xffffffffffffffffffffffffffffffff"));
    CHECK2(OP_MOD, U(7), U(0), U(0));
    CHECK2(OP_MOD, UH(MAX), U(10), U(5)); /* 2^256-1 = ...935, ends in 5 */
    CHECK2(OP_SDIV, UH(MIN), neg(1), UH(MIN));
    CHECK2(OP_SDIV, neg(7), U(2), neg(3));
    CHECK2(OP_SDIV, U(7), neg(2), neg(3));
    CHECK2(OP_SDIV, neg(7), neg(2), U(3));
    CHECK2(OP_SDIV, neg(7), U(0), U(0));
    CHECK2(OP_SMOD, neg(7), U(2), neg(1));
    CHECK2(OP_SMOD, U(7), neg(2), U(1));
    CHECK2(OP_SMOD, neg(7), U(0), U(0));
    CHECK2(OP_SMOD, UH(MIN), neg(1), U(0));
}

static void test_addmod_mulmod(void **state)
{
    /* (2^256-1)*2 mod 12: 2^256 = 4 (mod 12), so 2*(4-1) = 6. */
    CHECK3(OP_ADDMOD, UH(MAX), UH(MAX), U(12), U(6));
    CHECK3(OP_ADDMOD, U(5), U(6), U(0), U(0));
    CHECK3(OP_ADDMOD, UH(MAX), U(1), UH(MAX), U(1));
    /* (2^256-1)^2 mod 12 = 3^2 mod 12 = 9. */
    CHECK3(OP_MULMOD, UH(MAX), UH(MAX), U(12), U(9));
    CHECK3(OP_MULMOD, U(5), U(6), U(0), U(0));
    /* (2^256-1)^2 mod (2^256-2): 2^256-1 = 1 mod m, so 1. */
    CHECK3(OP_MULMOD, UH(MAX), UH(MAX),
           UH("0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe"), U(1));
    /* 2^255 * 2 mod 2^256-1 = 2^256 mod (2^256-1) = 1. */
    CHECK3(OP_MULMOD, UH(MIN), U(2), UH(MAX), U(1));
    /* (2^128)^2 mod (2^192+1): 2^256 = -2^64 (mod 2^192+1), so 2^192+1-2^64 */
    CHECK3(OP_MULMOD, UH("0x100000000000000000000000000000000"),
           UH("0x100000000000000000000000000000000"),
           UH("0x1000000000000000000000000000000000000000000000001"),
           UH("0xffffffffffffffffffffffffffffffff0000000000000001"));
}

static void test_exp(void **state)
{
    CHECK2(OP_EXP, U(2), U(255), UH(MIN));
    CHECK2(OP_EXP, U(2), U(256), U(0));
    CHECK2(OP_EXP, U(3), U(0), U(1));
    CHECK2(OP_EXP, U(0), U(0), U(1));
    CHECK2(OP_EXP, U(0), U(5), U(0));
    CHECK2(OP_EXP, U(10), U(18), UH("1000000000000000000"));
    CHECK2(OP_EXP, UH(MAX), UH(MAX), UH(MAX)); /* (-1)^odd */
    CHECK2(OP_EXP, U(3), U(161),
           UH("0x90e7a7d36283c4589cff2b2b8d32d43e1eeb4315dc9ac9ead2ceaacca8492983"));

    /* Gas: PUSH2 0x0100, PUSH1 2, EXP, STOP = 3 + 3 + 10 + 50*2 = 116. */
    struct world *w = world_new();
    const uint8_t code[] = {OP_PUSH2, 0x01, 0x00, OP_PUSH1, 2, OP_EXP, OP_STOP};
    struct evm_result r = RUN(w, code);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(GAS - r.gas_left, 116);
    world_free(w);
}

static void test_signextend_byte(void **state)
{
    CHECK2(OP_SIGNEXTEND, U(0), U(0xff), UH(MAX));
    CHECK2(OP_SIGNEXTEND, U(0), U(0x7f), U(0x7f));
    CHECK2(OP_SIGNEXTEND, U(0), U(0x1280), neg(0x80));
    CHECK2(OP_SIGNEXTEND, U(1), U(0x8000), neg(0x8000));
    CHECK2(OP_SIGNEXTEND, U(1), UH("0xabcd7fff"), U(0x7fff));
    /* byte 30 is the second-highest: 0x80 there extends into byte 31 */
    CHECK2(OP_SIGNEXTEND, U(30),
           UH("0x80"
              "000000000000000000000000000000000000000000000000000000000000"),
           UH("0xff80"
              "000000000000000000000000000000000000000000000000000000000000"));
    CHECK2(OP_SIGNEXTEND, U(31), UH(MIN), UH(MIN));
    CHECK2(OP_SIGNEXTEND, UH(MAX), U(0xff), U(0xff));
    u256 x = UH("0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");
    CHECK2(OP_BYTE, U(0), x, U(1));
    CHECK2(OP_BYTE, U(31), x, U(0x20));
    CHECK2(OP_BYTE, U(15), x, U(0x10));
    CHECK2(OP_BYTE, U(32), x, U(0));
    CHECK2(OP_BYTE, UH(MAX), x, U(0));
}

static void test_shifts(void **state)
{
    CHECK2(OP_SHL, U(1), U(1), U(2));
    CHECK2(OP_SHL, U(255), U(1), UH(MIN));
    CHECK2(OP_SHL, U(256), U(1), U(0));
    CHECK2(OP_SHL, UH(MAX), U(1), U(0));
    CHECK2(OP_SHL, U(64), U(0xabc), UH("0xabc0000000000000000"));
    CHECK2(OP_SHL, U(4), UH(MAX),
           UH("0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff0"));
    CHECK2(OP_SHR, U(1), U(2), U(1));
    CHECK2(OP_SHR, U(255), UH(MIN), U(1));
    CHECK2(OP_SHR, U(256), UH(MAX), U(0));
    CHECK2(OP_SHR, U(70), UH("0xabc0000000000000000"), U(0x2a));
    CHECK2(OP_SAR, U(1), U(2), U(1));
    CHECK2(OP_SAR, U(1), UH(MIN),
           UH("0xc000000000000000000000000000000000000000000000000000000000000000"));
    CHECK2(OP_SAR, U(255), UH(MIN), UH(MAX));
    CHECK2(OP_SAR, U(256), UH(MIN), UH(MAX));
    CHECK2(OP_SAR, U(256), U(1), U(0));
    CHECK2(OP_SAR, UH(MAX), neg(1), UH(MAX));
    CHECK2(OP_SAR, U(4), neg(16), neg(1));
    CHECK2(OP_SAR, U(4), neg(17), neg(2));
    CHECK2(OP_SAR, U(0), neg(1), neg(1));
}

static void test_compare_bitwise(void **state)
{
    CHECK2(OP_LT, U(1), U(2), U(1));
    CHECK2(OP_LT, U(2), U(1), U(0));
    CHECK2(OP_GT, UH(MAX), U(1), U(1));
    CHECK2(OP_SLT, neg(1), U(1), U(1));
    CHECK2(OP_SLT, U(1), neg(1), U(0));
    CHECK2(OP_SGT, U(1), neg(1), U(1));
    CHECK2(OP_SGT, UH(MIN), UH(MAX), U(0)); /* -2^255 > -1 is false */
    CHECK2(OP_EQ, UH(MAX), UH(MAX), U(1));
    CHECK2(OP_EQ, UH(MAX), UH(MIN), U(0));
    CHECK2(OP_AND, U(0xf0f0), U(0xff00), U(0xf000));
    CHECK2(OP_OR, U(0xf0f0), U(0xff00), U(0xfff0));
    CHECK2(OP_XOR, U(0xf0f0), U(0xff00), U(0x0ff0));
    u256 got = opn(OP_ISZERO, 1, U(0), U(0), U(0)), one = U(1), zero = U(0);
    assert_u256_eq(&got, &one);
    got = opn(OP_ISZERO, 1, UH(MIN), U(0), U(0));
    assert_u256_eq(&got, &zero);
    got = opn(OP_NOT, 1, U(0), U(0), U(0));
    u256 max = UH(MAX);
    assert_u256_eq(&got, &max);
}

/* Reference long division, bit by bit, for the randomized check. */
static void ref_mod_wide(u256 *r, const uint64_t *u, int ulen, const u256 *m)
{
    u256 rem = U(0);
    for (int i = 64 * ulen - 1; i >= 0; i--) {
        int top = (int)(rem.w[3] >> 63);
        for (int k = 3; k > 0; k--) rem.w[k] = (rem.w[k] << 1) | (rem.w[k - 1] >> 63);
        rem.w[0] = (rem.w[0] << 1) | ((u[i / 64] >> (i % 64)) & 1);
        if (top || u256_cmp(&rem, m) >= 0) u256_sub(&rem, &rem, m);
    }
    *r = rem;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Random values with random limb counts and runs of ones/zeros, which is
 * where Knuth D's corrections happen. */
static u256 rnd_u256(void)
{
    u256 v = U(0);
    int limbs = (int)(rnd() % 4) + 1;
    for (int i = 0; i < limbs; i++) {
        uint64_t x = rnd();
        switch (rnd() % 4) {
        case 0: x = ~(uint64_t)0; break;
        case 1: x = 0; break;
        case 2: x >>= rnd() % 64; break;
        default: break;
        }
        v.w[i] = x;
    }
    return v;
}

static void test_u256_random(void **state)
{
    const char *env = getenv("TALLY_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("test_u256_random seed %llu (TALLY_SEED=%llu replays)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    rng_state = seed * 2654435761u + 1;
    for (int it = 0; it < 20000; it++) {
        u256 a = rnd_u256(), b = rnd_u256(), m = rnd_u256();
        if (u256_is_zero(&b) || u256_is_zero(&m)) continue;
        /* DIV/MOD: q*b + r == a, r < b, and the same as util's divmod. */
        u256 q, r, q2, r2;
        evm__divmod(&q, &r, &a, &b);
        u256_divmod(&q2, &r2, &a, &b);
        assert_u256_eq(&q, &q2);
        assert_u256_eq(&r, &r2);
        /* MULMOD and ADDMOD against the bitwise reference. */
        uint64_t p[8] = {0};
        for (int i = 0; i < 4; i++) {
            unsigned __int128 c = 0;
            for (int j = 0; j < 4; j++) {
                c += (unsigned __int128)a.w[i] * b.w[j] + p[i + j];
                p[i + j] = (uint64_t)c;
                c >>= 64;
            }
            p[i + 4] = (uint64_t)c;
        }
        u256 want, got;
        ref_mod_wide(&want, p, 8, &m);
        evm__mulmod(&got, &a, &b, &m);
        if (u256_cmp(&got, &want))
            fail_msg("mulmod mismatch at iteration %d (seed %llu)", it, (unsigned long long)seed);
        uint64_t s[5];
        u256 t;
        s[4] = (uint64_t)u256_add(&t, &a, &b);
        memcpy(s, t.w, sizeof t.w);
        ref_mod_wide(&want, s, 5, &m);
        evm__addmod(&got, &a, &b, &m);
        if (u256_cmp(&got, &want))
            fail_msg("addmod mismatch at iteration %d (seed %llu)", it, (unsigned long long)seed);
    }
}

/* ---- gas of simple programs, memory expansion ---- */

static void expect_gas(const uint8_t *code, size_t len, int64_t want)
{
    struct world *w = world_new();
    struct evm_result r = run(w, code, len, GAS);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(GAS - r.gas_left, want);
    evm_result_free(&r);
    world_free(w);
}
#define EXPECT_GAS(want, ...)               \
    do {                                    \
        const uint8_t c_[] = {__VA_ARGS__}; \
        expect_gas(c_, sizeof c_, want);    \
    } while (0)

static void test_gas_memory(void **state)
{
    /* 3 + 3 + 3 */
    EXPECT_GAS(9, OP_PUSH1, 1, OP_PUSH1, 2, OP_ADD, OP_STOP);
    /* MSTORE at 0: 3+3+3 + memory of 1 word (3*1 + 1/512 = 3) = 12 */
    EXPECT_GAS(12, OP_PUSH1, 0x2a, OP_PUSH1, 0, OP_MSTORE, OP_STOP);
    /* MSTORE at 1024 reaches 1056 bytes = 33 words: 3*33 + 33*33/512 = 99 + 2 = 101; +9 = 110 */
    EXPECT_GAS(110, OP_PUSH1, 1, OP_PUSH2, 0x04, 0x00, OP_MSTORE, OP_STOP);
    /* MSTORE at 65536: 2049 words: 6147 + 4198401/512 (=8200) = 14347; +9 = 14356 */
    EXPECT_GAS(14356, OP_PUSH1, 1, OP_PUSH3, 0x01, 0x00, 0x00, OP_MSTORE, OP_STOP);
    /* Two MSTOREs, 0 then 32: 12 + (9 + cost(2) - cost(1) = 3) = 24 */
    EXPECT_GAS(24, OP_PUSH1, 1, OP_PUSH1, 0, OP_MSTORE, OP_PUSH1, 1, OP_PUSH1, 32, OP_MSTORE,
               OP_STOP);
    /* MSTORE8 at 31 stays in word 1; MLOAD at 0 no expansion: 3+3+3+3 + 3+3 (+POP 2) = 20 */
    EXPECT_GAS(20, OP_PUSH1, 1, OP_PUSH1, 31, OP_MSTORE8, OP_PUSH1, 0, OP_MLOAD, OP_POP, OP_STOP);
    /* KECCAK256 of 64 bytes at 0: 3+3 + 30 + 6*2 + memory(2 words = 6) = 54 */
    EXPECT_GAS(54, OP_PUSH1, 64, OP_PUSH1, 0, OP_KECCAK256, OP_STOP);
    /* CALLDATACOPY 33 bytes: 9 + 3 + 3*2 + memory(2 words = 6) = 24 */
    EXPECT_GAS(24, OP_PUSH1, 33, OP_PUSH1, 0, OP_PUSH1, 0, OP_CALLDATACOPY, OP_STOP);
    /* Zero-size copy at a huge offset touches no memory: 3+3+3 + 3 = 12 */
    EXPECT_GAS(12, OP_PUSH1, 0, OP_PUSH1, 0, OP_PUSH4, 0xff, 0xff, 0xff, 0xff, OP_CODECOPY,
               OP_STOP);
    /* RETURN of 0 bytes, MSIZE (0) and PUSH0: 2 + 2 + 2 + 0 */
    EXPECT_GAS(6, OP_MSIZE, OP_PUSH0, OP_PUSH0, OP_RETURN);
    /* LOG2 of 10 bytes: 4*3 + 375 + 2*375 + 8*10 + memory(1 word = 3) = 1220 */
    EXPECT_GAS(1220, OP_PUSH1, 0x22, OP_PUSH1, 0x11, OP_PUSH1, 10, OP_PUSH1, 0, OP_LOG2, OP_STOP);
    /* Cold SLOAD 2100, then warm 100: 3 + 2100 + 2 + 3 + 100 = 2208 */
    EXPECT_GAS(2208, OP_PUSH1, 0, OP_SLOAD, OP_POP, OP_PUSH1, 0, OP_SLOAD, OP_STOP);
    /* BALANCE of a cold account 2600, then warm 100; SELFBALANCE 5; own address is warm:
     * 3 + 2600 + 2 + 3 + 100 + 2 + 5 + 2 + 100 = 2817 */
    EXPECT_GAS(2817, OP_PUSH1, 0x77, OP_BALANCE, OP_POP, OP_PUSH1, 0x77, OP_BALANCE, OP_POP,
               OP_SELFBALANCE, OP_ADDRESS, OP_BALANCE, OP_STOP);
    /* MCOPY 32 bytes from 0 to 32 with msize 32: PUSH*3 + MSTORE... see below */
    /* PUSH1 1, PUSH1 0, MSTORE (12); PUSH1 32, PUSH1 0, PUSH1 32, MCOPY:
     * 9 + 3 + 3*1 + memory(2) - memory(1) = 3  -> 18; total 30 */
    EXPECT_GAS(30, OP_PUSH1, 1, OP_PUSH1, 0, OP_MSTORE, OP_PUSH1, 32, OP_PUSH1, 0, OP_PUSH1, 32,
               OP_MCOPY, OP_STOP);
}

static void test_memory_limits(void **state)
{
    struct world *w = world_new();
    /* MSTORE at 2^32: far beyond what the gas pays for: out of gas, all gas used. */
    const uint8_t big[] = {OP_PUSH1, 1, OP_PUSH5, 1, 0, 0, 0, 0, OP_MSTORE, OP_STOP};
    struct evm_result r = RUN(w, big);
    assert_int_equal(r.status, EVM_OUT_OF_GAS);
    assert_int_equal(r.gas_left, 0);
    /* Even with nearly unlimited gas, offsets past EVM_MAX_MEMORY fail up front. */
    r = run(w, big, sizeof big, INT64_MAX);
    assert_int_equal(r.status, EVM_OUT_OF_GAS);
    /* Offset of 2^255 with size 1: out of gas, no allocation. */
    const uint8_t huge[] = {OP_PUSH1, 1, OP_PUSH1, 255, OP_SHL, OP_MLOAD, OP_STOP};
    r = run(w, huge, sizeof huge, INT64_MAX);
    assert_int_equal(r.status, EVM_OUT_OF_GAS);
    /* MSIZE after touching byte 40: 64. */
    const uint8_t ms[] = {OP_PUSH1, 7, OP_PUSH1, 40, OP_MSTORE8, OP_MSIZE, RET_TOP};
    r = RUN(w, ms);
    u256 got = out_word(&r, 0), want = U(64);
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    world_free(w);
}

static void test_exact_gas_boundary(void **state)
{
    struct world *w = world_new();
    const uint8_t code[] = {OP_PUSH1, 1, OP_PUSH1, 2, OP_ADD};
    struct evm_result r = run(w, code, sizeof code, 9);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(r.gas_left, 0);
    r = run(w, code, sizeof code, 8);
    assert_int_equal(r.status, EVM_OUT_OF_GAS);
    assert_int_equal(r.gas_left, 0);
    /* GAS pushes what is left after its own 2. */
    const uint8_t g[] = {OP_GAS, RET_TOP};
    r = run(w, g, sizeof g, 100);
    u256 got = out_word(&r, 0), want = U(98);
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    world_free(w);
}

/* ---- control flow ---- */

static void test_jumps(void **state)
{
    struct world *w = world_new();
    /* [0] PUSH1 4 [2] JUMP [3] INVALID [4] JUMPDEST PUSH1 7 RET_TOP */
    const uint8_t ok[] = {OP_PUSH1, 4, OP_JUMP, OP_INVALID, OP_JUMPDEST, OP_PUSH1, 7, RET_TOP};
    struct evm_result r = RUN(w, ok);
    assert_int_equal(r.status, EVM_SUCCESS);
    u256 got = out_word(&r, 0), want = U(7);
    assert_u256_eq(&got, &want);
    evm_result_free(&r);

    /* Byte 4 is 0x5b but inside PUSH1's data. */
    const uint8_t in_push[] = {OP_PUSH1, 4, OP_JUMP, OP_PUSH1, OP_JUMPDEST, OP_STOP};
    r = RUN(w, in_push);
    assert_int_equal(r.status, EVM_BAD_JUMP_DESTINATION);
    assert_int_equal(r.gas_left, 0);

    /* A JUMPDEST right after PUSH32's data is a destination. */
    uint8_t after[40] = {OP_PUSH1, 35, OP_JUMP, OP_PUSH32};
    memset(after + 4, OP_JUMPDEST, 32);
    after[36] = OP_JUMPDEST;
    after[37] = OP_STOP;
    r = run(w, after, 38, GAS);
    assert_int_equal(r.status, EVM_BAD_JUMP_DESTINATION); /* 35 is inside the data */
    after[1] = 36;
    r = run(w, after, 38, GAS);
    assert_int_equal(r.status, EVM_SUCCESS);

    const uint8_t not_dest[] = {OP_PUSH1, 3, OP_JUMP, OP_STOP};
    r = RUN(w, not_dest);
    assert_int_equal(r.status, EVM_BAD_JUMP_DESTINATION);
    const uint8_t out_of_range[] = {OP_PUSH2, 0xff, 0xff, OP_JUMP, OP_JUMPDEST};
    r = RUN(w, out_of_range);
    assert_int_equal(r.status, EVM_BAD_JUMP_DESTINATION);
    const uint8_t huge[] = {OP_PUSH1, 1, OP_PUSH1, 200, OP_SHL, OP_JUMP, OP_JUMPDEST};
    r = RUN(w, huge);
    assert_int_equal(r.status, EVM_BAD_JUMP_DESTINATION);

    /* JUMPI not taken ignores the destination; taken goes there. */
    const uint8_t jnot[] = {OP_PUSH1, 0, OP_PUSH1, 0xff, OP_JUMPI, OP_PUSH1, 9, RET_TOP};
    r = RUN(w, jnot);
    assert_int_equal(r.status, EVM_SUCCESS);
    got = out_word(&r, 0);
    want = U(9);
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    /* [0]PUSH1 1 [2]PUSH1 8 [4]JUMPI [5]PUSH1 9 [7]INVALID [8]JUMPDEST PUSH1 5 RET_TOP */
    const uint8_t jyes[] = {OP_PUSH1, 1,          OP_PUSH1,    8,        OP_JUMPI, OP_PUSH1,
                            9,        OP_INVALID, OP_JUMPDEST, OP_PUSH1, 5,        RET_TOP};
    r = RUN(w, jyes);
    assert_int_equal(r.status, EVM_SUCCESS);
    got = out_word(&r, 0);
    want = U(5);
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    /* Gas of a taken JUMP: PUSH1 3, JUMP 8, JUMPDEST 1 = 12 */
    EXPECT_GAS(12, OP_PUSH1, 3, OP_JUMP, OP_JUMPDEST);
    /* PC pushes its own offset. */
    const uint8_t pc[] = {OP_PUSH0, OP_POP, OP_PC, RET_TOP};
    r = RUN(w, pc);
    got = out_word(&r, 0);
    want = U(2);
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    world_free(w);
}

static void test_loop_gas(void **state)
{
    /* [0]PUSH2 N [3]JUMPDEST [4]PUSH1 1 [6]SWAP1 [7]SUB [8]DUP1 [9]PUSH1 3 [11]JUMPI [12]STOP
     * gas = 3 + N * (1 + 3 + 3 + 3 + 3 + 3 + 10) = 3 + 26 N; N = 1000 -> 26003 */
    EXPECT_GAS(26003, OP_PUSH2, 0x03, 0xe8, OP_JUMPDEST, OP_PUSH1, 1, OP_SWAP1, OP_SUB, OP_DUP1,
               OP_PUSH1, 3, OP_JUMPI, OP_STOP);
}

static void test_stack_limits(void **state)
{
    struct world *w = world_new();
    const uint8_t under[] = {OP_PUSH1, 1, OP_ADD};
    struct evm_result r = RUN(w, under);
    assert_int_equal(r.status, EVM_STACK_UNDERFLOW);
    assert_int_equal(r.gas_left, 0);
    const uint8_t pop_empty[] = {OP_POP};
    r = RUN(w, pop_empty);
    assert_int_equal(r.status, EVM_STACK_UNDERFLOW);

    uint8_t code[1100];
    memset(code, OP_PUSH0, 1024);
    code[1024] = OP_STOP;
    r = run(w, code, 1025, GAS);
    assert_int_equal(r.status, EVM_SUCCESS);
    code[1024] = OP_PUSH0;
    r = run(w, code, 1025, GAS);
    assert_int_equal(r.status, EVM_STACK_OVERFLOW);
    code[1024] = OP_DUP1;
    r = run(w, code, 1025, GAS);
    assert_int_equal(r.status, EVM_STACK_OVERFLOW);
    code[1024] = OP_SWAP16; /* full stack: swapping is fine */
    r = run(w, code, 1025, GAS);
    assert_int_equal(r.status, EVM_SUCCESS);

    /* DUP16 needs 16 items. */
    memset(code, OP_PUSH0, 15);
    code[15] = OP_DUP16;
    r = run(w, code, 16, GAS);
    assert_int_equal(r.status, EVM_STACK_UNDERFLOW);
    code[15] = OP_PUSH0;
    code[16] = OP_DUP16;
    r = run(w, code, 17, GAS);
    assert_int_equal(r.status, EVM_SUCCESS);

    /* DUP and SWAP pick the right items: 1 2 3, SWAP2 -> 3 2 1, DUP3 -> top 3. */
    const uint8_t ds[] = {OP_PUSH1, 1, OP_PUSH1, 2, OP_PUSH1, 3, OP_SWAP2, OP_DUP3, RET_TOP};
    r = RUN(w, ds);
    u256 got = out_word(&r, 0), want = U(3);
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    world_free(w);
}

static void test_halts(void **state)
{
    struct world *w = world_new();
    /* REVERT with data keeps the gas left: 3+3+3 + 3 + 3+3 = 18 used. */
    const uint8_t rev[] = {OP_PUSH1, 0x2a, OP_PUSH1, 0, OP_MSTORE,
                           OP_PUSH1, 32,   OP_PUSH1, 0, OP_REVERT};
    struct evm_result r = RUN(w, rev);
    assert_int_equal(r.status, EVM_REVERT);
    assert_int_equal(r.gas_left, GAS - 18);
    u256 got = out_word(&r, 0), want = U(0x2a);
    assert_u256_eq(&got, &want);
    evm_result_free(&r);

    const uint8_t inv[] = {OP_PUSH1, 1, OP_INVALID};
    r = RUN(w, inv);
    assert_int_equal(r.status, EVM_INVALID_INSTRUCTION);
    assert_int_equal(r.gas_left, 0);
    for (int op = 0; op < 256; op++) {
        int undefined = strcmp(evm_opcode_name((uint8_t)op), "UNDEFINED") == 0;
        if (!undefined) continue;
        const uint8_t u[] = {(uint8_t)op};
        r = RUN(w, u);
        assert_int_equal(r.status, EVM_UNDEFINED_INSTRUCTION);
        assert_int_equal(r.gas_left, 0);
    }
    /* 149 defined opcodes in Cancun (STOP..SELFDESTRUCT incl. INVALID). */
    int defined = 0;
    for (int op = 0; op < 256; op++)
        defined += strcmp(evm_opcode_name((uint8_t)op), "UNDEFINED") != 0;
    assert_int_equal(defined, 149);

    /* Running off the end of code is STOP; an empty program succeeds. */
    r = run(w, NULL, 0, 100);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(r.gas_left, 100);
    /* PUSH2 truncated by the end of code pads with zeros: 0x0100. */
    const uint8_t trunc[] = {OP_PUSH1, 0, OP_CALLDATALOAD, OP_POP, OP_PUSH2, 0x01};
    r = RUN(w, trunc);
    assert_int_equal(r.status, EVM_SUCCESS);
    /* An infinite loop runs out of gas. */
    const uint8_t loop[] = {OP_JUMPDEST, OP_PUSH0, OP_JUMP};
    r = run(w, loop, sizeof loop, 100000);
    assert_int_equal(r.status, EVM_OUT_OF_GAS);
    assert_int_equal(r.gas_left, 0);
    world_free(w);
}

/* ---- environment ---- */

static void test_environment(void **state)
{
    struct world *w = world_new();
    const uint8_t input[] = {0xde, 0xad, 0xbe, 0xef};
    /* Each op's value returned as one word: op, PUSH2 32*i, MSTORE; RETURN all. */
    const uint8_t ops[] = {OP_ADDRESS,      OP_ORIGIN,   OP_CALLER,      OP_CALLVALUE,
                           OP_CALLDATASIZE, OP_CODESIZE, OP_GASPRICE,    OP_COINBASE,
                           OP_TIMESTAMP,    OP_NUMBER,   OP_PREVRANDAO,  OP_GASLIMIT,
                           OP_CHAINID,      OP_BASEFEE,  OP_BLOBBASEFEE, OP_RETURNDATASIZE};
    uint8_t code[256];
    size_t n = 0, nops = sizeof ops;
    for (size_t i = 0; i < nops; i++) {
        code[n++] = ops[i];
        code[n++] = OP_PUSH2;
        code[n++] = (uint8_t)((32 * i) >> 8);
        code[n++] = (uint8_t)(32 * i);
        code[n++] = OP_MSTORE;
    }
    code[n++] = OP_PUSH2;
    code[n++] = (uint8_t)((32 * nops) >> 8);
    code[n++] = (uint8_t)(32 * nops);
    code[n++] = OP_PUSH0;
    code[n++] = OP_RETURN;
    struct evm_result r = run_full(w, code, n, GAS, input, sizeof input, 0);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(r.output_len, 32 * nops);
    struct evm_address c = CONTRACT;
    u256 want[16];
    assert_int_equal(u256_from_be(&want[0], c.bytes, 20), 0);
    assert_int_equal(u256_from_be(&want[1], w->tx.origin.bytes, 20), 0);
    assert_int_equal(u256_from_be(&want[2], CALLER_ADDR()->bytes, 20), 0);
    want[3] = U(0);
    want[4] = U(4);
    want[5] = U(n);
    want[6] = U(10);
    assert_int_equal(u256_from_be(&want[7], w->tx.coinbase.bytes, 20), 0);
    want[8] = U(1700000000);
    want[9] = U(1000);
    assert_int_equal(u256_from_be(&want[10], w->tx.prevrandao.bytes, 32), 0);
    want[11] = U(30000000);
    want[12] = U(1337);
    want[13] = U(7);
    want[14] = U(3);
    want[15] = U(0);
    for (size_t i = 0; i < nops; i++) {
        u256 got = out_word(&r, i);
        if (u256_cmp(&got, &want[i])) {
            char g[67], x[67];
            u256_to_hex(g, &got);
            u256_to_hex(x, &want[i]);
            fail_msg("%s: got %s, want %s", evm_opcode_name(ops[i]), g, x);
        }
    }
    evm_result_free(&r);

    /* CALLDATALOAD pads with zeros and takes huge offsets. */
    const uint8_t cdl[] = {
        OP_PUSH1, 2,   OP_CALLDATALOAD, OP_PUSH0,        OP_MSTORE, OP_PUSH1, 1,
        OP_PUSH1, 255, OP_SHL,          OP_CALLDATALOAD, OP_PUSH1,  32,       OP_MSTORE,
        OP_PUSH1, 64,  OP_PUSH0,        OP_RETURN};
    r = run_full(w, cdl, sizeof cdl, GAS, input, sizeof input, 0);
    u256 got = out_word(&r, 0),
         exp = UH("0xbeef"
                  "000000000000000000000000000000000000000000000000000000000000");
    assert_u256_eq(&got, &exp);
    got = out_word(&r, 1);
    exp = U(0);
    assert_u256_eq(&got, &exp);
    evm_result_free(&r);

    /* BLOCKHASH: only the 256 blocks below the current one (1000). */
    const uint8_t bh[] = {
        OP_PUSH2, 0x03, 0xe7,         OP_BLOCKHASH, OP_PUSH0, OP_MSTORE,            /* 999 */
        OP_PUSH2, 0x03, 0xe8,         OP_BLOCKHASH, OP_PUSH1, 32,        OP_MSTORE, /* 1000 */
        OP_PUSH1, 0xe8, OP_BLOCKHASH, OP_PUSH1,     64,       OP_MSTORE,            /* 232 */
        OP_PUSH2, 0x02, 0xe8,         OP_BLOCKHASH, OP_PUSH1, 96,        OP_MSTORE, /* 744 */
        OP_PUSH1, 128,  OP_PUSH0,     OP_RETURN};
    r = RUN(w, bh);
    got = out_word(&r, 0);
    exp = U(0xb10c0000u + 999);
    assert_u256_eq(&got, &exp);
    got = out_word(&r, 1);
    exp = U(0);
    assert_u256_eq(&got, &exp);
    got = out_word(&r, 2);
    assert_u256_eq(&got, &exp);
    got = out_word(&r, 3);
    exp = U(0xb10c0000u + 744);
    assert_u256_eq(&got, &exp);
    evm_result_free(&r);

    /* BLOBHASH: index 1 -> the second hash; index 2 -> 0. Gas 3 each. */
    const uint8_t blob[] = {OP_PUSH1,  1,        OP_BLOBHASH, OP_PUSH0, OP_MSTORE,
                            OP_PUSH1,  2,        OP_BLOBHASH, OP_PUSH1, 32,
                            OP_MSTORE, OP_PUSH1, 64,          OP_PUSH0, OP_RETURN};
    r = RUN(w, blob);
    got = out_word(&r, 0);
    exp = U(0x0122);
    assert_u256_eq(&got, &exp);
    got = out_word(&r, 1);
    exp = U(0);
    assert_u256_eq(&got, &exp);
    evm_result_free(&r);

    /* EXTCODESIZE / EXTCODEHASH / EXTCODECOPY of another contract; of a missing account. */
    const uint8_t other_code[] = {OP_PUSH1, 0x42, OP_STOP};
    put_code(w, ADDR(0x0b), other_code, sizeof other_code);
    const uint8_t ext[] = {
        OP_PUSH20, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b, OP_DUP1,
        OP_EXTCODESIZE, OP_PUSH0, OP_MSTORE, OP_DUP1, OP_EXTCODEHASH, OP_PUSH1, 32, OP_MSTORE,
        /* EXTCODECOPY(addr, dest 64, offset 1, size 4) */
        OP_PUSH1, 4, OP_PUSH1, 1, OP_PUSH1, 64, OP_DUP4, OP_EXTCODECOPY, OP_PUSH1, 0x99,
        OP_EXTCODEHASH, OP_PUSH1, 96, OP_MSTORE, OP_PUSH1, 128, OP_PUSH0, OP_RETURN};
    r = RUN(w, ext);
    assert_int_equal(r.status, EVM_SUCCESS);
    got = out_word(&r, 0);
    exp = U(3);
    assert_u256_eq(&got, &exp);
    uint8_t hash[32];
    keccak256(hash, other_code, sizeof other_code);
    assert_memory_equal(r.output + 32, hash, 32);
    const uint8_t copied[32] = {0x42, OP_STOP, 0, 0};
    assert_memory_equal(r.output + 64, copied, 32);
    got = out_word(&r, 3);
    exp = U(0);
    assert_u256_eq(&got, &exp);
    evm_result_free(&r);
    world_free(w);
}

static void test_keccak(void **state)
{
    struct world *w = world_new();
    const uint8_t empty[] = {OP_PUSH0, OP_PUSH0, OP_KECCAK256, RET_TOP};
    struct evm_result r = RUN(w, empty);
    u256 got = out_word(&r, 0),
         want = UH("0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    /* 32 zero bytes (memory is zero) */
    const uint8_t zero32[] = {OP_PUSH1, 32, OP_PUSH0, OP_KECCAK256, RET_TOP};
    r = RUN(w, zero32);
    got = out_word(&r, 0);
    want = UH("0x290decd9548b62a8d60345a988386fc84ba6bc95484008f6362f93160ef3e563");
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    /* "abc" stored with MSTORE8s: keccak256("abc") */
    const uint8_t abc[] = {OP_PUSH1, 'a',        OP_PUSH0, OP_MSTORE8,   OP_PUSH1, 'b', OP_PUSH1,
                           1,        OP_MSTORE8, OP_PUSH1, 'c',          OP_PUSH1, 2,   OP_MSTORE8,
                           OP_PUSH1, 3,          OP_PUSH0, OP_KECCAK256, RET_TOP};
    r = RUN(w, abc);
    got = out_word(&r, 0);
    want = UH("0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    world_free(w);
}

static void test_mcopy(void **state)
{
    struct world *w = world_new();
    /* mem[0..32] = 0x01..0x20; MCOPY(dest 1, src 0, 8) (overlapping, forward);
     * then MCOPY(dest 32, src 34, 4) reads beyond... no: src 34 is past msize 64? */
    uint8_t code[64] = {OP_PUSH32};
    size_t n = 1;
    for (int i = 0; i < 32; i++) code[n++] = (uint8_t)(i + 1);
    const uint8_t rest[] = {OP_PUSH0, OP_MSTORE, OP_PUSH1, 8, OP_PUSH0, OP_PUSH1, 1, OP_MCOPY,
                            /* backward overlap: dest 20, src 22, 6 */
                            OP_PUSH1, 6, OP_PUSH1, 22, OP_PUSH1, 20, OP_MCOPY, OP_PUSH1, 32,
                            OP_PUSH0, OP_RETURN};
    memcpy(code + n, rest, sizeof rest);
    n += sizeof rest;
    struct evm_result r = run(w, code, n, GAS);
    assert_int_equal(r.status, EVM_SUCCESS);
    uint8_t want[32];
    for (int i = 0; i < 32; i++) want[i] = (uint8_t)(i + 1);
    memmove(want + 1, want, 8);
    memmove(want + 20, want + 22, 6);
    assert_memory_equal(r.output, want, 32);
    evm_result_free(&r);
    /* Copying from beyond msize expands memory and copies zeros. */
    const uint8_t far[] = {OP_PUSH1, 32, OP_PUSH1, 64, OP_PUSH0, OP_MCOPY, OP_MSIZE, RET_TOP};
    r = RUN(w, far);
    u256 got = out_word(&r, 0), m = U(96);
    assert_u256_eq(&got, &m);
    evm_result_free(&r);
    world_free(w);
}

static void test_transient_storage(void **state)
{
    struct world *w = world_new();
    /* TSTORE(1, 0x42); TLOAD(1); TLOAD(2): 3+3+100 + 3+100 + ... */
    const uint8_t code[] = {OP_PUSH1, 0x42,      OP_PUSH1,  1,        OP_TSTORE, OP_PUSH1, 1,
                            OP_TLOAD, OP_PUSH0,  OP_MSTORE, OP_PUSH1, 2,         OP_TLOAD, OP_PUSH1,
                            32,       OP_MSTORE, OP_PUSH1,  64,       OP_PUSH0,  OP_RETURN};
    struct evm_result r = RUN(w, code);
    assert_int_equal(r.status, EVM_SUCCESS);
    u256 got = out_word(&r, 0), want = U(0x42);
    assert_u256_eq(&got, &want);
    got = out_word(&r, 1);
    want = U(0);
    assert_u256_eq(&got, &want);
    /* 3+3+100 + 3+100+2+3 (mem 1 word: 3) ... computed: see breakdown:
     * PUSH1 PUSH1 TSTORE = 106; PUSH1 TLOAD PUSH0 MSTORE = 3+100+2+3+3 = 111;
     * PUSH1 TLOAD PUSH1 MSTORE = 3+100+3+3+3 = 112; PUSH1 PUSH0 RETURN = 5 -> 334 */
    assert_int_equal(GAS - r.gas_left, 334);
    evm_result_free(&r);
    /* Persistent storage is untouched. */
    assert_int_equal(find(w, CADDR())->nslots, 0);
    world_free(w);
}

/* ---- SSTORE (EIP-2200 / EIP-2929 / EIP-3529) ---- */

/* Slot 1 of CONTRACT: original o, current c (set directly), then one SSTORE
 * of v on a warm slot. Check gas and refund. */
static void sstore_case(uint64_t o, uint64_t c, uint64_t v, int warm, int64_t want_gas,
                        int64_t want_refund)
{
    struct world *w = world_new();
    const uint8_t code[] = {OP_PUSH1, (uint8_t)v, OP_PUSH1, 1, OP_SSTORE, OP_STOP};
    struct evm_address ca = CONTRACT;
    struct acct *x = put_code(w, ca, code, sizeof code);
    x->slots[0].key = B32(1);
    x->slots[0].val = x->slots[0].orig = B32(o);
    x->nslots = 1;
    struct evm_host h = host_of(w);
    begin_tx(w, &ca);
    x->slots[0].val = B32(c); /* current differs from original: dirty */
    if (warm) h_access_storage(w, &ca, &x->slots[0].key);
    struct evm_message m;
    memset(&m, 0, sizeof m);
    m.gas = GAS;
    m.recipient = m.code_address = ca;
    m.sender = *CALLER_ADDR();
    struct evm_result r;
    assert_int_equal(evm_execute(&h, &m, code, sizeof code, &r), 0);
    assert_int_equal(r.status, EVM_SUCCESS);
    if (GAS - r.gas_left - 6 != want_gas || r.gas_refund != want_refund)
        fail_msg("%llu -> %llu -> %llu: gas %lld refund %lld, want %lld %lld",
                 (unsigned long long)o, (unsigned long long)c, (unsigned long long)v,
                 (long long)(GAS - r.gas_left - 6), (long long)r.gas_refund, (long long)want_gas,
                 (long long)want_refund);
    struct evm_bytes32 now = B32(v);
    assert_memory_equal(x->slots[0].val.bytes, now.bytes, 32);
    world_free(w);
}

static void test_sstore_table(void **state)
{
    /* original, current, new, warm, gas of the SSTORE, refund */
    sstore_case(0, 0, 0, 1, 100, 0);     /* no-op */
    sstore_case(0, 0, 1, 1, 20000, 0);   /* ADDED */
    sstore_case(1, 1, 0, 1, 2900, 4800); /* DELETED */
    sstore_case(1, 1, 2, 1, 2900, 0);    /* MODIFIED */
    sstore_case(1, 1, 1, 1, 100, 0);     /* no-op on a clean slot */
    sstore_case(1, 0, 2, 1, 100, -4800); /* DELETED_ADDED */
    sstore_case(1, 2, 0, 1, 100, 4800);  /* MODIFIED_DELETED */
    sstore_case(1, 0, 1, 1, 100, -2000); /* DELETED_RESTORED: -4800 + 2900 - 100 */
    sstore_case(0, 1, 0, 1, 100, 19900); /* ADDED_DELETED: 20000 - 100 */
    sstore_case(1, 2, 1, 1, 100, 2800);  /* MODIFIED_RESTORED: 2900 - 100 */
    sstore_case(0, 1, 2, 1, 100, 0);     /* dirty 0 -> Y -> Z */
    sstore_case(1, 2, 3, 1, 100, 0);     /* dirty X -> Y -> Z */
    sstore_case(0, 0, 1, 0, 22100, 0);   /* cold ADDED: +2100 */
    sstore_case(1, 1, 0, 0, 5000, 4800); /* cold DELETED */
    sstore_case(1, 2, 1, 0, 2200, 2800); /* cold MODIFIED_RESTORED */
}

static void test_sstore_sequence_and_sentry(void **state)
{
    struct world *w = world_new();
    /* 0 -> 1 -> 0 in one frame: cold ADDED (22100) then ADDED_DELETED (100,
     * refund 19900); 4 pushes = 12; total 22212. */
    const uint8_t code[] = {OP_PUSH1, 1, OP_PUSH1, 5, OP_SSTORE,
                            OP_PUSH1, 0, OP_PUSH1, 5, OP_SSTORE};
    struct evm_result r = RUN(w, code);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(GAS - r.gas_left, 22212);
    assert_int_equal(r.gas_refund, 19900);
    /* EIP-2200: SSTORE with 2300 or less left fails, whatever it would cost. */
    const uint8_t one[] = {OP_PUSH1, 1, OP_PUSH1, 5, OP_SSTORE};
    r = run(w, one, sizeof one, 6 + 2300);
    assert_int_equal(r.status, EVM_OUT_OF_GAS);
    r = run(w, one, sizeof one, 6 + 2301); /* passes the sentry, then lacks 22100 */
    assert_int_equal(r.status, EVM_OUT_OF_GAS);
    /* SLOAD reads it back. */
    const uint8_t rd[] = {OP_PUSH1, 0x33, OP_PUSH1, 5, OP_SSTORE, OP_PUSH1, 5, OP_SLOAD, RET_TOP};
    r = RUN(w, rd);
    u256 got = out_word(&r, 0), want = U(0x33);
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    world_free(w);
}

/* ---- static mode ---- */

static void test_static_violations(void **state)
{
    struct world *w = world_new();
    const uint8_t sstore[] = {OP_PUSH1, 1, OP_PUSH1, 1, OP_SSTORE};
    const uint8_t log0[] = {OP_PUSH0, OP_PUSH0, OP_LOG0};
    const uint8_t tstore[] = {OP_PUSH1, 1, OP_PUSH1, 1, OP_TSTORE};
    const uint8_t create[] = {OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_CREATE};
    const uint8_t create2[] = {OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_CREATE2};
    const uint8_t sd[] = {OP_PUSH0, OP_SELFDESTRUCT};
    const uint8_t callv[] = {OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH1,
                             1,        OP_PUSH1, 0x99,     OP_GAS,   OP_CALL};
    const struct {
        const uint8_t *c;
        size_t n;
    } bad[] = {{sstore, sizeof sstore}, {log0, sizeof log0},       {tstore, sizeof tstore},
               {create, sizeof create}, {create2, sizeof create2}, {sd, sizeof sd},
               {callv, sizeof callv}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        get_or_create(w, CADDR())->balance = U(100);
        struct evm_result r = run_full(w, bad[i].c, bad[i].n, GAS, NULL, 0, EVM_STATIC);
        if (r.status != EVM_STATIC_MODE_VIOLATION) fail_msg("case %zu: status %d", i, r.status);
        assert_int_equal(r.gas_left, 0);
    }
    /* Reads and a CALL without value are fine. */
    const uint8_t ok[] = {OP_PUSH1, 1,        OP_SLOAD, OP_PUSH1, 1,        OP_TLOAD,
                          OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH1,
                          0x99,     OP_GAS,   OP_CALL,  RET_TOP};
    struct evm_result r = run_full(w, ok, sizeof ok, GAS, NULL, 0, EVM_STATIC);
    assert_int_equal(r.status, EVM_SUCCESS);
    u256 got = out_word(&r, 0), one = U(1);
    assert_u256_eq(&got, &one);
    evm_result_free(&r);
    world_free(w);
}

/* ---- calls ---- */

#define PUSH20_ADDR(last) \
    OP_PUSH20, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last

/* Runtime code that returns the word 42. */
static const uint8_t RET42[] = {OP_PUSH1, 0x2a, OP_PUSH0, OP_MSTORE,
                                OP_PUSH1, 32,   OP_PUSH0, OP_RETURN};

static void test_call_returndata(void **state)
{
    struct world *w = world_new();
    put_code(w, ADDR(0x0b), RET42, sizeof RET42);
    /* CALL B (out to mem[0..32]); mem[32] = success; mem[64] = RETURNDATASIZE; return 96. */
    const uint8_t a1[] = {OP_PUSH1,          32,       OP_PUSH0, OP_PUSH0,  OP_PUSH0, OP_PUSH0,
                          PUSH20_ADDR(0x0b), OP_GAS,   OP_CALL,  OP_PUSH1,  32,       OP_MSTORE,
                          OP_RETURNDATASIZE, OP_PUSH1, 64,       OP_MSTORE, OP_PUSH1, 96,
                          OP_PUSH0,          OP_RETURN};
    struct evm_result r = RUN(w, a1);
    assert_int_equal(r.status, EVM_SUCCESS);
    u256 got = out_word(&r, 0), want = U(42);
    assert_u256_eq(&got, &want);
    got = out_word(&r, 1);
    want = U(1);
    assert_u256_eq(&got, &want);
    got = out_word(&r, 2);
    want = U(32);
    assert_u256_eq(&got, &want);
    evm_result_free(&r);

    /* RETURNDATACOPY within bounds copies; past the end fails with all gas. */
#define CALL_B \
    OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH0, PUSH20_ADDR(0x0b), OP_GAS, OP_CALL, OP_POP
    const uint8_t a2[] = {CALL_B,   OP_PUSH1, 31,       OP_PUSH1, 1, OP_PUSH0, OP_RETURNDATACOPY,
                          OP_PUSH1, 32,       OP_PUSH0, OP_RETURN};
    r = RUN(w, a2);
    assert_int_equal(r.status, EVM_SUCCESS);
    got = out_word(&r, 0);
    want = UH("0x2a00");
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    const uint8_t a3[] = {CALL_B, OP_PUSH1, 32, OP_PUSH1, 1, OP_PUSH0, OP_RETURNDATACOPY, OP_STOP};
    r = RUN(w, a3);
    assert_int_equal(r.status, EVM_INVALID_MEMORY_ACCESS);
    assert_int_equal(r.gas_left, 0);
    /* Size 0 at offset 33 is still out of bounds; at offset 32 it is fine. */
    const uint8_t a4[] = {CALL_B, OP_PUSH0, OP_PUSH1, 33, OP_PUSH0, OP_RETURNDATACOPY, OP_STOP};
    r = RUN(w, a4);
    assert_int_equal(r.status, EVM_INVALID_MEMORY_ACCESS);
    const uint8_t a5[] = {CALL_B, OP_PUSH0, OP_PUSH1, 32, OP_PUSH0, OP_RETURNDATACOPY, OP_STOP};
    r = RUN(w, a5);
    assert_int_equal(r.status, EVM_SUCCESS);
    /* Before any call there is no return data. */
    const uint8_t a6[] = {OP_PUSH1, 1, OP_PUSH0, OP_PUSH0, OP_RETURNDATACOPY};
    r = RUN(w, a6);
    assert_int_equal(r.status, EVM_INVALID_MEMORY_ACCESS);
    world_free(w);
}

static void test_call_revert_and_gas(void **state)
{
    struct world *w = world_new();
    /* B stores 7 at slot 0, then reverts with one word 0x99. */
    const uint8_t b[] = {OP_PUSH1, 7,         OP_PUSH0, OP_SSTORE, OP_PUSH1, 0x99,
                         OP_PUSH0, OP_MSTORE, OP_PUSH1, 32,        OP_PUSH0, OP_REVERT};
    put_code(w, ADDR(0x0b), b, sizeof b);
    /* A: CALL B with gas 50000, keep the result; return [result, returndata word, gas]. */
    const uint8_t a[] = {OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH0, PUSH20_ADDR(0x0b),
                         OP_PUSH2, 0xc3,     0x50,     OP_CALL,  OP_PUSH0, OP_MSTORE,
                         OP_PUSH1, 32,       OP_PUSH0, OP_PUSH1, 32,       OP_RETURNDATACOPY,
                         OP_PUSH1, 64,       OP_PUSH0, OP_RETURN};
    struct evm_result r = RUN(w, a);
    assert_int_equal(r.status, EVM_SUCCESS);
    u256 got = out_word(&r, 0), want = U(0);
    assert_u256_eq(&got, &want);
    got = out_word(&r, 1);
    want = U(0x99);
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    /* B's write was undone. */
    struct evm_address bb = ADDR(0x0b);
    struct evm_bytes32 v = h_get_storage(w, &bb, &(struct evm_bytes32){{0}});
    struct evm_bytes32 z = B32(0);
    assert_memory_equal(v.bytes, z.bytes, 32);

    /* Gas of a CALL with value 1 to a cold, non-existent account without code, asking 0 gas:
     * pushes 5*PUSH0 + PUSH1 + PUSH20 = 10 + 3 + 3 = 16; CALL 100 + cold 2500 + value 9000 +
     * new account 25000 = 36600. The callee gets 0 + the 2300 stipend, which the caller did not
     * pay for and gets back unused (as in geth and evmone): 16 + 36600 - 2300 = 34316. */
    get_or_create(w, CADDR())->balance = U(10);
    const uint8_t cv[] = {OP_PUSH0, OP_PUSH0,          OP_PUSH0, OP_PUSH0, OP_PUSH1,
                          1,        PUSH20_ADDR(0x55), OP_PUSH0, OP_CALL,  OP_STOP};
    r = RUN(w, cv);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(GAS - r.gas_left, 34316);
    struct evm_address x55 = ADDR(0x55);
    u256 bal = h_get_balance(w, &x55), one = U(1);
    assert_u256_eq(&bal, &one);
    /* Insufficient balance: light failure, pushes 0, gas for value still charged. */
    get_or_create(w, CADDR())->balance = U(0);
    const uint8_t poor[] = {OP_PUSH0, OP_PUSH0,          OP_PUSH0, OP_PUSH0, OP_PUSH1,
                            1,        PUSH20_ADDR(0x55), OP_PUSH0, OP_CALL,  RET_TOP};
    int calls = w->calls;
    r = RUN(w, poor);
    assert_int_equal(r.status, EVM_SUCCESS);
    got = out_word(&r, 0);
    want = U(0);
    assert_u256_eq(&got, &want);
    assert_int_equal(w->calls, calls);
    evm_result_free(&r);

    /* EIP-150: a CALL asking for all gas passes on 63/64 of what is left. B2 returns GAS. */
    const uint8_t b2[] = {OP_GAS, RET_TOP};
    put_code(w, ADDR(0x0c), b2, sizeof b2);
    /* A: PUSH1 + 4 PUSH0 + PUSH20 + PUSH4 = 3 + 8 + 3 + 3 = 17; CALL 100 + cold 2500;
     * memory for the 32-byte output 3. Left before the callee: 100000 - 17 - 2600 - 3 = 97380;
     * the callee gets 97380 - 97380/64 = 95859, and GAS (2) in B2 returns 95857. */
    const uint8_t a2[] = {OP_PUSH1,          32,       OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH0,
                          PUSH20_ADDR(0x0c), OP_PUSH4, 0xff,     0xff,     0xff,     0xff,
                          OP_CALL,           OP_POP,   OP_PUSH1, 32,       OP_PUSH0, OP_RETURN};
    r = run(w, a2, sizeof a2, 100000);
    assert_int_equal(r.status, EVM_SUCCESS);
    got = out_word(&r, 0);
    want = U(95857);
    assert_u256_eq(&got, &want);
    evm_result_free(&r);
    world_free(w);
}

static void test_delegatecall_callcode(void **state)
{
    struct world *w = world_new();
    /* L stores CALLER at slot 0 and CALLVALUE at slot 1 of whoever runs it. */
    const uint8_t lib[] = {OP_CALLER, OP_PUSH0,  OP_SSTORE,  OP_CALLVALUE, OP_PUSH1,
                           1,         OP_SSTORE, OP_ADDRESS, RET_TOP};
    put_code(w, ADDR(0x1b), lib, sizeof lib);
    const uint8_t a[] = {
        OP_PUSH1,        32,     OP_PUSH0, OP_PUSH0, OP_PUSH0, PUSH20_ADDR(0x1b), OP_GAS,
        OP_DELEGATECALL, OP_POP, OP_PUSH1, 32,       OP_PUSH0, OP_RETURN};
    struct evm_result r = RUN(w, a);
    assert_int_equal(r.status, EVM_SUCCESS);
    struct evm_address c = CONTRACT, caller = *CALLER_ADDR(), l = ADDR(0x1b);
    u256 got = out_word(&r, 0), want;
    uint8_t be[32];
    u256_to_be32(be, &got);
    assert_memory_equal(be + 12, c.bytes, 20); /* ADDRESS inside is A */
    struct evm_bytes32 s0 = h_get_storage(w, &c, &(struct evm_bytes32){{0}});
    assert_memory_equal(s0.bytes + 12, caller.bytes, 20); /* CALLER is A's caller */
    struct evm_bytes32 ls = h_get_storage(w, &l, &(struct evm_bytes32){{0}}), z = B32(0);
    assert_memory_equal(ls.bytes, z.bytes, 32); /* the library's storage is untouched */
    evm_result_free(&r);

    /* CALLCODE with value 5: runs L in A's context, CALLER is A, value 5, A keeps its balance. */
    get_or_create(w, &c)->balance = U(100);
    const uint8_t cc[] = {OP_PUSH1,          32,     OP_PUSH0,    OP_PUSH0, OP_PUSH0, OP_PUSH1, 5,
                          PUSH20_ADDR(0x1b), OP_GAS, OP_CALLCODE, RET_TOP};
    r = RUN(w, cc);
    assert_int_equal(r.status, EVM_SUCCESS);
    got = out_word(&r, 0);
    want = U(1);
    assert_u256_eq(&got, &want);
    s0 = h_get_storage(w, &c, &(struct evm_bytes32){{0}});
    assert_memory_equal(s0.bytes + 12, c.bytes, 20);
    struct evm_bytes32 key1 = B32(1), five = B32(5);
    struct evm_bytes32 s1 = h_get_storage(w, &c, &key1);
    assert_memory_equal(s1.bytes, five.bytes, 32);
    u256 bal = h_get_balance(w, &c), hundred = U(100);
    assert_u256_eq(&bal, &hundred);
    evm_result_free(&r);
    world_free(w);
}

static void test_staticcall(void **state)
{
    struct world *w = world_new();
    /* S tries SSTORE: under STATICCALL it fails; A sees 0 and nothing is stored. */
    const uint8_t s[] = {OP_PUSH1, 1, OP_PUSH0, OP_SSTORE, OP_STOP};
    put_code(w, ADDR(0x5c), s, sizeof s);
    const uint8_t a[] = {OP_PUSH0,          OP_PUSH0, OP_PUSH0,      OP_PUSH0,
                         PUSH20_ADDR(0x5c), OP_GAS,   OP_STATICCALL, RET_TOP};
    struct evm_result r = RUN(w, a);
    assert_int_equal(r.status, EVM_SUCCESS);
    u256 got = out_word(&r, 0), zero = U(0), one = U(1);
    assert_u256_eq(&got, &zero);
    evm_result_free(&r);
    struct evm_address sa = ADDR(0x5c);
    struct evm_bytes32 v = h_get_storage(w, &sa, &(struct evm_bytes32){{0}}), z = B32(0);
    assert_memory_equal(v.bytes, z.bytes, 32);
    /* Plain CALL of the same code succeeds. */
    const uint8_t b[] = {OP_PUSH0,          OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH0,
                         PUSH20_ADDR(0x5c), OP_GAS,   OP_CALL,  RET_TOP};
    r = RUN(w, b);
    got = out_word(&r, 0);
    assert_u256_eq(&got, &one);
    evm_result_free(&r);
    world_free(w);
}

/* A contract that calls itself with depth+1 in calldata and stores the
 * depth it was called at into slot 0 before calling deeper. */
static const uint8_t RECURSE[] = {OP_PUSH0, OP_CALLDATALOAD, OP_PUSH1,  1,       OP_ADD, /* n+1 */
                                  OP_DUP1,  OP_PUSH0,        OP_SSTORE, /* slot0 = n+1 */
                                  OP_PUSH0, OP_MSTORE,                  /* mem[0] = n+1 */
                                  OP_PUSH0, OP_PUSH0,        OP_PUSH1,  32,      OP_PUSH0,
                                  OP_PUSH0, OP_ADDRESS,      OP_GAS,    OP_CALL, OP_STOP};

struct depth_job {
    struct world *w;
    struct evm_result r;
};

static void *depth_thread(void *arg)
{
    struct depth_job *j = arg;
    j->r = run(j->w, RECURSE, sizeof RECURSE, INT64_MAX / 2);
    return NULL;
}

static void test_call_depth(void **state)
{
    struct world *w = world_new();
    /* Run on a thread with a large stack: 1025 nested interpreter frames. */
    struct depth_job j = {w, {0}};
    pthread_attr_t at;
    pthread_t t;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, (size_t)256 << 20);
    assert_int_equal(pthread_create(&t, &at, depth_thread, &j), 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&at);
    assert_int_equal(j.r.status, EVM_SUCCESS);
    assert_int_equal(w->max_depth, 1024);
    struct evm_address c = CONTRACT;
    struct evm_bytes32 v = h_get_storage(w, &c, &(struct evm_bytes32){{0}}), want = B32(1025);
    assert_memory_equal(v.bytes, want.bytes, 32);

    /* A frame at depth 1024 cannot call: 0 is pushed, the host is not asked, the gas
     * offered comes back. */
    const uint8_t code[] = {OP_PUSH0,   OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_PUSH0,
                            OP_ADDRESS, OP_GAS,   OP_CALL,  RET_TOP};
    struct evm_host h = host_of(w);
    struct evm_message m;
    memset(&m, 0, sizeof m);
    m.gas = GAS;
    m.depth = 1024;
    m.recipient = m.code_address = c;
    int calls = w->calls;
    struct evm_result r;
    assert_int_equal(evm_execute(&h, &m, code, sizeof code, &r), 0);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(w->calls, calls);
    u256 got = out_word(&r, 0), zero = U(0);
    assert_u256_eq(&got, &zero);
    /* 5*PUSH0 10 + ADDRESS 2 + GAS 2 + CALL 100 (warm self) + RET_TOP (3+3+3+3+3+0) = 129 */
    assert_int_equal(GAS - r.gas_left, 129);
    evm_result_free(&r);
    m.depth = 1025;
    assert_int_equal(evm_execute(&h, &m, code, sizeof code, &r), 0);
    assert_int_equal(r.status, EVM_CALL_DEPTH_EXCEEDED);
    world_free(w);
}

/* ---- create ---- */

/* Decode hex (no prefix) into out; returns the byte count. */
static int unhex(uint8_t *out, size_t cap, const char *s)
{
    size_t n = 0;
    assert_int_equal(hex_decode(out, cap, &n, s, strlen(s)), 0);
    return (int)n;
}

static void test_create_addresses(void **state)
{
    struct evm_address a, s;
    uint8_t want[20];
    /* Known CREATE vectors (sender 0x6ac7...dbf0). */
    assert_int_equal(unhex(s.bytes, 20, "6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0"), 20);
    evm_create_address(&a, &s, 0);
    assert_int_equal(unhex(want, 20, "cd234a471b72ba2f1ccf0a70fcaba648a5eecd8d"), 20);
    assert_memory_equal(a.bytes, want, 20);
    evm_create_address(&a, &s, 1);
    assert_int_equal(unhex(want, 20, "343c43a37d37dff08ae8c4a11544c718abb4fcf8"), 20);
    assert_memory_equal(a.bytes, want, 20);
    evm_create_address(&a, &s, 2);
    assert_int_equal(unhex(want, 20, "f778b86fa74e846c4f0a1fbd1335fe81c00a0c91"), 20);
    assert_memory_equal(a.bytes, want, 20);

    /* EIP-1014 examples. */
    static const struct {
        const char *addr, *salt, *init, *want;
    } v[] = {
        {"0000000000000000000000000000000000000000",
         "0000000000000000000000000000000000000000000000000000000000000000", "00",
         "4d1a2e2bb4f88f0250f26ffff098b0b30b26bf38"},
        {"deadbeef00000000000000000000000000000000",
         "0000000000000000000000000000000000000000000000000000000000000000", "00",
         "b928f69bb1d91cd65274e3c79d8986362984fda3"},
        {"deadbeef00000000000000000000000000000000",
         "000000000000000000000000feed000000000000000000000000000000000000", "00",
         "d04116cdd17bebe565eb2422f2497e06cc1c9833"},
        {"0000000000000000000000000000000000000000",
         "0000000000000000000000000000000000000000000000000000000000000000", "deadbeef",
         "70f2b2914a2a4b783faefb75f459a580616fcb5e"},
        {"00000000000000000000000000000000deadbeef",
         "00000000000000000000000000000000000000000000000000000000cafebabe", "deadbeef",
         "60f3f640a8508fc6a86d45df051962668e1e8ac7"},
        {"0000000000000000000000000000000000000000",
         "0000000000000000000000000000000000000000000000000000000000000000", "",
         "e33c0c7f7df4809055c3eba6c09cfe4baf1bd9e0"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct evm_bytes32 salt;
        uint8_t init[8];
        assert_int_equal(unhex(s.bytes, 20, v[i].addr), 20);
        assert_int_equal(unhex(salt.bytes, 32, v[i].salt), 32);
        int n = unhex(init, sizeof init, v[i].init);
        evm_create2_address(&a, &s, &salt, init, (size_t)n);
        assert_int_equal(unhex(want, 20, v[i].want), 20);
        if (memcmp(a.bytes, want, 20)) fail_msg("EIP-1014 example %zu", i);
    }
}

/* Initcode that deploys RET42: CODECOPY(0, 12, 8); RETURN(0, 8); RET42. */
static size_t initcode_ret42(uint8_t *buf)
{
    const uint8_t head[] = {OP_PUSH1,    sizeof RET42, OP_PUSH1,     12,       OP_PUSH0,
                            OP_CODECOPY, OP_PUSH1,     sizeof RET42, OP_PUSH0, OP_RETURN};
    memcpy(buf, head, sizeof head);
    /* head is 11 bytes; pad one JUMPDEST so RET42 starts at 12 */
    buf[sizeof head] = OP_JUMPDEST;
    memcpy(buf + 12, RET42, sizeof RET42);
    return 12 + sizeof RET42;
}

static void test_create_create2(void **state)
{
    struct world *w = world_new();
    uint8_t init[64];
    size_t init_len = initcode_ret42(init);
    /* Factory: CALLDATACOPY the initcode, CREATE2 with salt 0x77, return the address. */
    const uint8_t f2[] = {OP_CALLDATASIZE, OP_PUSH0, OP_PUSH0, OP_CALLDATACOPY, OP_PUSH1, 0x77,
                          OP_CALLDATASIZE, OP_PUSH0, OP_PUSH0, OP_CREATE2,      RET_TOP};
    struct evm_result r = run_full(w, f2, sizeof f2, GAS, init, init_len, 0);
    assert_int_equal(r.status, EVM_SUCCESS);
    struct evm_address c = CONTRACT, want;
    struct evm_bytes32 salt = B32(0x77);
    evm_create2_address(&want, &c, &salt, init, init_len);
    assert_memory_equal(r.output + 12, want.bytes, 20);
    evm_result_free(&r);
    struct acct *x = find(w, &want);
    assert_non_null(x);
    assert_int_equal(x->code_len, sizeof RET42);
    assert_memory_equal(x->code, RET42, sizeof RET42);
    assert_int_equal(x->nonce, 1);

    /* The same CREATE2 again collides: 0 pushed. */
    r = run_full(w, f2, sizeof f2, GAS, init, init_len, 0);
    assert_int_equal(r.status, EVM_SUCCESS);
    u256 got = out_word(&r, 0), zero = U(0);
    assert_u256_eq(&got, &zero);
    evm_result_free(&r);

    /* CREATE uses the factory's nonce. */
    struct acct *fa = find(w, &c);
    uint64_t nonce = fa->nonce;
    const uint8_t f1[] = {OP_CALLDATASIZE, OP_PUSH0, OP_PUSH0,  OP_CALLDATACOPY, OP_CALLDATASIZE,
                          OP_PUSH0,        OP_PUSH0, OP_CREATE, RET_TOP};
    r = run_full(w, f1, sizeof f1, GAS, init, init_len, 0);
    assert_int_equal(r.status, EVM_SUCCESS);
    evm_create_address(&want, &c, nonce);
    assert_memory_equal(r.output + 12, want.bytes, 20);
    evm_result_free(&r);

    /* Gas of CREATE2 with empty initcode (the account gets no code):
     * PUSH0*3 + PUSH1 = 9; CREATE2 32000 + 0 words; callee uses nothing -> 32009. */
    const uint8_t e2[] = {OP_PUSH1, 0x55, OP_PUSH0, OP_PUSH0, OP_PUSH0, OP_CREATE2, OP_STOP};
    r = RUN(w, e2);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(GAS - r.gas_left, 32009);
    /* Initcode of 33 zero bytes (two words, runs STOPs): CREATE2 pays 2*(6+2) = 16 more,
     * memory for 33 bytes (2 words) 6: 3+3+2+2 + 32000 + 16 + 6 = 32032. */
    const uint8_t e33[] = {OP_PUSH1, 0x56, OP_PUSH1, 33, OP_PUSH0, OP_PUSH0, OP_CREATE2, OP_STOP};
    r = RUN(w, e33);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(GAS - r.gas_left, 32032);
    /* Same with CREATE: 2*2 = 4 for initcode words: 3+2+2 (no salt: PUSH1 33, PUSH0, PUSH0)
     * + 32000 + 4 + 6 = 32018. */
    const uint8_t c33[] = {OP_PUSH1, 33, OP_PUSH0, OP_PUSH0, OP_CREATE, OP_STOP};
    r = RUN(w, c33);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(GAS - r.gas_left, 3 + 2 + 2 + 32000 + 4 + 6);

    /* EIP-3860: initcode of 49153 bytes fails the frame (out of gas). */
    const uint8_t big[] = {OP_PUSH3, 0x00, 0xc0, 0x01, OP_PUSH0, OP_PUSH0, OP_CREATE, OP_STOP};
    r = run(w, big, sizeof big, 10000000);
    assert_int_equal(r.status, EVM_OUT_OF_GAS);
    const uint8_t max[] = {OP_PUSH3, 0x00, 0xc0, 0x00, OP_PUSH0, OP_PUSH0, OP_CREATE, OP_STOP};
    r = run(w, max, sizeof max, 10000000);
    assert_int_equal(r.status, EVM_SUCCESS);

    /* A reverting initcode: 0 pushed, revert data is the return data. */
    const uint8_t rinit[] = {OP_PUSH1, 0xee, OP_PUSH0, OP_MSTORE,
                             OP_PUSH1, 32,   OP_PUSH0, OP_REVERT};
    const uint8_t f3[] = {OP_CALLDATASIZE,
                          OP_PUSH0,
                          OP_PUSH0,
                          OP_CALLDATACOPY,
                          OP_CALLDATASIZE,
                          OP_PUSH0,
                          OP_PUSH0,
                          OP_CREATE,
                          OP_PUSH0,
                          OP_MSTORE,
                          OP_RETURNDATASIZE,
                          OP_PUSH1,
                          32,
                          OP_MSTORE,
                          OP_PUSH1,
                          64,
                          OP_PUSH0,
                          OP_RETURN};
    r = run_full(w, f3, sizeof f3, GAS, rinit, sizeof rinit, 0);
    assert_int_equal(r.status, EVM_SUCCESS);
    got = out_word(&r, 0);
    assert_u256_eq(&got, &zero);
    got = out_word(&r, 1);
    u256 t32 = U(32);
    assert_u256_eq(&got, &t32);
    evm_result_free(&r);
    world_free(w);
}

/* ---- logs, selfdestruct ---- */

static void test_logs_selfdestruct(void **state)
{
    struct world *w = world_new();
    const uint8_t lg[] = {OP_PUSH1, 0xab,     OP_PUSH0, OP_MSTORE8, OP_PUSH1, 0x22,   OP_PUSH1,
                          0x11,     OP_PUSH1, 2,        OP_PUSH0,   OP_LOG2,  OP_STOP};
    struct evm_result r = RUN(w, lg);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(w->nlogs, 1);
    assert_int_equal(w->logs[0].len, 2);
    assert_int_equal(w->logs[0].data[0], 0xab);
    assert_int_equal(w->logs[0].ntopics, 2);
    struct evm_bytes32 t0 = B32(0x11), t1 = B32(0x22);
    assert_memory_equal(w->logs[0].topics[0].bytes, t0.bytes, 32);
    assert_memory_equal(w->logs[0].topics[1].bytes, t1.bytes, 32);

    /* SELFDESTRUCT to a cold, empty beneficiary with a balance: 3 + 5000 + 2600 + 25000. */
    struct evm_address c = CONTRACT, ben = ADDR(0x66);
    const uint8_t sd[] = {PUSH20_ADDR(0x66), OP_SELFDESTRUCT, OP_INVALID};
    put_code(w, c, sd, sizeof sd)->balance = U(50);
    r = RUN(w, sd);
    assert_int_equal(r.status, EVM_SUCCESS);
    assert_int_equal(GAS - r.gas_left, 3 + 5000 + 2600 + 25000);
    assert_int_equal(w->ndestructed, 1);
    u256 b = h_get_balance(w, &ben), fifty = U(50);
    assert_u256_eq(&b, &fifty);
    /* No balance: no new-account charge; beneficiary warm (itself): 3 + 5000. */
    const uint8_t sd2[] = {OP_ADDRESS, OP_SELFDESTRUCT};
    find(w, &c)->balance = U(0);
    r = RUN(w, sd2);
    assert_int_equal(GAS - r.gas_left, 2 + 5000);
    world_free(w);
}

/* ---- ethereum-tests VMTests (blockchain format, Cancun) ----
 *
 * Not a full runner (that comes with the transaction layer): for each test
 * with one block and one transaction to a contract, load the pre-state into
 * the test host, do what the transaction layer would (intrinsic gas, warm
 * sender / recipient / coinbase / precompiles, value transfer), run the
 * recipient's code, and compare every account's storage with postState.
 * Balances, nonces and the state root are not checked (fees, the EIP-4788
 * system call and the root belong to later layers). */

static uint8_t *unhex_alloc(const char *s, size_t *len)
{
    size_t n = strlen(s);
    uint8_t *b = malloc(n / 2 + 1);
    assert_non_null(b);
    assert_int_equal(hex_decode(b, n / 2 + 1, len, s, n), 0);
    return b;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static u256 jnum(const cJSON *o, const char *key)
{
    const char *v = jstr(o, key);
    u256 r = U(0);
    if (v && u256_parse(&r, v)) fail_msg("bad number %s: %s", key, v);
    return r;
}

static struct evm_address jaddr(const char *s)
{
    struct evm_address a;
    size_t n = 0;
    assert_int_equal(hex_decode(a.bytes, 20, &n, s, strlen(s)), 0);
    assert_int_equal(n, 20);
    return a;
}

static struct evm_bytes32 qty32(const char *s)
{
    u256 v;
    if (u256_parse(&v, s)) fail_msg("bad quantity %s", s);
    struct evm_bytes32 b;
    u256_to_be32(b.bytes, &v);
    return b;
}

/* 1 if run and matched, 0 if skipped (shape this runner does not handle). */
static int run_vector(const char *name, const cJSON *t)
{
    const char *net = jstr(t, "network");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(t, "pre");
    const cJSON *post = cJSON_GetObjectItemCaseSensitive(t, "postState");
    const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(t, "blocks");
    if (!net || strcmp(net, "Cancun") || !pre || !post || cJSON_GetArraySize(blocks) != 1) return 0;
    const cJSON *blk = cJSON_GetArrayItem(blocks, 0);
    const cJSON *txs = cJSON_GetObjectItemCaseSensitive(blk, "transactions");
    const cJSON *hdr = cJSON_GetObjectItemCaseSensitive(blk, "blockHeader");
    if (cJSON_GetObjectItemCaseSensitive(blk, "expectException") || !hdr ||
        cJSON_GetArraySize(txs) != 1 || cJSON_GetArraySize(pre) > MAX_ACCTS - 4)
        return 0;
    const cJSON *tx = cJSON_GetArrayItem(txs, 0);
    const char *to_s = jstr(tx, "to");
    if (!to_s || !*to_s || cJSON_GetObjectItemCaseSensitive(tx, "accessList")) return 0;

    struct world *w = world_new();
    const cJSON *acc;
    cJSON_ArrayForEach(acc, pre)
    {
        struct evm_address a = jaddr(acc->string);
        size_t n = 0;
        uint8_t *code = unhex_alloc(jstr(acc, "code"), &n);
        struct acct *x = put_code(w, a, code, n);
        free(code);
        x->balance = jnum(acc, "balance");
        x->nonce = jnum(acc, "nonce").w[0];
        const cJSON *sl;
        cJSON_ArrayForEach(sl, cJSON_GetObjectItemCaseSensitive(acc, "storage"))
        {
            assert_true(x->nslots < MAX_SLOTS);
            struct slot *s = &x->slots[x->nslots++];
            s->key = qty32(sl->string);
            s->val = s->orig = qty32(sl->valuestring);
        }
    }
    w->tx.number = (int64_t)jnum(hdr, "number").w[0];
    w->tx.timestamp = (int64_t)jnum(hdr, "timestamp").w[0];
    w->tx.gas_limit = (int64_t)jnum(hdr, "gasLimit").w[0];
    w->tx.coinbase = jaddr(jstr(hdr, "coinbase"));
    w->tx.prevrandao = qty32(jstr(hdr, "mixHash"));
    w->tx.base_fee = jnum(hdr, "baseFeePerGas");
    w->tx.blob_base_fee = U(1); /* excessBlobGas 0 */
    w->tx.chain_id = U(1);
    w->tx.blob_hashes_count = 0;
    w->tx.gas_price = jstr(tx, "gasPrice") ? jnum(tx, "gasPrice") : jnum(tx, "maxFeePerGas");
    struct evm_address sender = jaddr(jstr(tx, "sender")), to = jaddr(to_s);
    w->tx.origin = sender;

    size_t data_len = 0;
    uint8_t *data = unhex_alloc(jstr(tx, "data"), &data_len);
    int64_t gas = (int64_t)jnum(tx, "gasLimit").w[0] - 21000;
    for (size_t i = 0; i < data_len; i++) gas -= data[i] ? 16 : 4;
    u256 value = jnum(tx, "value");

    /* begin the transaction */
    w->njournal = w->nwarm_accts = w->nwarm_slots = w->ntslots = w->nlogs = 0;
    h_access_account(w, &sender);
    h_access_account(w, &to);
    h_access_account(w, &w->tx.coinbase); /* EIP-3651 */
    for (uint8_t p = 1; p <= 10; p++) {
        struct evm_address pa;
        memset(&pa, 0, sizeof pa);
        pa.bytes[19] = p;
        h_access_account(w, &pa);
    }
    get_or_create(w, &sender)->nonce++;
    struct snap s0 = snapshot(w);
    assert_int_equal(transfer(w, &sender, &to, &value), 0);
    struct acct *tc = get_or_create(w, &to);
    struct evm_host h = host_of(w);
    struct evm_message m;
    memset(&m, 0, sizeof m);
    m.kind = EVM_CALL;
    m.gas = gas;
    m.recipient = m.code_address = to;
    m.sender = sender;
    m.input = data;
    m.input_len = data_len;
    m.value = value;
    struct evm_result r;
    assert_int_equal(evm_execute(&h, &m, tc->code, tc->code_len, &r), 0);
    if (r.status != EVM_SUCCESS) revert_to(w, &s0);
    evm_result_free(&r);
    free(data);
    if (w->overflow) {
        printf("skipped %s: more than %d storage slots\n", name, MAX_SLOTS);
        world_free(w);
        return 0;
    }

    static const char *beacon_roots = "0x000f3df6d732807ef1319fb7b8bb8522d0beac02";
    cJSON_ArrayForEach(acc, post)
    {
        if (!strcmp(acc->string, beacon_roots)) continue;
        struct evm_address a = jaddr(acc->string);
        struct acct *x = find(w, &a);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(acc, "storage");
        int want_nonzero = 0;
        const cJSON *sl;
        cJSON_ArrayForEach(sl, st)
        {
            struct evm_bytes32 k = qty32(sl->string), v = qty32(sl->valuestring);
            struct evm_bytes32 got = x ? h_get_storage(w, &a, &k) : B32(0);
            if (!b32_eq(&got, &v))
                fail_msg("%s: %s slot %s: want %s (status %s)", name, acc->string, sl->string,
                         sl->valuestring, evm_status_str(r.status));
            want_nonzero += !b32_eq(&v, &(struct evm_bytes32){{0}});
        }
        int have_nonzero = 0;
        for (int i = 0; x && i < x->nslots; i++)
            have_nonzero += !b32_eq(&x->slots[i].val, &(struct evm_bytes32){{0}});
        if (have_nonzero != want_nonzero)
            fail_msg("%s: %s has %d non-zero slots, want %d", name, acc->string, have_nonzero,
                     want_nonzero);
    }
    world_free(w);
    return 1;
}

static void test_ethereum_vmtests(void **state)
{
    static const char *dirs[] = {"vmArithmeticTest", "vmBitwiseLogicOperation",
                                 "vmIOandFlowOperations", "vmLogTest", "vmTests"};
    int ran = 0, skipped = 0;
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/BlockchainTests/GeneralStateTests/VMTests/%s",
                 TALLY_VECTORS_DIR, dirs[d]);
        DIR *dir = opendir(path);
        if (!dir) continue;
        struct dirent *de;
        while ((de = readdir(dir))) {
            if (!strstr(de->d_name, ".json")) continue;
            char file[1400];
            snprintf(file, sizeof file, "%s/%s", path, de->d_name);
            FILE *fp = fopen(file, "rb");
            assert_non_null(fp);
            fseek(fp, 0, SEEK_END);
            long len = ftell(fp);
            fseek(fp, 0, SEEK_SET);
            char *text = malloc((size_t)len + 1);
            assert_int_equal(fread(text, 1, (size_t)len, fp), (size_t)len);
            text[len] = 0;
            fclose(fp);
            cJSON *root = cJSON_Parse(text);
            free(text);
            assert_non_null(root);
            const cJSON *t;
            cJSON_ArrayForEach(t, root)
            {
                if (run_vector(t->string, t))
                    ran++;
                else
                    skipped++;
            }
            cJSON_Delete(root);
        }
        closedir(dir);
    }
    printf("ethereum-tests VMTests: %d run and matched, %d skipped\n", ran, skipped);
    if (!ran) skip();
}

/* ---- speed ---- */

static void test_speed(void **state)
{
    /* 100,000 iterations of: counter-1, MSTORE it, KECCAK256 32 bytes, ADD, MUL. */
    const uint8_t code[] = {
        OP_PUSH3,    0x01,     0x86,      0xa0,     OP_PUSH0,                         /* n, acc */
        OP_JUMPDEST,                                                                  /* [5] */
        OP_DUP2,     OP_PUSH0, OP_MSTORE, OP_PUSH1, 32,       OP_PUSH0, OP_KECCAK256, /* h */
        OP_ADD,      OP_PUSH1, 3,         OP_MUL,                       /* acc = (acc + h) * 3 */
        OP_SWAP1,    OP_PUSH1, 1,         OP_SWAP1, OP_SUB,   OP_SWAP1, /* n-1 */
        OP_DUP2,     OP_PUSH1, 5,         OP_JUMPI, OP_STOP};
    struct world *w = world_new();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct evm_result r = run(w, code, sizeof code, INT64_MAX / 2);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(r.status, EVM_SUCCESS);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    int64_t used = INT64_MAX / 2 - r.gas_left;
    /* PUSH3 + PUSH0 = 5; the first MSTORE's memory 3; per iteration:
     * JUMPDEST 1, DUP2 3, PUSH0 2, MSTORE 3, PUSH1 3, PUSH0 2, KECCAK256 30+6, ADD 3, PUSH1 3,
     * MUL 5, SWAP1 3, PUSH1 3, SWAP1 3, SUB 3, SWAP1 3, DUP2 3, PUSH1 3, JUMPI 10 = 92 */
    assert_int_equal(used, 5 + 3 + 100000 * 92);
    printf("evm loop (arith + keccak256 of 32 bytes): %lld gas in %.3f s = %.1f Mgas/s\n",
           (long long)used, s, (double)used / s / 1e6);
    world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_sub_mul),
        cmocka_unit_test(test_div_mod),
        cmocka_unit_test(test_addmod_mulmod),
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_signextend_byte),
        cmocka_unit_test(test_shifts),
        cmocka_unit_test(test_compare_bitwise),
        cmocka_unit_test(test_u256_random),
        cmocka_unit_test(test_gas_memory),
        cmocka_unit_test(test_memory_limits),
        cmocka_unit_test(test_exact_gas_boundary),
        cmocka_unit_test(test_jumps),
        cmocka_unit_test(test_loop_gas),
        cmocka_unit_test(test_stack_limits),
        cmocka_unit_test(test_halts),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_keccak),
        cmocka_unit_test(test_mcopy),
        cmocka_unit_test(test_transient_storage),
        cmocka_unit_test(test_sstore_table),
        cmocka_unit_test(test_sstore_sequence_and_sentry),
        cmocka_unit_test(test_static_violations),
        cmocka_unit_test(test_call_returndata),
        cmocka_unit_test(test_call_revert_and_gas),
        cmocka_unit_test(test_delegatecall_callcode),
        cmocka_unit_test(test_staticcall),
        cmocka_unit_test(test_call_depth),
        cmocka_unit_test(test_create_addresses),
        cmocka_unit_test(test_create_create2),
        cmocka_unit_test(test_logs_selfdestruct),
        cmocka_unit_test(test_ethereum_vmtests),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
