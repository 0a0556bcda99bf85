/* The table of kernel variants: one row per (weight type, ISA). */
#include "dispatch.h"

#include "ref/ref_variant.h"
#include "repack/repack_legacy.h"
#include "vnni/vnni_legacy.h"
#include "repack/repack_kquants.h"
#include "vnni/act_q8_K.h"
#include "vnni/vnni_kq.h"
#include "tiles/amx_rows.h"

#define REF_ROW(T, tname)                                                                        \
    {.name = "ref_" tname, .type = AMX_TYPE_##T, .isa = AMX_ISA_SCALAR, .layout = "gguf",         \
     .pack_rows = REF_PACK_ROWS, .packed_size = ref_packed_size, .pack = ref_pack,               \
     .unpack = ref_unpack, .act_size = ref_act_size, .quantize = ref_quantize,                   \
     .n_items = ref_n_items, .compute = ref_compute, .kernel_name = ref_kernel_name}

#define VNNI_LEGACY_ROW(T, tname)                                                                \
    {.name = "vnni512_" tname, .type = AMX_TYPE_##T, .isa = AMX_ISA_AVX512_VNNI,                  \
     .layout = tname "p16", .pack_rows = LEGACY_PANEL_ROWS, .packed_size = legacy_packed_size,    \
     .pack = legacy_pack, .unpack = legacy_unpack, .act_size = vnni_legacy_act_size,              \
     .quantize = vnni_legacy_quantize, .n_items = vnni_legacy_n_items,                            \
     .compute = vnni_legacy_compute, .kernel_name = vnni_legacy_kernel_name}
#define VNNI_KQ_ROW(T, tname, fn)                                                                \
    {.name = "vnni512_" tname, .type = AMX_TYPE_##T, .isa = AMX_ISA_AVX512_VNNI,                  \
     .layout = tname "p16", .pack_rows = KQ_PANEL, .packed_size = kq_packed_size,                 \
     .pack = kq_pack, .unpack = kq_unpack, .act_size = vnni_q8K_act_size,                         \
     .quantize = vnni_q8K_quantize, .n_items = kq_n_items, .compute = vnni_##fn##_compute,         \
     .kernel_name = vnni_##fn##_kernel_name}
/* AMX rows: the VNNI sibling's layout, packer and quantizer; tiles from amx_min_m rows */
#define AMX_LEGACY_ROW(T, tname)                                                                 \
    {.name = "amx_" tname, .type = AMX_TYPE_##T, .isa = AMX_ISA_AMX, .layout = tname "p16",       \
     .pack_rows = LEGACY_PANEL_ROWS, .packed_size = legacy_packed_size, .pack = legacy_pack,      \
     .unpack = legacy_unpack, .act_size = vnni_legacy_act_size, .quantize = vnni_legacy_quantize, \
     .n_items = amx_legacy_n_items, .compute = amx_legacy_compute,                                \
     .amx_min_m = AMX_MIN_M_DEFAULT, .kernel_name = amx_legacy_kernel_name}
#define AMX_KQ_ROW(T, tname)                                                                     \
    {.name = "amx_" tname, .type = AMX_TYPE_##T, .isa = AMX_ISA_AMX, .layout = tname "p16",       \
     .pack_rows = KQ_PANEL, .packed_size = kq_packed_size, .pack = kq_pack, .unpack = kq_unpack,  \
     .act_size = vnni_q8K_act_size, .quantize = vnni_q8K_quantize, .n_items = amx_kq_n_items,     \
     .compute = amx_kq_compute, .amx_min_m = AMX_MIN_M_DEFAULT, .kernel_name = amx_kq_kernel_name}

static const amx_variant k_variants[] = {
    REF_ROW(Q4_0, "q4_0"), REF_ROW(Q4_1, "q4_1"), REF_ROW(Q8_0, "q8_0"),
    REF_ROW(Q4_K, "q4_K"), REF_ROW(Q5_K, "q5_K"), REF_ROW(Q6_K, "q6_K"),
    REF_ROW(IQ4_XS, "iq4_xs"),
    VNNI_LEGACY_ROW(Q4_0, "q4_0"), VNNI_LEGACY_ROW(Q4_1, "q4_1"), VNNI_LEGACY_ROW(Q8_0, "q8_0"),
    VNNI_KQ_ROW(Q4_K, "q4_K", q4_K), VNNI_KQ_ROW(Q5_K, "q5_K", q5_K), VNNI_KQ_ROW(Q6_K, "q6_K", q6_K),
    VNNI_KQ_ROW(IQ4_XS, "iq4_xs", iq4_xs),
    AMX_LEGACY_ROW(Q4_0, "q4_0"), AMX_LEGACY_ROW(Q4_1, "q4_1"), AMX_LEGACY_ROW(Q8_0, "q8_0"),
    AMX_KQ_ROW(Q4_K, "q4_K"), AMX_KQ_ROW(Q5_K, "q5_K"), AMX_KQ_ROW(Q6_K, "q6_K"), AMX_KQ_ROW(IQ4_XS, "iq4_xs"),
};

const amx_variant *amxq_variants(size_t *count) {
    *count = sizeof(k_variants) / sizeof(k_variants[0]);
    return k_variants;
}

const amx_variant *amxq_find_variant(amx_type type, amx_isa isa) {
    for (size_t i = 0; i < sizeof(k_variants) / sizeof(k_variants[0]); i++)
        if (k_variants[i].type == type && k_variants[i].isa == isa) return &k_variants[i];
    return NULL;
}
