/* tally: the Tally node and its command-line tools. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"chain", cmd_chain, "init | start | stop | status a local chain directory"},
    {"node", cmd_node, "run a node from its directory"},
    {"account", cmd_account, "new: create a key pair"},
    {"send", cmd_send, "sign and send a transfer"},
    {"deploy", cmd_deploy, "deploy a contract from a solc JSON artifact"},
    {"call", cmd_call, "call a contract function (eth_call or a transaction)"},
    {"balance", cmd_balance, "balance and nonce of an address"},
    {"block", cmd_block, "show a block by height, hash or \"latest\""},
    {"tx", cmd_tx, "show a transaction and its receipt or status"},
    {"pool", cmd_pool, "list the transaction pool of a node"},
    {"status", cmd_status, "a node's status, or a local cluster on one screen (DIR [--watch])"},
    {"bench", cmd_bench, "measure committed transfers per second"},
    {"evm-test", cmd_evm_test, "run ethereum-tests BlockchainTests JSON files"},
    {"evm-run", cmd_evm_run, "run EVM bytecode cases from a JSON file, print JSON results"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tally <command> [options]   (tally <command> --help for details)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nexit codes: 0 ok, 1 failed, 2 usage, 3 node unreachable, 4 not found\n");
}

const char *cli_opt(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=') return argv[*i] + n + 1;
    if (strcmp(argv[*i], name)) return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "tally: option %s needs a value\n", name);
        exit(EXIT_USAGE);
    }
    return argv[++*i];
}

int cli_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help") || !strcmp(arg, "help");
}

const char *cli_default_rpc(void)
{
    const char *e = getenv("TALLY_RPC");
    return e && *e ? e : "http://127.0.0.1:8545";
}

int main(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("tally 0.1.0\n");
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "tally: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
