/* gun: the command-line tool. Thin: parses flags and calls the library. Subcommands arrive
 * with their issues (relay, put/get/watch, export/import, ...); `help` lists only what this
 * build has. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gun.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gun <command> [options]\n"
            "\n"
            "commands:\n"
            "  relay       run a relay (super peer); see 'gun relay --help'\n"
            "  help        show this text\n"
            "  version     print the version (also --version)\n"
            "\n"
            "exit codes: 0 ok, 1 not found or timeout, 2 usage, 3 network, 4 rejected\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version") || !strcmp(cmd, "-V")) {
        printf("gun %s\n", gun_version());
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "relay"))
        return gun_cli_relay(argc - 2, argv + 2);
    fprintf(stderr, "gun: unknown command '%s' (see 'gun help')\n", cmd);
    return 2;
}
