/*
 * Kernel policies that depend on the microarchitecture rather than on the
 * ISA: chosen once per process from CPUID, here and nowhere else, with the
 * measurements behind each choice in tuning.c. No policy changes a result
 * bitwise; they only move bytes at a different time.
 */
#ifndef AMXQ_TUNING_H
#define AMXQ_TUNING_H

#include "kernel.h" /* the AMX blocking's defaults and limits */

typedef struct {
    /* The 256-element VNNI kernels (K-quants, IQ4_XS) at m = 1 prefetch
     * each panel in software, as they always do from m = 2 on. */
    int kq_decode_prefetch;
    /* The VNNI kernels that stream one 16-column panel at a time (the
     * 32-element types Q4_0 ... IQ4_NL, F16 and BF16) at m = 1 prefetch the
     * next panel into L2, as they always do from m = 2 on. */
    int panel_decode_prefetch;
    /* AMX tile kernels (src/tiles/amx_common.h): the most activation rows a
     * work item sweeps over each weight panel, and the activation bytes of
     * those rows kept in L2 (the K range a panel's unpack covers at once).
     * 0 inner: each unpacked K range runs whole for every row sub-block;
     * n > 0: n units at a time, all row sub-blocks over each. */
    int amx_rows_block;
    int amx_a_l2_kib;
    int amx_inner_units;
    /* Why: the CPU it was chosen for, or the environment override. */
    const char *basis;
} amxq_tuning;

const amxq_tuning *amxq_tuning_get(void);

#endif
