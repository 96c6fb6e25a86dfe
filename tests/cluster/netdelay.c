/*
 * netdelay: a userspace stand-in for `tc qdisc ... netem delay D loss P%`,
 * for kernels built without sch_netem. It takes the packets that an iptables
 * rule sends to an NFQUEUE, holds each one for a fixed delay and then lets it
 * go (NF_ACCEPT), dropping a seeded-random fraction (NF_DROP) instead.
 *
 *   iptables -A INPUT -i IF -j NFQUEUE --queue-num 0 --queue-bypass
 *   netdelay --queue 0 --delay-ms 20 --loss-pct 1 [--seed S]
 *
 * Hook it on the receiving side (INPUT or PREROUTING): a packet held on the
 * sender's OUTPUT is still charged to its socket, and TCP Small Queues then
 * allows only a couple of such packets per connection, which caps a TCP
 * stream at a few packets per delay. --queue-bypass lets packets through
 * while no netdelay is bound.
 *
 * Only the packet metadata is copied to userspace (NFQNL_COPY_META): the
 * verdict needs the packet id, nothing else. The delay is constant, so the
 * held packets form a FIFO ordered by release time; ppoll() sleeps until the
 * head is due or the kernel queues another packet. SIGTERM or SIGINT releases
 * every held packet and exits 0. Used by tests/cluster/netns.test.mjs.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define HELD_MAX  65536 /* packets held at once; more are let through at once */
#define QUEUE_MAX 8192  /* kernel-side queue length */
#define RCVBUF    (8u << 20)

struct held {
    uint32_t id;
    uint64_t due_ns;
};

struct delayer {
    struct nfq_q_handle *qh;
    uint64_t delay_ns;
    uint64_t loss_threshold; /* drop when the next random number is below this */
    uint64_t rng;
    struct held fifo[HELD_MAX];
    size_t head, count;
    uint64_t seen, dropped, overflow, enobufs;
    size_t max_held;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: small, seedable, good enough to pick which packets to lose */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void verdict(struct delayer *d, uint32_t id, uint32_t v)
{
    if (nfq_set_verdict(d->qh, id, v, 0, NULL) < 0)
        fprintf(stderr, "netdelay: verdict for packet %" PRIu32 ": %s\n", id, strerror(errno));
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa,
                     void *data)
{
    (void)qh;
    (void)msg;
    struct delayer *d = data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph) return 0;
    uint32_t id = ntohl(ph->packet_id);
    d->seen++;
    if (d->loss_threshold && rng_next(&d->rng) < d->loss_threshold) {
        d->dropped++;
        verdict(d, id, NF_DROP);
        return 0;
    }
    if (d->count == HELD_MAX) { /* full: better undelayed than lost */
        d->overflow++;
        verdict(d, id, NF_ACCEPT);
        return 0;
    }
    struct held *h = &d->fifo[(d->head + d->count) % HELD_MAX];
    h->id = id;
    h->due_ns = now_ns() + d->delay_ns;
    if (++d->count > d->max_held) d->max_held = d->count;
    return 0;
}

/* Accept every held packet due by `t` (all of them when t is UINT64_MAX). */
static void release_due(struct delayer *d, uint64_t t)
{
    while (d->count && d->fifo[d->head].due_ns <= t) {
        verdict(d, d->fifo[d->head].id, NF_ACCEPT);
        d->head = (d->head + 1) % HELD_MAX;
        d->count--;
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: netdelay --queue N --delay-ms MS --loss-pct P [--seed S]\n"
                    "Holds each packet of NFQUEUE N for MS milliseconds, drops P percent.\n");
}

