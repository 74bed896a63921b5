#!/usr/bin/python3
"""The leave-one-family-out table (bench/leave_one_family_out.sh runs it).

Usage: bench/lofo_table.py VALIDATE.json OUTDIR FAMILY [FAMILY ...]

OUTDIR holds all.bundle (every family trained) and without-F.bundle per FAMILY F
(`train --exclude-family F`), each with its `train --format json` manifest beside it.
Every model of VALIDATE.json (`validate --per-kernel --format json`) is predicted by
each bundle with `$INFERCAST_CLI predict --format json` (a .tflite that validate
measured as ONNX is exported the same way first); the predictions are kept in
OUTDIR/predictions/ and reused. Kernels are matched by name with the per-kernel times
validate measured inside the models. Per family F:

  share        F's part of the measured per-kernel time, summed over the held-out models
  kernels      F's matched kernels (and the models that have any)
  tw |err|     time-weighted |error| of F's kernels: sum |pred - meas| / sum meas,
               with F trained (in) and left out (out)
  median err   median signed error (pred / meas - 1) of F's kernels, in and out
  ±10%         models within ±10% of their measured latency, in and out
  why          F's held-out kernels against the fallback roofline fitted to the other
               families: their median arithmetic intensity (FLOP/byte) and achieved
               GFLOP/s and GB/s inside the models, next to the fallback's two ceilings;
               and the features of F's training kernels outside the range the other
               families' training kernels cover

Writes OUTDIR/lofo.json and OUTDIR/lofo.md and prints the markdown. Times nothing.
"""

import json
import math
import os
import statistics
import subprocess
import sys

from rescore import CLI, model_file  # bench/rescore.py: the CLI and the file validate measured


def predictions(bundle, models, out):
    """{row name: predict JSON, slimmed} for every model, cached in OUTDIR/predictions/."""
    stem = os.path.splitext(os.path.basename(bundle))[0]
    cache = os.path.join(out, "predictions", stem + ".json")
    if os.path.exists(cache) and os.path.getmtime(cache) >= os.path.getmtime(bundle):
        with open(cache) as f:
            return json.load(f)
    result = {}
    for name in models:
        run = subprocess.run([CLI, "predict", model_file(name, out), "--predictor", bundle, "--format", "json"],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(f"lofo_table: predict {name} with {bundle}: {run.stderr.strip()}")
        p = json.loads(run.stdout)
        result[name] = {
            "latency_ms": p["latency_ms"],
            "estimated_kernels": p["estimated_kernels"],
            "kernels": {k["name"]: [k["family"], k["latency_ms"], k["source"], k["flops"], k["bytes"]]
                        for k in p["kernels"]},
        }
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache + ".tmp", "w") as f:
        json.dump(result, f)
    os.replace(cache + ".tmp", cache)
    return result


def pct(x):
    return "–" if x is None else f"{100 * x:+.0f}%"


