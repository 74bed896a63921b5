#!/usr/bin/python3
"""What a large-weight producer does to the kernel after it (docs/results.md, 2026-12-04).

Usage: bench/producer_eviction.py [RUNTIME=xnnpack]

Builds graphs Relu -> MatMul [1, rows, K] x [K, N] -> Add(bias) for three output sizes and
K from 8 to 12288 (the MatMul's weights from a few KB to 37.7 MB; the Add is the same op on
the same shape each time), and one with a Relu between the MatMul and the Add, then prints
each layer's median time from `build/infercast run --per-layer` at 1 thread. Needs Debian's
python3-onnx and numpy (scripts/install_deps.sh installs them) and a built CLI.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "build", "infercast")


def graph(rows, k, n, between):
    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows, k])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, rows, n])
    w = numpy_helper.from_array(((rng.random((k, n)) - 0.5) * 0.01).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.random(n).astype(np.float32), "B")
    nodes = [helper.make_node("Relu", ["x"], ["xr"], name="feed"), helper.make_node("MatMul", ["xr", "W"], ["m"], name="mm")]
    src = "m"
    if between:
        nodes.append(helper.make_node("Relu", ["m"], ["mr"], name="between"))
        src = "mr"
    nodes.append(helper.make_node("Add", [src, "B"], ["y"], name="add"))
    model = helper.make_model(helper.make_graph(nodes, "producer_eviction", [x], [y], [w, b]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def layers(path, runtime):
    out = subprocess.run([CLI, "run", path, "--runtime", runtime, "--threads", "1", "--per-layer", "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    return [(l["op"], l["median_ms"]) for l in json.loads(out)["layers"]]


def main(runtime):
    print("| output | K | weights MB | " + "layers (op = median us) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for rows, n in ((50, 768), (197, 768), (197, 3072)):
            for k, between in ((8, False), (192, False), (768, False), (3072, False), (12288, False), (3072, True)):
                if k * n * 4 > 40e6:
                    continue
                path = os.path.join(tmp, f"r{rows}_n{n}_k{k}{'_relu' if between else ''}.onnx")
                onnx.save(graph(rows, k, n, between), path)
                cells = " ".join(f"{op}={1000 * ms:.1f}" for op, ms in layers(path, runtime))
                print(f"| {rows}x{n} | {k}{' +Relu' if between else ''} | {k * n * 4 / 1e6:.2f} | {cells} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "xnnpack")
