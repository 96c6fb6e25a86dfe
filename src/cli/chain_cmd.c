/* tally chain init | start | stop | status */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/rpcclient.h"
#include "crypto/nodekey.h"
#include "crypto/secp.h"
#include "crypto/x509.h"
#include "node/config.h"
#include "util/hex.h"
#include "util/u256.h"

#define MAX_NODES 64

static int mkdir_p(const char *path)
{
    char tmp[NODE_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    return 0;
}

static int write_text(const char *path, const char *text, int mode)
{
    if (file_write_atomic(path, text, strlen(text), mode)) {
        fprintf(stderr, "tally chain init: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void init_usage(FILE *f)
{
    fprintf(f, "usage: tally chain init --dir DIR [--nodes N] [--rpc-port P] [--chain-id ID]\n"
               "         [--accounts N] [--balance WEI] [--min-block-txs K] [--max-block-txs M]\n"
               "         [--block-interval-ms MS] [--p2p-port Q] [--hosts H0,H1,...]\n"
               "         [--view-timeout-ms MS] [--force]\n\n"
               "Writes DIR/genesis.json (with the validators), DIR/accounts.json (development\n"
               "accounts with their private keys; the last one is the issuer, whose transfers\n"
               "mint new funds), the chain CA DIR/ca.{key,crt} and per node\n"
               "DIR/nodeI/{config.ini,node.key,node.crt} (a certificate from that CA).\n"
               "Node i serves JSON-RPC on H_i:P+i and talks to the other validators over TLS\n"
               "on H_i:Q+i (H_i = 127.0.0.1 unless --hosts is given).\n"
               "Defaults: --nodes 1 --rpc-port 8545 --p2p-port 30300 --chain-id 1337\n"
               "--accounts 10 --balance 1000000000000000000000000 (10^6 ether)\n"
               "--min-block-txs 1 --max-block-txs 10000 --block-interval-ms 200\n"
               "--view-timeout-ms 2000.\n");
}

static int chain_init(int argc, char **argv)
{
    const char *dir = NULL, *v, *balance = "1000000000000000000000000";
    long nodes = 1, port = 8545, naccounts = 10, mink = 1, maxk = 10000, interval = 200;
    long p2p_port = 30300, view_timeout = 2000;
    const char *hosts = NULL;
    unsigned long long chain_id = 1337;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            init_usage(stdout);
            return EXIT_OK;
        } else if ((v = cli_opt(argc, argv, &i, "--dir")))
            dir = v;
        else if ((v = cli_opt(argc, argv, &i, "--nodes")))
            nodes = strtol(v, NULL, 10);
        else if ((v = cli_opt(argc, argv, &i, "--rpc-port")))
            port = strtol(v, NULL, 10);
        else if ((v = cli_opt(argc, argv, &i, "--chain-id")))
            chain_id = strtoull(v, NULL, 10);
        else if ((v = cli_opt(argc, argv, &i, "--accounts")))
            naccounts = strtol(v, NULL, 10);
        else if ((v = cli_opt(argc, argv, &i, "--balance")))
            balance = v;
        else if ((v = cli_opt(argc, argv, &i, "--min-block-txs")))
            mink = strtol(v, NULL, 10);
        else if ((v = cli_opt(argc, argv, &i, "--max-block-txs")))
            maxk = strtol(v, NULL, 10);
        else if ((v = cli_opt(argc, argv, &i, "--block-interval-ms")))
            interval = strtol(v, NULL, 10);
        else if ((v = cli_opt(argc, argv, &i, "--p2p-port")))
            p2p_port = strtol(v, NULL, 10);
        else if ((v = cli_opt(argc, argv, &i, "--view-timeout-ms")))
            view_timeout = strtol(v, NULL, 10);
        else if ((v = cli_opt(argc, argv, &i, "--hosts")))
            hosts = v;
        else if (!strcmp(argv[i], "--force"))
            force = 1;
        else {
            fprintf(stderr, "tally chain init: unknown option %s\n", argv[i]);
            init_usage(stderr);
            return EXIT_USAGE;
        }
    }
    u256 bal;
    if (!dir || nodes < 1 || nodes > MAX_NODES || port < 1 || port + nodes > 65536 ||
        naccounts < 1 || naccounts > 10000 || !chain_id || chain_id > (1ull << 53) ||
        u256_parse(&bal, balance) || mink < 1 || maxk < mink || maxk > 100000 || interval < 1 ||
        p2p_port < 1 || p2p_port + nodes > 65536 || view_timeout < 10) {
        fprintf(stderr,
                "tally chain init: bad or missing option (need --dir; --nodes 1..%d, "
                "ports in range, --accounts 1..10000, 1 <= min <= max block txs)\n",
                MAX_NODES);
        return EXIT_USAGE;
    }
    char path[NODE_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    if (!force && access(path, F_OK) == 0) {
        fprintf(stderr, "tally chain init: %s already exists (use --force to overwrite)\n", path);
        return EXIT_FAIL;
    }
    if (mkdir_p(dir)) {
        fprintf(stderr, "tally chain init: cannot create %s: %s\n", dir, strerror(errno));
        return EXIT_FAIL;
    }
    /* one host per node: --hosts a,b,c (the last one repeats), else loopback */
    static char host[MAX_NODES][64];
    {
        const char *p = hosts;
        for (long n = 0; n < nodes; n++) {
            if (!p || !*p) {
                snprintf(host[n], sizeof host[n], "%s", n ? host[n - 1] : "127.0.0.1");
                continue;
            }
            size_t len = strcspn(p, ",");
            if (!len || len >= sizeof host[n]) {
                fprintf(stderr, "tally chain init: bad --hosts list\n");
                return EXIT_USAGE;
            }
            memcpy(host[n], p, len);
            host[n][len] = 0;
            p += len + (p[len] == ',');
        }
    }
    /* the chain CA: a fresh one, unless DIR already holds one (--force keeps it) */
    struct x509_ca *ca = NULL;
    snprintf(path, sizeof path, "%s/" X509_CA_KEY_FILE, dir);
    int rc = access(path, F_OK) == 0 ? x509_ca_load(&ca, dir) : x509_ca_create(&ca, dir);
    if (rc) {
        fprintf(stderr, "tally chain init: cannot create or load the chain CA in %s: %s\n", dir,
                tally_strerror(rc));
        return EXIT_FAIL;
    }

    /* development accounts */
    cJSON *accounts = cJSON_CreateArray();
    cJSON *genesis = cJSON_CreateObject();
    cJSON *alloc = cJSON_CreateObject();
    cJSON *issuers = cJSON_CreateArray();
    cJSON_AddNumberToObject(genesis, "chain_id", (double)chain_id);
    cJSON_AddNumberToObject(genesis, "timestamp_ms", (double)((uint64_t)time(NULL) * 1000));
    cJSON_AddNumberToObject(genesis, "block_gas_limit", 1000000000.0);
    cJSON_AddNumberToObject(genesis, "tx_gas_limit", 30000000.0);
    cJSON_AddStringToObject(genesis, "base_fee", "0");
    for (long a = 0; a < naccounts; a++) {
        uint8_t priv[32], pub[64], addr[20];
        char hpriv[67], haddr[43];
        if (secp_random_key(priv) || secp_pubkey(pub, priv)) {
            fprintf(stderr, "tally chain init: key generation failed\n");
            return EXIT_FAIL;
        }
        secp_pub_to_addr(addr, pub);
        hex_encode(hpriv, priv, 32);
        hex_encode(haddr, addr, 20);
        cJSON *acc = cJSON_CreateObject();
        cJSON_AddStringToObject(acc, "address", haddr);
        cJSON_AddStringToObject(acc, "private_key", hpriv);
        if (a == naccounts - 1) {
            cJSON_AddBoolToObject(acc, "issuer", 1);
            cJSON_AddItemToArray(issuers, cJSON_CreateString(haddr));
        }
        cJSON_AddItemToArray(accounts, acc);
        cJSON_AddStringToObject(alloc, haddr, balance);
    }
    cJSON_AddItemToObject(genesis, "issuers", issuers);
    cJSON_AddItemToObject(genesis, "alloc", alloc);
    cJSON *validators = cJSON_AddArrayToObject(genesis, "validators");

    for (long n = 0; n < nodes; n++) {
        char ndir[NODE_PATH_MAX + 16];
        snprintf(ndir, sizeof ndir, "%s/node%ld", dir, n);
        if (mkdir_p(ndir)) {
            fprintf(stderr, "tally chain init: cannot create %s: %s\n", ndir, strerror(errno));
            return EXIT_FAIL;
        }
        struct nodekey *k;
        snprintf(path, sizeof path, "%s/node.key", ndir);
        if (nodekey_generate(&k) || nodekey_save(k, path)) {
            fprintf(stderr, "tally chain init: cannot create node key %s\n", path);
            return EXIT_FAIL;
        }
        char cname[32];
        snprintf(cname, sizeof cname, "node%ld", n);
        snprintf(path, sizeof path, "%s/node.crt", ndir);
        if (x509_node_cert(ca, k, cname, path)) {
            fprintf(stderr, "tally chain init: cannot issue the node certificate %s\n", path);
            nodekey_free(k);
            return EXIT_FAIL;
        }
        uint8_t id[32], addr[20];
        char hid[67], haddr[43];
        nodekey_id(k, id);
        nodekey_address(k, addr);
        nodekey_free(k);
        hex_encode(hid, id, 32);
        hex_encode(haddr, addr, 20);
        cJSON *val = cJSON_CreateObject();
        cJSON_AddStringToObject(val, "name", ndir + strlen(dir) + 1);
        cJSON_AddStringToObject(val, "id", hid);
        cJSON_AddStringToObject(val, "address", haddr);
        cJSON_AddItemToArray(validators, val);

        char peers[MAX_NODES * 96] = "";
        size_t plen = 0;
        for (long m = 0; m < nodes; m++) {
            if (m == n) continue;
            plen += (size_t)snprintf(peers + plen, sizeof peers - plen, "peer = %s:%ld\n", host[m],
                                     p2p_port + m);
        }
        char ini[MAX_NODES * 96 + 2048];
        snprintf(ini, sizeof ini,
                 "; Tally node configuration (see README, \"Configuration\")\n"
                 "[chain]\ngenesis = ../genesis.json\n\n"
                 "[node]\nname = node%ld\ndata_dir = data\nkey = node.key\n\n"
                 "[rpc]\nhost = %s\nport = %ld\nmax_body = 4194304\nmax_batch = 2000\n"
                 "max_conns = 4096\n\n"
                 "[pool]\ncapacity = 200000\nmax_per_sender = 4096\n\n"
                 "[builder]\nmin_block_txs = %ld\nmax_block_txs = %ld\nblock_interval_ms = %ld\n\n"
                 "; TLS 1.3 between validators, certificates from the chain CA; one\n"
                 "; \"peer = host:port\" line per other validator\n"
                 "[p2p]\nhost = %s\nport = %ld\nca = ../ca.crt\ncert = node.crt\n%s\n"
                 "[consensus]\nview_timeout_ms = %ld\nview_timeout_max_ms = 30000\n\n"
                 "[sync]\nbatch = 128\n\n"
                 "[log]\nlevel = info\n",
                 n, host[n], port + n, mink, maxk, interval, host[n], p2p_port + n, peers,
                 view_timeout);
        snprintf(path, sizeof path, "%s/config.ini", ndir);
        if (write_text(path, ini, 0644)) return EXIT_FAIL;
    }
    char *text = cJSON_Print(genesis);
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    if (write_text(path, text, 0644)) return EXIT_FAIL;
    free(text);
    text = cJSON_Print(accounts);
    snprintf(path, sizeof path, "%s/accounts.json", dir);
    if (write_text(path, text, 0600)) return EXIT_FAIL;
    free(text);
    cJSON_Delete(genesis);
    cJSON_Delete(accounts);
    x509_ca_free(ca);
    printf("chain initialised in %s: %ld node(s), chain id %llu, %ld funded accounts "
           "(%s/accounts.json)\n",
           dir, nodes, chain_id, naccounts, dir);
    for (long n = 0; n < nodes; n++)
        printf("  node%ld: tally node --dir %s/node%ld   (JSON-RPC http://%s:%ld, p2p %s:%ld)\n", n,
               dir, n, host[n], port + n, host[n], p2p_port + n);
    return EXIT_OK;
}

/* ---- start / stop / status: a local cluster of background processes ---- */

int chain_count_nodes(const char *dir)
{
    int n = 0;
    char path[NODE_PATH_MAX + 64];
    for (; n < MAX_NODES; n++) {
        snprintf(path, sizeof path, "%s/node%d/config.ini", dir, n);
        if (access(path, R_OK)) break;
    }
    return n;
}

int chain_node_pid(const char *ndir)
{
    char path[NODE_PATH_MAX + 64], *text;
    snprintf(path, sizeof path, "%s/node.pid", ndir);
    if (file_read_all(&text, NULL, path, 64)) return 0;
    long pid = strtol(text, NULL, 10);
    free(text);
    if (pid <= 0 || kill((pid_t)pid, 0)) return 0;
    return (pid_t)pid;
}

int chain_node_url(char *url, size_t len, const char *ndir)
{
    struct node_cfg c;
    char err[256];
    if (node_cfg_load(&c, ndir, err, sizeof err)) return -1;
    node_cfg_rpc_url(url, len, &c);
    return 0;
}

static int wait_ready(const char *url, int timeout_ms)
{
    struct rpcc *c;
    char err[256];
    if (rpcc_open(&c, url, err, sizeof err)) return -1;
    rpcc_set_timeout(c, 1000);
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        cJSON *res;
        if (!rpcc_call(c, &res, "eth_blockNumber", NULL, err, sizeof err)) {
            cJSON_Delete(res);
            rpcc_close(c);
            return 0;
        }
        usleep(100 * 1000);
    }
    rpcc_close(c);
    return -1;
}

static int chain_start(const char *dir, const char *self)
{
    int n = chain_count_nodes(dir);
    if (!n) {
        fprintf(stderr, "tally chain start: no node directories in %s (run tally chain init)\n",
                dir);
        return EXIT_FAIL;
    }
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char ndir[NODE_PATH_MAX + 16], logp[NODE_PATH_MAX + 32], pidp[NODE_PATH_MAX + 32];
        snprintf(ndir, sizeof ndir, "%s/node%d", dir, i);
        if (chain_node_pid(ndir)) {
            printf("node%d already running\n", i);
            continue;
        }
        snprintf(logp, sizeof logp, "%s/node.log", ndir);
        snprintf(pidp, sizeof pidp, "%s/node.pid", ndir);
        pid_t pid = fork();
        if (pid < 0) return EXIT_FAIL;
        if (pid == 0) {
            setsid();
            int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            int nul = open("/dev/null", O_RDONLY);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            if (nul >= 0) dup2(nul, 0);
            execl(self, self, "node", "--dir", ndir, (char *)NULL);
            _exit(127);
        }
        char pidtext[32];
        snprintf(pidtext, sizeof pidtext, "%d\n", (int)pid);
        if (file_write_atomic(pidp, pidtext, strlen(pidtext), 0644)) return EXIT_FAIL;
    }
    for (int i = 0; i < n; i++) {
        char ndir[NODE_PATH_MAX + 16], url[128];
        snprintf(ndir, sizeof ndir, "%s/node%d", dir, i);
        if (chain_node_url(url, sizeof url, ndir)) continue;
        if (wait_ready(url, 20000)) {
            fprintf(stderr, "node%d did not answer on %s within 20 s; see %s/node.log\n", i, url,
                    ndir);
            failed = 1;
        } else
            printf("node%d running: JSON-RPC and WebSocket %s   log %s/node.log\n", i, url, ndir);
    }
    return failed ? EXIT_FAIL : EXIT_OK;
}

static int chain_stop(const char *dir)
{
    int n = chain_count_nodes(dir), stopped = 0;
    for (int i = 0; i < n; i++) {
        char ndir[NODE_PATH_MAX + 16];
        snprintf(ndir, sizeof ndir, "%s/node%d", dir, i);
        pid_t pid = chain_node_pid(ndir);
        if (!pid) continue;
        kill(pid, SIGTERM);
        for (int w = 0; w < 100 && !kill(pid, 0); w++) usleep(100 * 1000);
        if (!kill(pid, 0)) kill(pid, SIGKILL);
        printf("node%d stopped (pid %d)\n", i, (int)pid);
        stopped++;
    }
    if (!stopped) printf("no running nodes in %s\n", dir);
    return EXIT_OK;
}

int cmd_chain(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        printf("usage: tally chain init --dir DIR [options]   create a chain (see init --help)\n"
               "       tally chain start DIR                  run every node of DIR in the "
               "background\n"
               "       tally chain stop DIR                   stop them\n"
               "       tally chain status DIR [--watch]       one-screen summary (as tally status "
               "DIR)\n");
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[1], "init")) return chain_init(argc - 1, argv + 1);
    if (argc < 3) {
        fprintf(stderr, "tally chain %s: missing DIR\n", argv[1]);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "start")) {
        char self[NODE_PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) return EXIT_FAIL;
        self[n] = 0;
        return chain_start(argv[2], self);
    }
    if (!strcmp(argv[1], "stop")) return chain_stop(argv[2]);
    if (!strcmp(argv[1], "status")) return cli_cluster_status(argc - 1, argv + 1);
    fprintf(stderr, "tally chain: unknown subcommand \"%s\"\n", argv[1]);
    return EXIT_USAGE;
}
