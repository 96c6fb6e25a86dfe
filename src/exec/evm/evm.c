/* The EVM interpreter: one switch over the opcode per step, the static gas
 * and stack checks from one table, dynamic gas in the cases. Allocation per
 * frame only: the stack (32 KiB), memory (grows by doubling), the jump
 * destination bitmap (built on the first jump), the return-data buffer of
 * the last sub-call (taken over from the callee's result) and the output. */
#include <stdlib.h>
#include <string.h>
#include "crypto/keccak.h"
#include "exec/evm/evm.h"
#include "exec/evm/evm_int.h"

/* Cancun gas constants that are not in the opcode table. */
#define G_COLD_ACCOUNT_EXTRA 2500 /* 2600 cold account access - 100 warm */
#define G_COLD_ACCOUNT       2600
#define G_COLD_SLOAD         2100
#define G_COLD_SLOAD_EXTRA   2000 /* 2100 - 100 */
#define G_WARM               100
#define G_SSTORE_SET         20000
#define G_SSTORE_RESET       2900 /* 5000 - 2100 */
#define R_SSTORE_CLEAR       4800 /* EIP-3529 */
#define G_SSTORE_SENTRY      2300 /* EIP-2200: SSTORE needs gas > this */
#define G_CALL_VALUE         9000
#define G_CALL_STIPEND       2300
#define G_NEW_ACCOUNT        25000
#define G_COPY_WORD          3
#define G_KECCAK_WORD        6
#define G_LOG_DATA           8
#define G_EXP_BYTE           50
#define G_INITCODE_WORD      2 /* EIP-3860 */

struct op_info {
    const char *name;
    int32_t gas;
    uint8_t in;  /* stack items required */
    int8_t grow; /* net stack change */
    uint8_t defined;
};

static const struct op_info op_table[256] = {
#define EVM__OP_INFO(code, nm, g, i, o) [code] = {#nm, g, i, (o) - (i), 1},
    EVM_OPCODES(EVM__OP_INFO)
#undef EVM__OP_INFO
};

struct frame {
    const struct evm_host *host;
    const struct evm_message *msg;
    const uint8_t *code;
    size_t code_len;
    int64_t gas;
    int64_t refund;
    u256 *stack;
    uint8_t *mem;
    size_t mem_len; /* msize: a multiple of 32 */
    size_t mem_cap;
    uint8_t *ret; /* return data of the last sub-call (owned) */
    size_t ret_len;
    uint8_t *out; /* RETURN/REVERT output (owned until moved to the result) */
    size_t out_len;
    uint8_t *jumpdests; /* bitmap over code, NULL until the first jump */
    const struct evm_tx_context *tx;
    int nomem;
};

/* ---- conversions ---- */

static inline uint64_t be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

static inline u256 load32(const uint8_t *p)
{
    u256 r = {{be64(p + 24), be64(p + 16), be64(p + 8), be64(p)}};
    return r;
}

static inline void store32(uint8_t *p, const u256 *v)
{
    put_be64(p, v->w[3]);
    put_be64(p + 8, v->w[2]);
    put_be64(p + 16, v->w[1]);
    put_be64(p + 24, v->w[0]);
}

/* n <= 32 big-endian bytes. */
static inline u256 load_be(const uint8_t *p, size_t n)
{
    uint8_t b[32] = {0};
    memcpy(b + 32 - n, p, n);
    return load32(b);
}

static inline struct evm_address to_addr(const u256 *v)
{
    uint8_t b[32];
    struct evm_address a;
    store32(b, v);
    memcpy(a.bytes, b + 12, 20);
    return a;
}

static inline u256 from_addr(const struct evm_address *a)
{
    return load_be(a->bytes, 20);
}

static inline struct evm_bytes32 to_b32(const u256 *v)
{
    struct evm_bytes32 b;
    store32(b.bytes, v);
    return b;
}

static inline u256 from_b32(const struct evm_bytes32 *b)
{
    return load32(b->bytes);
}

static inline u256 from_i64(int64_t v)
{
    return u256_from_u64((uint64_t)v);
}

static inline size_t num_words(size_t n)
{
    return (n + 31) / 32;
}

/* ---- memory ---- */

static int64_t mem_cost(size_t words)
{
    return (int64_t)(3 * words + words * words / 512);
}

/* Grow memory to cover end bytes, charging the expansion. */
static enum evm_status mem_grow(struct frame *f, size_t end)
{
    size_t words = num_words(end);
    f->gas -= mem_cost(words) - mem_cost(f->mem_len / 32);
    if (f->gas < 0) return EVM_OUT_OF_GAS;
    size_t len = words * 32;
    if (len > f->mem_cap) {
        size_t cap = f->mem_cap ? f->mem_cap : 4096;
        while (cap < len) cap *= 2;
        uint8_t *m = realloc(f->mem, cap);
        if (!m) {
            f->nomem = 1;
            return EVM_INTERNAL_ERROR;
        }
        memset(m + f->mem_cap, 0, cap - f->mem_cap);
        f->mem = m;
        f->mem_cap = cap;
    }
    f->mem_len = len;
    return EVM_SUCCESS;
}

/* Make [off, off + len) addressable and return it as size_t in *o, *n. A
 * zero length touches nothing (off may then be anything). */
