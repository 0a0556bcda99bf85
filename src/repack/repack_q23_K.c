/*
 * Q2_K -> q2_Kp16 and Q3_K -> q3_Kp16 (layouts: repack_q23_K.h), and back.
 * Every byte of a block moves to one place of the PSB and back, so the
 * unpacked blocks equal the GGUF ones, whatever bytes an image holds.
 */
#include "repack_q23_K.h"

#include <string.h>

#include "../formats.h"
#include "repack_lines.h"

void amxq_q2K_pack_psb(uint8_t *o, const uint8_t *const rows[16]) {
    for (int n = 0; n < 16; n++) {
        if (!rows[n]) continue;
        const block_q2_K *b = (const block_q2_K *)rows[n];
        memcpy(o + Q2K_OFF_D + 2 * n, &b->d, 2);
        memcpy(o + Q2K_OFF_DMIN + 2 * n, &b->dmin, 2);
        for (int g = 0; g < 16; g++) o[Q2K_OFF_SC + 32 * (g / 2) + 2 * n + g % 2] = b->scales[g];
    }
    kq_gather_lines(o + Q2K_OFF_QS, rows, offsetof(block_q2_K, qs), 16);
}

void amxq_q2K_unpack_psb(const uint8_t *p, uint8_t *const rows[16]) {
    for (int n = 0; n < 16; n++) {
        if (!rows[n]) continue;
        block_q2_K *b = (block_q2_K *)rows[n];
        memcpy(&b->d, p + Q2K_OFF_D + 2 * n, 2);
        memcpy(&b->dmin, p + Q2K_OFF_DMIN + 2 * n, 2);
        for (int g = 0; g < 16; g++) b->scales[g] = p[Q2K_OFF_SC + 32 * (g / 2) + 2 * n + g % 2];
    }
    kq_scatter_lines(p + Q2K_OFF_QS, rows, offsetof(block_q2_K, qs), 16);
}

void amxq_q3K_pack_psb(uint8_t *o, const uint8_t *const rows[16]) {
    for (int n = 0; n < 16; n++) {
        if (!rows[n]) continue;
        const block_q3_K *b = (const block_q3_K *)rows[n];
        memcpy(o + Q3K_OFF_D + 2 * n, &b->d, 2);
        for (int i = 0; i < 12; i++) o[Q3K_OFF_SC + 16 * i + n] = b->scales[i];
    }
    kq_gather_lines(o + Q3K_OFF_HM, rows, offsetof(block_q3_K, hmask), 8);
    kq_gather_lines(o + Q3K_OFF_QS, rows, offsetof(block_q3_K, qs), 16);
}

void amxq_q3K_unpack_psb(const uint8_t *p, uint8_t *const rows[16]) {
    for (int n = 0; n < 16; n++) {
        if (!rows[n]) continue;
        block_q3_K *b = (block_q3_K *)rows[n];
        memcpy(&b->d, p + Q3K_OFF_D + 2 * n, 2);
        for (int i = 0; i < 12; i++) b->scales[i] = p[Q3K_OFF_SC + 16 * i + n];
    }
    kq_scatter_lines(p + Q3K_OFF_HM, rows, offsetof(block_q3_K, hmask), 8);
    kq_scatter_lines(p + Q3K_OFF_QS, rows, offsetof(block_q3_K, qs), 16);
}
