/*
 * GGUF Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q8_0 / IQ4_NL blocks <-> the p16 panel layouts described in
 * repack_legacy.h. Packing and unpacking are one byte mapping walked in
 * either direction, so the round trip is exact by construction. A pack unit
 * is one panel; units touch disjoint bytes, so they pack in parallel.
 */
#include "repack_legacy.h"

#include <stddef.h>
#include <string.h>

#include "../formats.h"

/* Q5_0 / Q5_1: the block's qh (at qh) to or from nibble r of the eight
 * fifth-bit masks (see repack_legacy.h); the panel starts zeroed. */
static void map_high_bits(uint8_t *qh, uint8_t *masks, int r, int to_panel) {
    uint32_t bits = to_panel ? q5_high_bits(qh) : 0;
    for (int v = 0; v < 8; v++) {
        uint8_t *byte = masks + 8 * v + r / 2;
        const int shift = 4 * legacy_q5_nibble(v), half = 4 * (r % 2);
        if (to_panel) *byte |= (uint8_t)(((bits >> shift) & 0xF) << half);
        else bits |= (uint32_t)((*byte >> half) & 0xF) << shift;
    }
    if (!to_panel)
        for (int i = 0; i < 4; i++) qh[i] = (uint8_t)(bits >> (8 * i));
}

/* Moves the bytes of one GGUF block (row r of a panel) to or from their
 * places in the panel's quant and scale entries for that block. */
static void map_block(amx_type type, uint8_t *gguf, uint8_t *q, uint8_t *sc, int r, int to_panel) {
    uint8_t *qs;
    int lines;
    uint8_t flip;
    switch (type) {
    case AMX_TYPE_Q5_0:
    case AMX_TYPE_Q5_1: {
        /* d (Q5_1: d, m), then qh, then qs: the nibbles go where Q4_0's do */
        const size_t qh = type == AMX_TYPE_Q5_0 ? offsetof(block_q5_0, qh) : offsetof(block_q5_1, qh);
        map_high_bits(gguf + qh, q, r, to_panel);
        qs = gguf + qh + 4;
        q += LEGACY_Q5_NIBBLES;
        lines = 4;
        flip = 0;
        if (type == AMX_TYPE_Q5_0) break;
        if (to_panel) memcpy(sc + 32 + 2 * r, gguf + 2, 2);
        else memcpy(gguf + 2, sc + 32 + 2 * r, 2);
    } break;
    case AMX_TYPE_Q4_0:
    case AMX_TYPE_IQ4_NL: /* the same block layout: d, then 16 bytes of nibble pairs */
        qs = ((block_q4_0 *)gguf)->qs;
        lines = 4;
        flip = 0;
        break;
    case AMX_TYPE_Q4_1:
        qs = ((block_q4_1 *)gguf)->qs;
        lines = 4;
        flip = 0;
        /* m sits right after d in the GGUF block */
        if (to_panel) memcpy(sc + 32 + 2 * r, gguf + 2, 2);
        else memcpy(gguf + 2, sc + 32 + 2 * r, 2);
        break;
    case AMX_TYPE_Q8_0: /* stored as weight + 128, unsigned for vpdpbusd */
        qs = (uint8_t *)((block_q8_0 *)gguf)->qs;
        lines = 8;
        flip = 0x80;
        break;
    default: amxq_type_unreachable("repack_legacy", type);
    }
    /* d is the first field of every legacy block */
    if (to_panel) memcpy(sc + 2 * r, gguf, 2);
    else memcpy(gguf, sc + 2 * r, 2);
    for (int l = 0; l < lines; l++)
        for (int i = 0; i < 4; i++) {
            uint8_t *p = q + 64 * l + 4 * r + i;
            if (to_panel) *p = qs[4 * l + i] ^ flip;
            else qs[4 * l + i] = *p ^ flip;
        }
}

/* Walks panels [u0, u1): every real row's blocks through map_block. */
static void walk(const amx_weights *w, uint8_t *panels, uint8_t *gguf, int64_t u0, int64_t u1, int to_panel) {
    const legacy_geom g = legacy_geometry(w->type, w->kb);
    const size_t bb = (size_t)amxq_type_info(w->type)->bytes;
    for (int64_t p = u0; p < u1; p++) {
        uint8_t *pd = panels + (size_t)p * g.panel;
        if (to_panel) memset(pd, 0, g.panel); /* padding rows and bytes: zero */
        for (int r = 0; r < LEGACY_PANEL_ROWS; r++) {
            const int64_t row = p * LEGACY_PANEL_ROWS + r;
            if (row >= w->n) break;
            uint8_t *src = gguf + (size_t)row * (size_t)w->kb * bb;
            for (int64_t b = 0; b < w->kb; b++)
                map_block(w->type, src + (size_t)b * bb, pd + legacy_qs_off(&g, b), pd + legacy_sc_off(&g, b), r,
                          to_panel);
        }
    }
}

size_t amxq_legacy_packed_size(const amx_weights *w) {
    const int64_t panels = (w->n + LEGACY_PANEL_ROWS - 1) / LEGACY_PANEL_ROWS;
    return (size_t)panels * legacy_geometry(w->type, w->kb).panel;
}

void amxq_legacy_pack(const amx_weights *w, uint8_t *dst, const void *src, int64_t u0, int64_t u1) {
    /* map_block only reads through gguf when packing */
    walk(w, dst, (uint8_t *)(uintptr_t)src, u0, u1, 1);
}

void amxq_legacy_unpack(const amx_weights *w, void *dst, int64_t u0, int64_t u1) {
    /* ... and only reads the panels when unpacking */
    walk(w, (uint8_t *)(uintptr_t)w->data, dst, u0, u1, 0);
}
