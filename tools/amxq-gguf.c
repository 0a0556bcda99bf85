/*
 * amxq-gguf: packs every 2-D tensor of a supported type in a GGUF model file
 * with amxq, in parallel, and reports what it did:
 *
 *   amxq-gguf [options] MODEL.gguf
 *     --isa auto|scalar|avx512_vnni|amx   kernel family to pack for (default auto)
 *     --threads N       packing threads (default: all online CPUs)
 *     --check           one multiply per tensor on random activations, the
 *                       selected variant against the scalar reference; prints
 *                       the worst relative difference, exits 3 if it is large
 *     --check-m M       activation rows for --check (default 4)
 *     --bench           times M=1 and M=512 per distinct (type, n, k)
 *     --progress / --no-progress   progress bar on stderr (default: if a terminal)
 *     --list            only lists the tensors (name, type, dims, file offset, bytes)
 *     --types           only lists the ggml types the reader knows
 *
 * The file is mapped read-only; the parser (gguf.c) checks every offset and
 * size against the file before anything is read, so a bad file ends with a
 * one-line error and exit status 1. Tensors the library cannot pack (F32
 * norms, F16, other quantization types, 1-D or 3-D tensors) are counted and
 * listed as skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "amxq.h"
#include "gguf.h"

#define CHECK_LIMIT 1e-3 /* variants differ from the reference by float reordering only */
#define MAX_THREADS 256

typedef struct {
    amx_isa isa;
    int threads, check, bench, progress, check_m, list, types;
    const char *path;
} options;

/* One tensor's fate. */
typedef struct {
    const gguf_tensor *t;
    char name[80];
    const char *skip;      /* why it was not packed; NULL if it was */
    char skip_buf[96];
    uint64_t packed_bytes;
    double pack_s;
    const char *kernel;
    amx_isa isa;           /* kernel family the handle got */
    double rel_diff;       /* --check: max|y - ref| / max|ref|; NAN when not finite */
    int check_bad;
} item;

typedef struct {
    const options *o;
    item **items; /* the tensors to pack, biggest first */
    size_t n_items;
    atomic_size_t next;
    pthread_mutex_t mu;
    size_t done;
    uint64_t bytes_done, bytes_total;
} job;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *path, const char *msg) {
    fprintf(stderr, "amxq-gguf: %s: %s\n", path, msg);
    exit(1);
}

static const char *type_name(uint32_t id) {
    const gguf_type_info *ti = gguf_type(id);
    return ti ? ti->name : "?";
}

