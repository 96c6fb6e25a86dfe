/* The genesis description (parsed from genesis.json by node/). */
#ifndef TALLY_CHAIN_GENESIS_H
#define TALLY_CHAIN_GENESIS_H
#include <stddef.h>
#include <stdint.h>
#include "util/u256.h"

#define GENESIS_MAX_ALLOC   100000
#define GENESIS_MAX_ISSUERS 64

struct genesis_alloc {
    uint8_t addr[20];
    u256 balance;
};

struct genesis {
    uint64_t chain_id;
    uint64_t timestamp_ms;
    uint64_t block_gas_limit;    /* per block */
    uint64_t tx_gas_limit;       /* per transaction (<= block_gas_limit) */
    u256 base_fee;               /* constant base fee per gas (0 on consortium chains) */
    struct genesis_alloc *alloc; /* owned */
    size_t nalloc;
    uint8_t (*issuers)[20]; /* owned: accounts whose transfers mint new funds */
    size_t nissuers;
};

#endif
