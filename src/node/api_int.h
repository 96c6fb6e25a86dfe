/* Helpers shared by the JSON-RPC sources of node/ (api.c, api_evm.c). */
#ifndef TALLY_NODE_API_INT_H
#define TALLY_NODE_API_INT_H
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include "chain/block.h"
#include "chain/receipt.h"
#include "node/node_int.h"

/* JSON values: 0x hex bytes, 0x quantity, 0x u256 quantity. */
cJSON *j_hex(const uint8_t *p, size_t len);
cJSON *j_qty(uint64_t v);
cJSON *j_u256(const u256 *v);

/* params[i] (NULL if params is not an array or is shorter). */
const cJSON *param(const cJSON *params, int i);
/* params[i] as exactly n bytes of 0x hex; 0 or -1. */
int param_bytes(const cJSON *params, int i, uint8_t *out, size_t n);
void bad_params(struct rpc_req *req, const char *msg);

/* A block tag ("latest", "earliest", a 0x height...) to a height; NULL means
 * latest. -1 on a malformed tag. */
int block_tag(struct node *n, const cJSON *tag, uint64_t *height);

/* Only the committed head's state is kept: 0 if tag names it (or is
 * absent); else answers req (bad tag, or historical state refused) and
 * returns -1. */
int latest_only(struct node *n, struct rpc_req *req, const cJSON *tag);

/* The header fields of block b as eth_getBlockByNumber shows them (no
 * size, transactions or uncles), with bloom as its logs bloom. */
cJSON *header_json(const struct block *b, const uint8_t bloom[256]);

/* The logs of receipt r (transaction index of block b) as Ethereum log
 * objects. */
cJSON *logs_json(const struct block *b, size_t index, const struct receipt *r);

/* The receipts of block b (committed): *rcpts points at the node's recent
 * copy (*owned 0) or a decoded array to receipts_free(.., b->ntx) (*owned
 * 1). Errors: store errors. */
int block_receipts(struct node *n, const struct block *b, struct receipt **rcpts, int *owned);

/* The logs bloom of block b: all zero when no transaction in it can have
 * logged (each used exactly 21000 gas), else the OR of its receipts'. */
void block_bloom(struct node *n, const struct block *b, uint8_t out[256]);

/* The name genesis gives validator id ("" if none). */
const char *validator_name(struct node *n, const uint8_t id[32]);

/* A JSON-RPC method for registration. */
struct api_method {
    const char *name;
    rpc_method_fn fn;
};

/* Register count methods on the node's server. Errors: TALLY_ENOMEM. */
int api_register_methods(struct node *n, const struct api_method *m, size_t count);

/* api_evm.c: register the contract methods (eth_call, eth_estimateGas,
 * eth_getCode, eth_getStorageAt, eth_getLogs, eth_subscribe,
 * eth_unsubscribe). Errors: TALLY_ENOMEM. */
int node_api_evm_register(struct node *n);

/* api_explorer.c: register the explorer's listings (tally_nodes,
 * tally_blocks, tally_latestTxs, tally_accountTxs). Errors: TALLY_ENOMEM. */
int node_api_explorer_register(struct node *n);

#endif
