/*
 * GGUF F16 / BF16 rows <-> the f16p16 / bf16p16 panels of repack_float.h.
 * One element mapping walked in either direction, so the round trip is
 * exact by construction. A pack unit is one panel.
 */
#include "repack_float.h"

#include <string.h>

#include "../formats.h"

/* Byte offset of element (row r of the panel, k) in a panel. */
static size_t elem_off(amx_type type, int r, int64_t k) {
    switch (type) {
    case AMX_TYPE_F16: return (size_t)k * 32 + 2 * (size_t)r;
    case AMX_TYPE_BF16: return (size_t)(k / 2) * 64 + 4 * (size_t)r + 2 * (size_t)(k % 2);
    default: amxq_type_unreachable("repack_float", type);
    }
}

static void walk(const amx_weights *w, uint8_t *panels, uint8_t *gguf, int64_t u0, int64_t u1, int to_panel) {
    const size_t pb = float_panel_bytes(w->k);
    for (int64_t p = u0; p < u1; p++) {
        uint8_t *pd = panels + (size_t)p * pb;
        if (to_panel) memset(pd, 0, pb); /* padding rows and K: zero */
        for (int r = 0; r < FLOAT_PANEL_ROWS; r++) {
            const int64_t row = p * FLOAT_PANEL_ROWS + r;
            if (row >= w->n) break;
            uint8_t *src = gguf + (size_t)row * (size_t)w->k * 2;
            for (int64_t k = 0; k < w->k; k++) {
                uint8_t *e = pd + elem_off(w->type, r, k);
                if (to_panel) memcpy(e, src + 2 * k, 2);
                else memcpy(src + 2 * k, e, 2);
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