static inline enum evm_status mem_range(struct frame *f, size_t *o, size_t *n, const u256 *off,
                                        const u256 *len)
{
    if (u256_is_zero(len)) {
        *o = 0;
        *n = 0;
        return EVM_SUCCESS;
    }
    if (!u256_fits_u64(off) || !u256_fits_u64(len) || off->w[0] > EVM_MAX_MEMORY ||
        len->w[0] > EVM_MAX_MEMORY - off->w[0])
        return EVM_OUT_OF_GAS;
    *o = (size_t)off->w[0];
    *n = (size_t)len->w[0];
    if (*o + *n > f->mem_len) return mem_grow(f, *o + *n);
    return EVM_SUCCESS;
}

/* Copy n bytes of src (src_len bytes) from src_off into dst, zero past the
 * end. src_off may be any 256-bit value. */
static void copy_padded(uint8_t *dst, size_t n, const uint8_t *src, size_t src_len,
                        const u256 *src_off)
{
    size_t avail = 0;
    if (u256_fits_u64(src_off) && src_off->w[0] < src_len) {
        avail = src_len - (size_t)src_off->w[0];
        if (avail > n) avail = n;
        memcpy(dst, src + src_off->w[0], avail);
    }
    memset(dst + avail, 0, n - avail);
}

static inline int charge(struct frame *f, int64_t cost)
{
    return (f->gas -= cost) >= 0;
}

static const struct evm_tx_context *txc(struct frame *f)
{
    if (!f->tx) f->tx = f->host->get_tx_context(f->host->ctx);
    return f->tx;
}

static void ret_clear(struct frame *f)
{
    free(f->ret);
    f->ret = NULL;
    f->ret_len = 0;
}

/* ---- jumps ---- */

static int build_jumpdests(struct frame *f)
{
    f->jumpdests = calloc(f->code_len / 8 + 1, 1);
    if (!f->jumpdests) return -1;
    for (size_t i = 0; i < f->code_len; i++) {
        uint8_t op = f->code[i];
        if (op == OP_JUMPDEST)
            f->jumpdests[i / 8] |= (uint8_t)(1u << (i % 8));
        else if (op >= OP_PUSH1 && op <= OP_PUSH32)
            i += (size_t)(op - OP_PUSH1 + 1);
    }
    return 0;
}

/* 0 and the new pc in *pc, or an evm_status. */
static enum evm_status jump_to(struct frame *f, size_t *pc, const u256 *dest)
{
    if (!u256_fits_u64(dest) || dest->w[0] >= f->code_len) return EVM_BAD_JUMP_DESTINATION;
    if (!f->jumpdests && build_jumpdests(f)) {
        f->nomem = 1;
        return EVM_INTERNAL_ERROR;
    }
    size_t d = (size_t)dest->w[0];
    if (!(f->jumpdests[d / 8] & (1u << (d % 8)))) return EVM_BAD_JUMP_DESTINATION;
    *pc = d;
    return EVM_SUCCESS;
}

/* ---- SSTORE ---- */

/* Gas and refund per storage status (EIP-2200 as changed by EIP-2929 and
 * EIP-3529), not counting the cold-slot surcharge. */
static const struct {
    int32_t gas, refund;
} sstore_cost[9] = {
    [EVM_STORAGE_ASSIGNED] = {G_WARM, 0},
    [EVM_STORAGE_ADDED] = {G_SSTORE_SET, 0},
    [EVM_STORAGE_DELETED] = {G_SSTORE_RESET, R_SSTORE_CLEAR},
    [EVM_STORAGE_MODIFIED] = {G_SSTORE_RESET, 0},
    [EVM_STORAGE_DELETED_ADDED] = {G_WARM, -R_SSTORE_CLEAR},
    [EVM_STORAGE_MODIFIED_DELETED] = {G_WARM, R_SSTORE_CLEAR},
    [EVM_STORAGE_DELETED_RESTORED] = {G_WARM, -R_SSTORE_CLEAR + G_SSTORE_RESET - G_WARM},
    [EVM_STORAGE_ADDED_DELETED] = {G_WARM, G_SSTORE_SET - G_WARM},
    [EVM_STORAGE_MODIFIED_RESTORED] = {G_WARM, G_SSTORE_RESET - G_WARM},
};

static enum evm_status op_sstore(struct frame *f, const u256 *key, const u256 *val)
{
    if (f->msg->flags & EVM_STATIC) return EVM_STATIC_MODE_VIOLATION;
    if (f->gas <= G_SSTORE_SENTRY) return EVM_OUT_OF_GAS;
    const struct evm_host *h = f->host;
    struct evm_bytes32 k = to_b32(key), v = to_b32(val);
    int64_t cost = 0;
    if (h->access_storage(h->ctx, &f->msg->recipient, &k) == EVM_ACCESS_COLD) cost = G_COLD_SLOAD;
    enum evm_storage_status s = h->set_storage(h->ctx, &f->msg->recipient, &k, &v);
    if ((unsigned)s > EVM_STORAGE_MODIFIED_RESTORED) s = EVM_STORAGE_ASSIGNED;
    cost += sstore_cost[s].gas;
    if (!charge(f, cost)) return EVM_OUT_OF_GAS;
    f->refund += sstore_cost[s].refund;
    return EVM_SUCCESS;
}

/* ---- calls and creates ---- */

/* Take over a sub-call's output as this frame's return data. */
static void ret_take(struct frame *f, struct evm_result *r)
{
    ret_clear(f);
    f->ret = r->output;
    f->ret_len = r->output_len;
    r->output = NULL;
    r->output_len = 0;
}

/* Run a sub-call or create through the host into *r. 1 when the host
 * failed (EVM_INTERNAL_ERROR: *r freed, the whole execution stops). */
