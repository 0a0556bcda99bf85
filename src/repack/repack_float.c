/*
 * GGUF F16 / BF16 rows <-> the f16p16 / bf16p16 panels of repack_float.h.
 * One element mapping walked in either direction, so the round trip is
 * exact by construction. A pack unit is one panel.
 *
 * A panel is moved 32 k at a time (16 rows x 64 bytes of GGUF, 1 KiB of
 * panel), so the scattered 2-byte stores stay in L1 instead of sweeping the
 * whole panel (128 KiB at k = 4096) once per row. Measured: 14336 x 4096
 * F16 packs in ~0.14 s on one Zen 5 core (~2.3 ns per element, a loaded
 * machine; the first pack in a process took ~0.8 s, fresh memory included).
 * GGUF rows are read and written through memcpy, so a row need not be
 * 2-byte aligned.
 */
#include "repack_float.h"

#include <string.h>

#include "../formats.h"

/* Index (in 2-byte units) of element (row r, k = k0 + j) in a panel, for
 * k0 a multiple of 32. */
static inline size_t elem_at(int bf16, int64_t k0, int j, int r) {
    const size_t k = (size_t)(k0 + j);
    return bf16 ? k / 2 * 32 + 2 * (size_t)r + (size_t)(j & 1) : k * 16 + (size_t)r;
}

static void walk(const amx_weights *w, uint8_t *panels, uint8_t *gguf, int64_t u0, int64_t u1, int to_panel) {
    int bf16;
    switch (w->type) {
    case AMX_TYPE_F16: bf16 = 0; break;
    case AMX_TYPE_BF16: bf16 = 1; break;
    default: amxq_type_unreachable("repack_float", w->type);
    }
    const size_t pb = float_panel_bytes(w->k), row_bytes = (size_t)w->k * 2;
    for (int64_t p = u0; p < u1; p++) {
        uint16_t *pd = (uint16_t *)(void *)(panels + (size_t)p * pb);
        if (to_panel) memset(pd, 0, pb); /* padding rows and K: zero */
        const int rows = (int)(w->n - p * FLOAT_PANEL_ROWS < FLOAT_PANEL_ROWS ? w->n - p * FLOAT_PANEL_ROWS
                                                                              : FLOAT_PANEL_ROWS);
        for (int64_t k0 = 0; k0 < w->k; k0 += FLOAT_K_PAD) {
            const int kc = (int)(w->k - k0 < FLOAT_K_PAD ? w->k - k0 : FLOAT_K_PAD);
            for (int r = 0; r < rows; r++) {
                uint8_t *src = gguf + (size_t)(p * FLOAT_PANEL_ROWS + r) * row_bytes + (size_t)k0 * 2;
                uint16_t v[FLOAT_K_PAD];
                if (to_panel) {
                    memcpy(v, src, (size_t)kc * 2);
                    for (int j = 0; j < kc; j++) pd[elem_at(bf16, k0, j, r)] = v[j];
                } else {
                    for (int j = 0; j < kc; j++) v[j] = pd[elem_at(bf16, k0, j, r)];
                    memcpy(src, v, (size_t)kc * 2);
                }
            }
        }
    }
}

size_t amxq_float_packed_size(const amx_weights *w) {
    const int64_t panels = (w->n + FLOAT_PANEL_ROWS - 1) / FLOAT_PANEL_ROWS;
    return (size_t)panels * float_panel_bytes(w->k);
}

void amxq_float_pack(const amx_weights *w, uint8_t *dst, const void *src, int64_t u0, int64_t u1) {
    /* walk only reads through gguf when packing */
    walk(w, dst, (uint8_t *)(uintptr_t)src, u0, u1, 1);
}

void amxq_float_unpack(const amx_weights *w, void *dst, int64_t u0, int64_t u1) {
    /* ... and only reads the panels when unpacking */
    walk(w, (uint8_t *)(uintptr_t)w->data, dst, u0, u1, 0);
}
