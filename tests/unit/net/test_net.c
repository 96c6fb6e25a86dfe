/* P2P transport: certificates, an all-to-all mesh with duplicate resolution,
 * refusal of foreign-CA / certificate-less / unknown-ID peers, oversized and
 * garbage input, reconnect after restart, bounded send queues, and a
 * throughput measurement. One process, one loop, several nets on 127.0.0.1. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "crypto/nodekey.h"
#include "crypto/x509.h"
#include "net/net.h"
#include "util/clock.h"
#include "util/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLOW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOW 1
#endif
#endif
#ifndef SLOW
#define SLOW 0
#endif

/* Keys 0-3: validators. 4: certified by the chain CA but not a validator.
 * 5: a validator ID whose certificate comes from another CA. */
#define NKEYS    6
#define OUTSIDER 4
#define EVIL     5
#define T_DATA   7
#define T_SEQ    8

static char tmp[256];
static uint8_t ids[NKEYS][32];
static uint8_t allowed[5][32]; /* 0-3 and EVIL */

struct tnode {
    struct net *net;
    int idx;
    int ups, downs;
    int up[NKEYS];
    uint64_t frames, bytes;
    uint64_t from[NKEYS];
    uint32_t next_seq;
    uint64_t seq_errors;
    char last[64];
};

static uv_loop_t loop;
static struct tnode nodes[NKEYS];

static int id_index(const uint8_t id[32])
{
    for (int i = 0; i < NKEYS; i++)
        if (memcmp(ids[i], id, 32) == 0) return i;
    return -1;
}

static void on_frame(void *ctx, const uint8_t peer[32], uint8_t type, const uint8_t *p, size_t len)
{
    struct tnode *t = ctx;
    int i = id_index(peer);
    assert_true(i >= 0);
    t->frames++;
    t->bytes += len;
    t->from[i]++;
    if (type == T_SEQ) {
        uint32_t s = len >= 4 ? (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3] : ~0u;
        if (s != t->next_seq) t->seq_errors++;
        t->next_seq++;
    } else if (len < sizeof t->last) {
        memcpy(t->last, p, len);
        t->last[len] = 0;
    }
}

static void on_peer(void *ctx, const uint8_t peer[32], int up)
{
    struct tnode *t = ctx;
    int i = id_index(peer);
    assert_true(i >= 0);
    assert_int_equal(t->up[i], !up); /* calls alternate */
    t->up[i] = up;
    if (up)
        t->ups++;
    else
        t->downs++;
}

static void path(char *out, size_t cap, const char *sub, int idx, const char *file)
{
    if (idx >= 0)
        snprintf(out, cap, "%s/%s%d/%s", tmp, sub, idx, file);
    else
        snprintf(out, cap, "%s/%s/%s", tmp, sub, file);
}

struct opts {
    int port;
    size_t max_frame, max_queue;
    const uint8_t (*allowed)[32];
    size_t nallowed;
};

static void start(int idx, const struct opts *o)
{
    char ca[512], crt[512], key[512];
    /* The foreign node trusts both CAs (the chain CA certificate is public),
     * so only the honest side's check can refuse it. */
    path(ca, sizeof ca, idx == EVIL ? "evilca" : "ca", -1, idx == EVIL ? "bundle.crt" : "ca.crt");
    path(crt, sizeof crt, "node", idx, "node.crt");
    path(key, sizeof key, "node", idx, "node.key");
    struct tnode *t = &nodes[idx];
    memset(t, 0, sizeof *t);
    t->idx = idx;
    struct net_cfg cfg = {
        .listen_host = "127.0.0.1",
        .listen_port = o ? o->port : 0,
        .ca_path = ca,
        .cert_path = crt,
        .key_path = key,
        .allowed_ids = o && o->allowed ? o->allowed : (const uint8_t(*)[32])allowed,
        .nallowed = o && o->allowed ? o->nallowed : 5,
        .max_frame = o ? o->max_frame : 0,
        .max_queue = o ? o->max_queue : 0,
    };
    assert_int_equal(net_start(&t->net, &loop, &cfg, on_frame, on_peer, t), 0);
    uint8_t self[32];
    net_self_id(t->net, self);
    assert_memory_equal(self, ids[idx], 32);
}

static int port_of(int idx)
{
    return net_listen_port(nodes[idx].net);
}

static void dial(int from, int to)
{
    assert_int_equal(net_add_peer(nodes[from].net, "127.0.0.1", port_of(to)), 0);
}

static void on_tick(uv_timer_t *t) {}

