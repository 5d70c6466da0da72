/* gun: the command-line tool. Thin: parses flags and calls the library. Every subcommand
 * answers --help on stdout with exit 0; `help` lists the table below, so a command cannot
 * exist without being listed. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gun.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"relay", gun_cli_relay, "run a relay (super peer), optionally serving a web app"},
    {"put", gun_cli_put, "write JSON at a path, through a relay or into a data directory"},
    {"get", gun_cli_get, "read the value at a path"},
    {"watch", gun_cli_watch, "print every change at a path until interrupted"},
    {"keygen", gun_cli_keygen, "print a new SEA key pair as JSON"},
    {"stats", gun_cli_stats, "print a relay's counters (its /stats)"},
    {"export", gun_cli_export, "write the whole graph with states as JSON to stdout"},
    {"import", gun_cli_import, "merge a graph (JSON on stdin) into a data directory"},
    {"rad-import", gun_cli_rad_import, "import a Gun.js radata/ folder into a data directory"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: gun <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-11s %s\n", "help", "this text; 'gun help CMD' is 'gun CMD --help'");
    fprintf(f, "  %-11s %s\n", "version", "print the version (also --version)");
    fprintf(f, "\nexit codes: 0 ok, 1 not found or timeout, 2 usage, 3 network, 4 rejected\n"
               "man gun has the details.\n");
}

static const command *find(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return GUN_CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version") || !strcmp(cmd, "-V")) {
        printf("gun %s\n", gun_version());
        return GUN_CLI_OK;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        if (argc > 2) {
            const command *c = find(argv[2]);
            char help[] = "--help";
            char *args[] = {help, NULL};
            if (c)
                return c->run(1, args);
            fprintf(stderr, "gun: unknown command '%s' (see 'gun help')\n", argv[2]);
            return GUN_CLI_USAGE;
        }
        usage(stdout);
        return GUN_CLI_OK;
    }
    const command *c = find(cmd);
    if (c)
        return c->run(argc - 2, argv + 2);
    fprintf(stderr, "gun: unknown command '%s' (see 'gun help')\n", cmd);
    return GUN_CLI_USAGE;
}
