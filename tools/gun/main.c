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
            "  put         write JSON at a path, through a relay or into a data directory\n"
            "  get         read the value at a path\n"
            "  watch       print every change at a path until interrupted\n"
            "  keygen      print a new SEA key pair as JSON\n"
            "  stats       print a relay's counters (its /stats)\n"
            "  export      write the whole graph with states as JSON to stdout\n"
            "  import      merge a graph (JSON on stdin) into a data directory\n"
            "  rad-import  import a Gun.js radata/ folder into a data directory\n"
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
    if (!strcmp(cmd, "put"))
        return gun_cli_put(argc - 2, argv + 2);
    if (!strcmp(cmd, "get"))
        return gun_cli_get(argc - 2, argv + 2);
    if (!strcmp(cmd, "watch"))
        return gun_cli_watch(argc - 2, argv + 2);
    if (!strcmp(cmd, "keygen"))
        return gun_cli_keygen(argc - 2, argv + 2);
    if (!strcmp(cmd, "stats"))
        return gun_cli_stats(argc - 2, argv + 2);
    if (!strcmp(cmd, "export"))
        return gun_cli_export(argc - 2, argv + 2);
    if (!strcmp(cmd, "import"))
        return gun_cli_import(argc - 2, argv + 2);
    if (!strcmp(cmd, "rad-import"))
        return gun_cli_rad_import(argc - 2, argv + 2);
    fprintf(stderr, "gun: unknown command '%s' (see 'gun help')\n", cmd);
    return 2;
}
