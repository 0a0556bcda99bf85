/*
 * amxq: F32 activations x GGUF-quantized weights on x86 CPUs.
 *
 * Pack the weights once (amx_pack_weights), multiply many times (amx_gemm_q):
 *
 *     y[m][n] = sum_k x[m][k] * W[n][k]        (y = x . W^T)
 *
 * W is n rows of k elements stored as consecutive GGUF blocks, exactly as a
 * .gguf file holds a 2-D tensor of shape (k, n). The library quantizes each
 * activation row the way ggml's CPU backend does for that weight type and
 * picks, at run time, the fastest kernel this CPU and OS can run: Intel AMX
 * tiles, AVX-512 VNNI, or the portable scalar reference.
 *
 * ABI rules this header keeps, so that C, C++ and FFI callers (ctypes, cffi)
 * can use it as is:
 *   - every exported name starts with amx_; enum values never change meaning,
 *     new values are only appended;
 *   - structs hold fixed-width integers, enums (int-sized) and pointers only:
 *     no bitfields, no unions, no macros in array bounds;
 *   - option structs begin with their own size, so they can grow: a caller
 *     compiled against an older, smaller struct keeps working, and the
 *     library treats fields beyond that size as their defaults.
 *
 * Thread safety: packed handles are immutable. Any number of threads may call
 * amx_gemm_q() on the same handle at the same time. amx_weights_free() must
 * not race with any use of the handle it frees. amx_gemm_q() runs on the
 * library's own worker pool; engines that bring their own threads use
 * amx_gemm_quantize() and amx_gemm_compute() instead (see "Caller-managed
 * threads").
 */
#ifndef AMXQ_H
#define AMXQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define AMXQ_API
#elif defined(__GNUC__)
#define AMXQ_API __attribute__((visibility("default")))
#else
#define AMXQ_API
#endif

/* The version of this header. amx_version() returns the library's own. */
#define AMXQ_VERSION_MAJOR 0
#define AMXQ_VERSION_MINOR 3
#define AMXQ_VERSION_PATCH 0

/* Status codes. AMX_OK is 0; every failure leaves the caller's memory as it
 * was (no partial output) and leaks nothing. */
typedef enum amx_status {
    AMX_OK = 0,
    AMX_ERR_INVALID_ARG = 1,      /* NULL pointer, negative size, bad stride, bad option */
    AMX_ERR_UNSUPPORTED_TYPE = 2, /* weight type not implemented */
    AMX_ERR_BAD_SHAPE = 3,        /* k not a multiple of the block size, or too large */
    AMX_ERR_SIZE_MISMATCH = 4,    /* data_size does not match n, k and the type */
    AMX_ERR_NO_MEMORY = 5,        /* an allocation failed */
    AMX_ERR_ISA_UNAVAILABLE = 6,  /* a forced ISA that this CPU or OS cannot run */
    AMX_ERR_WORKSPACE = 7,        /* caller-supplied workspace too small or misaligned */
    /* added in 0.2: caller memory and packed-weight images */
    AMX_ERR_BUFFER = 8,           /* caller-supplied buffer too small or not aligned as required */
    AMX_ERR_BAD_FORMAT = 9,       /* not a packed-weights image, or its header is inconsistent */
    AMX_ERR_VERSION = 10,         /* an image format or layout version this library does not read */
    AMX_ERR_TRUNCATED = 11,       /* the image is shorter than its header says */
    AMX_ERR_CHECKSUM = 12,        /* the image's checksum does not match its bytes */
    AMX_ERR_IO = 13               /* a file could not be opened, read, mapped or written (see errno) */
} amx_status;

/* Weight types. Values equal ggml's enum ggml_type, so a GGUF tensor's type
 * passes straight through. */
typedef enum amx_type {
    AMX_TYPE_F16 = 1,    /* IEEE half per element (a "block" of 1 element, 2 bytes); no AMX
                            kernel: AUTO packs it for AVX-512, a forced AMX_ISA_AMX gives
                            AMX_ERR_UNSUPPORTED_TYPE */
    AMX_TYPE_Q4_0 = 2,   /* 32-element blocks, 18 bytes */
    AMX_TYPE_Q4_1 = 3,   /* 32-element blocks, 20 bytes */
    AMX_TYPE_Q5_0 = 6,   /* 32-element blocks, 22 bytes */
    AMX_TYPE_Q5_1 = 7,   /* 32-element blocks, 24 bytes */
    AMX_TYPE_Q8_0 = 8,   /* 32-element blocks, 34 bytes */
    AMX_TYPE_IQ4_NL = 20, /* 32-element blocks, 18 bytes: 4-bit indices into a fixed nonlinear table */
    AMX_TYPE_Q2_K = 10,  /* 256-element blocks, 84 bytes */
    AMX_TYPE_Q3_K = 11,  /* 256-element blocks, 110 bytes */
    AMX_TYPE_Q4_K = 12,  /* 256-element blocks, 144 bytes */
    AMX_TYPE_Q5_K = 13,  /* 256-element blocks, 176 bytes */
    AMX_TYPE_Q6_K = 14,  /* 256-element blocks, 210 bytes */
    AMX_TYPE_IQ4_XS = 23, /* 256-element blocks, 136 bytes */
    AMX_TYPE_BF16 = 30   /* bfloat16 per element (a "block" of 1 element, 2 bytes) */
} amx_type;

