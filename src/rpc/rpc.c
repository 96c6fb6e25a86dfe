/* RPC server on libwebsockets 4.1 + the caller's libuv loop.
 * See rpc.h for the contract and docs/rpc.md for limits and threading.
 *
 * Objects:
 *  - struct conn: one per HTTP transaction or per WebSocket connection (lws
 *    rebinds protocols[0] between HTTP keep-alive transactions, which frees
 *    the per-session data, so an HTTP conn lives for one request).
 *  - struct rpc_group: one parsed request document (a single call, a batch,
 *    or one WS op) with its calls (struct rpc_req). It outlives the conn if
 *    the client leaves before all calls are answered (g->c becomes NULL).
 * Every write happens in a WRITEABLE callback with LWS_PRE headroom. */
#include "rpc/rpc.h"

#include <errno.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <dlfcn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

#define HDR_ROOM       512 /* bytes reserved before an HTTP body for the headers */
#define MOD            "rpc"
#define MAX_STATIC_URI 1024

/* ---- name tables (open addressing, FNV-1a) ------------------------------- */

/* Answered calls of a method or op (rpc_server_stats); allocated apart from
 * the table so that a request keeps its pointer while the table grows. */
struct nstat {
    uint64_t ok, err;
};

struct nent {
    char *name;
    void *fn;
    struct nstat *st;
};

struct ntab {
    struct nent *e;
    size_t cap, n; /* cap is a power of two */
};

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static struct nent *ntab_find(const struct ntab *t, const char *name, size_t len)
{
    if (!t->cap) return NULL;
    size_t i = fnv1a(name, len) & (t->cap - 1);
    for (; t->e[i].name; i = (i + 1) & (t->cap - 1))
        if (strlen(t->e[i].name) == len && memcmp(t->e[i].name, name, len) == 0) return &t->e[i];
    return NULL;
}

static void *ntab_get(const struct ntab *t, const char *name, size_t len)
{
    struct nent *e = ntab_find(t, name, len);
    return e ? e->fn : NULL;
}

static int ntab_put(struct ntab *t, const char *name, void *fn)
{
    if (!name || !*name || !fn) return TALLY_EINVAL;
    size_t len = strlen(name);
    if (2 * (t->n + 1) > t->cap) {
        size_t ncap = t->cap ? 2 * t->cap : 16;
        struct nent *ne = calloc(ncap, sizeof *ne);
        if (!ne) return TALLY_ENOMEM;
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->e[i].name) continue;
            size_t j = fnv1a(t->e[i].name, strlen(t->e[i].name)) & (ncap - 1);
            while (ne[j].name) j = (j + 1) & (ncap - 1);
            ne[j] = t->e[i];
        }
        free(t->e);
        t->e = ne;
        t->cap = ncap;
    }
    size_t i = fnv1a(name, len) & (t->cap - 1);
    for (; t->e[i].name; i = (i + 1) & (t->cap - 1)) {
        if (strcmp(t->e[i].name, name) == 0) {
            t->e[i].fn = fn;
            return 0;
        }
    }
    struct nstat *st = calloc(1, sizeof *st);
    t->e[i].name = st ? strdup(name) : NULL;
    if (!t->e[i].name) {
        free(st);
        return TALLY_ENOMEM;
    }
    t->e[i].st = st;
    t->e[i].fn = fn;
    t->n++;
    return 0;
}

static void ntab_free(struct ntab *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        free(t->e[i].name);
        free(t->e[i].st);
    }
    free(t->e);
}

/* ---- objects ------------------------------------------------------------ */

enum conn_kind { CONN_HTTP, CONN_WS };
enum group_kind { G_HTTP, G_WS_RPC, G_WS_OP };

struct wsmsg {
    struct wsmsg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE + len */
};

struct conn {
    struct rpc_server *s;
    struct lws *wsi;
    uint64_t id;
    int kind;
    struct conn *prev, *next; /* server's WS list */
    struct rpc_group *groups; /* outstanding, linked through g->cnext */
    size_t inflight;          /* unanswered calls */
    int rx_paused;
    /* HTTP */
    struct buf body;
    int too_big;         /* body over max_body: 413 sent or pending */
    int expect_continue; /* the client waits for 100 Continue before sending the body */
    int body_done;
    int close_after;    /* close once the response is written */
    unsigned char *out; /* LWS_PRE + HDR_ROOM + body */
    size_t out_len;     /* body length */
    int out_status;
    const char *out_ctype;
    /* WS */
    struct buf rx;
    int rx_too_big;
    struct wsmsg *qhead, *qtail;
    size_t qbytes;
    int dropping;
};

struct pss {
    struct conn *c;
};

struct rpc_req {
    struct rpc_group *g;
    const cJSON *id; /* borrowed from the doc; NULL: notification */
    const char *method;
    cJSON *result; /* owned; also the op response */
    cJSON *data;   /* owned error data */
    char *msg;     /* owned error message / op error */
    int code;      /* JSON-RPC error code, 0 = success */
    int status;    /* op status */
    uint8_t done, notify;
    struct nstat *stat; /* the method's counters; NULL: refused before dispatch */
};

struct rpc_group {
    struct rpc_server *s;
    struct conn *c; /* NULL once the client is gone */
    struct rpc_group *cprev, *cnext;
    cJSON *doc;
    int kind;
    int batch;
    size_t n, pending; /* pending counts one extra while dispatching */
    struct rpc_req reqs[];
};

