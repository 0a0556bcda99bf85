/*
 * oneDNN's int8 matmul, the vendor baseline for VNNI/AMX int8 GEMM:
 * u8 activations [m, k] x s8 weights [k, n] -> f32 [m, n] with per-column
 * output scales (the F32-output case that matches amxq's y). The weights are
 * created as format_tag_any and reordered once, outside timing, into the
 * layout the primitive prefers (oneDNN's counterpart of amx_pack_weights).
 * Activations are given as u8: oneDNN's figure does not include quantizing
 * them, amxq's does.
 *
 * oneDNN (Debian's build) threads with OpenMP and sizes its work split when
 * the primitive is created, so each (m, threads) gets its own primitive,
 * created after omp_set_num_threads().
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#if AMXQ_BENCH_ONEDNN
#include <dnnl.h>
#include <omp.h>

struct onednn_peer {
    int64_t n, k, max_m;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    int8_t *w_user;       /* W[n][k] row-major = [k, n] with tag ba */
    uint8_t *x;           /* u8 activations, max_m x k */
    float *y;
    float *scales;        /* per output column */
    dnnl_memory_desc_t w_md; /* layout of the reordered copies */
    int have_w;
    int copies;
    dnnl_memory_t *w_mem;
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst;
};

int onednn_available(char *desc, size_t len) {
    const dnnl_version_t *v = dnnl_version();
    const int hash = v->hash && strcmp(v->hash, "N/A") != 0;
    snprintf(desc, len, "oneDNN %d.%d.%d%s%s%s, cpu runtime %s", v->major, v->minor, v->patch, hash ? " (" : "",
             hash ? v->hash : "", hash ? ")" : "", v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
    return 1;
}

onednn_peer *onednn_create(int64_t n, int64_t k, int64_t max_m, uint64_t seed) {
    onednn_peer *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    p->k = k;
    p->max_m = max_m;
    p->w_user = malloc((size_t)(n * k));
    p->x = malloc((size_t)(max_m * k));
    p->y = malloc((size_t)(max_m * n) * sizeof(float));
    p->scales = malloc((size_t)n * sizeof(float));
    if (!p->w_user || !p->x || !p->y || !p->scales || dnnl_engine_create(&p->eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&p->stream, p->eng, dnnl_stream_default_flags) != dnnl_success) {
        onednn_free(p);
        return NULL;
    }
    bench_gen_bytes((size_t)(n * k), seed, (uint8_t *)p->w_user, -127, 127);
    bench_gen_bytes((size_t)(max_m * k), seed + 1, p->x, 0, 255);
    for (int64_t j = 0; j < n; j++) p->scales[j] = 1e-4f * (float)(1 + j % 7);
    return p;
}

static void drop_primitive(onednn_peer *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->src) dnnl_memory_destroy(p->src);
    if (p->dst) dnnl_memory_destroy(p->dst);
    p->prim = NULL;
    p->src = p->dst = NULL;
}

static void drop_weights(onednn_peer *p) {
    for (int c = 0; c < p->copies; c++)
        if (p->w_mem[c]) dnnl_memory_destroy(p->w_mem[c]);
    free(p->w_mem);
    p->w_mem = NULL;
    p->copies = 0;
    p->have_w = 0;
}

/* Reorders the user weights into `copies` buffers of layout md. */
static int make_weights(onednn_peer *p, const dnnl_memory_desc_t *md, int copies) {
    drop_weights(p);
    dnnl_memory_desc_t user_md;
    const dnnl_dims_t wd = {p->k, p->n};
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t user = NULL;
    int ok = dnnl_memory_desc_init_by_tag(&user_md, 2, wd, dnnl_s8, dnnl_ba) == dnnl_success &&
             dnnl_memory_create(&user, &user_md, p->eng, p->w_user) == dnnl_success &&
             dnnl_reorder_primitive_desc_create(&rpd, &user_md, p->eng, md, p->eng, NULL) == dnnl_success &&
             dnnl_primitive_create(&reorder, rpd) == dnnl_success;
    p->w_mem = calloc((size_t)copies, sizeof *p->w_mem);
    ok = ok && p->w_mem;
    if (ok) p->copies = copies;
    for (int c = 0; ok && c < copies; c++) {
        ok = dnnl_memory_create(&p->w_mem[c], md, p->eng, DNNL_MEMORY_ALLOCATE) == dnnl_success;
        const dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, p->w_mem[c]}};
        ok = ok && dnnl_primitive_execute(reorder, p->stream, 2, args) == dnnl_success &&
             dnnl_stream_wait(p->stream) == dnnl_success;
    }
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (user) dnnl_memory_destroy(user);
    if (!ok) {
        drop_weights(p);
        return 0;
    }
    p->w_md = *md;
    p->have_w = 1;
    return 1;
}

