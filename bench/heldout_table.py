#!/usr/bin/python3
"""Held-out accuracy tables from `infercast validate --format json` outputs.

Usage: bench/heldout_table.py VALIDATE.json [VALIDATE.json ...]

For each file (one runtime and thread count), prints markdown:
  - the summary: models within +-5% / +-10% against the statistic validate compared
    with (the median by default) and against the other one, MAPE, the two baselines;
  - the per-family table: every architecture family (resnet, regnet, mediapipe, ...)
    with its models' errors, spreads and how many of its kernels were extrapolations.

`profile` reads no model, so every family here is held out from the kernel space at
once: a stricter test than leaving one family out of a model-derived space.
"""

import json
import re
import sys

# Family of a model file name, first match wins.
FAMILIES = [
    ("resnext", r"^resnext"),
    ("wide_resnet", r"^wide_resnet"),
    ("resnet", r"^resnet"),
    ("vgg", r"^vgg"),
    ("densenet", r"^densenet"),
    ("squeezenet", r"^squeezenet"),
    ("mobilenet", r"^mobilenet"),
    ("mnasnet", r"^mnasnet"),
    ("shufflenet", r"^shufflenet"),
    ("efficientnet", r"^efficientnet"),
    ("regnet", r"^regnet"),
    ("convnext", r"^convnext"),
    ("inception/googlenet", r"^(inception|googlenet)"),
    ("alexnet", r"^alexnet"),
    ("vit", r"^vit"),
    ("swin", r"^swin"),
    ("maxvit", r"^maxvit"),
    ("mediapipe", r"^(face_detection|selfie)"),
]


def family(name):
    for fam, pattern in FAMILIES:
        if re.match(pattern, name):
            return fam
    return "other"


def pct(x):
    return f"{100 * x:.0f}%"


def round_accuracy(models):
    """Per round r: (share within ±10%, share within ±5%, mean signed error) of the
    predictions against that round's time, over the models measured in every round."""
    done = [m for m in models if m.get("predicted_ms") and m.get("rounds_ms")]
    rounds = min((len(m["rounds_ms"]) for m in done), default=0)
    out = []
    for r in range(rounds):
        errs = [m["predicted_ms"] / m["rounds_ms"][r] - 1 for m in done if m["rounds_ms"][r] > 0]
        if not errs:
            break
        out.append((sum(abs(e) <= 0.10 for e in errs) / len(errs), sum(abs(e) <= 0.05 for e in errs) / len(errs),
                    sum(errs) / len(errs)))
    return out