struct rpc_server {
    uv_loop_t *loop;
    struct lws_context *ctx;
    struct rpc_cfg cfg;
    char *host, *static_dir;
    void *user;
    struct ntab methods, ops, gets;
    uint64_t refused; /* calls refused before a handler: unknown, malformed */
    rpc_ws_close_fn ws_close;
    struct lws_protocols protocols[2];
    struct conn *ws_list;
    size_t nconns; /* lws wsi count (accepted sockets) */
    size_t ngroups;
    uint64_t next_id;
    int port;
    int stopping;
    int lws_done; /* lws context wholly destroyed and fin_timer closed */
    uv_timer_t fin_timer;
    int fin_tries;
};

static void conn_resume_check(struct conn *c);
static int ws_enqueue(struct conn *c, const char *text, size_t len, int is_broadcast);

/* ---- JSON output helpers ------------------------------------------------ */

static int put_json_string(struct buf *b, const char *s)
{
    static const char hexd[] = "0123456789abcdef";
    if (buf_reserve(b, strlen(s) + 2)) return TALLY_ENOMEM;
    int rc = buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        char esc[7];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            rc = buf_append(b, esc, 2);
        } else if (*p < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hexd[*p >> 4];
            esc[5] = hexd[*p & 15];
            rc = buf_append(b, esc, 6);
        } else {
            rc = buf_append(b, p, 1);
        }
    }
    if (!rc) rc = buf_append(b, "\"", 1);
    return rc;
}

/* Append the compact JSON of v (NULL = null). */
static int put_json(struct buf *b, const cJSON *v)
{
    if (!v) return buf_append(b, "null", 4);
    if (cJSON_IsString(v)) return put_json_string(b, v->valuestring);
    size_t room = 256;
    if (buf_reserve(b, room)) return TALLY_ENOMEM;
    if (cJSON_PrintPreallocated((cJSON *)v, (char *)b->p + b->len, (int)(b->cap - b->len), 0)) {
        b->len += strlen((char *)b->p + b->len);
        return 0;
    }
    char *s = cJSON_PrintUnformatted(v);
    if (!s) return TALLY_ENOMEM;
    int rc = buf_puts(b, s);
    free(s);
    return rc;
}

