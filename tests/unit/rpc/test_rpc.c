/* RPC server over real sockets: the server runs on a libuv loop in a thread,
 * the test talks to it with a tiny HTTP/1.1 client and a minimal WebSocket
 * client written here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "rpc/rpc.h"
#include "util/clock.h"

#define MAX_BODY  (512 * 1024)
#define MAX_BATCH 1200
#define MAX_CONNS 32

/* ---- server side (loop thread) ------------------------------------------ */

static uv_loop_t loop;
static uv_async_t stop_async;
static pthread_t loop_thread;
static struct rpc_server *srv;
static int port;
static char static_dir[64];

static void m_echo(void *ctx, struct rpc_req *req, const cJSON *params)
{
    rpc_reply_result(req, params ? cJSON_Duplicate(params, 1) : cJSON_CreateNull());
}

static void m_hash(void *ctx, struct rpc_req *req, const cJSON *params)
{
    /* Trivial method shaped like eth_sendRawTransaction's answer. */
    rpc_reply_result(
        req,
        cJSON_CreateString("0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060"));
}

static void m_fail(void *ctx, struct rpc_req *req, const cJSON *params)
{
    rpc_reply_error(req, RPC_INVALID_PARAMS, "invalid params: \"x\" wanted",
                    cJSON_CreateString("detail"));
}

static void stat_add(void *ctx, const char *name, uint64_t ok, uint64_t err)
{
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)ok));
    cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)err));
    cJSON_AddItemToObject(ctx, name ? name : "(refused)", pair);
}

/* rpc_server_stats as {"name": [ok, err], ...} (on the loop thread) */
static void m_stats(void *ctx, struct rpc_req *req, const cJSON *params)
{
    cJSON *o = cJSON_CreateObject();
    rpc_server_stats(srv, stat_add, o);
    rpc_reply_result(req, o);
}

struct later {
    uv_timer_t t;
    struct rpc_req *req;
    int op;
};

static void later_closed(uv_handle_t *h)
{
    free(h);
}

static void later_fire(uv_timer_t *t)
{
    struct later *l = (struct later *)t;
    if (l->op)
        rpc_reply_op(l->req, 200, NULL, cJSON_CreateString("later"));
    else
        rpc_reply_result(l->req, cJSON_CreateString("later"));
    uv_close((uv_handle_t *)t, later_closed);
}

static void start_later(struct rpc_req *req, int op, uint64_t ms)
{
    struct later *l = calloc(1, sizeof *l);
    l->req = req;
    l->op = op;
    uv_timer_init(&loop, &l->t);
    uv_timer_start(&l->t, later_fire, ms, 0);
}

static void m_later(void *ctx, struct rpc_req *req, const cJSON *params)
{
    uint64_t ms = 5;
    const cJSON *p0 = cJSON_IsArray(params) ? cJSON_GetArrayItem(params, 0) : NULL;
    if (cJSON_IsNumber(p0)) ms = (uint64_t)p0->valuedouble;
    start_later(req, 0, ms);
}

static void m_conns(void *ctx, struct rpc_req *req, const cJSON *params)
{
    rpc_reply_result(req, cJSON_CreateNumber((double)rpc_server_conns(srv)));
}

static void m_bcast(void *ctx, struct rpc_req *req, const cJSON *params)
{
    static const char msg[] = "{\"broadcast\":true}";
    int n = rpc_ws_broadcast(srv, msg, sizeof msg - 1);
    rpc_reply_result(req, cJSON_CreateNumber(n));
}

static void op_ping(void *ctx, struct rpc_req *req, const cJSON *args)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "pong", args ? cJSON_Duplicate(args, 1) : cJSON_CreateNull());
    rpc_reply_op(req, 200, NULL, r);
}

static void op_later(void *ctx, struct rpc_req *req, const cJSON *args)
{
    start_later(req, 1, 5);
}

static void op_bad(void *ctx, struct rpc_req *req, const cJSON *args)
{
    rpc_reply_op(req, 409, "insufficient balance", NULL);
}