static int host_call(const struct evm_host *h, struct evm_result *r, const struct evm_message *m)
{
    memset(r, 0, sizeof *r);
    h->call(h->ctx, r, m);
    if (r->status != EVM_INTERNAL_ERROR) return 0;
    evm_result_free(r);
    return 1;
}

/* CALL, CALLCODE, DELEGATECALL, STATICCALL. args[] holds the operands in
 * stack order (top first); *res is set to 1 on success of the callee. */
static enum evm_status op_call(struct frame *f, u256 *res, uint8_t op, const u256 *args)
{
    const struct evm_host *h = f->host;
    const struct evm_message *cur = f->msg;
    int has_value_arg = op == OP_CALL || op == OP_CALLCODE;
    u256 value = has_value_arg ? args[2] : u256_from_u64(0);
    const u256 *io = args + (has_value_arg ? 3 : 2);
    int has_value = !u256_is_zero(&value);
    struct evm_address dst = to_addr(&args[1]);
    size_t in_o, in_n, out_o, out_n;
    enum evm_status s;

    *res = u256_from_u64(0);
    ret_clear(f);
    if (h->access_account(h->ctx, &dst) == EVM_ACCESS_COLD && !charge(f, G_COLD_ACCOUNT_EXTRA))
        return EVM_OUT_OF_GAS;
    if ((s = mem_range(f, &in_o, &in_n, &io[0], &io[1]))) return s;
    if ((s = mem_range(f, &out_o, &out_n, &io[2], &io[3]))) return s;

    struct evm_message m;
    memset(&m, 0, sizeof m);
    m.kind = op == OP_CALL           ? EVM_CALL
             : op == OP_CALLCODE     ? EVM_CALLCODE
             : op == OP_DELEGATECALL ? EVM_DELEGATECALL
                                     : EVM_STATICCALL;
    m.flags = op == OP_STATICCALL ? (cur->flags | EVM_STATIC) : cur->flags;
    m.depth = cur->depth + 1;
    m.recipient = (op == OP_CALL || op == OP_STATICCALL) ? dst : cur->recipient;
    m.code_address = dst;
    m.sender = op == OP_DELEGATECALL ? cur->sender : cur->recipient;
    m.value = op == OP_DELEGATECALL ? cur->value : value;
    m.input = in_n ? f->mem + in_o : NULL;
    m.input_len = in_n;

    int64_t cost = has_value ? G_CALL_VALUE : 0;
    if (op == OP_CALL && has_value) {
        if (cur->flags & EVM_STATIC) return EVM_STATIC_MODE_VIOLATION;
        if (!h->account_exists(h->ctx, &dst)) cost += G_NEW_ACCOUNT;
    }
    if (!charge(f, cost)) return EVM_OUT_OF_GAS;

    /* EIP-150: at most all but one 64th of what is left. */
    int64_t cap = f->gas - f->gas / 64;
    m.gas =
        (!u256_fits_u64(&args[0]) || args[0].w[0] > (uint64_t)cap) ? cap : (int64_t)args[0].w[0];
    if (has_value) {
        m.gas += G_CALL_STIPEND;
        f->gas += G_CALL_STIPEND;
    }
    if (cur->depth >= EVM_MAX_DEPTH) return EVM_SUCCESS; /* light failure: 0 */
    if (has_value) {
        u256 bal = h->get_balance(h->ctx, &cur->recipient);
        if (u256_cmp(&bal, &value) < 0) return EVM_SUCCESS;
    }

    struct evm_result r;
    if (host_call(h, &r, &m)) return EVM_INTERNAL_ERROR;
    ret_take(f, &r);
    *res = u256_from_u64(r.status == EVM_SUCCESS);
    size_t copy = out_n < f->ret_len ? out_n : f->ret_len;
    if (copy) memcpy(f->mem + out_o, f->ret, copy);
    f->gas -= m.gas - r.gas_left;
    f->refund += r.gas_refund;
    return EVM_SUCCESS;
}

/* CREATE, CREATE2. args[] in stack order: value, offset, size[, salt]. */
static enum evm_status op_create(struct frame *f, u256 *res, uint8_t op, const u256 *args)
{
    const struct evm_host *h = f->host;
    const struct evm_message *cur = f->msg;
    size_t o, n;
    enum evm_status s;

    if (cur->flags & EVM_STATIC) return EVM_STATIC_MODE_VIOLATION;
    *res = u256_from_u64(0);
    ret_clear(f);
    if ((s = mem_range(f, &o, &n, &args[1], &args[2]))) return s;
    if (n > EVM_MAX_INITCODE) return EVM_OUT_OF_GAS;
    int64_t per_word = G_INITCODE_WORD + (op == OP_CREATE2 ? G_KECCAK_WORD : 0);
    if (!charge(f, per_word * (int64_t)num_words(n))) return EVM_OUT_OF_GAS;
    if (cur->depth >= EVM_MAX_DEPTH) return EVM_SUCCESS;
    if (!u256_is_zero(&args[0])) {
        u256 bal = h->get_balance(h->ctx, &cur->recipient);
        if (u256_cmp(&bal, &args[0]) < 0) return EVM_SUCCESS;
    }

    struct evm_message m;
    memset(&m, 0, sizeof m);
    m.kind = op == OP_CREATE2 ? EVM_CREATE2 : EVM_CREATE;
    m.flags = cur->flags;
    m.depth = cur->depth + 1;
    m.gas = f->gas - f->gas / 64;
    m.sender = cur->recipient;
    m.input = n ? f->mem + o : NULL;
    m.input_len = n;
    m.value = args[0];
    if (op == OP_CREATE2) m.create2_salt = to_b32(&args[3]);