static int put_error_obj(struct buf *b, const cJSON *id, int code, const char *msg,
                         const cJSON *data)
{
    int rc = buf_puts(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    if (!rc) rc = put_json(b, id);
    if (!rc) rc = buf_printf(b, ",\"error\":{\"code\":%d,\"message\":", code);
    if (!rc) rc = put_json_string(b, msg ? msg : "");
    if (!rc && data) {
        rc = buf_puts(b, ",\"data\":");
        if (!rc) rc = put_json(b, data);
    }
    if (!rc) rc = buf_puts(b, "}}");
    return rc;
}

/* A buffer with headroom for LWS_PRE + HTTP headers in front of the body. */
static void out_buf_init(struct buf *b, size_t max)
{
    buf_init(b, max > SIZE_MAX / 2 ? SIZE_MAX / 2 : max + LWS_PRE + HDR_ROOM);
}

static int out_buf_start(struct buf *b)
{
    static const uint8_t zero[LWS_PRE + HDR_ROOM];
    return buf_append(b, zero, sizeof zero);
}

/* ---- connection output -------------------------------------------------- */

/* Queue an HTTP response (the conn must have no other one pending). b was
 * started with out_buf_start; it is taken over. */
static void http_respond_buf(struct conn *c, int status, const char *ctype, struct buf *b)
{
    size_t len;
    uint8_t *p = buf_detach(b, &len);
    free(c->out);
    c->out = p;
    c->out_len = len - (LWS_PRE + HDR_ROOM);
    c->out_status = status;
    c->out_ctype = ctype;
    lws_callback_on_writable(c->wsi);
}

static void http_respond(struct conn *c, int status, const char *ctype, const char *body,
                         size_t len)
{
    struct buf b;
    buf_init(&b, SIZE_MAX);
    if (out_buf_start(&b) || buf_append(&b, body, len)) {
        buf_free(&b);
        c->close_after = 1;
        buf_init(&b, SIZE_MAX);
        if (out_buf_start(&b)) {
            buf_free(&b);
            return;
        }
        status = 500;
    }
    http_respond_buf(c, status, ctype, &b);
}

static void http_respond_error(struct conn *c, int status, int code, const char *msg)
{
    c->s->refused++;
    struct buf b;
    buf_init(&b, SIZE_MAX);
    if (out_buf_start(&b) || put_error_obj(&b, NULL, code, msg, NULL)) {
        buf_free(&b);
        http_respond(c, 500, "text/plain", "", 0);
        return;
    }
    http_respond_buf(c, status, "application/json", &b);
}

static int http_write(struct conn *c)
{
    unsigned char hdr[HDR_ROOM], *p = hdr, *end = hdr + sizeof hdr;
    char clen[24];
    int n = snprintf(clen, sizeof clen, "%zu", c->out_len);
    if (lws_add_http_header_status(c->wsi, (unsigned)c->out_status, &p, end)) return -1;
    if (c->out_ctype && lws_add_http_header_by_token(c->wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                                     (const unsigned char *)c->out_ctype,
                                                     (int)strlen(c->out_ctype), &p, end))
        return -1;
    if (lws_add_http_header_by_token(c->wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
                                     (const unsigned char *)clen, n, &p, end))
        return -1;
    if (lws_add_http_header_by_name(c->wsi, (const unsigned char *)"access-control-allow-origin:",
                                    (const unsigned char *)"*", 1, &p, end))
        return -1;
    if (c->close_after && lws_add_http_header_by_token(c->wsi, WSI_TOKEN_CONNECTION,
                                                       (const unsigned char *)"close", 5, &p, end))
        return -1;
    if (lws_finalize_http_header(c->wsi, &p, end)) return -1;
    size_t hlen = (size_t)(p - hdr);
    unsigned char *start = c->out + LWS_PRE + HDR_ROOM - hlen;
    memcpy(start, hdr, hlen);
    size_t total = hlen + c->out_len;
    int w = lws_write(c->wsi, start, total, LWS_WRITE_HTTP_FINAL);
    free(c->out);
    c->out = NULL;
    if (w < (int)total) return -1;
    return 0;
}

/* ---- groups and replies ------------------------------------------------- */

static void server_maybe_free(struct rpc_server *s);

static void group_unlink(struct rpc_group *g)
{
    struct conn *c = g->c;
    if (!c) return;
    if (g->cprev)
        g->cprev->cnext = g->cnext;
    else
        c->groups = g->cnext;
    if (g->cnext) g->cnext->cprev = g->cprev;
    g->c = NULL;
    c->inflight -= g->n;
    conn_resume_check(c);
}

static int serialize_rpc(struct rpc_group *g, struct buf *b, size_t *count)
{
    int rc = 0;
    *count = 0;
    if (g->batch) rc = buf_append(b, "[", 1);
    for (size_t i = 0; i < g->n && !rc; i++) {
        struct rpc_req *r = &g->reqs[i];
        if (r->notify) continue;
        if ((*count)++ && (rc = buf_append(b, ",", 1))) break;
        if (r->code) {
            rc = put_error_obj(b, r->id, r->code, r->msg, r->data);
        } else {
            rc = buf_puts(b, "{\"jsonrpc\":\"2.0\",\"id\":");
            if (!rc) rc = put_json(b, r->id);
            if (!rc) rc = buf_puts(b, ",\"result\":");
            if (!rc) rc = put_json(b, r->result);
            if (!rc) rc = buf_append(b, "}", 1);
        }
    }
    if (!rc && g->batch) rc = buf_append(b, "]", 1);
    return rc;
}

static int serialize_op(struct rpc_group *g, struct buf *b)
{
    struct rpc_req *r = &g->reqs[0];
    int rc = buf_printf(b, "{\"status\":%d,\"error\":", r->status);
    if (!rc) rc = r->msg ? put_json_string(b, r->msg) : buf_puts(b, "null");
    if (!rc) rc = buf_puts(b, ",\"response\":");
    if (!rc) rc = put_json(b, r->result);
    const cJSON *id = g->doc ? cJSON_GetObjectItemCaseSensitive(g->doc, "id") : NULL;
    if (!rc && id) {
        rc = buf_puts(b, ",\"id\":");
        if (!rc) rc = put_json(b, id);
    }
    if (!rc) rc = buf_append(b, "}", 1);
    return rc;
}

static void group_free(struct rpc_group *g)
{
    struct rpc_server *s = g->s;
    for (size_t i = 0; i < g->n; i++) {
        cJSON_Delete(g->reqs[i].result);
        cJSON_Delete(g->reqs[i].data);
        free(g->reqs[i].msg);
    }
    cJSON_Delete(g->doc);
    free(g);
    s->ngroups--;
    server_maybe_free(s);
}

static void group_complete(struct rpc_group *g)
{
    struct conn *c = g->c;
    if (c && !g->s->stopping) {
        struct buf b;
        size_t count = 1;
        int rc;
        if (c->kind == CONN_HTTP) {
            out_buf_init(&b, SIZE_MAX);
            rc = out_buf_start(&b);
            if (!rc) rc = serialize_rpc(g, &b, &count);
            if (rc) {
                buf_free(&b);
                http_respond_error(c, 500, RPC_INTERNAL_ERROR, "out of memory");
            } else if (count == 0) {
                buf_free(&b);
                http_respond(c, 204, NULL, "", 0);
            } else {
                http_respond_buf(c, 200, "application/json", &b);
            }
        } else {
            buf_init(&b, SIZE_MAX);
            rc = g->kind == G_WS_OP ? serialize_op(g, &b) : serialize_rpc(g, &b, &count);
            if (!rc && count) ws_enqueue(c, (const char *)b.p, b.len, 0);
            buf_free(&b);
        }
    }
    group_unlink(g);
    group_free(g);
}

static struct rpc_req *req_begin_reply(struct rpc_req *req)
{
    if (!req) return NULL;
    if (req->done) {
        log_error(MOD, "request \"%s\" answered twice; second answer ignored",
                  req->method ? req->method : "?");
        return NULL;
    }
    req->done = 1;
    return req;
}

static void req_finish(struct rpc_req *req)
{
    struct rpc_group *g = req->g;
    if (req->stat) {
        if (req->code == 0 && req->status >= 200 && req->status <= 299)
            req->stat->ok++;
        else
            req->stat->err++;
    }
    if (--g->pending == 0) group_complete(g);
}

void rpc_reply_result(struct rpc_req *req, cJSON *result)
{
    if (!req_begin_reply(req)) {
        cJSON_Delete(result);
        return;
    }
    req->result = result;
    req->status = 200;
    req_finish(req);
}

void rpc_reply_error(struct rpc_req *req, int code, const char *msg, cJSON *data)
{
    if (!req_begin_reply(req)) {
        cJSON_Delete(data);
        return;
    }
    req->code = code ? code : RPC_SERVER_ERROR;
    req->msg = strdup(msg ? msg : "error");
    req->data = data;
    req->status = 400;
    req_finish(req);
}

void rpc_reply_op(struct rpc_req *req, int status, const char *error, cJSON *response)
{
    if (!req_begin_reply(req)) {
        cJSON_Delete(response);
        return;
    }
    req->status = status;
    req->result = response;
    if (error) req->msg = strdup(error);
    if (req->g->kind != G_WS_OP && (status < 200 || status > 299)) {
        req->code = RPC_SERVER_ERROR;
        if (!req->msg) req->msg = strdup("error");
        if (response) {
            req->data = response;
            req->result = NULL;
        }
    }
    req_finish(req);
}

int rpc_req_is_ws(const struct rpc_req *req)
{
    return req->g->kind != G_HTTP;
}

const char *rpc_req_method(const struct rpc_req *req)
{
    return req->method;
}

uint64_t rpc_req_conn_id(const struct rpc_req *req)
{
    return req->g->c ? req->g->c->id : 0;
}

/* ---- dispatch ----------------------------------------------------------- */

static struct rpc_group *group_new(struct conn *c, cJSON *doc, int kind, size_t n)
{
    struct rpc_group *g = calloc(1, sizeof *g + n * sizeof(struct rpc_req));
    if (!g) return NULL;
    g->s = c->s;
    g->c = c;
    g->doc = doc;
    g->kind = kind;
    g->n = n;
    g->pending = n + 1;
    for (size_t i = 0; i < n; i++) g->reqs[i].g = g;
    g->cnext = c->groups;
    if (c->groups) c->groups->cprev = g;
    c->groups = g;
    c->inflight += n;
    c->s->ngroups++;
    return g;
}

/* Fill req as an immediate error (counts as answered). */
static void req_prefill_error(struct rpc_req *r, int code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->done = 1;
    r->code = code;
    r->msg = strdup(msg);
    r->g->pending--;
    r->g->s->refused++;
}

/* Validate one call; on success set method and return the handler. */
static rpc_method_fn validate_call(struct rpc_server *s, struct rpc_req *r, const cJSON *call,
                                   const cJSON **params)
{
    if (!cJSON_IsObject(call)) {
        req_prefill_error(r, RPC_INVALID_REQUEST, "invalid request: not an object");
        return NULL;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(call, "id");
    if (id && !cJSON_IsString(id) && !cJSON_IsNumber(id) && !cJSON_IsNull(id)) {
        req_prefill_error(r, RPC_INVALID_REQUEST, "invalid request: bad id");
        return NULL;
    }
    r->id = id;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(call, "jsonrpc");
    if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "2.0") != 0) {
        req_prefill_error(r, RPC_INVALID_REQUEST, "invalid request: \"jsonrpc\" must be \"2.0\"");
        return NULL;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(call, "method");
    if (!cJSON_IsString(m)) {
        req_prefill_error(r, RPC_INVALID_REQUEST, "invalid request: \"method\" must be a string");
        return NULL;
    }
    r->method = m->valuestring;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(call, "params");
    if (p && !cJSON_IsArray(p) && !cJSON_IsObject(p) && !cJSON_IsNull(p)) {
        req_prefill_error(r, RPC_INVALID_PARAMS, "invalid params: must be an array or object");
        return NULL;
    }
    *params = cJSON_IsNull(p) ? NULL : p;
    if (!id) r->notify = 1;
    struct nent *e = ntab_find(&s->methods, m->valuestring, strlen(m->valuestring));
    if (!e) {
        req_prefill_error(r, RPC_METHOD_NOT_FOUND,
                          "the method %.200s does not exist/is not available", m->valuestring);
        return NULL;
    }
    r->stat = e->st;
    return (rpc_method_fn)e->fn;
}

/* Send a single error object with id null (parse error, empty batch...). */
static void respond_single_error(struct conn *c, int http_status, int code, const char *msg)
{
    if (c->kind == CONN_HTTP) {
        http_respond_error(c, http_status, code, msg);
        return;
    }
    c->s->refused++;
    struct buf b;
    buf_init(&b, SIZE_MAX);
    if (!put_error_obj(&b, NULL, code, msg, NULL)) ws_enqueue(c, (const char *)b.p, b.len, 0);
    buf_free(&b);
}

static void respond_op_status(struct conn *c, int status, const char *error)
{
    c->s->refused++;
    struct buf b;
    buf_init(&b, SIZE_MAX);
    int rc = buf_printf(&b, "{\"status\":%d,\"error\":", status);
    if (!rc) rc = put_json_string(&b, error);
    if (!rc) rc = buf_puts(&b, ",\"response\":null}");
    if (!rc) ws_enqueue(c, (const char *)b.p, b.len, 0);
    buf_free(&b);
}

/* Dispatch a parsed JSON-RPC document (takes doc). */
static void dispatch_rpc(struct conn *c, cJSON *doc)
{
    struct rpc_server *s = c->s;
    int kind = c->kind == CONN_HTTP ? G_HTTP : G_WS_RPC;
    size_t n = 1;
    int batch = cJSON_IsArray(doc);
    if (batch) {
        n = (size_t)cJSON_GetArraySize(doc);
        if (n == 0) {
            cJSON_Delete(doc);
            respond_single_error(c, 200, RPC_INVALID_REQUEST, "invalid request: empty batch");
            return;
        }
        if (n > s->cfg.max_batch) {
            char msg[96];
            snprintf(msg, sizeof msg, "batch too large: %zu calls (max %zu)", n, s->cfg.max_batch);
            cJSON_Delete(doc);
            respond_single_error(c, 200, RPC_INVALID_REQUEST, msg);
            return;
        }
    }
    struct rpc_group *g = group_new(c, doc, kind, n);
    if (!g) {
        cJSON_Delete(doc);
        respond_single_error(c, 500, RPC_INTERNAL_ERROR, "out of memory");
        return;
    }
    g->batch = batch;
    /* Validate everything first, then call handlers: a handler that answers
     * synchronously cannot complete the group early because pending keeps
     * one extra count until the end. */
    const cJSON *call = batch ? doc->child : doc;
    for (size_t i = 0; i < n; i++, call = batch ? call->next : NULL) {
        struct rpc_req *r = &g->reqs[i];
        const cJSON *params = NULL;
        rpc_method_fn fn = validate_call(s, r, call, &params);
        if (!fn) continue;
        fn(s->user, r, params);
    }
    if (--g->pending == 0) group_complete(g);
}

static void dispatch_op(struct conn *c, cJSON *doc, const cJSON *op)
{
    struct rpc_server *s = c->s;
    if (!cJSON_IsString(op)) {
        cJSON_Delete(doc);
        respond_op_status(c, 400, "\"op\" must be a string");
        return;
    }
    struct nent *e = ntab_find(&s->ops, op->valuestring, strlen(op->valuestring));
    if (!e) {
        char msg[300];
        snprintf(msg, sizeof msg, "Unknown operation \"%.250s\"", op->valuestring);
        cJSON_Delete(doc);
        respond_op_status(c, 404, msg);
        return;
    }
    rpc_op_fn fn = (rpc_op_fn)e->fn;
    struct rpc_group *g = group_new(c, doc, G_WS_OP, 1);
    if (!g) {
        cJSON_Delete(doc);
        respond_op_status(c, 500, "out of memory");
        return;
    }
    struct rpc_req *r = &g->reqs[0];
    r->method = op->valuestring;
    r->stat = e->st;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(doc, "args");
    fn(s->user, r, args);
    if (--g->pending == 0) group_complete(g);
}

/* Parse exactly one JSON document: anything but whitespace after it is an
 * error (cJSON alone would ignore trailing bytes). */
static cJSON *json_parse_strict(const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!doc) return NULL;
    for (const char *p = end; p && p < text + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(doc);
            return NULL;
        }
    }
    return doc;
}