static void dims_str(const gguf_tensor *t, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < t->n_dims && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, d ? ", %lld" : "%lld", (long long)t->ne[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* ---- checking one tensor -------------------------------------------------- */

static uint64_t xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The selected variant's multiply against the scalar reference's, on random
 * activations in [-1, 1); a relative difference normalized by the largest
 * reference output. */
static void check_tensor(item *it, const amx_weights *h, const options *o, uint64_t seed) {
    const gguf_tensor *t = it->t;
    const int64_t n = t->ne[1], k = t->ne[0], m = o->check_m;
    amx_weights *ref = NULL;
    const amx_pack_opts ro = {.size = sizeof ro, .isa = AMX_ISA_SCALAR, .n_threads = 1};
    float *x = malloc((size_t)(m * k) * sizeof *x);
    float *y = malloc((size_t)(m * n) * sizeof *y), *r = malloc((size_t)(m * n) * sizeof *r);
    it->check_bad = 1;
    it->rel_diff = NAN;
    if (!x || !y || !r || amx_pack_weights((amx_type)t->type, n, k, t->data, t->nbytes, &ro, &ref) != AMX_OK)
        goto out;
    for (int64_t i = 0; i < m * k; i++) x[i] = (float)((int64_t)(xorshift(&seed) >> 40) - (1 << 23)) / (float)(1 << 23);
    if (amx_gemm_q(h, m, x, k, y, n, NULL) != AMX_OK || amx_gemm_q(ref, m, x, k, r, n, NULL) != AMX_OK) goto out;
    double worst = 0, scale = 0;
    int nonfinite = 0;
    for (int64_t i = 0; i < m * n; i++) {
        if (!isfinite(r[i]) || !isfinite(y[i])) {
            /* the same non-finite value in both is agreement (e.g. Inf scales) */
            if (memcmp(&r[i], &y[i], sizeof r[i]) != 0 && !(isnan(r[i]) && isnan(y[i]))) nonfinite = 1;
            continue;
        }
        const double d = fabs((double)y[i] - (double)r[i]);
        if (d > worst) worst = d;
        if (fabs((double)r[i]) > scale) scale = fabs((double)r[i]);
    }
    it->rel_diff = nonfinite ? NAN : scale > 0 ? worst / scale : worst;
    it->check_bad = nonfinite || !(it->rel_diff <= CHECK_LIMIT);
out:
    amx_weights_free(ref);
    free(x);
    free(y);
    free(r);
}

/* ---- parallel packing --------------------------------------------------------- */

static void progress(job *j, int final) {
    if (!j->o->progress) return;
    const int width = 30;
    const int fill = j->n_items ? (int)(width * j->done / j->n_items) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %zu/%zu tensors, %.1f/%.1f MiB%s", bar, j->done, j->n_items,
            (double)j->bytes_done / 1048576.0, (double)j->bytes_total / 1048576.0, final ? "\n" : "");
    fflush(stderr);
}

static void *pack_worker(void *arg) {
    job *j = arg;
    const options *o = j->o;
    for (;;) {
        const size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n_items) break;
        item *it = j->items[i];
        const gguf_tensor *t = it->t;
        const amx_pack_opts po = {.size = sizeof po, .isa = o->isa, .n_threads = 1};
        amx_weights *h = NULL;
        const double t0 = now_s();
        const amx_status st = amx_pack_weights((amx_type)t->type, t->ne[1], t->ne[0], t->data, t->nbytes, &po, &h);
        it->pack_s = now_s() - t0;
        if (st != AMX_OK) {
            snprintf(it->skip_buf, sizeof it->skip_buf, "amx_pack_weights: %s", amx_status_str(st));
            it->skip = it->skip_buf;
        } else {
            amx_weights_info info = {.size = sizeof info};
            amx_weights_query(h, &info);
            it->packed_bytes = info.packed_bytes;
            it->isa = info.isa;
            it->kernel = amx_weights_kernel(h, 1);
            if (o->check) check_tensor(it, h, o, 0x9e3779b97f4a7c15ull ^ (uint64_t)(i + 1));
            amx_weights_free(h);
        }
        pthread_mutex_lock(&j->mu);
        j->done++;
        j->bytes_done += t->nbytes;
        progress(j, 0);
        pthread_mutex_unlock(&j->mu);
    }
    return NULL;
}

/* Biggest first, so the last tensors to finish are small ones. */
static int by_size_desc(const void *a, const void *b) {
    const item *x = *(item *const *)a, *y = *(item *const *)b;
    return x->t->nbytes < y->t->nbytes ? 1 : x->t->nbytes > y->t->nbytes ? -1 : 0;
}

/* ---- reports -------------------------------------------------------------- */

typedef struct {
    uint32_t type;
    int tensors;
    uint64_t gguf, packed;
    double pack_s, worst;
    int check_bad;
    const char *worst_name;
} type_row;

/* The kernel families the packed handles got, e.g. "avx512_vnni, scalar". */
static void families(const item *items, size_t n, char *buf, size_t cap) {
    size_t o = 0;
    for (int isa = AMX_ISA_AMX; isa >= AMX_ISA_SCALAR; isa--)
        for (size_t i = 0; i < n; i++)
            if (!items[i].skip && items[i].isa == (amx_isa)isa) {
                o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", amx_isa_name((amx_isa)isa));
                break;
            }
    if (o == 0) snprintf(buf, cap, "none");
}

