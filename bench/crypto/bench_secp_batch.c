/* secp_batch_check against one secp_recover per signature (libsecp256k1),
 * measured in the same run, single thread.
 *
 *   bench_secp_batch [--json] [--seconds S] [--sweep]
 *
 * Prints microseconds per signature for batch sizes 128..4096, for the batch
 * check and for recovery, and batch / recover. Each figure is the fastest of
 * 5 alternating slices (of S/5 seconds each; default S = 2), against noise
 * on a shared machine. --sweep also times the
 * multi-scalar multiplication alone for every window width at each size
 * (scalars shaped like the batch's: half 128-bit, half 256-bit), to tune the
 * automatic choice. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "crypto/secp.h"
#include "crypto/secp256k1_group.h"
#include "crypto/secp_batch.h"

#define MAX_ITEMS 4096
#define SLICES    5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x5eed;

static uint64_t rnd64(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void rnd_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd64();
}

static uint8_t digests[MAX_ITEMS][32], sigs[MAX_ITEMS][64], pubs[MAX_ITEMS][64];
static int recids[MAX_ITEMS];
static struct secp_batch_item items[MAX_ITEMS];

static void make_items(void)
{
    for (int i = 0; i < MAX_ITEMS; i++) {
        uint8_t priv[32];
        do rnd_bytes(priv, 32);
        while (secp_pubkey(pubs[i], priv) != 0);
        rnd_bytes(digests[i], 32);
        if (secp_sign(sigs[i], &recids[i], digests[i], priv) != 0) {
            fprintf(stderr, "bench_secp_batch: signing failed\n");
            exit(1);
        }
        items[i] = (struct secp_batch_item){digests[i], sigs[i], recids[i], pubs[i]};
    }
}

/* Microseconds per signature checking batches of size b for about `seconds`
 * (at least one pass over all items). */
static double bench_batch(size_t b, double seconds)
{
    uint64_t sigs_done = 0;
    size_t off = 0;
    double t0 = now_s(), t;
    do {
        if (off + b > MAX_ITEMS) off = 0;
        int rc = secp_batch_check(items + off, b);
        if (rc != 0) {
            fprintf(stderr, "bench_secp_batch: a valid batch was rejected (%d)\n", rc);
            exit(1);
        }
        off += b;
        sigs_done += b;
    } while ((t = now_s() - t0) < seconds || sigs_done < MAX_ITEMS);
    return t * 1e6 / (double)sigs_done;
}

static double bench_recover(double seconds)
{
    uint64_t n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 256; i++, n++) {
            uint8_t pub[64];
            int k = (int)(n % MAX_ITEMS);
            if (secp_recover(pub, sigs[k], recids[k], digests[k]) != 0 ||
                memcmp(pub, pubs[k], 64) != 0) {
                fprintf(stderr, "bench_secp_batch: recovery failed\n");
                exit(1);
            }
        }
    } while ((t = now_s() - t0) < seconds);
    return t * 1e6 / (double)n;
}

/* Time the multi-scalar multiplication alone for each window width. */
static void sweep(const size_t *sizes, int nsizes)
{
    size_t np = 2 * MAX_ITEMS + 1;
    secp__ge *pts = malloc(np * sizeof *pts);
    secp__sc *ks = malloc(np * sizeof *ks);
    if (!pts || !ks) exit(1);
    for (size_t i = 0; i < np; i++) {
        /* Points: the items' keys; scalars: half 128-bit, half full. */
        (void)secp__fe_set_b32(&pts[i].x, pubs[i % MAX_ITEMS]);
        (void)secp__fe_set_b32(&pts[i].y, pubs[i % MAX_ITEMS] + 32);
        uint8_t be[32];
        rnd_bytes(be, 32);
        if (i % 2) memset(be, 0, 16);
        (void)secp__sc_set_b32(&ks[i], be);
    }
    for (int s = 0; s < nsizes; s++) {
        size_t n = 2 * sizes[s] + 1;
        printf("msm for %4zu sigs (%5zu points, auto w%2d):", sizes[s], n, secp__msm_window(ks, n));
        for (int w = 5; w <= 13; w++) {
            int reps = 0;
            double t0 = now_s(), t;
            do {
                secp__gej r;
                if (secp__msm(&r, pts, ks, n, w) != 0) exit(1);
                reps++;
            } while ((t = now_s() - t0) < 0.3);
            printf(" w%d %.2f", w, t * 1e6 / reps / (double)sizes[s]);
        }
        printf("  (us per signature)\n");
    }
    free(pts);
    free(ks);
}

int main(int argc, char **argv)
{
    int json = 0, do_sweep = 0;
    double seconds = 2.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--sweep")) {
            do_sweep = 1;
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--json] [--seconds S] [--sweep]\n", argv[0]);
            return 2;
        }
    }
    static const size_t sizes[] = {128, 256, 512, 1024, 2048, 4096};
    const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
    make_items();
    if (do_sweep) sweep(sizes, nsizes);

    /* The machine may be shared: alternate short slices of both, and keep
     * each one's fastest slice, so that load from elsewhere hits both sides
     * alike and is mostly filtered out. */
    (void)bench_recover(0.1); /* warm up */
    if (!json) printf("batch   batch us/sig   recover us/sig   batch/recover\n");
    for (int s = 0; s < nsizes; s++) {
        double b = 1e30, rec = 1e30;
        for (int rep = 0; rep < SLICES; rep++) {
            double t = bench_recover(seconds / SLICES);
            if (t < rec) rec = t;
            t = bench_batch(sizes[s], seconds / SLICES);
            if (t < b) b = t;
        }
        if (json) {
            printf("{\"bench\":\"secp_batch\",\"batch\":%zu,\"batch_us_per_sig\":%.2f,"
                   "\"recover_us_per_sig\":%.2f,\"ratio\":%.3f}\n",
                   sizes[s], b, rec, b / rec);
        } else {
            printf("%5zu   %12.2f   %14.2f   %13.3f\n", sizes[s], b, rec, b / rec);
        }
        fflush(stdout);
    }
    return 0;
}
