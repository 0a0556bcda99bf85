/* What the public entry points (api.c, api_weights.c) share. */
#ifndef AMXQ_API_INTERNAL_H
#define AMXQ_API_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"

/* Largest n or k accepted: kernels index one row's blocks and bytes with
 * 32-bit integers. n * k is capped so every byte count fits comfortably. */
#define AMXQ_MAX_DIM ((int64_t)1 << 31)
#define AMXQ_MAX_ELEMS ((int64_t)1 << 50)
/* The first published size of amx_pack_opts and amx_open_opts, and the
 * largest option struct we can check. */
#define AMXQ_PACK_OPTS_V0_SIZE 16u
#define AMXQ_OPEN_OPTS_V0_SIZE 12u
#define AMXQ_OPTS_MAX_SIZE 4096u

/* Copies a caller's option struct of `size` bytes into `dst` (`known` bytes,
 * pre-filled with defaults). Smaller than the first published size, larger
 * than we can check, or non-zero bytes we do not know: 0 (invalid). */
int amxq_copy_opts(void *dst, size_t known, const void *src, uint32_t v0_size);
amx_status amxq_read_pack_opts(const amx_pack_opts *o, amx_pack_opts *r);
int amxq_handle_ok(const amx_weights *w);

#endif
