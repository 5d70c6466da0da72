/* Number.prototype.toString(radix) for doubles, as V8 prints it (DoubleToRadixCString in
 * src/numbers/conversions.cc). Gun's set() builds item souls from
 * Gun.state().toString(36), and states carry fractions (…810.001), so the digits after
 * the point must match V8's exactly, rounding included. */
#include <math.h>
#include <string.h>

#include "chain.h"

static const char digits36[] = "0123456789abcdefghijklmnopqrstuvwxyz";

/* Exponent of a double as V8's Double::Exponent(): the power of two of the lowest
 * mantissa bit (value = significand * 2^exponent with a 53-bit significand). */
static int dbl_exponent(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    int biased = (int)((bits >> 52) & 0x7ff);
    if (biased == 0) /* denormal */
        return 1 - 0x3ff - 52;
    return biased - 0x3ff - 52;
}

size_t gun__num_to_radix(double value, int radix, char *out, size_t cap)
{
    /* Integer part is written leftwards from the middle, fraction rightwards: 1100 chars
     * each way covers 2^1024 in base 2 and the 1074 fraction bits of a denormal. */
    char buf[2200];
    const int mid = (int)sizeof buf / 2;
    int icur = mid, fcur = mid;
    size_t len;

    if (radix < 2 || radix > 36 || cap == 0)
        return 0;
    if (isnan(value) || isinf(value) || value == 0) {
        const char *s = isnan(value) ? "NaN" : value == 0 ? "0" : value > 0 ? "Infinity"
                                                                            : "-Infinity";
        len = strlen(s);
        if (len >= cap)
            return 0;
        memcpy(out, s, len + 1);
        return len;
    }
    int negative = value < 0;
    if (negative)
        value = -value;

    double integer = floor(value);
    double fraction = value - integer;
    /* Only as many fraction digits as the input's precision supports. */
    double delta = 0.5 * (nextafter(value, INFINITY) - value);
    double tiny = nextafter(0.0, 1.0);
    if (delta < tiny)
        delta = tiny;
    if (fraction >= delta) {
        buf[fcur++] = '.';
        do {
            fraction *= radix;
            delta *= radix;
            int digit = (int)fraction;
            buf[fcur++] = digits36[digit];
            fraction -= digit;
            /* Round half to even on the last digit, carrying into earlier ones. */
            if (fraction > 0.5 || (fraction == 0.5 && (digit & 1))) {
                if (fraction + delta > 1) {
                    for (;;) {
                        fcur--;
                        if (fcur == mid) {
                            integer += 1;
                            break;
                        }
                        char c = buf[fcur];
                        int d = c > '9' ? (c - 'a' + 10) : (c - '0');
                        if (d + 1 < radix) {
                            buf[fcur++] = digits36[d + 1];
                            break;
                        }
                    }
                    break;
                }
            }
        } while (fraction >= delta && fcur < (int)sizeof buf - 1);
    }
    /* Integer digits; digits below the double's precision are written as zeros. */
    while (dbl_exponent(integer / radix) > 0) {
        integer /= radix;
        buf[--icur] = '0';
    }
    do {
        double rem = fmod(integer, radix);
        buf[--icur] = digits36[(int)rem];
        integer = (integer - rem) / radix;
    } while (integer > 0);
    if (negative)
        buf[--icur] = '-';

    len = (size_t)(fcur - icur);
    if (len >= cap)
        return 0;
    memcpy(out, buf + icur, len);
    out[len] = '\0';
    return len;
}