/* Kernel families. AUTO picks the best one the CPU and OS can run. */
typedef enum amx_isa {
    AMX_ISA_AUTO = 0,
    AMX_ISA_SCALAR = 1,      /* portable C reference: the definition of the right answer */
    AMX_ISA_AVX512_VNNI = 2, /* AVX-512 F/BW/VL/DQ + VNNI (Ice Lake and later, Zen 4 and later) */
    AMX_ISA_AMX = 3          /* AMX-TILE + AMX-INT8 with AVX-512 VNNI (Sapphire Rapids and later) */
} amx_isa;

/* A packed weight matrix. Opaque; create with amx_pack_weights(). */
typedef struct amx_weights amx_weights;

/* Where the packed bytes of a handle live on a machine with several NUMA
 * nodes (sockets). The nodes considered are those of the CPUs the packing
 * thread may run on (its affinity mask) that its memory policy allows
 * (numa_get_membind). With one such node, or without NUMA support in the
 * kernel, every policy places like NONE. See README, "NUMA placement". */
typedef enum amx_numa_policy {
    AMX_NUMA_AUTO = 0,      /* MIRROR when every node's free memory holds 4 replicas, else PARTITION */
    AMX_NUMA_NONE = 1,      /* one copy, placed by the kernel's default policy (first touch) */
    AMX_NUMA_MIRROR = 2,    /* one replica per node; a thread reads its own node's replica */
    AMX_NUMA_PARTITION = 3, /* the output columns split across the nodes in proportion to their
                               CPUs, each part on its own node (amx_gemm_share_node) */
    AMX_NUMA_INTERLEAVE = 4 /* one copy, pages interleaved across the nodes */
} amx_numa_policy;

/* Options for amx_pack_weights(). Set size = sizeof(amx_pack_opts); zero
 * every other field for the defaults. A NULL pointer means all defaults. */
typedef struct amx_pack_opts {
    uint32_t size;     /* sizeof(amx_pack_opts) as the caller compiled it */
    amx_isa isa;       /* kernel family to pack for; AMX_ISA_AUTO = best available */
    int32_t n_threads; /* threads used while packing; 0 = 1; at most 1024 */
    uint32_t flags;    /* reserved, must be 0 */
    amx_numa_policy numa; /* placement of library memory (amx_pack_weights only); added in
                             0.3, callers that pass a 16-byte struct get AMX_NUMA_AUTO */
} amx_pack_opts;

/* Options for amx_gemm_q() and every other multiply. Set size =
 * sizeof(amx_gemm_opts). NULL = defaults.
 *
 * The epilogue (added in 0.3): with r = the product x . W^T as the call
 * computes it, each output element j of a row becomes
 *     t = r[j]                   ;
 *     t = t + bias[j]            if bias is set;
 *     y[j] = y_old[j] + t        if AMX_GEMM_ACCUMULATE, else y[j] = t;
 * in that order, one float addition each: bitwise what a separate pass
 * would give (y = x . W^T; then y[j] += bias[j]; then y = y_old + y). NaN
 * or Inf in bias or y_old propagate as IEEE addition says. A failing call
 * still writes nothing. amx_gemm_q_multi reads `bias` as every handle's n
 * floats one after the other (w[0]'s, then w[1]'s, ...: a fused QKV bias);
 * amx_gemm_q_experts as n_expert rows of n floats (expert e's at
 * bias + e * n). An accumulating amx_gemm_compute share keeps the outputs
 * it overwrites in a buffer of its thread (at most 64 Ki floats at a time,
 * or one work item); if that cannot be allocated it returns
 * AMX_ERR_NO_MEMORY having written nothing. */
typedef struct amx_gemm_opts {
    uint32_t size;     /* sizeof(amx_gemm_opts) as the caller compiled it */
    int32_t n_threads; /* threads for this call (library pool); 0 = 1; at most 1024 */
    uint32_t flags;    /* AMX_GEMM_* below (0.3); other bits must be 0 */
    int32_t amx_min_m; /* AMX handles only: smallest m that runs on AMX tiles; smaller m
                          runs the AVX-512 VNNI kernels. 0 = the handle's default (see
                          amx_weights_info.amx_min_m); added in 0.1, callers that pass
                          a 12-byte struct get the default */
    const float *bias; /* n floats added to every output row, or NULL (the default); added
                          in 0.3, callers that pass a 16-byte struct get NULL. Must not
                          overlap y */
} amx_gemm_opts;
/* amx_gemm_opts.flags: y += x . W^T (y is read, then written) instead of
 * y = x . W^T. Libraries before 0.3 refuse it (AMX_ERR_INVALID_ARG). */
