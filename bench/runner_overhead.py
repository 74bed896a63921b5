#!/usr/bin/python3
"""Protocol overhead of the ONNX Runtime runner, per timed request.

Drives runners/ort/runner.js over its stdin/stdout pipes exactly as infercast does
(one JSON line out, one JSON line back) and compares the client's wall time of each
`time` request with the run times ONNX Runtime's runner measured inside it:

  per-run overhead (issue's formula) = wall(request with R runs) / R - median(ORT run times)
  per-run overhead (exact)           = (wall - sum(ORT run times)) / R
  per-request overhead (R = 1)       = wall - the one ORT run time
  hello round trip                   = the pipe + JSON cost of a request that runs nothing

The exact forms cancel run-to-run noise; the issue's formula is printed as asked but
swings by the difference between a mean and a median. Usage:
  bench/runner_overhead.py [--threads N] [--repeats R] [--trials K] MODEL...
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Runner:
    def __init__(self):
        self.proc = subprocess.Popen(["node", os.path.join(ROOT, "runners/ort/runner.js")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.next_id = 1

    def request(self, req):
        req = dict(req, id=self.next_id)
        self.next_id += 1
        line = (json.dumps(req) + "\n").encode()
        start = time.perf_counter_ns()
        self.proc.stdin.write(line)
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        wall_ms = (time.perf_counter_ns() - start) / 1e6
        answer = json.loads(answer)
        if not answer.get("ok"):
            sys.exit(f"runner_overhead: {req['op']}: {answer.get('error')}")
        return answer, wall_ms

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--single", type=int, default=30, help="R = 1 requests per model")
    args = ap.parse_args()

    print(f"ONNX Runtime runner protocol overhead, {args.threads} threads "
          f"(R = {args.repeats} runs per request, median of {args.trials} requests; "
          f"{args.single} single-run requests)")
    header = ("model", "ORT median ms", "wall/R - median", "(wall - sum)/R", "wall - run (R=1)", "hello round trip")
    rows = []
    for model in args.models:
        runner = Runner()
        hello, _ = runner.request({"op": "hello"})
        hello_ms = statistics.median(runner.request({"op": "hello"})[1] for _ in range(50))
        runner.request({"op": "load", "model": os.path.abspath(model), "threads": args.threads})
        runner.request({"op": "time", "warmup": 5, "repeats": 5, "min_time_s": 0, "seed": 42})
        issue, exact, medians = [], [], []
        for _ in range(args.trials):
            answer, wall = runner.request({"op": "time", "warmup": 0, "repeats": args.repeats,
                                           "max_repeats": args.repeats, "min_time_s": 0, "seed": 42})
            times = answer["times_ms"]
            medians.append(statistics.median(times))
            issue.append(wall / len(times) - statistics.median(times))
            exact.append((wall - sum(times)) / len(times))
        single = []
        for _ in range(args.single):
            answer, wall = runner.request({"op": "time", "warmup": 0, "repeats": 1, "max_repeats": 1,
                                           "min_time_s": 0, "seed": 42})
            single.append(wall - answer["times_ms"][0])
        runner.close()
        rows.append((os.path.basename(model), f"{statistics.median(medians):.3f}",
                     f"{statistics.median(issue):+.3f} ms", f"{statistics.median(exact):.3f} ms",
                     f"{statistics.median(single):.3f} ms", f"{hello_ms:.3f} ms"))
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print(f"(onnxruntime {hello['runtime_version']}, node {hello['node']})")


if __name__ == "__main__":
    main()
