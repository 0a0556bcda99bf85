/* Every status of the argument contract, produced by the case that should
 * produce it, with the caller's output untouched and *out set to NULL. */
#include <ctype.h>
#include <string.h>

#include "common.h"

#define YN 40
static float g_y[4 * YN];
static unsigned char g_y_copy[sizeof g_y];

static void arm_output(void) {
    memset(g_y, 0xA5, sizeof g_y);
    memcpy(g_y_copy, g_y, sizeof g_y);
}
static int output_untouched(void) { return memcmp(g_y, g_y_copy, sizeof g_y) == 0; }

#define EXPECT_PACK(want, ...)                                                                  \
    do {                                                                                        \
        amx_weights *h_ = (amx_weights *)(uintptr_t)0x1;                                        \
        const amx_status s_ = amx_pack_weights(__VA_ARGS__, &h_);                               \
        CHECK(s_ == (want), "pack(%s) = %s, want %s", #__VA_ARGS__, amx_status_str(s_),         \
              amx_status_str(want));                                                            \
        if (s_ != AMX_OK) CHECK(h_ == NULL, "pack(%s) failed but *out not NULL", #__VA_ARGS__); \
        amx_weights_free(s_ == AMX_OK ? h_ : NULL);                                             \
    } while (0)

#define EXPECT_GEMM(want, ...)                                                                  \
    do {                                                                                        \
        arm_output();                                                                           \
        const amx_status s_ = amx_gemm_q(__VA_ARGS__);                                          \
        CHECK(s_ == (want), "gemm(%s) = %s, want %s", #__VA_ARGS__, amx_status_str(s_),         \
              amx_status_str(want));                                                            \
        if (s_ != AMX_OK) CHECK(output_untouched(), "gemm(%s) failed but wrote y", #__VA_ARGS__); \
    } while (0)

int main(void) {
    rng_seed(5);
    const int64_t n = YN, k = 64;
    const size_t sz = gguf_bytes(AMX_TYPE_Q4_0, n, k);
    uint8_t *w = malloc(sz);
    gen_weights(AMX_TYPE_Q4_0, n, k, w, GEN_NORMAL);
    float x[4 * 64];
    gen_acts(4, 64, 64, x);

    /* ---- amx_pack_weights ---- */
    CHECK(amx_pack_weights(AMX_TYPE_Q4_0, n, k, w, sz, NULL, NULL) == AMX_ERR_INVALID_ARG, "out NULL");
    EXPECT_PACK(AMX_ERR_INVALID_ARG, AMX_TYPE_Q4_0, n, k, NULL, sz, NULL);
    EXPECT_PACK(AMX_ERR_INVALID_ARG, AMX_TYPE_Q4_0, 0, k, w, sz, NULL);
    EXPECT_PACK(AMX_ERR_INVALID_ARG, AMX_TYPE_Q4_0, -1, k, w, sz, NULL);
    EXPECT_PACK(AMX_ERR_INVALID_ARG, AMX_TYPE_Q4_0, n, 0, w, sz, NULL);
    EXPECT_PACK(AMX_ERR_INVALID_ARG, AMX_TYPE_Q4_0, n, -32, w, sz, NULL);
    {
        amx_pack_opts o = {.size = 8};
        EXPECT_PACK(AMX_ERR_INVALID_ARG, AMX_TYPE_Q4_0, n, k, w, sz, &o);
        o = (amx_pack_opts){.size = sizeof o, .isa = (amx_isa)7};
        EXPECT_PACK(AMX_ERR_INVALID_ARG, AMX_TYPE_Q4_0, n, k, w, sz, &o);
        o = (amx_pack_opts){.size = sizeof o, .isa = (amx_isa)-1};
        EXPECT_PACK(AMX_ERR_INVALID_ARG, AMX_TYPE_Q4_0, n, k, w, sz, &o);
        o = (amx_pack_opts){.size = sizeof o, .n_threads = -1};
        EXPECT_PACK(AMX_ERR_INVALID_ARG, AMX_TYPE_Q4_0, n, k, w, sz, &o);
        o = (amx_pack_opts){.size = sizeof o, .n_threads = 100000};
        EXPECT_PACK(AMX_ERR_INVALID_ARG, AMX_TYPE_Q4_0, n, k, w, sz, &o);
        o = (amx_pack_opts){.size = sizeof o, .flags = 1};
        EXPECT_PACK(AMX_ERR_INVALID_ARG, AMX_TYPE_Q4_0, n, k, w, sz, &o);
        /* a newer caller's larger struct: zero tail accepted, non-zero tail refused */
        struct { amx_pack_opts o; uint32_t extra; } big = {{.size = sizeof big}, 0};
        EXPECT_PACK(AMX_OK, AMX_TYPE_Q4_0, n, k, w, sz, &big.o);
        big.extra = 1;
        EXPECT_PACK(AMX_ERR_INVALID_ARG, AMX_TYPE_Q4_0, n, k, w, sz, &big.o);
        o = (amx_pack_opts){.size = sizeof o, .isa = AMX_ISA_SCALAR, .n_threads = 3};
        EXPECT_PACK(AMX_OK, AMX_TYPE_Q4_0, n, k, w, sz, &o);
    }
    EXPECT_PACK(AMX_ERR_UNSUPPORTED_TYPE, (amx_type)16, n, k, w, sz, NULL); /* IQ2_XXS */
    EXPECT_PACK(AMX_ERR_UNSUPPORTED_TYPE, (amx_type)9, n, k, w, sz, NULL);  /* Q8_1 */
    EXPECT_PACK(AMX_ERR_UNSUPPORTED_TYPE, (amx_type)-3, n, k, w, sz, NULL);
    EXPECT_PACK(AMX_ERR_UNSUPPORTED_TYPE, (amx_type)1000, n, k, w, sz, NULL);
    EXPECT_PACK(AMX_ERR_BAD_SHAPE, AMX_TYPE_Q4_0, n, 48, w, sz, NULL);
    EXPECT_PACK(AMX_ERR_BAD_SHAPE, AMX_TYPE_Q4_K, 1, 128, w, 72, NULL);
    EXPECT_PACK(AMX_ERR_BAD_SHAPE, AMX_TYPE_Q4_0, (int64_t)1 << 40, (int64_t)1 << 20, w, sz, NULL);
    EXPECT_PACK(AMX_ERR_BAD_SHAPE, AMX_TYPE_Q4_0, 1, (int64_t)1 << 40, w, sz, NULL);
    EXPECT_PACK(AMX_ERR_SIZE_MISMATCH, AMX_TYPE_Q4_0, n, k, w, sz - 1, NULL);
    EXPECT_PACK(AMX_ERR_SIZE_MISMATCH, AMX_TYPE_Q4_0, n, k, w, sz + 1, NULL);
    EXPECT_PACK(AMX_ERR_SIZE_MISMATCH, AMX_TYPE_Q4_1, n, k, w, sz, NULL);
    /* a matrix whose packed form cannot be allocated: fails before reading data */
    {
        const int64_t bn = (int64_t)1 << 24, bk = (int64_t)1 << 26;
        EXPECT_PACK(AMX_ERR_NO_MEMORY, AMX_TYPE_Q8_0, bn, bk, w, gguf_bytes(AMX_TYPE_Q8_0, bn, bk), NULL);
    }
    {
        const char *why = NULL;
        for (amx_isa isa = AMX_ISA_AVX512_VNNI; isa <= AMX_ISA_AMX; isa++) {
            if (amx_cpu_supports(isa, &why)) {
                printf("ISA_UNAVAILABLE case for %s not testable here: it is available\n", amx_isa_name(isa));
                continue;
            }
            amx_pack_opts o = {.size = sizeof o, .isa = isa};
            EXPECT_PACK(AMX_ERR_ISA_UNAVAILABLE, AMX_TYPE_Q4_0, n, k, w, sz, &o);
            CHECK(why && strlen(why) > 0 && strcmp(why, "available") != 0, "reason for %s", amx_isa_name(isa));
            printf("forced %s -> ISA_UNAVAILABLE (%s)\n", amx_isa_name(isa), why);
        }
    }

    /* ---- amx_gemm_q ---- */
    amx_weights *h = NULL;
    CHECK(amx_pack_weights(AMX_TYPE_Q4_0, n, k, w, sz, NULL, &h) == AMX_OK, "pack for gemm tests");
    EXPECT_GEMM(AMX_ERR_INVALID_ARG, NULL, 1, x, k, g_y, n, NULL);
    EXPECT_GEMM(AMX_ERR_INVALID_ARG, h, -1, x, k, g_y, n, NULL);
    EXPECT_GEMM(AMX_ERR_INVALID_ARG, h, 1, NULL, k, g_y, n, NULL);
    EXPECT_GEMM(AMX_ERR_INVALID_ARG, h, 1, x, k, NULL, n, NULL);
    EXPECT_GEMM(AMX_ERR_INVALID_ARG, h, 1, x, k - 1, g_y, n, NULL);
    EXPECT_GEMM(AMX_ERR_INVALID_ARG, h, 1, x, k, g_y, n - 1, NULL);
    EXPECT_GEMM(AMX_ERR_INVALID_ARG, h, 2, x, k, g_y, INT64_MAX / 2, NULL);
    {
        amx_gemm_opts o = {.size = 4};
        EXPECT_GEMM(AMX_ERR_INVALID_ARG, h, 1, x, k, g_y, n, &o);
        o = (amx_gemm_opts){.size = sizeof o, .n_threads = -2};
        EXPECT_GEMM(AMX_ERR_INVALID_ARG, h, 1, x, k, g_y, n, &o);
        o = (amx_gemm_opts){.size = sizeof o, .flags = 0x80};
        EXPECT_GEMM(AMX_ERR_INVALID_ARG, h, 1, x, k, g_y, n, &o);
        o = (amx_gemm_opts){.size = sizeof o, .amx_min_m = -1};
        EXPECT_GEMM(AMX_ERR_INVALID_ARG, h, 1, x, k, g_y, n, &o);
        /* the first published (12-byte) struct is still accepted */
        o = (amx_gemm_opts){.size = 12, .n_threads = 2};
        EXPECT_GEMM(AMX_OK, h, 4, x, k, g_y, n, &o);
    }
    /* m = 0 is a no-op even with NULL buffers; nothing written */
    EXPECT_GEMM(AMX_OK, h, 0, NULL, k, NULL, n, NULL);
    EXPECT_GEMM(AMX_OK, h, 0, x, k, g_y, n, NULL);
    CHECK(output_untouched(), "m = 0 wrote y");
    /* a workspace that cannot be allocated: NO_MEMORY before x is read */
    EXPECT_GEMM(AMX_ERR_NO_MEMORY, h, (int64_t)1 << 40, x, k, g_y, n, NULL);
    /* a fake handle is refused, not dereferenced as a packed matrix */
    {
        static uint64_t fake[64];
        EXPECT_GEMM(AMX_ERR_INVALID_ARG, (const amx_weights *)fake, 1, x, k, g_y, n, NULL);
    }
    EXPECT_GEMM(AMX_OK, h, 4, x, k, g_y, n, NULL);

    /* ---- queries ---- */
    amx_weights_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    CHECK(amx_weights_query(h, &info) == AMX_OK, "query");
    CHECK(info.type == AMX_TYPE_Q4_0 && info.n == n && info.k == k, "query type/shape");
    CHECK(info.gguf_bytes == sz && info.packed_bytes >= sz, "query bytes %llu %llu",
          (unsigned long long)info.gguf_bytes, (unsigned long long)info.packed_bytes);
    CHECK(info.isa != AMX_ISA_AUTO && info.kernel && info.layout, "query isa/kernel/layout");
    info.size = 8;
    CHECK(amx_weights_query(h, &info) == AMX_ERR_INVALID_ARG, "query with tiny size");
    CHECK(amx_weights_query(NULL, &info) == AMX_ERR_INVALID_ARG, "query NULL handle");
    CHECK(amx_weights_query(h, NULL) == AMX_ERR_INVALID_ARG, "query NULL info");
    {
        struct { amx_weights_info i; uint64_t extra; } big;
        memset(&big, 0xff, sizeof big);
        big.i.size = sizeof big;
        CHECK(amx_weights_query(h, &big.i) == AMX_OK && big.extra == 0, "query zeroes unknown tail");
    }
    CHECK(strcmp(amx_weights_kernel(NULL, 1), "invalid") == 0, "kernel name of NULL handle");
    CHECK(strlen(amx_weights_kernel(h, 1)) > 0 && strlen(amx_weights_kernel(h, 512)) > 0, "kernel names");

    uint8_t *back = malloc(sz);
    CHECK(amx_weights_unpack(h, back, sz - 1) == AMX_ERR_SIZE_MISMATCH, "unpack size");
    CHECK(amx_weights_unpack(h, NULL, sz) == AMX_ERR_INVALID_ARG, "unpack NULL");
    CHECK(amx_weights_unpack(h, back, sz) == AMX_OK && memcmp(back, w, sz) == 0, "unpack round trip");
    free(back);

    float dq[64];
    CHECK(amx_dequantize(AMX_TYPE_Q4_0, 64, w, 36, dq) == AMX_OK, "dequantize");
    CHECK(amx_dequantize(AMX_TYPE_Q4_0, 48, w, 36, dq) == AMX_ERR_BAD_SHAPE, "dequantize partial block");
    CHECK(amx_dequantize(AMX_TYPE_Q4_0, 64, w, 35, dq) == AMX_ERR_SIZE_MISMATCH, "dequantize size");
    CHECK(amx_dequantize((amx_type)16, 64, w, 36, dq) == AMX_ERR_UNSUPPORTED_TYPE, "dequantize type");
    CHECK(amx_dequantize(AMX_TYPE_Q4_0, 64, NULL, 36, dq) == AMX_ERR_INVALID_ARG, "dequantize NULL");

    /* ---- strings and versions ---- */
    for (int s = -1; s <= AMX_ERR_IO + 1; s++)
        CHECK(amx_status_str((amx_status)s) != NULL && amx_status_str((amx_status)s)[0], "status_str(%d)", s);
    CHECK(strcmp(amx_status_str(AMX_OK), amx_status_str((amx_status)99)) != 0, "unknown status text");
    CHECK(amx_version() == AMXQ_VERSION_MAJOR * 10000u + AMXQ_VERSION_MINOR * 100u + AMXQ_VERSION_PATCH,
          "runtime version matches header");
    CHECK(amx_version_str() && amx_version_str()[0] == '0' + AMXQ_VERSION_MAJOR, "version string");
    CHECK(strcmp(amx_type_name(AMX_TYPE_IQ4_XS), "IQ4_XS") == 0 && strcmp(amx_type_name((amx_type)5), "unknown") == 0,
          "type names");
    /* the type table: every listed type is named, sized and found by its name */
    {
        const int32_t nt = amx_type_count();
        int listed_ok = nt >= 7, has_q4_k = 0;
        for (int32_t i = 0; i < nt; i++) {
            const amx_type t = amx_type_at(i);
            char lower[16];
            snprintf(lower, sizeof lower, "%s", amx_type_name(t));
            for (char *c = lower; *c; c++) *c = (char)tolower((unsigned char)*c);
            listed_ok &= strcmp(amx_type_name(t), "unknown") != 0 && amx_type_block_size(t) > 0 &&
                         amx_type_from_name(amx_type_name(t)) == t && amx_type_from_name(lower) == t;
            for (int32_t j = 0; j < i; j++) listed_ok &= amx_type_at(j) != t;
            has_q4_k |= t == AMX_TYPE_Q4_K;
        }
        CHECK(listed_ok && has_q4_k, "type table: %d types, each named, sized and found by name", nt);
        CHECK(amx_type_at(-1) == (amx_type)-1 && amx_type_at(nt) == (amx_type)-1, "type index out of range");
        CHECK(amx_type_from_name("Q4_X") == (amx_type)-1 && amx_type_from_name("") == (amx_type)-1 &&
                  amx_type_from_name(NULL) == (amx_type)-1,
              "unknown type names");
    }
    CHECK(amx_type_block_size(AMX_TYPE_Q6_K) == 256 && amx_type_block_bytes(AMX_TYPE_Q6_K) == 210, "Q6_K sizes");
    CHECK(amx_type_block_size((amx_type)16) == 0, "block size of unsupported type (IQ2_XXS)");
    CHECK(amx_cpu_supports(AMX_ISA_SCALAR, NULL) == 1 && amx_cpu_supports((amx_isa)9, NULL) == 0, "supports");
    CHECK(amx_cpu_report() && strstr(amx_cpu_report(), "amx:"), "cpu report");
    printf("%s", amx_cpu_report());

    amx_weights_free(h);
    amx_weights_free(NULL);
    free(w);
    return test_finish("test_api");
}
