#include "node/config.h"
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/hex.h"
#include "util/log.h"

void node_cfg_defaults(struct node_cfg *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "node");
    snprintf(c->rpc_host, sizeof c->rpc_host, "127.0.0.1");
    c->rpc_port = 8545;
    c->rpc_max_body = 4u << 20;
    c->rpc_max_batch = 2000;
    c->rpc_max_conns = 4096;
    c->pool_capacity = 200000;
    c->pool_max_per_sender = 4096;
    c->min_block_txs = 1;
    c->max_block_txs = 10000;
    c->block_interval_ms = 200;
    c->lmdb_map_size = 64ull << 30;
    c->log_level = LOG_INFO;
    snprintf(c->p2p_host, sizeof c->p2p_host, "127.0.0.1");
    c->p2p_port = 30300;
    c->view_timeout_ms = 2000;
    c->view_timeout_max_ms = 30000;
    c->sync_batch = 128;
}

struct ini_ctx {
    struct node_cfg *c;
    char *err;
    size_t errlen;
    int failed;
};

/* Path v relative to dir (absolute paths as they are); over-long paths are
 * cut to "" so that opening them fails with a clear error. */
static void resolve(char *out, size_t outlen, const char *dir, const char *v)
{
    int n = v[0] == '/' || !dir[0] ? snprintf(out, outlen, "%s", v)
                                   : snprintf(out, outlen, "%s/%s", dir, v);
    if (n < 0 || (size_t)n >= outlen) out[0] = 0;
}

static int parse_uint(uint64_t *out, const char *v, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    if (!*v || *v == '-') return -1;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || x < min || x > max) return -1;
    *out = x;
    return 0;
}

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    struct node_cfg *c = x->c;
    uint64_t u;
#define KEY(s, n) (!strcmp(section, s) && !strcmp(name, n))
#define UINT(field, lo, hi)                                \
    do {                                                   \
        if (parse_uint(&u, value, lo, hi)) goto bad_range; \
        c->field = u;                                      \
    } while (0)
    if (KEY("chain", "genesis"))
        resolve(c->genesis_path, sizeof c->genesis_path, c->dir, value);
    else if (KEY("node", "name"))
        snprintf(c->name, sizeof c->name, "%s", value);
    else if (KEY("node", "data_dir"))
        resolve(c->data_dir, sizeof c->data_dir, c->dir, value);
    else if (KEY("node", "key"))
        resolve(c->key_path, sizeof c->key_path, c->dir, value);
    else if (KEY("rpc", "host"))
        snprintf(c->rpc_host, sizeof c->rpc_host, "%s", value);
    else if (KEY("rpc", "port"))
        UINT(rpc_port, 1, 65535);
    else if (KEY("rpc", "max_body"))
        UINT(rpc_max_body, 1024, 256u << 20);
    else if (KEY("rpc", "max_batch"))
        UINT(rpc_max_batch, 1, 100000);
    else if (KEY("rpc", "max_conns"))
        UINT(rpc_max_conns, 1, 100000);
    else if (KEY("rpc", "static_dir") && !strcmp(value, "off"))
        snprintf(c->static_dir, sizeof c->static_dir, "off");
    else if (KEY("rpc", "static_dir"))
        resolve(c->static_dir, sizeof c->static_dir, c->dir, value);
    else if (KEY("pool", "capacity"))
        UINT(pool_capacity, 1, 10000000);
    else if (KEY("pool", "max_per_sender"))
        UINT(pool_max_per_sender, 1, 1000000);
    else if (KEY("builder", "min_block_txs"))
        UINT(min_block_txs, 1, 100000);
    else if (KEY("builder", "max_block_txs"))
        UINT(max_block_txs, 1, 100000);
    else if (KEY("builder", "block_interval_ms"))
        UINT(block_interval_ms, 1, 3600000);
    else if (KEY("storage", "map_size"))
        UINT(lmdb_map_size, 1u << 20, 1ull << 44);
    else if (KEY("p2p", "host"))
        snprintf(c->p2p_host, sizeof c->p2p_host, "%s", value);
    else if (KEY("p2p", "port"))
        UINT(p2p_port, 1, 65535);
    else if (KEY("p2p", "ca"))
        resolve(c->ca_path, sizeof c->ca_path, c->dir, value);
    else if (KEY("p2p", "cert"))
        resolve(c->cert_path, sizeof c->cert_path, c->dir, value);
    else if (KEY("p2p", "peer")) {
        const char *colon = strrchr(value, ':');
        if (!colon || colon == value || strlen(value) >= NODE_PEER_MAX ||
            parse_uint(&u, colon + 1, 1, 65535))
            goto bad_range;
        if (c->npeers == NODE_MAX_PEERS) goto bad_range;
        snprintf(c->peers[c->npeers++], NODE_PEER_MAX, "%s", value);
    } else if (KEY("consensus", "view_timeout_ms"))
        UINT(view_timeout_ms, 10, 3600000);
    else if (KEY("consensus", "view_timeout_max_ms"))
        UINT(view_timeout_max_ms, 10, 3600000);
    else if (KEY("sync", "batch"))
        UINT(sync_batch, 1, 4096);
    else if (KEY("log", "level")) {
        int l = log_level_parse(value);
        if (l < 0) goto bad_range;
        c->log_level = l;
    } else {
        if (!x->failed)
            snprintf(x->err, x->errlen, "config.ini: unknown key [%s] %s", section, name);
        x->failed = 1;
        return 0;
    }
    return 1;