static int get_metrics(void *ctx, struct buf *out, const char **ctype)
{
    *ctype = "text/plain; version=0.0.4";
    return buf_puts(out, "tally_up 1\n");
}

static void on_stop(uv_async_t *a)
{
    rpc_server_stop(srv);
    srv = NULL;
    uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

static int setup_server(void **state)
{
    snprintf(static_dir, sizeof static_dir, "/tmp/tally-rpc-test-%d", (int)getpid());
    mkdir(static_dir, 0700);
    char path[128];
    snprintf(path, sizeof path, "%s/index.html", static_dir);
    FILE *f = fopen(path, "w");
    fputs("<h1>explorer</h1>\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/app.wasm", static_dir);
    f = fopen(path, "w");
    fputs("wasm", f);
    fclose(f);

    uv_loop_init(&loop);
    struct rpc_cfg cfg = {.host = "127.0.0.1",
                          .port = 0,
                          .max_body = MAX_BODY,
                          .max_batch = MAX_BATCH,
                          .max_conns = MAX_CONNS,
                          .max_ws_queue = 1 << 20,
                          .static_dir = static_dir};
    if (rpc_server_start(&srv, &loop, &cfg, NULL) != 0) return -1;
    port = rpc_server_port(srv);
    if (port <= 0) return -1;
    rpc_register_method(srv, "echo", m_echo);
    rpc_register_method(srv, "hash", m_hash);
    rpc_register_method(srv, "fail", m_fail);
    rpc_register_method(srv, "later", m_later);
    rpc_register_method(srv, "conns", m_conns);
    rpc_register_method(srv, "bcast", m_bcast);
    rpc_register_method(srv, "stats", m_stats);
    rpc_register_op(srv, "ping", op_ping);
    rpc_register_op(srv, "later", op_later);
    rpc_register_op(srv, "bad", op_bad);
    rpc_register_get(srv, "/metrics", get_metrics);
    uv_async_init(&loop, &stop_async, on_stop);
    pthread_create(&loop_thread, NULL, loop_main, NULL);
    return 0;
}

static int teardown_server(void **state)
{
    uv_async_send(&stop_async);
    pthread_join(loop_thread, NULL);
    /* Everything lws opened must be closed by now. */
    uv_run(&loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop);
    char path[128];
    snprintf(path, sizeof path, "%s/index.html", static_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/app.wasm", static_dir);
    unlink(path);
    rmdir(static_dir);
    if (rc != 0) fprintf(stderr, "uv_loop_close: %s\n", uv_strerror(rc));
    return rc == 0 ? 0 : -1;
}

/* ---- client side -------------------------------------------------------- */

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        c += w;
        n -= (size_t)w;
    }
}

struct resp {
    int status;
    char *body;
    size_t len;
    int closed; /* the server said connection: close */
};

/* Read one HTTP response. Returns 0, or -1 if the connection closed first. */
static int read_resp(int fd, struct resp *r)
{
    static char buf[1 << 22];
    size_t have = 0;
    char *hend = NULL;
    memset(r, 0, sizeof *r);
    for (;;) {
        ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0) return -1;
        have += (size_t)n;
        buf[have] = 0;
        hend = strstr(buf, "\r\n\r\n");
        if (hend) {
            /* skip interim 100 Continue */
            if (strncmp(buf, "HTTP/1.1 100", 12) == 0) {
                size_t skip = (size_t)(hend + 4 - buf);
                memmove(buf, hend + 4, have - skip);
                have -= skip;
                buf[have] = 0;
                hend = strstr(buf, "\r\n\r\n");
                if (!hend) continue;
            }
            break;
        }
    }
    r->status = atoi(buf + 9);
    size_t clen = 0;
    for (char *h = buf; h < hend; h++) {
        if (strncasecmp(h, "\ncontent-length:", 16) == 0) clen = strtoul(h + 16, NULL, 10);
        if (strncasecmp(h, "\nconnection: close", 18) == 0) r->closed = 1;
    }
    size_t hlen = (size_t)(hend + 4 - buf);
    while (have < hlen + clen) {
        ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0) return -1;
        have += (size_t)n;
    }
    r->body = malloc(clen + 1);
    memcpy(r->body, buf + hlen, clen);
    r->body[clen] = 0;
    r->len = clen;
    return 0;
}

