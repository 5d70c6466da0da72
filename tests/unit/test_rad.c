/* RAD folder reader (src/store/rad.c): radix-tree JSON files, the legacy line format,
 * old encoded values, and damaged input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/rad.h"

typedef struct recs {
    gun__buf out; /* one line per record: soul|key|value|state */
    int stop_after;
    size_t n;
} recs;

static int rec_cb(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    recs *r = arg;
    gun__buf_add(&r->out, soul.p, soul.len);
    gun__buf_addc(&r->out, '|');
    gun__buf_add(&r->out, key.p, key.len);
    gun__buf_addc(&r->out, '|');
    gun__val_write(&r->out, val);
    gun__buf_addc(&r->out, '|');
    gun__json_write_num(&r->out, state);
    gun__buf_addc(&r->out, '\n');
    if (r->stop_after && ++r->n >= (size_t)r->stop_after)
        return GUN_ECLOSED;
    return GUN_OK;
}

static int parse(const char *text, recs *r, gun__rad_stats *st)
{
    gun__err e = {0};
    gun__buf_init(&r->out);
    gun__buf_adds(&r->out, "");
    return gun__rad_parse(text, strlen(text), rec_cb, r, st, &e);
}

Test(rad, frames06_tree)
{
    const char *t =
        "{\"alice\":{\"\\u001b\":{\"name\":{\"\":{\":\":\"Zed\",\">\":1700000000000}},"
        "\"age\":{\"\":{\":\":null,\">\":1700000000001}},"
        "\"car\":{\"\":{\":\":{\"#\":\"alice/car\"},\">\":1700000000000}}},"
        "\"/car\\u001bcolor\":{\"\":{\":\":\"red\",\">\":1700000000000.5}}},"
        "\"fut\\u001bk\":{\"\":{\":\":\"future\",\">\":1795355816931}}}";
    recs r = {0};
    gun__rad_stats st = {0};
    cr_assert_eq(parse(t, &r, &st), GUN_OK);
    cr_expect_str_eq(r.out.p, "alice|name|\"Zed\"|1700000000000\n"
                              "alice|age|null|1700000000001\n"
                              "alice|car|{\"#\":\"alice/car\"}|1700000000000\n"
                              "alice/car|color|\"red\"|1700000000000.5\n"
                              "fut|k|\"future\"|1795355816931\n");
    cr_expect_eq(st.records, 5);
    cr_expect_eq(st.bad_records, 0);
    gun__buf_free(&r.out);
}

Test(rad, split_prefixes_and_values_at_inner_nodes)
{
    /* "ab" ESC "c" splits into a / b..., and a value sits on an inner node too. */
    const char *t = "{\"a\":{\"b\\u001b\":{\"c\":{\"\":{\":\":1,\">\":2}},"
                    "\"cd\":{\"\":{\":\":true,\">\":3},\"e\":{\"\":{\":\":false,\">\":4}}}}},"
                    "\"x\\u001by\":{\"\":{\":\":-0.5,\">\":5}}}";
    recs r = {0};
    gun__rad_stats st = {0};
    cr_assert_eq(parse(t, &r, &st), GUN_OK);
    cr_expect_str_eq(r.out.p, "ab|c|1|2\nab|cd|true|3\nab|cde|false|4\nx|y|-0.5|5\n");
    gun__buf_free(&r.out);
}

Test(rad, unicode_and_bad_leaves_are_counted)
{
    const char *t = "{\"s\\u001b\\u00e9\\ud83d\\ude00\":{\"\":{\":\":\"\\u2603\",\">\":1}},"
                    "\"nokey\":{\"\":{\":\":1,\">\":1}},"          /* no ESC */
                    "\"s\\u001bnostate\":{\"\":{\":\":1}},"         /* no state */
                    "\"s\\u001barr\":{\"\":{\":\":[1],\">\":1}},"   /* bad value */
                    "\"s\\u001bstr\":{\"\":{\":\":1,\">\":\"1\"}}," /* state not a number */
                    "\"s\\u001bleaf\":7,"                            /* not a subtree */
                    "\"\\u001bk\":{\"\":{\":\":1,\">\":1}}}";       /* empty soul */
    recs r = {0};
    gun__rad_stats st = {0};
    cr_assert_eq(parse(t, &r, &st), GUN_OK);
    cr_expect_str_eq(r.out.p, "s|\xc3\xa9\xf0\x9f\x98\x80|\"\xe2\x98\x83\"|1\n");
    cr_expect_eq(st.records, 1);
    cr_expect_eq(st.bad_records, 6);
    gun__buf_free(&r.out);
}

Test(rad, old_encoded_values)
{
    /* store.js's old value: enc(val) ">" enc(state) with ESC as separator. */
    const char *t = "{\"a\\u001bs\":{\"\":\"\\u001b\\\"hi\\u001b>\\u001b+12\\u001b\"},"
                    "\"a\\u001bl\":{\"\":\"\\u001b#b\\u001b>\\u001b+13\\u001b\"},"
                    "\"a\\u001bn\":{\"\":\"\\u001b \\u001b>\\u001b+14.5\\u001b\"},"
                    "\"a\\u001bbad\":{\"\":\"garbage\"}}";
    recs r = {0};
    gun__rad_stats st = {0};
    cr_assert_eq(parse(t, &r, &st), GUN_OK);
    cr_expect_str_eq(r.out.p, "a|s|\"hi\"|12\na|l|{\"#\":\"b\"}|13\na|n|null|14.5\n");
    cr_expect_eq(st.bad_records, 1);
    gun__buf_free(&r.out);
}

