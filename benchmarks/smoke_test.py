#!/usr/bin/env python3
"""Smoke test of amxq-bench, so the benchmark cannot rot between real runs.

    smoke_test.py AMXQ_BENCH PLOT_PY

Runs the benchmark in its quickest mode on a tiny shape with every type, two
M values (one decode-shaped), two thread counts, every variant and every
peer, then checks that the JSON parses and holds the fields scripts and
plot.py read, with values that make sense (positive times, GOPS consistent
with the times, every selected cell present, decode rows measured in rounds
with their per-round ratios). If matplotlib is importable it also draws the
plot and checks a PNG came out.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

N, K, MS, THREADS = 64, 512, [1, 17], [1, 2]
QUICK_ROUNDS = 3  # --quick's default --rounds

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def table_types(bench):
    """The types of the dispatch table, from `amxq-bench --list` (its second
    column): the benchmark measures every type of the library's table, so a
    type that gains kernels is checked here with no edit."""
    p = subprocess.run([bench, "--list"], capture_output=True, text=True, timeout=60)
    lines = p.stdout.splitlines()
    head = [i for i, line in enumerate(lines) if line.split()[:2] == ["variant", "type"]]
    types = []
    for line in lines[head[0] + 1:] if head else []:
        fields = line.split()
        if len(fields) >= 2 and fields[1] not in types:
            types.append(fields[1])
    return types


def main():
    bench, plot = sys.argv[1], sys.argv[2]
    types = table_types(bench)
    check(len(types) > 0, "amxq-bench --list names the dispatch table's types")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        cmd = [bench, "--quick", "--shapes", f"{N}x{K}", "--m", ",".join(map(str, MS)),
               "--threads", ",".join(map(str, THREADS)), "--variant", "all", "--rotate-mib", "1",
               "--scalar-ops", "1e6", "--min-time", "0.002", "--max-time", "0.05", "--json", out]
        print("running:", " ".join(cmd))
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        print(p.stdout[-4000:])
        print(p.stderr[-2000:], file=sys.stderr)
        check(p.returncode == 0, f"amxq-bench exited {p.returncode}")
        with open(out) as f:
            data = json.load(f)

        for key in ["schema", "units", "run", "machine", "limits", "peers", "packs", "results", "not_run",
                    "reference"]:
            check(key in data, f"top-level field {key}")
        check(data["schema"] == "amxq-bench/1", "schema name")
        for key in ["time_s", "gops", "gbps", "pct_peak", "pct_bw", "x_scalar", "x_onednn", "x_openblas"]:
            check(key in data["units"], f"unit description for {key}")
        mach = data["machine"]
        check(mach["llc_bytes"] > 0 and bool(mach["llc_source"]), "last-level cache size and where it came from")
        check(isinstance(mach["hypervisor"], bool) and "sysfs_bytes" in mach["llc_figures"],
              "the cache figures of every source, and whether this is a guest")
        check("rounds" in data["units"], "unit description for rounds")
        rounds_run = data["run"]["rounds"]
        check(rounds_run["n"] == QUICK_ROUNDS and rounds_run["turn_policy"]["min_reps"] >= 3,
              "decode rounds on by default, --quick's count")
        q = data["run"]["quiesce"]
        check(q["longest_wait_s"] >= 0 and q["cells_with_busy_threads"] >= 0, "waits for idle workers reported")
        check("others_cpu" in data["run"]["others"] and "steal_cpu" in data["run"]["others"],
              "CPU time taken by other processes and guests reported")
        check(data["run"]["total_s"] > 0, "run time")

        lim = data["limits"]
        if lim["measured"]:
            for b in lim["read_bandwidth"]:
                check(b["median_gbps"] > 0 and b["buffer_bytes"] > data["machine"]["llc_bytes"],
                      "read bandwidth over a buffer larger than the LLC")
            for pk in lim["vpdpbusd_zmm"]:
                check(pk["median_gops"] > 0 and pk["chains"] >= 16, "vpdpbusd peak with >= 16 chains")
            check(sorted(b["threads"] for b in lim["read_bandwidth"]) == THREADS, "limits per thread count")
            check(len(lim["read_bandwidth_end"]) == len(THREADS) and len(lim["vpdpbusd_zmm_end"]) == len(THREADS),
                  "limits measured again at the end of the run")
        else:
            check(bool(lim["why"]), "limits not measured: says why")

        amxq = [r for r in data["results"] if r["what"] == "amxq"]
        for r in data["results"]:
            for key in ["variant", "kernel", "isa", "n", "k", "n_measured", "m", "threads", "time_s", "reps",
                        "gops", "gbps", "weight_bytes"]:
                check(key in r, f"result field {key}")
            t = r["time_s"]
            check(0 < t["min"] <= t["median"] <= t["max"] and r["reps"] >= 1, f"times of {r['variant']}")
            expect = 2 * r["m"] * r["n_measured"] * r["k"] / t["median"] * 1e-9
            check(math.isclose(r["gops"], expect, rel_tol=1e-4), f"GOPS of {r['variant']} match its time")
            check((r["gbps"] is not None) == (r["m"] <= 8), f"GB/s only for decode M ({r['variant']} m={r['m']})")
            # the scalar variant and OpenBLAS keep their own cells
            in_rounds = r["m"] <= 8 and r["isa"] != "scalar" and r["what"] != "openblas"
            check(("rounds" in r) == in_rounds, f"decode rows measured in rounds ({r['variant']} m={r['m']})")
            if in_rounds:
                rd = r["rounds"]
                check(rd["n"] == QUICK_ROUNDS and len(rd["per_round"]) == QUICK_ROUNDS, f"rounds of {r['variant']}")
                check("others_cpu" in rd and rd["turns_with_busy_threads"] >= 0,
                      f"{r['variant']}: what else ran during its rounds")
                g = rd["gbps"]
                check(g["min"] <= g["median"] <= g["max"] and math.isclose(r["gbps"], g["median"], rel_tol=1e-6),
                      f"{r['variant']}: GB/s is the median round's")
                if lim["measured"]:
                    b = rd["bw_ratio"]
                    check(b is not None and 0 < b["min"] <= b["median"] <= b["max"],
                          f"{r['variant']}: fraction of read bandwidth per round")
                    check(math.isclose(r["pct_bw"], 100 * b["median"], rel_tol=1e-6),
                          f"{r['variant']}: %bw is the median per-round fraction")
                    check(all(p["probe_gbps"] > 0 for p in rd["per_round"]), "the probe ran in every round")
                if r["what"] == "amxq" and data["peers"]["onednn"]["available"]:
                    x = rd["x_onednn"]
                    check(x is not None and 0 < x["min"] <= x["median"] <= x["max"], f"{r['variant']}: x oneDNN per round")
                    if r.get("role") == "selected":
                        check(math.isclose(r["x_onednn"], x["median"], rel_tol=1e-6),
                              f"{r['variant']}: x_onednn is the median per-round ratio")
        for ty in types:
            for m in MS:
                for th in THREADS:
                    cell = [r for r in amxq if r["type"] == ty and r["m"] == m and r["threads"] == th]
                    check(any(r["role"] == "selected" for r in cell), f"selected amxq result {ty} m={m} {th}T")
                    for r in cell:
                        check(r["kernel"] and r["isa"] in ("scalar", "avx512_vnni", "amx"),
                              f"kernel name and ISA for {r['variant']}")
                        check(r["packed_over_gguf"] > 0.5 and r["pack_median_s"] > 0,
                              f"pack figures next to {r['variant']}")
                        if r["checked"]:
                            check(r["check"] is not None and r["check"] < 1e-3,
                                  f"{r['variant']} agrees with the scalar variant")
        packs = data["packs"]
        check({p["type"] for p in packs} == set(types), "a pack record per type")
        for p in packs:
            check(p["packed_bytes"] > 0.5 * p["gguf_bytes"] > 0 and p["pack_median_s"] > 0 and p["pack_reps"] >= 3,
                  f"pack record of {p['variant']}")
            check(0.001 < p["weights_rms"] < 1, f"realistic weights for {p['type']}")

        peers = data["peers"]
        for name in ["onednn", "openblas"]:
            pr = [r for r in data["results"] if r["what"] == name]
            if peers[name]["available"]:
                check(len(pr) == len(MS) * len(THREADS), f"{name} measured in every (m, threads) cell")
            else:
                check(bool(peers[name]["description"]), f"{name} missing: says why")
        if peers["openblas"]["available"]:
            check(bool(peers["openblas"]["core"]), "OpenBLAS core type reported")

        ref = data["reference"]["figures"]
        check(len(ref) > 100 and all(f["unit"] in ("GB/s", "GOPS") for f in ref), "reference figures")

        try:
            import matplotlib  # noqa: F401
            have_mpl = True
        except ImportError:
            have_mpl = False
        if have_mpl:
            png = os.path.join(tmp, "bench.png")
            p = subprocess.run([sys.executable, plot, out, "-o", png], capture_output=True, text=True, timeout=120)
            print(p.stdout, p.stderr)
            check(p.returncode == 0 and os.path.getsize(png) > 10000, "plot.py wrote a PNG")
        else:
            print("matplotlib not importable by", sys.executable, "- plot.py not exercised")

    n_checks = "all" if not failures else f"{failures}"
    print(f"bench smoke: {'OK' if not failures else n_checks + ' checks FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
