/* GET /metrics: the node's counters in the Prometheus text exposition format
 * (version 0.0.4). Every series is listed in docs/monitoring.md. */
#include <stdio.h>
#include "node/node_int.h"
#include "util/clock.h"

/* Upper bounds of the commit latency buckets, in seconds (+Inf is implied). */
static const double latency_le[NODE_LATENCY_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                        1,    2.5,   5,    10,  30,   60};

void node_metrics_block(struct node *n, const struct block *b, int own)
{
    n->blocks_committed++;
    if (!own) return;
    uint64_t now = clock_wall_ms();
    double s = now > b->h.timestamp_ms ? (double)(now - b->h.timestamp_ms) / 1000.0 : 0.0;
    for (size_t i = 0; i < NODE_LATENCY_BUCKETS; i++)
        if (s <= latency_le[i]) n->commit_latency_buckets[i]++;
    n->commit_latency_count++;
    n->commit_latency_sum_s += s;
}

/* One metric family: HELP, TYPE and a single unlabelled sample. */
static int family(struct buf *o, const char *name, const char *type, const char *help, double v)
{
    return buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n%s %.15g\n", name, help, name, type, name, v);
}

struct rpc_lines {
    struct buf *o;
    int rc;
};

static void rpc_line(void *ctx, const char *name, uint64_t ok, uint64_t err)
{
    struct rpc_lines *l = ctx;
    const char *m = name ? name : "(refused)"; /* registered names only: no escaping needed */
    if (ok && !l->rc)
        l->rc = buf_printf(l->o, "tally_rpc_requests_total{method=\"%s\",status=\"ok\"} %llu\n", m,
                           (unsigned long long)ok);
    if (err && !l->rc)
        l->rc = buf_printf(l->o, "tally_rpc_requests_total{method=\"%s\",status=\"error\"} %llu\n",
                           m, (unsigned long long)err);
}

static int get_metrics(void *ctx, struct buf *o, const char **content_type)
{
    struct node *n = ctx;
    *content_type = "text/plain; version=0.0.4; charset=utf-8";
    struct net_peer_info info[PBFT_MAX_VALIDATORS];
    size_t npeers = n->net ? net_peers(n->net, info, PBFT_MAX_VALIDATORS) : 0, up = 0;
    uint64_t in = 0, out = 0;
    for (size_t i = 0; i < npeers && i < PBFT_MAX_VALIDATORS; i++) {
        up += info[i].connected;
        in += info[i].bytes_in;
        out += info[i].bytes_out;
    }
    struct sync_status ss = {0};
    if (n->sync) sync_get_status(n->sync, &ss);
    int rc = family(o, "tally_block_height", "gauge", "Height of the newest durable block.",
                    (double)ledger_height(n->ledger));
    if (!rc)
        rc = family(o, "tally_transactions_committed_total", "counter",
                    "Transactions in durable blocks since genesis.", (double)n->committed_txs);
    if (!rc)
        rc = family(o, "tally_blocks_committed_total", "counter",
                    "Blocks made durable since this node started (consensus and sync).",
                    (double)n->blocks_committed);
    if (!rc)
        rc = family(o, "tally_pool_transactions", "gauge", "Transactions waiting in the pool.",
                    (double)pool_count(n->pool));
    if (!rc)
        rc = family(o, "tally_peers_connected", "gauge", "Validators connected over P2P.",
                    (double)up);
    if (!rc)
        rc = family(o, "tally_validators", "gauge", "Validators in the genesis set.",
                    (double)n->nvals);
    if (!rc)
        rc = family(o, "tally_consensus_view", "gauge", "Current PBFT view.",
                    n->pbft ? (double)pbft_view(n->pbft) : 0.0);
    if (!rc)
        rc = family(o, "tally_view_changes_total", "counter",
                    "PBFT views entered above 0 since start-up.", (double)n->view_changes);
    if (!rc)
        rc = family(o, "tally_sync_blocks_applied_total", "counter",
                    "Blocks applied by block sync since start-up.", (double)ss.applied);
    if (!rc)
        rc = family(o, "tally_p2p_received_bytes_total", "counter",
                    "TLS bytes received from validators.", (double)in);
    if (!rc)
        rc = family(o, "tally_p2p_sent_bytes_total", "counter", "TLS bytes sent to validators.",
                    (double)out);
    if (!rc)
        rc = family(o, "tally_rpc_connections", "gauge", "Open RPC connections (HTTP and WS).",
                    (double)rpc_server_conns(n->rpc));
    if (!rc)
        rc = family(o, "tally_uptime_seconds", "gauge", "Seconds since the node started.",
                    (double)(clock_wall_ms() - n->started_ms) / 1000.0);
    if (!rc)
        rc = buf_puts(o, "# HELP tally_block_commit_latency_seconds From a block's proposal "
                         "timestamp to its durable commit here (consensus blocks only).\n"
                         "# TYPE tally_block_commit_latency_seconds histogram\n");
    for (size_t i = 0; !rc && i < NODE_LATENCY_BUCKETS; i++)
        rc = buf_printf(o, "tally_block_commit_latency_seconds_bucket{le=\"%g\"} %llu\n",
                        latency_le[i], (unsigned long long)n->commit_latency_buckets[i]);
    if (!rc)
        rc = buf_printf(o,
                        "tally_block_commit_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                        "tally_block_commit_latency_seconds_sum %.15g\n"
                        "tally_block_commit_latency_seconds_count %llu\n",
                        (unsigned long long)n->commit_latency_count, n->commit_latency_sum_s,
                        (unsigned long long)n->commit_latency_count);
    if (!rc)
        rc = buf_puts(o, "# HELP tally_rpc_requests_total JSON-RPC calls and WebSocket ops "
                         "answered, by method and outcome; method \"(refused)\": unknown or "
                         "malformed requests.\n# TYPE tally_rpc_requests_total counter\n");
    struct rpc_lines l = {o, rc};
    if (!rc) rpc_server_stats(n->rpc, rpc_line, &l);
    return l.rc;
}

int node_metrics_register(struct node *n)
{
    return rpc_register_get(n->rpc, "/metrics", get_metrics);
}
