/*
 * Q2_K <-> q2_Kp16 and Q3_K <-> q3_Kp16 panel superblocks (the p16 scheme of
 * repack_kquants.h: panel p holds rows 16p..16p+15, one PSB per superblock,
 * every area on a 64-byte line, quant lines of 4 GGUF bytes per column).
 *
 * Both formats are small (2.6 and 3.4 bits per weight), so the layouts keep
 * every GGUF byte as it is, only regrouped per column: decoding scales at
 * pack time would cost more bytes than the 1.05 size budget allows (Q2_K's
 * 16 scale/min bytes per row would become 32), and the kernels decode a
 * superblock's scales for all 16 columns in a few vector ops.
 *
 * q2_Kp16 (1344 B per PSB, GGUF 1344: 1.000x)
 *     0  d[16] fp16, dmin[16] fp16
 *    64  sc[8][16][2] u8      GGUF scales[2p + i] of column n at 32p + 2n + i:
 *                             the scale/min bytes of the 16-element groups
 *                             2p, 2p+1 side by side, so a zero-extension to
 *                             16 bits gives each column's (min, min) pair for
 *                             vpdpwssd and its two scales
 *   320  qs 16 lines          line L: qs bytes 4L..4L+3 of each column.
 *                             Field j (bits 2j, 2j+1) of line 8h + 4i + l
 *                             holds elements 128h + 32j + 16i + 4l.. (group
 *                             8h + 2j + i)
 * q3_Kp16 (1792 B per PSB, GGUF 1760: 1.018x)
 *     0  d[16] fp16, then 32 zero bytes
 *    64  sc[12][16] u8        GGUF scales[i] of column n at 16i + n (bytes
 *                             0-7: low 4 bits of groups i and i + 8; 8-11:
 *                             the high 2 bits of groups i, i+4, i+8, i+12)
 *   256  hm 8 lines           line L: hmask bytes 4L..4L+3; bit 4h + j of
 *                             line 4i + l is the third bit of the elements of
 *                             qs line 8h + 4i + l, field j
 *   768  qs 16 lines          as q2_Kp16
 */
#ifndef AMXQ_REPACK_Q23_K_H
#define AMXQ_REPACK_Q23_K_H

#include <stddef.h>
#include <stdint.h>

#define Q2K_PSB 1344
#define Q2K_OFF_D 0
#define Q2K_OFF_DMIN 32
#define Q2K_OFF_SC 64
#define Q2K_OFF_QS 320

#define Q3K_PSB 1792
#define Q3K_OFF_D 0
#define Q3K_OFF_SC 64
#define Q3K_OFF_HM 256
#define Q3K_OFF_QS 768

void amxq_q2K_pack_psb(uint8_t *o, const uint8_t *const rows[16]);
void amxq_q2K_unpack_psb(const uint8_t *p, uint8_t *const rows[16]);
void amxq_q3K_pack_psb(uint8_t *o, const uint8_t *const rows[16]);
void amxq_q3K_unpack_psb(const uint8_t *p, uint8_t *const rows[16]);

#endif
