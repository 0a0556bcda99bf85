/*
 * The 16-row panel layouts of the legacy 32-element types: q4_0p16, q4_1p16
 * and q8_0p16. The AVX-512 VNNI kernels read them, and the layout is kept
 * tile-friendly for AMX kernels (each 64-byte line is one B-tile row).
 *
 * Panel p holds weight rows 16p..16p+15 (output columns of y); rows past n
 * are zero bytes. With kb = k / 32 blocks per row, a panel is two regions:
 *
 *   quants  kb blocks of qs_block bytes (block b at b * qs_block)
 *     Q4_0, Q4_1: 256 B = 4 lines. Line L (0..3) holds, for row r at bytes
 *       4r..4r+3, the GGUF bytes qs[4L..4L+3] of that row's block: the low
 *       nibbles are K = 32b+4L..+3 (one VNNI row), the high nibbles
 *       K = 32b+16+4L..+3 (another). Unpacking is AND 0x0F / shift + AND.
 *     Q8_0: 512 B = 8 lines. Line L (0..7), row r, byte i: qs[4L+i] XOR 0x80,
 *       i.e. the weight + 128 as an unsigned byte, K = 32b+4L+i.
 *   scales  at kb * qs_block, kb entries of sc_block bytes, padded to 64 B
 *     Q4_0, Q8_0: 32 B: d of the 16 rows (raw fp16 bits, one 256-bit load).
 *     Q4_1: 64 B: d of the 16 rows, then m of the 16 rows.
 *
 * So a panel streams as two sequential runs (decode is pure bandwidth), fp16
 * values stay exact, and the payload is exactly the GGUF bytes whenever kb
 * is even (Q4_0: 288 B per block and panel = 16 x 18).
 */
#ifndef AMXQ_REPACK_LEGACY_H
#define AMXQ_REPACK_LEGACY_H

#include <stddef.h>
#include <stdint.h>

#include "../dispatch.h"

#define LEGACY_PANEL_ROWS 16

typedef struct {
    size_t qs_block; /* quant bytes per block and panel */
    size_t sc_block; /* scale bytes per block and panel */
    size_t sc_off;   /* offset of the scale region in a panel */
    size_t panel;    /* bytes per panel, a multiple of 64 */
} legacy_geom;

static inline legacy_geom legacy_geometry(amx_type type, int64_t kb) {
    legacy_geom g;
    g.qs_block = type == AMX_TYPE_Q8_0 ? 512 : 256;
    g.sc_block = type == AMX_TYPE_Q4_1 ? 64 : 32;
    g.sc_off = (size_t)kb * g.qs_block;
    g.panel = g.sc_off + (((size_t)kb * g.sc_block + 63) & ~(size_t)63);
    return g;
}

size_t legacy_packed_size(amx_type type, int64_t n, int64_t k);
void legacy_pack(const amx_weights *w, uint8_t *dst, const void *src, int64_t unit0, int64_t unit1);
void legacy_unpack(const amx_weights *w, void *dst, int64_t unit0, int64_t unit1);

#endif