static void print_tables(const options *o, const gguf_file *f, item *items, size_t n, double wall) {
    type_row rows[64];
    int n_rows = 0, n_packed = 0, n_skipped = 0, n_bad = 0;
    uint64_t tot_gguf = 0, tot_packed = 0;
    double tot_s = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].skip) {
            n_skipped++;
            continue;
        }
        int r = 0;
        while (r < n_rows && rows[r].type != items[i].t->type) r++;
        if (r == n_rows) rows[n_rows++] = (type_row){.type = items[i].t->type};
        type_row *row = &rows[r];
        row->tensors++;
        row->gguf += items[i].t->nbytes;
        row->packed += items[i].packed_bytes;
        row->pack_s += items[i].pack_s;
        n_packed++;
        if (o->check) {
            const double d = items[i].rel_diff;
            if (items[i].check_bad) row->check_bad++, n_bad++;
            if (!row->worst_name || !(d <= row->worst)) row->worst = d, row->worst_name = items[i].name;
            if (!(d <= worst)) worst = d;
        }
    }
    printf("%s: GGUF v%u, %llu tensors, %llu metadata keys, alignment %llu%s%s%s%s\n", o->path, f->version,
           (unsigned long long)f->n_tensors, (unsigned long long)f->n_kv, (unsigned long long)f->alignment,
           f->arch[0] ? ", architecture " : "", f->arch, f->model_name[0] ? ", name " : "", f->model_name);
    char fams[64] = "";
    families(items, n, fams, sizeof fams);
    printf("packed %d of %zu tensors (kernel families: %s; --isa %s) in %.3f s with %d threads\n\n", n_packed, n,
           fams, amx_isa_name(o->isa), wall, o->threads);
    printf("%-8s %7s %14s %14s %7s %12s\n", "type", "tensors", "GGUF bytes", "packed bytes", "ratio", "pack time");
    for (int r = 0; r < n_rows; r++) {
        printf("%-8s %7d %14llu %14llu %7.3f %9.2f ms\n", type_name(rows[r].type), rows[r].tensors,
               (unsigned long long)rows[r].gguf, (unsigned long long)rows[r].packed,
               rows[r].gguf ? (double)rows[r].packed / (double)rows[r].gguf : 0.0, rows[r].pack_s * 1e3);
        tot_gguf += rows[r].gguf;
        tot_packed += rows[r].packed;
        tot_s += rows[r].pack_s;
    }
    printf("%-8s %7d %14llu %14llu %7.3f %9.2f ms  (summed over threads)\n", "total", n_packed,
           (unsigned long long)tot_gguf, (unsigned long long)tot_packed,
           tot_gguf ? (double)tot_packed / (double)tot_gguf : 0.0, tot_s * 1e3);

    printf("\nskipped %d tensors:\n", n_skipped);
    for (size_t i = 0; i < n; i++) {
        if (!items[i].skip) continue;
        char dims[96];
        dims_str(items[i].t, dims, sizeof dims);
        printf("  %-32s %-8s %-20s %s\n", items[i].name, type_name(items[i].t->type), dims, items[i].skip);
    }

    if (o->check) {
        printf("\ncheck: one multiply per tensor, m=%d, %s against the scalar reference\n", o->check_m, fams);
        printf("%-8s %7s %16s  %s\n", "type", "checked", "worst rel diff", "worst tensor");
        for (int r = 0; r < n_rows; r++)
            printf("%-8s %7d %16.3g  %s%s\n", type_name(rows[r].type), rows[r].tensors, rows[r].worst,
                   rows[r].worst_name ? rows[r].worst_name : "-", rows[r].check_bad ? "  FAILED" : "");
        printf("check: %d tensors packed and checked, worst relative difference %.3g (limit %g): %s\n", n_packed,
               worst, CHECK_LIMIT, n_bad ? "FAILED" : "ok");
    }
}

/* Median of reps timed runs after one warm-up. */
static double time_gemm(const amx_weights *h, int64_t m, const float *x, float *y, int threads, int *reps_out) {
    const amx_gemm_opts go = {.size = sizeof go, .n_threads = threads};
    amx_weights_info info = {.size = sizeof info};
    amx_weights_query(h, &info);
    amx_gemm_q(h, m, x, info.k, y, info.n, &go);
    double t[15];
    int reps = 0;
    const double start = now_s();
    while (reps < 15 && (reps < 3 || now_s() - start < 0.5)) {
        const double t0 = now_s();
        amx_gemm_q(h, m, x, info.k, y, info.n, &go);
        t[reps++] = now_s() - t0;
    }
    for (int i = 1; i < reps; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            const double s = t[j];
            t[j] = t[j - 1];
            t[j - 1] = s;
        }
    *reps_out = reps;
    return t[reps / 2];
}

