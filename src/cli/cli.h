/* The tally command line: one binary, one subcommand per file. Each command
 * returns a process exit code (see EXIT_* below). */
#ifndef TALLY_CLI_CLI_H
#define TALLY_CLI_CLI_H
#include <stddef.h>
#include <stdint.h>

/* Exit codes that scripts can rely on. */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,     /* the operation failed (node refused, runtime error) */
    EXIT_USAGE = 2,    /* bad arguments */
    EXIT_UNREACH = 3,  /* the node could not be reached */
    EXIT_NOTFOUND = 4, /* the block / transaction / account does not exist */
};

int cmd_chain(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_account(int argc, char **argv);
int cmd_send(int argc, char **argv);
/* contract_cmds.c: deploy and call contracts from solc artifacts (docs/contracts-cli.md). */
int cmd_deploy(int argc, char **argv);
int cmd_call(int argc, char **argv);
int cmd_balance(int argc, char **argv);
int cmd_block(int argc, char **argv);
int cmd_tx(int argc, char **argv);
int cmd_pool(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* status_cmd.c: `tally status DIR [--watch]`, a one-screen summary of a local
 * cluster (argv[0] is the command name). */
int cli_cluster_status(int argc, char **argv);
/* evm_test.c: run ethereum-tests BlockchainTests JSON files (docs/evm.md). */
int cmd_evm_test(int argc, char **argv);
/* evm_run.c: run EVM bytecode cases, print JSON outcomes (docs/evm-diff.md). */
int cmd_evm_run(int argc, char **argv);

/* chain_cmd.c: a local cluster's directory DIR/node0, DIR/node1, ...: how
 * many nodes (0 if none), a node's running pid (0 if not running), its
 * JSON-RPC URL from its config.ini (-1 if unreadable). */
int chain_count_nodes(const char *dir);
int chain_node_pid(const char *ndir);
int chain_node_url(char *url, size_t len, const char *ndir);

/* Option parsing helper: if argv[*i] is `name` take argv[*i+1] (or the part
 * after `name=`), advance *i and return the value; NULL otherwise. Exits
 * with EXIT_USAGE when the value is missing. */
const char *cli_opt(int argc, char **argv, int *i, const char *name);
/* Is argv[i] "-h" or "--help"? */
int cli_is_help(const char *arg);
/* Default RPC URL: $TALLY_RPC or http://127.0.0.1:8545 */
const char *cli_default_rpc(void);

#endif
