/* The state clock, Gun.state() (spec §2.1): wall-clock ms, with N/999 added for calls
 * within one ms so that every state this machine makes is distinct and increasing. */
#include "core.h"

#include <math.h>

#define D 999.0

void gun__clock_init(gun__clock *c, double drift)
{
    c->last = -INFINITY;
    c->n = 0;
    c->drift = drift;
}

double gun__clock_next(gun__clock *c, double t)
{
    double s;
    /* Gun.js tests `last < t`; with drift 0 this is the same test. */
    if (c->last < t + c->drift) {
        c->n = 0;
        s = t + c->drift;
    } else {
        c->n += 1;
        s = t + c->n / D + c->drift;
    }
    /* The wall clock can step back (NTP); a state must still never repeat or decrease,
     * or this machine's own later writes would lose HAM to its earlier ones. */
    if (!(s > c->last)) {
        double up = c->last + 1 / D;
        s = up > c->last ? up : nextafter(c->last, INFINITY);
    }
    c->last = s;
    return s;
}

double gun__clock_now(gun__clock *c) { return gun__clock_next(c, gun__now_ms()); }
