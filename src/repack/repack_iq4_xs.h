/* IQ4_XS <-> iq4_xsp16 panel superblocks (layout: repack_kquants.h). */
#ifndef AMXQ_REPACK_IQ4_XS_H
#define AMXQ_REPACK_IQ4_XS_H

#include <stddef.h>
#include <stdint.h>

/* rows[n] is column n's GGUF block, NULL for padding columns (left zero;
 * `o` must be zeroed by the caller). */
void iq4xs_pack_psb(uint8_t *o, const uint8_t *const rows[16]);
/* Writes the GGUF blocks of the columns whose rows[n] is not NULL. */
void iq4xs_unpack_psb(const uint8_t *p, uint8_t *const rows[16]);

/* Shared with repack_kquants.c: 4-byte gathers between GGUF quant bytes at
 * offset `off` of each block and `nlines` 64-byte lines. */
void kq_gather_lines(uint8_t *lines, const uint8_t *const rows[16], size_t off, int nlines);
void kq_scatter_lines(const uint8_t *lines, uint8_t *const rows[16], size_t off, int nlines);

#endif
