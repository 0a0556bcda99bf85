/*
 * The timing model's machines and arithmetic (amx_model.h).
 */
#include "amx_model.h"

const amx_machine amx_machines[] = {
    {
        .name = "xeon167",
        .what = "Intel Xeon family 6 model 167, KVM guest: probes pinned to one core, best of 5. TDPBSSD "
                "16x16x64 (and 16x16x32) 5.45 ns = 16 clocks; TILELOADD of 1 KiB 6.7 ns with a 512 KiB "
                "working set (2.9 from L1); TILESTORED 5.0 ns to L1; TILEZERO + TDP + TILESTORED 9.9 ns, "
                "so TILEZERO is hidden; AVX-512: 2 per clock (ports 0 and 5)",
        .tdp_ns = 5.45,
        .load_ns = 6.7,
        .store_ns = 5.0,
        .zero_ns = 0.0,
        .cfg_ns = 0.0,
        .cycle_ns = 5.45 / 16,
        .vec_per_cycle = 2,
    },
    {
        .name = "xeon207",
        .what = "Intel Xeon family 6 model 207 (Emerald Rapids), KVM guest: amxq-bench's probes. TDPBSSD "
                "16x16x64 into 4 C tiles 2.33 TOPS = 14.1 ns; TILELOADD of 1 KiB from L1 175 GB/s = 5.9 ns; "
                "TILESTORED not measured there, taken as 1.72x a load as on model 167; the clock from the "
                "vpdpbusd zmm peak, ~545 GOPS at 256 ops per clock = 0.47 ns; AVX-512: 2 per clock",
        .tdp_ns = 14.1,
        .load_ns = 5.9,
        .store_ns = 5.9 * 5.0 / 2.9,
        .zero_ns = 0.0,
        .cfg_ns = 0.0,
        .cycle_ns = 256.0 / 545.0,
        .vec_per_cycle = 2,
    },
    {0},
};

amx_prediction amx_predict(const amx_machine *mc, double tdp, double loads, double stores, double zero, double cfg,
                           double vector_ops_per_block, double block_macs) {
    amx_prediction p;
    p.tile_ns = tdp * mc->tdp_ns + loads * mc->load_ns + stores * mc->store_ns + zero * mc->zero_ns + cfg * mc->cfg_ns;
    p.vector_ns = vector_ops_per_block * (1000.0 / block_macs) / mc->vec_per_cycle * mc->cycle_ns;
    /* 1,000 MACs are 2,000 ops; ops per ns are GOPS */
    p.serial_gops = 2000.0 / (p.tile_ns + p.vector_ns);
    p.overlap_gops = 2000.0 / (p.tile_ns > p.vector_ns ? p.tile_ns : p.vector_ns);
    return p;
}
