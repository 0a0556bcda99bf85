/*
 * The one table of kernel variants. Each row is a (weight type, ISA) pair
 * with its packed layout, its packer and its kernels. Dispatch, the tests and
 * the benchmark all iterate this same table, so a kernel cannot exist
 * untested.
 */
#ifndef AMXQ_DISPATCH_H
#define AMXQ_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "amxq.h"

typedef struct amx_variant amx_variant;

/* Packed-layout header, the first 64 bytes of every packed payload. */
typedef struct {
    char magic[8];       /* "AMXQPACK" */
    uint32_t version;    /* layout version, bumped whenever a layout changes */
    uint32_t type;       /* amx_type */
    int64_t n, k;
    char layout[32];     /* layout name, NUL-terminated */
} amx_pack_header;
_Static_assert(sizeof(amx_pack_header) == 64, "pack header is one cache line");
#define AMXQ_PACK_LAYOUT_VERSION 2 /* 2: q6_Kp16 lines in first-use order */

struct amx_weights {
    uint64_t magic;            /* AMXQ_WEIGHTS_MAGIC while alive */
    const amx_variant *v;
    amx_type type;
    int32_t amx_min_m;         /* default AMX threshold (AMX rows only) */
    int64_t n, k;
    int64_t kb;                /* blocks per row */
    size_t gguf_bytes;
    uint8_t *base;             /* allocation: header, then payload */
    size_t packed_bytes;       /* header + payload */
    const uint8_t *data;       /* payload, 64-byte aligned */
};
#define AMXQ_WEIGHTS_MAGIC 0x616d78712d777431ull

/* A range of output rows [m0, m1) and columns [n0, n1) is one unit of work
 * that writes only those outputs. */
struct amx_variant {
    const char *name;    /* "<isa>_<type>", e.g. "vnni512_q4_0" */
    amx_type type;
    amx_isa isa;
    const char *layout;  /* packed layout name */

    /* Packing: the payload holds n_units * unit rows (padded); units are
     * packed independently, so packing parallelizes over them. */
    int32_t pack_rows;   /* rows per pack unit */
    size_t (*packed_size)(amx_type type, int64_t n, int64_t k); /* payload bytes */
    void (*pack)(const amx_weights *w, uint8_t *dst, const void *src, int64_t unit0, int64_t unit1);
    void (*unpack)(const amx_weights *w, void *dst, int64_t unit0, int64_t unit1);

    /* Activations: workspace bytes for m rows (64-byte aligned start), and the
     * quantizer of rows [m0, m1) into it. The quantizer writes only the
     * workspace bytes of those rows: the row ranges of different threads (or
     * of an engine's (ith, nth) shares) are filled concurrently. */
    size_t (*act_size)(const amx_weights *w, int64_t m);
    void (*quantize)(const amx_weights *w, const float *x, int64_t ldx, int64_t m, void *ws,
                     int64_t m0, int64_t m1);

    /* Compute: the work is a grid of `n_items(w, m, opts)` items (opts: the
     * resolved amx_call_opts, since an AMX row may split differently on tiles
     * than on its VNNI path); items write
     * disjoint outputs and their split never changes any result. */
    int64_t (*n_items)(const amx_weights *w, int64_t m, const void *opts);
    void (*compute)(const amx_weights *w, int64_t m, const void *ws, float *y, int64_t ldy,
                    int64_t item0, int64_t item1, const void *opts);

    /* AMX rows: the default smallest m run on tiles (smaller m runs the
     * VNNI kernels); overridable per call and by AMXQ_AMX_MIN_M. 0 elsewhere. */
    int32_t amx_min_m;

    /* Name of the kernel that runs for m rows. */
    const char *(*kernel_name)(const amx_weights *w, int64_t m);
};

/* Per-call options the kernels see (resolved from amx_gemm_opts). */
typedef struct {
    int32_t amx_min_m; /* AMX rows: m >= amx_min_m runs on tiles */
} amx_call_opts;

const amx_variant *amxq_variants(size_t *count);
const amx_variant *amxq_find_variant(amx_type type, amx_isa isa);

/* Balanced contiguous split of n items over nth workers. */
static inline void amxq_split(int64_t n, int ith, int nth, int64_t *b, int64_t *e) {
    *b = n * ith / nth;
    *e = n * (ith + 1) / nth;
}

#endif
