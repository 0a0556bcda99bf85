/* What this CPU and OS can run, probed once per process. */
#ifndef AMXQ_CPU_H
#define AMXQ_CPU_H

#include "amxq.h"

/* 1 if `isa` can run here (after the AMXQ_MAX_ISA cap); *why gets a static
 * reason string either way. */
int amxq_isa_usable(amx_isa isa, const char **why);
amx_isa amxq_best_isa(void);
const char *amxq_cpu_report(void);

#endif
