#!/usr/bin/python3
"""Does a memory-bound kernel pay for who wrote its input? (docs/results.md, 2026-12-06)

Usage: PYTHONPATH=build/python bench/producer_handoff.py [RUNTIME=ort]

At 2 threads each core writes its share of a producer's output into its own cache; a
consumer that splits the work differently reads part of its input from the other core's.
This builds graphs producer -> K for producers that split their output differently (a Relu,
as the bench's feeder; a 1x1 conv and a 3x3 depthwise conv, which ONNX Runtime runs on its
blocked NCHWc layout; a MatMul over the last axis) and memory-bound consumers K (Add, a
permutation of the middle axes, Concat, Slice, Erf), and prints K's median layer time
(`infercast.run(per_layer=True)`, 40 runs) at 1 and 2 threads. The producer's output is also
a graph output, so no runtime fuses it into K. Needs Debian's python3-onnx and numpy and the
built Python module.
"""

import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import infercast

PRODUCERS = ["relu", "conv1x1", "dw3x3", "matmul"]
CONSUMERS = ["add", "permute", "concat", "slice", "erf"]
SHAPES = [[1, 64, 56, 56], [1, 192, 28, 28], [1, 256, 64, 64]]


def weights(name, shape, rng):
    return numpy_helper.from_array(((rng.random(shape) - 0.5) * 0.1).astype(np.float32), name)


def graph(producer, consumer, shape):
    rng = np.random.default_rng(0)
    c = shape[1]
    inits, nodes = [], []
    if producer == "relu":
        nodes.append(helper.make_node("Relu", ["x"], ["p"], name="prod"))
    elif producer == "conv1x1":
        inits.append(weights("W", (c, c, 1, 1), rng))
        nodes.append(helper.make_node("Conv", ["x", "W"], ["p"], name="prod", kernel_shape=[1, 1]))
    elif producer == "dw3x3":
        inits.append(weights("W", (c, 1, 3, 3), rng))
        nodes.append(helper.make_node("Conv", ["x", "W"], ["p"], name="prod", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                      group=c))
    elif producer == "matmul":
        inits.append(weights("W", (shape[3], shape[3]), rng))
        nodes.append(helper.make_node("MatMul", ["x", "W"], ["p"], name="prod"))
    out = list(shape)
    if consumer == "add":
        nodes.append(helper.make_node("Add", ["p", "p"], ["y"], name="K"))
    elif consumer == "permute":
        nodes.append(helper.make_node("Transpose", ["p"], ["y"], name="K", perm=[0, 2, 1, 3]))
        out = [shape[0], shape[2], shape[1], shape[3]]
    elif consumer == "concat":
        nodes.append(helper.make_node("Concat", ["p", "p"], ["y"], name="K", axis=1))
        out[1] = 2 * c
    elif consumer == "slice":
        for name, v in (("starts", 0), ("ends", c // 2), ("axes", 1)):
            inits.append(numpy_helper.from_array(np.array([v], dtype=np.int64), name))
        nodes.append(helper.make_node("Slice", ["p", "starts", "ends", "axes"], ["y"], name="K"))
        out[1] = c // 2
    elif consumer == "erf":
        nodes.append(helper.make_node("Erf", ["p"], ["y"], name="K"))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, out),
               helper.make_tensor_value_info("p", TensorProto.FLOAT, shape)]
    model = helper.make_model(helper.make_graph(nodes, "producer_handoff", [x], outputs, inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def consumer_us(path, runtime, threads):
    r = infercast.run(path, runtime=runtime, threads=threads, per_layer=True, repeat=40).to_dict()
    return 1000 * sum(l["median_ms"] for l in r["layers"] if l["name"] == "K")


def main(runtime):
    print(f"| input | K | 1 thread: {' / '.join(PRODUCERS)} (us) | 2 threads: {' / '.join(PRODUCERS)} (us) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in SHAPES:
            for consumer in CONSUMERS:
                cells = []
                for threads in (1, 2):
                    times = []
                    for producer in PRODUCERS:
                        path = os.path.join(tmp, f"{producer}_{consumer}.onnx")
                        onnx.save(graph(producer, consumer, shape), path)
                        times.append(f"{consumer_us(path, runtime, threads):.0f}")
                    cells.append(" / ".join(times))
                print(f"| {'x'.join(map(str, shape))} | {consumer} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ort")