static void handle_ws_message(struct conn *c, const char *text, size_t len)
{
    cJSON *doc = json_parse_strict(text, len);
    if (!doc) {
        /* A JSON-RPC client gets a JSON-RPC parse error, anyone else an op
         * status: look for the marker cheaply. */
        if (len >= 9 && memmem(text, len, "\"jsonrpc\"", 9))
            respond_single_error(c, 200, RPC_PARSE_ERROR, "parse error: malformed JSON");
        else
            respond_op_status(c, 400,
                              "malformed JSON message: expected {\"op\": ..., \"args\": ...}");
        return;
    }
    if (cJSON_IsObject(doc)) {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(doc, "op");
        if (op) {
            dispatch_op(c, doc, op);
            return;
        }
        if (!cJSON_GetObjectItemCaseSensitive(doc, "method") &&
            !cJSON_GetObjectItemCaseSensitive(doc, "jsonrpc")) {
            cJSON_Delete(doc);
            respond_op_status(c, 400, "message has neither \"op\" nor \"method\"");
            return;
        }
    } else if (!cJSON_IsArray(doc)) {
        cJSON_Delete(doc);
        respond_op_status(c, 400, "message must be a JSON object");
        return;
    }
    dispatch_rpc(c, doc);
}

static void handle_http_body(struct conn *c)
{
    cJSON *doc = json_parse_strict((const char *)c->body.p, c->body.len);
    buf_free(&c->body);
    if (!doc) {
        http_respond_error(c, 200, RPC_PARSE_ERROR, "parse error: malformed JSON");
        return;
    }
    if (!cJSON_IsObject(doc) && !cJSON_IsArray(doc)) {
        cJSON_Delete(doc);
        http_respond_error(c, 200, RPC_INVALID_REQUEST, "invalid request: not an object or array");
        return;
    }
    dispatch_rpc(c, doc);
}

