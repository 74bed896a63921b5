#!/usr/bin/python3
"""Independent reference cost counter for ONNX models.

Uses only the `onnx` Python package (no torch, no infercast code) so that its
numbers can be used to cross-check the C++ analyzer.

    onnx_reference_counts.py MODEL.onnx [--json]

Computed quantities
-------------------
macs
    Multiply-accumulates of the compute-heavy ops only, from shapes produced
    by onnx.shape_inference.infer_shapes(data_prop=True):
      Conv           prod(Y.shape) * prod(W.shape[1:])         (W[1] = C_in/group)
      ConvTranspose  prod(X.shape) * W.shape[1] * prod(W.shape[2:])
                                                              (W[1] = C_out/group)
      Gemm           M * N * K (honouring transA / transB)
      MatMul         prod(broadcast batch dims) * M * N * K, numpy rules for 1-D
                     operands (a 1-D A is [1, K], a 1-D B is [K, 1]).
    Bias additions, activations, pooling, normalisation etc. are not counted.
params
    Total element count of graph initializers whose data type is floating
    (FLOAT, FLOAT16, DOUBLE, BFLOAT16) or quantized INT8/UINT8.  Each
    initializer is counted once, even if several nodes (or Identity nodes
    created by exporter de-duplication) read it.  Initializers of subgraphs
    are included.  Constant nodes are not counted.
initializer_bytes
    Sum over all initializers (any type) of numel * element size (strings:
    total byte length), i.e. the in-memory size, independent of how the data
    is stored in the file.
ops
    Op census {op_type: count}, including nodes of subgraphs; ops from a
    non-default domain are keyed "domain::op_type".
outputs
    Graph output shapes after inference; unknown dims are null, symbolic dims
    are their dim_param string.
unresolved
    Nodes whose MACs could not be computed because a shape was unknown
    (should be empty for static models).
"""

import argparse
import json
import sys

import onnx
from onnx import TensorProto

FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
QUANT_TYPES = {TensorProto.INT8, TensorProto.UINT8}
PARAM_TYPES = FLOAT_TYPES | QUANT_TYPES

ELEM_SIZE = {
    TensorProto.FLOAT: 4,
    TensorProto.UINT8: 1,
    TensorProto.INT8: 1,
    TensorProto.UINT16: 2,
    TensorProto.INT16: 2,
    TensorProto.INT32: 4,
    TensorProto.INT64: 8,
    TensorProto.BOOL: 1,
    TensorProto.FLOAT16: 2,
    TensorProto.DOUBLE: 8,
    TensorProto.UINT32: 4,
    TensorProto.UINT64: 8,
    TensorProto.COMPLEX64: 8,
    TensorProto.COMPLEX128: 16,
    TensorProto.BFLOAT16: 2,
}


def prod(xs):
    r = 1
    for x in xs:
        r *= x
    return r


def dims_of_type(tp):
    """Shape of a TypeProto as a list (int / str / None per dim), or None."""
    if not tp.HasField("tensor_type") or not tp.tensor_type.HasField("shape"):
        return None
    out = []
    for d in tp.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(d.dim_value)
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def static(shape):
    """Shape as a list of ints if fully known, else None."""
    if shape is None or any(not isinstance(d, int) for d in shape):
        return None
    return list(shape)


def collect_shapes(graph, shapes):
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        s = dims_of_type(vi.type)
        if s is not None and vi.name not in shapes:
            shapes[vi.name] = s
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                    shapes.setdefault(node.output[0], list(a.t.dims))
        for g in subgraphs(node):
            collect_shapes(g, shapes)


def subgraphs(node):
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            yield from a.graphs


def attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def broadcast(a, b):
    n = max(len(a), len(b))
    a = [1] * (n - len(a)) + list(a)
    b = [1] * (n - len(b)) + list(b)
    out = []
    for x, y in zip(a, b):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"batch dims {a} and {b} do not broadcast")
        out.append(max(x, y))
    return out


