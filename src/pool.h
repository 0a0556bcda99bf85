/* The library's own persistent worker pool, used only by the convenience
 * calls (amx_pack_weights, amx_gemm_q). Engines that own their threads use
 * the (ith, nth) entry points and never touch it. */
#ifndef AMXQ_POOL_H
#define AMXQ_POOL_H

typedef void (*amxq_task_fn)(void *ctx, int ith, int nth);

/* Runs phase1(ctx, ith, nth) for every ith in [0, nth), waits for all of them,
 * then phase2 likewise (phase2 may be NULL). The caller's thread takes ith 0.
 * If the pool is busy with another caller's job, this caller runs every ith
 * itself, in order: work splits never change results, so that is only slower. */
void amxq_pool_run(int nth, amxq_task_fn phase1, amxq_task_fn phase2, void *ctx);

#define AMXQ_MAX_THREADS 1024

#endif
