/* The table of kernel variants: one row per (weight type, ISA). */
#include "dispatch.h"

#include "ref/ref_variant.h"
#include "repack/repack_legacy.h"
#include "vnni/vnni_legacy.h"
#include "repack/repack_kquants.h"
#include "vnni/act_q8_K.h"
#include "vnni/vnni_kq.h"
#include "tiles/amx_rows.h"
#include "repack/repack_float.h"
#include "vnni/vnni_float.h"

#define REF_ROW(T, tn)                                                                             \
    {.name = "ref_" #tn, .type = AMX_TYPE_##T, .isa = AMX_ISA_SCALAR, .layout = "gguf",              \
     .impl = &(const ref_kind){"ref_gemm_" #tn "_1x1"}, .pack_rows = REF_PACK_ROWS,                  \
     .packed_size = amxq_ref_packed_size, .pack = amxq_ref_pack, .unpack = amxq_ref_unpack,           \
     .act_size = amxq_ref_act_size, .quantize = amxq_ref_quantize,                                    \
     .act_format = amxq_ref_act_format, .act_copy_row = amxq_ref_act_copy_row,                         \
     .select = amxq_ref_select}

/* The legacy and K-quant layouts, packers and quantizers, shared by a type's
 * VNNI and AMX rows, so a workspace quantized for either serves both */
#define LEGACY_PARTS                                                                                 \
    .pack_rows = LEGACY_PANEL_ROWS, .packed_size = amxq_legacy_packed_size, .pack = amxq_legacy_pack, \
    .unpack = amxq_legacy_unpack, .act_size = amxq_vnni_legacy_act_size,                               \
    .quantize = amxq_vnni_legacy_quantize, .act_format = amxq_vnni_legacy_act_format,                 \
    .act_copy_row = amxq_vnni_legacy_act_copy_row
#define KQ_PARTS                                                                                     \
    .pack_rows = KQ_PANEL, .packed_size = amxq_kq_packed_size, .pack = amxq_kq_pack,                  \
    .unpack = amxq_kq_unpack, .act_size = amxq_vnni_q8K_act_size, .quantize = amxq_vnni_q8K_quantize, \
    .act_format = amxq_vnni_q8K_act_format, .act_copy_row = amxq_vnni_q8K_act_copy_row

#define VNNI_LEGACY_ROW(T, tn)                                                                     \
    {.name = "vnni512_" #tn, .type = AMX_TYPE_##T, .isa = AMX_ISA_AVX512_VNNI, .layout = #tn "p16", \
     .impl = &amxq_vnni_legacy_##tn, LEGACY_PARTS, .select = amxq_vnni_legacy_select}
#define VNNI_KQ_ROW(T, tn)                                                                         \
    {.name = "vnni512_" #tn, .type = AMX_TYPE_##T, .isa = AMX_ISA_AVX512_VNNI, .layout = #tn "p16", \
     .impl = &amxq_vnni_kq_##tn, KQ_PARTS, .select = amxq_vnni_kq_select}
/* F16 and BF16: plain-float panels and activations rounded to the type */
#define FLOAT_PARTS                                                                                  \
    .pack_rows = FLOAT_PANEL_ROWS, .packed_size = amxq_float_packed_size, .pack = amxq_float_pack,   \
    .unpack = amxq_float_unpack, .act_size = amxq_vnni_float_act_size,                                \
    .quantize = amxq_vnni_float_quantize, .act_format = amxq_vnni_float_act_format
#define VNNI_FLOAT_ROW(T, tn)                                                                      \
    {.name = "vnni512_" #tn, .type = AMX_TYPE_##T, .isa = AMX_ISA_AVX512_VNNI, .layout = #tn "p16", \
     .impl = &amxq_vnni_float_##tn, FLOAT_PARTS, .select = amxq_vnni_float_select}
/* AMX rows: tiles from amx_min_m rows, the VNNI kernels below */
#define AMX_LEGACY_ROW(T, tn)                                                                  \
    {.name = "amx_" #tn, .type = AMX_TYPE_##T, .isa = AMX_ISA_AMX, .layout = #tn "p16",        \
     .impl = &amxq_amx_legacy_##tn, LEGACY_PARTS, .select = amxq_amx_legacy_select,             \
     .amx_min_m = AMX_MIN_M_DEFAULT}
#define AMX_KQ_ROW_MIN(T, tn, min_m)                                                           \
    {.name = "amx_" #tn, .type = AMX_TYPE_##T, .isa = AMX_ISA_AMX, .layout = #tn "p16",        \
     .impl = &amxq_amx_kq_##tn, KQ_PARTS, .select = amxq_amx_kq_select, .amx_min_m = (min_m)}
#define AMX_KQ_ROW(T, tn) AMX_KQ_ROW_MIN(T, tn, AMX_MIN_M_DEFAULT)

/* BF16 only: F16 has no tile kernel (AMX-FP16 is newer than AMX-BF16) */
#define AMX_FLOAT_ROW(T, tn)                                                                   \
    {.name = "amx_" #tn, .type = AMX_TYPE_##T, .isa = AMX_ISA_AMX, .layout = #tn "p16",        \
     .impl = &amxq_amx_float_##tn, FLOAT_PARTS, .select = amxq_amx_float_select,                \
     .amx_min_m = AMX_MIN_M_DEFAULT}

static const amxq_variant k_variants[] = {
    REF_ROW(Q4_0, q4_0), REF_ROW(Q4_1, q4_1), REF_ROW(Q5_0, q5_0), REF_ROW(Q5_1, q5_1), REF_ROW(Q8_0, q8_0),
    REF_ROW(IQ4_NL, iq4_nl),
    REF_ROW(Q4_K, q4_K), REF_ROW(Q5_K, q5_K), REF_ROW(Q6_K, q6_K),
    REF_ROW(IQ4_XS, iq4_xs), REF_ROW(F16, f16), REF_ROW(BF16, bf16),
    REF_ROW(Q2_K, q2_K), REF_ROW(Q3_K, q3_K),
    VNNI_LEGACY_ROW(Q4_0, q4_0), VNNI_LEGACY_ROW(Q4_1, q4_1), VNNI_LEGACY_ROW(Q5_0, q5_0),
    VNNI_LEGACY_ROW(Q5_1, q5_1), VNNI_LEGACY_ROW(Q8_0, q8_0),
    VNNI_LEGACY_ROW(IQ4_NL, iq4_nl),
    VNNI_KQ_ROW(Q4_K, q4_K), VNNI_KQ_ROW(Q5_K, q5_K), VNNI_KQ_ROW(Q6_K, q6_K), VNNI_KQ_ROW(IQ4_XS, iq4_xs),
    VNNI_FLOAT_ROW(F16, f16), VNNI_FLOAT_ROW(BF16, bf16),
    VNNI_KQ_ROW(Q2_K, q2_K), VNNI_KQ_ROW(Q3_K, q3_K),
    AMX_LEGACY_ROW(Q4_0, q4_0), AMX_LEGACY_ROW(Q4_1, q4_1), AMX_LEGACY_ROW(Q5_0, q5_0),
    AMX_LEGACY_ROW(Q5_1, q5_1), AMX_LEGACY_ROW(Q8_0, q8_0),
    AMX_LEGACY_ROW(IQ4_NL, iq4_nl),
    /* Q4_K and Q5_K: tiles from 32 rows, as measured (amx_rows.h) */
    AMX_KQ_ROW_MIN(Q4_K, q4_K, AMX_MIN_M_Q45_K), AMX_KQ_ROW_MIN(Q5_K, q5_K, AMX_MIN_M_Q45_K),
    AMX_KQ_ROW(Q6_K, q6_K), AMX_KQ_ROW(IQ4_XS, iq4_xs),
    AMX_FLOAT_ROW(BF16, bf16),
    AMX_KQ_ROW(Q2_K, q2_K), AMX_KQ_ROW(Q3_K, q3_K),
};

const amxq_variant *amxq_variants(size_t *count) {
    *count = sizeof(k_variants) / sizeof(k_variants[0]);
    return k_variants;
}

const amxq_variant *amxq_find_variant(amx_type type, amx_isa isa) {
    for (size_t i = 0; i < sizeof(k_variants) / sizeof(k_variants[0]); i++)
        if (k_variants[i].type == type && k_variants[i].isa == isa) return &k_variants[i];
    return NULL;
}
