"""Table and target verdicts for bench/analyze_speed.sh.

Usage: analyze_speed_report.py ROWS.tsv SUMMARY.json [--check]

ROWS.tsv has one line per model: name, path, file bytes, hyperfine JSON (commands
cat, infercast, python in that order), infercast peak RSS KiB, python peak RSS KiB,
re-measure count. Times are hyperfine medians; every time carries its CV. Ratios are
between commands of the same hyperfine run, never across runs. MB = 10^6 bytes.
Exit 1 on a failed target only with --check.
"""
import json
import statistics
import sys

TARGET_SPEEDUP_VS_PYTHON = 10.0  # python / infercast >=
TARGET_RATIO_VS_CAT = 5.0        # infercast / cat <=
TARGET_RSS_VS_FILE = 1.5         # infercast peak RSS / file size <=


def summarize(result):
    times = result["times"]
    mean = statistics.fmean(times)
    std = statistics.stdev(times) if len(times) > 1 else 0.0
    return {
        "median_ms": 1e3 * statistics.median(times),
        "mean_ms": 1e3 * mean,
        "min_ms": 1e3 * min(times),
        "max_ms": 1e3 * max(times),
        "std_ms": 1e3 * std,
        "cv_pct": 100 * std / mean if mean > 0 else 0.0,
        "runs": len(times),
    }


def main(rows_path, summary_path, check):
    models = []
    with open(rows_path) as f:
        for line in f:
            name, path, size, hyperfine_json, rss_ic, rss_py, retries = line.rstrip("\n").split("\t")
            results = json.load(open(hyperfine_json))["results"]
            cat, ic, py = (summarize(r) for r in results)
            size = int(size)
            rss_ic_bytes = int(rss_ic) * 1024
            rss_py_bytes = int(rss_py) * 1024
            m = {
                "model": name, "path": path, "file_bytes": size, "hyperfine_json": hyperfine_json,
                "remeasures": int(retries), "threads": 1, "page_cache": "warm",
                "cat": cat, "infercast": ic, "python": py,
                "infercast_peak_rss_bytes": rss_ic_bytes, "python_peak_rss_bytes": rss_py_bytes,
                "infercast_over_cat": ic["median_ms"] / cat["median_ms"],
                "python_over_infercast": py["median_ms"] / ic["median_ms"],
                "rss_over_file": rss_ic_bytes / size,
            }
            m["targets"] = {
                f"python/infercast >= {TARGET_SPEEDUP_VS_PYTHON:g}":
                    m["python_over_infercast"] >= TARGET_SPEEDUP_VS_PYTHON,
                f"infercast/cat <= {TARGET_RATIO_VS_CAT:g}": m["infercast_over_cat"] <= TARGET_RATIO_VS_CAT,
                f"RSS/file <= {TARGET_RSS_VS_FILE:g}": m["rss_over_file"] <= TARGET_RSS_VS_FILE,
            }
            models.append(m)

    header = ["model", "file MB", "cat ms", "infercast ms", "python ms", "ic/cat", "py/ic",
              "ic RSS MB", "RSS/file", "py RSS MB", "re-meas"]
    table = [header]
    for m in models:
        def t(key):
            return f"{m[key]['median_ms']:.1f} ±{m[key]['cv_pct']:.0f}%"
        table.append([
            m["model"], f"{m['file_bytes'] / 1e6:.1f}", t("cat"), t("infercast"), t("python"),
            f"{m['infercast_over_cat']:.2f}", f"{m['python_over_infercast']:.1f}",
            f"{m['infercast_peak_rss_bytes'] / 1e6:.1f}", f"{m['rss_over_file']:.3f}",
            f"{m['python_peak_rss_bytes'] / 1e6:.1f}", str(m["remeasures"]),
        ])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    print("times: median of the runs ±CV; ratios from medians of the same hyperfine run; MB = 1e6 bytes;")
    print("ic = infercast, py = python; RSS = peak resident set (max of 3 runs); re-meas = re-runs for CV")

    print()
    failed = False
    for m in models:
        for target, ok in m["targets"].items():
            failed |= not ok
            print(f"{'PASS' if ok else 'FAIL'}  {m['model']}: {target}")

    with open(summary_path, "w") as f:
        json.dump({"models": models}, f, indent=2)
    print(f"\nsummary: {summary_path}")
    if failed and check:
        return 1
    return 0


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--check"]
    sys.exit(main(args[0], args[1], "--check" in sys.argv[1:]))