bad_range:
    if (!x->failed)
        snprintf(x->err, x->errlen, "config.ini: bad value for [%s] %s: \"%s\"", section, name,
                 value);
    x->failed = 1;
    return 0;
#undef KEY
#undef UINT
}

int node_cfg_load(struct node_cfg *c, const char *dir, char *err, size_t errlen)
{
    node_cfg_defaults(c);
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    resolve(c->data_dir, sizeof c->data_dir, dir, "data");
    resolve(c->key_path, sizeof c->key_path, dir, "node.key");
    resolve(c->genesis_path, sizeof c->genesis_path, dir, "../genesis.json");
    resolve(c->ca_path, sizeof c->ca_path, dir, "../ca.crt");
    resolve(c->cert_path, sizeof c->cert_path, dir, "node.crt");
    char path[NODE_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/config.ini", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return TALLY_EIO;
    }
    struct ini_ctx x = {c, err, errlen, 0};
    int line = ini_parse_file(f, on_ini, &x);
    fclose(f);
    if (x.failed) return TALLY_ECONFIG;
    if (line) {
        snprintf(err, errlen, "%s: syntax error on line %d", path, line);
        return TALLY_ECONFIG;
    }
    if (c->min_block_txs > c->max_block_txs) {
        snprintf(err, errlen, "config.ini: [builder] min_block_txs %zu > max_block_txs %zu",
                 c->min_block_txs, c->max_block_txs);
        return TALLY_ECONFIG;
    }
    if (c->view_timeout_ms > c->view_timeout_max_ms) {
        snprintf(
            err, errlen, "config.ini: [consensus] view_timeout_ms %llu > view_timeout_max_ms %llu",
            (unsigned long long)c->view_timeout_ms, (unsigned long long)c->view_timeout_max_ms);
        return TALLY_ECONFIG;
    }
    return 0;
}

void node_cfg_rpc_url(char *url, size_t len, const struct node_cfg *c)
{
    const char *host = c->rpc_host;
    if (!host[0] || !strcmp(host, "0.0.0.0")) host = "127.0.0.1";
    if (!strcmp(host, "::")) host = "::1";
    if (strchr(host, ':'))
        snprintf(url, len, "http://[%s]:%d", host, c->rpc_port);
    else
        snprintf(url, len, "http://%s:%d", host, c->rpc_port);
}

int file_read_all(char **out, size_t *len, const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return TALLY_EIO;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return TALLY_EIO;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return TALLY_ETOOBIG;
    }
    char *p = malloc((size_t)st.st_size + 1);
    if (!p) {
        close(fd);
        return TALLY_ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            free(p);
            close(fd);
            return TALLY_EIO;
        }
        got += (size_t)n;
    }
    close(fd);
    p[got] = 0;
    *out = p;
    if (len) *len = got;
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, int mode)
{
    char tmp[NODE_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return TALLY_EIO;
    const char *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            return TALLY_EIO;
        }
        off += (size_t)n;
    }
    if (fsync(fd) || close(fd) || rename(tmp, path)) {
        unlink(tmp);
        return TALLY_EIO;
    }
    return 0;
}

/* ---- genesis.json ---- */

static int json_u64(uint64_t *out, const cJSON *o, const char *key, uint64_t dflt, char *err,
                    size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9007199254740991.0 &&
        v->valuedouble == (double)(uint64_t)v->valuedouble) {
        *out = (uint64_t)v->valuedouble;
        return 0;
    }
    if (cJSON_IsString(v)) {
        u256 x;
        if (!u256_parse(&x, v->valuestring) && u256_fits_u64(&x)) {
            *out = x.w[0];
            return 0;
        }
    }
    snprintf(err, errlen, "genesis: \"%s\" must be a non-negative integer", key);
    return TALLY_ECONFIG;
}

static int json_addr(uint8_t out[20], const cJSON *v, const char *what, char *err, size_t errlen)
{
    if (!cJSON_IsString(v) || hex_decode_fixed(out, 20, v->valuestring)) {
        snprintf(err, errlen, "genesis: %s must be a 0x-prefixed 20-byte address", what);
        return TALLY_ECONFIG;
    }
    return 0;
}

void genesis_free(struct genesis *g)
{
    free(g->alloc);
    free(g->issuers);
    free(g->validators);
    free(g->validator_names);
    memset(g, 0, sizeof *g);
}

