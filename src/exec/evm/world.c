/* In-memory journaling world: see world.h. */
#include "exec/evm/world.h"
#include <stdlib.h>
#include <string.h>
#include "crypto/keccak.h"
#include "exec/evm/precompile.h"

struct slot {
    struct evm_bytes32 key, value, orig;
    struct evm_bytes32 base; /* value when loaded from the backend (or zero) */
    uint64_t orig_tx;        /* orig is valid when == world.txid */
    uint64_t warm_tx;
};

struct acct {
    struct world_account a;
    struct slot *slots;
    size_t nslots, capslots;
    uint64_t warm_tx, touched_tx, created_tx, destructed_tx;
    int existed;  /* loaded from the backend as an existing account */
    int code_new; /* code deployed in this world */
};

struct tslot {
    struct evm_address addr;
    struct evm_bytes32 key, value;
};

enum jkind {
    J_CREATE,
    J_BALANCE,
    J_NONCE,
    J_STORAGE,
    J_CODE,
    J_WARM_ACCT,
    J_WARM_SLOT,
    J_TOUCH,
    J_CREATED,
    J_DESTRUCT,
    J_TSTORE,
    J_LOG,
};

struct jentry {
    enum jkind kind;
    size_t acct, slot;
    u256 old_balance;
    uint64_t old_u64;
    struct evm_bytes32 old_val;
};

struct log {
    struct evm_address addr;
    struct evm_bytes32 topics[4];
    size_t ntopics, data_off, data_len;
};

#define WORLD_HASHES 256

struct world {
    struct acct *accts;
    size_t naccts, capaccts;
    struct jentry *j;
    size_t nj, capj;
    struct tslot *ts;
    size_t nts, capts;
    struct log *logs;
    size_t nlogs, caplogs;
    uint8_t *logdata;
    size_t nlogdata, caplogdata;
    uint64_t txid;
    struct world_backend be;
    int has_be;
    int err; /* first failure: TALLY_ENOMEM or the backend's */
    const struct evm_tx_context *tx_ctx;
    struct evm_bytes32 hashes[WORLD_HASHES];
    int64_t hash_num[WORLD_HASHES];
    int failed;
    int used_kzg; /* a frame called 0x0a, which is not implemented */
};

static const struct evm_bytes32 ZERO32;

static int addr_eq(const struct evm_address *a, const struct evm_address *b)
{
    return !memcmp(a->bytes, b->bytes, 20);
}

static int is_zero32(const struct evm_bytes32 *v)
{
    return !memcmp(v->bytes, ZERO32.bytes, 32);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return -1;
    memset((char *)q + *cap * elem, 0, (n - *cap) * elem);
    *p = q;
    *cap = n;
    return 0;
}

static void set_failed(struct world *w, int err)
{
    if (!w->failed) w->err = err;
    w->failed = 1;
}

static int load(struct world *w, const struct evm_address *a);

/* Index of a's record, loading it from the backend if the world has none;
 * -1 if there is none (or loading failed). */
static long find(struct world *w, const struct evm_address *a)
{
    for (size_t i = 0; i < w->naccts; i++)
        if (addr_eq(&w->accts[i].a.addr, a)) return (long)i;
    if (w->has_be && !w->failed && load(w, a) == 0) return (long)w->naccts - 1;
    return -1;
}

static struct acct *live(struct world *w, const struct evm_address *a)
{
    long i = find(w, a);
    return i >= 0 && w->accts[i].a.present ? &w->accts[i] : NULL;
}

static void jpush(struct world *w, struct jentry e)
{
    if (grow((void **)&w->j, &w->capj, w->nj + 1, sizeof *w->j)) {
        set_failed(w, TALLY_ENOMEM);
        return;
    }
    w->j[w->nj++] = e;
}

static size_t idx(struct world *w, struct acct *x)
{
    return (size_t)(x - w->accts);
}