def main(paths):
    for path in paths:
        with open(path) as f:
            j = json.load(f)
        s = j["summary"]
        stat = j.get("statistic", "median")
        other = "fastest run" if stat == "median" else "median round"
        print(f"### {path}: {j['runtime']}, statistic {stat}\n")
        print(f"- models {s['n']} (failed {s['failed']}): within ±5% **{pct(s['within5'])}**, "
              f"within ±10% **{pct(s['within10'])}**, MAPE {s['mape']:.1f}%; "
              f"median spread of rounds {100 * s.get('median_spread', 0):.1f}%")
        o = s.get("other_stat", {})
        if o:
            print(f"- against the {other}: within ±5% {pct(o['within5'])}, within ±10% {pct(o['within10'])}, "
                  f"MAPE {o['mape']:.1f}%")
        q = s.get("quiet")
        if q:
            print(f"- against the quiet rounds (a core per thread, `core_share` >= 0.8; {q['contended_rounds']} of "
                  f"{q['rounds']} rounds contended), {q['n']} models: within ±5% {pct(q['within5'])}, within ±10% "
                  f"{pct(q['within10'])}, MAPE {q['mape']:.1f}%")
        per_round = round_accuracy(j["models"])
        if len(per_round) > 1:
            print("- against each round alone (validate measures every model in round 1, then every model in "
                  "round 2, ...: a host that slows or speeds up part-way shows here): " +
                  "; ".join(f"round {r + 1}: within ±10% {pct(w10)}, within ±5% {pct(w5)}, mean error "
                            f"{100 * mean:+.1f}%" for r, (w10, w5, mean) in enumerate(per_round)))
        hn = s.get("host_normalized")
        if hn:
            speeds = sorted(v for m in j["models"] for v in m.get("rounds_host_speed", []) if v > 0)
            spread = (f"; the host ran at {speeds[len(speeds) // 10]:.2f}-{speeds[(9 * len(speeds)) // 10]:.2f} of "
                      f"the profile's median (10th-90th percentile of {len(speeds)} runs)") if speeds else ""
            print(f"- against the host's speed (each round's median divided by the host's speed around that run: the "
                  f"profile's reference kernel just before and after it, over its median while the profile measured), "
                  f"{hn['n']} models: within ±5% {pct(hn['within5'])}, within ±10% {pct(hn['within10'])}, MAPE "
                  f"{hn['mape']:.1f}%{spread}")
        rh = s.get("read_host")
        if rh:
            print(f"- predicted with the host read just before each run (`predict --read-host`: the prediction times "
                  f"the profile's reference kernel's time then over its median while the profile measured; median "
                  f"over the rounds), {rh['n']} models: within ±5% **{pct(rh['within5'])}**, within ±10% "
                  f"**{pct(rh['within10'])}**, MAPE {rh['mape']:.1f}%")
        host = j.get("host_speed")
        if host and host.get("rounds"):
            print("- the host's speed (the profile's reference kernel timed before each round, over its median time "
                  "while the profile measured; above 1 = slower than the labels' host): " +
                  ", ".join(f"round {h['round']}: {h['speed']:.2f}" if "speed" in h else f"round {h['round']}: failed"
                            for h in host["rounds"]))
        b = s["baselines"]
        print(f"- FLOPs-proportional ({b['flops']['gflops']:.1f} GFLOP/s fitted on these models): within ±10% "
              f"{pct(b['flops']['within10'])}, MAPE {b['flops']['mape']:.1f}%; conv-only: within ±10% "
              f"{pct(b['conv_only']['within10'])}, MAPE {b['conv_only']['mape']:.1f}%\n")
        rows = {}
        for m in j["models"]:
            rows.setdefault(family(m["model"]), []).append(m)
        print("| family | models | within ±10% | mean abs err | worst | spread (median) | extrapolated kernels |")
        print("|---|---|---|---|---|---|---|")
        for fam, _ in FAMILIES + [("other", "")]:
            ms = [m for m in rows.get(fam, []) if "error" not in m]
            failed = [m for m in rows.get(fam, []) if "error" in m]
            if not ms and not failed:
                continue
            if not ms:
                print(f"| {fam} | {len(failed)} failed | | | | | |")
                continue
            errs = [m["error_pct"] for m in ms]
            within = sum(abs(e) <= 10 for e in errs)
            worst = max(ms, key=lambda m: abs(m["error_pct"]))
            spreads = sorted(m.get("spread", 0) for m in ms)
            ext = sum(m.get("extrapolated_kernels", 0) for m in ms)
            note = f" (+{len(failed)} failed)" if failed else ""
            print(f"| {fam} | {len(ms)}{note} | {within}/{len(ms)} | {sum(abs(e) for e in errs) / len(errs):.1f}% | "
                  f"{worst['model']} {worst['error_pct']:+.1f}% | {100 * spreads[len(spreads) // 2]:.1f}% | {ext} |")
        print()
        quiet = bool(q)
        extra = " quiet median ms (rounds) | vs quiet |" if quiet else ""
        if hn:
            extra += " on the profile's host ms | vs that |"
        if rh:
            extra += " read-host predicted ms | vs median |"
        columns = 2 * (int(quiet) + int(bool(hn)) + int(bool(rh)))
        print("| model | measured median ms | fastest ms | spread | predicted ms | error | vs fastest |" + extra)
        print("|---|---|---|---|---|---|---|" + "---|" * columns)
        for m in j["models"]:
            if "error" in m:
                print(f"| {m['model']} | failed: {m['error'][:80]} | | | | | |" + " |" * columns)
                continue
            vs_min = 100 * (m["predicted_ms"] - m["min_ms"]) / m["min_ms"] if m.get("min_ms") else 0
            cells = ""
            if quiet:
                qm = m.get("quiet_median_ms", 0)
                vs_q = f"{100 * (m['predicted_ms'] - qm) / qm:+.1f}%" if qm else "no quiet round"
                cells = f" {qm:.3g} ({m.get('quiet_rounds', 0)}/{len(m.get('rounds_core_share', []))}) | {vs_q} |"
            if hn:
                hm = m.get("host_median_ms", 0)
                cells += (f" {hm:.3g} | {100 * (m['predicted_ms'] - hm) / hm:+.1f}% |" if hm else " no reading | |")
            if rh:
                rp = m.get("host_read_predicted_ms", 0)
                cells += (f" {rp:.3g} | {100 * (rp - m['measured_ms']) / m['measured_ms']:+.1f}% |" if rp
                          else " no reading | |")
            print(f"| {m['model']} | {m['median_ms']:.3g} | {m['min_ms']:.3g} | {100 * m['spread']:.1f}% | "
                  f"{m['predicted_ms']:.3g} | {m['error_pct']:+.1f}% | {vs_min:+.1f}% |" + cells)
        print()
        per_kernel(j)


