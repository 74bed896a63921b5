#!/usr/bin/python3
"""Writes an ONNX model with about N nodes (default 14,000) for the HTML report's
large-graph check: blocks of MatMul + Add + Relu on
[1, 16] rows, with a residual Add every block, written with Python onnx's own helpers
and checked with its checker."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main(path: str, nodes: int) -> None:
    rng = np.random.default_rng(0)
    inits = []
    body = []
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])
    prev = "x"
    i = 0
    while len(body) + 4 <= nodes:
        w = f"w{i}"
        inits.append(numpy_helper.from_array(rng.standard_normal((16, 16)).astype(np.float32) * 0.05, w))
        b = f"b{i}"
        inits.append(numpy_helper.from_array(np.zeros(16, np.float32), b))
        body.append(helper.make_node("MatMul", [prev, w], [f"mm{i}"], name=f"block{i}/matmul"))
        body.append(helper.make_node("Add", [f"mm{i}", b], [f"bias{i}"], name=f"block{i}/bias"))
        body.append(helper.make_node("Relu", [f"bias{i}"], [f"act{i}"], name=f"block{i}/relu"))
        body.append(helper.make_node("Add", [f"act{i}", prev], [f"res{i}"], name=f"block{i}/residual"))
        prev = f"res{i}"
        i += 1
    y = helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 16])
    graph = helper.make_graph(body, "many_nodes", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_many_node_model")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 14000)
