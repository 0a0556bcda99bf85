/*
 * The 16-row panel layouts of the legacy 32-element types: q4_0p16, q4_1p16,
 * q5_0p16, q5_1p16, q8_0p16 and iq4_nlp16 (IQ4_NL's blocks have Q4_0's
 * shape: its panels are Q4_0's, byte for byte). The AVX-512 VNNI kernels read them, and the layout is kept
 * tile-friendly for AMX kernels (each 64-byte line is one B-tile row).
 *
 * Panel p holds weight rows 16p..16p+15 (output columns of y); rows past n
 * are zero bytes. With kb = k / 32 blocks per row, a panel is a run of
 * groups of G blocks (G = 2 for Q4_0, Q5_0 and Q8_0, 1 for Q4_1 and Q5_1; the last group
 * of an odd kb is padded with a zero block), each group the G blocks' scales
 * (one 64-byte line) then their quants:
 *
 *   scales  sc_block bytes per block, G * sc_block = one 64-byte line
 *     Q4_0, Q5_0, IQ4_NL, Q8_0: 32 B: d of the 16 rows (raw fp16 bits, one 256-bit load).
 *     Q4_1, Q5_1: 64 B: d of the 16 rows, then m of the 16 rows.
 *   quants  qs_block bytes per block
 *     Q4_0, Q4_1, IQ4_NL: 256 B = 4 lines. Line L (0..3) holds, for row r at bytes
 *       4r..4r+3, the GGUF bytes qs[4L..4L+3] of that row's block: the low
 *       nibbles are K = 32b+4L..+3 (one VNNI row), the high nibbles
 *       K = 32b+16+4L..+3 (another). Unpacking is AND 0x0F / shift + AND.
 *     Q8_0: 512 B = 8 lines. Line L (0..7), row r, byte i: qs[4L+i] XOR 0x80,
 *       i.e. the weight + 128 as an unsigned byte, K = 32b+4L+i.
 *     Q5_0, Q5_1: 320 B = one line of fifth bits, then Q4_0's 4 nibble lines
 *       (from the block's qs). The fifth-bit line holds one 64-bit mask per
 *       VNNI row v = 0..7 of the block (v = 2L: the low nibbles of nibble
 *       line L, K = 4L..4L+3; v = 2L+1: its high nibbles, K = 16+4L..): bit
 *       4r+i of qword v is the fifth bit of row r's weight at byte i of that
 *       VNNI row, i.e. bit K of the GGUF qh. A kernel loads qword v as a
 *       __mmask64 and sets bit 4 of exactly the bytes it selects (one masked
 *       byte op per VNNI row). Per row r the masks take qh's nibble K/4 into
 *       their nibble r: a permutation of qh's 32 bits, so unpacking is exact.
 *
 * So a panel, and a run of panels, is read front to back as ONE sequential,
 * strictly ascending stream (a kernel takes a group's scale line before its
 * quants): measured on one core, reading a 72 KiB region as 2 or 4
 * interleaved streams gave 16-22 GB/s against 21-28 GB/s for one stream, and
 * M = 1 decode is nothing but that read. With the scales after the quants
 * (a jump forward to them and back per group), Q4_0 decode streamed at 0.80
 * of the read bandwidth against 0.89 this way (medians of 5 alternating
 * runs, N = 14336, K = 4096, one core). Group sizes keep every line 64-byte
 * aligned and the payload exactly the GGUF bytes whenever kb % G == 0 (Q4_0:
 * 576 B per two blocks and panel = 2 x 16 x 18). Two consecutive blocks'
 * quants (a K = 64 AMX tile) are contiguous for Q4_0 and Q8_0.
 */
#ifndef AMXQ_REPACK_LEGACY_H
#define AMXQ_REPACK_LEGACY_H

#include <stddef.h>
#include <stdint.h>

#include "../formats.h"
#include "../kernel.h"

#define LEGACY_PANEL_ROWS 16

typedef struct {
    size_t qs_block;    /* quant bytes per block and panel */
    size_t sc_block;    /* scale bytes per block and panel */
    size_t group;       /* blocks per group */
    size_t group_bytes; /* bytes per group, a multiple of 64 */
    size_t panel;       /* bytes per panel, a multiple of 64 */
    int32_t zero;       /* the unsigned value the VNNI kernels multiply minus the weight's
                           integer: 8 (Q4_0), 128 (Q8_0, IQ4_NL, Q5_0); 0 for Q4_1 and
                           Q5_1, whose offset is their min */
} legacy_geom;

static inline legacy_geom legacy_geometry(amx_type type, int64_t kb) {
    legacy_geom g;
    switch (type) {
    case AMX_TYPE_Q4_0: g.qs_block = 256, g.sc_block = 32, g.zero = 8; break;
    /* IQ4_NL: Q4_0's layout; kernels map each index to its table value + 128 */
    case AMX_TYPE_IQ4_NL: g.qs_block = 256, g.sc_block = 32, g.zero = 128; break;
    case AMX_TYPE_Q4_1: g.qs_block = 256, g.sc_block = 64, g.zero = 0; break;
    /* Q5_0: kernels read q - 16 + 128 = the nibble | (fifth bit ? 0x80 : 0x70),
     * so Q5_0 takes Q8_0's (and IQ4_NL's) activation workspace as it is */
    case AMX_TYPE_Q5_0: g.qs_block = 320, g.sc_block = 32, g.zero = 128; break;
    case AMX_TYPE_Q5_1: g.qs_block = 320, g.sc_block = 64, g.zero = 0; break;
    case AMX_TYPE_Q8_0: g.qs_block = 512, g.sc_block = 32, g.zero = 128; break;
    default: amxq_type_unreachable("legacy_geometry", type);
    }
    g.group = 64 / g.sc_block;
    g.group_bytes = g.group * (g.qs_block + g.sc_block);
    g.panel = ((size_t)kb + g.group - 1) / g.group * g.group_bytes;
    return g;
}

static inline size_t legacy_sc_off(const legacy_geom *g, int64_t b) {
    return (size_t)b / g->group * g->group_bytes + (size_t)b % g->group * g->sc_block;
}
/* Q5_0 / Q5_1: where a block's nibble lines start, after its fifth-bit line */
#define LEGACY_Q5_NIBBLES 64
/* ... and the qh nibble (K / 4) that fifth-bit mask v holds */
static inline int legacy_q5_nibble(int v) { return (v % 2) * 4 + v / 2; }

static inline size_t legacy_qs_off(const legacy_geom *g, int64_t b) {
    return (size_t)b / g->group * g->group_bytes + g->group * g->sc_block + (size_t)b % g->group * g->qs_block;
}

size_t amxq_legacy_packed_size(const amx_weights *w);
void amxq_legacy_pack(const amx_weights *w, uint8_t *dst, const void *src, int64_t unit0, int64_t unit1);
void amxq_legacy_unpack(const amx_weights *w, void *dst, int64_t unit0, int64_t unit1);

#endif