/* Keccak-256 of no bytes: the code hash of an account without code. */
static const struct evm_bytes32 EMPTY_CODE_HASH = {
    {0xc5, 0xd2, 0x46, 0x01, 0x86, 0xf7, 0x23, 0x3c, 0x92, 0x7e, 0x7d,
     0xb2, 0xdc, 0xc7, 0x03, 0xc0, 0xe5, 0x00, 0xb6, 0x53, 0xca, 0x82,
     0x27, 0x3b, 0x7b, 0xfa, 0xd8, 0x04, 0x5d, 0x85, 0xa4, 0x70}};

static void empty_hash(struct evm_bytes32 *h)
{
    *h = EMPTY_CODE_HASH;
}

/* The record for a, present or not (a non-present one carries warm marks).
 * NULL on ENOMEM. */
static struct acct *new_record(struct world *w, const struct evm_address *a)
{
    if (grow((void **)&w->accts, &w->capaccts, w->naccts + 1, sizeof *w->accts)) {
        set_failed(w, TALLY_ENOMEM);
        return NULL;
    }
    struct acct *x = &w->accts[w->naccts++];
    memset(x, 0, sizeof *x);
    x->a.addr = *a;
    return x;
}

static struct acct *entry(struct world *w, const struct evm_address *a)
{
    long i = find(w, a);
    if (i >= 0) return &w->accts[i];
    return w->failed ? NULL : new_record(w, a);
}

/* Append a's record as the backend has it (present or not). */
static int load(struct world *w, const struct evm_address *a)
{
    int present = 0;
    u256 bal;
    uint64_t nonce = 0;
    const uint8_t *code = NULL;
    size_t code_len = 0;
    uint8_t hash[32];
    int rc = w->be.account(w->be.ctx, a->bytes, &present, &bal, &nonce, &code, &code_len, hash);
    uint8_t *c = NULL;
    if (!rc && present && code_len && !(c = malloc(code_len))) rc = TALLY_ENOMEM;
    struct acct *x = rc ? NULL : new_record(w, a);
    if (!x) {
        free(c);
        set_failed(w, rc ? rc : TALLY_ENOMEM);
        return -1;
    }
    if (!present) return 0;
    x->a.present = x->existed = 1;
    x->a.balance = bal;
    x->a.nonce = nonce;
    if (c) {
        memcpy(c, code, code_len);
        x->a.code = c;
        x->a.code_len = code_len;
        memcpy(x->a.code_hash.bytes, hash, 32);
    } else {
        empty_hash(&x->a.code_hash);
    }
    return 0;
}

/* Zero balance and nonce, drop the code (present and the hash are the
 * caller's). */
static void clear_account(struct acct *x)
{
    x->a.balance = u256_from_u64(0);
    x->a.nonce = 0;
    free(x->a.code);
    x->a.code = NULL;
    x->a.code_len = 0;
}

/* The account at a, created (journaled) if missing. NULL on ENOMEM. The
 * slots of a non-present record all hold zero (only warm marks). */
static struct acct *get_or_create(struct world *w, const struct evm_address *a, int journal)
{
    struct acct *x = entry(w, a);
    if (x && !x->a.present) {
        clear_account(x);
        x->a.present = 1;
        empty_hash(&x->a.code_hash);
        x->touched_tx = x->created_tx = x->destructed_tx = 0;
        if (journal) jpush(w, (struct jentry){.kind = J_CREATE, .acct = idx(w, x)});
    }
    return x;
}

static void delete_account(struct acct *x)
{
    clear_account(x);
    x->a.present = 0;
}

static int is_empty(const struct acct *x)
{
    return !x->a.nonce && !x->a.code_len && u256_is_zero(&x->a.balance);
}

static const uint8_t RIPEMD_ADDR[20] = {[19] = 3};

static void touch(struct world *w, struct acct *x)
{
    if (x->touched_tx == w->txid) return;
    /* The RIPEMD-160 touch survives a revert (mainnet block 2675119, kept
     * by every client). */
    if (memcmp(x->a.addr.bytes, RIPEMD_ADDR, 20))
        jpush(w, (struct jentry){.kind = J_TOUCH, .acct = idx(w, x), .old_u64 = x->touched_tx});
    x->touched_tx = w->txid;
}

