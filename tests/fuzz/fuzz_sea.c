/* libFuzzer target: SEA envelopes and signed graph values from the network. One input is
 * taken as every text a peer controls: a "SEA{...}" envelope (verify, decrypt), a signed
 * wire value for a fixed pub soul, key and state (verify_put, the relay firewall's rules
 * for pub, alias, `#` and `<?N` souls, the reader's unpack), and a certificate (the
 * firewall's certificate check). The fixed context is the signed_put_value vector of
 * shared/spec/sea-vectors.json, so seeds from the vectors reach the success paths.
 * Looks for crashes, leaks, sanitizer reports and return codes outside the contracts;
 * seeds in tests/fuzz/corpus/sea. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sea/sea.h"

#define PUB "OUNAKbaK996pZpnegktAQ0gxMG3qNkGLvvzUweC9a0E.GD8IO_H7VqFy-3trgoPYxa6a0ETyv8pGai-XYte8adw"
#define SOUL "~" PUB
#define KEY "says"
#define STATE 1700000000000.001
#define CERTIFICANT "zK5OVR-AnR7NpVYIQoWM03HAOFHXHf6wuDPGyIm2x0M.wULn-NGGc3LNjpRFEeHrmRU1zIr4yJyEJfN3oUamx3Y"

static void expect(int ok)
{
    if (!ok)
        abort();
}

/* A value handed out on success is JSON the library can read back. */
static void check_json_out(int rc, char *out)
{
    expect((rc == GUN_OK) == (out != NULL));
    if (out) {
        gun__json *j = NULL;
        expect(gun__json_parse(out, strlen(out), NULL, &j, NULL) == GUN_OK);
        gun__json_free(j);
    }
    gun_sea_free(out);
}

static void firewall(gun__fw *fw, const gun__json *val)
{
    static const char *const souls[] = {SOUL, SOUL "/profile", "~@alice", "~@", "#", "tmp<?9",
                                        "plain"};
    for (size_t i = 0; i < sizeof souls / sizeof *souls; i++) {
        gun__fw_result r;
        gun__str soul = {souls[i], strlen(souls[i])};
        int rc = gun__fw_check_key(fw, soul, (gun__str){KEY, 4}, val, STATE, STATE + 1000, NULL,
                                   NULL, &r);
        expect(rc == GUN_OK || rc == GUN_ENOMEM);
        if (rc == GUN_OK && r.kind != GUN__FW_PASS && r.kind != GUN__FW_OMIT &&
            r.kind != GUN__FW_CERT_DROP)
            expect(r.why != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0; /* the C API takes C strings: the text ends at its first NUL */

    char *out = NULL;
    int rc = gun_sea_verify(text, PUB, 0, &out);
    expect(rc == GUN_OK || rc == GUN_EVERIFY || rc == GUN_EKEY || rc == GUN_ENOMEM ||
           rc == GUN_EDEPTH);
    check_json_out(rc, out);

    out = NULL;
    rc = gun_sea_verify_put(SOUL, KEY, text, STATE, PUB, 0, &out);
    expect(rc == GUN_OK || rc == GUN_EVERIFY || rc == GUN_EKEY || rc == GUN_ENOMEM ||
           rc == GUN_EDEPTH);
    check_json_out(rc, out);

    out = NULL;
    rc = gun_sea_decrypt(text, "passphrase", &out);
    expect(rc == GUN_OK || rc == GUN_EDECRYPT || rc == GUN_ENOMEM || rc == GUN_EDEPTH);
    check_json_out(rc, out);

    /* the firewall sees the value as a peer sends it: a string, or any JSON value */
    gun__fw *fw = NULL;
    if (gun__fw_new(&fw, 4, 0) == GUN_OK) {
        gun__json *s = gun__json_str(text, size);
        if (s)
            firewall(fw, s);
        gun__json_free(s);
        gun__json *parsed = NULL;
        gun__err e;
        if (gun__sea_parse(text, size, &parsed, &e) == GUN_OK) {
            firewall(fw, parsed);
            /* as a certificate for CERTIFICANT writing into PUB's graph */
            gun__sea_cert_result cr;
            if (gun__sea_cert_check(parsed, PUB, strlen(PUB), CERTIFICANT, strlen(CERTIFICANT),
                                    SOUL "/inbox", strlen(SOUL "/inbox"), KEY, 4, STATE, 0,
                                    &cr) == GUN_OK) {
                expect(cr.verdict >= GUN__CERT_OK && cr.verdict <= GUN__CERT_MUST_HAVE);
                gun__sea_cert_result_free(&cr);
            }
        }
        gun__json_free(parsed);
        gun__fw_free(fw);
    }

    /* what a reader of the stored value gets */
    gun__val in = {.t = GUN__V_STR}, plain;
    in.s = (gun__str){text, size};
    rc = gun__sea_unpack((gun__str){SOUL, strlen(SOUL)}, &in, &plain);
    expect(rc == 0 || rc == 1 || rc == GUN_ENOMEM);
    if (rc == 1)
        gun__val_clear(&plain);
    free(text);
    return 0;
}
