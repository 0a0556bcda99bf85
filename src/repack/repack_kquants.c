/*
 * Q4_K / Q5_K / Q6_K -> q4_Kp16 / q5_Kp16 / q6_Kp16 (layouts and the reasons
 * for them: repack_kquants.h), and back; IQ4_XS, Q2_K and Q3_K through their
 * own PSB packers (repack_iq4_xs.c, repack_q23_K.c). The unit of packing is one 16-row
 * panel; units are independent, so packing parallelizes over them, and the
 * source is only read.
 */
#include "repack_kquants.h"

#include <string.h>

#include "../formats.h"
#include "repack_iq4_xs.h"
#include "repack_lines.h"
#include "repack_q23_K.h"

size_t amxq_kq_psb_bytes(amx_type type) {
    switch (type) {
    case AMX_TYPE_Q2_K: return Q2K_PSB;
    case AMX_TYPE_Q3_K: return Q3K_PSB;
    case AMX_TYPE_Q4_K: return Q4K_PSB;
    case AMX_TYPE_Q5_K: return Q5K_PSB;
    case AMX_TYPE_Q6_K: return Q6K_PSB;
    case AMX_TYPE_IQ4_XS: return IQ4XS_PSB;
    default: amxq_type_unreachable("amxq_kq_psb_bytes", type);
    }
}

size_t amxq_kq_packed_size(const amx_weights *w) {
    const size_t panels = (size_t)((w->n + KQ_PANEL - 1) / KQ_PANEL);
    return panels * (size_t)w->kb * amxq_kq_psb_bytes(w->type);
}

/* Q4_K and Q5_K share d, dmin and the 12-byte scales. */
static void pack_q45_head(uint8_t *o, const uint8_t *blk, int n) {
    const block_q4_K *b = (const block_q4_K *)blk; /* same head in block_q5_K */
    memcpy(o + Q4K_OFF_D + 2 * n, &b->d, 2);
    memcpy(o + Q4K_OFF_DMIN + 2 * n, &b->dmin, 2);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, mn;
        kquant_scale_min(j, b->scales, &sc, &mn);
        o[Q4K_OFF_SC + 16 * j + n] = sc;
        o[Q4K_OFF_MN + 32 * (j / 2) + 2 * n + (j % 2)] = mn;
    }
}

/* The inverse of kquant_scale_min over all eight sub-blocks (96 bits hold
 * exactly sixteen 6-bit values, so the encoding is a bijection). */