/* Builds the legacy line text: U is US (0x1F), E is ESC. */
static char *legacy_text(const char *tmpl)
{
    char *s = strdup(tmpl);
    for (char *p = s; *p; p++)
        *p = *p == 'U' ? '\x1f' : *p == 'E' ? '\x1b' : *p;
    return s;
}

Test(rad, legacy_line_format)
{
    /* Tree: "al" -> "ice" ESC "name" = "Ann" (old value), "ice" ESC "age" = 3. Each line
     * is enc(depth) "#" enc(fragment) [":" enc(value)] "\n". */
    char *t = legacy_text("U+0U#U\"alU\n"
                          "U+1U#U\"iceEU\n"
                          "U+2U#U\"nameU:U\"E\"AnnE>E+5EU\n"
                          "U+2U#U\"ageU:U\"E+3E>E+6EU\n"
                          "U+0U#U\"bEkU:U\"E+E>E+7EU\n");
    recs r = {0};
    gun__rad_stats st = {0};
    cr_assert_eq(parse(t, &r, &st), GUN_OK);
    cr_expect_str_eq(r.out.p, "alice|name|\"Ann\"|5\nalice|age|3|6\nb|k|true|7\n");
    cr_expect_eq(st.bad_records, 0);
    free(t);
    gun__buf_free(&r.out);
}

Test(rad, legacy_string_with_separators_inside)
{
    /* A string holding one US: the opening run has two. */
    char *t = legacy_text("U+0U#UU\"sEkUxU:U\"E\"vE>E+1EU\n");
    recs r = {0};
    gun__rad_stats st = {0};
    cr_assert_eq(parse(t, &r, &st), GUN_OK);
    cr_expect_str_eq(r.out.p, "s|k\x1fx|\"v\"|1\n");
    free(t);
    gun__buf_free(&r.out);
}

Test(rad, corrupt_input_is_an_error_not_a_crash)
{
    static const char *bad[] = {"", "not rad", "{\"a\":", "[1,2]", "\x1f+1\x1f#", "\x1f",
                                "\x1f+0\x1f#\x1f", "\x1f+0\x1f#\x1f\"a\x1b\x1f:\x1f\"\x1b",
                                "\x1f+999999999999\x1f#\x1f\"x\x1f:\x1f\"\x1b+\x1b>\x1b+1\x1b\x1f",
                                "{\"a\":{\"\":{\":\":1,\">\":1e400}}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        recs r = {0};
        gun__rad_stats st = {0};
        int rc = parse(bad[i], &r, &st);
        cr_expect(rc == GUN_OK || rc == GUN_EJSON, "case %zu: rc %d", i, rc);
        gun__buf_free(&r.out);
    }
    recs r = {0};
    cr_expect_eq(parse("garbage", &r, NULL), GUN_EJSON);
    gun__buf_free(&r.out);
}

Test(rad, callback_can_stop_the_walk)
{
    const char *t = "{\"a\\u001bx\":{\"\":{\":\":1,\">\":1}},\"a\\u001by\":{\"\":{\":\":1,\">\":1}}}";
    recs r = {0};
    r.stop_after = 1;
    cr_expect_eq(parse(t, &r, NULL), GUN_ECLOSED);
    cr_expect_eq(r.n, 1);
    gun__buf_free(&r.out);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static void warn_cb(void *arg, const char *file, const char *why)
{
    (void)why;
    gun__buf_adds(&((recs *)arg)->out, "warn:");
    gun__buf_adds(&((recs *)arg)->out, file);
    gun__buf_addc(&((recs *)arg)->out, '\n');
}

Test(rad, folder_skips_index_tmp_and_reports_bad_files)
{
    char dir[] = "/tmp/gun-rad-XXXXXX";
    cr_assert(mkdtemp(dir));
    write_file(dir, "!", "{\"a\\u001bk\":{\"\":{\":\":\"one\",\">\":1}}}");
    write_file(dir, "b%1Bk", "{\"b\\u001bk\":{\"\":{\":\":\"two\",\">\":2}}}");
    write_file(dir, "%1C", "{\"!\":{\"\":1},\"b%1Bk\":{\"\":1}}");
    write_file(dir, "!-x-abc.tmp", "{\"t\\u001bk\":{\"\":{\":\":\"tmp\",\">\":3}}}");
    write_file(dir, "c", "this is not RAD");
    recs r = {0};
    gun__buf_init(&r.out);
    gun__rad_stats st = {0};
    gun__err e = {0};
    cr_assert_eq(gun__rad_read_dir(dir, rec_cb, warn_cb, &r, &st, &e), GUN_OK);
    cr_expect_str_eq(r.out.p, "a|k|\"one\"|1\nb|k|\"two\"|2\nwarn:c\n");
    cr_expect_eq(st.files, 2);
    cr_expect_eq(st.files_bad, 1);
    gun__buf_free(&r.out);
    cr_expect_eq(gun__rad_read_dir("/nonexistent/rad", rec_cb, NULL, &r, NULL, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "/nonexistent/rad"));
    const char *names[] = {"!", "b%1Bk", "%1C", "!-x-abc.tmp", "c"};
    for (size_t i = 0; i < 5; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}
