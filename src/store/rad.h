/* rad: a reader for Gun.js RAD folders (radata/, spec §4.2), for migration. Walks every
 * data file to (soul, key, value, state) records. Read-only; never writes the folder.
 * Handles the radix-tree JSON files Gun.js writes today and the legacy line format it can
 * still read, and the legacy "enc(val)>enc(state)" string values. Input is untrusted:
 * files are size-capped before they are read, parsed through the wire parser's caps, and a
 * record or file that does not make sense is counted and skipped, never a crash. */
#ifndef GUN_STORE_RAD_H
#define GUN_STORE_RAD_H

#include "../core/core.h"

/* Largest file read (Gun.js splits files at 1 MiB; a single huge record can exceed that). */
#define GUN__RAD_MAX_FILE (64u * 1024u * 1024u)

typedef struct gun__rad_stats {
    size_t files;       /* data files parsed */
    size_t files_bad;   /* data files skipped: unreadable, too big, neither JSON nor RAD */
    size_t records;     /* records handed to the callback */
    size_t bad_records; /* leaves that are not a valid soul ESC key -> {":":v,">":state} */
} gun__rad_stats;

/* One record. Views are lent for the call (they point into the file being read): copy
 * what you keep. soul is the text before the first ESC, key the text after the last one
 * (as Gun.js's store.js splits). Return GUN_OK to go on; any other value stops the walk
 * and is returned by the reader. Runs on the caller's thread. */
typedef int (*gun__rad_rec_cb)(void *arg, gun__str soul, gun__str key, const gun__val *val,
                               double state);
/* A file that was skipped (name, reason); lent for the call. */
typedef void (*gun__rad_warn_cb)(void *arg, const char *file, const char *why);

/* Parses one file's text (lent). A JSON object is walked as a radix tree; other text is
 * tried as the legacy line format. Returns GUN_OK (bad leaves are counted in st, which
 * may be NULL), GUN_EJSON with e->msg when the text is neither format (nothing was
 * reported then for JSON; for a legacy file, records before the damage were), GUN_ENOMEM,
 * or what the callback returned. */
int gun__rad_parse(const char *text, size_t len, gun__rad_rec_cb cb, void *arg,
                   gun__rad_stats *st, gun__err *e);

/* Reads every data file of dir in name order, one file in memory at a time: everything
 * except the directory index (%1C), *.tmp files, dot files and non-regular files. A file
 * that cannot be read or parsed is reported to warn (may be NULL), counted, and skipped.
 * Returns GUN_OK, GUN_EIO when dir cannot be listed, GUN_ENOMEM, or what cb returned. */
int gun__rad_read_dir(const char *dir, gun__rad_rec_cb cb, gun__rad_warn_cb warn, void *arg,
                      gun__rad_stats *st, gun__err *e);

#endif