static void set_balance(struct world *w, struct acct *x, const u256 *v)
{
    jpush(w, (struct jentry){.kind = J_BALANCE, .acct = idx(w, x), .old_balance = x->a.balance});
    x->a.balance = *v;
    touch(w, x);
}

static struct slot *find_slot(struct acct *x, const struct evm_bytes32 *key)
{
    for (size_t i = 0; i < x->nslots; i++)
        if (!memcmp(x->slots[i].key.bytes, key->bytes, 32)) return &x->slots[i];
    return NULL;
}

/* The slot's record, loaded from the backend for an account that existed
 * there. NULL on failure. */
static struct slot *get_slot(struct world *w, struct acct *x, const struct evm_bytes32 *key)
{
    struct slot *s = find_slot(x, key);
    if (s) return s;
    struct evm_bytes32 v = ZERO32;
    if (w->has_be && x->existed && !w->failed) {
        int rc = w->be.storage(w->be.ctx, x->a.addr.bytes, key->bytes, v.bytes);
        if (rc) {
            set_failed(w, rc);
            return NULL;
        }
    }
    if (grow((void **)&x->slots, &x->capslots, x->nslots + 1, sizeof *x->slots)) {
        set_failed(w, TALLY_ENOMEM);
        return NULL;
    }
    s = &x->slots[x->nslots++];
    memset(s, 0, sizeof *s);
    s->key = *key;
    s->value = s->base = v;
    return s;
}

static void note_orig(struct world *w, struct slot *s)
{
    if (s->orig_tx != w->txid) {
        s->orig = s->value;
        s->orig_tx = w->txid;
    }
}

/* ---- public setup and inspection ---- */

int world_new(struct world **out)
{
    struct world *w = calloc(1, sizeof *w);
    if (!w) return TALLY_ENOMEM;
    w->txid = 1;
    for (size_t i = 0; i < WORLD_HASHES; i++) w->hash_num[i] = -1;
    *out = w;
    return 0;
}

void world_reset(struct world *w)
{
    for (size_t i = 0; i < w->naccts; i++) {
        free(w->accts[i].a.code);
        free(w->accts[i].slots);
    }
    w->naccts = 0;
    w->nj = 0;
    w->nts = 0;
    w->nlogs = 0;
    w->nlogdata = 0;
}

void world_free(struct world *w)
{
    if (!w) return;
    world_reset(w);
    free(w->accts);
    free(w->j);
    free(w->ts);
    free(w->logs);
    free(w->logdata);
    free(w);
}

void world_set_backend(struct world *w, const struct world_backend *b)
{
    w->be = *b;
    w->has_be = 1;
}

int world_changes(struct world *w, void *arg,
                  int (*account)(void *arg, const struct world_account *a, int exists,
                                 const uint8_t *new_code),
                  int (*slot)(void *arg, const struct evm_address *addr,
                              const struct evm_bytes32 *key, const struct evm_bytes32 *value))
{
    int rc;
    for (size_t i = 0; i < w->naccts; i++) {
        const struct acct *x = &w->accts[i];
        if (!x->a.present && !x->existed) continue;
        if ((rc = account(arg, &x->a, x->a.present, x->code_new ? x->a.code : NULL))) return rc;
        for (size_t k = 0; k < x->nslots; k++) {
            const struct slot *s = &x->slots[k];
            if (memcmp(s->value.bytes, s->base.bytes, 32) &&
                (rc = slot(arg, &x->a.addr, &s->key, &s->value)))
                return rc;
        }
    }
    return 0;
}

void world_logs(const struct world *w, void *arg,
                void (*fn)(void *arg, const struct evm_address *addr,
                           const struct evm_bytes32 *topics, size_t ntopics, const uint8_t *data,
                           size_t data_len))
{
    for (size_t i = 0; i < w->nlogs; i++) {
        const struct log *l = &w->logs[i];
        fn(arg, &l->addr, l->topics, l->ntopics, w->logdata + l->data_off, l->data_len);
    }
}

