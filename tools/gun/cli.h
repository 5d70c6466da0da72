/* The gun CLI's subcommands. Exit codes are part of the interface. */
#ifndef GUN_CLI_H
#define GUN_CLI_H

#include <pthread.h>

enum {
    GUN_CLI_OK = 0,
    GUN_CLI_NOTFOUND = 1,
    GUN_CLI_USAGE = 2,
    GUN_CLI_NETWORK = 3,
    GUN_CLI_REJECTED = 4
};

/* argv excludes the subcommand name. */
int gun_cli_relay(int argc, char **argv);

#endif