/* ---- WebSocket queue and flow control ----------------------------------- */

static void conn_resume_check(struct conn *c)
{
    struct rpc_server *s = c->s;
    if (!c->rx_paused || !c->wsi) return;
    if (c->inflight <= s->cfg.max_inflight / 2 && c->qbytes <= s->cfg.max_ws_queue / 2) {
        c->rx_paused = 0;
        lws_rx_flow_control(c->wsi, 1);
    }
}

static void conn_pause_check(struct conn *c)
{
    struct rpc_server *s = c->s;
    if (c->rx_paused || !c->wsi) return;
    if (c->inflight > s->cfg.max_inflight || c->qbytes > s->cfg.max_ws_queue) {
        c->rx_paused = 1;
        lws_rx_flow_control(c->wsi, 0);
    }
}

/* Queue a text frame. Replies to the client's own requests are allowed past
 * the limit (reading pauses instead); broadcasts over it drop the client. */
static int ws_enqueue(struct conn *c, const char *text, size_t len, int is_broadcast)
{
    struct rpc_server *s = c->s;
    if (c->dropping) return TALLY_EFULL;
    if (is_broadcast && c->qbytes + len > s->cfg.max_ws_queue) {
        log_warn(MOD, "ws client %" PRIu64 " too slow (%zu bytes queued): dropping", c->id,
                 c->qbytes);
        c->dropping = 1;
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return TALLY_EFULL;
    }
    struct wsmsg *m = malloc(sizeof *m + LWS_PRE + len);
    if (!m) return TALLY_ENOMEM;
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, text, len);
    if (c->qtail)
        c->qtail->next = m;
    else
        c->qhead = m;
    c->qtail = m;
    c->qbytes += len;
    lws_callback_on_writable(c->wsi);
    conn_pause_check(c);
    return 0;
}

static int ws_write_one(struct conn *c)
{
    struct wsmsg *m = c->qhead;
    if (!m || c->dropping) return 0;
    int w = lws_write(c->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
    if (w < (int)m->len) return -1;
    c->qhead = m->next;
    if (!c->qhead) c->qtail = NULL;
    c->qbytes -= m->len;
    free(m);
    if (c->qhead) lws_callback_on_writable(c->wsi);
    conn_resume_check(c);
    return 0;
}

/* ---- connections -------------------------------------------------------- */

static struct conn *conn_new(struct rpc_server *s, struct lws *wsi, int kind)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->s = s;
    c->wsi = wsi;
    c->kind = kind;
    c->id = ++s->next_id;
    buf_init(&c->body, s->cfg.max_body);
    buf_init(&c->rx, s->cfg.max_body);
    if (kind == CONN_WS) {
        c->next = s->ws_list;
        if (s->ws_list) s->ws_list->prev = c;
        s->ws_list = c;
    }
    return c;
}