int world_put_account(struct world *w, const struct evm_address *addr, const u256 *balance,
                      uint64_t nonce, const uint8_t *code, size_t code_len)
{
    uint8_t *c = NULL;
    if (code_len) {
        c = malloc(code_len);
        if (!c) return TALLY_ENOMEM;
        memcpy(c, code, code_len);
    }
    struct acct *x = get_or_create(w, addr, 0);
    if (!x) {
        free(c);
        return TALLY_ENOMEM;
    }
    x->a.balance = *balance;
    x->a.nonce = nonce;
    free(x->a.code);
    x->a.code = c;
    x->a.code_len = code_len;
    keccak256(x->a.code_hash.bytes, c ? c : (const uint8_t *)"", code_len);
    return 0;
}

int world_put_storage(struct world *w, const struct evm_address *addr,
                      const struct evm_bytes32 *key, const struct evm_bytes32 *value)
{
    struct acct *x = live(w, addr);
    if (!x) return TALLY_ENOTFOUND;
    struct slot *s = get_slot(w, x, key);
    if (!s) return TALLY_ENOMEM;
    s->value = *value;
    s->orig_tx = 0;
    return 0;
}

const struct world_account *world_get(struct world *w, const struct evm_address *addr)
{
    long i = find(w, addr);
    return i >= 0 && w->accts[i].a.present ? &w->accts[i].a : NULL;
}

size_t world_count(const struct world *w)
{
    return w->naccts;
}

const struct world_account *world_at(const struct world *w, size_t i)
{
    return &w->accts[i].a;
}

size_t world_storage_each(const struct world *w, size_t i,
                          void (*fn)(void *arg, const struct evm_bytes32 *key,
                                     const struct evm_bytes32 *value),
                          void *arg)
{
    const struct acct *x = &w->accts[i];
    size_t n = 0;
    if (!x->a.present) return 0;
    for (size_t k = 0; k < x->nslots; k++) {
        if (is_zero32(&x->slots[k].value)) continue;
        n++;
        if (fn) fn(arg, &x->slots[k].key, &x->slots[k].value);
    }
    return n;
}

struct evm_bytes32 world_storage(struct world *w, const struct evm_address *addr,
                                 const struct evm_bytes32 *key)
{
    long i = find(w, addr);
    if (i < 0 || !w->accts[i].a.present) return ZERO32;
    struct slot *s = get_slot(w, &w->accts[i], key);
    return s ? s->value : ZERO32;
}

void world_set_block_hash(struct world *w, int64_t number, const struct evm_bytes32 *hash)
{
    size_t i = (size_t)number % WORLD_HASHES;
    w->hashes[i] = *hash;
    w->hash_num[i] = number;
}

int world_failed(const struct world *w)
{
    return w->failed;
}

int world_error(const struct world *w)
{
    return w->failed ? w->err : 0;
}

int world_used_unsupported(const struct world *w)
{
    return w->used_kzg;
}

size_t world_log_count(const struct world *w)
{
    return w->nlogs;
}

/* ---- journal ---- */

size_t world_snapshot(const struct world *w)
{
    return w->nj;
}

void world_revert(struct world *w, size_t snap)
{
    while (w->nj > snap) {
        struct jentry *e = &w->j[--w->nj];
        struct acct *x = &w->accts[e->acct];
        switch (e->kind) {
        case J_CREATE: delete_account(x); break;
        case J_BALANCE: x->a.balance = e->old_balance; break;
        case J_NONCE: x->a.nonce = e->old_u64; break;
        case J_STORAGE: x->slots[e->slot].value = e->old_val; break;
        case J_CODE:
            free(x->a.code);
            x->a.code = NULL;
            x->a.code_len = 0;
            empty_hash(&x->a.code_hash);
            break;
        case J_WARM_ACCT: x->warm_tx = e->old_u64; break;
        case J_WARM_SLOT: x->slots[e->slot].warm_tx = e->old_u64; break;
        case J_TOUCH: x->touched_tx = e->old_u64; break;
        case J_CREATED: x->created_tx = e->old_u64; break;
        case J_DESTRUCT: x->destructed_tx = e->old_u64; break;
        case J_TSTORE: w->ts[e->slot].value = e->old_val; break;
        case J_LOG:
            w->nlogs = e->old_u64;
            w->nlogdata =
                w->nlogs ? w->logs[w->nlogs - 1].data_off + w->logs[w->nlogs - 1].data_len : 0;
            break;
        }
    }
}