static void post(int fd, const char *body, size_t len)
{
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr,
                     "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     len);
    send_all(fd, hdr, (size_t)n);
    send_all(fd, body, len);
}

/* POST body on fd, parse the JSON answer (NULL for an empty body). */
static cJSON *call(int fd, const char *body, int *status)
{
    struct resp r;
    post(fd, body, strlen(body));
    assert_int_equal(read_resp(fd, &r), 0);
    if (status) *status = r.status;
    cJSON *j = r.len ? cJSON_Parse(r.body) : NULL;
    if (r.len) assert_non_null(j);
    free(r.body);
    return j;
}

static int err_code(const cJSON *resp)
{
    const cJSON *e = cJSON_GetObjectItem(resp, "error");
    return e ? cJSON_GetObjectItem(e, "code")->valueint : 0;
}

static const char *err_msg(const cJSON *resp)
{
    const cJSON *e = cJSON_GetObjectItem(resp, "error");
    return e ? cJSON_GetObjectItem(e, "message")->valuestring : "";
}

/* ---- minimal WebSocket client ------------------------------------------- */

static int ws_open(void)
{
    int fd = dial();
    static const char req[] =
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    char buf[2048];
    size_t have = 0;
    buf[0] = 0;
    while (!strstr(buf, "\r\n\r\n")) {
        ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        assert_true(n > 0);
        have += (size_t)n;
        buf[have] = 0;
    }
    assert_int_equal(strncmp(buf, "HTTP/1.1 101", 12), 0);
    assert_non_null(strstr(buf, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")); /* RFC 6455 example */
    return fd;
}

/* Send one frame (client frames are masked). */
static void ws_frame(int fd, int opcode, int fin, const char *p, size_t n)
{
    uint8_t h[14];
    size_t hl = 0;
    h[hl++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (n < 126) {
        h[hl++] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (uint8_t)(n >> 8);
        h[hl++] = (uint8_t)n;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) h[hl++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(h + hl, mask, 4);
    hl += 4;
    uint8_t *m = malloc(n + 1);
    for (size_t i = 0; i < n; i++) m[i] = (uint8_t)p[i] ^ mask[i & 3];
    send_all(fd, h, hl);
    send_all(fd, m, n);
    free(m);
}

static void ws_send(int fd, const char *text)
{
    ws_frame(fd, 1, 1, text, strlen(text));
}

static void recv_exact(int fd, void *p, size_t n)
{
    uint8_t *c = p;
    while (n) {
        ssize_t r = recv(fd, c, n, 0);
        assert_true(r > 0);
        c += r;
        n -= (size_t)r;
    }
}

/* Receive one text message (server frames are unmasked, reassembled). */
static cJSON *ws_recv(int fd)
{
    char *msg = NULL;
    size_t len = 0;
    for (;;) {
        uint8_t h[2];
        recv_exact(fd, h, 2);
        uint64_t n = h[1] & 0x7f;
        if (n == 126) {
            uint8_t e[2];
            recv_exact(fd, e, 2);
            n = (uint64_t)e[0] << 8 | e[1];
        } else if (n == 127) {
            uint8_t e[8];
            recv_exact(fd, e, 8);
            n = 0;
            for (int i = 0; i < 8; i++) n = n << 8 | e[i];
        }
        msg = realloc(msg, len + n + 1);
        recv_exact(fd, msg + len, n);
        len += n;
        if ((h[0] & 0x0f) == 9 || (h[0] & 0x0f) == 10) continue; /* ping/pong */
        if (h[0] & 0x80) break;
    }
    msg[len] = 0;
    cJSON *j = cJSON_Parse(msg);
    if (!j) fail_msg("bad ws message: %s", msg);
    free(msg);
    return j;
}

/* ---- tests -------------------------------------------------------------- */

static void test_single_and_async(void **state)
{
    int fd = dial();
    int st;
    cJSON *r = call(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[42]}", &st);
    assert_int_equal(st, 200);
    assert_int_equal(cJSON_GetObjectItem(r, "id")->valueint, 1);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "result"), 0)->valueint, 42);
    cJSON_Delete(r);

    /* same keep-alive connection, asynchronous answer, string id */
    r = call(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"later\"}", &st);
    assert_string_equal(cJSON_GetObjectItem(r, "id")->valuestring, "x");
    assert_string_equal(cJSON_GetObjectItem(r, "result")->valuestring, "later");
    cJSON_Delete(r);

    r = call(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"fail\"}", &st);
    assert_int_equal(err_code(r), RPC_INVALID_PARAMS);
    assert_string_equal(err_msg(r), "invalid params: \"x\" wanted");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "error"), "data")->valuestring,
                        "detail");
    cJSON_Delete(r);

    r = call(fd, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"eth_nope\"}", &st);
    assert_int_equal(err_code(r), RPC_METHOD_NOT_FOUND);
    assert_non_null(strstr(err_msg(r), "eth_nope"));
    cJSON_Delete(r);

    r = call(fd, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"echo\",\"params\":5}", &st);
    assert_int_equal(err_code(r), RPC_INVALID_PARAMS);
    cJSON_Delete(r);

    r = call(fd, "{\"id\":4,\"method\":\"echo\"}", &st);
    assert_int_equal(err_code(r), RPC_INVALID_REQUEST);
    cJSON_Delete(r);

    r = call(fd, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ech", &st);
    assert_int_equal(err_code(r), RPC_PARSE_ERROR);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "id")));
    cJSON_Delete(r);

    /* notification: no answer body */
    r = call(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[]}", &st);
    assert_null(r);
    assert_int_equal(st, 204);

    /* still alive */
    r = call(fd, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"echo\",\"params\":{\"a\":1}}", &st);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "a")->valueint, 1);
    cJSON_Delete(r);
    close(fd);
}