#define AMX_GEMM_ACCUMULATE 1u

/*
 * Packs n rows of k GGUF-quantized weights for fast multiplication.
 *
 * On a machine with several NUMA nodes the packed bytes are placed by
 * opts->numa (see amx_numa_policy); placement never makes packing fail.
 *
 * data      n * (k / block) consecutive blocks of `type` (row-major: the blocks of
 *           row 0, then row 1, ...). Read only, never modified, not referenced
 *           after the call returns: the caller may free or unmap it.
 * data_size must equal n * (k / block) * block_bytes.
 * k         must be a positive multiple of the block size (32 or 256).
 * out       receives the handle; set to NULL on any failure.
 *
 * Returns AMX_OK, or: AMX_ERR_INVALID_ARG (NULL data or out, n or k <= 0, bad
 * options), AMX_ERR_UNSUPPORTED_TYPE, AMX_ERR_BAD_SHAPE, AMX_ERR_SIZE_MISMATCH,
 * AMX_ERR_ISA_UNAVAILABLE (opts->isa forced to one this machine cannot run),
 * AMX_ERR_NO_MEMORY.
 */
AMXQ_API amx_status amx_pack_weights(amx_type type, int64_t n, int64_t k, const void *data,
                                     size_t data_size, const amx_pack_opts *opts,
                                     amx_weights **out);

/* ---- Packed weights in caller memory and in files ------------------------ *
 *
 * A handle's packed bytes form one self-contained, position-independent
 * image: a 128-byte header, then the payload (the family's panel layout).
 * The image is what amx_pack_weights_into writes into caller memory, what
 * amx_weights_save / amx_weights_save_to write out, and what
 * amx_weights_open / amx_weights_open_memory use in place, without a copy.
 *
 * Image format 1, little-endian, all fields at fixed offsets:
 *   0   char[8]   magic "AMXQPACK"
 *   8   uint32    format version (1)
 *   12  uint32    layout version of the payload (bumped when any panel layout changes)
 *   16  uint32    type (amx_type)
 *   20  uint32    kernel family the payload is laid out for (amx_isa, never AUTO)
 *   24  int64     n
 *   32  int64     k
 *   40  char[32]  layout name, NUL-padded ("q4_Kp16", "gguf", ...)
 *   72  uint64    header bytes (128: the payload's offset)
 *   80  uint64    payload bytes (a multiple of 64)
 *   88  uint32    alignment the image's start needs (64)
 *   92  uint32    0
 *   96  uint64    checksum of the header (with this field zero) and the payload
 *   104 uint8[24] 0
 * Image format 2 (added in 0.3) is an expert tensor (amx_pack_experts): the
 * same header with format version 2 and, at offset 104, an int64 n_expert
 * >= 1 (bytes 112-127 zero); n and k are one expert's; the payload is the
 * n_expert payloads that n x k matrices of this layout would have, one
 * after the other in expert order, each a multiple of 64 bytes. A matrix
 * image is still format 1, byte for byte as before, so older libraries read
 * every matrix image this one writes, and refuse expert images with
 * AMX_ERR_VERSION. This library reads both formats.
 * The checksum is a 64-bit hash of each 1 MiB chunk of the payload, then of
 * the header and those chunk hashes (so it can be computed in parallel); it
 * detects corruption, it is not a signature. Opening and using any image,
 * crafted ones included, is memory-safe (the opener is fuzzed), but an image
 * the library did not write may hold payload bytes its packer never
 * produces; its results are then only as meaningful as those bytes.
 */

/* Who owns a handle's packed bytes (amx_weights_info.memory). */
typedef enum amx_memory {
    AMX_MEMORY_LIBRARY = 0, /* allocated by amx_pack_weights; freed by amx_weights_free */
    AMX_MEMORY_CALLER = 1,  /* the caller's (amx_pack_weights_into, amx_weights_open_memory):
                               amx_weights_free frees the handle only */
    AMX_MEMORY_MAPPED = 2   /* a read-only mapping of a file (amx_weights_open); unmapped by
                               amx_weights_free */
} amx_memory;

/* Options for amx_weights_open / amx_weights_open_memory. size = sizeof;
 * NULL means all defaults. */
typedef struct amx_open_opts {
    uint32_t size;     /* sizeof(amx_open_opts) as the caller compiled it */
    uint32_t flags;    /* AMX_OPEN_* below; other bits must be 0 */
    int32_t n_threads; /* threads for checking (and repacking); 0 = 1; at most 1024 */
} amx_open_opts;
/* The image was packed for a family this machine cannot run: unpack its
 * GGUF blocks (the layouts are lossless) and pack them again for the best
 * family here, into library memory. Without it such an image gives
 * AMX_ERR_ISA_UNAVAILABLE. */
