/*
 * Expert tensors: amx_pack_experts and amx_gemm_q_experts (ggml's
 * mul_mat_id), on the library's pool and on the caller's threads.
 *
 * For every type and family this machine runs (AMX on the tile emulator in
 * the `_emu` build, at its default threshold, where experts with few rows
 * run VNNI and the others tiles, and with tiles from m = 1): many routings
 * (all rows to one expert, empty experts, an id repeated within a row, top-1,
 * top-2 and top-8, M = 1, 3, 17 and 512), each output row bitwise equal to
 * amx_gemm_q on that expert alone (packed as its own matrix) with the rows
 * routed to it, in order, as its x; y's padding untouched; the same for
 * 1 and 3 pool threads and for the split API with several share counts; the
 * epilogue (bias per expert, accumulate) equal to its separate passes. Then
 * the handle: size query, packing into caller memory, the image (format 2,
 * n_expert at offset 104) saved, opened and unpacked to the original blocks,
 * a matrix image still format 1; and refusals: bad ids, matrix calls on
 * expert handles and the reverse, all with y untouched.
 */
#include <string.h>

#include "common.h"

static int g_routings;

typedef struct {
    amx_type t;
    amx_isa isa;
    int64_t ne, n, k;
    uint8_t *gguf;       /* ne experts' blocks */
    amx_weights *h;      /* the expert handle */
    amx_weights **each;  /* each expert packed alone */
} experts;

static int make(experts *e, amx_type t, amx_isa isa, int64_t ne, int64_t n, int64_t k) {
    *e = (experts){t, isa, ne, n, k, NULL, NULL, NULL};
    const size_t per = gguf_bytes(t, n, k);
    e->gguf = malloc(per * (size_t)ne);
    for (int64_t i = 0; i < ne; i++) gen_weights(t, n, k, e->gguf + per * (size_t)i, GEN_NORMAL);
    const amx_pack_opts po = {.size = sizeof po, .isa = isa, .n_threads = 2};
    if (amx_pack_experts(t, ne, n, k, e->gguf, per * (size_t)ne, &po, &e->h) != AMX_OK) return 0;
    e->each = calloc((size_t)ne, sizeof *e->each);
    for (int64_t i = 0; i < ne; i++)
        CHECK(amx_pack_weights(t, n, k, e->gguf + per * (size_t)i, per, &po, &e->each[i]) == AMX_OK, "pack one");
    return 1;
}

static void drop(experts *e) {
    for (int64_t i = 0; e->each && i < e->ne; i++) amx_weights_free(e->each[i]);
    free(e->each);
    amx_weights_free(e->h);
    free(e->gguf);
}

/* What the header promises: per expert, amx_gemm_q over its rows in order
 * of (row, slot), scattered to the slots' rows, then the epilogue. */
static void reference(const experts *e, int64_t m, const float *x, const int32_t *ids, int32_t nid, float *y,
                      int64_t ldy, const amx_gemm_opts *o) {
    const int64_t t = m * nid;
    float *xs = malloc(sizeof(float) * (size_t)(t * e->k) + 4);
    float *ys = malloc(sizeof(float) * (size_t)(t * e->n) + 4);
    int64_t *slot = malloc(sizeof(int64_t) * (size_t)t + 8);
    amx_gemm_opts plain = *o;
    plain.bias = NULL;
    plain.flags = 0;
    for (int64_t ex = 0; ex < e->ne; ex++) {
        int64_t c = 0;
        for (int64_t s = 0; s < t; s++)
            if (ids[s] == ex) {
                memcpy(xs + c * e->k, x + (s / nid) * e->k, sizeof(float) * (size_t)e->k);
                slot[c++] = s;
            }
        if (!c) continue;
        CHECK(amx_gemm_q(e->each[ex], c, xs, e->k, ys, e->n, &plain) == AMX_OK, "reference gemm");
        for (int64_t r = 0; r < c; r++)
            for (int64_t j = 0; j < e->n; j++) {
                float v = ys[r * e->n + j];
                if (o->bias) v += o->bias[ex * e->n + j];
                if (o->flags & AMX_GEMM_ACCUMULATE) v = y[slot[r] * ldy + j] + v;
                y[slot[r] * ldy + j] = v;
            }
    }
    free(xs), free(ys), free(slot);
}

typedef enum { R_RANDOM, R_ONE, R_DUP, R_SKEW } routing;

