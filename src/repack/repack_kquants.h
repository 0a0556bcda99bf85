/*
 * p16 panel layouts of the 256-element types (Q4_K, Q5_K, Q6_K, IQ4_XS; Q2_K
 * and Q3_K in repack_q23_K.h).
 *
 * Panel p holds weight rows 16p..16p+15 (rows past n are zero blocks that no
 * kernel writes out). For every superblock b the panel's data is one
 * contiguous "panel superblock" (PSB) at (p * kb + b) * PSB bytes, so a panel
 * is one sequential stream along K. Inside a PSB every area starts on a
 * 64-byte line; a "line" of quants is one VNNI row for the 16 columns: for
 * each column n, a dword of 4 consecutive GGUF quant bytes (dword n = bytes
 * 4n..4n+3 of the line). The 4-bit payloads stay 4-bit: the low nibbles of a
 * line are one VNNI row, the high nibbles another. Scales are decoded at pack
 * time into [index][16 columns] arrays (one load gives the 16 columns' values);
 * fp16 d / dmin stay raw fp16 bits. Every transformation is bijective, so
 * unpacking re-encodes the exact GGUF bytes.
 *
 * q4_Kp16  (2368 B per PSB, GGUF 2304: 1.028x)
 *     0  d[16] fp16, dmin[16] fp16
 *    64  sc[8][16] u8           6-bit sub-block scales
 *   192  mn[4][16][2] u8        6-bit mins, pairs (2p, 2p+1) per column
 *   320  qs 32 lines            line 8c+L: qs bytes 32c+4L..+3; low nibbles =
 *                               K 64c+4L.. (sub-block 2c), high = K 64c+32+4L..
 * q5_Kp16  (2880 B, GGUF 2816: 1.023x): as q4_Kp16 up to 320, then
 *   320  qh 8 lines             line L: qh bytes 4L..4L+3; bit j = 5th bit of
 *                               K 32j+4L.. (sub-block j)
 *   832  qs 32 lines            as q4_Kp16
 * q6_Kp16  (3392 B, GGUF 3360: 1.010x)
 *     0  d[16] fp16, then 32 zero bytes
 *    64  sc[16][16] int8        per 16-element group
 *   320  half h = 0, 1536 B at 320 + 1536h: 24 lines in the order the kernels
 *        first read them: ql 0, qh 0, ql 1, qh 1, ..., ql 7, qh 7, then
 *        ql 8-15, where ql line L = ql bytes 64h+4L..+3 and qh line L = qh
 *        bytes 32h+4L..+3 (Q6K_QL_LINE / Q6K_QH_LINE). A group reads its ql
 *        and qh lines alternately, so every line is first touched in
 *        ascending address order and the hardware prefetchers stream an
 *        M = 1 pass from DRAM (vnni_kq.c, "Decode"). Layout version 1 had
 *        ql 0-3, qh 0-3, ql 4-7, qh 4-7, ql 8-15 (two interleaved runs 256 B
 *        apart): 0.70 of the read bandwidth at M = 1 against 0.96-1.02 now.
 *       (the element order is ggml's: see vnni_q6_K.c)
 * iq4_xsp16 (2240 B, GGUF 2176: 1.029x)
 *     0  d[16] fp16, then 32 zero bytes
 *    64  ls[8][16] int8         sub-block scale minus 32 (-32..31)
 *   192  qs 32 lines            line 4s+L: qs bytes 16s+4L..+3; low nibbles =
 *                               K 32s+4L.., high = K 32s+16+4L..
 */
#ifndef AMXQ_REPACK_KQUANTS_H
#define AMXQ_REPACK_KQUANTS_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel.h"
#include "repack_iq4_xs.h" /* IQ4_XS offsets */
#include "repack_q23_K.h"  /* Q2_K, Q3_K offsets */

#define KQ_PANEL 16

#define Q4K_PSB 2368
#define Q4K_OFF_D 0
#define Q4K_OFF_DMIN 32
#define Q4K_OFF_SC 64
#define Q4K_OFF_MN 192
#define Q4K_OFF_QS 320

#define Q5K_PSB 2880
#define Q5K_OFF_QH 320
#define Q5K_OFF_QS 832

#define Q6K_PSB 3392
#define Q6K_OFF_D 0
#define Q6K_OFF_SC 64
#define Q6K_OFF_HALF 320
/* byte offsets of ql line L (0..15) and qh line L (0..7) of half h */
#define Q6K_QL_LINE(h, L) (Q6K_OFF_HALF + 1536 * (h) + 64 * ((L) < 8 ? 2 * (L) : (L) + 8))
#define Q6K_QH_LINE(h, L) (Q6K_OFF_HALF + 1536 * (h) + 64 * (2 * (L) + 1))


/* Bytes per panel superblock of a type (0 for the other types). */
size_t amxq_kq_psb_bytes(amx_type type);

/* dispatch-table entry points for the four types (pack unit = one panel) */
size_t amxq_kq_packed_size(const amx_weights *w);
void amxq_kq_pack(const amx_weights *w, uint8_t *dst, const void *src, int64_t u0, int64_t u1);
void amxq_kq_unpack(const amx_weights *w, void *dst, int64_t u0, int64_t u1);

#endif