static void test_batch(void **state)
{
    int fd = dial();
    int st;
    cJSON *r = call(fd,
                    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"later\",\"params\":[20]},"
                    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\",\"params\":[2]},"
                    "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[3]},"
                    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"missing\"},"
                    "1,"
                    "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"later\"}]",
                    &st);
    assert_int_equal(st, 200);
    assert_true(cJSON_IsArray(r));
    assert_int_equal(cJSON_GetArraySize(r), 5); /* the notification is not answered */
    const cJSON *e0 = cJSON_GetArrayItem(r, 0), *e1 = cJSON_GetArrayItem(r, 1),
                *e2 = cJSON_GetArrayItem(r, 2), *e3 = cJSON_GetArrayItem(r, 3),
                *e4 = cJSON_GetArrayItem(r, 4);
    assert_int_equal(cJSON_GetObjectItem(e0, "id")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(e0, "result")->valuestring, "later");
    assert_int_equal(cJSON_GetObjectItem(e1, "id")->valueint, 2);
    assert_int_equal(err_code(e2), RPC_METHOD_NOT_FOUND);
    assert_non_null(strstr(err_msg(e2), "missing"));
    assert_int_equal(err_code(e3), RPC_INVALID_REQUEST);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e3, "id")));
    assert_int_equal(cJSON_GetObjectItem(e4, "id")->valueint, 6);
    cJSON_Delete(r);

    r = call(fd, "[]", &st);
    assert_true(cJSON_IsObject(r));
    assert_int_equal(err_code(r), RPC_INVALID_REQUEST);
    cJSON_Delete(r);

    /* only notifications: nothing to answer */
    r = call(fd,
             "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\"},{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]",
             &st);
    assert_null(r);
    assert_int_equal(st, 204);

    /* over max_batch */
    size_t cap = (MAX_BATCH + 1) * 48 + 16;
    char *big = malloc(cap);
    size_t n = 0;
    big[n++] = '[';
    for (int i = 0; i <= MAX_BATCH; i++)
        n +=
            (size_t)snprintf(big + n, cap - n, "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"x\"}",
                             i ? "," : "", i);
    big[n++] = ']';
    big[n] = 0;
    assert_true(n < MAX_BODY);
    r = call(fd, big, &st);
    assert_true(cJSON_IsObject(r));
    assert_int_equal(err_code(r), RPC_INVALID_REQUEST);
    assert_non_null(strstr(err_msg(r), "batch too large"));
    cJSON_Delete(r);
    free(big);
    close(fd);
}