/* The wsi is going away: orphan outstanding groups, free the conn. */
static void conn_close(struct pss *pss)
{
    struct conn *c = pss ? pss->c : NULL;
    if (!c) return;
    pss->c = NULL;
    struct rpc_server *s = c->s;
    c->wsi = NULL;
    while (c->groups) {
        struct rpc_group *g = c->groups;
        c->groups = g->cnext;
        g->c = NULL;
        g->cprev = g->cnext = NULL;
    }
    if (c->kind == CONN_WS) {
        if (c->prev)
            c->prev->next = c->next;
        else
            s->ws_list = c->next;
        if (c->next) c->next->prev = c->prev;
        if (s->ws_close && !s->stopping) s->ws_close(s->user, c->id);
    }
    while (c->qhead) {
        struct wsmsg *m = c->qhead;
        c->qhead = m->next;
        free(m);
    }
    buf_free(&c->body);
    buf_free(&c->rx);
    free(c->out);
    free(c);
}

/* ---- static files ------------------------------------------------------- */

static const char *mime_of(const char *path)
{
    static const struct {
        const char *ext, *mime;
    } map[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".wasm", "application/wasm"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff", "font/woff"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (strcasecmp(dot, map[i].ext) == 0) return map[i].mime;
    return "application/octet-stream";
}

/* Returns the lws callback result. */
static int serve_static(struct rpc_server *s, struct conn *c, const char *uri)
{
    char path[MAX_STATIC_URI + 512];
    size_t ulen = strcspn(uri, "?#");
    int bad = ulen == 0 || uri[0] != '/' || ulen > MAX_STATIC_URI || !s->static_dir;
    for (size_t i = 0; !bad && i < ulen; i++) {
        if (uri[i] == '\\' || uri[i] == '\0') bad = 1;
        if (uri[i] == '.' && i > 0 && uri[i - 1] == '/' && i + 1 < ulen && uri[i + 1] == '.')
            bad = 1;
    }
    if (bad) {
        http_respond(c, 404, "text/plain", "not found\n", 10);
        return 0;
    }
    int n = snprintf(path, sizeof path, "%s%.*s", s->static_dir, (int)ulen, uri);
    if (n <= 0 || (size_t)n >= sizeof path - 16) {
        http_respond(c, 404, "text/plain", "not found\n", 10);
        return 0;
    }
    struct stat st;
    if (path[n - 1] == '/' || (stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
        snprintf(path + n, sizeof path - (size_t)n, "%sindex.html", path[n - 1] == '/' ? "" : "/");
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        http_respond(c, 404, "text/plain", "not found\n", 10);
        return 0;
    }
    int r = lws_serve_http_file(c->wsi, path, mime_of(path), NULL, 0);
    if (r < 0) return -1;
    if (r > 0) return lws_http_transaction_completed(c->wsi) ? -1 : 0;
    return 0;
}

/* ---- the lws callback --------------------------------------------------- */

static int on_http(struct rpc_server *s, struct lws *wsi, struct pss *pss, const char *uri)
{
    if (!pss) return -1;
    conn_close(pss); /* a previous transaction's leftovers, if any */
    struct conn *c = conn_new(s, wsi, CONN_HTTP);
    if (!c) return -1;
    pss->c = c;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) {
        char v[32];
        if (lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_HTTP_EXPECT) > 0 &&
            strncasecmp(v, "100-continue", 12) == 0)
            c->expect_continue = 1;
        if (lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
            unsigned long long cl = strtoull(v, NULL, 10);
            if (cl > s->cfg.max_body) {
                char msg[96];
                snprintf(msg, sizeof msg, "request body too large: %llu bytes (max %zu)", cl,
                         s->cfg.max_body);
                c->too_big = 1;
                c->close_after = 1;
                http_respond_error(c, 413, RPC_LIMIT_EXCEEDED, msg);
                return 0;
            }
        }
        if (c->expect_continue) {
            /* lws 4.1 ignores Expect: curl would wait a second for it. */
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            unsigned char b[LWS_PRE + sizeof cont];
            memcpy(b + LWS_PRE, cont, sizeof cont - 1);
            c->expect_continue = 0; /* the body will come */
            if (lws_write(wsi, b + LWS_PRE, sizeof cont - 1, LWS_WRITE_HTTP) < 0) return -1;
        }
        return 0; /* the body follows */
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0) {
        /* CORS preflight */
        http_respond(c, 204, NULL, "", 0);
        return 0;
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        http_respond(c, 405, "text/plain", "method not allowed\n", 19);
        return 0;
    }
    size_t ulen = strcspn(uri, "?#");
    if (ulen == 7 && memcmp(uri, "/health", 7) == 0) {
        http_respond(c, 200, "text/plain", "ok", 2);
        return 0;
    }
    rpc_get_fn get = (rpc_get_fn)ntab_get(&s->gets, uri, ulen);
    if (get) {
        struct buf b;
        const char *ctype = "text/plain; charset=utf-8";
        out_buf_init(&b, s->cfg.max_body);
        if (out_buf_start(&b) || get(s->user, &b, &ctype) != 0) {
            buf_free(&b);
            http_respond(c, 500, "text/plain", "internal error\n", 15);
        } else {
            http_respond_buf(c, 200, ctype, &b);
        }
        return 0;
    }
    return serve_static(s, c, uri);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *cx = lws_get_context(wsi);
    struct rpc_server *s = cx ? lws_context_user(cx) : NULL;
    struct pss *pss = user;
    struct conn *c = pss ? pss->c : NULL;
    if (!s) return lws_callback_http_dummy(wsi, reason, user, in, len);

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        if (s->stopping || s->nconns >= s->cfg.max_conns) {
            /* Refuse promptly with a 503 the client can read. */
#define BUSY_BODY                                                                         \
    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32005,\"message\":\"too many " \
    "connections\"}}"
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                       "content-type: application/json\r\n"
                                       "connection: close\r\ncontent-length: 84\r\n\r\n" BUSY_BODY;
            _Static_assert(sizeof BUSY_BODY - 1 == 84, "content-length of the 503 body");
            int fd = (int)(intptr_t)in;
            ssize_t w = send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)w;
            shutdown(fd, SHUT_WR);
            return 1;
        }
        return 0;
    case LWS_CALLBACK_WSI_CREATE: s->nconns++; return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (s->nconns) s->nconns--;
        return 0;

    case LWS_CALLBACK_HTTP: return on_http(s, wsi, pss, in ? (const char *)in : "/");

    case LWS_CALLBACK_HTTP_BODY:
        if (!c) return -1;
        if (c->too_big) return 0; /* discard what follows a 413 */
        if (buf_append(&c->body, in, len)) {
            char msg[96];
            snprintf(msg, sizeof msg, "request body too large (max %zu bytes)", s->cfg.max_body);
            buf_free(&c->body);
            c->too_big = 1;
            c->close_after = 1;
            http_respond_error(c, 413, RPC_LIMIT_EXCEEDED, msg);
            lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, 5);
        }
        return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!c) return -1;
        if (c->too_big) {
            c->body_done = 1;
            return c->out ? 0 : -1; /* 413 written already: close now */
        }
        handle_http_body(c);
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!c || !c->out) return 0;
        if (http_write(c)) return -1;
        if (c->close_after) {
            /* After a 413 the client may still be sending the body: read and
             * discard it (bounded by a timeout) so that closing does not reset
             * the connection before the client reads the answer. */
            if (c->too_big && !c->expect_continue && !c->body_done) {
                lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, 5);
                return 0;
            }
            return -1;
        }
        if (lws_http_transaction_completed(wsi)) return -1;
        return 0;

    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        if (lws_http_transaction_completed(wsi)) return -1;
        return 0;

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL: conn_close(pss); return 0;

    case LWS_CALLBACK_ESTABLISHED:
        if (!pss) return -1;
        conn_close(pss);
        pss->c = conn_new(s, wsi, CONN_WS);
        return pss->c ? 0 : -1;

    case LWS_CALLBACK_RECEIVE: {
        if (!c) return -1;
        int final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
        if (!c->rx_too_big && buf_append(&c->rx, in, len)) {
            c->rx_too_big = 1;
            buf_free(&c->rx);
        }
        if (!final) return 0;
        if (c->rx_too_big) {
            char msg[96];
            snprintf(msg, sizeof msg, "message too large (max %zu bytes)", s->cfg.max_body);
            c->rx_too_big = 0;
            respond_op_status(c, 413, msg);
            return 0;
        }
        handle_ws_message(c, (const char *)c->rx.p, c->rx.len);
        c = pss->c; /* unchanged: handlers cannot close the conn synchronously */
        if (c) {
            c->rx.len = 0;
            if (c->rx.cap > 64 * 1024) buf_free(&c->rx); /* do not pin big buffers */
        }
        return 0;
    }

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!c) return 0;
        if (c->dropping) return -1;
        return ws_write_one(c);

    case LWS_CALLBACK_CLOSED: conn_close(pss); return 0;

    default: break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- server lifecycle --------------------------------------------------- */

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    log_msg(level == LLL_ERR ? LOG_ERROR : LOG_WARN, "lws", "%.*s", (int)n, line);
}

