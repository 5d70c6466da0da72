/* HAM, as gun@0.2020.1241 implements it (spec §2.2, ham() in src/root.js). */
#include "core.h"

gun__ham gun__ham_decide(double now, double in_state, const gun__val *in, int have_cur,
                         double cur_state, const gun__val *cur)
{
    /* `if(state > now)`: from the future, merge again when due. */
    if (in_state > now)
        return GUN__HAM_DEFER;
    if (!have_cur)
        return GUN__HAM_ACCEPT; /* was = -Infinity; known is undefined */
    if (in_state < cur_state)
        return GUN__HAM_OLD;
    /* `state === was && (val === known || L(val) <= L(known))`: on a tie the greater
     * JSON text wins; an equal one changes nothing. */
    if (in_state == cur_state && (gun__val_eq(in, cur) || gun__val_cmp(in, cur) <= 0))
        return GUN__HAM_SAME;
    return GUN__HAM_ACCEPT;
}