static void bench(const options *o, item *items, size_t n) {
    printf("\nbench: amx_gemm_q, %d threads, median of 3-15 runs per figure\n", o->threads);
    printf("%-8s %7s %7s  %-28s %10s %8s  %-28s %10s %8s\n", "type", "n", "k", "kernel m=1", "m=1 ms", "GB/s",
           "kernel m=512", "m=512 ms", "GOPS");
    for (size_t i = 0; i < n; i++) {
        const gguf_tensor *t = items[i].t;
        if (items[i].skip) continue;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !items[j].skip && items[j].t->type == t->type && items[j].t->ne[0] == t->ne[0] &&
                   items[j].t->ne[1] == t->ne[1];
        if (seen) continue;
        const int64_t nn = t->ne[1], k = t->ne[0];
        amx_weights *h = NULL;
        const amx_pack_opts po = {.size = sizeof po, .isa = o->isa, .n_threads = o->threads};
        float *x = calloc((size_t)(512 * k), sizeof *x), *y = malloc((size_t)(512 * nn) * sizeof *y);
        if (!x || !y || amx_pack_weights((amx_type)t->type, nn, k, t->data, t->nbytes, &po, &h) != AMX_OK) {
            printf("%-8s %7lld %7lld  not run (out of memory or pack failed)\n", type_name(t->type), (long long)nn,
                   (long long)k);
            free(x);
            free(y);
            continue;
        }
        uint64_t seed = 12345;
        for (int64_t e = 0; e < 512 * k; e++) x[e] = (float)((int64_t)(xorshift(&seed) >> 40) - (1 << 23)) / 8388608.0f;
        int r1, r512;
        const double t1 = time_gemm(h, 1, x, y, o->threads, &r1);
        const double t512 = time_gemm(h, 512, x, y, o->threads, &r512);
        printf("%-8s %7lld %7lld  %-28s %10.4f %8.2f  %-28s %10.3f %8.2f\n", type_name(t->type), (long long)nn,
               (long long)k, amx_weights_kernel(h, 1), t1 * 1e3, (double)t->nbytes / t1 / 1e9,
               amx_weights_kernel(h, 512), t512 * 1e3, 2.0 * 512 * (double)nn * (double)k / t512 / 1e9);
        amx_weights_free(h);
        free(x);
        free(y);
    }
}