/* Run the loop until pred() holds or ms pass; returns pred(). */
static int run_until(int (*pred)(void *), void *arg, unsigned ms)
{
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    uint64_t end = clock_mono_ns() + (uint64_t)ms * 1000000;
    int ok;
    while (!(ok = pred(arg)) && clock_mono_ns() < end) uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return ok;
}

static int never(void *arg)
{
    return 0;
}

static void settle(unsigned ms)
{
    run_until(never, NULL, ms);
}

static void stop(int idx)
{
    net_stop(nodes[idx].net);
    nodes[idx].net = NULL;
}

/* Stop every node and run the loop until all handles are closed. */
static void stop_all(void)
{
    for (int i = 0; i < NKEYS; i++)
        if (nodes[i].net) stop(i);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_alive(&loop), 0);
}

static int connected_count(int idx)
{
    struct net_peer_info info[NKEYS];
    size_t k = net_peers(nodes[idx].net, info, NKEYS);
    int c = 0;
    for (size_t i = 0; i < k && i < NKEYS; i++) c += info[i].connected;
    return c;
}

static const struct net_peer_info *peer_info(int idx, int other, struct net_peer_info *buf)
{
    size_t k = net_peers(nodes[idx].net, buf, NKEYS);
    for (size_t i = 0; i < k && i < NKEYS; i++)
        if (memcmp(buf[i].id, ids[other], 32) == 0) return &buf[i];
    return NULL;
}

static unsigned conns_open(int idx)
{
    struct net_stats st;
    net_stats(nodes[idx].net, &st);
    return st.conns;
}

static struct net_stats stats(int idx)
{
    struct net_stats st;
    net_stats(nodes[idx].net, &st);
    return st;
}

/* ---- fixture ---------------------------------------------------------- */

static int make_node(int idx, const struct x509_ca *ca, struct nodekey *k)
{
    char dir[512], p[512];
    path(dir, sizeof dir, "node", idx, "");
    if (mkdir(dir, 0700)) return -1;
    path(p, sizeof p, "node", idx, "node.key");
    if (nodekey_save(k, p)) return -1;
    path(p, sizeof p, "node", idx, "node.crt");
    char name[32];
    snprintf(name, sizeof name, "node%d", idx);
    return x509_node_cert(ca, k, name, p);
}

static int group_setup(void **state)
{
    log_set_level(LOG_WARN);
    snprintf(tmp, sizeof tmp, "/tmp/tally-net-XXXXXX");
    if (!mkdtemp(tmp)) return -1;
    char dir[512];
    struct x509_ca *ca = NULL, *evil = NULL;
    snprintf(dir, sizeof dir, "%s/ca", tmp);
    if (mkdir(dir, 0700) || x509_ca_create(&ca, dir)) return -1;
    snprintf(dir, sizeof dir, "%s/evilca", tmp);
    if (mkdir(dir, 0700) || x509_ca_create(&evil, dir)) return -1;
    for (int i = 0; i < NKEYS; i++) {
        struct nodekey *k = NULL;
        if (nodekey_generate(&k)) return -1;
        nodekey_id(k, ids[i]);
        int rc = make_node(i, i == EVIL ? evil : ca, k);
        nodekey_free(k);
        if (rc) return -1;
    }
    for (int i = 0; i < 4; i++) memcpy(allowed[i], ids[i], 32);
    memcpy(allowed[4], ids[EVIL], 32);
    x509_ca_free(ca);
    x509_ca_free(evil);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cat '%s/evilca/ca.crt' '%s/ca/ca.crt' > '%s/evilca/bundle.crt'", tmp,
             tmp, tmp);
    if (system(cmd)) return -1;
    return uv_loop_init(&loop);
}

static int teardown(void **state)
{
    stop_all();
    return 0;
}

static int group_teardown(void **state)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) return -1;
    return rc;
}

/* ---- tests ------------------------------------------------------------ */