int main(int argc, char **argv)
{
    static struct delayer d;
    long queue = -1;
    double delay_ms = -1, loss_pct = 0;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)now_ns() << 16);
    for (int i = 1; i < argc; i += 2) { /* --name value pairs */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        char *end;
        if (!strcmp(a, "--queue"))
            queue = strtol(v, &end, 10);
        else if (!strcmp(a, "--delay-ms"))
            delay_ms = strtod(v, &end);
        else if (!strcmp(a, "--loss-pct"))
            loss_pct = strtod(v, &end);
        else if (!strcmp(a, "--seed"))
            seed = strtoull(v, &end, 10);
        else {
            usage();
            return 2;
        }
        if (end == v || *end) {
            fprintf(stderr, "netdelay: bad value for %s: %s\n", a, v);
            return 2;
        }
    }
    if (queue < 0 || queue > 65535 || delay_ms < 0 || delay_ms > 10000 || loss_pct < 0 ||
        loss_pct > 100) {
        usage();
        return 2;
    }
    d.delay_ns = (uint64_t)(delay_ms * 1e6);
    double threshold = loss_pct / 100 * 0x1p64;
    d.loss_threshold = threshold >= 0x1p64 ? UINT64_MAX : (uint64_t)threshold;
    d.rng = seed;

    struct nfq_handle *h = nfq_open();
    if (!h) {
        fprintf(stderr, "netdelay: nfq_open: %s\n", strerror(errno));
        return 1;
    }
    d.qh = nfq_create_queue(h, (uint16_t)queue, on_packet, &d);
    if (!d.qh) {
        fprintf(stderr, "netdelay: cannot bind queue %ld: %s\n", queue, strerror(errno));
        nfq_close(h);
        return 1;
    }
    if (nfq_set_mode(d.qh, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(d.qh, QUEUE_MAX) < 0) {
        fprintf(stderr, "netdelay: cannot configure queue %ld: %s\n", queue, strerror(errno));
        nfq_destroy_queue(d.qh);
        nfq_close(h);
        return 1;
    }
    /* if the kernel queue fills up anyway, let packets through rather than drop them */
    nfq_set_queue_flags(d.qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
    nfnl_rcvbufsiz(nfq_nfnlh(h), RCVBUF);
    int fd = nfq_fd(h);

    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    fprintf(stderr, "netdelay: queue %ld, delay %.1f ms, loss %.2f%%, seed %" PRIu64 "\n", queue,
            delay_ms, loss_pct, seed);
    static char buf[1 << 16] __attribute__((aligned));
    while (!stopping) {
        struct timespec ts, *tp = NULL;
        if (d.count) {
            uint64_t t = now_ns(), due = d.fifo[d.head].due_ns;
            uint64_t wait = due > t ? due - t : 0;
            ts.tv_sec = (time_t)(wait / 1000000000u);
            ts.tv_nsec = (long)(wait % 1000000000u);
            tp = &ts;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = ppoll(&pfd, 1, tp, &orig); /* signals are delivered only in here */
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "netdelay: ppoll: %s\n", strerror(errno));
            break;
        }
        if (n > 0 && (pfd.revents & POLLIN)) {
            /* drain what is there; packets keep their order in the FIFO */
            for (;;) {
                ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (r > 0) {
                    nfq_handle_packet(h, buf, (int)r);
                } else if (r < 0 && errno == ENOBUFS) {
                    /* the socket overran; the kernel lets those packets pass (fail-open) */
                    if (d.enobufs++ % 100 == 0)
                        fprintf(stderr, "netdelay: ENOBUFS (%" PRIu64 " so far), going on\n",
                                d.enobufs);
                } else {
                    break;
                }
            }
        }
        release_due(&d, now_ns());
    }
    release_due(&d, UINT64_MAX);
    fprintf(stderr,
            "netdelay: queue %ld done: %" PRIu64 " packets, %" PRIu64 " dropped, %" PRIu64
            " let through undelayed (full), %" PRIu64 " ENOBUFS, at most %zu held\n",
            queue, d.seen, d.dropped, d.overflow, d.enobufs, d.max_held);
    nfq_destroy_queue(d.qh);
    nfq_close(h);
    return 0;
}