void world_begin_tx(struct world *w, const struct evm_tx_context *tx_ctx)
{
    w->txid++;
    w->tx_ctx = tx_ctx;
    w->nj = 0;
    w->nts = 0;
    w->nlogs = 0;
    w->nlogdata = 0;
}

void world_end_tx(struct world *w)
{
    for (size_t i = 0; i < w->naccts; i++) {
        struct acct *x = &w->accts[i];
        if (!x->a.present) continue;
        if (x->destructed_tx == w->txid || (x->touched_tx == w->txid && is_empty(x))) {
            delete_account(x);
            x->nslots = 0;
        }
    }
    w->nj = 0;
    w->nts = 0;
    w->txid++; /* nothing of this transaction stays warm or original */
}

void world_add_balance(struct world *w, const struct evm_address *addr, const u256 *v)
{
    struct acct *x = u256_is_zero(v) ? live(w, addr) : get_or_create(w, addr, 1);
    if (!x) return;
    u256 nb;
    u256_add(&nb, &x->a.balance, v);
    set_balance(w, x, &nb);
}

int world_sub_balance(struct world *w, const struct evm_address *addr, const u256 *v)
{
    struct acct *x = live(w, addr);
    if (!x) return u256_is_zero(v) ? 0 : TALLY_EFUNDS;
    if (u256_cmp(&x->a.balance, v) < 0) return TALLY_EFUNDS;
    u256 nb;
    u256_sub(&nb, &x->a.balance, v);
    set_balance(w, x, &nb);
    return 0;
}

void world_inc_nonce(struct world *w, const struct evm_address *addr)
{
    struct acct *x = get_or_create(w, addr, 1);
    if (!x) return;
    jpush(w, (struct jentry){.kind = J_NONCE, .acct = idx(w, x), .old_u64 = x->a.nonce});
    x->a.nonce++;
    touch(w, x);
}

/* ---- host functions ---- */

static int h_account_exists(void *ctx, const struct evm_address *addr)
{
    struct acct *x = live(ctx, addr);
    return x && !is_empty(x);
}

static struct evm_bytes32 h_get_storage(void *ctx, const struct evm_address *addr,
                                        const struct evm_bytes32 *key)
{
    return world_storage(ctx, addr, key);
}

static enum evm_storage_status h_set_storage(void *ctx, const struct evm_address *addr,
                                             const struct evm_bytes32 *key,
                                             const struct evm_bytes32 *value)
{
    struct world *w = ctx;
    struct acct *x = get_or_create(w, addr, 1);
    struct slot *s = x ? get_slot(w, x, key) : NULL;
    if (!s) return EVM_STORAGE_ASSIGNED;
    note_orig(w, s);
    enum evm_storage_status st = evm_storage_status(&s->orig, &s->value, value);
    jpush(w, (struct jentry){.kind = J_STORAGE,
                             .acct = idx(w, x),
                             .slot = (size_t)(s - x->slots),
                             .old_val = s->value});
    s->value = *value;
    return st;
}

static u256 h_get_balance(void *ctx, const struct evm_address *addr)
{
    struct acct *x = live(ctx, addr);
    return x ? x->a.balance : u256_from_u64(0);
}

static size_t h_get_code_size(void *ctx, const struct evm_address *addr)
{
    struct acct *x = live(ctx, addr);
    return x ? x->a.code_len : 0;
}