#define AMX_OPEN_REPACK 1u
/* Skip the checksum (which reads every payload byte once). For images the
 * caller has already verified. */
#define AMX_OPEN_NO_VERIFY 2u

/* The exact image size (*bytes) and the alignment of its start (*align, a
 * power of two) that packing these weights with these options needs on this
 * machine, before any data exists (AUTO picks the family this machine runs,
 * so ask with the options you will pack with). Same argument checks and
 * statuses as amx_pack_weights, without the data. */
AMXQ_API amx_status amx_pack_size(amx_type type, int64_t n, int64_t k, const amx_pack_opts *opts,
                                  size_t *bytes, size_t *align);

/* amx_pack_weights into caller memory: writes the image (header, payload,
 * checksum) into dst and returns a handle that uses it in place and does not
 * own it (and so never places it: opts->numa is checked, not used; the
 * handle reports AMX_NUMA_NONE, as do handles of opened images); dst must stay valid and unchanged until amx_weights_free, which
 * frees the handle only. dst must be aligned and at least as large as
 * amx_pack_size says, else AMX_ERR_BUFFER. On any failure nothing is written
 * to dst. The written image can later be used with amx_weights_open_memory. */
AMXQ_API amx_status amx_pack_weights_into(amx_type type, int64_t n, int64_t k, const void *data,
                                          size_t data_size, const amx_pack_opts *opts, void *dst,
                                          size_t dst_size, amx_weights **out);

/* Writes the handle's image to the file `path` (created or replaced: the
 * bytes go to a temporary file in the same directory that is then renamed,
 * so readers never see a partial image). AMX_ERR_IO with errno set on
 * failure. */
AMXQ_API amx_status amx_weights_save(const amx_weights *w, const char *path);

/* Copies the handle's image into buffer (any alignment). *written receives
 * the image size, also when buffer is too small (then AMX_ERR_BUFFER and
 * nothing written), so buffer = NULL, size = 0 asks for the size. */
AMXQ_API amx_status amx_weights_save_to(const amx_weights *w, void *buffer, size_t size,
                                        size_t *written);

/* Maps the image file `path` read-only and uses its pages as they are: no
 * copy, so processes opening the same file share one copy in the page cache.
 * The header is checked field by field and, unless AMX_OPEN_NO_VERIFY, the
 * checksum over every byte. Returns AMX_OK, or AMX_ERR_IO (errno set),
 * AMX_ERR_BAD_FORMAT, AMX_ERR_VERSION, AMX_ERR_TRUNCATED, AMX_ERR_SIZE_MISMATCH
 * (the file is longer than its image), AMX_ERR_CHECKSUM,
 * AMX_ERR_UNSUPPORTED_TYPE (a type or family this build lacks),
 * AMX_ERR_ISA_UNAVAILABLE (see AMX_OPEN_REPACK), AMX_ERR_INVALID_ARG,
 * AMX_ERR_NO_MEMORY; *out is NULL on any failure. */
AMXQ_API amx_status amx_weights_open(const char *path, const amx_open_opts *opts, amx_weights **out);

/* The same for an image the caller holds (read, or mapped itself) at ptr,
 * size bytes, aligned as the header says (64): used in place, never
 * written; it must stay valid until amx_weights_free. A misaligned ptr gives
 * AMX_ERR_BUFFER. Never reads outside [ptr, ptr + size). */
AMXQ_API amx_status amx_weights_open_memory(const void *ptr, size_t size, const amx_open_opts *opts,
                                            amx_weights **out);

/*
 * y[i*ldy + j] = sum_k x[i*ldx + k] * W[j][k] for 0 <= i < m, 0 <= j < n.
 *
 * x is read only; ldx >= k and ldy >= n count floats. Only the m x n output
 * elements are written; y's padding between rows is never touched. x and y
 * must not overlap. m = 0 does nothing and returns AMX_OK (x and y may then
 * be NULL). Each activation row is quantized per block exactly as ggml's x86
 * CPU backend does for this weight type (see README, "Numerics").
 *
 * The result does not depend on n_threads: every output element is computed
 * by one thread with the same instruction sequence, so results are bitwise
 * identical for any thread count.
 *
 * Returns AMX_OK, AMX_ERR_INVALID_ARG (NULL handle/pointers, m < 0, ldx < k,
 * ldy < n, bad options) or AMX_ERR_NO_MEMORY; on failure y is not written.
 */
AMXQ_API amx_status amx_gemm_q(const amx_weights *w, int64_t m, const float *x, int64_t ldx,
                               float *y, int64_t ldy, const amx_gemm_opts *opts);

/* ---- Caller-managed threads ---------------------------------------------- */

