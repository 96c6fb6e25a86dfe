#include "store/txindex.h"
#include <stdlib.h>
#include <string.h>

/* Open addressing over entries; the hash's first 8 bytes are already random. */
struct txindex {
    struct txindex_entry *slots;
    uint8_t *used;
    size_t cap; /* power of two */
    size_t count;
};

static uint64_t slot_of(const uint8_t hash[32])
{
    uint64_t h;
    memcpy(&h, hash, 8);
    return h;
}

static int alloc_table(struct txindex *x, size_t cap)
{
    x->slots = malloc(cap * sizeof *x->slots);
    x->used = calloc(cap, 1);
    if (!x->slots || !x->used) {
        free(x->slots);
        free(x->used);
        return TALLY_ENOMEM;
    }
    x->cap = cap;
    x->count = 0;
    return 0;
}

int txindex_new(struct txindex **out)
{
    struct txindex *x = calloc(1, sizeof *x);
    if (!x) return TALLY_ENOMEM;
    if (alloc_table(x, 1024)) {
        free(x);
        return TALLY_ENOMEM;
    }
    *out = x;
    return 0;
}

void txindex_free(struct txindex *x)
{
    if (!x) return;
    free(x->slots);
    free(x->used);
    free(x);
}

static void insert(struct txindex *x, const struct txindex_entry *e)
{
    size_t mask = x->cap - 1, i = (size_t)slot_of(e->hash) & mask;
    while (x->used[i]) {
        if (!memcmp(x->slots[i].hash, e->hash, 32)) {
            x->slots[i] = *e; /* the same tx again (a re-added block): newest wins */
            return;
        }
        i = (i + 1) & mask;
    }
    x->used[i] = 1;
    x->slots[i] = *e;
    x->count++;
}

/* Rebuild into a table of cap slots, without the entries at heights <= drop_upto
 * when drop is set. */
static int rehash(struct txindex *x, size_t cap, uint64_t drop_upto, int drop)
{
    struct txindex old = *x;
    if (alloc_table(x, cap)) {
        *x = old;
        return TALLY_ENOMEM;
    }
    for (size_t i = 0; i < old.cap; i++)
        if (old.used[i] && !(drop && old.slots[i].height <= drop_upto)) insert(x, &old.slots[i]);
    free(old.slots);
    free(old.used);
    return 0;
}

int txindex_reserve(struct txindex *x, size_t n)
{
    size_t need = x->count + n, cap = x->cap;
    while (need * 2 > cap) cap *= 2; /* load factor <= 1/2 */
    if (cap != x->cap && rehash(x, cap, 0, 0)) return TALLY_ENOMEM;
    return 0;
}

int txindex_add_block(struct txindex *x, const struct block *b)
{
    if (txindex_reserve(x, b->ntx)) return TALLY_ENOMEM;
    for (size_t i = 0; i < b->ntx; i++) {
        struct txindex_entry e;
        memcpy(e.hash, b->txs[i]->hash, 32);
        e.height = b->h.height;
        e.index = (uint32_t)i;
        insert(x, &e);
    }
    return 0;
}

int txindex_get(const struct txindex *x, uint64_t *height, uint32_t *index, const uint8_t hash[32])
{
    size_t mask = x->cap - 1, i = (size_t)slot_of(hash) & mask;
    while (x->used[i]) {
        if (!memcmp(x->slots[i].hash, hash, 32)) {
            *height = x->slots[i].height;
            *index = x->slots[i].index;
            return 0;
        }
        i = (i + 1) & mask;
    }
    return TALLY_ENOTFOUND;
}

size_t txindex_count(const struct txindex *x)
{
    return x->count;
}

static int cmp_entry(const void *a, const void *b)
{
    return memcmp(((const struct txindex_entry *)a)->hash, ((const struct txindex_entry *)b)->hash,
                  32);
}

int txindex_sorted(const struct txindex *x, struct txindex_entry **out, size_t *n, uint64_t upto)
{
    struct txindex_entry *v = malloc((x->count ? x->count : 1) * sizeof *v);
    if (!v) return TALLY_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < x->cap; i++)
        if (x->used[i] && x->slots[i].height <= upto) v[k++] = x->slots[i];
    qsort(v, k, sizeof *v, cmp_entry);
    *out = v;
    *n = k;
    return 0;
}

void txindex_drop_upto(struct txindex *x, uint64_t upto)
{
    /* On ENOMEM the table stays as it is: lookups still answer correctly
     * (the dropped entries are on disk too), it is only larger. */
    if (rehash(x, x->cap, upto, 1)) return;
}
