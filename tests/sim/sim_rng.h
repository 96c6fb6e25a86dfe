/* Seeded PRNG of the simulator (splitmix64): one stream per run. */
#ifndef TALLY_SIM_RNG_H
#define TALLY_SIM_RNG_H
#include <stdint.h>

struct rng {
    uint64_t s;
};

static inline void rng_seed(struct rng *r, uint64_t seed)
{
    r->s = seed;
}

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0; the tiny modulo bias does not matter here). */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
    return n ? rng_next(r) % n : 0;
}

static inline int rng_chance(struct rng *r, double p)
{
    return p > 0 && (double)(rng_next(r) >> 11) / 9007199254740992.0 < p;
}

#endif
