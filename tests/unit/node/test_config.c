#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "node/config.h"

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **st)
{
    snprintf(dir, sizeof dir, "/tmp/tally-cfg-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **st)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void test_defaults_and_values(void **st)
{
    struct node_cfg c;
    char err[256];
    write_file("config.ini", "[rpc]\nport = 9000\n[builder]\nmin_block_txs = 5\n"
                             "max_block_txs = 50\n[node]\ndata_dir = /abs/data\n");
    assert_int_equal(node_cfg_load(&c, dir, err, sizeof err), 0);
    assert_int_equal(c.rpc_port, 9000);
    assert_int_equal(c.min_block_txs, 5);
    assert_int_equal(c.max_block_txs, 50);
    assert_int_equal(c.pool_capacity, 200000);
    assert_string_equal(c.data_dir, "/abs/data");
    char expect[128];
    snprintf(expect, sizeof expect, "%s/node.key", dir);
    assert_string_equal(c.key_path, expect);
}

static void test_bad_config(void **st)
{
    struct node_cfg c;
    char err[256];
    write_file("config.ini", "[rpc]\nport = 70000\n");
    assert_int_equal(node_cfg_load(&c, dir, err, sizeof err), TALLY_ECONFIG);
    assert_non_null(strstr(err, "[rpc] port"));
    write_file("config.ini", "[rpc]\nprot = 1\n");
    assert_int_equal(node_cfg_load(&c, dir, err, sizeof err), TALLY_ECONFIG);
    assert_non_null(strstr(err, "unknown key"));
    write_file("config.ini", "[builder]\nmin_block_txs = 10\nmax_block_txs = 5\n");
    assert_int_equal(node_cfg_load(&c, dir, err, sizeof err), TALLY_ECONFIG);
    write_file("config.ini", "this is not ini\n");
    assert_int_equal(node_cfg_load(&c, dir, err, sizeof err), TALLY_ECONFIG);
    assert_int_equal(node_cfg_load(&c, "/nonexistent-dir", err, sizeof err), TALLY_EIO);
}

static void test_genesis(void **st)
{
    struct genesis g;
    char err[256], path[128];
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    write_file("genesis.json", "{\"chain_id\": 1337, \"base_fee\": \"7\", \"alloc\": {"
                               "\"0x1111111111111111111111111111111111111111\": \"1000\"},"
                               "\"issuers\": [\"0x2222222222222222222222222222222222222222\"]}");
    assert_int_equal(genesis_load(&g, path, err, sizeof err), 0);
    assert_int_equal(g.chain_id, 1337);
    assert_int_equal(g.nalloc, 1);
    assert_int_equal(g.alloc[0].balance.w[0], 1000);
    assert_int_equal(g.nissuers, 1);
    assert_int_equal(g.issuers[0][0], 0x22);
    assert_int_equal(g.base_fee.w[0], 7);
    genesis_free(&g);

    const char *bad[] = {
        "[]",
        "{\"alloc\": {}}",
        "{\"chain_id\": -1}",
        "{\"chain_id\": 1, \"alloc\": {\"0x12\": \"1\"}}",
        "{\"chain_id\": 1, \"alloc\": {\"0x1111111111111111111111111111111111111111\": 5}}",
        "{\"chain_id\": 1, \"issuers\": [\"nope\"]}",
        "{\"chain_id\": 1, \"tx_gas_limit\": 10}",
        "{\"chain_id\": 1,",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file("genesis.json", bad[i]);
        err[0] = 0;
        assert_int_equal(genesis_load(&g, path, err, sizeof err), TALLY_ECONFIG);
        assert_true(err[0] != 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_and_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_genesis, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