static void test_x509(void **state)
{
    char dir[512], ca[512], crt[512];
    snprintf(dir, sizeof dir, "%s/ca", tmp);
    assert_int_equal(x509_ca_create(NULL, dir), TALLY_EDUP); /* never overwrites */
    struct x509_ca *loaded = NULL;
    assert_int_equal(x509_ca_load(&loaded, dir), 0);

    path(ca, sizeof ca, "ca", -1, "ca.crt");
    uint8_t id[32];
    for (int i = 0; i < NKEYS; i++) {
        path(crt, sizeof crt, "node", i, "node.crt");
        int rc = x509_cert_node_id(id, ca, crt);
        if (i == EVIL) {
            assert_int_equal(rc, TALLY_ESIG);
        } else {
            assert_int_equal(rc, 0);
            assert_memory_equal(id, ids[i], 32);
        }
    }
    path(crt, sizeof crt, "node", EVIL, "node.crt");
    path(ca, sizeof ca, "evilca", -1, "ca.crt");
    assert_int_equal(x509_cert_node_id(id, ca, crt), 0);
    assert_memory_equal(id, ids[EVIL], 32);

    struct nodekey *k = NULL;
    assert_int_equal(nodekey_generate(&k), 0);
    snprintf(crt, sizeof crt, "%s/extra.crt", tmp);
    assert_int_equal(x509_node_cert(loaded, k, "", crt), TALLY_EINVAL);
    assert_int_equal(x509_node_cert(loaded, k, "bad\nname", crt), TALLY_EINVAL);
    assert_int_equal(x509_node_cert(loaded, k, "extra node", crt), 0);
    path(ca, sizeof ca, "ca", -1, "ca.crt");
    assert_int_equal(x509_cert_node_id(id, ca, crt), 0);
    uint8_t want[32];
    nodekey_id(k, want);
    assert_memory_equal(id, want, 32);
    assert_int_equal(x509_cert_node_id(id, ca, "/nonexistent.crt"), TALLY_EIO);
    nodekey_free(k);
    x509_ca_free(loaded);
}

static int mesh_ready(void *arg)
{
    int n = *(int *)arg;
    for (int i = 0; i < n; i++)
        if (connected_count(i) != n - 1 || conns_open(i) != (unsigned)n - 1) return 0;
    return 1;
}

static int all_got(void *arg)
{
    uint64_t want = *(uint64_t *)arg;
    for (int i = 0; i < 3; i++)
        if (nodes[i].frames < want) return 0;
    return 1;
}

/* Three validators dial each other both ways: each ends with one connection
 * per peer (the one dialled by the lower ID), peers never flap, and a
 * broadcast reaches everyone. */
static void test_mesh(void **state)
{
    for (int i = 0; i < 3; i++) start(i, NULL);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (i != j) dial(i, j);
    dial(0, 0); /* a peer list that includes ourselves */
    int n = 3;
    assert_true(run_until(mesh_ready, &n, 5000));
    settle(300); /* let redial timers fire: nothing may change */
    assert_true(mesh_ready(&n));
    struct net_peer_info buf[NKEYS];
    uint64_t dups = 0;
    for (int i = 0; i < 3; i++) dups += stats(i).duplicates;
    print_message("mesh: %llu duplicate connections resolved\n", (unsigned long long)dups);
    assert_true(dups >= 1);
    assert_int_equal(stats(0).dialled, 3); /* 1, 2 and itself once: self is not redialled */
    assert_int_equal(stats(0).refused, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nodes[i].ups, 2);
        assert_int_equal(nodes[i].downs, 0);
        for (int j = 0; j < 3; j++) {
            if (i == j) continue;
            const struct net_peer_info *pi = peer_info(i, j, buf);
            assert_non_null(pi);
            assert_true(pi->connected);
            assert_int_equal(pi->outbound, memcmp(ids[i], ids[j], 32) < 0);
            assert_true(strncmp(pi->addr, "127.0.0.1:", 10) == 0);
        }
    }
    for (int i = 0; i < 3; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "hello from %d", i);
        assert_int_equal(net_broadcast(nodes[i].net, T_DATA, (const uint8_t *)msg, strlen(msg)), 2);
    }
    uint64_t want = 2;
    assert_true(run_until(all_got, &want, 2000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nodes[i].frames, 2);
        for (int j = 0; j < 3; j++) assert_int_equal(nodes[i].from[j], i == j ? 0 : 1);
    }
    assert_int_equal(net_send(nodes[0].net, ids[1], T_DATA, (const uint8_t *)"x", 1), 0);
    assert_int_equal(net_send(nodes[0].net, ids[3], T_DATA, (const uint8_t *)"x", 1),
                     TALLY_ENOTFOUND);
    assert_int_equal(net_send(nodes[0].net, ids[1], NET_TYPE_HELLO, NULL, 0), TALLY_EINVAL);
    settle(50);
    assert_string_equal(nodes[1].last, "x");
    const struct net_peer_info *pi = peer_info(0, 1, buf);
    assert_true(pi->bytes_in > 0 && pi->bytes_out > 0);
    assert_int_equal(pi->frames_out, 2);
    assert_int_equal(pi->frames_in, 1);
    stop_all();
}