def uncovered_features(manifest, family):
    """Features whose range over F's training kernels leaves the union of the others' ranges."""
    fams = manifest["families"]
    names = manifest["features"]
    mine = fams[family]
    others = [f for n, f in fams.items() if n != family]
    if not others:
        return []
    out = []
    for j, feature in enumerate(names):
        lo = min(f["feature_lo"][j] for f in others)
        hi = max(f["feature_hi"][j] for f in others)
        span = max(hi - lo, 1e-9)
        below = (lo - mine["feature_lo"][j]) / span
        above = (mine["feature_hi"][j] - hi) / span
        if below > 0.01 or above > 0.01:
            out.append(f"{feature} {mine['feature_lo'][j]:.3g}..{mine['feature_hi'][j]:.3g} "
                       f"(others {lo:.3g}..{hi:.3g})")
    return out


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    measured_path, out, families = argv[0], argv[1], argv[2:]
    with open(measured_path) as f:
        v = json.load(f)
    rows = {m["model"]: m for m in v["models"] if "error" not in m}
    per_kernel = {m["model"]: {k["kernel"]: k["measured_ms"] for k in m.get("per_kernel", [])}
                  for m in v.get("per_kernel", {}).get("models", []) if "error" not in m}
    if not per_kernel:
        raise SystemExit(f"lofo_table: {measured_path} has no per-kernel times (validate --per-kernel)")
    models = sorted(rows)
    with open(os.path.join(out, "all.train.json")) as f:
        manifest = json.load(f)
    full = predictions(os.path.join(out, "all.bundle"), models, out)

    # Every matched kernel: (model, name, family, measured, predicted with every family).
    matched, unmatched_ms, total_ms = [], 0.0, 0.0
    for model, times in per_kernel.items():
        kernels = full.get(model, {}).get("kernels", {})
        for name, ms in times.items():
            total_ms += ms
            if name not in kernels:
                unmatched_ms += ms
                continue
            family, pred, _, flops, nbytes = kernels[name]
            matched.append((model, name, family, ms, pred, flops, nbytes))
    matched_ms = sum(k[3] for k in matched)

    def within10(pred):
        return sum(abs(pred[m]["latency_ms"] - rows[m]["measured_ms"]) <= 0.1 * rows[m]["measured_ms"] for m in models)

    in10 = within10(full)
    table = []
    for family in families:
        bundle = os.path.join(out, f"without-{family}.bundle")
        with open(os.path.join(out, f"without-{family}.train.json")) as f:
            lofo_manifest = json.load(f)
        lofo = predictions(bundle, models, out)
        mine = [k for k in matched if k[2] == family]
        meas = sum(k[3] for k in mine)
        err_in = [k[4] / k[3] - 1 for k in mine]
        preds_out = [lofo[k[0]]["kernels"][k[1]][1] for k in mine]
        sources = {lofo[k[0]]["kernels"][k[1]][2] for k in mine}
        err_out = [p / k[3] - 1 for p, k in zip(preds_out, mine)]
        fallback = lofo_manifest["fallback"]
        intensity = [k[5] / k[6] for k in mine if k[6] > 0]
        # Achieved rates inside the models (FLOP or bytes per ms / 1e6 = GFLOP/s or GB/s).
        gflops = [k[5] / k[3] / 1e6 for k in mine]
        gbytes = [k[6] / k[3] / 1e6 for k in mine]
        row = {
            "family": family,
            "samples": manifest["families"].get(family, {}).get("samples", 0),
            "share": meas / matched_ms if matched_ms > 0 else 0.0,
            "kernels": len(mine),
            "models_with": len({k[0] for k in mine}),
            "tw_abs_err_in": sum(abs(k[4] - k[3]) for k in mine) / meas if meas > 0 else None,
            "tw_abs_err_out": sum(abs(p - k[3]) for p, k in zip(preds_out, mine)) / meas if meas > 0 else None,
            "median_err_in": statistics.median(err_in) if err_in else None,
            "median_err_out": statistics.median(err_out) if err_out else None,
            "within10_in": in10,
            "within10_out": within10(lofo),
            "sources_out": sorted(sources),
            "median_flop_per_byte": statistics.median(intensity) if intensity else None,
            "median_gflops": statistics.median(gflops) if gflops else None,
            "median_gbytes_per_s": statistics.median(gbytes) if gbytes else None,
            "fallback": fallback,
            "uncovered_features": uncovered_features(manifest, family) if family in manifest["families"] else [],
        }
        table.append(row)
        print(f"lofo_table: {family}: {len(mine)} kernels, out {pct(row['tw_abs_err_out'])}", file=sys.stderr)
    table.sort(key=lambda r: -(r["tw_abs_err_out"] or 0))
    n = len(models)
    doc = {"validate": measured_path, "models": n, "within10_all_families": in10,
           "matched_kernel_ms": matched_ms, "unmatched_kernel_ms": unmatched_ms, "families": table}
    with open(os.path.join(out, "lofo.json"), "w") as f:
        json.dump(doc, f, indent=1)
    lines = [
        f"{n} held-out models ({in10} within ±10% with every family trained); kernels matched by name cover "
        f"{100 * matched_ms / total_ms:.1f}% of the measured per-kernel time.",
        "",
        "| family left out | samples | share of time | kernels (models) | tw abs err in → out | median err in → out "
        "| models ±10% in → out | FLOP/B | achieved GFLOP/s, GB/s | fallback ceilings GFLOP/s, GB/s |",
        "|---|---:|---:|---:|---|---|---|---:|---:|---:|",
    ]
    for r in table:
        tw_in = "–" if r["tw_abs_err_in"] is None else f"{100 * r['tw_abs_err_in']:.0f}%"
        tw_out = "–" if r["tw_abs_err_out"] is None else f"{100 * r['tw_abs_err_out']:.0f}%"
        fpb = "–" if r["median_flop_per_byte"] is None else f"{r['median_flop_per_byte']:.2g}"
        rate = "–" if r["median_gflops"] is None else f"{r['median_gflops']:.3g}, {r['median_gbytes_per_s']:.3g}"
        ceilings = f"{r['fallback']['flops_per_ms'] / 1e6:.3g}, {r['fallback']['bytes_per_ms'] / 1e6:.3g}"
        lines.append(
            f"| {r['family']} | {r['samples']} | {100 * r['share']:.2g}% | {r['kernels']} ({r['models_with']}) "
            f"| {tw_in} → {tw_out} | {pct(r['median_err_in'])} → {pct(r['median_err_out'])} "
            f"| {r['within10_in']}/{n} → {r['within10_out']}/{n} | {fpb} | {rate} | {ceilings} |")
    lines.append("")
    for r in table:
        if r["uncovered_features"]:
            lines.append(f"- {r['family']}: training range outside the other families': "
                         + "; ".join(r["uncovered_features"]))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "lofo.md"), "w") as f:
        f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main(sys.argv[1:])
