/*
 * Grow-only per-thread scratch buffers: one buffer per slot and thread, kept
 * from call to call, reallocated only when a call needs more, freed when the
 * thread exits (a pthread key destructor per slot). The slots are
 * independent, so buffers that are live in the same call never share memory.
 */
#ifndef AMXQ_SCRATCH_H
#define AMXQ_SCRATCH_H

#include <stddef.h>

typedef enum {
    AMXQ_SCRATCH_WORKSPACE, /* api.c: the activation workspace of amx_gemm_q */
    AMXQ_SCRATCH_TILES,     /* src/tiles: the unpacked weight panels of amxq_tile_drive */
    AMXQ_SCRATCH_EPILOGUE,  /* api.c: the outputs an accumulating compute share overwrites */
    AMXQ_SCRATCH_SLOTS
} amxq_scratch_slot;

/* The calling thread's buffer of `slot`, at least `bytes` long and aligned
 * to `align` (a power of two, the same on every call for a slot), or NULL if
 * it cannot be allocated. Growing frees the old buffer: its contents are not
 * kept, and a pointer from an earlier call is valid only until a call that
 * grows it. */
void *amxq_scratch_get(amxq_scratch_slot slot, size_t bytes, size_t align);

/* Frees the calling thread's buffer of `slot` if it is larger than
 * keep_max bytes. */
void amxq_scratch_trim(amxq_scratch_slot slot, size_t keep_max);

#endif