static int refused_at_least(void *arg)
{
    int *a = arg; /* node, count */
    return stats(a[0]).refused >= (uint64_t)a[1];
}

static int pair_up(void *arg)
{
    int *a = arg;
    return nodes[a[0]].up[a[1]] && nodes[a[1]].up[a[0]];
}

/* A node whose certificate comes from another CA is refused both when it
 * dials and when it is dialled; the honest pair keeps working. */
static void test_foreign_ca(void **state)
{
    start(0, NULL);
    start(1, NULL);
    start(EVIL, NULL);
    dial(0, 1);
    dial(EVIL, 0);
    dial(0, EVIL);
    int pair[2] = {0, 1};
    assert_true(run_until(pair_up, pair, 3000));
    int want[2] = {0, 2};
    assert_true(run_until(refused_at_least, want, 3000));
    assert_non_null(strstr(net_errmsg(nodes[0].net), "certificate"));
    settle(200);
    assert_int_equal(nodes[EVIL].ups, 0);
    assert_int_equal(nodes[0].up[EVIL], 0);
    assert_true(stats(EVIL).refused >= 1);
    assert_int_equal(nodes[0].downs, 0);
    assert_int_equal(net_broadcast(nodes[0].net, T_DATA, (const uint8_t *)"still", 5), 1);
    settle(50);
    assert_string_equal(nodes[1].last, "still");
    stop_all();
}

/* A node with a chain-CA certificate whose ID is not a validator. */
static void test_unknown_id(void **state)
{
    start(0, NULL);
    uint8_t out_allowed[2][32];
    memcpy(out_allowed[0], ids[0], 32);
    memcpy(out_allowed[1], ids[OUTSIDER], 32);
    struct opts o = {.allowed = (const uint8_t(*)[32])out_allowed, .nallowed = 2};
    start(OUTSIDER, &o);
    dial(OUTSIDER, 0);
    int want[2] = {0, 1};
    assert_true(run_until(refused_at_least, want, 3000));
    assert_non_null(strstr(net_errmsg(nodes[0].net), "not in the validator set"));
    settle(300);
    assert_int_equal(nodes[OUTSIDER].ups, 0);
    assert_int_equal(nodes[0].ups, 0);
    assert_true(stats(OUTSIDER).refused >= 1); /* it learns it was refused */
    stop_all();
}

/* A TLS client without any certificate (blocking OpenSSL in a thread). */
struct nocert {
    int port;
    int connect_rc, read_rc;
    atomic_int done;
};

static void *nocert_client(void *arg)
{
    struct nocert *nc = arg;
    nc->connect_rc = nc->read_rc = -100;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)nc->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL *ssl = SSL_new(ctx);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        SSL_set_fd(ssl, fd);
        nc->connect_rc = SSL_connect(ssl);
        char b[64];
        nc->read_rc = SSL_read(ssl, b, sizeof b);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0) close(fd);
    atomic_store(&nc->done, 1);
    return NULL;
}

static int nocert_done(void *arg)
{
    return atomic_load(&((struct nocert *)arg)->done);
}

static void test_no_certificate(void **state)
{
    start(0, NULL);
    struct nocert nc = {.port = port_of(0)};
    atomic_init(&nc.done, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, nocert_client, &nc), 0);
    int ok = run_until(nocert_done, &nc, 5000);
    pthread_join(th, NULL);
    assert_true(ok);
    assert_true(nc.read_rc <= 0); /* refused: no data ever arrives */
    int want[2] = {0, 1};
    assert_true(run_until(refused_at_least, want, 1000));
    assert_non_null(strstr(net_errmsg(nodes[0].net), "certificate"));
    assert_int_equal(nodes[0].ups, 0);
    stop_all();
}

/* A plain TCP client that writes garbage and waits for the drop. */
struct raw {
    uv_tcp_t tcp;
    uv_connect_t cr;
    uv_write_t wr;
    int eof;
    char buf[256];
};

static void raw_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct raw *r = h->data;
    *b = uv_buf_init(r->buf, sizeof r->buf);
}

static void raw_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct raw *r = s->data;
    if (nread < 0) {
        r->eof = 1;
        uv_close((uv_handle_t *)s, NULL);
    }
}

static void raw_written(uv_write_t *w, int status) {}

