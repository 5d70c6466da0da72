/* Number::toString for doubles, byte for byte as V8 prints them.
 *
 * ECMA-262 (Number::toString) asks for the fewest significant digits k such that the decimal
 * reads back as the same double, the closest such decimal when several have k digits, the
 * even one on an exact tie, and then a fixed layout (plain notation for decimal exponents
 * -7 < e < 21, otherwise d.ddde±x).
 *
 * Three paths, all exact:
 *  - integers below 2^53: printed directly (most numbers Gun sees: counts, whole-ms states);
 *  - doubles whose scaled rounding interval fits 128-bit integers (roughly 1.5e-5 <= |v| <
 *    2^61, which holds every fractional Gun state t + n/999): the interval between the two
 *    neighbouring halfway points is computed exactly, and digits are dropped while the interval
 *    still holds a multiple of the next power of ten. No tables, no approximation;
 *  - everything else (tiny, huge, subnormal): snprintf("%.*e") for the correctly rounded k
 *    digits plus strtod to test the round trip, searching k. glibc printf/strtod are exact, so
 *    this is exact too, just slower (about 1 us). The strings passed to strtod have no decimal
 *    point, so the result does not depend on LC_NUMERIC. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

__extension__ typedef unsigned __int128 u128;

static const uint64_t pow10_u64[20] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull,
                                       10000000000000000000ull};

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

static size_t u64_len(uint64_t v)
{
    size_t n = 1;
    while (n < 20 && v >= pow10_u64[n])
        n++;
    return n;
}

/* Decimal digits of v into out (no terminator); two at a time from the end. */
static size_t u64_digits(uint64_t v, char *out)
{
    size_t n = u64_len(v), i = n;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        out[--i] = digit_pairs[2 * r + 1];
        out[--i] = digit_pairs[2 * r];
    }
    if (v >= 10) {
        out[--i] = digit_pairs[2 * v + 1];
        out[--i] = digit_pairs[2 * v];
    } else {
        out[--i] = (char)('0' + v);
    }
    return n;
}

/* Lays out digits d (no trailing zeros, k >= 1 of them) times 10^e10 as Number::toString.
 * n is the ECMA-262 exponent: value = 0.d * 10^n. */
static size_t layout(int neg, uint64_t d, int e10, char *out)
{
    char dig[20];
    size_t k = u64_digits(d, dig), o = 0;
    int n = (int)k + e10;
    if (neg)
        out[o++] = '-';
    if ((int)k <= n && n <= 21) {
        memcpy(out + o, dig, k), o += k;
        for (int i = 0; i < n - (int)k; i++)
            out[o++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(out + o, dig, (size_t)n), o += (size_t)n;
        out[o++] = '.';
        memcpy(out + o, dig + n, k - (size_t)n), o += k - (size_t)n;
    } else if (-6 < n && n <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -n; i++)
            out[o++] = '0';
        memcpy(out + o, dig, k), o += k;
    } else {
        int e = n - 1;
        out[o++] = dig[0];
        if (k > 1) {
            out[o++] = '.';
            memcpy(out + o, dig + 1, k - 1), o += k - 1;
        }
        out[o++] = 'e';
        out[o++] = e < 0 ? '-' : '+';
        o += u64_digits((uint64_t)(e < 0 ? -e : e), out + o);
    }
    out[o] = 0;
    return o;
}

/* The exact path. The double is m2 * 2^(e2+2); with mv = 4*m2 the value is mv * 2^e2, and
 * every decimal in [mm * 2^e2, mp * 2^e2] reads back as it (the ends only when m2 is even,
 * as strtod rounds halfway cases to even). Returns 0 when the value is outside the range this
 * path handles. */
static int shortest_exact(uint64_t m2, int e2, uint64_t mant, int expo, uint64_t *digits,
                          int *e10)
{
    int incl = (m2 & 1) == 0;
    uint64_t mv = 4 * m2, mp = mv + 2;
    /* Below an exact power of two the next double down is half as far away. */
    uint64_t mm = mv - 1 - (mant != 0 || expo <= 1);
    uint64_t lo, hi, bq;
    int fcmp = 0, fzero = 1, j1 = 0;

    if (e2 >= 0) {
        if (e2 > 8) /* mp << e2 must stay below 2^64 */
            return 0;
        lo = (mm << e2) + !incl;
        hi = (mp << e2) - !incl;
        bq = mv << e2;
    } else {
        int s = -e2;
        if (s > 127)
            return 0;
        /* j1 fractional digits make the interval (at least 3 * 2^e2 wide) span more than one
         * unit, so a candidate exists; 78913 / 2^18 is a hair under log10(2), and the retry
         * below covers the rare case where that rounding loses one. */
        j1 = (int)(((uint64_t)(s - 1) * 78913) >> 18) + 1;
        u128 one = (u128)1 << s, mask = one - 1;
        for (;;) {
            if (j1 > 21) /* mp * 10^j1 must stay below 2^128 */
                return 0;
            u128 p10 = (u128)pow10_u64[j1 > 19 ? 19 : j1];
            if (j1 > 19)
                p10 *= j1 == 20 ? 10 : 100;
            u128 na = (u128)mm * p10, nc = (u128)mp * p10;
            u128 l = incl ? (na + mask) >> s : (na >> s) + 1;
            u128 h = incl ? nc >> s : ((nc + mask) >> s) - 1;
            if (h >> 64)
                return 0;
            if (l <= h) {
                u128 nb = (u128)mv * p10, rem = nb & mask, half = one >> 1;
                lo = (uint64_t)l, hi = (uint64_t)h, bq = (uint64_t)(nb >> s);
                fcmp = rem < half ? -1 : rem > half;
                fzero = rem == 0;
                break;
            }
            j1++;
        }
    }

    /* Drop digits while the interval still holds a multiple of the next power of ten: the
     * fewer digits, the shorter the output, and all candidates left have the same length. */
    int p = 0;
    for (;;) {
        uint64_t l10 = lo / 10 + (lo % 10 != 0), h10 = hi / 10;
        if (l10 > h10)
            break;
        lo = l10, hi = h10, p++;
    }
    uint64_t d = lo;
    if (lo != hi) {
        /* Several candidates with p dropped digits: take the one closest to the exact value
         * (bq + frac) / 10^p, the even one on a tie. */
        uint64_t q = bq / pow10_u64[p], r = bq % pow10_u64[p];
        int up;
        if (p == 0) {
            up = fcmp > 0 || (fcmp == 0 && !fzero && (q & 1));
        } else {
            uint64_t r2 = 2 * r, pw = pow10_u64[p];
            up = r2 > pw || (r2 == pw && (!fzero || (q & 1)));
        }
        d = q + (uint64_t)up;
        if (d < lo)
            d = lo;
        if (d > hi)
            d = hi;
    }
    *digits = d;
    *e10 = p - j1;
    return 1;
}