def per_kernel(j):
    """With `validate --per-kernel`: each kernel family's predicted time against the
    runtime's own per-layer times inside the models (one profiled run per model)."""
    pk = j.get("per_kernel")
    if not pk:
        return
    fams = {}
    ratios = {}  # family -> predicted / measured of each kernel measured above zero
    for m in pk["models"]:
        for k in m.get("per_kernel", []):
            f = fams.setdefault(k["family"], [0, 0.0, 0.0])
            f[0] += 1
            f[1] += k["predicted_ms"]
            f[2] += k["measured_ms"]
            if k["measured_ms"] > 0:
                ratios.setdefault(k["family"], []).append(k["predicted_ms"] / k["measured_ms"])
    # The per-kernel MAPE is a sum over kernels: a family's share of it says where it comes from.
    total_error = sum(abs(r - 1) for rs in ratios.values() for r in rs)
    first = f" ({pk['mape_first_round']:.1f}% against the first round alone)" if "mape_first_round" in pk else ""
    rounds = f", median of {pk['rounds']} rounds" if "rounds" in pk else ""
    print(f"Per kernel ({pk['kernels']} kernels{rounds}): MAPE {pk['mape']:.1f}%{first}, time-weighted error "
          f"{100 * pk['time_weighted_error']:.1f}%\n")
    print("| kernel family | kernels | predicted ms | measured in the models ms | predicted / measured | "
          "per-kernel MAPE | share of the per-kernel error | median kernel's predicted / measured |")
    print("|---|---|---|---|---|---|---|---|")
    for fam, (n, p, m) in sorted(fams.items(), key=lambda x: -x[1][2]):
        rs = sorted(ratios.get(fam, []))
        err = sum(abs(r - 1) for r in rs)
        detail = (f"{100 * err / len(rs):.1f}% | {100 * err / total_error if total_error > 0 else 0:.1f}% | "
                  f"{rs[len(rs) // 2]:.2f} |") if rs else " | | |"
        print(f"| {fam} | {n} | {p:.1f} | {m:.1f} | {p / m if m > 0 else 0:.2f} | " + detail)
    print()
    # By in-model time: ONNX Runtime's profiler reports whole microseconds, so a kernel
    # of a few microseconds is measured to within tens of percent.
    bands = [("below 10 us", 0, 0.01), ("10-100 us", 0.01, 0.1), ("100 us-1 ms", 0.1, 1.0), ("1 ms and more", 1.0, 1e30)]
    rows = [(k["predicted_ms"], k["measured_ms"]) for m in pk["models"] for k in m.get("per_kernel", [])
            if k["measured_ms"] > 0]
    total = sum(m for _, m in rows)
    print("| in-model time | kernels | MAPE | share of the measured time |")
    print("|---|---|---|---|")
    for label, lo, hi in bands:
        band = [(p, m) for p, m in rows if lo <= m < hi]
        if not band:
            continue
        mape = 100 * sum(abs(p - m) / m for p, m in band) / len(band)
        share = 100 * sum(m for _, m in band) / total
        print(f"| {label} | {len(band)} | {mape:.1f}% | {share:.1f}% |")
    print()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
