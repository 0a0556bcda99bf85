/*
 * Moving 4-byte groups of 16 GGUF rows to and from 64-byte panel lines: byte
 * 4n + i of line l is byte off + 4l + i of row n. Every p16 layout of the
 * 256-element types is built from these. NULL rows (past n) are skipped.
 */
#ifndef AMXQ_REPACK_LINES_H
#define AMXQ_REPACK_LINES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void kq_gather_lines(uint8_t *lines, const uint8_t *const rows[16], size_t off, int nlines) {
    for (int n = 0; n < 16; n++)
        if (rows[n])
            for (int l = 0; l < nlines; l++) memcpy(lines + 64 * l + 4 * n, rows[n] + off + 4 * l, 4);
}

static inline void kq_scatter_lines(const uint8_t *lines, uint8_t *const rows[16], size_t off, int nlines) {
    for (int n = 0; n < 16; n++)
        if (rows[n])
            for (int l = 0; l < nlines; l++) memcpy(rows[n] + off + 4 * l, lines + 64 * l + 4 * n, 4);
}

#endif
