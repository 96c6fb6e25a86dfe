/* A Tally node: configuration, storage, pool, builder and RPC wired together
 * on one libuv loop. The only module that knows everything. */
#ifndef TALLY_NODE_NODE_H
#define TALLY_NODE_NODE_H
#include "node/config.h"
#include "util/err.h"

/* Run a node from its directory until SIGINT/SIGTERM. Logs to stderr.
 * Returns 0 after a clean shutdown, or a negative code when start-up failed
 * (the reason is logged). */
int node_run(const char *dir);

#endif
