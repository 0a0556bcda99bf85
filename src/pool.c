/*
 * Persistent worker threads, created on first use and grown on demand.
 *
 * Workers sleep on a condition variable between jobs. After finishing a job
 * a worker spins briefly (AMXQ_SPIN_US, default 50 microseconds, with pause
 * and yield) before sleeping, because decode-sized calls arrive back to back
 * and a futex wake-up costs as much as a small multiply. Idle workers never
 * spin longer than that. Between the two phases of a job the threads meet at
 * a barrier that spins, then yields, so oversubscribed machines still progress.
 */

#include "pool.h"

#include "numa.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

typedef struct {
    amxq_task_fn phase1, phase2;
    void *ctx;
    int nth;
} job_t;

static struct {
    pthread_mutex_t run_lock;    /* one job at a time */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    int n_workers;
    job_t job;
    atomic_uint_fast64_t generation;
    atomic_int remaining;        /* workers still in the current job */
    atomic_int barrier_count;
    atomic_uint_fast64_t barrier_gen;
    long spin_ns;
} P = {
    .run_lock = PTHREAD_MUTEX_INITIALIZER,
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};

/* A forked child has none of the parent's workers. */
static void reset_after_fork(void) {
    pthread_mutex_init(&P.run_lock, NULL);
    pthread_mutex_init(&P.mu, NULL);
    pthread_cond_init(&P.wake, NULL);
    pthread_cond_init(&P.done, NULL);
    P.n_workers = 0;
}
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void) { pthread_atfork(NULL, NULL, reset_after_fork); }

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void barrier_wait(int nth) {
    const uint_fast64_t gen = atomic_load_explicit(&P.barrier_gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&P.barrier_count, 1, memory_order_acq_rel) == nth - 1) {
        atomic_store_explicit(&P.barrier_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&P.barrier_gen, 1, memory_order_release);
        return;
    }
    for (int spins = 0; atomic_load_explicit(&P.barrier_gen, memory_order_acquire) == gen; spins++) {
        if (spins < 2000)
            cpu_relax();
        else
            sched_yield();
    }
}

static void run_share(const job_t *job, int ith) {
    job->phase1(job->ctx, ith, job->nth);
    if (job->phase2) {
        barrier_wait(job->nth);
        job->phase2(job->ctx, ith, job->nth);
    }
}

static void *worker_main(void *arg) {
    const int ith = (int)(long)arg; /* this worker's share index */
    amxq_numa_worker_start(ith);     /* on several nodes: pinned to its node's CPUs */
    uint_fast64_t seen = 0;
    for (;;) {
        /* brief spin for back-to-back jobs, then sleep */
        const long until = now_ns() + P.spin_ns;
        int spins = 0;
        while (atomic_load_explicit(&P.generation, memory_order_acquire) == seen) {
            if ((++spins & 255) == 0 && now_ns() > until) break;
            cpu_relax();
        }
        pthread_mutex_lock(&P.mu);
        while (atomic_load_explicit(&P.generation, memory_order_acquire) == seen)
            pthread_cond_wait(&P.wake, &P.mu);
        seen = atomic_load_explicit(&P.generation, memory_order_acquire);
        const job_t job = P.job;
        pthread_mutex_unlock(&P.mu);

        if (ith < job.nth) {
            run_share(&job, ith);
            if (atomic_fetch_sub_explicit(&P.remaining, 1, memory_order_acq_rel) == 1) {
                pthread_mutex_lock(&P.mu);
                pthread_cond_signal(&P.done);
                pthread_mutex_unlock(&P.mu);
            }
        }
    }
    return NULL;
}

/* Makes sure workers 1..nth-1 exist; returns how many shares can run in parallel. */
static int ensure_workers(int nth) {
    pthread_once(&g_atfork_once, install_atfork);
    if (P.spin_ns == 0) {
        const char *s = getenv("AMXQ_SPIN_US");
        const long us = s ? atol(s) : 50;
        P.spin_ns = us > 0 ? us * 1000 : 1;
    }
    while (P.n_workers < nth - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int rc = pthread_create(&t, &attr, worker_main, (void *)(long)(P.n_workers + 1));
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        P.n_workers++;
    }
    return P.n_workers + 1;
}

static void run_inline(int nth, amxq_task_fn phase1, amxq_task_fn phase2, void *ctx) {
    for (int i = 0; i < nth; i++) phase1(ctx, i, nth);
    if (phase2)
        for (int i = 0; i < nth; i++) phase2(ctx, i, nth);
}

void amxq_pool_run(int nth, amxq_task_fn phase1, amxq_task_fn phase2, void *ctx) {
    if (nth <= 1) {
        run_inline(1, phase1, phase2, ctx);
        return;
    }
    if (pthread_mutex_trylock(&P.run_lock) != 0) {
        run_inline(nth, phase1, phase2, ctx);
        return;
    }
    if (ensure_workers(nth) < nth) {
        /* could not create enough threads: same result, fewer threads */
        pthread_mutex_unlock(&P.run_lock);
        run_inline(nth, phase1, phase2, ctx);
        return;
    }
    pthread_mutex_lock(&P.mu);
    P.job = (job_t){phase1, phase2, ctx, nth};
    atomic_store(&P.remaining, nth - 1);
    atomic_store(&P.barrier_count, 0);
    atomic_fetch_add_explicit(&P.generation, 1, memory_order_release);
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);

    run_share(&P.job, 0);

    if (atomic_load_explicit(&P.remaining, memory_order_acquire) != 0) {
        for (int spins = 0; spins < 4000 && atomic_load_explicit(&P.remaining, memory_order_acquire); spins++)
            cpu_relax();
        pthread_mutex_lock(&P.mu);
        while (atomic_load_explicit(&P.remaining, memory_order_acquire) != 0)
            pthread_cond_wait(&P.done, &P.mu);
        pthread_mutex_unlock(&P.mu);
    }
    pthread_mutex_unlock(&P.run_lock);
}