def node_macs(node, shapes):
    """MACs of one node, 0 for uncounted ops, None if shapes are missing."""
    def s(i, outputs=False):
        names = node.output if outputs else node.input
        if i >= len(names) or not names[i]:
            return None
        return static(shapes.get(names[i]))

    op = node.op_type if node.domain in ("", "ai.onnx") else None
    if op == "Conv":
        y, w = s(0, outputs=True), s(1)
        if y is None or w is None:
            return None
        return prod(y) * prod(w[1:])
    if op == "ConvTranspose":
        x, w = s(0), s(1)
        if x is None or w is None:
            return None
        return prod(x) * w[1] * prod(w[2:])
    if op == "Gemm":
        a, b = s(0), s(1)
        if a is None or b is None:
            return None
        m, k = (a[1], a[0]) if attr(node, "transA", 0) else (a[0], a[1])
        n = b[0] if attr(node, "transB", 0) else b[1]
        return m * n * k
    if op == "MatMul":
        a, b = s(0), s(1)
        if a is None or b is None:
            return None
        if len(a) == 1:
            a = [1] + a
        if len(b) == 1:
            b = b + [1]
        m, k = a[-2], a[-1]
        n = b[-1]
        batch = broadcast(a[:-2], b[:-2])
        return prod(batch) * m * n * k
    return 0


def walk(graph, shapes, acc):
    for init in graph.initializer:
        numel = prod(init.dims)
        if init.data_type in PARAM_TYPES:
            acc["params"] += numel
        if init.data_type == TensorProto.STRING:
            acc["initializer_bytes"] += sum(len(x) for x in init.string_data)
        else:
            acc["initializer_bytes"] += numel * ELEM_SIZE.get(init.data_type, 0)
    for node in graph.node:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        acc["ops"][key] = acc["ops"].get(key, 0) + 1
        m = node_macs(node, shapes)
        if m is None:
            acc["unresolved"].append(f"{node.op_type}:{node.name or node.output[0]}")
        elif m:
            acc["macs"] += m
            acc["macs_by_op"][node.op_type] = acc["macs_by_op"].get(node.op_type, 0) + m
        for g in subgraphs(node):
            walk(g, shapes, acc)


def analyze(path):
    model = onnx.load(path)
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except TypeError:  # onnx < 1.10 has no data_prop
        model = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    shapes = {}
    collect_shapes(graph, shapes)
    acc = {"macs": 0, "params": 0, "initializer_bytes": 0, "ops": {}, "macs_by_op": {}, "unresolved": []}
    walk(graph, shapes, acc)
    outputs = [{"name": o.name, "shape": dims_of_type(o.type)} for o in graph.output]
    return {
        "macs": acc["macs"],
        "params": acc["params"],
        "initializer_bytes": acc["initializer_bytes"],
        "ops": dict(sorted(acc["ops"].items())),
        "outputs": outputs,
        "unresolved": acc["unresolved"],
    }, acc["macs_by_op"]


def main(argv=None):
    ap = argparse.ArgumentParser(description="Reference MAC/param counter using only the onnx package.")
    ap.add_argument("model")
    ap.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = ap.parse_args(argv)

    res, by_op = analyze(args.model)
    if args.json:
        json.dump(res, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
        return 0

    print(f"model:             {args.model}")
    print(f"MACs:              {res['macs']:,} ({res['macs'] / 1e9:.3f} G)")
    for op, m in sorted(by_op.items(), key=lambda kv: -kv[1]):
        print(f"  {op:<15} {m:,}")
    print(f"params:            {res['params']:,} ({res['params'] / 1e6:.3f} M)")
    print(f"initializer bytes: {res['initializer_bytes']:,}")
    print("outputs:")
    for o in res["outputs"]:
        print(f"  {o['name']}: {o['shape']}")
    print(f"ops ({sum(res['ops'].values())} nodes):")
    for op, n in sorted(res["ops"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {op:<20} {n}")
    if res["unresolved"]:
        print(f"WARNING: {len(res['unresolved'])} node(s) with unknown shapes, MACs not counted:")
        for u in res["unresolved"][:20]:
            print(f"  {u}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
