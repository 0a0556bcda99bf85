/* Compile-only: tile_ops.h must reject misuse at build time, in the emulated
 * and the real build alike, because the real instructions take tile numbers
 * as immediates. MISUSE=0 is the control and must compile; every other case
 * must fail (see test/meson.build). */
#include "tiles/tile_ops.h"

#define T_NAMED 3 /* a macro that expands to a literal is fine */
enum { T_ENUM = 2 };

void tile_ops_misuse(const void *p, int t);
void tile_ops_misuse(const void *p, int t) {
    (void)p;
    (void)t;
#if MISUSE == 0
    amxq_tile_loadd(T_NAMED, p, 64);
    amxq_tile_dpbssd(0, 1, T_NAMED);
    amxq_tile_zero(7);
#elif MISUSE == 1
    amxq_tile_loadd(t, p, 64); /* a variable */
#elif MISUSE == 2
    amxq_tile_zero(1 + 1); /* an expression */
#elif MISUSE == 3
    amxq_tile_zero(8); /* no tmm8 */
#elif MISUSE == 4
    amxq_tile_dpbssd(T_NAMED, 1, 3); /* C is B */
#elif MISUSE == 5
    amxq_tile_zero(T_ENUM); /* an enum constant is not a literal */
#endif
}
