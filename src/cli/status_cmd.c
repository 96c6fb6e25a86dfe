/* tally status DIR [--watch]: one screen on a local cluster (the directory
 * tally chain init made): chain height, transactions per second, block time,
 * the leader, and one line per node (state, height, view, peers, pool). */
#include <cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/rpcclient.h"
#include "node/config.h"

#define MAX_NODES   64
#define TPS_BLOCKS  1000  /* block summaries read for the rate */
#define TPS_WINDOW  10000 /* ms of blocks the rate is over */
#define RPC_TIMEOUT 2000

struct node_row {
    char url[128];
    int pid, up;
    double height, view, peers, pool, txs;
    char head[20];
};

static volatile sig_atomic_t stop_watch;

static void on_sigint(int sig)
{
    (void)sig;
    stop_watch = 1;
}

static double num(const cJSON *o, const char *key, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static cJSON *call(struct rpcc *c, const char *method, cJSON *params)
{
    cJSON *res = NULL;
    char err[256];
    if (rpcc_call(c, &res, method, params, err, sizeof err)) res = NULL;
    return res;
}

/* Transactions per second and mean block time over the last TPS_WINDOW ms of
 * blocks, from tally_blocks (newest first). */
static void rates(struct rpcc *c, double *tps, double *block_s)
{
    *tps = *block_s = -1;
    cJSON *p = cJSON_CreateArray();
    cJSON_AddItemToArray(p, cJSON_CreateNumber(TPS_BLOCKS));
    cJSON *bl = call(c, "tally_blocks", p);
    if (!cJSON_IsArray(bl) || cJSON_GetArraySize(bl) < 2) {
        cJSON_Delete(bl);
        return;
    }
    double newest = num(cJSON_GetArrayItem(bl, 0), "timestampMs", 0), oldest = newest, txs = 0;
    double oldest_txs = 0;
    int blocks = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, bl)
    {
        double ts = num(b, "timestampMs", 0);
        if (newest - ts > TPS_WINDOW || num(b, "number", 0) == 0) break;
        blocks++;
        oldest = ts;
        oldest_txs = num(b, "transactionCount", 0);
        txs += oldest_txs;
    }
    /* the transactions of the blocks after the oldest one, over the time
     * between the oldest and the newest */
    txs -= oldest_txs;
    double span = (newest - oldest) / 1000.0;
    double age = ((double)time(NULL) * 1000.0 - newest) / 1000.0;
    if (blocks >= 2 && span > 0) {
        *tps = age > TPS_WINDOW / 1000.0 ? 0 : txs / span;
        *block_s = span / (blocks - 1);
    }
    cJSON_Delete(bl);
}

static void print_screen(const char *dir, struct node_row *rows, int n, const cJSON *cons,
                         double tps, double block_s, double chain_id)
{
    char when[32];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&now));
    int up = 0;
    double height = -1, txs = -1;
    for (int i = 0; i < n; i++) {
        up += rows[i].up;
        if (rows[i].up && rows[i].height > height) height = rows[i].height;
        if (rows[i].up && rows[i].txs > txs) txs = rows[i].txs;
    }
    printf("Tally cluster %s: %d node(s), %d up, chain id %.0f          %s\n", dir, n, up, chain_id,
           when);
    if (up) {
        const cJSON *leader = cJSON_GetObjectItemCaseSensitive(cons, "leader");
        printf("height %.0f   transactions %.0f   ", height, txs);
        if (tps >= 0)
            printf("TPS %.0f (last %d s)   block time %.2f s\n", tps, TPS_WINDOW / 1000, block_s);
        else
            printf("TPS -   block time -\n");
        printf("leader %s   view %.0f   view changes %.0f%s\n",
               cJSON_IsString(leader) ? leader->valuestring : "?", num(cons, "view", 0),
               num(cons, "viewChanges", 0),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cons, "inViewChange"))
                   ? "   (view change in progress)"
                   : "");
    }
    printf("\n%-6s %-26s %-8s %-5s %10s %6s %6s %8s  %s\n", "node", "rpc", "pid", "state", "height",
           "view", "peers", "pool", "head");
    for (int i = 0; i < n; i++) {
        struct node_row *r = &rows[i];
        char pid[16] = "-";
        if (r->pid) snprintf(pid, sizeof pid, "%d", r->pid);
        if (!r->up) {
            /* a process without an answer: starting, stopping or stuck */
            printf("node%-2d %-26s %-8s %-5s\n", i, r->url, pid, r->pid ? "no rpc" : "down");
            continue;
        }
        printf("node%-2d %-26s %-8s %-5s %10.0f %6.0f %3.0f/%-2d %8.0f  %s..\n", i, r->url, pid,
               "up", r->height, r->view, r->peers, n - 1, r->pool, r->head);
    }
}

