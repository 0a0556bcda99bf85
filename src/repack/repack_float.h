/*
 * The 16-row panel layouts of the float weight types, f16p16 and bf16p16.
 * The AVX-512 kernels read them (vnni/vnni_float.c, vnni/vnni_bf16.c), and
 * bf16p16 is also the B-tile layout of the AMX BF16 kernel.
 *
 * Panel p holds weight rows 16p..16p+15 (output columns of y); rows past n
 * are zeros. K is padded with zeros to kp = k rounded up to 32, so every
 * panel is kp * 32 bytes, a whole number of 64-byte lines, and kernels need
 * no K tail (the activation rows are zero-padded the same way, and 0 x 0
 * adds nothing). The packed size is exactly the GGUF size when n is a
 * multiple of 16 and k of 32, as in every model; otherwise it is at most
 * (n + 15) / n * (k + 31) / k of it.
 *
 *   f16p16   for each k, the 16 rows' fp16 values (32 bytes: one vcvtph2ps
 *            makes the zmm of 16 columns for that k); a line holds k and k+1.
 *   bf16p16  for each pair of k (2j, 2j+1), one 64-byte line: row r's two
 *            bf16 values at bytes 4r (k = 2j) and 4r + 2 (k = 2j + 1). That
 *            dword is what vdpbf16ps pairs with a broadcast activation pair,
 *            and 16 such lines (K = 32) are one 16 x 64-byte AMX B tile.
 *
 * A panel is read front to back as one ascending stream, as the legacy
 * layouts are (repack_legacy.h says why that matters for decode). The
 * values are moved, not converted, so unpacking gives back the GGUF bytes.
 */
#ifndef AMXQ_REPACK_FLOAT_H
#define AMXQ_REPACK_FLOAT_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel.h"

#define FLOAT_PANEL_ROWS 16
#define FLOAT_K_PAD 32

static inline int64_t float_kp(int64_t k) { return (k + FLOAT_K_PAD - 1) / FLOAT_K_PAD * FLOAT_K_PAD; }
static inline size_t float_panel_bytes(int64_t k) { return (size_t)float_kp(k) * FLOAT_PANEL_ROWS * 2; }

size_t amxq_float_packed_size(const amx_weights *w);
void amxq_float_pack(const amx_weights *w, uint8_t *dst, const void *src, int64_t unit0, int64_t unit1);
void amxq_float_unpack(const amx_weights *w, void *dst, int64_t unit0, int64_t unit1);

#endif
