/*
 * IQ4_XS -> iq4_xsp16: the 4-bit indices keep their GGUF bytes (gathered
 * 4 bytes per column into VNNI lines), the 6-bit scales split over scales_l
 * and scales_h become one int8 (ls - 32) per sub-block and column.
 */
#include "repack_iq4_xs.h"

#include <string.h>

#include "../formats.h"
#include "repack_lines.h"

void amxq_iq4xs_pack_psb(uint8_t *o, const uint8_t *const rows[16]) {
    for (int n = 0; n < 16; n++) {
        if (!rows[n]) continue;
        const block_iq4_xs *b = (const block_iq4_xs *)rows[n];
        memcpy(o + IQ4XS_OFF_D + 2 * n, &b->d, 2);
        for (int s = 0; s < 8; s++) o[IQ4XS_OFF_LS + 16 * s + n] = (uint8_t)(int8_t)(iq4xs_scale(b, s) - 32);
    }
    kq_gather_lines(o + IQ4XS_OFF_QS, rows, offsetof(block_iq4_xs, qs), 32);
}

void amxq_iq4xs_unpack_psb(const uint8_t *p, uint8_t *const rows[16]) {
    for (int n = 0; n < 16; n++) {
        if (!rows[n]) continue;
        block_iq4_xs *b = (block_iq4_xs *)rows[n];
        memcpy(&b->d, p + IQ4XS_OFF_D + 2 * n, 2);
        uint16_t h = 0;
        memset(b->scales_l, 0, sizeof b->scales_l);
        for (int s = 0; s < 8; s++) {
            /* packing stores ls - 32 for ls in 0..63; an image from outside may
             * hold any byte, so take the 6 bits GGUF has room for */
            const unsigned ls = (unsigned)((int8_t)p[IQ4XS_OFF_LS + 16 * s + n] + 32);
            b->scales_l[s / 2] |= (uint8_t)((ls & 15u) << (4 * (s % 2)));
            h |= (uint16_t)(((ls >> 4) & 3u) << (2 * s));
        }
        b->scales_h = h;
    }
    kq_scatter_lines(p + IQ4XS_OFF_QS, rows, offsetof(block_iq4_xs, qs), 32);
}