/*
 * For engines that own their threads (an OpenMP team, ggml's pool, their own
 * pthreads): the two steps of amx_gemm_q(), split into shares that the
 * caller's threads run. The library starts no thread, takes no lock and never
 * spins or waits inside these calls.
 *
 *     size_t bytes;
 *     amx_gemm_workspace_size(w, m, &bytes);        once per (w, m)
 *     ws = aligned_alloc(64, roundup(bytes, 64));   the caller allocates
 *     every thread ith of nth:
 *         amx_gemm_quantize(w, m, x, ldx, ws, bytes, ith, nth);
 *     <all nth threads synchronize: barrier, join, omp barrier>
 *     every thread ith of nth2:
 *         amx_gemm_compute(w, m, ws, bytes, y, ldy, ith, nth2, opts);
 *
 * Contract:
 *   - Workspace: the caller allocates it and owns it: at least the size
 *     amx_gemm_workspace_size() reports for this handle and m, starting at a
 *     64-byte aligned address (else AMX_ERR_WORKSPACE). Its content after the
 *     quantize step is opaque; only the compute step of the same handle and m
 *     may read it. One workspace serves one multiply at a time.
 *   - Shares: 0 <= ith < nth, any nth >= 1 (prime, or larger than the work:
 *     surplus shares return AMX_OK having done nothing). Each step is complete
 *     once the calls for every ith in [0, nth) have returned; the shares of
 *     one step write disjoint memory (quantize: parts of ws; compute: parts
 *     of y) and may run concurrently, in any order, on any threads, or one
 *     after the other on a single thread. The two steps may use different nth.
 *     Shares are whole work items of the kernel family: activation rows for
 *     quantize, output panels (aligned to the panel width) for compute.
 *   - Order: every quantize share must have returned, and its writes be
 *     visible to the compute threads (what a barrier or join provides), before
 *     any compute share starts. x must not change during the quantize step,
 *     nor ws between the steps and during the compute step.
 *   - Results: y is bitwise identical to amx_gemm_q() on the same handle,
 *     inputs and opts->amx_min_m, for every nth of either step.
 *   - Validation is amx_gemm_q()'s (same statuses for the same arguments,
 *     plus the workspace and share checks); a failing call writes nothing,
 *     neither ws nor y. m = 0 is a valid multiply with nothing to do (x, y
 *     and ws may then be NULL). opts->n_threads is checked but not used: the
 *     caller's nth is the thread count.
 *   - Like amx_gemm_q(), any number of multiplies may run at the same time on
 *     one handle, each with its own workspace.
 */

/* *bytes receives the workspace size for an m-row multiply on w (0 when
 * m = 0). AMX_ERR_INVALID_ARG for an invalid handle, NULL bytes, m < 0 or an
 * m so large that m x k activations cannot be addressed. */
AMXQ_API amx_status amx_gemm_workspace_size(const amx_weights *w, int64_t m, size_t *bytes);

/* Step 1, share ith of nth: quantizes this share's activation rows of x
 * (m x k, row stride ldx >= k floats) into ws. */
AMXQ_API amx_status amx_gemm_quantize(const amx_weights *w, int64_t m, const float *x, int64_t ldx,
                                      void *ws, size_t ws_size, int32_t ith, int32_t nth);

/* Step 2, share ith of nth: computes this share's outputs of y (m x n, row
 * stride ldy >= n floats) from the quantized activations in ws. Only the
 * share's m x n outputs are written; y's padding is never touched. */
AMXQ_API amx_status amx_gemm_compute(const amx_weights *w, int64_t m, const void *ws, size_t ws_size,
                                     float *y, int64_t ldy, int32_t ith, int32_t nth,
                                     const amx_gemm_opts *opts);

/* The NUMA node that share ith of nth of amx_gemm_compute reads its weights
 * from, for an engine that places its threads: a PARTITION handle gives each
 * part a contiguous range of shares in proportion to the part's size (each
 * part at least one share when nth >= its part count), and a share run on
 * its part's node reads only local memory. -1 when any node will do: MIRROR
 * (each share reads the replica of the node it runs on, found with getcpu),
 * NONE, INTERLEAVE, a PARTITION handle with fewer shares than parts (then
 * shares follow the plain split and read across nodes), or invalid
 * arguments. Results never depend on where shares run. */
AMXQ_API int32_t amx_gemm_share_node(const amx_weights *w, int32_t ith, int32_t nth);