static void test_oversize_body(void **state)
{
    size_t n = MAX_BODY + 1000;
    char *body = malloc(n);
    memset(body, ' ', n);
    body[0] = '[';
    body[n - 1] = ']';

    /* Content-Length announces it: 413 before the body is read. */
    int fd = dial();
    struct resp r;
    post(fd, body, n);
    assert_int_equal(read_resp(fd, &r), 0);
    assert_int_equal(r.status, 413);
    cJSON *j = cJSON_Parse(r.body);
    assert_int_equal(err_code(j), RPC_LIMIT_EXCEEDED);
    assert_non_null(strstr(err_msg(j), "too large"));
    cJSON_Delete(j);
    free(r.body);
    close(fd);

    /* With Expect: 100-continue the server answers 413 at once. */
    fd = dial();
    char hdr[256];
    int hn = snprintf(hdr, sizeof hdr,
                      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
                      "Expect: 100-continue\r\n\r\n",
                      n);
    send_all(fd, hdr, (size_t)hn);
    assert_int_equal(read_resp(fd, &r), 0);
    assert_int_equal(r.status, 413);
    free(r.body);
    close(fd);

    /* Expect: 100-continue with a small body: 100 then the answer. */
    fd = dial();
    static const char small[] = "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"echo\",\"params\":[9]}";
    hn = snprintf(hdr, sizeof hdr,
                  "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
                  "Expect: 100-continue\r\n\r\n",
                  sizeof small - 1);
    send_all(fd, hdr, (size_t)hn);
    char cont[64];
    ssize_t got = recv(fd, cont, sizeof cont - 1, 0);
    assert_true(got >= 12);
    assert_int_equal(strncmp(cont, "HTTP/1.1 100", 12), 0);
    send_all(fd, small, sizeof small - 1);
    assert_int_equal(read_resp(fd, &r), 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    close(fd);

    /* The server is fine afterwards. */
    fd = dial();
    int st;
    j = call(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}", &st);
    assert_int_equal(st, 200);
    cJSON_Delete(j);
    close(fd);
    free(body);
}

static void get(int fd, const char *path, struct resp *r)
{
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    send_all(fd, req, (size_t)n);
    assert_int_equal(read_resp(fd, r), 0);
}

static void test_get_paths(void **state)
{
    int fd = dial();
    struct resp r;
    get(fd, "/health", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    free(r.body);
    get(fd, "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "tally_up 1\n");
    free(r.body);
    get(fd, "/", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "<h1>explorer</h1>\n");
    free(r.body);
    get(fd, "/app.wasm", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "wasm");
    free(r.body);
    get(fd, "/nope.html", &r);
    assert_int_equal(r.status, 404);
    free(r.body);
    close(fd);
    fd = dial();
    get(fd, "/../../etc/passwd", &r);
    assert_true(r.status == 404 || r.status == 403 || r.status == 400);
    free(r.body);
    close(fd);
}

/* ok / err count of name in a stats answer (0 if absent) */
static double stat_of(const cJSON *stats, const char *name, int which)
{
    const cJSON *pair = cJSON_GetObjectItem(cJSON_GetObjectItem(stats, "result"), name);
    return pair ? cJSON_GetArrayItem(pair, which)->valuedouble : 0;
}

static void test_stats(void **state)
{
    int fd = dial(), st;
    const char *stats = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"stats\"}";
    cJSON *before = call(fd, stats, &st);
    cJSON_Delete(call(fd,
                      "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"},"
                      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"},"
                      "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"fail\"},"
                      "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"no-such-method\"},"
                      "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":7}]",
                      &st));
    cJSON_Delete(call(fd, "{not json", &st));
    cJSON *after = call(fd, stats, &st);
    assert_int_equal(stat_of(after, "echo", 0) - stat_of(before, "echo", 0), 2);
    assert_int_equal(stat_of(after, "echo", 1) - stat_of(before, "echo", 1), 0);
    assert_int_equal(stat_of(after, "fail", 1) - stat_of(before, "fail", 1), 1);
    /* unknown names are not listed, only counted together */
    assert_int_equal(stat_of(after, "(refused)", 1) - stat_of(before, "(refused)", 1), 3);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(after, "result"), "no-such-method"));
    cJSON_Delete(before);
    cJSON_Delete(after);
    close(fd);
}