    struct evm_result r;
    if (host_call(h, &r, &m)) return EVM_INTERNAL_ERROR;
    f->gas -= m.gas - r.gas_left;
    f->refund += r.gas_refund;
    if (r.status == EVM_SUCCESS) {
        *res = from_addr(&r.create_address);
        evm_result_free(&r); /* return data is empty after a successful create */
    } else {
        ret_take(f, &r);
    }
    return EVM_SUCCESS;
}

/* ---- the other opcodes that touch the host or need locals ---- */

static enum evm_status op_log(struct frame *f, unsigned ntopics, const u256 *args)
{
    struct evm_bytes32 topics[4];
    size_t o, n;
    enum evm_status s;
    if (f->msg->flags & EVM_STATIC) return EVM_STATIC_MODE_VIOLATION;
    if ((s = mem_range(f, &o, &n, &args[0], &args[1]))) return s;
    if (!charge(f, G_LOG_DATA * (int64_t)n)) return EVM_OUT_OF_GAS;
    for (unsigned i = 0; i < ntopics; i++) topics[i] = to_b32(&args[2 + i]);
    f->host->emit_log(f->host->ctx, &f->msg->recipient, n ? f->mem + o : NULL, n, topics, ntopics);
    return EVM_SUCCESS;
}

static enum evm_status op_selfdestruct(struct frame *f, const u256 *target)
{
    const struct evm_host *h = f->host;
    struct evm_address ben = to_addr(target);
    if (f->msg->flags & EVM_STATIC) return EVM_STATIC_MODE_VIOLATION;
    if (h->access_account(h->ctx, &ben) == EVM_ACCESS_COLD && !charge(f, G_COLD_ACCOUNT))
        return EVM_OUT_OF_GAS;
    u256 bal = h->get_balance(h->ctx, &f->msg->recipient);
    if (!u256_is_zero(&bal) && !h->account_exists(h->ctx, &ben) && !charge(f, G_NEW_ACCOUNT))
        return EVM_OUT_OF_GAS;
    h->selfdestruct(h->ctx, &f->msg->recipient, &ben);
    return EVM_SUCCESS;
}

/* RETURN / REVERT: copy the output out of memory. */
static enum evm_status op_return(struct frame *f, const u256 *off, const u256 *len,
                                 enum evm_status ok)
{
    size_t o, n;
    enum evm_status s = mem_range(f, &o, &n, off, len);
    if (s) return s;
    if (n) {
        f->out = malloc(n);
        if (!f->out) {
            f->nomem = 1;
            return EVM_INTERNAL_ERROR;
        }
        memcpy(f->out, f->mem + o, n);
        f->out_len = n;
    }
    return ok;
}

/* CALLDATACOPY, CODECOPY, RETURNDATACOPY (src given) and EXTCODECOPY. */
static enum evm_status op_copy(struct frame *f, const u256 *dst, const u256 *src_off,
                               const u256 *len, const uint8_t *src, size_t src_len)
{
    size_t o, n;
    enum evm_status s = mem_range(f, &o, &n, dst, len);
    if (s) return s;
    if (!charge(f, G_COPY_WORD * (int64_t)num_words(n))) return EVM_OUT_OF_GAS;
    if (n) copy_padded(f->mem + o, n, src, src_len, src_off);
    return EVM_SUCCESS;
}

static enum evm_status op_extcodecopy(struct frame *f, const u256 *args)
{
    const struct evm_host *h = f->host;
    struct evm_address a = to_addr(&args[0]);
    size_t o, n;
    enum evm_status s;
    if (h->access_account(h->ctx, &a) == EVM_ACCESS_COLD && !charge(f, G_COLD_ACCOUNT_EXTRA))
        return EVM_OUT_OF_GAS;
    if ((s = mem_range(f, &o, &n, &args[1], &args[3]))) return s;
    if (!charge(f, G_COPY_WORD * (int64_t)num_words(n))) return EVM_OUT_OF_GAS;
    if (!n) return EVM_SUCCESS;
    size_t got = 0;
    if (u256_fits_u64(&args[2]) && args[2].w[0] <= SIZE_MAX)
        got = h->copy_code(h->ctx, &a, (size_t)args[2].w[0], f->mem + o, n);
    if (got > n) got = n;
    memset(f->mem + o + got, 0, n - got);
    return EVM_SUCCESS;
}

static enum evm_status op_returndatacopy(struct frame *f, const u256 *args)
{
    size_t o, n;
    enum evm_status s = mem_range(f, &o, &n, &args[0], &args[2]);
    if (s) return s;
    const u256 *src = &args[1];
    if (!u256_fits_u64(src) || src->w[0] > f->ret_len || n > f->ret_len - src->w[0])
        return EVM_INVALID_MEMORY_ACCESS;
    if (!charge(f, G_COPY_WORD * (int64_t)num_words(n))) return EVM_OUT_OF_GAS;
    if (n) memcpy(f->mem + o, f->ret + src->w[0], n);
    return EVM_SUCCESS;
}

static enum evm_status op_mcopy(struct frame *f, const u256 *args)
{
    size_t d, s_off, n;
    enum evm_status s;
    if ((s = mem_range(f, &d, &n, &args[0], &args[2]))) return s;
    if ((s = mem_range(f, &s_off, &n, &args[1], &args[2]))) return s;
    if (!charge(f, G_COPY_WORD * (int64_t)num_words(n))) return EVM_OUT_OF_GAS;
    if (n) memmove(f->mem + d, f->mem + s_off, n);
    return EVM_SUCCESS;
}

