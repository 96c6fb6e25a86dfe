/* RPC server: one HTTP port serving JSON-RPC 2.0 over HTTP POST, a WebSocket
 * endpoint (teaching-ledger ops and JSON-RPC over WS), GET /health, optional
 * registered GET paths (e.g. /metrics) and static files. libwebsockets on the
 * caller's libuv loop.
 *
 * The server knows nothing of blockchains: the node registers handlers.
 *
 * Threading: everything here runs on, and must be called from, the loop
 * thread that runs `loop` (handlers are called there; rpc_reply_* must be
 * called there too, e.g. from a uv_after_work_cb). See docs/rpc.md.
 *
 * Request lifetime: a handler receives a struct rpc_req and must answer it
 * exactly once with rpc_reply_result / rpc_reply_error / rpc_reply_op, either
 * before returning or later (asynchronously). `params`/`args` and the req stay
 * valid until that reply. If the client went away meanwhile the reply is
 * accepted and freed. A batch is written when all its calls have replied. */
#ifndef TALLY_RPC_RPC_H
#define TALLY_RPC_RPC_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <cjson/cJSON.h>
#include "util/buf.h"
#include "util/err.h"

/* JSON-RPC 2.0 error codes used by the server itself. Handlers may use any
 * code (Ethereum uses -32000 for "server error", 3 for reverts). */
#define RPC_PARSE_ERROR      (-32700)
#define RPC_INVALID_REQUEST  (-32600)
#define RPC_METHOD_NOT_FOUND (-32601)
#define RPC_INVALID_PARAMS   (-32602)
#define RPC_INTERNAL_ERROR   (-32603)
#define RPC_SERVER_ERROR     (-32000)
#define RPC_LIMIT_EXCEEDED   (-32005) /* batch too large, body too large */

struct rpc_server;
struct rpc_req;

/* A JSON-RPC method. params is the request's "params" (array or object) or
 * NULL if absent; borrowed until the req is answered. */
typedef void (*rpc_method_fn)(void *ctx, struct rpc_req *req, const cJSON *params);
/* A WebSocket op: the message {"op": "...", "args": {...}}. args is the
 * "args" member or NULL; borrowed until the req is answered. */
typedef void (*rpc_op_fn)(void *ctx, struct rpc_req *req, const cJSON *args);
/* A GET path (e.g. "/metrics"). Append the body to out (capped at max_body)
 * and set *content_type (static string). Return 0, or a negative TALLY_E*
 * code to answer 500. Called synchronously on the loop thread. */
typedef int (*rpc_get_fn)(void *ctx, struct buf *out, const char **content_type);
/* A WebSocket connection closed (for subscriptions). conn_id as from
 * rpc_req_conn_id. */
typedef void (*rpc_ws_close_fn)(void *ctx, uint64_t conn_id);

struct rpc_cfg {
    const char *host;       /* bind address, e.g. "127.0.0.1"; NULL = all interfaces */
    int port;               /* 0 = ephemeral (see rpc_server_port) */
    size_t max_body;        /* HTTP body / WS message bytes; default (0) 4 MiB */
    size_t max_batch;       /* calls per batch; default 2000 */
    size_t max_conns;       /* simultaneous connections; default 1024 */
    size_t max_ws_queue;    /* bytes queued to one WS client; default 16 MiB */
    size_t max_inflight;    /* unanswered calls per connection before reading
                               pauses; default 4 * max_batch */
    const char *static_dir; /* files served under "/" (index.html); may be NULL */
};

/* Create the lws context on loop, bind and listen. The loop must not be
 * running on another thread during this call. ctx is passed to every handler.
 * Errors: TALLY_EINVAL (bad cfg), TALLY_EIO (bind/listen or lws init failed;
 * e.g. port in use or the evlib_uv plugin missing), TALLY_ENOMEM. */
int rpc_server_start(struct rpc_server **out, uv_loop_t *loop, const struct rpc_cfg *cfg,
                     void *ctx);

/* The TCP port actually bound (useful with cfg->port == 0). */
int rpc_server_port(const struct rpc_server *s);

/* Register a JSON-RPC method / WebSocket op / GET path. The name is copied.
 * Registering an existing name replaces its handler.
 * Errors: TALLY_EINVAL, TALLY_ENOMEM. */
int rpc_register_method(struct rpc_server *s, const char *name, rpc_method_fn fn);
int rpc_register_op(struct rpc_server *s, const char *op, rpc_op_fn fn);
int rpc_register_get(struct rpc_server *s, const char *path, rpc_get_fn fn);
/* Called when a WebSocket connection closes. */
void rpc_set_ws_close(struct rpc_server *s, rpc_ws_close_fn fn);

/* Answer a JSON-RPC call (or a WS op, as {"status":200,"error":null,
 * "response":result}). Takes ownership of result (NULL means JSON null). */
void rpc_reply_result(struct rpc_req *req, cJSON *result);
/* Answer with a JSON-RPC error (for a WS op: status 400 with msg). Takes
 * ownership of data (may be NULL). msg is copied. */
void rpc_reply_error(struct rpc_req *req, int code, const char *msg, cJSON *data);
/* Answer a WS op: {"status":status,"error":error or null,"response":response
 * or null}. Takes ownership of response. For a JSON-RPC call, status 2xx
 * becomes a result, anything else an error with code RPC_SERVER_ERROR. */
void rpc_reply_op(struct rpc_req *req, int status, const char *error, cJSON *response);

/* 1 if the request came over WebSocket. */
int rpc_req_is_ws(const struct rpc_req *req);
/* Name of the method or op being answered (borrowed, valid until reply). */
const char *rpc_req_method(const struct rpc_req *req);
/* Id of the connection the request came on (unique per server run, never 0);
 * for WS subscriptions with rpc_ws_send. */
uint64_t rpc_req_conn_id(const struct rpc_req *req);

/* Queue a text message to every WebSocket client. A client whose queue would
 * exceed max_ws_queue is dropped (closed). Returns the number of clients
 * queued to. */
int rpc_ws_broadcast(struct rpc_server *s, const char *text, size_t len);
/* Queue a text message to one WebSocket connection.
 * Errors: TALLY_ENOTFOUND (gone), TALLY_EFULL (queue over max_ws_queue: the
 * client is dropped), TALLY_ENOMEM. */
int rpc_ws_send(struct rpc_server *s, uint64_t conn_id, const char *text, size_t len);

/* Answered calls so far, per JSON-RPC method and WS op that has any: fn is
 * called with the name, the calls answered with a result (or a 2xx op
 * status) and those answered with an error; last with name NULL for the
 * requests refused before reaching a handler (unknown method or op,
 * malformed JSON or request, too large), if any. Only registered names are
 * reported, so clients cannot grow the list. */
typedef void (*rpc_stat_fn)(void *ctx, const char *name, uint64_t ok, uint64_t err);
void rpc_server_stats(const struct rpc_server *s, rpc_stat_fn fn, void *ctx);

/* Number of open connections (HTTP and WS). */
size_t rpc_server_conns(const struct rpc_server *s);

/* Begin closing: stop listening, close every connection, destroy the lws
 * context. Outstanding reqs stay valid and may still be answered (answers are
 * discarded). Asynchronous like uv_close: run the loop until it has no more
 * active handles before uv_loop_close. Frees s once nothing refers to it
 * (after the last outstanding req is answered). NULL is fine. */
void rpc_server_stop(struct rpc_server *s);

#endif
