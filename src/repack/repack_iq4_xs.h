/* IQ4_XS <-> iq4_xsp16 panel superblocks (layout: repack_kquants.h). */
#ifndef AMXQ_REPACK_IQ4_XS_H
#define AMXQ_REPACK_IQ4_XS_H

#include <stddef.h>
#include <stdint.h>

#define IQ4XS_PSB 2240
#define IQ4XS_OFF_D 0
#define IQ4XS_OFF_LS 64
#define IQ4XS_OFF_QS 192

void amxq_iq4xs_pack_psb(uint8_t *o, const uint8_t *const rows[16]);
void amxq_iq4xs_unpack_psb(const uint8_t *p, uint8_t *const rows[16]);

#endif