static u256 blockhash(struct frame *f, const u256 *num)
{
    int64_t cur = txc(f)->number;
    int64_t lo = cur > 256 ? cur - 256 : 0;
    if (!u256_fits_u64(num) || num->w[0] >= (uint64_t)cur || num->w[0] < (uint64_t)lo)
        return u256_from_u64(0);
    struct evm_bytes32 b = f->host->get_block_hash(f->host->ctx, (int64_t)num->w[0]);
    return from_b32(&b);
}

/* ---- the loop ---- */

#define T(k) st[sp - 1 - (k)] /* k-th item from the top */
#define CHECK(expr)                  \
    do {                             \
        enum evm_status s_ = (expr); \
        if (s_) return s_;           \
    } while (0)

static enum evm_status run(struct frame *f)
{
    const struct evm_host *h = f->host;
    const struct evm_message *msg = f->msg;
    const uint8_t *code = f->code;
    const size_t code_len = f->code_len;
    u256 *st = f->stack;
    int sp = 0; /* items on the stack */
    size_t pc = 0;

    for (;;) {
        uint8_t op = pc < code_len ? code[pc] : OP_STOP;
        const struct op_info *oi = &op_table[op];
        if (!oi->defined) return EVM_UNDEFINED_INSTRUCTION;
        if (sp < oi->in) return EVM_STACK_UNDERFLOW;
        if (sp + oi->grow > EVM_STACK_LIMIT) return EVM_STACK_OVERFLOW;
        if ((f->gas -= oi->gas) < 0) return EVM_OUT_OF_GAS;

        switch (op) {
        case OP_STOP: return EVM_SUCCESS;
        case OP_ADD: u256_add(&T(1), &T(0), &T(1)); break;
        case OP_MUL: u256_mul(&T(1), &T(0), &T(1)); break;
        case OP_SUB: u256_sub(&T(1), &T(0), &T(1)); break;
        case OP_DIV: evm__divmod(&T(1), NULL, &T(0), &T(1)); break;
        case OP_SDIV: evm__sdiv(&T(1), &T(0), &T(1)); break;
        case OP_MOD: evm__divmod(NULL, &T(1), &T(0), &T(1)); break;
        case OP_SMOD: evm__smod(&T(1), &T(0), &T(1)); break;
        case OP_ADDMOD: evm__addmod(&T(2), &T(0), &T(1), &T(2)); break;
        case OP_MULMOD: evm__mulmod(&T(2), &T(0), &T(1), &T(2)); break;
        case OP_EXP:
            if (!charge(f, G_EXP_BYTE * (int64_t)evm__byte_len(&T(1)))) return EVM_OUT_OF_GAS;
            evm__exp(&T(1), &T(0), &T(1));
            break;
        case OP_SIGNEXTEND: evm__signextend(&T(1), &T(0), &T(1)); break;
        case OP_LT: T(1) = u256_from_u64(u256_cmp(&T(0), &T(1)) < 0); break;
        case OP_GT: T(1) = u256_from_u64(u256_cmp(&T(0), &T(1)) > 0); break;
        case OP_SLT: T(1) = u256_from_u64(evm__scmp(&T(0), &T(1)) < 0); break;
        case OP_SGT: T(1) = u256_from_u64(evm__scmp(&T(0), &T(1)) > 0); break;
        case OP_EQ: T(1) = u256_from_u64(u256_cmp(&T(0), &T(1)) == 0); break;
        case OP_ISZERO: T(0) = u256_from_u64(u256_is_zero(&T(0))); break;
        case OP_AND:
            for (int i = 0; i < 4; i++) T(1).w[i] &= T(0).w[i];
            break;
        case OP_OR:
            for (int i = 0; i < 4; i++) T(1).w[i] |= T(0).w[i];
            break;
        case OP_XOR:
            for (int i = 0; i < 4; i++) T(1).w[i] ^= T(0).w[i];
            break;
        case OP_NOT:
            for (int i = 0; i < 4; i++) T(0).w[i] = ~T(0).w[i];
            break;
        case OP_BYTE: evm__byte(&T(1), &T(0), &T(1)); break;
        case OP_SHL: evm__shl(&T(1), &T(1), &T(0)); break;
        case OP_SHR: evm__shr(&T(1), &T(1), &T(0)); break;
        case OP_SAR: evm__sar(&T(1), &T(1), &T(0)); break;

        case OP_KECCAK256: {
            size_t o, n;
            uint8_t d[32];
            CHECK(mem_range(f, &o, &n, &T(0), &T(1)));
            if (!charge(f, G_KECCAK_WORD * (int64_t)num_words(n))) return EVM_OUT_OF_GAS;
            keccak256(d, n ? f->mem + o : d, n);
            T(1) = load32(d);
            break;
        }

        case OP_ADDRESS: st[sp] = from_addr(&msg->recipient); break;
        case OP_BALANCE: {
            struct evm_address a = to_addr(&T(0));
            if (h->access_account(h->ctx, &a) == EVM_ACCESS_COLD &&
                !charge(f, G_COLD_ACCOUNT_EXTRA))
                return EVM_OUT_OF_GAS;
            T(0) = h->get_balance(h->ctx, &a);
            break;
        }
        case OP_ORIGIN: st[sp] = from_addr(&txc(f)->origin); break;
        case OP_CALLER: st[sp] = from_addr(&msg->sender); break;
        case OP_CALLVALUE: st[sp] = msg->value; break;
        case OP_CALLDATALOAD: {
            uint8_t b[32];
            copy_padded(b, 32, msg->input, msg->input_len, &T(0));
            T(0) = load32(b);
            break;
        }
        case OP_CALLDATASIZE: st[sp] = u256_from_u64(msg->input_len); break;
        case OP_CALLDATACOPY:
            CHECK(op_copy(f, &T(0), &T(1), &T(2), msg->input, msg->input_len));
            break;
        case OP_CODESIZE: st[sp] = u256_from_u64(code_len); break;
        case OP_CODECOPY: CHECK(op_copy(f, &T(0), &T(1), &T(2), code, code_len)); break;
        case OP_GASPRICE: st[sp] = txc(f)->gas_price; break;
        case OP_EXTCODESIZE: {
            struct evm_address a = to_addr(&T(0));
            if (h->access_account(h->ctx, &a) == EVM_ACCESS_COLD &&
                !charge(f, G_COLD_ACCOUNT_EXTRA))
                return EVM_OUT_OF_GAS;
            T(0) = u256_from_u64(h->get_code_size(h->ctx, &a));
            break;
        }
        case OP_EXTCODECOPY: {
            u256 args[4] = {T(0), T(1), T(2), T(3)};
            CHECK(op_extcodecopy(f, args));
            break;
        }
        case OP_RETURNDATASIZE: st[sp] = u256_from_u64(f->ret_len); break;
        case OP_RETURNDATACOPY: {
            u256 args[3] = {T(0), T(1), T(2)};
            CHECK(op_returndatacopy(f, args));
            break;
        }
        case OP_EXTCODEHASH: {
            struct evm_address a = to_addr(&T(0));
            if (h->access_account(h->ctx, &a) == EVM_ACCESS_COLD &&
                !charge(f, G_COLD_ACCOUNT_EXTRA))
                return EVM_OUT_OF_GAS;
            struct evm_bytes32 hash = h->get_code_hash(h->ctx, &a);
            T(0) = from_b32(&hash);
            break;
        }

        case OP_BLOCKHASH: T(0) = blockhash(f, &T(0)); break;
        case OP_COINBASE: st[sp] = from_addr(&txc(f)->coinbase); break;
        case OP_TIMESTAMP: st[sp] = from_i64(txc(f)->timestamp); break;
        case OP_NUMBER: st[sp] = from_i64(txc(f)->number); break;
        case OP_PREVRANDAO: st[sp] = from_b32(&txc(f)->prevrandao); break;
        case OP_GASLIMIT: st[sp] = from_i64(txc(f)->gas_limit); break;
        case OP_CHAINID: st[sp] = txc(f)->chain_id; break;
        case OP_SELFBALANCE: st[sp] = h->get_balance(h->ctx, &msg->recipient); break;
        case OP_BASEFEE: st[sp] = txc(f)->base_fee; break;
        case OP_BLOBHASH: {
            const struct evm_tx_context *tx = txc(f);
            if (u256_fits_u64(&T(0)) && T(0).w[0] < tx->blob_hashes_count)
                T(0) = from_b32(&tx->blob_hashes[T(0).w[0]]);
            else
                T(0) = u256_from_u64(0);
            break;
        }
        case OP_BLOBBASEFEE: st[sp] = txc(f)->blob_base_fee; break;

        case OP_POP: break;
        case OP_MLOAD: {
            size_t o, n;
            u256 len32 = u256_from_u64(32);
            CHECK(mem_range(f, &o, &n, &T(0), &len32));
            T(0) = load32(f->mem + o);
            break;
        }
        case OP_MSTORE: {
            size_t o, n;
            u256 len32 = u256_from_u64(32);
            CHECK(mem_range(f, &o, &n, &T(0), &len32));
            store32(f->mem + o, &T(1));
            break;
        }
        case OP_MSTORE8: {
            size_t o, n;
            u256 len1 = u256_from_u64(1);
            CHECK(mem_range(f, &o, &n, &T(0), &len1));
            f->mem[o] = (uint8_t)T(1).w[0];
            break;
        }
        case OP_SLOAD: {
            struct evm_bytes32 k = to_b32(&T(0));
            if (h->access_storage(h->ctx, &msg->recipient, &k) == EVM_ACCESS_COLD &&
                !charge(f, G_COLD_SLOAD_EXTRA))
                return EVM_OUT_OF_GAS;
            struct evm_bytes32 v = h->get_storage(h->ctx, &msg->recipient, &k);
            T(0) = from_b32(&v);
            break;
        }
        case OP_SSTORE: CHECK(op_sstore(f, &T(0), &T(1))); break;
        case OP_JUMP:
            CHECK(jump_to(f, &pc, &T(0)));
            sp--;
            continue;
        case OP_JUMPI:
            if (!u256_is_zero(&T(1))) {
                CHECK(jump_to(f, &pc, &T(0)));
                sp -= 2;
                continue;
            }
            break;
        case OP_PC: st[sp] = u256_from_u64(pc); break;
        case OP_MSIZE: st[sp] = u256_from_u64(f->mem_len); break;
        case OP_GAS: st[sp] = from_i64(f->gas); break;
        case OP_JUMPDEST: break;
        case OP_TLOAD: {
            struct evm_bytes32 k = to_b32(&T(0));
            struct evm_bytes32 v = h->get_transient_storage(h->ctx, &msg->recipient, &k);
            T(0) = from_b32(&v);
            break;
        }
        case OP_TSTORE: {
            if (msg->flags & EVM_STATIC) return EVM_STATIC_MODE_VIOLATION;
            struct evm_bytes32 k = to_b32(&T(0)), v = to_b32(&T(1));
            h->set_transient_storage(h->ctx, &msg->recipient, &k, &v);
            break;
        }
        case OP_MCOPY: {
            u256 args[3] = {T(0), T(1), T(2)};
            CHECK(op_mcopy(f, args));
            break;
        }
        case OP_PUSH0: st[sp] = u256_from_u64(0); break;
        case OP_PUSH1:
            st[sp] = u256_from_u64(pc + 1 < code_len ? code[pc + 1] : 0);
            pc++;
            break;
        case OP_PUSH2:
        case OP_PUSH3:
        case OP_PUSH4:
        case OP_PUSH5:
        case OP_PUSH6:
        case OP_PUSH7:
        case OP_PUSH8:
        case OP_PUSH9:
        case OP_PUSH10:
        case OP_PUSH11:
        case OP_PUSH12:
        case OP_PUSH13:
        case OP_PUSH14:
        case OP_PUSH15:
        case OP_PUSH16:
        case OP_PUSH17:
        case OP_PUSH18:
        case OP_PUSH19:
        case OP_PUSH20:
        case OP_PUSH21:
        case OP_PUSH22:
        case OP_PUSH23:
        case OP_PUSH24:
        case OP_PUSH25:
        case OP_PUSH26:
        case OP_PUSH27:
        case OP_PUSH28:
        case OP_PUSH29:
        case OP_PUSH30:
        case OP_PUSH31:
        case OP_PUSH32: {
            size_t n = (size_t)(op - OP_PUSH1 + 1);
            if (pc + n < code_len) {
                st[sp] = load_be(code + pc + 1, n);
            } else {
                /* Truncated at the end of code: the missing bytes are zero. */
                uint8_t b[32] = {0};
                size_t avail = pc + 1 < code_len ? code_len - pc - 1 : 0;
                memcpy(b, code + pc + 1, avail);
                st[sp] = load_be(b, n);
            }
            pc += n;
            break;
        }
        case OP_DUP1:
        case OP_DUP2:
        case OP_DUP3:
        case OP_DUP4:
        case OP_DUP5:
        case OP_DUP6:
        case OP_DUP7:
        case OP_DUP8:
        case OP_DUP9:
        case OP_DUP10:
        case OP_DUP11:
        case OP_DUP12:
        case OP_DUP13:
        case OP_DUP14:
        case OP_DUP15:
        case OP_DUP16: st[sp] = T(op - OP_DUP1); break;
        case OP_SWAP1:
        case OP_SWAP2:
        case OP_SWAP3:
        case OP_SWAP4:
        case OP_SWAP5:
        case OP_SWAP6:
        case OP_SWAP7:
        case OP_SWAP8:
        case OP_SWAP9:
        case OP_SWAP10:
        case OP_SWAP11:
        case OP_SWAP12:
        case OP_SWAP13:
        case OP_SWAP14:
        case OP_SWAP15:
        case OP_SWAP16: {
            u256 t = T(0);
            T(0) = T(op - OP_SWAP1 + 1);
            T(op - OP_SWAP1 + 1) = t;
            break;
        }
        case OP_LOG0:
        case OP_LOG1:
        case OP_LOG2:
        case OP_LOG3:
        case OP_LOG4: {
            unsigned nt = (unsigned)(op - OP_LOG0);
            u256 args[6];
            for (unsigned i = 0; i < 2 + nt; i++) args[i] = T(i);
            CHECK(op_log(f, nt, args));
            break;
        }
        case OP_CREATE:
        case OP_CREATE2: {
            u256 args[4] = {T(0), T(1), T(2), op == OP_CREATE2 ? T(3) : u256_from_u64(0)};
            u256 res;
            CHECK(op_create(f, &res, op, args));
            st[sp + oi->grow - 1] = res;
            break;
        }
        case OP_CALL:
        case OP_CALLCODE:
        case OP_DELEGATECALL:
        case OP_STATICCALL: {
            u256 args[7];
            for (int i = 0; i < oi->in; i++) args[i] = T(i);
            u256 res;
            CHECK(op_call(f, &res, op, args));
            st[sp + oi->grow - 1] = res;
            break;
        }
        case OP_RETURN: return op_return(f, &T(0), &T(1), EVM_SUCCESS);
        case OP_REVERT: return op_return(f, &T(0), &T(1), EVM_REVERT);
        case OP_INVALID: return EVM_INVALID_INSTRUCTION;
        case OP_SELFDESTRUCT: CHECK(op_selfdestruct(f, &T(0))); return EVM_SUCCESS;
        default: return EVM_UNDEFINED_INSTRUCTION;
        }
        sp += oi->grow;
        pc++;
    }
}