/* Reads the digits and exponent of snprintf's "%.*e" output; the decimal point is whatever
 * the locale says, so everything that is not a digit before the 'e' is skipped. */
static void read_e(const char *s, uint64_t *d, int *x)
{
    uint64_t v = 0;
    while (*s && *s != 'e') {
        if (*s >= '0' && *s <= '9')
            v = v * 10 + (uint64_t)(*s - '0');
        s++;
    }
    *d = v;
    *x = *s == 'e' ? atoi(s + 1) : 0;
}

/* d * 10^e10 as strtod reads it. The string has no decimal point: locale-proof. */
static double read_back(uint64_t d, int e10)
{
    char s[48];
    snprintf(s, sizeof s, "%llue%d", (unsigned long long)d, e10);
    return strtod(s, NULL);
}

/* k correctly rounded significant digits of v (> 0): d * 10^e10. */
static void round_k(double v, int k, uint64_t *d, int *e10)
{
    char s[64];
    int x;
    snprintf(s, sizeof s, "%.*e", k - 1, v);
    read_e(s, d, &x);
    *e10 = x - (k - 1);
}

static void shortest_slow(double v, int pow2, uint64_t *digits, int *e10)
{
    uint64_t d;
    int e;
    if (!pow2) {
        /* The interval is symmetric, so if the closest k-digit decimal reads back, the
         * closest (k+1)-digit one (at least as close) does too: binary search on k. */
        int lo = 1, hi = 17;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            round_k(v, mid, &d, &e);
            if (read_back(d, e) == v)
                hi = mid;
            else
                lo = mid + 1;
        }
        round_k(v, lo, digits, e10);
        return;
    }
    /* At a power of two the interval below is half as wide as above: the closest k-digit
     * decimal may fall below it while the next one up still reads back, which ECMA-262
     * accepts. Scan k and try that neighbour too. */
    for (int k = 1; k <= 17; k++) {
        round_k(v, k, &d, &e);
        double r = read_back(d, e);
        if (r == v) {
            *digits = d, *e10 = e;
            return;
        }
        if (r < v && read_back(d + 1, e) == v) {
            *digits = d + 1, *e10 = e;
            return;
        }
    }
    round_k(v, 17, digits, e10); /* not reached: 17 digits always read back */
}

size_t gun__num_to_str(double v, char *out)
{
    if (isnan(v)) {
        memcpy(out, "NaN", 4);
        return 3;
    }
    if (isinf(v)) {
        if (v < 0) {
            memcpy(out, "-Infinity", 10);
            return 9;
        }
        memcpy(out, "Infinity", 9);
        return 8;
    }
    int neg = signbit(v) != 0;
    double a = neg ? -v : v;
    if (a < 9007199254740992.0) { /* 2^53: every integer below is exact in int64 */
        uint64_t i = (uint64_t)a;
        if ((double)i == a) {
            size_t o = 0;
            if (neg && i)
                out[o++] = '-'; /* -0 prints as "0" */
            o += u64_digits(i, out + o);
            out[o] = 0;
            return o;
        }
    }
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    uint64_t mant = bits & ((1ull << 52) - 1);
    int expo = (int)(bits >> 52);
    uint64_t m2 = expo ? mant | (1ull << 52) : mant;
    int e2 = (expo ? expo : 1) - 1077;
    uint64_t d;
    int e10;
    if (!shortest_exact(m2, e2, mant, expo, &d, &e10))
        shortest_slow(a, mant == 0 && expo > 1, &d, &e10);
    while (d % 10 == 0) /* d > 0: a finite non-zero double */
        d /= 10, e10++;
    return layout(neg, d, e10, out);
}

void gun__json_write_num(gun__buf *b, double n)
{
    char tmp[32];
    if (!isfinite(n)) {
        gun__buf_add(b, "null", 4);
        return;
    }
    gun__buf_add(b, tmp, gun__num_to_str(n, tmp));
}
