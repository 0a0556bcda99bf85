/*
 * Kernel policies that depend on the microarchitecture rather than on the
 * ISA: chosen once per process from CPUID, here and nowhere else, with the
 * measurements behind each choice in tuning.c. No policy changes a result
 * bitwise; they only move bytes at a different time.
 */
#ifndef AMXQ_TUNING_H
#define AMXQ_TUNING_H

typedef struct {
    /* The 256-element VNNI kernels (K-quants, IQ4_XS) at m = 1 prefetch
     * each panel in software, as they always do from m = 2 on. */
    int kq_decode_prefetch;
    /* The VNNI kernels that stream one 16-column panel at a time (the
     * 32-element types Q4_0 ... IQ4_NL, F16 and BF16) at m = 1 prefetch the
     * next panel into L2, as they always do from m = 2 on. */
    int panel_decode_prefetch;
    /* Why: the CPU it was chosen for, or the environment override. */
    const char *basis;
} amxq_tuning;

const amxq_tuning *amxq_tuning_get(void);

#endif