#undef T
#undef CHECK

int evm_execute(const struct evm_host *host, const struct evm_message *msg, const uint8_t *code,
                size_t code_len, struct evm_result *out)
{
    if (!host || !msg || !out || (!code && code_len)) return TALLY_EINVAL;
    memset(out, 0, sizeof *out);
    if (msg->depth > EVM_MAX_DEPTH) {
        out->status = EVM_CALL_DEPTH_EXCEEDED;
        return 0;
    }
    struct frame f;
    memset(&f, 0, sizeof f);
    f.host = host;
    f.msg = msg;
    f.code = code;
    f.code_len = code_len;
    f.gas = msg->gas;
    f.stack = malloc(EVM_STACK_LIMIT * sizeof(u256));
    if (!f.stack) {
        out->status = EVM_INTERNAL_ERROR;
        return TALLY_ENOMEM;
    }

    enum evm_status s = run(&f);
    out->status = s;
    if (s == EVM_SUCCESS || s == EVM_REVERT) {
        out->gas_left = f.gas;
        out->gas_refund = s == EVM_SUCCESS ? f.refund : 0;
        out->output = f.out;
        out->output_len = f.out_len;
        f.out = NULL;
    }
    free(f.out);
    free(f.stack);
    free(f.mem);
    free(f.ret);
    free(f.jumpdests);
    return f.nomem ? TALLY_ENOMEM : 0;
}

