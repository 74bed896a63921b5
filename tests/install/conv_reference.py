"""Expected params and MACs of a single-Conv ONNX model, computed from the file alone.

Usage: conv_reference.py MODEL.onnx  ->  prints "PARAMS MACS"

Independent of infercast: reads the graph with the onnx package, takes the input and
weight shapes from the graph inputs/initializers, computes each spatial output extent
with the ONNX Conv formula floor((in + pad_begin + pad_end - dilation*(k-1) - 1)/stride) + 1,
and cross-checks it against the shape of the reference output stored beside the
model (test_data_set_0/output_0.pb) when present.
MACs = N * C_out * prod(out spatial) * (C_in / group) * prod(kernel).
"""
import math
import os
import sys

import onnx
from onnx import numpy_helper


def dims_of(value_info):
    return [d.dim_value for d in value_info.type.tensor_type.shape.dim]


def main(path):
    model = onnx.load(path)
    graph = model.graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    if len(convs) != 1:
        sys.exit(f"{path}: expected exactly one Conv node, found {len(convs)}")
    conv = convs[0]
    shapes = {vi.name: dims_of(vi) for vi in graph.input}
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    x_shape, w_shape = shapes[conv.input[0]], shapes[conv.input[1]]
    spatial = len(x_shape) - 2
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in conv.attribute}
    strides = list(attrs.get("strides", [1] * spatial))
    dilations = list(attrs.get("dilations", [1] * spatial))
    pads = list(attrs.get("pads", [0] * 2 * spatial))
    group = attrs.get("group", 1)
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        sys.exit(f"{path}: auto_pad is not handled by this reference")
    kernel = w_shape[2:]
    out_spatial = [
        (x_shape[2 + i] + pads[i] + pads[spatial + i] - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1
        for i in range(spatial)
    ]
    out_shape = [x_shape[0], w_shape[0]] + out_spatial

    stored = os.path.join(os.path.dirname(path), "test_data_set_0", "output_0.pb")
    if os.path.exists(stored):
        tensor = onnx.TensorProto()
        with open(stored, "rb") as f:
            tensor.ParseFromString(f.read())
        if list(numpy_helper.to_array(tensor).shape) != out_shape:
            sys.exit(f"{path}: computed output {out_shape} != stored reference output "
                     f"{list(numpy_helper.to_array(tensor).shape)}")

    macs = math.prod(out_shape) * (x_shape[1] // group) * math.prod(kernel)
    # Params count stored weights only (cost::is_weight): W and B when they are
    # initializers. In the ONNX node test models W is a graph input fed at run time,
    # so such a model has 0 params.
    stored_weights = {init.name for init in graph.initializer}
    params = sum(math.prod(shapes[name]) for name in conv.input[1:] if name in stored_weights)
    print(params, macs)


if __name__ == "__main__":
    main(sys.argv[1])