/* lws loads its libuv event-lib as a plugin and dlclose()s it when the
 * context is destroyed, while libuv may still hold close callbacks that point
 * into it: a node stopped under load could jump into the unmapped plugin
 * after its last log line. Loading the plugin once more with RTLD_NODELETE
 * keeps it mapped for the life of the process. */
static void pin_evlib_plugin(void)
{
    static int done;
    if (done) return;
    done = 1;
    static const char *paths[] = {"libwebsockets-evlib_uv.so",
                                  "/usr/lib/x86_64-linux-gnu/libwebsockets-evlib_uv.so",
                                  "/usr/lib/aarch64-linux-gnu/libwebsockets-evlib_uv.so"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (dlopen(paths[i], RTLD_NOW | RTLD_NODELETE)) return;
    log_warn(MOD, "could not pin the libwebsockets libuv plugin: %s", dlerror());
}

int rpc_server_start(struct rpc_server **out, uv_loop_t *loop, const struct rpc_cfg *cfg, void *ctx)
{
    *out = NULL;
    if (!loop || !cfg || cfg->port < 0 || cfg->port > 65535) return TALLY_EINVAL;
    struct rpc_server *s = calloc(1, sizeof *s);
    if (!s) return TALLY_ENOMEM;
    s->loop = loop;
    s->cfg = *cfg;
    s->user = ctx;
    if (!s->cfg.max_body) s->cfg.max_body = 4u << 20;
    if (!s->cfg.max_batch) s->cfg.max_batch = 2000;
    if (!s->cfg.max_conns) s->cfg.max_conns = 1024;
    if (!s->cfg.max_ws_queue) s->cfg.max_ws_queue = 16u << 20;
    if (!s->cfg.max_inflight) s->cfg.max_inflight = 4 * s->cfg.max_batch;
    if (cfg->host) s->host = strdup(cfg->host);
    if (cfg->static_dir) {
        s->static_dir = strdup(cfg->static_dir);
        if (s->static_dir) {
            size_t n = strlen(s->static_dir);
            while (n > 1 && s->static_dir[n - 1] == '/') s->static_dir[--n] = '\0';
        }
    }
    if ((cfg->host && !s->host) || (cfg->static_dir && !s->static_dir)) {
        free(s->host);
        free(s->static_dir);
        free(s);
        return TALLY_ENOMEM;
    }
    s->cfg.host = s->host;
    s->cfg.static_dir = s->static_dir;

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);

    s->protocols[0].name = "tally";
    s->protocols[0].callback = callback;
    s->protocols[0].per_session_data_size = sizeof(struct pss);
    s->protocols[0].rx_buffer_size = 64 * 1024;
    s->protocols[0].tx_packet_size = 0;

    void *foreign[1] = {loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = cfg->port;
    info.iface = s->host;
    info.protocols = s->protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 |
                   LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    info.foreign_loops = foreign;
    info.user = s;
    info.pcontext = &s->ctx; /* lws NULLs it once the context is freed */
    info.pt_serv_buf_size = 64 * 1024;
    info.fd_limit_per_thread = (unsigned)(s->cfg.max_conns + 64);
    info.keepalive_timeout = 60;
    info.timeout_secs = 30;
    /* one header buffer per allowed connection: idle sockets that hold one must not make
     * a new client wait in lws's header-pool queue (a connection flood) */
    info.max_http_header_pool =
        (unsigned short)(s->cfg.max_conns > 65535 ? 65535 : s->cfg.max_conns);
    pin_evlib_plugin();
    struct lws_context *cx = lws_create_context(&info);
    if (!cx) {
        log_error(MOD, "cannot start the HTTP server on %s:%d", cfg->host ? cfg->host : "*",
                  cfg->port);
        free(s->host);
        free(s->static_dir);
        free(s);
        return TALLY_EIO;
    }
    s->ctx = cx;
    struct lws_vhost *vh = lws_get_vhost_by_name(s->ctx, "default");
    s->port = vh ? lws_get_vhost_listen_port(vh) : cfg->port;
    *out = s;
    return 0;
}

int rpc_server_port(const struct rpc_server *s)
{
    return s->port;
}

int rpc_register_method(struct rpc_server *s, const char *name, rpc_method_fn fn)
{
    return ntab_put(&s->methods, name, (void *)fn);
}

int rpc_register_op(struct rpc_server *s, const char *op, rpc_op_fn fn)
{
    return ntab_put(&s->ops, op, (void *)fn);
}

int rpc_register_get(struct rpc_server *s, const char *path, rpc_get_fn fn)
{
    if (!path || path[0] != '/') return TALLY_EINVAL;
    return ntab_put(&s->gets, path, (void *)fn);
}

void rpc_set_ws_close(struct rpc_server *s, rpc_ws_close_fn fn)
{
    s->ws_close = fn;
}

int rpc_ws_broadcast(struct rpc_server *s, const char *text, size_t len)
{
    int n = 0;
    if (s->stopping) return 0;
    for (struct conn *c = s->ws_list; c; c = c->next)
        if (ws_enqueue(c, text, len, 1) == 0) n++;
    return n;
}

int rpc_ws_send(struct rpc_server *s, uint64_t conn_id, const char *text, size_t len)
{
    if (s->stopping) return TALLY_ENOTFOUND;
    for (struct conn *c = s->ws_list; c; c = c->next)
        if (c->id == conn_id) return ws_enqueue(c, text, len, 1);
    return TALLY_ENOTFOUND;
}

void rpc_server_stats(const struct rpc_server *s, rpc_stat_fn fn, void *ctx)
{
    const struct ntab *tabs[2] = {&s->methods, &s->ops};
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < tabs[t]->cap; i++) {
            const struct nent *e = &tabs[t]->e[i];
            if (e->name && (e->st->ok || e->st->err)) fn(ctx, e->name, e->st->ok, e->st->err);
        }
    if (s->refused) fn(ctx, NULL, 0, s->refused);
}

