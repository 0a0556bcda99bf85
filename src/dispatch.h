/*
 * The one table of kernel variants. Each row is a (weight type, ISA) pair
 * with its packed layout, its packer, its activation quantizer and its
 * select (kernel.h), bound to the family's descriptor for that type. The
 * core, the tests and the benchmark iterate this same table, so a kernel
 * cannot exist untested. Only the core and tools above it include this
 * header; the families include kernel.h.
 */
#ifndef AMXQ_DISPATCH_H
#define AMXQ_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "kernel.h"

typedef struct amxq_variant amxq_variant;

/* Bumped whenever a packed layout changes: images of another layout version
 * are refused (image.h). 2: q6_Kp16 lines in first-use order. */
#define AMXQ_PACK_LAYOUT_VERSION 2

struct amxq_variant {
    const char *name;    /* "<isa>_<type>", e.g. "vnni512_q4_0" */
    amx_type type;
    amx_isa isa;
    const char *layout;  /* packed layout name */
    const void *impl;    /* the family's descriptor for this type (copied into the handle) */

    /* Packing: the payload holds n_units * unit rows (padded); units are
     * packed independently, so packing parallelizes over them. The handle
     * passed has type, n, k, kb and impl set. */
    int32_t pack_rows;   /* rows per pack unit */
    size_t (*packed_size)(const amx_weights *w); /* payload bytes */
    void (*pack)(const amx_weights *w, uint8_t *dst, const void *src, int64_t unit0, int64_t unit1);
    void (*unpack)(const amx_weights *w, void *dst, int64_t unit0, int64_t unit1);

    /* Activations: workspace bytes for m rows (64-byte aligned start), and the
     * quantizer of rows [m0, m1) into it. The quantizer writes only the
     * workspace bytes of those rows: the row ranges of different threads (or
     * of an engine's (ith, nth) shares) are filled concurrently. */
    size_t (*act_size)(const amx_weights *w, int64_t m);
    void (*quantize)(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws,
                     int64_t m0, int64_t m1);
    /* What the quantizer writes, among handles with the same quantizer and k:
     * two handles whose rows have the same quantize and act_format, and the
     * same k, fill identical workspaces, so one quantization serves both
     * (amx_weights_share_activations, amx_gemm_q_multi). */
    uint32_t (*act_format)(const amx_weights *w);
    /* Copies row i_src of an m_src-row workspace to row i_dst of an m_dst-row
     * workspace: afterwards dst's row holds exactly what quantize would have
     * written there. The expert call quantizes each activation row once and
     * copies it to every expert the row goes to. Optional: without it (NULL)
     * that call quantizes the row again for each expert (the same bytes). */
    void (*act_copy_row)(const amx_weights *w, const void *src, int64_t m_src, int64_t i_src, void *dst,
                         int64_t m_dst, int64_t i_dst);

    /* The plan for an m-row multiply (m >= 1) with these options. */
    void (*select)(const amx_weights *w, int64_t m, const amxq_call_opts *opts, amxq_plan *out);

    /* AMX rows: the default smallest m run on tiles (smaller m runs the
     * VNNI kernels); overridable per call and by AMXQ_AMX_MIN_M. 0 elsewhere. */
    int32_t amx_min_m;
};

const amxq_variant *amxq_variants(size_t *count);
const amxq_variant *amxq_find_variant(amx_type type, amx_isa isa);

#endif
