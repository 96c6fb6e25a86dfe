/* Keccak-256 (Ethereum flavour: original Keccak padding 0x01 .. 0x80,
 * rate 136 bytes, capacity 512 bits).
 *
 * The permutation keeps all 25 lanes in local variables and computes two
 * rounds per loop iteration (A -> E, then E -> A), the layout of XKCP's
 * "generic64" code: theta, rho, pi, chi and iota are written out per lane, so
 * the compiler keeps the state in registers and there is no table lookup in
 * the hot path except the round constant. */
#include "crypto/keccak.h"
#include <string.h>

#define KECCAK_RATE       136 /* bytes: (1600 - 2 * 256) / 8 */
#define KECCAK_RATE_LANES (KECCAK_RATE / 8)

static const uint64_t keccak_rc[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

static inline uint64_t rol64(uint64_t x, unsigned n)
{
    return (x << n) | (x >> ((64 - n) & 63));
}

static inline uint64_t load64_le(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
#endif
}

static inline void store64_le(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 8);
#else
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
#endif
}

/* One round from the lanes named X.. into the lanes named Y.., with round
 * constant rc. Lane names: row b g k m s (y = 0..4), column a e i o u
 * (x = 0..4); Xge is lane (x = 1, y = 1), i.e. st[6].
 *
 * Lane complementing (Keccak team, "Keccak implementation overview" 2.2):
 * lanes 1, 2, 8, 12, 17, 20 are kept complemented inside the permutation,
 * which turns most of chi's ANDNOTs into plain AND/OR and saves ~20 NOTs
 * per round. The column parities C.. for the next round's theta are
 * accumulated while the output lanes are produced. */