void evm_result_free(struct evm_result *r)
{
    if (!r) return;
    free(r->output);
    r->output = NULL;
    r->output_len = 0;
}

static int b32_is_zero(const struct evm_bytes32 *b)
{
    static const struct evm_bytes32 zero;
    return memcmp(b->bytes, zero.bytes, 32) == 0;
}

static int b32_eq(const struct evm_bytes32 *a, const struct evm_bytes32 *b)
{
    return memcmp(a->bytes, b->bytes, 32) == 0;
}

enum evm_storage_status evm_storage_status(const struct evm_bytes32 *original,
                                           const struct evm_bytes32 *current,
                                           const struct evm_bytes32 *new_value)
{
    if (b32_eq(current, new_value)) return EVM_STORAGE_ASSIGNED;
    if (b32_eq(original, current)) { /* clean slot */
        if (b32_is_zero(original)) return EVM_STORAGE_ADDED;
        if (b32_is_zero(new_value)) return EVM_STORAGE_DELETED;
        return EVM_STORAGE_MODIFIED;
    }
    /* dirty slot */
    if (b32_is_zero(original))
        return b32_is_zero(new_value) ? EVM_STORAGE_ADDED_DELETED : EVM_STORAGE_ASSIGNED;
    if (b32_is_zero(current))
        return b32_eq(new_value, original) ? EVM_STORAGE_DELETED_RESTORED
                                           : EVM_STORAGE_DELETED_ADDED;
    if (b32_is_zero(new_value)) return EVM_STORAGE_MODIFIED_DELETED;
    if (b32_eq(new_value, original)) return EVM_STORAGE_MODIFIED_RESTORED;
    return EVM_STORAGE_ASSIGNED;
}

