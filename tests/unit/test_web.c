/* relay/web: the static file handler on its own, with paths lws would never pass on
 * (raw "..", "//", control bytes) as well as the ones it does. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/relay.h"

static char parent[64], root[128];

static void put_file(const char *rel, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", parent, rel);
    FILE *f = fopen(p, "w");
    cr_assert(f, "create %s", p);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    snprintf(parent, sizeof parent, "/tmp/gun-test-web-XXXXXX");
    cr_assert(mkdtemp(parent));
    snprintf(root, sizeof root, "%s/www", parent);
    char p[256];
    cr_assert_eq(mkdir(root, 0755), 0);
    snprintf(p, sizeof p, "%s/docs", root);
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/empty", root);
    cr_assert_eq(mkdir(p, 0755), 0);
    put_file("secret.txt", "SECRET");
    put_file("www/index.html", "INDEX");
    put_file("www/app.js", "APP");
    put_file("www/Pic.PNG", "PNG");
    put_file("www/noext", "RAW");
    put_file("www/docs/index.html", "DOCS");
    put_file("www/.env", "SECRET");
    char target[256];
    snprintf(target, sizeof target, "%s/secret.txt", parent);
    snprintf(p, sizeof p, "%s/out.txt", root);
    cr_assert_eq(symlink(target, p), 0);
    snprintf(p, sizeof p, "%s/in.js", root);
    cr_assert_eq(symlink("app.js", p), 0);
    snprintf(p, sizeof p, "%s/fifo", root);
    cr_assert_eq(mkfifo(p, 0644), 0);
}

static void teardown(void)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", parent);
    cr_assert_eq(system(cmd), 0);
}

typedef struct answer {
    int status;
    char body[64];
    char ctype[64];
    char location[64];
} answer;

/* Runs the handler and reads what it answered: the body buffer or the file it opened. */
static answer ask(const char *method, const char *path)
{
    gun__http_reply r;
    memset(&r, 0, sizeof r);
    r.fd = -1;
    gun__buf_init(&r.body);
    answer a;
    memset(&a, 0, sizeof a);
    a.status = gun__relay_web(root, method, path, &r);
    if (r.fd >= 0) {
        cr_assert_lt(r.file_len, sizeof a.body);
        ssize_t n = read(r.fd, a.body, sizeof a.body - 1);
        cr_assert_eq((uint64_t)n, r.file_len);
        close(r.fd);
    } else if (r.body.len) {
        snprintf(a.body, sizeof a.body, "%.*s", (int)r.body.len, r.body.p);
    }
    snprintf(a.ctype, sizeof a.ctype, "%s", r.ctype ? r.ctype : "");
    snprintf(a.location, sizeof a.location, "%s", r.location ? r.location : "");
    gun__free(r.location);
    gun__buf_free(&r.body);
    return a;
}

/* One request and what must come back; NULL skips a check. */
static void expect(const char *method, const char *path, int status, const char *body,
                   const char *ctype)
{
    answer a = ask(method, path);
    cr_assert_eq(a.status, status, "%s %s: %d", method, path, a.status);
    if (body)
        cr_assert_str_eq(a.body, body, "%s %s", method, path);
    if (ctype)
        cr_assert_str_eq(a.ctype, ctype, "%s %s", method, path);
}

TestSuite(web, .init = setup, .fini = teardown);

Test(web, files_with_their_types)
{
    expect("GET", "/app.js", 200, "APP", "text/javascript; charset=utf-8");
    expect("GET", "/Pic.PNG", 200, "PNG", "image/png"); /* extensions match in any case */
    expect("GET", "/noext", 200, "RAW", "application/octet-stream");
    expect("HEAD", "/in.js", 200, "APP", NULL); /* a symlink inside the root is served */
}

Test(web, directories_index_and_fallback)
{
    expect("GET", "/", 200, "INDEX", "text/html; charset=utf-8");
    expect("GET", "/docs/", 200, "DOCS", NULL);
    cr_assert_str_eq(ask("GET", "/docs").location, "/docs/");
    expect("GET", "/docs", 301, NULL, NULL);
    /* Not a file: the app's index, never a listing. */
    expect("GET", "/empty", 200, "INDEX", NULL);
    expect("GET", "/empty/", 200, "INDEX", NULL);
    expect("GET", "/no/such/route", 200, "INDEX", NULL);
    expect("GET", "/x.js", 200, "INDEX", "text/html; charset=utf-8");
}

Test(web, refusals)
{
    static const struct {
        const char *path;
        int status;
    } cases[] = {
        {"/../secret.txt", 400}, {"/docs/../../secret.txt", 400}, {"/./app.js", 400},
        {"/docs/..", 400},       {"//etc/passwd", 400},           {"/a\\b", 400},
        {"/a\tb", 400},          {"/a\x7f", 400},                 {"/.env", 400},
        {"/docs/.hidden", 400},  {"relative", 400},               {"", 400},
        {"/out.txt", 403},       {"/fifo", 403},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        answer a = ask("GET", cases[i].path);
        cr_assert_eq(a.status, cases[i].status, "'%s': %d", cases[i].path, a.status);
        cr_assert(!strstr(a.body, "SECRET"), "'%s' leaked", cases[i].path);
    }
    char longpath[2000];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = 0;
    cr_assert_eq(ask("GET", longpath).status, 400);
    cr_assert_eq(ask("POST", "/app.js").status, 405);
    cr_assert_eq(ask("DELETE", "/").status, 405);
}

Test(web, index_outside_the_root_is_not_served)
{
    char p[256], target[256];
    snprintf(p, sizeof p, "%s/index.html", root);
    cr_assert_eq(unlink(p), 0);
    snprintf(target, sizeof target, "%s/secret.txt", parent);
    cr_assert_eq(symlink(target, p), 0);
    answer a = ask("GET", "/no/such/route");
    cr_assert_neq(a.status, 200);
    cr_assert(!strstr(a.body, "SECRET"));
    cr_assert_eq(unlink(p), 0);
    cr_assert_eq(ask("GET", "/missing").status, 404, "no index at all: 404");
}