/* ---- One activation quantization for several weights --------------------
 *
 * An engine that multiplies one x by several matrices (Q, K and V; gate and
 * up) need not quantize x once per matrix. Handles share a quantization when
 * the workspace amx_gemm_quantize fills for one is exactly the workspace the
 * other reads: the same k and the same activation format, which depends on
 * the weight type and, for a few types, on its kernel family:
 *   - Q8_0, IQ4_NL, Q5_0:  share (Q8_0 blocks, weights offset by 128);
 *   - Q4_0:                alone (Q8_0 blocks, compensation for an offset of 8);
 *   - Q4_1, Q5_1:          share (Q8_1 blocks);
 *   - Q4_K, Q5_K, Q2_K:    share (Q8_K with the per-32 and per-16 sums for
 *                          the mins);
 *   - Q6_K, Q3_K:          share (Q8_K with per-16 sums for an offset of 32);
 *   - IQ4_XS:              alone (Q8_K with per-32 offset sums);
 *   - F16:                 alone (activations rounded to fp16);
 *   - BF16:                alone (activations rounded to bf16);
 *   - a type's AVX-512 VNNI and AMX handles share; scalar handles share with
 *     scalar handles of the same ggml activation type (Q8_0, Q8_1, Q8_K, F16
 *     or BF16).
 * amx_weights_share_activations says it for two handles; it is also the rule
 * of the split API: a workspace quantized by amx_gemm_quantize for `a` may be
 * passed to amx_gemm_compute for `b` (same m) exactly when it returns 1.
 */

/* 1 if a workspace quantized for a serves b (see above), 0 if not or if
 * either handle is invalid. */
AMXQ_API int32_t amx_weights_share_activations(const amx_weights *a, const amx_weights *b);

/* y[i] = x . w[i]^T for i < count: one m x k activation matrix x (row stride
 * ldx) times `count` handles of the same k (n may differ), y[i] with row
 * stride ldy[i] >= w[i]'s n. Handles that share activations (above) are
 * grouped and each group quantizes x once. Every y[i] is bitwise what
 * amx_gemm_q(w[i], m, x, ldx, y[i], ldy[i], opts) writes. Handles may repeat;
 * outputs must not overlap each other or x. Checked before anything is
 * written, in this order: the arrays and count (1..4096) and every handle
 * (AMX_ERR_INVALID_ARG), one k for all (AMX_ERR_BAD_SHAPE), then amx_gemm_q's
 * checks for each i. */
AMXQ_API amx_status amx_gemm_q_multi(const amx_weights *const *w, int32_t count, int64_t m, const float *x,
                                     int64_t ldx, float *const *y, const int64_t *ldy,
                                     const amx_gemm_opts *opts);

/* ---- Expert tensors (mixture of experts) ---------------------------------
 *
 * An expert tensor is n_expert matrices of n rows of k weights, stored as a
 * GGUF file stores a 3-D tensor of ne = {k, n, n_expert}: expert 0's n x k
 * blocks (row-major, as amx_pack_weights takes them), then expert 1's, and
 * so on. One handle holds all of them; its image (format 2, above) saves,
 * opens and repacks like any other, and amx_weights_query reports n_expert.
 * amx_weights_unpack writes every expert's blocks back, in that order.
 * A matrix-only call (amx_gemm_q, the split API, amx_gemm_q_multi) on an
 * expert handle, or an expert call on a matrix handle, gives
 * AMX_ERR_INVALID_ARG. amx_gemm_kernel(w, m, opts) on an expert handle names
 * the kernel an expert routed m rows runs.
 */

/* amx_pack_weights for an expert tensor: n_expert >= 1 matrices of n x k,
 * data_size = n_expert * n * (k / block) * block_bytes. Same options,
 * statuses and rules; n_expert < 1 gives AMX_ERR_INVALID_ARG, and n_expert
 * above 2^20, or n_expert * n * k above 2^50, AMX_ERR_BAD_SHAPE. */
AMXQ_API amx_status amx_pack_experts(amx_type type, int64_t n_expert, int64_t n, int64_t k, const void *data,
                                     size_t data_size, const amx_pack_opts *opts, amx_weights **out);
/* amx_pack_size and amx_pack_weights_into for an expert tensor. */
AMXQ_API amx_status amx_pack_experts_size(amx_type type, int64_t n_expert, int64_t n, int64_t k,
                                          const amx_pack_opts *opts, size_t *bytes, size_t *align);
AMXQ_API amx_status amx_pack_experts_into(amx_type type, int64_t n_expert, int64_t n, int64_t k,
                                          const void *data, size_t data_size, const amx_pack_opts *opts,
                                          void *dst, size_t dst_size, amx_weights **out);