static void raw_connected(uv_connect_t *req, int status)
{
    struct raw *r = req->data;
    assert_int_equal(status, 0);
    static char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01\xff\xff garbage";
    uv_buf_t b = uv_buf_init(junk, sizeof junk - 1);
    assert_int_equal(uv_write(&r->wr, (uv_stream_t *)&r->tcp, &b, 1, raw_written), 0);
    assert_int_equal(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read), 0);
}

static int raw_eof(void *arg)
{
    return ((struct raw *)arg)->eof;
}

static int proto_error_and_reconnect(void *arg)
{
    return stats(0).proto_errors >= 1 && nodes[0].up[1] && nodes[1].up[0] && nodes[0].ups == 3;
}

/* An oversized frame and a non-TLS client each drop only their connection. */
static void test_oversize_and_garbage(void **state)
{
    struct opts small = {.max_frame = 1u << 20};
    struct opts big = {.max_frame = 4u << 20};
    start(0, &small);
    start(1, &big);
    start(2, NULL);
    dial(0, 1);
    dial(0, 2);
    dial(1, 2);
    int n = 3;
    assert_true(run_until(mesh_ready, &n, 5000));

    size_t len = 2u << 20;
    uint8_t *p = calloc(1, len);
    assert_non_null(p);
    assert_int_equal(net_send(nodes[0].net, ids[1], T_DATA, p, len), TALLY_ETOOBIG);
    assert_int_equal(net_send(nodes[1].net, ids[0], T_DATA, p, len), 0); /* 1 allows it */
    free(p);
    assert_true(run_until(proto_error_and_reconnect, NULL, 5000));
    assert_non_null(strstr(net_errmsg(nodes[0].net), "exceeds the limit"));
    assert_int_equal(nodes[0].downs, 1); /* only the link to node 1 dropped */
    assert_int_equal(nodes[0].frames, 0);
    assert_int_equal(nodes[2].downs, 0);

    struct net_stats before = stats(0);
    struct raw r;
    memset(&r, 0, sizeof r);
    uv_tcp_init(&loop, &r.tcp);
    r.tcp.data = &r;
    r.cr.data = &r;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", port_of(0), &sa);
    assert_int_equal(uv_tcp_connect(&r.cr, &r.tcp, (struct sockaddr *)&sa, raw_connected), 0);
    assert_true(run_until(raw_eof, &r, 3000));
    assert_true(stats(0).refused > before.refused);
    assert_int_equal(nodes[0].downs, 1);
    assert_int_equal(net_broadcast(nodes[2].net, T_DATA, (const uint8_t *)"ok", 2), 2);
    settle(50);
    assert_string_equal(nodes[0].last, "ok");
    assert_string_equal(nodes[1].last, "ok");
    stop_all();
}

static int peer_down(void *arg)
{
    int *a = arg;
    return !nodes[a[0]].up[a[1]];
}

/* Node 1 restarts on the same port; node 0 redials and both see it. */
static void test_reconnect(void **state)
{
    start(0, NULL);
    start(1, NULL);
    dial(0, 1);
    int pair[2] = {0, 1};
    assert_true(run_until(pair_up, pair, 3000));
    int port = port_of(1);
    struct net_peer_info buf[NKEYS];
    uint64_t out_before = peer_info(0, 1, buf)->bytes_out;

    stop(1);
    assert_true(run_until(peer_down, pair, 3000));
    assert_int_equal(nodes[0].downs, 1);
    assert_int_equal(net_send(nodes[0].net, ids[1], T_DATA, (const uint8_t *)"x", 1),
                     TALLY_ENOTFOUND);
    settle(400); /* a few failed dials: back-off grows */
    struct opts o = {.port = port};
    start(1, &o);
    assert_true(run_until(pair_up, pair, 6000));
    assert_int_equal(nodes[0].ups, 2);
    assert_int_equal(net_send(nodes[0].net, ids[1], T_DATA, (const uint8_t *)"back", 4), 0);
    settle(50);
    assert_string_equal(nodes[1].last, "back");
    assert_true(peer_info(0, 1, buf)->bytes_out > out_before); /* totals survive reconnects */
    assert_true(stats(0).dialled >= 2);
    stop_all();
}

static int got_frames(void *arg)
{
    uint64_t *a = arg; /* node, count */
    return nodes[a[0]].frames >= a[1];
}

/* A peer that does not read: sends fail with TALLY_EFULL once the queue holds
 * max_queue bytes; nothing queued is lost. */
