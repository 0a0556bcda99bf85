/*
 * The contract between the core (api.c) and the kernel families (ref/,
 * vnni/, tiles/): the packed-weight handle, the per-call options a kernel
 * sees, the plan a family's select makes for one call, and the balanced work
 * split. Families include this header and the headers below them (formats,
 * repack); never the dispatch table (dispatch.h) or the core.
 *
 * One decision per call. For each multiply the core asks the handle's row
 * once: select(w, m, opts, &plan). The plan names the kernel that will run,
 * its work-item blocking, the number of items and the compute entry; the core
 * then runs plan.compute over items split between threads, and
 * amx_weights_kernel / amx_gemm_kernel report plan.kernel, so the name a
 * caller is told is the kernel that runs.
 */
#ifndef AMXQ_KERNEL_H
#define AMXQ_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "amxq.h"

struct amxq_variant; /* dispatch.h: the core's table row */

/* The packed-weight handle behind amx_weights. */
struct amx_weights {
    uint64_t magic;                 /* AMXQ_WEIGHTS_MAGIC while alive */
    const struct amxq_variant *v;   /* the table row (the core's business) */
    const void *impl;               /* the row's per-type kernel descriptor, defined by its family */
    amx_type type;
    int32_t amx_min_m;              /* default AMX threshold (AMX rows only) */
    int64_t n, k;
    int64_t kb;                     /* blocks per row */
    size_t gguf_bytes;
    const uint8_t *image;           /* the packed image: header, then payload */
    size_t packed_bytes;            /* image bytes: header + payload */
    const uint8_t *data;            /* payload, 64-byte aligned */
    amx_memory memory;              /* who owns the image */
    void *owned;                    /* what amx_weights_free releases: an allocation
                                       (LIBRARY) or a mapping of owned_bytes (MAPPED) */
    size_t owned_bytes;
    /* Expert handles (amx_pack_experts): n_expert matrices of n x k, each
     * packed as its own payload of expert_stride bytes, one after the other
     * from data. 0 for a plain matrix handle. Kernels never see an expert
     * handle: the core hands them one expert's view (amxq_expert_view). */
    int64_t n_expert;
    size_t expert_stride;
    struct amxq_place *place;       /* NUMA placement (numa.h); NULL: placed as without NUMA */
};
#define AMXQ_WEIGHTS_MAGIC 0x616d78712d777431ull

/* Per-call options as the kernels see them, resolved from amx_gemm_opts and
 * the handle's defaults. */
/* The AMX blocking's defaults (tuning.c chooses, tiles/amx_common.h explains):
 * rows per work item, activation KiB per K chunk in L2; and the largest row
 * block (the tile driver's stack buffer of its fp32 sums). */
#define AMX_ROWS_BLOCK_DEFAULT 256
#define AMX_ROWS_BLOCK_MAX 256
#define AMX_A_L2_KIB_DEFAULT 1024

typedef struct {
    int32_t amx_min_m; /* AMX rows: m >= amx_min_m runs on tiles */
    int32_t kq_decode_prefetch; /* 256-element VNNI kernels prefetch at m = 1 (tuning.c) */
    int32_t panel_decode_prefetch; /* 32-element and F16/BF16 VNNI kernels prefetch at m = 1 (tuning.c) */
    int32_t avx512_bf16; /* 1 where the CPU runs AVX512-BF16 (vdpbf16ps) and
                            it is not turned off (cpu.c); BF16 kernels fall
                            back to FMA otherwise */
    int32_t amx_bf16;    /* 1 where tiles run TDPBF16PS (AMX-BF16) */
    /* AMX blocking (tuning.c): rows per work item at most, activation KiB a
     * K chunk keeps in L2, units per inner step (0: the whole chunk) */
    int32_t amx_rows_block, amx_a_l2_kib, amx_inner_units;
} amxq_call_opts;

typedef struct amxq_plan amxq_plan;

/* Work items [item0, item1) of the plan: each item writes only its outputs
 * (a rows_block x cols_block rectangle of y, smaller at the edges), and how
 * items are split never changes a result. */
typedef void (*amxq_compute_fn)(const amxq_plan *p, const amx_weights *w, int64_t m, const void *ws,
                                float *y, int64_t ldy, int64_t item0, int64_t item1);

/* How a plan numbers its items over the grid of (row block, column block)
 * rectangles. The core needs it to find the outputs of a range of items
 * (the epilogue, the expert call's scatter); a plan that leaves it unset
 * still works there, as one item covering the whole output (the same
 * results, without splitting that multiply between threads). */
typedef enum {
    AMXQ_ITEMS_UNSET = 0,
    AMXQ_ITEMS_ROWS_FASTEST = 1, /* item = column block * row_blocks + row block */
    AMXQ_ITEMS_COLS_FASTEST = 2  /* item = row block * column_blocks + column block */
} amxq_item_order;

struct amxq_plan {
    const char *kernel;      /* the name of the kernel that runs */
    int64_t rows_block;      /* activation rows per work item */
    int64_t cols_block;      /* output columns per work item */
    int64_t n_items;
    amxq_compute_fn compute;
    const void *impl;        /* the family descriptor compute runs with */
    int32_t prefetch_m1;     /* software prefetch at m = 1 (from amxq_call_opts) */
    amxq_item_order order;   /* how items map to rectangles */
    /* Tile plans: K units (blocks, superblocks or K steps) per chunk that a
     * work item unpacks at once, and per inner step over its row blocks. */
    int64_t k_units_block, k_units_inner;
};

/* Balanced contiguous split of n items over nth workers. */
static inline void amxq_split(int64_t n, int ith, int nth, int64_t *b, int64_t *e) {
    *b = n * ith / nth;
    *e = n * (ith + 1) / nth;
}

#endif