/*
 * The expert multiply, ggml's mul_mat_id: every row of x goes to the
 * n_ids_per_row experts that its ids name, and each (row, slot) pair has its
 * own output row:
 *
 *     for 0 <= i < m, 0 <= s < n_ids_per_row, with e = ids[i * n_ids_per_row + s]:
 *         y[(i * n_ids_per_row + s) * ldy + j] = sum_k x[i * ldx + k] * W_e[j][k]   (0 <= j < n)
 *
 * This is ggml_mul_mat_id(as, b, ids) for as of ne {k, n, n_expert}, ids of
 * ne {n_ids_per_row, m} (I32, contiguous), b of ne {k, 1, m} (one row of b
 * per token, broadcast to every slot) and its result of ne {n, n_ids_per_row,
 * m}: y holds m * n_ids_per_row rows, slot-major within a token, exactly the
 * order of ggml's contiguous result. (ggml also lets b have one row per slot,
 * ne {k, n_ids_per_row, m}: pass those rows as m * n_ids_per_row rows of x
 * with n_ids_per_row = 1.)
 *
 * An id may repeat within a row (the row then goes to that expert twice,
 * each slot with its own output row); an expert may get no row. Every output
 * row is bitwise what amx_gemm_q on expert e alone, with the rows routed to
 * it (in order of i, then s) as its x, writes for that row, opts included:
 * x is quantized once, the rows are grouped by expert, and each expert with
 * rows runs the kernel amx_gemm_q would run for that many rows (on AMX
 * handles: tiles from amx_min_m rows, VNNI below). The epilogue reads bias as
 * n_expert rows of n floats: the slot's expert's row is added.
 *
 * Checked before anything is written, in this order: the handle (an expert
 * handle) and options, m >= 0, n_ids_per_row in [1, 4096] and
 * m * n_ids_per_row < 2^31, x (ldx >= k), ids, y (m * n_ids_per_row rows,
 * ldy >= n), then every id in [0, n_expert) (AMX_ERR_INVALID_ARG for any of
 * these); AMX_ERR_NO_MEMORY. m = 0 does nothing. n_threads of the library's
 * pool share the work over experts and output columns; the result does not
 * depend on it.
 */
AMXQ_API amx_status amx_gemm_q_experts(const amx_weights *w, int64_t m, const float *x, int64_t ldx,
                                       const int32_t *ids, int32_t n_ids_per_row, float *y, int64_t ldy,
                                       const amx_gemm_opts *opts);

/*
 * The expert multiply on the caller's threads, in the two steps of the split
 * API above and under its contract (workspace, shares, order, results,
 * validation), with these differences:
 *   - the workspace holds the rows grouped by expert and their products
 *     before they go to y, so its size depends on the routing: ask with the
 *     ids of this multiply (or with any ids routing as many rows to each
 *     expert). Both steps check ws_size against these ids' need.
 *   - quantize shares are rows of x; compute shares are the work items of
 *     every expert that got rows, expert after expert, so that a share may
 *     span experts and an expert's columns spread over shares.
 *   - each step reads ids; they must not change between the steps.
 *   - the compute step writes the workspace too (each share the products of
 *     its own items, before they go to y), so its ws is not const.
 *   - AMX_ERR_NO_MEMORY is possible in both steps (each takes a small
 *     routing table of n_expert + 2 * m * n_ids_per_row integers from the
 *     heap), before the share writes anything.
 * Results are bitwise amx_gemm_q_experts' for every nth of either step.
 */
AMXQ_API amx_status amx_gemm_experts_workspace_size(const amx_weights *w, int64_t m, const int32_t *ids,
                                                    int32_t n_ids_per_row, size_t *bytes);
AMXQ_API amx_status amx_gemm_experts_quantize(const amx_weights *w, int64_t m, const float *x, int64_t ldx,
                                              const int32_t *ids, int32_t n_ids_per_row, void *ws,
                                              size_t ws_size, int32_t ith, int32_t nth);
AMXQ_API amx_status amx_gemm_experts_compute(const amx_weights *w, int64_t m, const int32_t *ids,
                                             int32_t n_ids_per_row, void *ws, size_t ws_size, float *y,
                                             int64_t ldy, int32_t ith, int32_t nth, const amx_gemm_opts *opts);

/* Frees a handle. NULL is fine. */
AMXQ_API void amx_weights_free(amx_weights *w);

/* A short English description of a status. Never NULL, also for unknown values. */
AMXQ_API const char *amx_status_str(amx_status s);

/* ---- Handle queries ------------------------------------------------------ */

/* What a handle holds and which kernels it runs. Set size = sizeof(amx_weights_info)
 * before the call; the library fills the fields that fit in `size`. */