static void make_ids(routing kind, int64_t m, int32_t nid, int64_t ne, int32_t *ids) {
    for (int64_t i = 0; i < m; i++)
        for (int32_t s = 0; s < nid; s++) {
            int32_t v;
            switch (kind) {
            case R_ONE: v = (int32_t)(ne - 1); break;            /* every row to the last expert */
            case R_DUP: v = (int32_t)(rng_u64() % 2); break;      /* ids repeat within rows; experts 2.. empty */
            case R_SKEW: v = rng_u64() % 4 ? 0 : (int32_t)(rng_u64() % (uint64_t)ne); break;
            default: /* distinct per row, as a top-k router gives */
                for (;;) {
                    v = (int32_t)(rng_u64() % (uint64_t)ne);
                    int seen = 0;
                    for (int32_t q = 0; q < s; q++) seen |= ids[i * nid + q] == v;
                    if (!seen || nid > ne) break;
                }
            }
            ids[i * nid + s] = v;
        }
}

static void fill(float *y, size_t count, float v) {
    for (size_t i = 0; i < count; i++) y[i] = v;
}

static void routing_case(const experts *e, routing kind, int64_t m, int32_t nid, int32_t amx_min_m, int epilogue) {
    const int64_t t = m * nid, ldy = e->n + 3;
    const size_t ysz = (size_t)(t * ldy);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)t);
    make_ids(kind, m, nid, e->ne, ids);
    float *x = malloc(sizeof(float) * (size_t)(m * e->k));
    gen_acts(m, e->k, e->k, x);
    float *bias = malloc(sizeof(float) * (size_t)(e->ne * e->n));
    for (int64_t i = 0; i < e->ne * e->n; i++) bias[i] = rng_uniform(-1.0f, 1.0f);
    float *want = malloc(sizeof(float) * ysz), *y = malloc(sizeof(float) * ysz), *old = malloc(sizeof(float) * ysz);
    for (size_t i = 0; i < ysz; i++) old[i] = rng_uniform(-2.0f, 2.0f);
    amx_gemm_opts o = {.size = sizeof o, .amx_min_m = amx_min_m};
    if (epilogue) o.bias = bias, o.flags = AMX_GEMM_ACCUMULATE;
    memcpy(want, old, sizeof(float) * ysz);
    reference(e, m, x, ids, nid, want, ldy, &o);
    const char *tn = amx_type_name(e->t), *fn = amx_isa_name(e->isa);
    for (int threads = 1; threads <= 3; threads += 2) {
        o.n_threads = threads;
        memcpy(y, old, sizeof(float) * ysz);
        CHECK(amx_gemm_q_experts(e->h, m, x, e->k, ids, nid, y, ldy, &o) == AMX_OK, "experts call");
        CHECK(memcmp(y, want, sizeof(float) * ysz) == 0,
              "%s/%s routing %d m=%lld top-%d min_m=%d epilogue=%d threads=%d: not amx_gemm_q per expert", tn, fn,
              (int)kind, (long long)m, nid, amx_min_m, epilogue, threads);
    }
    /* the split API: the two steps with different share counts, shares in any order */
    size_t bytes = 0;
    CHECK(amx_gemm_experts_workspace_size(e->h, m, ids, nid, &bytes) == AMX_OK, "workspace size");
    void *ws = aligned_alloc(64, (bytes + 63) / 64 * 64);
    static const int32_t qn[] = {1, 2, 5}, cn[] = {1, 3, 8};
    for (int v = 0; v < 3; v++) {
        memcpy(y, old, sizeof(float) * ysz);
        amx_status st = AMX_OK;
        for (int32_t i = 0; i < qn[v] && st == AMX_OK; i++)
            st = amx_gemm_experts_quantize(e->h, m, x, e->k, ids, nid, ws, bytes, i, qn[v]);
        for (int32_t i = cn[v] - 1; i >= 0 && st == AMX_OK; i--)
            st = amx_gemm_experts_compute(e->h, m, ids, nid, ws, bytes, y, ldy, i, cn[v], &o);
        CHECK(st == AMX_OK && memcmp(y, want, sizeof(float) * ysz) == 0,
              "%s/%s routing %d m=%lld top-%d split %d/%d: differs (%s)", tn, fn, (int)kind, (long long)m, nid, qn[v],
              cn[v], amx_status_str(st));
    }
    if (bytes >= 64) {
        CHECK(amx_gemm_experts_quantize(e->h, m, x, e->k, ids, nid, ws, bytes - 64, 0, 1) == AMX_ERR_WORKSPACE,
              "a short workspace refused");
    }
    free(ws);
    g_routings++;
    free(ids), free(x), free(bias), free(want), free(y), free(old);
}

