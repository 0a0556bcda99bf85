/*
 * AMX availability and fallback. Run three ways (see test/meson.build):
 *   expect=available  the emulator build: AMX is usable (through the emulator)
 *   expect=denied     the emulator build with AMXQ_TEST_DENY_AMX_PERM=1, i.e. as
 *                     if the kernel refused ARCH_REQ_XCOMP_PERM
 *   expect=hardware   the normal build: whatever this CPU says, consistently
 * In every case: the CPU report states the reason when AMX is off, AUTO never
 * picks AMX when it is off, forcing AMX fails with AMX_ERR_ISA_UNAVAILABLE and
 * *out = NULL, and the multiply still works through the fallback.
 */
#include <string.h>

#include "common.h"

int main(int argc, char **argv) {
    const char *expect = argc > 1 ? argv[1] : "hardware";
    const char *why = NULL;
    const int amx = amx_cpu_supports(AMX_ISA_AMX, &why);
    printf("AMX %s: %s\n", amx ? "usable" : "off", why);
    CHECK(why && *why, "a reason is always given");
    const char *report = amx_cpu_report();
    CHECK(strstr(report, why) != NULL, "the CPU report carries the same reason:\n%s", report);

    if (!strcmp(expect, "available")) {
        CHECK(amx, "emulator build without the deny switch: AMX must be usable (%s)", why);
    } else if (!strcmp(expect, "denied")) {
        CHECK(!amx, "deny switch set: AMX must be off");
        CHECK(strstr(why, "ARCH_REQ_XCOMP_PERM") != NULL, "reason names the refused permission: %s", why);
    }

    const int64_t n = 40, k = 512;
    for (int ti = 0; ti < N_TYPES; ti++) {
        const amx_type t = k_all_types_at(ti);
        const size_t sz = gguf_bytes(t, n, k);
        uint8_t *w = malloc(sz);
        gen_weights(t, n, k, w, GEN_NORMAL);
        amx_weights *h = (amx_weights *)(uintptr_t)1;
        amx_pack_opts po = {.size = sizeof po, .isa = AMX_ISA_AMX};
        const amx_status st = amx_pack_weights(t, n, k, w, sz, &po, &h);
        if (!amx) {
            CHECK(st == AMX_ERR_ISA_UNAVAILABLE && h == NULL, "%s forced AMX while off: %s", amx_type_name(t),
                  amx_status_str(st));
        } else {
            CHECK(st == AMX_OK || st == AMX_ERR_UNSUPPORTED_TYPE, "%s forced AMX while usable: %s",
                  amx_type_name(t), amx_status_str(st));
            if (st == AMX_OK) amx_weights_free(h);
        }
        /* AUTO: never AMX when AMX is off, and the multiply works */
        h = NULL;
        CHECK(amx_pack_weights(t, n, k, w, sz, NULL, &h) == AMX_OK, "%s auto pack", amx_type_name(t));
        if (h) {
            amx_weights_info info = {.size = sizeof info};
            amx_weights_query(h, &info);
            CHECK(amx || info.isa != AMX_ISA_AMX, "%s: AUTO chose AMX while AMX is off", amx_type_name(t));
            const char *vwhy;
            CHECK(amx_cpu_supports(info.isa, &vwhy), "%s: AUTO chose %s, which is not usable", amx_type_name(t),
                  amx_isa_name(info.isa));
            float x[3 * 512], y[3 * 40];
            gen_acts(3, k, k, x);
            CHECK(amx_gemm_q(h, 3, x, k, y, n, NULL) == AMX_OK, "%s gemm through %s", amx_type_name(t),
                  amx_isa_name(info.isa));
            const double r = oracle_check(t, 3, n, k, w, x, k, y, n, (int)(k / 16) + 16, "fallback");
            CHECK(r <= 1.0, "%s through %s: err/bound %.3g", amx_type_name(t), amx_isa_name(info.isa), r);
            printf("%-6s AUTO -> %s (%s)\n", amx_type_name(t), info.kernel, amx_isa_name(info.isa));
            amx_weights_free(h);
        }
        free(w);
    }
    return test_finish("test_amx_fallback");
}