typedef struct amx_weights_info {
    uint32_t size;         /* in: sizeof(amx_weights_info) as the caller compiled it */
    amx_type type;
    int64_t n;
    int64_t k;
    amx_isa isa;           /* kernel family the handle was packed for (never AUTO) */
    int32_t amx_min_m;     /* AMX handles: default smallest m run on tiles; else 0 */
    uint64_t packed_bytes; /* bytes the handle holds (header and padding included) */
    uint64_t gguf_bytes;   /* n * (k / block) * block_bytes */
    const char *kernel;    /* variant name, e.g. "vnni512_q4_0"; static storage */
    const char *layout;    /* packed layout name, e.g. "q4_0p16"; static storage */
    amx_memory memory;     /* who owns the packed bytes; added in 0.2 */
    int64_t n_expert;      /* expert handles (amx_pack_experts): the number of experts,
                              each n x k; 0 for a matrix handle; added in 0.3 */
    /* NUMA placement, added in 0.3. numa_policy is what was done (NONE for
     * caller memory, mapped files and expert handles, and on one node);
     * numa_requested what
     * the options asked for, AUTO resolved. They differ, or AMX_NUMA_FELL_BACK
     * is set, when a node lacked the memory. numa_node_count entries of
     * numa_nodes (node numbers) and numa_node_bytes (bytes of this handle on
     * that node; MIRROR: one replica each), valid while the handle lives;
     * 0 entries for NONE. */
    amx_numa_policy numa_policy;
    amx_numa_policy numa_requested;
    uint32_t numa_flags;
    int32_t numa_node_count;
    const int32_t *numa_nodes;
    const uint64_t *numa_node_bytes;
} amx_weights_info;
/* amx_weights_info.numa_flags: placement found a node without room for its
 * replica or part and fell back (fewer replicas, or the next policy). */
#define AMX_NUMA_FELL_BACK 1u

/* Fills *info. AMX_ERR_INVALID_ARG on a NULL or invalid handle, NULL info or
 * info->size too small to hold the first fields (type, n, k). */
AMXQ_API amx_status amx_weights_query(const amx_weights *w, amx_weights_info *info);

/* Name of the kernel amx_gemm_q() runs on this handle for m rows with the
 * default options, e.g. "vnni512_gemv_q4_0_4x16". Static storage; "invalid"
 * for a NULL/invalid handle or m < 1. */
AMXQ_API const char *amx_weights_kernel(const amx_weights *w, int64_t m);
/* The same for a call with these options (NULL: the defaults): the kernel
 * that amx_gemm_q / amx_gemm_compute run for exactly this (w, m, opts), per-call
 * amx_min_m included. "invalid" for a bad handle, m < 1 or invalid options. */
AMXQ_API const char *amx_gemm_kernel(const amx_weights *w, int64_t m, const amx_gemm_opts *opts);

/* Writes the original GGUF blocks back (the exact bytes that were packed).
 * data_size must equal the handle's gguf_bytes. */
AMXQ_API amx_status amx_weights_unpack(const amx_weights *w, void *data, size_t data_size);

/* ---- Blocks to floats ---------------------------------------------------- */

/* Decodes n_elements values (a multiple of the block size) from GGUF blocks to
 * F32, exactly as ggml's dequantize_row_* functions do. data_size must equal the
 * blocks' byte count. */
AMXQ_API amx_status amx_dequantize(amx_type type, int64_t n_elements, const void *data,
                                   size_t data_size, float *out);

/* Elements per block and bytes per block of a type; 0 for unsupported types. */
AMXQ_API int32_t amx_type_block_size(amx_type type);
AMXQ_API int32_t amx_type_block_bytes(amx_type type);
/* "Q4_0", "Q4_K", ...; "unknown" for other values. */
AMXQ_API const char *amx_type_name(amx_type type);
/* The types this build implements, for tools and bindings that list them:
 * amx_type_count() of them, amx_type_at(0 .. count-1) in the library's table
 * order; amx_type_at returns -1 (no type) for an index out of range. */
AMXQ_API int32_t amx_type_count(void);
AMXQ_API amx_type amx_type_at(int32_t index);
/* The type whose amx_type_name is `name` (case-insensitive), or -1. */
AMXQ_API amx_type amx_type_from_name(const char *name);

/* ---- CPU report ---------------------------------------------------------- */

/* The best kernel family AUTO would pick on this machine (after the
 * AMXQ_MAX_ISA environment cap). */
AMXQ_API amx_isa amx_cpu_best_isa(void);

/* 1 if this machine can run `isa`, 0 if not. *why (when why is not NULL)
 * receives a static string: "available", or the reason it is not (missing
 * CPUID bit, OS state not enabled in XCR0, no AMX palette, arch_prctl refused,
 * capped by AMXQ_MAX_ISA, ...). AUTO and SCALAR are always available. */
AMXQ_API int32_t amx_cpu_supports(amx_isa isa, const char **why);

/* A multi-line human-readable report of what was detected. Static storage. */
AMXQ_API const char *amx_cpu_report(void);

/* "auto", "scalar", "avx512_vnni", "amx"; "unknown" for other values. */
AMXQ_API const char *amx_isa_name(amx_isa isa);

/* ---- Version ------------------------------------------------------------- */

/* The library's version as major * 10000 + minor * 100 + patch. */
AMXQ_API uint32_t amx_version(void);
/* "0.1.0" (plus build details); static storage. */
AMXQ_API const char *amx_version_str(void);

#ifdef __cplusplus
}
#endif

#endif /* AMXQ_H */