static void test_ws_ops(void **state)
{
    int fd = ws_open();
    ws_send(fd, "{\"op\":\"ping\",\"args\":{\"n\":1}}");
    cJSON *r = ws_recv(fd);
    assert_int_equal(cJSON_GetObjectItem(r, "status")->valueint, 200);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "error")));
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "response"), "pong"), "n")
            ->valueint,
        1);
    cJSON_Delete(r);

    ws_send(fd, "{\"op\":\"nope\"}");
    r = ws_recv(fd);
    assert_int_equal(cJSON_GetObjectItem(r, "status")->valueint, 404);
    assert_string_equal(cJSON_GetObjectItem(r, "error")->valuestring, "Unknown operation \"nope\"");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "response")));
    cJSON_Delete(r);

    ws_send(fd, "{\"op\": \"ping\", \"args\": {");
    r = ws_recv(fd);
    assert_int_equal(cJSON_GetObjectItem(r, "status")->valueint, 400);
    assert_non_null(strstr(cJSON_GetObjectItem(r, "error")->valuestring, "malformed JSON"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "response")));
    cJSON_Delete(r);

    ws_send(fd, "[1,2]");
    r = ws_recv(fd); /* an array is a JSON-RPC batch: two invalid requests */
    assert_true(cJSON_IsArray(r));
    cJSON_Delete(r);

    ws_send(fd, "{\"op\":\"bad\"}");
    r = ws_recv(fd);
    assert_int_equal(cJSON_GetObjectItem(r, "status")->valueint, 409);
    assert_string_equal(cJSON_GetObjectItem(r, "error")->valuestring, "insufficient balance");
    cJSON_Delete(r);

    /* async op, then a fragmented message */
    ws_send(fd, "{\"op\":\"later\",\"id\":77}");
    r = ws_recv(fd);
    assert_int_equal(cJSON_GetObjectItem(r, "status")->valueint, 200);
    assert_string_equal(cJSON_GetObjectItem(r, "response")->valuestring, "later");
    assert_int_equal(cJSON_GetObjectItem(r, "id")->valueint, 77);
    cJSON_Delete(r);

    ws_frame(fd, 1, 0, "{\"op\":\"pi", 9);
    ws_frame(fd, 0, 0, "ng\",\"args\":", 11);
    ws_frame(fd, 0, 1, "[5]}", 4);
    r = ws_recv(fd);
    assert_int_equal(cJSON_GetObjectItem(r, "status")->valueint, 200);
    assert_int_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "response"), "pong"), 0)
            ->valueint,
        5);
    cJSON_Delete(r);

    /* JSON-RPC over the same socket */
    ws_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\",\"params\":[\"hi\"]}");
    r = ws_recv(fd);
    assert_int_equal(cJSON_GetObjectItem(r, "id")->valueint, 7);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "result"), 0)->valuestring, "hi");
    cJSON_Delete(r);

    ws_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"nah\"}");
    r = ws_recv(fd);
    assert_int_equal(err_code(r), RPC_METHOD_NOT_FOUND);
    cJSON_Delete(r);

    ws_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":");
    r = ws_recv(fd);
    assert_int_equal(err_code(r), RPC_PARSE_ERROR);
    cJSON_Delete(r);

    /* too large a message: answered, connection survives */
    size_t bn = MAX_BODY + 10;
    char *big = malloc(bn);
    memset(big, 'a', bn);
    ws_frame(fd, 1, 1, big, bn);
    free(big);
    r = ws_recv(fd);
    assert_int_equal(cJSON_GetObjectItem(r, "status")->valueint, 413);
    cJSON_Delete(r);

    /* broadcast reaches this client, and a second one */
    int fd2 = ws_open();
    ws_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"bcast\"}");
    r = ws_recv(fd);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "broadcast")));
    cJSON_Delete(r);
    r = ws_recv(fd);
    assert_int_equal(cJSON_GetObjectItem(r, "result")->valueint, 2);
    cJSON_Delete(r);
    r = ws_recv(fd2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "broadcast")));
    cJSON_Delete(r);
    close(fd2);

    ws_send(fd, "{\"op\":\"ping\"}");
    r = ws_recv(fd);
    assert_int_equal(cJSON_GetObjectItem(r, "status")->valueint, 200);
    cJSON_Delete(r);
    close(fd);
}