static struct evm_bytes32 h_get_code_hash(void *ctx, const struct evm_address *addr)
{
    struct acct *x = live(ctx, addr);
    return x && !is_empty(x) ? x->a.code_hash : ZERO32;
}

static size_t h_copy_code(void *ctx, const struct evm_address *addr, size_t off, uint8_t *buf,
                          size_t len)
{
    struct acct *x = live(ctx, addr);
    if (!x || off >= x->a.code_len) return 0;
    size_t n = x->a.code_len - off < len ? x->a.code_len - off : len;
    memcpy(buf, x->a.code + off, n);
    return n;
}

static int h_selfdestruct(void *ctx, const struct evm_address *addr, const struct evm_address *ben)
{
    struct world *w = ctx;
    struct acct *x = live(w, addr);
    if (!x) return 0;
    u256 bal = x->a.balance;
    u256 zero = u256_from_u64(0);
    set_balance(w, x, &zero);
    world_add_balance(w, ben, &bal);
    x = live(w, addr); /* world_add_balance may have moved the array */
    if (!x) return 0;
    if (x->created_tx != w->txid) {
        /* EIP-6780: only the balance moves (to itself: it stays). */
        return 0;
    }
    if (x->destructed_tx == w->txid) return 0;
    jpush(w, (struct jentry){.kind = J_DESTRUCT, .acct = idx(w, x), .old_u64 = x->destructed_tx});
    x->destructed_tx = w->txid;
    return 1;
}

static const struct evm_tx_context *h_get_tx_context(void *ctx)
{
    return ((struct world *)ctx)->tx_ctx;
}

static struct evm_bytes32 h_get_block_hash(void *ctx, int64_t number)
{
    struct world *w = ctx;
    if (w->has_be && number >= 0) {
        struct evm_bytes32 h = ZERO32;
        int rc = w->be.block_hash(w->be.ctx, (uint64_t)number, h.bytes);
        if (rc) set_failed(w, rc);
        return h;
    }
    size_t i = (size_t)number % WORLD_HASHES;
    return number >= 0 && w->hash_num[i] == number ? w->hashes[i] : ZERO32;
}

static void h_emit_log(void *ctx, const struct evm_address *addr, const uint8_t *data,
                       size_t data_len, const struct evm_bytes32 topics[], size_t ntopics)
{
    struct world *w = ctx;
    if (grow((void **)&w->logs, &w->caplogs, w->nlogs + 1, sizeof *w->logs) ||
        grow((void **)&w->logdata, &w->caplogdata, w->nlogdata + data_len, 1)) {
        set_failed(w, TALLY_ENOMEM);
        return;
    }
    jpush(w, (struct jentry){.kind = J_LOG, .old_u64 = w->nlogs});
    struct log *l = &w->logs[w->nlogs++];
    l->addr = *addr;
    l->ntopics = ntopics > 4 ? 4 : ntopics;
    for (size_t k = 0; k < l->ntopics; k++) l->topics[k] = topics[k];
    l->data_off = w->nlogdata;
    l->data_len = data_len;
    if (data_len) memcpy(w->logdata + w->nlogdata, data, data_len);
    w->nlogdata += data_len;
}

static enum evm_access_status h_access_account(void *ctx, const struct evm_address *addr)
{
    struct world *w = ctx;
    struct acct *x = entry(w, addr);
    if (!x || x->warm_tx == w->txid) return EVM_ACCESS_WARM;
    jpush(w, (struct jentry){.kind = J_WARM_ACCT, .acct = idx(w, x), .old_u64 = x->warm_tx});
    x->warm_tx = w->txid;
    return EVM_ACCESS_COLD;
}