int genesis_load(struct genesis *g, const char *path, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    char *text;
    size_t len;
    int rc = file_read_all(&text, &len, path, GENESIS_FILE_MAX);
    if (rc) {
        snprintf(err, errlen, "cannot read genesis %s: %s", path,
                 rc == TALLY_ETOOBIG ? "file too large" : strerror(errno));
        return rc;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "genesis %s: not a JSON object", path);
        cJSON_Delete(root);
        return TALLY_ECONFIG;
    }
    rc = TALLY_ECONFIG;
    if (json_u64(&g->chain_id, root, "chain_id", 0, err, errlen) ||
        json_u64(&g->timestamp_ms, root, "timestamp_ms", 0, err, errlen) ||
        json_u64(&g->block_gas_limit, root, "block_gas_limit", 1000000000ull, err, errlen) ||
        json_u64(&g->tx_gas_limit, root, "tx_gas_limit", 30000000ull, err, errlen))
        goto out;
    if (!g->chain_id) {
        snprintf(err, errlen, "genesis: \"chain_id\" is required and must be > 0");
        goto out;
    }
    if (g->tx_gas_limit > g->block_gas_limit || g->tx_gas_limit < 21000) {
        snprintf(err, errlen, "genesis: tx_gas_limit must be in [21000, block_gas_limit]");
        goto out;
    }
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(root, "base_fee");
    if (bf && (!cJSON_IsString(bf) || u256_parse(&g->base_fee, bf->valuestring))) {
        snprintf(err, errlen, "genesis: \"base_fee\" must be a decimal or 0x string");
        goto out;
    }
    const cJSON *alloc = cJSON_GetObjectItemCaseSensitive(root, "alloc");
    if (alloc && !cJSON_IsObject(alloc)) {
        snprintf(err, errlen, "genesis: \"alloc\" must be an object of address -> balance");
        goto out;
    }
    size_t n = (size_t)cJSON_GetArraySize(alloc);
    if (n > GENESIS_MAX_ALLOC) {
        snprintf(err, errlen, "genesis: more than %d alloc entries", GENESIS_MAX_ALLOC);
        goto out;
    }
    g->alloc = calloc(n ? n : 1, sizeof *g->alloc);
    if (!g->alloc) {
        rc = TALLY_ENOMEM;
        goto out;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, alloc)
    {
        struct genesis_alloc *a = &g->alloc[g->nalloc];
        if (hex_decode_fixed(a->addr, 20, it->string)) {
            snprintf(err, errlen, "genesis: alloc key \"%.60s\" is not an address", it->string);
            goto out;
        }
        if (!cJSON_IsString(it) || u256_parse(&a->balance, it->valuestring)) {
            snprintf(err, errlen, "genesis: alloc balance of %.60s must be a decimal string",
                     it->string);
            goto out;
        }
        g->nalloc++;
    }
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(root, "issuers");
    if (iss && !cJSON_IsArray(iss)) {
        snprintf(err, errlen, "genesis: \"issuers\" must be an array of addresses");
        goto out;
    }
    n = (size_t)cJSON_GetArraySize(iss);
    if (n > GENESIS_MAX_ISSUERS) {
        snprintf(err, errlen, "genesis: more than %d issuers", GENESIS_MAX_ISSUERS);
        goto out;
    }
    g->issuers = calloc(n ? n : 1, 20);
    if (!g->issuers) {
        rc = TALLY_ENOMEM;
        goto out;
    }
    cJSON_ArrayForEach(it, iss)
    {
        if (json_addr(g->issuers[g->nissuers], it, "each issuer", err, errlen)) goto out;
        g->nissuers++;
    }
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(root, "validators");
    if (vals && !cJSON_IsArray(vals)) {
        snprintf(err, errlen, "genesis: \"validators\" must be an array");
        goto out;
    }
    n = (size_t)cJSON_GetArraySize(vals);
    if (n > GENESIS_MAX_VALIDATORS) {
        snprintf(err, errlen, "genesis: more than %d validators", GENESIS_MAX_VALIDATORS);
        goto out;
    }
    g->validators = calloc(n ? n : 1, 32);
    g->validator_names = calloc(n ? n : 1, 64);
    if (!g->validators || !g->validator_names) {
        rc = TALLY_ENOMEM;
        goto out;
    }
    cJSON_ArrayForEach(it, vals)
    {
        /* {"name", "id", "address"} or just the ID as a string */
        const cJSON *id = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "id") : it;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (!cJSON_IsString(id) ||
            hex_decode_fixed(g->validators[g->nvalidators], 32, id->valuestring)) {
            snprintf(err, errlen, "genesis: validator %zu: \"id\" must be 0x + 64 hex digits",
                     g->nvalidators);
            goto out;
        }
        for (size_t j = 0; j < g->nvalidators; j++)
            if (!memcmp(g->validators[j], g->validators[g->nvalidators], 32)) {
                snprintf(err, errlen, "genesis: validator %zu is listed twice", g->nvalidators);
                goto out;
            }
        snprintf(g->validator_names[g->nvalidators], 64, "%s",
                 cJSON_IsString(name) ? name->valuestring : "");
        g->nvalidators++;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc) genesis_free(g);
    return rc;
}