static void test_client_gone_before_reply(void **state)
{
    /* HTTP and WS clients leave while their async answers are pending. */
    int fd = dial();
    static const char b[] = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"later\",\"params\":[30]},"
                            "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}]";
    post(fd, b, sizeof b - 1);
    usleep(5000);
    close(fd);
    fd = ws_open();
    ws_send(fd, "{\"op\":\"later\"}");
    ws_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"later\",\"params\":[30]}");
    usleep(5000);
    close(fd);
    usleep(60000); /* the timers fire after the clients left */
    fd = dial();
    int st;
    cJSON *r = call(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"later\"}", &st);
    assert_string_equal(cJSON_GetObjectItem(r, "result")->valuestring, "later");
    cJSON_Delete(r);
    close(fd);
}

static int conns_now(int fd)
{
    int st;
    cJSON *r = call(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"conns\"}", &st);
    int n = cJSON_GetObjectItem(r, "result")->valueint;
    cJSON_Delete(r);
    return n;
}

static void test_connection_flood(void **state)
{
    int keep = dial();
    int ws = ws_open();
    usleep(20000);
    int base = conns_now(keep);
    assert_true(base >= 2 && base < 10);

    enum { FLOOD = MAX_CONNS * 3 };
    int fds[FLOOD];
    for (int i = 0; i < FLOOD; i++) fds[i] = dial();
    usleep(200000);

    /* Existing clients are still served while the flood is on. */
    int st;
    cJSON *r = call(keep, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[1]}", &st);
    assert_int_equal(st, 200);
    cJSON_Delete(r);
    ws_send(ws, "{\"op\":\"ping\"}");
    r = ws_recv(ws);
    assert_int_equal(cJSON_GetObjectItem(r, "status")->valueint, 200);
    cJSON_Delete(r);
    assert_true(conns_now(keep) <= MAX_CONNS);

    /* The excess ones were refused promptly: 503 or closed. */
    int refused = 0;
    for (int i = 0; i < FLOOD; i++) {
        struct pollfd pf = {.fd = fds[i], .events = POLLIN};
        if (poll(&pf, 1, 0) == 1) {
            char buf[512];
            ssize_t n = recv(fds[i], buf, sizeof buf - 1, MSG_DONTWAIT);
            if (n <= 0 || (n >= 12 && strncmp(buf, "HTTP/1.1 503", 12) == 0)) refused++;
        }
    }
    printf("# flood: %d of %d refused, %d served at limit %d\n", refused, FLOOD, conns_now(keep),
           MAX_CONNS);
    assert_true(refused >= FLOOD - MAX_CONNS);
    for (int i = 0; i < FLOOD; i++) close(fds[i]);
    usleep(200000);

    /* Capacity comes back. */
    assert_int_equal(conns_now(keep), base);
    int again = dial();
    r = call(again, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}", &st);
    assert_int_equal(st, 200);
    cJSON_Delete(r);
    close(again);
    close(ws);
    close(keep);
}

