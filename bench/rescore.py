#!/usr/bin/python3
"""Scores another predictor bundle against measurements `validate` already took.

Usage: bench/rescore.py VALIDATE.json BUNDLE [-o RESCORED.json]

A model's measured latency does not depend on the predictor, so a bundle retrained from
the same database (`infercast train`, e.g. with or without the whole-model composition)
is scored on the same measured medians without timing anything again: every model of
VALIDATE.json is predicted by `build/infercast predict --predictor BUNDLE` (a .tflite
that validate measured as ONNX is exported the same way first), and the file is written
again with the new predictions, in validate's JSON shape, so bench/heldout_table.py
reads it. Models validate could not run stay failed. When VALIDATE.json has `validate
--per-kernel` times, each predicted kernel is matched by name to its measured in-model time
and the kernel rows are scored too, per family: predicted/measured and the time-weighted
|error|; the per-kernel section is written back with the new predictions, its MAPE and
time-weighted error recomputed. The second figures (quiet rounds, the profile's host, the
host read before each run) are scored again too.
"""

import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.environ.get("INFERCAST_CLI", os.path.join(ROOT, "build", "infercast"))
# RESCORE_MODELS=DIR[:DIR...] adds folders searched first (e.g. .cache/int8/q9/onnx for int8 models).
FOLDERS = [f for f in os.environ.get("RESCORE_MODELS", "").split(":") if f] + [
    ".cache/models/torchvision",
    ".cache/models/zoo",
    ".cache/models/mediapipe",
]


def find(model):
    for folder in FOLDERS:
        path = os.path.join(ROOT, folder, model)
        if os.path.exists(path):
            return path
    raise SystemExit(f"{model} is in none of {FOLDERS}")


def model_file(name, scratch):
    """The file validate measured for a row name ("x.tflite (as ONNX)" is exported once, into scratch/onnx)."""
    path = find(name.replace(" (as ONNX)", ""))
    if not name.endswith(" (as ONNX)"):
        return path
    exported = os.path.join(scratch, "onnx", os.path.basename(path) + ".onnx")
    if not os.path.exists(exported):
        os.makedirs(os.path.dirname(exported), exist_ok=True)
        subprocess.run([CLI, "export", path, "--to", "onnx", "-o", exported], check=True, capture_output=True)
    return exported