static void refusals(const experts *e) {
    const int64_t m = 3, ldy = e->n;
    const int32_t nid = 2;
    int32_t ids[6] = {0, 1, 1, 0, 0, 1};
    float *x = calloc((size_t)(m * e->k), sizeof(float));
    float *y = malloc(sizeof(float) * (size_t)(m * nid * ldy));
    fill(y, (size_t)(m * nid * ldy), 5.0f);
    const int32_t bad_ids[2] = {-1, (int32_t)e->ne};
    for (int b = 0; b < 2; b++) {
        ids[5] = bad_ids[b];
        CHECK(amx_gemm_q_experts(e->h, m, x, e->k, ids, nid, y, ldy, NULL) == AMX_ERR_INVALID_ARG, "bad id %d",
              bad_ids[b]);
        size_t bytes;
        CHECK(amx_gemm_experts_workspace_size(e->h, m, ids, nid, &bytes) == AMX_ERR_INVALID_ARG, "bad id size");
    }
    ids[5] = 1;
    CHECK(amx_gemm_q_experts(e->h, m, x, e->k, ids, 0, y, ldy, NULL) == AMX_ERR_INVALID_ARG, "no ids per row");
    CHECK(amx_gemm_q_experts(e->h, m, x, e->k, NULL, nid, y, ldy, NULL) == AMX_ERR_INVALID_ARG, "NULL ids");
    CHECK(amx_gemm_q_experts(e->h, m, x, e->k, ids, nid, y, e->n - 1, NULL) == AMX_ERR_INVALID_ARG, "ldy < n");
    CHECK(amx_gemm_q_experts(e->each[0], m, x, e->k, ids, nid, y, ldy, NULL) == AMX_ERR_INVALID_ARG,
          "a matrix handle in the expert call");
    CHECK(amx_gemm_q(e->h, m, x, e->k, y, ldy, NULL) == AMX_ERR_INVALID_ARG, "an expert handle in amx_gemm_q");
    size_t bytes;
    CHECK(amx_gemm_workspace_size(e->h, m, &bytes) == AMX_ERR_INVALID_ARG, "an expert handle in the split API");
    CHECK(amx_weights_share_activations(e->h, e->h) == 0, "expert handles share no matrix workspace");
    int untouched = 1;
    for (int64_t i = 0; i < m * nid * ldy; i++) untouched &= y[i] == 5.0f;
    CHECK(untouched, "a refused expert call wrote y");
    CHECK(amx_gemm_q_experts(e->h, 0, NULL, e->k, NULL, nid, NULL, ldy, NULL) == AMX_OK, "m = 0");
    free(x), free(y);
}

/* The handle and its image. */
static void image(const experts *e) {
    amx_weights_info info = {.size = sizeof info};
    CHECK(amx_weights_query(e->h, &info) == AMX_OK && info.n_expert == e->ne && info.n == e->n && info.k == e->k,
          "query reports n_expert");
    CHECK(info.gguf_bytes == gguf_bytes(e->t, e->n, e->k) * (uint64_t)e->ne, "gguf_bytes covers every expert");
    amx_weights_info one = {.size = sizeof one};
    amx_weights_query(e->each[0], &one);
    CHECK(one.n_expert == 0, "a matrix handle reports n_expert 0");
    const amx_pack_opts po = {.size = sizeof po, .isa = e->isa};
    size_t bytes, align;
    CHECK(amx_pack_experts_size(e->t, e->ne, e->n, e->k, &po, &bytes, &align) == AMX_OK && bytes == info.packed_bytes,
          "size query = packed bytes");
    /* caller memory, then saved, then opened: the same image and results */
    uint8_t *buf = aligned_alloc(align, (bytes + align - 1) / align * align);
    amx_weights *into = NULL, *opened = NULL;
    const size_t gb = (size_t)info.gguf_bytes;
    CHECK(amx_pack_experts_into(e->t, e->ne, e->n, e->k, e->gguf, gb, &po, buf, bytes, &into) == AMX_OK, "into");
    uint8_t *img = malloc(bytes);
    size_t written;
    CHECK(amx_weights_save_to(e->h, img, bytes, &written) == AMX_OK && written == bytes, "save_to");
    CHECK(into && memcmp(img, buf, bytes) == 0, "packing into caller memory writes the library's image");
    uint32_t format;
    int64_t ne_field;
    memcpy(&format, img + 8, 4);
    memcpy(&ne_field, img + 104, 8);
    CHECK(format == 2 && ne_field == e->ne, "an expert image is format 2 with n_expert at 104");
    uint8_t *mimg = malloc(one.packed_bytes);
    amx_weights_save_to(e->each[0], mimg, one.packed_bytes, &written);
    memcpy(&format, mimg + 8, 4);
    memcpy(&ne_field, mimg + 104, 8);
    CHECK(format == 1 && ne_field == 0, "a matrix image is still format 1");
    free(mimg);
    CHECK(amx_weights_open_memory(buf, bytes, NULL, &opened) == AMX_OK, "open the expert image");
    uint8_t *back = malloc(gb);
    CHECK(opened && amx_weights_unpack(opened, back, gb) == AMX_OK && memcmp(back, e->gguf, gb) == 0,
          "unpacks to every expert's blocks");
    const int64_t m = 5;
    const int32_t nid = 2;
    int32_t ids[10];
    make_ids(R_RANDOM, m, nid, e->ne, ids);
    float *x = malloc(sizeof(float) * (size_t)(m * e->k));
    gen_acts(m, e->k, e->k, x);
    float *y1 = malloc(sizeof(float) * (size_t)(m * nid * e->n)), *y2 = malloc(sizeof(float) * (size_t)(m * nid * e->n));
    amx_gemm_q_experts(e->h, m, x, e->k, ids, nid, y1, e->n, NULL);
    CHECK(opened && amx_gemm_q_experts(opened, m, x, e->k, ids, nid, y2, e->n, NULL) == AMX_OK &&
              memcmp(y1, y2, sizeof(float) * (size_t)(m * nid * e->n)) == 0,
          "the opened image multiplies as the packed handle");
    /* a changed n_expert: caught by the size check even without the checksum */
    int64_t more = e->ne + 1;
    memcpy(buf + 104, &more, 8);
    amx_weights *bad = NULL;
    const amx_open_opts nv = {.size = sizeof nv, .flags = AMX_OPEN_NO_VERIFY};
    CHECK(amx_weights_open_memory(buf, bytes, &nv, &bad) != AMX_OK && !bad, "n_expert + 1 refused");
    more = 0;
    memcpy(buf + 104, &more, 8);
    CHECK(amx_weights_open_memory(buf, bytes, &nv, &bad) == AMX_ERR_BAD_FORMAT, "format 2 with n_expert 0 refused");
    CHECK(amx_pack_experts(e->t, 0, e->n, e->k, e->gguf, gb, &po, &bad) == AMX_ERR_INVALID_ARG && !bad,
          "n_expert 0 refused");
    CHECK(amx_pack_experts(e->t, e->ne, e->n, e->k, e->gguf, gb - 1, &po, &bad) == AMX_ERR_SIZE_MISMATCH,
          "data size of every expert");
    amx_weights_free(opened);
    amx_weights_free(into);
    free(buf), free(img), free(back), free(x), free(y1), free(y2);
}

