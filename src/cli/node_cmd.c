/* tally node --dir DIR */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "node/node.h"

int cmd_node(int argc, char **argv)
{
    const char *dir = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: tally node --dir NODE_DIR\n\n"
                   "Runs the node whose config.ini is in NODE_DIR (made by tally chain init)\n"
                   "in the foreground, logging to stderr, until SIGINT or SIGTERM.\n");
            return EXIT_OK;
        } else if ((v = cli_opt(argc, argv, &i, "--dir")))
            dir = v;
        else {
            fprintf(stderr, "tally node: unknown option %s (see --help)\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!dir) {
        fprintf(stderr, "tally node: --dir NODE_DIR is required\n");
        return EXIT_USAGE;
    }
    return node_run(dir) ? EXIT_FAIL : EXIT_OK;
}