void evm_create_address(struct evm_address *out, const struct evm_address *sender, uint64_t nonce)
{
    uint8_t buf[32], h[32];
    size_t n = 0, nl = 0;
    uint8_t nb[8];
    for (int i = 7; i >= 0; i--) {
        uint8_t b = (uint8_t)(nonce >> (8 * i));
        if (nl || b) nb[nl++] = b;
    }
    buf[n++] = 0; /* list header, set below */
    buf[n++] = 0x80 + 20;
    memcpy(buf + n, sender->bytes, 20);
    n += 20;
    if (nonce == 0) {
        buf[n++] = 0x80;
    } else if (nonce < 0x80) {
        buf[n++] = (uint8_t)nonce;
    } else {
        buf[n++] = (uint8_t)(0x80 + nl);
        memcpy(buf + n, nb, nl);
        n += nl;
    }
    buf[0] = (uint8_t)(0xc0 + (n - 1));
    keccak256(h, buf, n);
    memcpy(out->bytes, h + 12, 20);
}

void evm_create2_address(struct evm_address *out, const struct evm_address *sender,
                         const struct evm_bytes32 *salt, const uint8_t *initcode,
                         size_t initcode_len)
{
    uint8_t buf[85], h[32];
    buf[0] = 0xff;
    memcpy(buf + 1, sender->bytes, 20);
    memcpy(buf + 21, salt->bytes, 32);
    keccak256(buf + 53, initcode_len ? initcode : buf, initcode_len);
    keccak256(h, buf, sizeof buf);
    memcpy(out->bytes, h + 12, 20);
}

const char *evm_opcode_name(uint8_t op)
{
    return op_table[op].defined ? op_table[op].name : "UNDEFINED";
}

const char *evm_status_str(enum evm_status s)
{
    switch (s) {
    case EVM_SUCCESS: return "success";
    case EVM_REVERT: return "execution reverted";
    case EVM_OUT_OF_GAS: return "out of gas";
    case EVM_INVALID_INSTRUCTION: return "invalid opcode";
    case EVM_UNDEFINED_INSTRUCTION: return "undefined opcode";
    case EVM_STACK_OVERFLOW: return "stack overflow";
    case EVM_STACK_UNDERFLOW: return "stack underflow";
    case EVM_BAD_JUMP_DESTINATION: return "invalid jump destination";
    case EVM_INVALID_MEMORY_ACCESS: return "return data out of bounds";
    case EVM_CALL_DEPTH_EXCEEDED: return "max call depth exceeded";
    case EVM_STATIC_MODE_VIOLATION: return "write protection";
    case EVM_PRECOMPILE_FAILURE: return "precompile failed";
    case EVM_CONTRACT_VALIDATION_FAILURE: return "invalid code: must not begin with 0xef";
    case EVM_ARGUMENT_OUT_OF_RANGE: return "argument out of range";
    case EVM_INSUFFICIENT_BALANCE: return "insufficient balance for transfer";
    case EVM_INTERNAL_ERROR: return "internal error";
    }
    return "unknown status";
}