static enum evm_access_status h_access_storage(void *ctx, const struct evm_address *addr,
                                               const struct evm_bytes32 *key)
{
    struct world *w = ctx;
    struct acct *x = entry(w, addr);
    struct slot *s = x ? get_slot(w, x, key) : NULL;
    if (!s) return EVM_ACCESS_WARM;
    note_orig(w, s);
    if (s->warm_tx == w->txid) return EVM_ACCESS_WARM;
    jpush(w, (struct jentry){.kind = J_WARM_SLOT,
                             .acct = idx(w, x),
                             .slot = (size_t)(s - x->slots),
                             .old_u64 = s->warm_tx});
    s->warm_tx = w->txid;
    return EVM_ACCESS_COLD;
}

static struct tslot *find_tslot(struct world *w, const struct evm_address *addr,
                                const struct evm_bytes32 *key)
{
    for (size_t i = 0; i < w->nts; i++)
        if (addr_eq(&w->ts[i].addr, addr) && !memcmp(w->ts[i].key.bytes, key->bytes, 32))
            return &w->ts[i];
    return NULL;
}

static struct evm_bytes32 h_get_tstore(void *ctx, const struct evm_address *addr,
                                       const struct evm_bytes32 *key)
{
    struct tslot *t = find_tslot(ctx, addr, key);
    return t ? t->value : ZERO32;
}

static void h_set_tstore(void *ctx, const struct evm_address *addr, const struct evm_bytes32 *key,
                         const struct evm_bytes32 *value)
{
    struct world *w = ctx;
    struct tslot *t = find_tslot(w, addr, key);
    if (!t) {
        if (grow((void **)&w->ts, &w->capts, w->nts + 1, sizeof *w->ts)) {
            set_failed(w, TALLY_ENOMEM);
            return;
        }
        t = &w->ts[w->nts++];
        t->addr = *addr;
        t->key = *key;
        t->value = ZERO32;
    }
    jpush(w, (struct jentry){.kind = J_TSTORE, .slot = (size_t)(t - w->ts), .old_val = t->value});
    t->value = *value;
}

static void h_call(void *ctx, struct evm_result *out, const struct evm_message *msg)
{
    world_call(ctx, out, msg);
}