size_t rpc_server_conns(const struct rpc_server *s)
{
    return s->nconns;
}

static void server_maybe_free(struct rpc_server *s)
{
    if (!s->stopping || !s->lws_done || s->ngroups) return;
    ntab_free(&s->methods);
    ntab_free(&s->ops);
    ntab_free(&s->gets);
    free(s->host);
    free(s->static_dir);
    free(s);
}

static void fin_closed(uv_handle_t *h)
{
    struct rpc_server *s = h->data;
    s->lws_done = 1;
    server_maybe_free(s);
}

/* lws 4.1 with a foreign libuv loop: the first lws_context_destroy() closes
 * every wsi and lws's uv handles; those close asynchronously and lws keeps
 * calling back meanwhile. A second lws_context_destroy() once they are
 * closed finishes the job (frees the context; lws then NULLs s->ctx through
 * info.pcontext). This timer makes that second call. */
static void fin_tick(uv_timer_t *t)
{
    struct rpc_server *s = t->data;
    if (s->ctx) lws_context_destroy(s->ctx);
    if (s->ctx && ++s->fin_tries < 100) return;
    if (s->ctx) log_error(MOD, "lws context did not finish closing; leaking it");
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, fin_closed);
}

void rpc_server_stop(struct rpc_server *s)
{
    if (!s || s->stopping) return;
    s->stopping = 1;
    /* Closes every wsi: conn_close orphans outstanding groups. */
    lws_context_destroy(s->ctx);
    uv_timer_init(s->loop, &s->fin_timer);
    s->fin_timer.data = s;
    uv_timer_start(&s->fin_timer, fin_tick, 5, 5);
}
