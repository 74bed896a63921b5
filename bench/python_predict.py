"""Speed and memory of the Python module's predictor, side by side with the scikit-learn
reference (bench/predict_sklearn_reference.py) doing only the per-layer regression for
the same number of kernels.

Measures, in one run:
  - `import infercast` wall time (fresh interpreters, median of 7);
  - Predictor.predict per call on in-memory mobilenet_v2 ONNX bytes (weights included:
    every call parses the file, detects kernels, extracts features and predicts);
  - predict_many over 1,000 such candidates (candidates/s, on `--threads` cores);
  - RSS growth over 10,000 predictions after the first 100.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/python_predict.py BUNDLE [--model M] [--threads 2]
"""
import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("--model", default=str(REPO / ".cache/models/torchvision/mobilenet_v2.onnx"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--loop", type=int, default=10000)
    a = ap.parse_args()

    imports = []
    for _ in range(7):
        code = "import time; t = time.perf_counter(); import infercast; print(time.perf_counter() - t)"
        imports.append(float(subprocess.check_output([sys.executable, "-c", code], env=os.environ)))
    import infercast

    predictor = infercast.Predictor(a.bundle)
    data = pathlib.Path(a.model).read_bytes()
    first = predictor.predict(data)
    kernels = sum(1 for k in first.kernels if k["source"] != "removed")

    for _ in range(10):
        predictor.predict(data)
    per_call = []
    cpu0 = time.process_time()
    for _ in range(a.calls):
        t0 = time.perf_counter()
        predictor.predict(data)
        per_call.append(time.perf_counter() - t0)
    cpu_per_call = (time.process_time() - cpu0) / a.calls

    candidates = [data] * a.candidates
    t0, cpu0 = time.perf_counter(), time.process_time()
    many = predictor.predict_many(candidates, threads=a.threads)
    many_s, many_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert len(many) == a.candidates and many[-1].latency_ms == first.latency_ms
    t0 = time.perf_counter()
    predictor.predict_many(candidates[: a.candidates // 4], threads=1)
    one_thread_rate = (a.candidates // 4) / (time.perf_counter() - t0)

    reference = subprocess.run(
        [sys.executable, str(REPO / "bench/predict_sklearn_reference.py"), "--kernels", str(kernels)],
        capture_output=True, text=True)
    match = re.search(r"median (\d+) us per model prediction", reference.stdout)
    sklearn_us = float(match.group(1)) if match else float("nan")

    rss_after_100 = None
    rss_start = rss_bytes()
    t0 = time.perf_counter()
    for i in range(a.loop):
        predictor.predict(data)
        if i == 99:
            rss_after_100 = rss_bytes()
    loop_s = time.perf_counter() - t0
    rss_end = rss_bytes()

    median_us = 1e6 * statistics.median(per_call)
    print(f"model            {a.model} ({len(data) / 1e6:.1f} MB bytes, {kernels} kernels)")
    print(f"bundle           {a.bundle} ({predictor.runtime}, {predictor.threads} threads)")
    print(f"import           median {1e3 * statistics.median(imports):.1f} ms (of 7 fresh interpreters)")
    print(f"predict          median {median_us:.0f} us per call, mean {1e6 * statistics.mean(per_call):.0f} us "
          f"({a.calls} calls on the bytes); {1e6 * cpu_per_call:.0f} us CPU per call")
    print(f"sklearn ref      median {sklearn_us:.0f} us per model (regression + sum only, {kernels} kernels)")
    print(f"ratio            {sklearn_us / median_us:.1f}x faster than the reference per model")
    print(f"predict_many     {a.candidates} candidates in {many_s:.2f} s: {a.candidates / many_s:.0f}/s "
          f"on {a.threads} threads ({one_thread_rate:.0f}/s on 1 thread); {1e3 * many_cpu / a.candidates:.2f} ms CPU "
          f"per candidate = {a.threads * a.candidates / many_cpu:.0f}/s on {a.threads} idle cores")
    print(f"rss              {rss_after_100 / 2**20:.1f} MiB after 100 calls, {rss_end / 2**20:.1f} MiB after "
          f"{a.loop} ({100 * (rss_end - rss_after_100) / rss_after_100:+.1f}%; {rss_start / 2**20:.1f} MiB before), "
          f"{loop_s:.1f} s")


if __name__ == "__main__":
    main()