struct evm_host world_host(struct world *w)
{
    struct evm_host h = {
        .ctx = w,
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
    return h;
}

/* ---- calls and creates ---- */

/* Move value; creates the recipient for a non-zero amount, touches both. */
static int transfer(struct world *w, const struct evm_address *from, const struct evm_address *to,
                    const u256 *value)
{
    if (world_sub_balance(w, from, value)) return -1;
    world_add_balance(w, to, value);
    return 0;
}

static void fail_all(struct evm_result *out, enum evm_status st)
{
    evm_result_free(out);
    out->status = st;
    out->gas_left = 0;
    out->gas_refund = 0;
}

static void do_create(struct world *w, struct evm_result *out, const struct evm_message *msg)
{
    struct evm_host h = world_host(w);
    struct acct *snd = get_or_create(w, &msg->sender, 1);
    if (!snd) {
        out->status = EVM_INTERNAL_ERROR;
        return;
    }
    uint64_t nonce = snd->a.nonce;
    if (msg->depth == 0) {
        nonce--; /* the transaction layer has incremented it */
    } else {
        if (nonce == UINT64_MAX) { /* EIP-2681: fails, gas comes back */
            out->status = EVM_ARGUMENT_OUT_OF_RANGE;
            out->gas_left = msg->gas;
            return;
        }
        world_inc_nonce(w, &msg->sender);
    }
    struct evm_address na;
    if (msg->kind == EVM_CREATE)
        evm_create_address(&na, &msg->sender, nonce);
    else
        evm_create2_address(&na, &msg->sender, &msg->create2_salt, msg->input, msg->input_len);
    h_access_account(w, &na);
    struct acct *x = live(w, &na);
    if (x && (x->a.nonce || x->a.code_len || world_storage_each(w, idx(w, x), NULL, NULL))) {
        out->status = EVM_ARGUMENT_OUT_OF_RANGE; /* collision: all gas gone */
        return;
    }
    size_t snap = world_snapshot(w);
    x = get_or_create(w, &na, 1);
    if (!x) {
        out->status = EVM_INTERNAL_ERROR;
        return;
    }
    jpush(w, (struct jentry){.kind = J_NONCE, .acct = idx(w, x), .old_u64 = x->a.nonce});
    x->a.nonce = 1;
    jpush(w, (struct jentry){.kind = J_CREATED, .acct = idx(w, x), .old_u64 = x->created_tx});
    x->created_tx = w->txid;
    touch(w, x);
    if (transfer(w, &msg->sender, &na, &msg->value)) {
        out->status = EVM_INSUFFICIENT_BALANCE;
        out->gas_left = msg->gas;
        world_revert(w, snap);
        return;
    }
    struct evm_message m = *msg;
    m.recipient = na;
    m.code_address = na;
    m.input = NULL;
    m.input_len = 0;
    if (evm_execute(&h, &m, msg->input, msg->input_len, out)) out->status = EVM_INTERNAL_ERROR;
    if (out->status == EVM_SUCCESS) {
        int64_t deposit = 200 * (int64_t)out->output_len;
        if (out->output_len > EVM_MAX_CODE_SIZE || out->gas_left < deposit) {
            fail_all(out, EVM_OUT_OF_GAS);
        } else if (out->output_len && out->output[0] == 0xef) {
            fail_all(out, EVM_CONTRACT_VALIDATION_FAILURE);
        } else {
            out->gas_left -= deposit;
            x = live(w, &na);
            jpush(w, (struct jentry){.kind = J_CODE, .acct = idx(w, x)});
            x->code_new = 1;
            x->a.code = out->output;
            x->a.code_len = out->output_len;
            keccak256(x->a.code_hash.bytes, x->a.code ? x->a.code : (const uint8_t *)"",
                      x->a.code_len);
            out->output = NULL;
            out->output_len = 0;
            out->create_address = na;
            return;
        }
    }
    world_revert(w, snap);
}

void world_call(struct world *w, struct evm_result *out, const struct evm_message *msg)
{
    memset(out, 0, sizeof *out);
    if (msg->kind == EVM_CREATE || msg->kind == EVM_CREATE2) {
        do_create(w, out, msg);
    } else {
        size_t snap = world_snapshot(w);
        if (msg->kind != EVM_DELEGATECALL &&
            transfer(w, &msg->sender, &msg->recipient, &msg->value)) {
            out->status = EVM_INSUFFICIENT_BALANCE;
            out->gas_left = msg->gas;
            world_revert(w, snap);
            return;
        }
        if (msg->kind == EVM_CALL) {
            struct acct *r = live(w, &msg->recipient);
            if (r) touch(w, r);
        }
        static const uint8_t KZG_ADDR[20] = {[19] = 0x0a};
        if (!memcmp(msg->code_address.bytes, KZG_ADDR, 20)) w->used_kzg = 1;
        if (evm_precompile_is(msg->code_address.bytes)) {
            int rc =
                evm_precompile_run(&out->output, &out->output_len, &out->gas_left,
                                   msg->code_address.bytes, msg->input, msg->input_len, msg->gas);
            if (rc == TALLY_ENOMEM)
                out->status = EVM_INTERNAL_ERROR;
            else
                out->status = rc ? EVM_PRECOMPILE_FAILURE : EVM_SUCCESS;
        } else {
            struct acct *c = live(w, &msg->code_address);
            if (!c || !c->a.code_len) {
                out->status = EVM_SUCCESS;
                out->gas_left = msg->gas;
            } else {
                struct evm_host h = world_host(w);
                /* The code stays put: code is set only by a CREATE of an
                 * account with none, which cannot be this one. */
                const uint8_t *code = c->a.code;
                size_t len = c->a.code_len;
                if (evm_execute(&h, msg, code, len, out)) out->status = EVM_INTERNAL_ERROR;
            }
        }
        if (out->status != EVM_SUCCESS) {
            if (out->status != EVM_REVERT) {
                out->gas_left = 0;
                out->gas_refund = 0;
            }
            world_revert(w, snap);
        }
    }
    if (w->failed) out->status = EVM_INTERNAL_ERROR;
}
