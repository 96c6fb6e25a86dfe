/* EVM interpreter speed on a pure-compute loop: each iteration MSTOREs the
 * counter, hashes those 32 bytes with KECCAK256 and folds the hash into an
 * accumulator with ADD and MUL (92 gas per iteration). The host is a stub:
 * nothing in the loop touches the world.
 *
 *   bench_evm [--iters N]     (default 1,000,000; N < 2^24)
 *
 * Prints gas used, seconds, Mgas/s and ns per iteration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "exec/evm/evm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const struct evm_tx_context tx_ctx;

static const struct evm_tx_context *stub_tx(void *ctx)
{
    (void)ctx;
    return &tx_ctx;
}

int main(int argc, char **argv)
{
    unsigned long iters = 1000000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
            iters = strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: bench_evm [--iters N]\n");
            return 2;
        }
    }
    if (iters == 0 || iters >= (1ul << 24)) {
        fprintf(stderr, "bench_evm: --iters must be 1..16777215\n");
        return 2;
    }
    const uint8_t code[] = {0x62,
                            (uint8_t)(iters >> 16),
                            (uint8_t)(iters >> 8),
                            (uint8_t)iters, /* PUSH3 n */
                            0x5f,           /* PUSH0 acc */
                            0x5b,           /* [5] JUMPDEST */
                            0x81,
                            0x5f,
                            0x52, /* DUP2 PUSH0 MSTORE */
                            0x60,
                            32,
                            0x5f,
                            0x20, /* PUSH1 32 PUSH0 KECCAK256 */
                            0x01,
                            0x60,
                            3,
                            0x02, /* ADD PUSH1 3 MUL */
                            0x90,
                            0x60,
                            1,
                            0x90,
                            0x03,
                            0x90, /* SWAP1 PUSH1 1 SWAP1 SUB SWAP1 */
                            0x81,
                            0x60,
                            5,
                            0x57,  /* DUP2 PUSH1 5 JUMPI */
                            0x00}; /* STOP */
    struct evm_host host;
    memset(&host, 0, sizeof host);
    host.get_tx_context = stub_tx;
    struct evm_message msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = EVM_CALL;
    msg.gas = INT64_MAX / 2;

    struct evm_result r;
    double t0 = now_s();
    int rc = evm_execute(&host, &msg, code, sizeof code, &r);
    double t = now_s() - t0;
    if (rc || r.status != EVM_SUCCESS) {
        fprintf(stderr, "bench_evm: rc %d status %s\n", rc, evm_status_str(r.status));
        return 1;
    }
    int64_t used = msg.gas - r.gas_left;
    printf("iterations %lu gas %lld time %.3f s  %.1f Mgas/s  %.1f ns/iteration\n", iters,
           (long long)used, t, (double)used / t / 1e6, t * 1e9 / (double)iters);
    evm_result_free(&r);
    return 0;
}