#define KECCAK_ROUND(X, Y, rc)         \
    do {                               \
        Da = Cu ^ rol64(Ce, 1);        \
        De = Ca ^ rol64(Ci, 1);        \
        Di = Ce ^ rol64(Co, 1);        \
        Do = Ci ^ rol64(Cu, 1);        \
        Du = Co ^ rol64(Ca, 1);        \
                                       \
        Ba = X##ba ^ Da;               \
        Be = rol64(X##ge ^ De, 44);    \
        Bi = rol64(X##ki ^ Di, 43);    \
        Bo = rol64(X##mo ^ Do, 21);    \
        Bu = rol64(X##su ^ Du, 14);    \
        Y##ba = Ba ^ (Be | Bi) ^ (rc); \
        Ca = Y##ba;                    \
        Y##be = Be ^ (~Bi | Bo);       \
        Ce = Y##be;                    \
        Y##bi = Bi ^ (Bo & Bu);        \
        Ci = Y##bi;                    \
        Y##bo = Bo ^ (Bu | Ba);        \
        Co = Y##bo;                    \
        Y##bu = Bu ^ (Ba & Be);        \
        Cu = Y##bu;                    \
                                       \
        Ba = rol64(X##bo ^ Do, 28);    \
        Be = rol64(X##gu ^ Du, 20);    \
        Bi = rol64(X##ka ^ Da, 3);     \
        Bo = rol64(X##me ^ De, 45);    \
        Bu = rol64(X##si ^ Di, 61);    \
        Y##ga = Ba ^ (Be | Bi);        \
        Ca ^= Y##ga;                   \
        Y##ge = Be ^ (Bi & Bo);        \
        Ce ^= Y##ge;                   \
        Y##gi = Bi ^ (Bo | ~Bu);       \
        Ci ^= Y##gi;                   \
        Y##go = Bo ^ (Bu | Ba);        \
        Co ^= Y##go;                   \
        Y##gu = Bu ^ (Ba & Be);        \
        Cu ^= Y##gu;                   \
                                       \
        Ba = rol64(X##be ^ De, 1);     \
        Be = rol64(X##gi ^ Di, 6);     \
        Bi = rol64(X##ko ^ Do, 25);    \
        Bo = rol64(X##mu ^ Du, 8);     \
        Bu = rol64(X##sa ^ Da, 18);    \
        Y##ka = Ba ^ (Be | Bi);        \
        Ca ^= Y##ka;                   \
        Y##ke = Be ^ (Bi & Bo);        \
        Ce ^= Y##ke;                   \
        Y##ki = Bi ^ (~Bo & Bu);       \
        Ci ^= Y##ki;                   \
        Y##ko = ~Bo ^ (Bu | Ba);       \
        Co ^= Y##ko;                   \
        Y##ku = Bu ^ (Ba & Be);        \
        Cu ^= Y##ku;                   \
                                       \
        Ba = rol64(X##bu ^ Du, 27);    \
        Be = rol64(X##ga ^ Da, 36);    \
        Bi = rol64(X##ke ^ De, 10);    \
        Bo = rol64(X##mi ^ Di, 15);    \
        Bu = rol64(X##so ^ Do, 56);    \
        Y##ma = Ba ^ (Be & Bi);        \
        Ca ^= Y##ma;                   \
        Y##me = Be ^ (Bi | Bo);        \
        Ce ^= Y##me;                   \
        Y##mi = Bi ^ (~Bo | Bu);       \
        Ci ^= Y##mi;                   \
        Y##mo = ~Bo ^ (Bu & Ba);       \
        Co ^= Y##mo;                   \
        Y##mu = Bu ^ (Ba | Be);        \
        Cu ^= Y##mu;                   \
                                       \
        Ba = rol64(X##bi ^ Di, 62);    \
        Be = rol64(X##go ^ Do, 55);    \
        Bi = rol64(X##ku ^ Du, 39);    \
        Bo = rol64(X##ma ^ Da, 41);    \
        Bu = rol64(X##se ^ De, 2);     \
        Y##sa = Ba ^ (~Be & Bi);       \
        Ca ^= Y##sa;                   \
        Y##se = ~Be ^ (Bi | Bo);       \
        Ce ^= Y##se;                   \
        Y##si = Bi ^ (Bo & Bu);        \
        Ci ^= Y##si;                   \
        Y##so = Bo ^ (Bu | Ba);        \
        Co ^= Y##so;                   \
        Y##su = Bu ^ (Ba & Be);        \
        Cu ^= Y##su;                   \
    } while (0)

/* The same round with plain chi (x ^ (~y & z)), for CPUs with BMI1's ANDN,
 * where lane complementing buys nothing. */
#define KECCAK_ROUND_ANDN(X, Y, rc)     \
    do {                                \
        Da = Cu ^ rol64(Ce, 1);         \
        De = Ca ^ rol64(Ci, 1);         \
        Di = Ce ^ rol64(Co, 1);         \
        Do = Ci ^ rol64(Cu, 1);         \
        Du = Co ^ rol64(Ca, 1);         \
                                        \
        Ba = X##ba ^ Da;                \
        Be = rol64(X##ge ^ De, 44);     \
        Bi = rol64(X##ki ^ Di, 43);     \
        Bo = rol64(X##mo ^ Do, 21);     \
        Bu = rol64(X##su ^ Du, 14);     \
        Y##ba = Ba ^ (~Be & Bi) ^ (rc); \
        Ca = Y##ba;                     \
        Y##be = Be ^ (~Bi & Bo);        \
        Ce = Y##be;                     \
        Y##bi = Bi ^ (~Bo & Bu);        \
        Ci = Y##bi;                     \
        Y##bo = Bo ^ (~Bu & Ba);        \
        Co = Y##bo;                     \
        Y##bu = Bu ^ (~Ba & Be);        \
        Cu = Y##bu;                     \
                                        \
        Ba = rol64(X##bo ^ Do, 28);     \
        Be = rol64(X##gu ^ Du, 20);     \
        Bi = rol64(X##ka ^ Da, 3);      \
        Bo = rol64(X##me ^ De, 45);     \
        Bu = rol64(X##si ^ Di, 61);     \
        Y##ga = Ba ^ (~Be & Bi);        \
        Ca ^= Y##ga;                    \
        Y##ge = Be ^ (~Bi & Bo);        \
        Ce ^= Y##ge;                    \
        Y##gi = Bi ^ (~Bo & Bu);        \
        Ci ^= Y##gi;                    \
        Y##go = Bo ^ (~Bu & Ba);        \
        Co ^= Y##go;                    \
        Y##gu = Bu ^ (~Ba & Be);        \
        Cu ^= Y##gu;                    \
                                        \
        Ba = rol64(X##be ^ De, 1);      \
        Be = rol64(X##gi ^ Di, 6);      \
        Bi = rol64(X##ko ^ Do, 25);     \
        Bo = rol64(X##mu ^ Du, 8);      \
        Bu = rol64(X##sa ^ Da, 18);     \
        Y##ka = Ba ^ (~Be & Bi);        \
        Ca ^= Y##ka;                    \
        Y##ke = Be ^ (~Bi & Bo);        \
        Ce ^= Y##ke;                    \
        Y##ki = Bi ^ (~Bo & Bu);        \
        Ci ^= Y##ki;                    \
        Y##ko = Bo ^ (~Bu & Ba);        \
        Co ^= Y##ko;                    \
        Y##ku = Bu ^ (~Ba & Be);        \
        Cu ^= Y##ku;                    \
                                        \
        Ba = rol64(X##bu ^ Du, 27);     \
        Be = rol64(X##ga ^ Da, 36);     \
        Bi = rol64(X##ke ^ De, 10);     \
        Bo = rol64(X##mi ^ Di, 15);     \
        Bu = rol64(X##so ^ Do, 56);     \
        Y##ma = Ba ^ (~Be & Bi);        \
        Ca ^= Y##ma;                    \
        Y##me = Be ^ (~Bi & Bo);        \
        Ce ^= Y##me;                    \
        Y##mi = Bi ^ (~Bo & Bu);        \
        Ci ^= Y##mi;                    \
        Y##mo = Bo ^ (~Bu & Ba);        \
        Co ^= Y##mo;                    \
        Y##mu = Bu ^ (~Ba & Be);        \
        Cu ^= Y##mu;                    \
                                        \
        Ba = rol64(X##bi ^ Di, 62);     \
        Be = rol64(X##go ^ Do, 55);     \
        Bi = rol64(X##ku ^ Du, 39);     \
        Bo = rol64(X##ma ^ Da, 41);     \
        Bu = rol64(X##se ^ De, 2);      \
        Y##sa = Ba ^ (~Be & Bi);        \
        Ca ^= Y##sa;                    \
        Y##se = Be ^ (~Bi & Bo);        \
        Ce ^= Y##se;                    \
        Y##si = Bi ^ (~Bo & Bu);        \
        Ci ^= Y##si;                    \
        Y##so = Bo ^ (~Bu & Ba);        \
        Co ^= Y##so;                    \
        Y##su = Bu ^ (~Ba & Be);        \
        Cu ^= Y##su;                    \
    } while (0)

/* keccak_f1600 body with round macro R; lanes 1, 2, 8, 12, 17, 20 are
 * XORed with N on load and store (N = ~0 for lane complementing, 0 else). */
#define KECCAK_F1600_BODY(R, N)                                                         \
    uint64_t Aba, Abe, Abi, Abo, Abu, Aga, Age, Agi, Ago, Agu, Aka, Ake, Aki, Ako, Aku; \
    uint64_t Ama, Ame, Ami, Amo, Amu, Asa, Ase, Asi, Aso, Asu;                          \
    uint64_t Eba, Ebe, Ebi, Ebo, Ebu, Ega, Ege, Egi, Ego, Egu, Eka, Eke, Eki, Eko, Eku; \
    uint64_t Ema, Eme, Emi, Emo, Emu, Esa, Ese, Esi, Eso, Esu;                          \
    uint64_t Ba, Be, Bi, Bo, Bu, Ca, Ce, Ci, Co, Cu, Da, De, Di, Do, Du;                \
                                                                                        \
    Aba = st[0], Abe = st[1] ^ (N), Abi = st[2] ^ (N), Abo = st[3], Abu = st[4];        \
    Aga = st[5], Age = st[6], Agi = st[7], Ago = st[8] ^ (N), Agu = st[9];              \
    Aka = st[10], Ake = st[11], Aki = st[12] ^ (N), Ako = st[13], Aku = st[14];         \
    Ama = st[15], Ame = st[16], Ami = st[17] ^ (N), Amo = st[18], Amu = st[19];         \
    Asa = st[20] ^ (N), Ase = st[21], Asi = st[22], Aso = st[23], Asu = st[24];         \
                                                                                        \
    Ca = Aba ^ Aga ^ Aka ^ Ama ^ Asa;                                                   \
    Ce = Abe ^ Age ^ Ake ^ Ame ^ Ase;                                                   \
    Ci = Abi ^ Agi ^ Aki ^ Ami ^ Asi;                                                   \
    Co = Abo ^ Ago ^ Ako ^ Amo ^ Aso;                                                   \
    Cu = Abu ^ Agu ^ Aku ^ Amu ^ Asu;                                                   \
                                                                                        \
    for (int r = 0; r < 24; r += 2) {                                                   \
        R(A, E, keccak_rc[r]);                                                          \
        R(E, A, keccak_rc[r + 1]);                                                      \
    }                                                                                   \
                                                                                        \
    st[0] = Aba, st[1] = Abe ^ (N), st[2] = Abi ^ (N), st[3] = Abo, st[4] = Abu;        \
    st[5] = Aga, st[6] = Age, st[7] = Agi, st[8] = Ago ^ (N), st[9] = Agu;              \
    st[10] = Aka, st[11] = Ake, st[12] = Aki ^ (N), st[13] = Ako, st[14] = Aku;         \
    st[15] = Ama, st[16] = Ame, st[17] = Ami ^ (N), st[18] = Amo, st[19] = Amu;         \
    st[20] = Asa ^ (N), st[21] = Ase, st[22] = Asi, st[23] = Aso, st[24] = Asu

/* Portable version: lane complementing. */
static void keccak_f1600_generic(uint64_t st[25])
{
    KECCAK_F1600_BODY(KECCAK_ROUND, ~(uint64_t)0);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(TALLY_KECCAK_PORTABLE)
/* x86-64 with BMI1/BMI2: ANDN does chi's ~y & z in one instruction and RORX
 * rotates without a copy. Chosen at run time (~10% faster at -O2). */
__attribute__((target("bmi,bmi2"))) static void keccak_f1600_bmi(uint64_t st[25])
{
    KECCAK_F1600_BODY(KECCAK_ROUND_ANDN, (uint64_t)0);
}

/* Set once before main (constructors run single-threaded); until then the
 * generic code is used, which gives the same digests. */
static int keccak_use_bmi;

__attribute__((constructor)) static void keccak_pick_impl(void)
{
    __builtin_cpu_init();
    keccak_use_bmi = __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
}

static void keccak_f1600(uint64_t st[25])
{
    if (keccak_use_bmi)
        keccak_f1600_bmi(st);
    else
        keccak_f1600_generic(st);
}
#else
#define keccak_f1600 keccak_f1600_generic
#endif

/* XOR one full rate block (136 bytes) into the state and permute. */
static inline void absorb_block(uint64_t st[25], const uint8_t *p)
{
    for (int i = 0; i < KECCAK_RATE_LANES; i++) st[i] ^= load64_le(p + 8 * i);
    keccak_f1600(st);
}

/* XOR n bytes into the state starting at byte offset pos (pos + n <= rate). */
static void absorb_bytes(uint64_t st[25], size_t pos, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++, pos++) st[pos / 8] ^= (uint64_t)p[i] << (8 * (pos % 8));
}

void keccak256_init(struct keccak_ctx *c)
{
    memset(c->st, 0, sizeof c->st);
    c->pos = 0;
}

void keccak256_update(struct keccak_ctx *c, const void *in, size_t len)
{
    const uint8_t *p = in;
    if (len == 0) return;
    if (c->pos) {
        size_t take = KECCAK_RATE - c->pos;
        if (take > len) take = len;
        absorb_bytes(c->st, c->pos, p, take);
        c->pos += take;
        p += take;
        len -= take;
        if (c->pos < KECCAK_RATE) return;
        keccak_f1600(c->st);
        c->pos = 0;
    }
    while (len >= KECCAK_RATE) {
        absorb_block(c->st, p);
        p += KECCAK_RATE;
        len -= KECCAK_RATE;
    }
    absorb_bytes(c->st, 0, p, len);
    c->pos = len;
}

void keccak256_final(struct keccak_ctx *c, uint8_t out[32])
{
    /* pos < rate always holds here: a full block is permuted as soon as it
     * fills. Padding 0x01 at pos and 0x80 at the last rate byte (they may be
     * the same byte: 0x81). */
    c->st[c->pos / 8] ^= (uint64_t)0x01 << (8 * (c->pos % 8));
    c->st[KECCAK_RATE_LANES - 1] ^= (uint64_t)0x80 << 56;
    keccak_f1600(c->st);
    for (int i = 0; i < 4; i++) store64_le(out + 8 * i, c->st[i]);
    keccak256_init(c);
}

void keccak256(uint8_t out[32], const void *in, size_t len)
{
    struct keccak_ctx c;
    keccak256_init(&c);
    keccak256_update(&c, in, len);
    keccak256_final(&c, out);
}
