/* Node configuration (config.ini, INI like FISCO BCOS) and genesis.json. */
#ifndef TALLY_NODE_CONFIG_H
#define TALLY_NODE_CONFIG_H
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include "chain/genesis.h"
#include "util/err.h"

#define NODE_PATH_MAX    1024
#define GENESIS_FILE_MAX (16u * 1024 * 1024)
#define NODE_MAX_PEERS   128
#define NODE_PEER_MAX    128 /* "host:port" */

struct node_cfg {
    char dir[NODE_PATH_MAX];          /* the node directory (config.ini lives here) */
    char name[64];                    /* [node] name */
    char data_dir[NODE_PATH_MAX];     /* [node] data_dir, relative to dir */
    char key_path[NODE_PATH_MAX];     /* [node] key: Ed25519 PEM private key */
    char genesis_path[NODE_PATH_MAX]; /* [chain] genesis */
    char rpc_host[64];                /* [rpc] host */
    int rpc_port;                     /* [rpc] port */
    size_t rpc_max_body;              /* [rpc] max_body bytes */
    size_t rpc_max_batch;             /* [rpc] max_batch calls */
    size_t rpc_max_conns;             /* [rpc] max_conns */
    char static_dir[NODE_PATH_MAX];   /* [rpc] static_dir (explorer); "" = web/
                                        beside the binary, "off" = none */
    size_t pool_capacity;             /* [pool] capacity */
    size_t pool_max_per_sender;       /* [pool] max_per_sender */
    size_t min_block_txs;             /* [builder] min_block_txs (the teaching ledger's -k) */
    size_t max_block_txs;             /* [builder] max_block_txs */
    uint64_t block_interval_ms;       /* [builder] block_interval_ms */
    uint64_t lmdb_map_size;           /* [storage] map_size bytes */
    int log_level;                    /* [log] level */
    /* [p2p]: TLS transport between validators (started when genesis lists
     * more than one validator) */
    char p2p_host[64];                         /* [p2p] host (listen address) */
    int p2p_port;                              /* [p2p] port */
    char ca_path[NODE_PATH_MAX];               /* [p2p] ca (chain CA certificate) */
    char cert_path[NODE_PATH_MAX];             /* [p2p] cert (this node's certificate) */
    char peers[NODE_MAX_PEERS][NODE_PEER_MAX]; /* [p2p] peer = host:port (one line each) */
    size_t npeers;
    /* [consensus] */
    uint64_t view_timeout_ms;     /* [consensus] view_timeout_ms: timeout of view 0 */
    uint64_t view_timeout_max_ms; /* [consensus] view_timeout_max_ms: back-off cap */
    /* [sync] */
    size_t sync_batch; /* [sync] batch: blocks per range request */
};

/* Defaults for every field (dir/name empty). */
void node_cfg_defaults(struct node_cfg *c);

/* Load DIR/config.ini over the defaults; relative paths are resolved
 * against DIR. Unknown keys and out-of-range values are errors.
 * Errors: TALLY_EIO (missing/unreadable), TALLY_ECONFIG (with `err`). */
TALLY_WUR int node_cfg_load(struct node_cfg *c, const char *dir, char *err, size_t errlen);

/* The URL clients use to reach this node's RPC port: "http://HOST:PORT",
 * with a wildcard bind address (0.0.0.0, ::) replaced by loopback. */
void node_cfg_rpc_url(char *url, size_t len, const struct node_cfg *c);

/* Parse genesis.json (bounded by GENESIS_FILE_MAX). Errors: TALLY_EIO,
 * TALLY_ECONFIG (with detail in err). Free with genesis_free. */
TALLY_WUR int genesis_load(struct genesis *g, const char *path, char *err, size_t errlen);
void genesis_free(struct genesis *g);

/* Read a whole file of at most max bytes (NUL-terminated copy; caller
 * frees). Errors: TALLY_EIO, TALLY_ETOOBIG, TALLY_ENOMEM. */
TALLY_WUR int file_read_all(char **out, size_t *len, const char *path, size_t max);
/* Write a file atomically (tmp + fsync + rename). Errors: TALLY_EIO. */
TALLY_WUR int file_write_atomic(const char *path, const void *data, size_t len, int mode);

#endif
