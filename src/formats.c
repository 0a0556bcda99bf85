#include "formats.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

const int8_t amxq_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                       1,    13,   25,  38,  53,  69,  89,  113};

static const type_info k_types[] = {
    {AMX_TYPE_Q4_0, "Q4_0", QK32, sizeof(block_q4_0), ACT_Q8_0},
    {AMX_TYPE_Q4_1, "Q4_1", QK32, sizeof(block_q4_1), ACT_Q8_1},
    {AMX_TYPE_Q5_0, "Q5_0", QK32, sizeof(block_q5_0), ACT_Q8_0},
    {AMX_TYPE_Q5_1, "Q5_1", QK32, sizeof(block_q5_1), ACT_Q8_1},
    {AMX_TYPE_Q8_0, "Q8_0", QK32, sizeof(block_q8_0), ACT_Q8_0},
    {AMX_TYPE_IQ4_NL, "IQ4_NL", QK32, sizeof(block_iq4_nl), ACT_Q8_0},
    {AMX_TYPE_Q2_K, "Q2_K", QK_K, sizeof(block_q2_K), ACT_Q8_K},
    {AMX_TYPE_Q3_K, "Q3_K", QK_K, sizeof(block_q3_K), ACT_Q8_K},
    {AMX_TYPE_Q4_K, "Q4_K", QK_K, sizeof(block_q4_K), ACT_Q8_K},
    {AMX_TYPE_Q5_K, "Q5_K", QK_K, sizeof(block_q5_K), ACT_Q8_K},
    {AMX_TYPE_Q6_K, "Q6_K", QK_K, sizeof(block_q6_K), ACT_Q8_K},
    {AMX_TYPE_IQ4_XS, "IQ4_XS", QK_K, sizeof(block_iq4_xs), ACT_Q8_K},
    {AMX_TYPE_F16, "F16", QK_FLOAT, 2, ACT_F16},
    {AMX_TYPE_BF16, "BF16", QK_FLOAT, 2, ACT_BF16},
};

int32_t amxq_type_count(void) {
    return (int32_t)(sizeof(k_types) / sizeof(k_types[0]));
}

const type_info *amxq_type_info_at(int32_t index) {
    return index >= 0 && index < amxq_type_count() ? &k_types[index] : NULL;
}

const type_info *amxq_type_info(amx_type type) {
    for (size_t i = 0; i < sizeof(k_types) / sizeof(k_types[0]); i++)
        if (k_types[i].type == type) return &k_types[i];
    return NULL;
}

void amxq_type_unreachable(const char *where, amx_type type) {
    fprintf(stderr, "amxq internal error: %s has no code for weight type %d\n", where, (int)type);
    abort();
}