/* One refresh: query every node, print the screen. Returns the number of
 * nodes down. */
static int refresh(const char *dir, int n, int clear)
{
    struct node_row rows[MAX_NODES];
    memset(rows, 0, sizeof rows);
    cJSON *cons = NULL;
    double tps = -1, block_s = -1, chain_id = 0;
    int down = 0;
    for (int i = 0; i < n; i++) {
        struct node_row *r = &rows[i];
        char ndir[NODE_PATH_MAX + 16], err[256];
        snprintf(ndir, sizeof ndir, "%s/node%d", dir, i);
        r->pid = chain_node_pid(ndir);
        if (chain_node_url(r->url, sizeof r->url, ndir)) snprintf(r->url, sizeof r->url, "?");
        struct rpcc *c;
        if (rpcc_open(&c, r->url, err, sizeof err)) {
            down++;
            continue;
        }
        rpcc_set_timeout(c, RPC_TIMEOUT);
        cJSON *st = call(c, "tally_status", NULL);
        if (cJSON_IsObject(st)) {
            r->up = 1;
            r->height = num(st, "height", -1);
            r->view = num(st, "view", 0);
            r->peers = num(st, "peers", 0);
            r->pool = num(st, "poolSize", 0);
            r->txs = num(st, "txCount", 0);
            chain_id = num(st, "chainId", chain_id);
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(st, "headHash");
            snprintf(r->head, sizeof r->head, "%.18s", cJSON_IsString(h) ? h->valuestring : "?");
            if (!cons) {
                cons = call(c, "tally_consensus", NULL);
                rates(c, &tps, &block_s);
            }
        } else {
            down++;
        }
        cJSON_Delete(st);
        rpcc_close(c);
    }
    if (clear) printf("\033[H\033[2J");
    print_screen(dir, rows, n, cons, tps, block_s, chain_id);
    if (clear) printf("\n(refreshing; Ctrl-C to quit)\n");
    fflush(stdout);
    cJSON_Delete(cons);
    return down;
}

int cli_cluster_status(int argc, char **argv)
{
    const char *dir = NULL;
    int watch = 0;
    long interval = 1000;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (cli_is_help(argv[i])) {
            printf("usage: tally status DIR [--watch] [--interval MS]\n\n"
                   "One screen on the local cluster in DIR (made by tally chain init): height,\n"
                   "transactions, TPS and block time over the last %d s, the leader, and each\n"
                   "node's state, height, view, peers and pool. --watch refreshes it every\n"
                   "--interval ms (default 1000) until Ctrl-C. Exit status 1 if a node is down\n"
                   "(without --watch). For one node's raw status: tally status --rpc URL.\n",
                   TPS_WINDOW / 1000);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--watch")) {
            watch = 1;
        } else if ((v = cli_opt(argc, argv, &i, "--interval"))) {
            interval = strtol(v, NULL, 10);
            if (interval < 100 || interval > 3600000) {
                fprintf(stderr, "tally status: --interval must be 100..3600000 ms\n");
                return EXIT_USAGE;
            }
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            fprintf(stderr, "tally status: unexpected argument \"%s\" (see --help)\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!dir) {
        fprintf(stderr, "tally status: missing DIR (see --help)\n");
        return EXIT_USAGE;
    }
    int n = chain_count_nodes(dir);
    if (!n) {
        fprintf(stderr, "tally status: no node directories in %s (made by tally chain init)\n",
                dir);
        return EXIT_FAIL;
    }
    if (n > MAX_NODES) n = MAX_NODES;
    if (!watch) return refresh(dir, n, 0) ? EXIT_FAIL : EXIT_OK;
    signal(SIGINT, on_sigint);
    int tty = isatty(STDOUT_FILENO);
    while (!stop_watch) {
        refresh(dir, n, tty);
        if (!tty) printf("\n");
        for (long w = 0; w < interval && !stop_watch; w += 50) usleep(50 * 1000);
    }
    return EXIT_OK;
}