def predict(path, bundle):
    out = subprocess.run([CLI, "predict", path, "--predictor", bundle, "--format", "json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def host_before(j):
    """Each model's host speed just before its run in every round (validate's
    `rounds_host_before`). A file from a validate that stored only the geometric means
    around each run (`rounds_host_speed`) gets them back: within a round the models run in
    file order, the reading before a model's run is the one after the previous model's (the
    round's first reading before the first), and the reading after is mean^2 / before. That
    is exact while every reading of the round succeeded; the round's later models get 0
    after a failed one."""
    starts = [h.get("speed", 0) for h in j.get("host_speed", {}).get("rounds", [])]
    done = [m for m in j["models"] if "error" not in m and m.get("rounds_host_speed")]
    if all("rounds_host_before" in m for m in done):
        return
    for m in done:
        m["rounds_host_before"] = []
    for r, start in enumerate(starts):
        prev = start
        for m in done:
            speeds = m["rounds_host_speed"]
            if r >= len(speeds):
                continue
            m["rounds_host_before"].append(prev if prev > 0 else 0)
            prev = speeds[r] ** 2 / prev if prev > 0 and speeds[r] > 0 else 0


def read_host(j):
    """The `read_host` figure: each model predicted with the host read just before each of
    its runs (predicted_ms x rounds_host_before, median over the rounds), against the
    measured statistic, as validate scores it (what `predict --read-host` would have said)."""
    host_before(j)
    errs = []
    for m in j["models"]:
        before = [b for b in m.get("rounds_host_before", []) if b > 0]
        if "error" in m or not before:
            continue
        m["host_read_predicted_ms"] = statistics.median(m["predicted_ms"] * b for b in before)
        errs.append(m["host_read_predicted_ms"] / m["measured_ms"] - 1)
    if errs:
        j["summary"]["read_host"] = {"n": len(errs), "within5": sum(abs(e) <= 0.05 for e in errs) / len(errs),
                                     "within10": sum(abs(e) <= 0.10 for e in errs) / len(errs),
                                     "mape": 100 * sum(abs(e) for e in errs) / len(errs)}


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "-o"):
        raise SystemExit(__doc__)
    with open(argv[0]) as f:
        j = json.load(f)
    bundle = argv[1]
    n = w5 = w10 = 0
    ape = 0.0
    seen = set()
    # Per model name, its per-kernel lists in file order: two folders may hold models of one
    # name (torchvision's swin_t.onnx and the zoo's), each row takes the next list.
    measured_kernels = collections.defaultdict(list)
    for m in j.get("per_kernel", {}).get("models", []):
        measured_kernels[m["model"]].append(m.get("per_kernel", []))
    taken = collections.Counter()
    families = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0])  # measured, predicted, |error|, kernels
    with tempfile.TemporaryDirectory() as scratch:
        for m in j["models"]:
            if "error" in m:
                continue
            name = m["model"]
            file_name = name.replace(" (as ONNX)", "")
            key = (file_name, m["measured_ms"])
            if key in seen:
                continue
            seen.add(key)
            doc = predict(model_file(name, scratch), bundle)
            pred = doc["latency_ms"]
            predicted = {k["name"]: k for k in doc["kernels"]}
            lists = measured_kernels.get(name, [])
            rows = lists[taken[name]] if taken[name] < len(lists) else []
            taken[name] += 1
            for k in rows:
                if k["kernel"] in predicted:
                    # The family the bundle's kernel split gives now (validate's may be older).
                    p = predicted[k["kernel"]]
                    k["predicted_ms"] = p["latency_ms"]
                    k["family"] = p["family"]
                    f = families[k["family"]]
                    f[0] += k["measured_ms"]
                    f[1] += p["latency_ms"]
                    f[2] += abs(p["latency_ms"] - k["measured_ms"])
                    f[3] += 1
            err = (pred - m["measured_ms"]) / m["measured_ms"]
            m["predicted_ms"] = pred
            m["error_pct"] = 100 * err
            m["within10"] = abs(err) <= 0.10
            n += 1
            w5 += abs(err) <= 0.05
            w10 += abs(err) <= 0.10
            ape += abs(err)
    j["predictor"] = bundle
    j["summary"]["within5"] = w5 / n
    j["summary"]["within10"] = w10 / n
    j["summary"]["mape"] = 100 * ape / n
    j["summary"].pop("other_stat", None)
    # The second figures validate gives (quiet rounds at several threads, the host-normalized
    # times), scored again with the new predictions.
    for key, field in (("quiet", "quiet_median_ms"), ("host_normalized", "host_median_ms")):
        if key not in j["summary"]:
            continue
        errs = [m["predicted_ms"] / m[field] - 1 for m in j["models"] if "error" not in m and m.get(field, 0) > 0]
        if errs:
            j["summary"][key].update({"n": len(errs), "within5": sum(abs(e) <= 0.05 for e in errs) / len(errs),
                                      "within10": sum(abs(e) <= 0.10 for e in errs) / len(errs),
                                      "mape": 100 * sum(abs(e) for e in errs) / len(errs)})
    read_host(j)
    print(f"{bundle}: {n} models, within 5% {w5 / n:.0%}, within 10% {w10 / n:.0%}, MAPE {100 * ape / n:.1f}%")
    if "read_host" in j["summary"]:
        rh = j["summary"]["read_host"]
        print(f"predicted with the host read before each run: within 5% {rh['within5']:.0%}, "
              f"within 10% {rh['within10']:.0%}, MAPE {rh['mape']:.1f}%")
    total = sum(f[0] for f in families.values())
    if total > 0:
        # The per-kernel section keeps validate's shape, with the new predictions in it.
        kernels = [k for lists in measured_kernels.values() for ks in lists for k in ks if "predicted_ms" in k]
        pk = j["per_kernel"]
        pk["kernels"] = len(kernels)
        pk["mape"] = 100 * sum(abs(k["predicted_ms"] - k["measured_ms"]) / k["measured_ms"] for k in kernels) / len(kernels)
        pk["time_weighted_error"] = sum(f[2] for f in families.values()) / total
        pk.pop("mape_first_round", None)  # the file keeps no round's own kernel times to score again
        print(f"kernels: MAPE {pk['mape']:.1f}%, time-weighted |error| {100 * pk['time_weighted_error']:.1f}%")
        print("family        kernels  share  predicted/measured  |error|")
        for name, f in sorted(families.items(), key=lambda item: -item[1][0]):
            print(f"{name:12s} {f[3]:8d} {100 * f[0] / total:5.1f}%  {f[1] / f[0]:18.3f}  {100 * f[2] / f[0]:6.1f}%")
    if len(argv) == 4:
        with open(argv[3], "w") as f:
            json.dump(j, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
