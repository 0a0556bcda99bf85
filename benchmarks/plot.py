#!/usr/bin/env python3
"""Draws amxq-bench's JSON report as one PNG.

One panel per weight type: GOPS against M (log-log) for each shape and thread
count, with the machine's vpdpbusd peak measured in the same run as dashed
lines and oneDNN's int8 matmul as grey dotted lines. A last panel: decode
(smallest M) weight bandwidth per type and shape as a fraction of the read
bandwidth, the median of the per-round ratios with their min-max as error
bars (runs without rounds: GB/s against the read bandwidth measured at the
start).

    python3 benchmarks/plot.py results.json -o results.png

Needs matplotlib (Debian: python3-matplotlib). Exits 2 with a message when it
is missing, so a script can chain the plot step and go on without it.
"""
import argparse
import json
import math
import sys


def selected(results):
    return [r for r in results if r["what"] == "amxq" and r.get("role") == "selected"]


def series_key(r):
    return (r["variant"], r["n"], r["k"], r["threads"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", help="file written by amxq-bench --json")
    ap.add_argument("-o", "--output", default="amxq-bench.png", help="PNG to write")
    args = ap.parse_args()
    with open(args.json) as f:
        data = json.load(f)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot.py: matplotlib is not installed (Debian: apt-get install python3-matplotlib, "
              "or pip install matplotlib); no plot written", file=sys.stderr)
        return 2

    res = data["results"]
    amxq = selected(res)
    types = []
    for r in amxq:
        if r["type"] not in types:
            types.append(r["type"])
    peaks = {p["threads"]: p["median_gops"] for p in data["limits"]["vpdpbusd_zmm"]}
    bws = {b["threads"]: b["median_gbps"] for b in data["limits"]["read_bandwidth"]}
    dnn = [r for r in res if r["what"] == "onednn"]
    shapes = sorted({(r["n"], r["k"]) for r in amxq})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    shape_color = {s: colors[i % len(colors)] for i, s in enumerate(shapes)}
    thread_list = sorted({r["threads"] for r in amxq})
    markers = "os^dv<>p*h"
    thread_marker = {t: markers[i % len(markers)] for i, t in enumerate(thread_list)}

    panels = len(types) + 1
    cols = min(4, panels)
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.9 * rows), squeeze=False)
    flat = [a for row in axes for a in row]

    for ax, t in zip(flat, types):
        series = {}
        for r in amxq:
            if r["type"] == t and r["gops"] is not None:
                series.setdefault(series_key(r), []).append((r["m"], r["gops"], r["n_measured"] < r["n"]))
        for (variant, n, k, th), pts in sorted(series.items()):
            pts.sort()
            color = shape_color[(n, k)]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=thread_marker[th], color=color,
                    label=f"{variant} {n}x{k} {th}T")
            sub = [p for p in pts if p[2]]
            if sub:  # hollow: the scalar variant timed on a row subset
                ax.plot([p[0] for p in sub], [p[1] for p in sub], linestyle="none", marker=thread_marker[th],
                        color=color, markerfacecolor="white")
        dnn_label = "oneDNN int8 (same shapes)"
        for n, k in shapes:
            for th in thread_list:
                pts = sorted((r["m"], r["gops"]) for r in dnn
                             if r["n"] == n and r["k"] == k and r["threads"] == th and r["gops"])
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], color="grey", linestyle=":",
                            marker=thread_marker[th], markersize=3, linewidth=0.8, label=dnn_label)
                    dnn_label = None
        m_min = min((r["m"] for r in amxq if r["type"] == t), default=1)
        for th, g in sorted(peaks.items()):
            ax.axhline(g, color="black", linestyle="--", linewidth=0.8)
            ax.text(m_min, g, f" vpdpbusd peak {th}T", va="bottom", fontsize=7)
        ax.set_xscale("log", base=2)
        ms = sorted({r["m"] for r in amxq if r["type"] == t})
        ax.set_xticks(ms)
        ax.set_xticklabels([str(m) for m in ms])
        ax.minorticks_off()
        ax.set_yscale("log")
        ax.set_title(t)
        ax.set_xlabel("M (activation rows)")
        ax.set_ylabel("GOPS = 2MNK/t")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")

    # decode panel: smallest M per type/shape/threads
    ax = flat[len(types)]
    dec = [r for r in amxq if r["gbps"] is not None]
    rounds = any(r.get("rounds") and r["rounds"]["bw_ratio"] for r in dec)
    if dec:
        m0 = min(r["m"] for r in dec)
        combos = sorted({(r["n"], r["k"], r["threads"]) for r in dec if r["m"] == m0})
        width = 0.8 / max(1, len(combos))
        for ci, (n, k, th) in enumerate(combos):
            xs, ys, lo, hi = [], [], [], []
            for ti, t in enumerate(types):
                for r in dec:
                    if r["m"] == m0 and r["type"] == t and (r["n"], r["k"], r["threads"]) == (n, k, th):
                        b = r.get("rounds", {}).get("bw_ratio") if rounds else None
                        if rounds and not b:
                            break
                        xs.append(ti + (ci - (len(combos) - 1) / 2) * width)
                        ys.append(b["median"] if rounds else r["gbps"])
                        lo.append(b["median"] - b["min"] if rounds else 0)
                        hi.append(b["max"] - b["median"] if rounds else 0)
                        break
            ax.bar(xs, ys, width=width, color=shape_color[(n, k)], alpha=0.4 + 0.6 * (th == thread_list[-1]),
                   label=f"{n}x{k} {th}T", yerr=[lo, hi] if rounds else None, capsize=2,
                   error_kw={"linewidth": 0.8})
        if rounds:
            ax.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
            ax.set_ylabel("GB/s / read probe GB/s, same round")
            n_rounds = max(r["rounds"]["n"] for r in dec if r.get("rounds"))
            ax.set_title(f"decode M={m0}: fraction of read bandwidth\n(median of {n_rounds} rounds, min-max)",
                         fontsize=9)
        else:
            for th, b in sorted(bws.items()):
                ax.axhline(b, color="black", linestyle="--", linewidth=0.8)
                ax.text(-0.4, b, f" read bw {th}T", va="bottom", fontsize=7)
            ax.set_ylabel("GB/s of GGUF weights")
            ax.set_title(f"decode M={m0}: weight bandwidth")
        ax.set_xticks(range(len(types)))
        ax.set_xticklabels(types, fontsize=8)
        ax.legend(fontsize=6)
    else:
        ax.text(0.5, 0.5, "no decode-shaped runs", ha="center", transform=ax.transAxes)
    for extra in flat[panels:]:
        extra.axis("off")

    run = data["run"]
    fig.suptitle(f"amxq-bench {run['amxq_version']} on {data['machine']['cpu_model']} "
                 f"({data['machine']['cpus']} CPUs), {run['date_utc']}; hollow markers: scalar variant timed on a row subset; "
                 f"dashed: machine limits measured in the same run",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"plot: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