int onednn_prepare(onednn_peer *p, int64_t m, int threads, int copies, char *impl, size_t len) {
    drop_primitive(p);
    omp_set_num_threads(threads);
    dnnl_memory_desc_t src_md, w_any, dst_md;
    const dnnl_dims_t sd = {m, p->k}, wd = {p->k, p->n}, dd = {m, p->n};
    dnnl_matmul_desc_t mm;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    const char *what = "descriptor";
    int ok = dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dnnl_u8, dnnl_ab) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&w_any, 2, wd, dnnl_s8, dnnl_format_tag_any) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab) == dnnl_success &&
             dnnl_matmul_desc_init(&mm, &src_md, &w_any, NULL, &dst_md) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success &&
             dnnl_primitive_attr_set_output_scales(attr, p->n, 1 << 1, p->scales) == dnnl_success;
    if (ok) {
        what = "primitive";
        ok = dnnl_primitive_desc_create(&pd, &mm, attr, p->eng, NULL) == dnnl_success &&
             dnnl_primitive_create(&p->prim, pd) == dnnl_success &&
             dnnl_memory_create(&p->src, &src_md, p->eng, p->x) == dnnl_success &&
             dnnl_memory_create(&p->dst, &dst_md, p->eng, p->y) == dnnl_success;
    }
    if (ok) {
        const char *name = "?";
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
        snprintf(impl, len, "%s", name);
        /* the preferred layout can change with m: reorder again only then */
        const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        what = "weight reorder";
        ok = md && ((p->have_w && p->copies == copies && dnnl_memory_desc_equal(&p->w_md, md)) ||
                    make_weights(p, md, copies));
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) {
        drop_primitive(p);
        snprintf(impl, len, "oneDNN %s failed", what);
    }
    return ok;
}

void onednn_run(onednn_peer *p, int copy) {
    const dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, p->src}, {DNNL_ARG_WEIGHTS, p->w_mem[copy % p->copies]}, {DNNL_ARG_DST, p->dst}};
    dnnl_primitive_execute(p->prim, p->stream, 3, args);
    dnnl_stream_wait(p->stream);
}

size_t onednn_weight_bytes(const onednn_peer *p) { return (size_t)(p->n * p->k); }

void onednn_free(onednn_peer *p) {
    if (!p) return;
    drop_primitive(p);
    drop_weights(p);
    if (p->stream) dnnl_stream_destroy(p->stream);
    if (p->eng) dnnl_engine_destroy(p->eng);
    free(p->w_user);
    free(p->x);
    free(p->y);
    free(p->scales);
    free(p);
}

#else /* built without oneDNN */

int onednn_available(char *desc, size_t len) {
    snprintf(desc, len, "not built: oneDNN (dnnl.h, libdnnl) was not found when the build was configured");
    return 0;
}
onednn_peer *onednn_create(int64_t n, int64_t k, int64_t max_m, uint64_t seed) {
    (void)n, (void)k, (void)max_m, (void)seed;
    return NULL;
}
int onednn_prepare(onednn_peer *p, int64_t m, int threads, int copies, char *impl, size_t len) {
    (void)p, (void)m, (void)threads, (void)copies;
    snprintf(impl, len, "not built");
    return 0;
}
void onednn_run(onednn_peer *p, int copy) { (void)p, (void)copy; }
size_t onednn_weight_bytes(const onednn_peer *p) { (void)p; return 0; }
void onednn_free(onednn_peer *p) { (void)p; }

#endif
