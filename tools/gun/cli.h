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
int gun_cli_put(int argc, char **argv);
int gun_cli_get(int argc, char **argv);
int gun_cli_watch(int argc, char **argv);
int gun_cli_keygen(int argc, char **argv);
int gun_cli_stats(int argc, char **argv);
int gun_cli_export(int argc, char **argv);     /* export.c */
int gun_cli_import(int argc, char **argv);     /* export.c */
int gun_cli_rad_import(int argc, char **argv); /* radimport.c */

/* Opens the lmdb (kind NULL or "lmdb") or file store in dir; prints the reason and returns
 * a GUN_CLI_* code on failure. */
struct gun__store;
int gun_cli_open_store(struct gun__store *s, const char *kind, const char *dir,
                       const char *cmd);

#endif