static void unpack_q45_head(const uint8_t *p, uint8_t *blk, int n) {
    block_q4_K *b = (block_q4_K *)blk;
    memcpy(&b->d, p + Q4K_OFF_D + 2 * n, 2);
    memcpy(&b->dmin, p + Q4K_OFF_DMIN + 2 * n, 2);
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = p[Q4K_OFF_SC + 16 * j + n];
        mn[j] = p[Q4K_OFF_MN + 32 * (j / 2) + 2 * n + (j % 2)];
    }
    for (int j = 0; j < 4; j++) {
        b->scales[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        b->scales[j + 4] = (uint8_t)((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
        b->scales[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
}

static void pack_psb(amx_type t, uint8_t *o, const uint8_t *const rows[16]) {
    switch (t) {
    case AMX_TYPE_Q4_K:
        for (int n = 0; n < 16; n++)
            if (rows[n]) pack_q45_head(o, rows[n], n);
        kq_gather_lines(o + Q4K_OFF_QS, rows, offsetof(block_q4_K, qs), 32);
        break;
    case AMX_TYPE_Q5_K:
        for (int n = 0; n < 16; n++)
            if (rows[n]) pack_q45_head(o, rows[n], n);
        kq_gather_lines(o + Q5K_OFF_QH, rows, offsetof(block_q5_K, qh), 8);
        kq_gather_lines(o + Q5K_OFF_QS, rows, offsetof(block_q5_K, qs), 32);
        break;
    case AMX_TYPE_Q6_K:
        for (int n = 0; n < 16; n++) {
            if (!rows[n]) continue;
            const block_q6_K *b = (const block_q6_K *)rows[n];
            memcpy(o + Q6K_OFF_D + 2 * n, &b->d, 2);
            for (int g = 0; g < 16; g++) o[Q6K_OFF_SC + 16 * g + n] = (uint8_t)b->scales[g];
        }
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 16; l++) kq_gather_lines(o + Q6K_QL_LINE(h, l), rows, offsetof(block_q6_K, ql) + 64 * h + 4 * l, 1);
            for (int l = 0; l < 8; l++) kq_gather_lines(o + Q6K_QH_LINE(h, l), rows, offsetof(block_q6_K, qh) + 32 * h + 4 * l, 1);
        }
        break;
    case AMX_TYPE_IQ4_XS: amxq_iq4xs_pack_psb(o, rows); break;
    case AMX_TYPE_Q2_K: amxq_q2K_pack_psb(o, rows); break;
    case AMX_TYPE_Q3_K: amxq_q3K_pack_psb(o, rows); break;
    default: amxq_type_unreachable("kq pack", t);
    }
}

static void unpack_psb(amx_type t, const uint8_t *p, uint8_t *const rows[16]) {
    switch (t) {
    case AMX_TYPE_Q4_K:
        for (int n = 0; n < 16; n++)
            if (rows[n]) unpack_q45_head(p, rows[n], n);
        kq_scatter_lines(p + Q4K_OFF_QS, rows, offsetof(block_q4_K, qs), 32);
        break;
    case AMX_TYPE_Q5_K:
        for (int n = 0; n < 16; n++)
            if (rows[n]) unpack_q45_head(p, rows[n], n);
        kq_scatter_lines(p + Q5K_OFF_QH, rows, offsetof(block_q5_K, qh), 8);
        kq_scatter_lines(p + Q5K_OFF_QS, rows, offsetof(block_q5_K, qs), 32);
        break;
    case AMX_TYPE_Q6_K:
        for (int n = 0; n < 16; n++) {
            if (!rows[n]) continue;
            block_q6_K *b = (block_q6_K *)rows[n];
            memcpy(&b->d, p + Q6K_OFF_D + 2 * n, 2);
            for (int g = 0; g < 16; g++) b->scales[g] = (int8_t)p[Q6K_OFF_SC + 16 * g + n];
        }
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 16; l++) kq_scatter_lines(p + Q6K_QL_LINE(h, l), rows, offsetof(block_q6_K, ql) + 64 * h + 4 * l, 1);
            for (int l = 0; l < 8; l++) kq_scatter_lines(p + Q6K_QH_LINE(h, l), rows, offsetof(block_q6_K, qh) + 32 * h + 4 * l, 1);
        }
        break;
    case AMX_TYPE_IQ4_XS: amxq_iq4xs_unpack_psb(p, rows); break;
    case AMX_TYPE_Q2_K: amxq_q2K_unpack_psb(p, rows); break;
    case AMX_TYPE_Q3_K: amxq_q3K_unpack_psb(p, rows); break;
    default: amxq_type_unreachable("kq unpack", t);
    }
}

void amxq_kq_pack(const amx_weights *w, uint8_t *dst, const void *src, int64_t u0, int64_t u1) {
    const size_t psb = amxq_kq_psb_bytes(w->type), bb = (size_t)amxq_type_info(w->type)->bytes;
    for (int64_t p = u0; p < u1; p++) {
        for (int64_t b = 0; b < w->kb; b++) {
            const uint8_t *rows[16];
            for (int n = 0; n < 16; n++) {
                const int64_t r = p * KQ_PANEL + n;
                rows[n] = r < w->n ? (const uint8_t *)src + ((size_t)r * (size_t)w->kb + (size_t)b) * bb : NULL;
            }
            uint8_t *o = dst + ((size_t)p * (size_t)w->kb + (size_t)b) * psb;
            memset(o, 0, psb);
            pack_psb(w->type, o, rows);
        }
    }
}

void amxq_kq_unpack(const amx_weights *w, void *dst, int64_t u0, int64_t u1) {
    const size_t psb = amxq_kq_psb_bytes(w->type), bb = (size_t)amxq_type_info(w->type)->bytes;
    for (int64_t p = u0; p < u1; p++) {
        for (int64_t b = 0; b < w->kb; b++) {
            uint8_t *rows[16];
            for (int n = 0; n < 16; n++) {
                const int64_t r = p * KQ_PANEL + n;
                rows[n] = r < w->n ? (uint8_t *)dst + ((size_t)r * (size_t)w->kb + (size_t)b) * bb : NULL;
            }
            unpack_psb(w->type, w->data + ((size_t)p * (size_t)w->kb + (size_t)b) * psb, rows);
        }
    }
}
