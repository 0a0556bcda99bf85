/*
 * A timing model of the AMX kernels for machines without AMX: it turns
 * amxq-amx-mix's counted instruction mix (per 1,000 useful MACs) into
 * nanoseconds with per-instruction costs measured on real tiles, so that two
 * designs can be compared where the tiles cannot run. Only hardware figures
 * count: the model has no caches beyond the costs it is given, no
 * activation traffic and no thread effects, and it is checked against the
 * hardware in the README.
 *
 * Two bounds per type, one thread:
 *   tile time   = TDP x t_tdp + tile loads x t_load + stores x t_store
 *                 + TILEZERO x t_zero + LDTILECFG x t_cfg
 *   vector time = (epilogue + unpack vector instructions) / vectors per
 *                 cycle x cycle
 *   serial:  2000 / (tile + vector) GOPS (nothing overlaps)
 *   overlap: 2000 / max(tile, vector) GOPS (the tile unit and the vector
 *            ports run side by side)
 */
#ifndef AMXQ_BENCH_AMX_MODEL_H
#define AMXQ_BENCH_AMX_MODEL_H

typedef struct {
    const char *name;   /* command-line name */
    const char *what;   /* the machine and where each figure came from */
    double tdp_ns;      /* one TDPB*D, any K (a half-K TDP costs a full one) */
    double load_ns;     /* one TILELOADD of up to 1 KiB */
    double store_ns;    /* one TILESTORED */
    double zero_ns;     /* one TILEZERO */
    double cfg_ns;      /* one LDTILECFG */
    double cycle_ns;    /* one core clock */
    double vec_per_cycle; /* AVX-512 instructions issued per clock (ALU and memory alike) */
} amx_machine;

/* The calibrated machines, NULL-terminated. */
extern const amx_machine amx_machines[];

typedef struct {
    double tile_ns, vector_ns;      /* per 1,000 useful MACs */
    double serial_gops, overlap_gops;
} amx_prediction;

/* counts per 1,000 useful MACs (tdp ... cfg); vector instructions per
 * 16 x 16 output tile and K block of `block_macs` useful MACs */
amx_prediction amx_predict(const amx_machine *mc, double tdp, double loads, double stores, double zero, double cfg,
                           double vector_ops_per_block, double block_macs);

#endif