int main(int argc, char **argv) {
    const int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    rng_seed(1234);
    const amx_isa all[3] = {AMX_ISA_SCALAR, AMX_ISA_AVX512_VNNI, AMX_ISA_AMX};
    for (int f = 0; f < 3; f++) {
        const char *why;
        if (!amx_cpu_supports(all[f], &why)) {
            printf("NOT RUN: %s (%s)\n", amx_isa_name(all[f]), why);
            continue;
        }
        for (int i = 0; i < N_TYPES; i++) {
            const amx_type t = k_all_types_at(i);
            const int64_t blk = amx_type_block_size(t);
            experts e;
            if (!family_has_type(all[f], t)) {
                const size_t per = gguf_bytes(t, 40, 512);
                uint8_t *g = calloc(9, per);
                amx_weights *h = NULL;
                const amx_pack_opts po = {.size = sizeof po, .isa = all[f]};
                CHECK(amx_pack_experts(t, 9, 40, 512, g, 9 * per, &po, &h) == AMX_ERR_UNSUPPORTED_TYPE && !h,
                      "pack_experts %s/%s: not refused", amx_type_name(t), amx_isa_name(all[f]));
                free(g);
                continue;
            }
            /* 9 experts of 40 x K: top-8 leaves at least one empty */
            if (!make(&e, t, all[f], 9, 40, blk == 32 ? 96 : 512)) {
                CHECK(0, "pack_experts %s/%s", amx_type_name(t), amx_isa_name(all[f]));
                drop(&e);
                continue;
            }
            const int32_t min_ms[2] = {0, 1};
            for (int a = 0; a < (all[f] == AMX_ISA_AMX ? 2 : 1); a++) {
                const int32_t mm = min_ms[a];
                routing_case(&e, R_RANDOM, 1, 2, mm, 0);
                routing_case(&e, R_RANDOM, 3, 8, mm, 0);
                routing_case(&e, R_RANDOM, 17, 1, mm, 0);
                routing_case(&e, R_ONE, 17, 2, mm, 0);
                routing_case(&e, R_DUP, 3, 3, mm, 0);
                routing_case(&e, R_SKEW, 40, 2, mm, 1);
                routing_case(&e, R_RANDOM, 17, 8, mm, 1);
                if (!quick && all[f] != AMX_ISA_SCALAR) routing_case(&e, R_RANDOM, 512, 2, mm, 0);
            }
            if (all[f] == AMX_ISA_SCALAR && !quick && i == 0) routing_case(&e, R_RANDOM, 512, 8, 0, 0);
            refusals(&e);
            image(&e);
            drop(&e);
        }
    }
    printf("%d routings\n", g_routings);
    return test_finish("test_experts");
}
