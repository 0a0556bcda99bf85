/*
 * OpenBLAS sgemm on the dequantized F32 weights: C[m, n] = A[m, k] . W[n, k]^T
 * (cblas_sgemm, row-major, W transposed), the float baseline a user would
 * reach for. Weights stay in ggml's row layout [n, k]; OpenBLAS packs panels
 * inside every call, which is part of its cost.
 *
 * OpenBLAS picks its kernels ("core type") when the library loads, and the
 * OPENBLAS_CORETYPE environment variable overrides that choice: a forced
 * older core can be much slower than the autodetected one, so the driver
 * prints the core actually used next to every OpenBLAS figure.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#if AMXQ_BENCH_OPENBLAS
#include <cblas.h>

struct openblas_peer {
    int64_t n, k, max_m;
    int copies;
    float **w;
    const float *x;
    float *y;
};

int openblas_available(char *desc, size_t len) {
    const char *env = getenv("OPENBLAS_CORETYPE");
    snprintf(desc, len, "%s, core %s%s%s%s", openblas_get_config(), openblas_get_corename(),
             env ? " (forced by OPENBLAS_CORETYPE=" : " (autodetected)", env ? env : "", env ? ")" : "");
    return 1;
}

const char *openblas_core(void) { return openblas_get_corename(); }

openblas_peer *openblas_create(float *w, int64_t n, int64_t k, int copies, const float *x, int64_t max_m) {
    openblas_peer *p = calloc(1, sizeof *p);
    if (!p) {
        free(w);
        return NULL;
    }
    p->n = n;
    p->k = k;
    p->max_m = max_m;
    p->copies = copies;
    p->x = x;
    p->w = calloc((size_t)copies, sizeof *p->w);
    p->y = malloc((size_t)(max_m * n) * sizeof(float));
    if (p->w)
        p->w[0] = w;
    else
        free(w);
    if (!p->w || !p->y) {
        openblas_free(p);
        return NULL;
    }
    for (int c = 1; c < copies; c++) {
        p->w[c] = malloc((size_t)(n * k) * sizeof(float));
        if (!p->w[c]) {
            openblas_free(p);
            return NULL;
        }
        memcpy(p->w[c], w, (size_t)(n * k) * sizeof(float));
    }
    return p;
}

void openblas_run(openblas_peer *p, int64_t m, int threads, int copy) {
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m, (blasint)p->n, (blasint)p->k, 1.0f, p->x,
                (blasint)p->k, p->w[copy % p->copies], (blasint)p->k, 0.0f, p->y, (blasint)p->n);
}

void openblas_free(openblas_peer *p) {
    if (!p) return;
    if (p->w)
        for (int c = 0; c < p->copies; c++) free(p->w[c]);
    free(p->w);
    free(p->y);
    free(p);
}

#else /* built without OpenBLAS */

int openblas_available(char *desc, size_t len) {
    snprintf(desc, len, "not built: OpenBLAS (cblas) was not found when the build was configured");
    return 0;
}
const char *openblas_core(void) { return "none"; }
openblas_peer *openblas_create(float *w, int64_t n, int64_t k, int copies, const float *x, int64_t max_m) {
    (void)n, (void)k, (void)copies, (void)x, (void)max_m;
    free(w);
    return NULL;
}
void openblas_run(openblas_peer *p, int64_t m, int threads, int copy) { (void)p, (void)m, (void)threads, (void)copy; }
void openblas_free(openblas_peer *p) { (void)p; }

#endif
