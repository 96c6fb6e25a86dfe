/* Keccak-256 throughput on 1 KiB inputs, next to OpenSSL's SHA3-256 (same
 * permutation, different padding) measured in the same run.
 *
 *   bench_keccak [--json] [--seconds S]
 *
 * Prints MB/s (10^6 bytes per second) for both and ours / OpenSSL. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "crypto/keccak.h"

#define INPUT_LEN 1024

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Hash for about `seconds`, checking the clock every 256 digests. The digest
 * is fed back into the input so the work cannot be optimised away. */
static double bench_ours(double seconds, uint8_t *in)
{
    uint8_t d[32];
    uint64_t n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 256; i++) {
            keccak256(d, in, INPUT_LEN);
            in[n++ % INPUT_LEN] ^= d[0];
        }
    } while ((t = now_s() - t0) < seconds);
    return (double)n * INPUT_LEN / t / 1e6;
}

static double bench_openssl(double seconds, uint8_t *in)
{
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA3-256", NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!md || !ctx) {
        fprintf(stderr, "bench_keccak: OpenSSL SHA3-256 unavailable\n");
        exit(1);
    }
    uint8_t d[32];
    unsigned dl;
    uint64_t n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 256; i++) {
            if (!EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, in, INPUT_LEN) ||
                !EVP_DigestFinal_ex(ctx, d, &dl)) {
                fprintf(stderr, "bench_keccak: OpenSSL digest failed\n");
                exit(1);
            }
            in[n++ % INPUT_LEN] ^= d[0];
        }
    } while ((t = now_s() - t0) < seconds);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    return (double)n * INPUT_LEN / t / 1e6;
}

int main(int argc, char **argv)
{
    int json = 0;
    double seconds = 2.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--json] [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    static uint8_t in[INPUT_LEN];
    for (int i = 0; i < INPUT_LEN; i++) in[i] = (uint8_t)(i * 131 + 7);

    bench_ours(0.1, in); /* warm up caches and clock frequency */
    double ours = bench_ours(seconds, in);
    double ossl = bench_openssl(seconds, in);
    double ratio = ours / ossl;
    if (json) {
        printf("{\"bench\":\"keccak256\",\"input_bytes\":%d,\"ours_mbps\":%.1f,"
               "\"openssl_sha3_256_mbps\":%.1f,\"ratio\":%.3f}\n",
               INPUT_LEN, ours, ossl, ratio);
    } else {
        printf("keccak256 (ours)     %8.1f MB/s\n", ours);
        printf("SHA3-256 (OpenSSL)   %8.1f MB/s\n", ossl);
        printf("ratio ours/OpenSSL   %8.3f\n", ratio);
    }
    return 0;
}