/* ---- main ------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr, "usage: amxq-gguf [--isa auto|scalar|avx512_vnni|amx] [--threads N] [--check] [--check-m M]\n"
                    "                 [--bench] [--progress|--no-progress] MODEL.gguf\n");
    exit(2);
}

static int parse_int(const char *s, int lo, int hi) {
    char *end;
    errno = 0;
    const long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end || v < lo || v > hi) usage();
    return (int)v;
}

static options parse_args(int argc, char **argv) {
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    options o = {.isa = AMX_ISA_AUTO, .threads = cpus > 0 ? (int)(cpus < MAX_THREADS ? cpus : MAX_THREADS) : 1,
                 .progress = isatty(2), .check_m = 4};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--check")) o.check = 1;
        else if (!strcmp(a, "--bench")) o.bench = 1;
        else if (!strcmp(a, "--progress")) o.progress = 1;
        else if (!strcmp(a, "--list")) o.list = 1;
        else if (!strcmp(a, "--types")) o.types = 1;
        else if (!strcmp(a, "--no-progress")) o.progress = 0;
        else if (!strcmp(a, "--threads")) o.threads = parse_int(i + 1 < argc ? argv[++i] : NULL, 1, MAX_THREADS);
        else if (!strcmp(a, "--check-m")) o.check_m = parse_int(i + 1 < argc ? argv[++i] : NULL, 1, 4096);
        else if (!strcmp(a, "--isa")) {
            const char *v = i + 1 < argc ? argv[++i] : "";
            int found = 0;
            for (int isa = AMX_ISA_AUTO; isa <= AMX_ISA_AMX; isa++)
                if (!strcmp(v, amx_isa_name((amx_isa)isa))) o.isa = (amx_isa)isa, found = 1;
            if (!found) usage();
        } else if (a[0] == '-' && a[1]) usage();
        else if (o.path) usage();
        else o.path = a;
    }
    if (!o.path && !o.types) usage();
    return o;
}

static void list_types(void) {
    size_t n;
    const gguf_type_info *t = gguf_types(&n);
    for (size_t i = 0; i < n; i++)
        printf("%u %s %u %u %s\n", t[i].id, t[i].name, t[i].block, t[i].bytes,
               amx_type_block_size((amx_type)t[i].id) ? "supported" : "-");
}

static void list_tensors(const gguf_file *f) {
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        char dims[96];
        dims_str(t, dims, sizeof dims);
        printf("%.*s\t%s\t%s\t%llu\t%llu\n", (int)t->name_len, t->name, type_name(t->type), dims,
               (unsigned long long)(f->data_offset + t->offset), (unsigned long long)t->nbytes);
    }
}

int main(int argc, char **argv) {
    const options o = parse_args(argc, argv);
    if (o.types) {
        list_types();
        return 0;
    }
    const char *why;
    if (o.isa != AMX_ISA_AUTO && !amx_cpu_supports(o.isa, &why)) {
        fprintf(stderr, "amxq-gguf: --isa %s: not available here: %s\n", amx_isa_name(o.isa), why);
        return 1;
    }

    const int fd = open(o.path, O_RDONLY);
    if (fd < 0) die(o.path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) die(o.path, strerror(errno));
    if (!S_ISREG(st.st_mode)) die(o.path, "not a regular file");
    const size_t len = (size_t)st.st_size;
    if (len < 24) die(o.path, "too short to be a GGUF file");
    const uint8_t *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) die(o.path, strerror(errno));

    gguf_file f;
    char err[256];
    if (gguf_parse(map, len, &f, err, sizeof err) != 0) die(o.path, err);
    if (o.list) {
        list_tensors(&f);
        gguf_free(&f);
        munmap((void *)map, len);
        return 0;
    }

    item *items = calloc(f.n_tensors ? f.n_tensors : 1, sizeof *items);
    item **order = calloc(f.n_tensors ? f.n_tensors : 1, sizeof *order);
    if (!items || !order) die(o.path, "out of memory");
    size_t n_work = 0;
    job j = {.o = &o, .mu = PTHREAD_MUTEX_INITIALIZER};
    for (size_t i = 0; i < f.n_tensors; i++) {
        item *it = &items[i];
        const gguf_tensor *t = &f.tensors[i];
        it->t = t;
        size_t nl = 0;
        for (; nl < t->name_len && nl + 1 < sizeof it->name; nl++)
            it->name[nl] = (t->name[nl] >= 32 && t->name[nl] < 127) ? t->name[nl] : '?';
        if (amx_type_block_size((amx_type)t->type) == 0) {
            snprintf(it->skip_buf, sizeof it->skip_buf, "type %s not supported", type_name(t->type));
            it->skip = it->skip_buf;
        } else if (t->n_dims != 2 && !(t->n_dims > 2 && t->ne[2] == 1 && t->ne[3] == 1)) {
            snprintf(it->skip_buf, sizeof it->skip_buf, "%u-D, not a matrix", t->n_dims);
            it->skip = it->skip_buf;
        } else if (t->ne[0] == 0 || t->ne[1] == 0) {
            it->skip = "empty";
        } else {
            order[n_work++] = it;
            j.bytes_total += t->nbytes;
        }
    }
    qsort(order, n_work, sizeof *order, by_size_desc);
    j.items = order;
    j.n_items = n_work;

    const double t0 = now_s();
    const int nth = o.threads < (int)n_work ? o.threads : (n_work ? (int)n_work : 1);
    pthread_t th[MAX_THREADS];
    int started = 0;
    for (; started < nth - 1; started++)
        if (pthread_create(&th[started], NULL, pack_worker, &j) != 0) break;
    pack_worker(&j);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    progress(&j, 1);
    const double wall = now_s() - t0;

    print_tables(&o, &f, items, f.n_tensors, wall);
    int rc = 0;
    for (size_t i = 0; i < f.n_tensors && o.check; i++)
        if (!items[i].skip && items[i].check_bad) rc = 3;
    if (o.bench) bench(&o, items, f.n_tensors);

    free(order);
    free(items);
    gguf_free(&f);
    munmap((void *)map, len);
    return rc;
}
