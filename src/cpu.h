/* What this CPU and OS can run, probed once per process. */
#ifndef AMXQ_CPU_H
#define AMXQ_CPU_H

#include <stddef.h>

#include "amxq.h"

/* 1 if `isa` can run here (after the AMXQ_MAX_ISA cap); *why gets a static
 * reason string either way. */
int amxq_isa_usable(amx_isa isa, const char **why);
amx_isa amxq_best_isa(void);
/* The kernel families AUTO tries, best first (the order is a decision, not
 * the enum's numbering): AMX, then AVX-512 VNNI, then the scalar reference. */
const amx_isa *amxq_isa_preference(size_t *count);
/* "auto", "scalar", "avx512_vnni", "amx"; "unknown" for other values. */
const char *amxq_isa_name(amx_isa isa);
const char *amxq_cpu_report(void);
/* Extensions some types' kernels use within a family (see cpu.c): 1 where
 * vdpbf16ps (and not AMXQ_TEST_NO_AVX512_BF16) / TDPBF16PS can run. */
int amxq_cpu_avx512_bf16(void);
int amxq_cpu_amx_bf16(void);

#endif