/* ---- throughput --------------------------------------------------------- */

struct bench_arg {
    int batches, per;
    char *body;
    size_t len;
    long calls;
};

static void *bench_client(void *p)
{
    struct bench_arg *a = p;
    int fd = dial();
    for (int i = 0; i < a->batches; i++) {
        struct resp r;
        post(fd, a->body, a->len);
        if (read_resp(fd, &r) != 0 || r.status != 200) break;
        free(r.body);
        a->calls += a->per;
    }
    close(fd);
    return NULL;
}

static void test_throughput(void **state)
{
    enum { CLIENTS = 4, PER = 1000 };
    int batches = getenv("TALLY_RPC_BENCH_BATCHES") ? atoi(getenv("TALLY_RPC_BENCH_BATCHES")) : 30;
    /* A batch of eth_sendRawTransaction-sized calls (a 110-byte raw tx). */
    char raw[224];
    memset(raw, 'a', sizeof raw - 1);
    raw[sizeof raw - 1] = 0;
    size_t cap = PER * 320 + 16, n = 0;
    char *body = malloc(cap);
    body[n++] = '[';
    for (int i = 0; i < PER; i++)
        n += (size_t)snprintf(body + n, cap - n,
                              "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"hash\",\"params\":"
                              "[\"0x%s\"]}",
                              i ? "," : "", i, raw);
    body[n++] = ']';
    struct bench_arg args[CLIENTS];
    pthread_t th[CLIENTS];
    uint64_t t0 = clock_mono_ns();
    for (int i = 0; i < CLIENTS; i++) {
        args[i] = (struct bench_arg){.batches = batches, .per = PER, .body = body, .len = n};
        pthread_create(&th[i], NULL, bench_client, &args[i]);
    }
    long total = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        total += args[i].calls;
    }
    double s = (double)(clock_mono_ns() - t0) / 1e9;
    printf("# %d clients x %d batches of %d calls (%zu-byte bodies): %ld calls in %.3f s = %.0f "
           "calls/s\n",
           CLIENTS, batches, PER, n, total, s, (double)total / s);
    assert_int_equal(total, (long)CLIENTS * batches * PER);
    free(body);
}

static int pending_fd = -1;

/* Stopping the server while answers are pending: they arrive after the
 * stop, are discarded, and everything is freed (ASan checks). */
static void test_stop_with_pending(void **state)
{
    int fd = dial();
    static const char b[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"later\",\"params\":[80]}";
    post(fd, b, sizeof b - 1);
    int ws = ws_open();
    ws_send(ws, "{\"op\":\"later\"}");
    usleep(20000);
    /* teardown stops the server now; the clients see the close */
    pending_fd = fd;
    close(ws);
}

static int teardown_pending(void **state)
{
    int rc = teardown_server(state);
    if (pending_fd >= 0) close(pending_fd);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_and_async),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_oversize_body),
        cmocka_unit_test(test_get_paths),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_ws_ops),
        cmocka_unit_test(test_client_gone_before_reply),
        cmocka_unit_test(test_connection_flood),
        cmocka_unit_test(test_throughput),
    };
    const struct CMUnitTest stop_tests[] = {
        cmocka_unit_test(test_stop_with_pending),
    };
    int failed = cmocka_run_group_tests(tests, setup_server, teardown_server);
    failed += cmocka_run_group_tests(stop_tests, setup_server, teardown_pending);
    return failed;
}