static void test_queue_full(void **state)
{
    struct opts o = {.max_queue = 1u << 20};
    start(0, &o);
    start(1, NULL);
    dial(0, 1);
    int pair[2] = {0, 1};
    assert_true(run_until(pair_up, pair, 3000));
    size_t len = 64u << 10;
    uint8_t *p = malloc(len);
    assert_non_null(p);
    uint32_t sent = 0;
    int rc = 0;
    while (sent < 100000) { /* the loop does not run: node 1 reads nothing */
        p[0] = (uint8_t)(sent >> 24), p[1] = (uint8_t)(sent >> 16), p[2] = (uint8_t)(sent >> 8),
        p[3] = (uint8_t)sent;
        rc = net_send(nodes[0].net, ids[1], T_SEQ, p, len);
        if (rc) break;
        sent++;
    }
    assert_int_equal(rc, TALLY_EFULL);
    struct net_peer_info buf[NKEYS];
    const struct net_peer_info *pi = peer_info(0, 1, buf);
    assert_true(pi->queued > 0 && pi->queued <= (1u << 20) + 4096);
    assert_int_equal(net_broadcast(nodes[0].net, T_SEQ, p, len), 0);
    assert_int_equal(peer_info(0, 1, buf)->dropped, 1);
    free(p);
    print_message("queue full after %u frames of 64 KiB (kernel buffers + 1 MiB queue)\n", sent);
    uint64_t want[2] = {1, sent};
    assert_true(run_until(got_frames, want, 10000));
    assert_int_equal(nodes[1].frames, sent);
    assert_int_equal(nodes[1].seq_errors, 0);
    stop_all();
}

struct pump {
    uv_idle_t idle;
    uint8_t *p;
    size_t len;
    uint32_t sent, total;
};

static void on_pump(uv_idle_t *h)
{
    struct pump *pm = h->data;
    while (pm->sent < pm->total) {
        uint32_t s = pm->sent;
        pm->p[0] = (uint8_t)(s >> 24), pm->p[1] = (uint8_t)(s >> 16), pm->p[2] = (uint8_t)(s >> 8),
        pm->p[3] = (uint8_t)s;
        if (net_send(nodes[0].net, ids[1], T_SEQ, pm->p, pm->len)) break;
        pm->sent++;
    }
    if (pm->sent == pm->total) uv_idle_stop(h);
}

static void measure(size_t len, uint32_t total)
{
    nodes[1].frames = 0;
    nodes[1].next_seq = 0;
    struct pump pm = {.len = len, .total = total};
    pm.p = calloc(1, pm.len);
    assert_non_null(pm.p);
    uv_idle_init(&loop, &pm.idle);
    pm.idle.data = &pm;
    uint64_t t0 = clock_mono_ns();
    uv_idle_start(&pm.idle, on_pump);
    uint64_t want[2] = {1, pm.total};
    assert_true(run_until(got_frames, want, 60000));
    double s = (double)(clock_mono_ns() - t0) / 1e9;
    uv_close((uv_handle_t *)&pm.idle, NULL);
    uv_run(&loop, UV_RUN_NOWAIT); /* pm lives on this stack: finish the close */
    assert_int_equal(nodes[1].seq_errors, 0);
    double mb = (double)pm.total * (double)pm.len / 1e6;
    print_message("net throughput: %u frames of %zu B in %.3f s = %.0f MB/s, %.0f frames/s "
                  "(TLS 1.3, both ends on one thread%s)\n",
                  pm.total, len, s, mb / s, pm.total / s, SLOW ? ", sanitizers" : "");
    free(pm.p);
}

/* Bulk frames over TLS on loopback: 64 KiB (blocks) and 256 B (votes). */
static void test_throughput(void **state)
{
    start(0, NULL);
    start(1, NULL);
    dial(0, 1);
    int pair[2] = {0, 1};
    assert_true(run_until(pair_up, pair, 3000));
    measure(64u << 10, SLOW ? 512 : 4096);
    measure(256, SLOW ? 20000 : 200000);
    stop_all();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_x509, teardown),
        cmocka_unit_test_teardown(test_mesh, teardown),
        cmocka_unit_test_teardown(test_foreign_ca, teardown),
        cmocka_unit_test_teardown(test_unknown_id, teardown),
        cmocka_unit_test_teardown(test_no_certificate, teardown),
        cmocka_unit_test_teardown(test_oversize_and_garbage, teardown),
        cmocka_unit_test_teardown(test_reconnect, teardown),
        cmocka_unit_test_teardown(test_queue_full, teardown),
        cmocka_unit_test_teardown(test_throughput, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
