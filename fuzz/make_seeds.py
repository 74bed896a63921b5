#!/usr/bin/env python3
"""Regenerates the hand-made fuzz seeds under fuzz/corpus/ (python3 stdlib only).

    fuzz/make_seeds.py

ONNX seeds are written as protobuf text and encoded with `protoc --encode` against
libonnx-dev's onnx.proto; TFLite seeds as JSON compiled with `flatc -b
schema/tflite.fbs`. Each seed is tiny (well under 50 KB) and exercises one importer
path: a valid model of one op family, or one hostile construction the importer must
reject with infercast::Error. A few small models from Debian's libonnx-testdata
(Apache-2.0, the ONNX backend test suite) are copied as well.

Files named crash_* in the corpus are regression inputs saved from fuzzer finds;
this script leaves them alone.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONNX_OUT = os.path.join(ROOT, "fuzz", "corpus", "onnx")
TFLITE_OUT = os.path.join(ROOT, "fuzz", "corpus", "tflite")
ONNX_PROTO = "/usr/include/onnx/onnx.proto"
TESTDATA = "/usr/share/libonnx-testdata/data/node"

TESTDATA_MODELS = [
    "test_averagepool_2d_same_upper", "test_batchnorm_example", "test_concat_2d_axis_0",
    "test_constant", "test_constant_pad", "test_conv_with_autopad_same", "test_conv_with_strides_padding",
    "test_convtranspose", "test_depthtospace_dcr_mode", "test_einsum_batch_matmul", "test_expand_dim_changed",
    "test_gather_0", "test_gemm_default_no_bias", "test_gru_defaults", "test_identity", "test_if",
    "test_loop11", "test_lstm_defaults", "test_matmul_2d", "test_maxpool_2d_pads", "test_qlinearconv",
    "test_reduce_mean_default_axes_keepdims_example", "test_relu", "test_reshape_reordered_all_dims",
    "test_resize_upsample_scales_nearest", "test_scan9_sum", "test_sequence_map_identity_1_sequence",
    "test_slice", "test_softmax_axis_1", "test_split_equal_parts_1d", "test_transpose_default",
]

# --------------------------------------------------------------------------- ONNX


def text_bytes(data):
    """Bytes as a protobuf text-format string literal."""
    return '"' + "".join("\\%03o" % b for b in data) + '"'


def dims_text(dims):
    out = []
    for d in dims:
        out.append('dim { dim_param: "%s" }' % d if isinstance(d, str) else "dim { dim_value: %d }" % d)
    return " ".join(out)


def value_info(name, dims, elem=1):
    return 'name: "%s" type { tensor_type { elem_type: %d shape { %s } } }' % (name, elem, dims_text(dims))


def node(op, inputs, outputs, attrs="", name=""):
    ins = " ".join('input: "%s"' % i for i in inputs)
    outs = " ".join('output: "%s"' % o for o in outputs)
    return 'node { %s %s name: "%s" op_type: "%s" %s }' % (ins, outs, name, op, attrs)


def ints_attr(name, values):
    return 'attribute { name: "%s" type: INTS %s }' % (name, " ".join("ints: %d" % v for v in values))


def float_tensor(name, dims, values=None):
    count = 1
    for d in dims:
        count *= d
    if values is None:
        values = [((i * 37) % 17 - 8) / 8.0 for i in range(count)]
    raw = struct.pack("<%df" % len(values), *values)
    return 'name: "%s" data_type: 1 %s raw_data: %s' % (name, " ".join("dims: %d" % d for d in dims), text_bytes(raw))


def model(graph_body, opset=13, extra=""):
    return 'ir_version: 8 producer_name: "infercast-fuzz-seed" graph { name: "g" %s } opset_import { domain: "" version: %d } %s' % (
        graph_body, opset, extra)


def onnx_seeds():
    x = value_info("x", [1, 2, 4, 4])
    y = value_info("y", [1, 2, 4, 4])
    seeds = {}
    # Valid: a conv whose 4.6 KB weight goes through the payload-stripping wire walk.
    seeds["hand_large_initializer"] = model(
        node("Conv", ["x", "W", "B"], ["y"], ints_attr("kernel_shape", [3, 3]) + ints_attr("pads", [1, 1, 1, 1])) +
        " initializer { %s }" % float_tensor("W", [16, 8, 3, 3]) + " initializer { %s }" % float_tensor("B", [16]) +
        " input { %s } output { %s }" % (value_info("x", [1, 8, 8, 8]), value_info("y", [1, 16, 8, 8])))
    # Valid: Constant nodes in every value form, Identity of an initializer, typed data fields.
    seeds["hand_constants"] = model(
        node("Constant", [], ["c_ints"], 'attribute { name: "value_ints" type: INTS ints: 1 ints: 2 }') +
        node("Constant", [], ["c_float"], 'attribute { name: "value_float" type: FLOAT f: 0.5 }') +
        node("Constant", [], ["c_t"], 'attribute { name: "value" type: TENSOR t { %s } }' % float_tensor("", [1, 2, 1, 1])) +
        node("Identity", ["A"], ["A2"]) + node("Add", ["x", "A2"], ["s"]) + node("Mul", ["s", "c_t"], ["m"]) +
        node("Mul", ["m", "c_float"], ["y"]) +
        ' initializer { name: "A" data_type: 1 dims: 1 dims: 2 dims: 1 dims: 1 float_data: 1 float_data: 2 }'
        ' initializer { name: "I8" data_type: 3 dims: 2 int32_data: -1 int32_data: 7 }'
        ' initializer { name: "H" data_type: 10 dims: 1 int32_data: 15360 }'
        ' initializer { name: "U32" data_type: 12 dims: 2 uint64_data: 1 uint64_data: 4294967295 }'
        ' initializer { name: "D" data_type: 11 dims: 1 double_data: 2.5 }'
        " input { %s } output { %s }" % (x, y))
    # Valid: a sparse initializer (values + 1-D indices) feeding MatMul.
    seeds["hand_sparse_initializer"] = model(
        node("MatMul", ["a", "S"], ["y"]) +
        ' sparse_initializer { values { name: "S" data_type: 1 dims: 2 float_data: 1 float_data: 2 }'
        ' indices { name: "S_idx" data_type: 7 dims: 2 int64_data: 0 int64_data: 5 } dims: 3 dims: 3 }' +
        " input { %s } output { %s }" % (value_info("a", [2, 3]), value_info("y", [2, 3])))
    # Valid IR-3 style: the initializer is also listed as a graph input.
    seeds["hand_initializer_as_input"] = model(
        node("Add", ["x", "A"], ["y"]) + " initializer { %s }" % float_tensor("A", [1, 2, 4, 4]) +
        " input { %s } input { %s } output { %s }" % (x, value_info("A", [1, 2, 4, 4]), y), opset=7)
    # Unknown batch dimension: loads, cost analysis throws kUnknownDim.
    seeds["hand_symbolic_batch"] = model(
        node("Relu", ["x"], ["y"]) + " input { %s } output { %s }" % (
            value_info("x", ["N", 2, 4, 4]), value_info("y", ["N", 2, 4, 4])))
    # Hostile: two nodes feeding each other.
    seeds["hand_cycle"] = model(
        node("Add", ["x", "b"], ["a"], name="n0") + node("Relu", ["a"], ["b"], name="n1") +
        " input { %s } output { %s }" % (x, value_info("b", [1, 2, 4, 4])))
    # Hostile: an input no one produces.
    seeds["hand_dangling"] = model(node("Add", ["x", "ghost"], ["y"]) + " input { %s } output { %s }" % (x, y))
    # Hostile shapes: a negative dimension, one of 2^62, a product past 2^62.
    seeds["hand_negative_dim"] = model(
        node("Relu", ["x"], ["y"]) + " input { %s } output { %s }" % (value_info("x", [1, -1]), value_info("y", [1, 2])))
    seeds["hand_huge_dim"] = model(
        node("Relu", ["x"], ["y"]) + " input { %s } output { %s }" % (value_info("x", [1, 1 << 62]), value_info("y", [1, 2])))
    seeds["hand_numel_overflow"] = model(
        node("Relu", ["x"], ["y"]) + " input { %s } output { %s }" % (
            value_info("x", [1 << 31, 1 << 31, 1 << 31]), value_info("y", [1, 2])))
    # Hostile: raw_data length disagrees with dims.
    seeds["hand_raw_data_mismatch"] = model(
        node("Add", ["x", "A"], ["y"]) + ' initializer { name: "A" data_type: 1 dims: 2 dims: 2 raw_data: %s }' % text_bytes(
            bytes(12)) + " input { %s } output { %s }" % (x, y))
    # Hostile: external data pointing outside the (absent) folder.
    seeds["hand_external_data"] = model(
        node("Add", ["x", "A"], ["y"]) +
        ' initializer { name: "A" data_type: 1 dims: 1 data_location: EXTERNAL'
        ' external_data { key: "location" value: "../secret.bin" } external_data { key: "offset" value: "0" }'
        ' external_data { key: "length" value: "4" } }' + " input { %s } output { %s }" % (x, y))
    # Hostile: the wire walker's own offset keys forged inside the file.
    seeds["hand_forged_offset_keys"] = model(
        node("Add", ["x", "A"], ["y"]) +
        ' initializer { name: "A" data_type: 1 dims: 1 external_data { key: "infercast:offset" value: "99999999" }'
        ' external_data { key: "infercast:length" value: "4" } }' + " input { %s } output { %s }" % (x, y))
    # Subgraphs: an If whose branches carry their own initializers.
    branch = 'graph { name: "%s" ' + node("Identity", ["k"], ["r"]) + ' initializer { %s } output { %s } }'
    seeds["hand_if_subgraphs"] = model(
        node("If", ["cond"], ["y"],
             'attribute { name: "then_branch" type: GRAPH g { %s } } attribute { name: "else_branch" type: GRAPH g { %s } }' % (
                 (branch % ("then", float_tensor("k", [2]), value_info("r", [2])))[len("graph { "):-2],
                 (branch % ("else", float_tensor("k", [2]), value_info("r", [2])))[len("graph { "):-2])) +
        " input { %s } output { %s }" % (value_info("cond", [], elem=9), value_info("y", [2])))
    # Unknown op and a custom domain.
    seeds["hand_unknown_ops"] = model(
        node("FancyOp", ["x"], ["t"], 'attribute { name: "alpha" type: FLOAT f: 1 }') +
        'node { input: "t" output: "y" op_type: "Thing" domain: "com.example" }' +
        " input { %s } output { %s }" % (x, y), extra='opset_import { domain: "com.example" version: 1 }')
    return seeds


def write_onnx():
    os.makedirs(ONNX_OUT, exist_ok=True)
    for name in TESTDATA_MODELS:
        src = os.path.join(TESTDATA, name, "model.onnx")
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(ONNX_OUT, name[len("test_"):] + ".onnx"))
        else:
            print("skipping missing testdata model", src, file=sys.stderr)
    for name, text in onnx_seeds().items():
        encoded = subprocess.run(["protoc", "--encode=onnx.ModelProto", "-I" + os.path.dirname(ONNX_PROTO), ONNX_PROTO],
                                 input=text.encode(), capture_output=True, check=True).stdout
        with open(os.path.join(ONNX_OUT, name + ".onnx"), "wb") as f:
            f.write(encoded)

# --------------------------------------------------------------------------- TFLite


def floats(count):
    return list(struct.pack("<%df" % count, *[((i * 37) % 17 - 8) / 8.0 for i in range(count)]))


def int32s(values):
    return list(struct.pack("<%di" % len(values), *values))


def tensor(name, shape, buffer=0, type_="FLOAT32", **extra):
    t = {"name": name, "shape": shape, "type": type_, "buffer": buffer}
    t.update(extra)
    return t


def op(index, inputs, outputs, options_type=None, options=None, **extra):
    o = {"opcode_index": index, "inputs": inputs, "outputs": outputs}
    if options_type:
        o["builtin_options_type"] = options_type
        o["builtin_options"] = options or {}
    o.update(extra)
    return o


def code(name):
    return {"builtin_code": name}


def tflite_model(codes, tensors, inputs, outputs, operators, buffers, subgraphs_extra=()):
    return {
        "version": 3,
        "description": "infercast fuzz seed",
        "operator_codes": codes,
        "subgraphs": [{"name": "main", "tensors": tensors, "inputs": inputs, "outputs": outputs,
                       "operators": operators}] + list(subgraphs_extra),
        "buffers": [{}] + [{"data": b} for b in buffers],
    }


def tflite_seeds():
    s = {}
    s["conv2d"] = tflite_model(
        [code("CONV_2D")],
        [tensor("in", [1, 8, 8, 3]), tensor("w", [4, 3, 3, 3], 1), tensor("b", [4], 2), tensor("out", [1, 4, 4, 4])],
        [0], [3], [op(0, [0, 1, 2], [3], "Conv2DOptions",
                      {"padding": "SAME", "stride_w": 2, "stride_h": 2, "fused_activation_function": "RELU6"})],
        [floats(108), floats(4)])
    s["depthwise_conv2d"] = tflite_model(
        [code("DEPTHWISE_CONV_2D")],
        [tensor("in", [1, 8, 8, 4]), tensor("w", [1, 3, 3, 4], 1), tensor("b", [4], 2), tensor("out", [1, 8, 8, 4])],
        [0], [3], [op(0, [0, 1, 2], [3], "DepthwiseConv2DOptions",
                      {"padding": "SAME", "stride_w": 1, "stride_h": 1, "depth_multiplier": 1,
                       "dilation_w_factor": 2, "dilation_h_factor": 2})],
        [floats(36), floats(4)])
    s["fully_connected_softmax"] = tflite_model(
        [code("FULLY_CONNECTED"), code("SOFTMAX")],
        [tensor("in", [1, 16]), tensor("w", [10, 16], 1), tensor("b", [10], 2), tensor("fc", [1, 10]),
         tensor("out", [1, 10])],
        [0], [4], [op(0, [0, 1, 2], [3], "FullyConnectedOptions", {"keep_num_dims": True}),
                   op(1, [3], [4], "SoftmaxOptions", {"beta": 1.0})],
        [floats(160), floats(10)])
    s["pool_concat_reshape_mean"] = tflite_model(
        [code("MAX_POOL_2D"), code("AVERAGE_POOL_2D"), code("CONCATENATION"), code("RESHAPE"), code("MEAN"),
         code("ADD"), code("MUL")],
        [tensor("in", [1, 8, 8, 2]), tensor("max", [1, 4, 4, 2]), tensor("avg", [1, 4, 4, 2]),
         tensor("cat", [1, 4, 4, 4]), tensor("shape", [2], 1, "INT32"), tensor("flat", [1, 64]),
         tensor("axes", [1], 2, "INT32"), tensor("mean", [1]), tensor("sum", [1, 4, 4, 2]), tensor("prod", [1, 4, 4, 2])],
        [0], [5, 7, 9],
        [op(0, [0], [1], "Pool2DOptions", {"padding": "VALID", "stride_w": 2, "stride_h": 2, "filter_width": 2,
                                           "filter_height": 2}),
         op(1, [0], [2], "Pool2DOptions", {"padding": "SAME", "stride_w": 2, "stride_h": 2, "filter_width": 3,
                                           "filter_height": 3, "fused_activation_function": "RELU"}),
         op(2, [1, 2], [3], "ConcatenationOptions", {"axis": 3}),
         op(3, [3, 4], [5], "ReshapeOptions", {"new_shape": [1, 64]}),
         op(4, [5, 6], [7], "ReducerOptions", {"keep_dims": False}),
         op(5, [1, 2], [8], "AddOptions", {}),
         op(6, [8, 2], [9], "MulOptions", {})],
        [int32s([1, 64]), int32s([1])])
    s["transpose_conv"] = tflite_model(
        [code("TRANSPOSE_CONV")],
        [tensor("oshape", [4], 1, "INT32"), tensor("w", [2, 3, 3, 4], 2), tensor("in", [1, 4, 4, 4]),
         tensor("b", [2], 3), tensor("out", [1, 8, 8, 2])],
        [2], [4], [op(0, [0, 1, 2, 3], [4], "TransposeConvOptions", {"padding": "SAME", "stride_w": 2, "stride_h": 2})],
        [int32s([1, 8, 8, 2]), floats(72), floats(2)])
    s["mediapipe_transpose_conv_bias"] = tflite_model(
        [{"builtin_code": "CUSTOM", "deprecated_builtin_code": 32, "custom_code": "Convolution2DTransposeBias"}],
        [tensor("in", [1, 4, 4, 4]), tensor("w", [2, 3, 3, 4], 1), tensor("b", [2], 2), tensor("out", [1, 8, 8, 2])],
        [0], [3], [op(0, [0, 1, 2], [3], custom_options=int32s([1, 2, 2]))],
        [floats(72), floats(2)])
    s["quantized_conv"] = tflite_model(
        [{"deprecated_builtin_code": 3}],  # pre-2.5 files only fill the byte-sized code
        [tensor("in", [1, 4, 4, 2], 0, "INT8", quantization={"scale": [0.5], "zero_point": [-3]}),
         tensor("w", [3, 1, 1, 2], 1, "INT8",
                quantization={"scale": [0.1, 0.2, 0.3], "zero_point": [0, 0, 0], "quantized_dimension": 0}),
         tensor("b", [3], 2, "INT32"),
         tensor("out", [1, 4, 4, 3], 0, "INT8", quantization={"scale": [0.25], "zero_point": [1]})],
        [0], [3], [op(0, [0, 1, 2], [3], "Conv2DOptions", {"padding": "VALID", "stride_w": 1, "stride_h": 1})],
        [[1, 2, 3, 4, 5, 6], int32s([0, 1, -1])])
    s["many_ops"] = tflite_model(
        [code("STRIDED_SLICE"), code("PAD"), code("RESIZE_BILINEAR"), code("SPLIT"), code("GATHER"),
         code("BATCH_MATMUL"), code("TRANSPOSE"), code("LEAKY_RELU"), code("LOGISTIC"), code("SQUEEZE"),
         code("EXPAND_DIMS")],
        [tensor("in", [1, 4, 4, 2]), tensor("begin", [4], 1, "INT32"), tensor("end", [4], 2, "INT32"),
         tensor("strides", [4], 3, "INT32"), tensor("sliced", [1, 2, 2, 2]), tensor("pads", [4, 2], 4, "INT32"),
         tensor("padded", [1, 4, 4, 2]), tensor("size", [2], 5, "INT32"), tensor("resized", [1, 8, 8, 2]),
         tensor("split_axis", [], 6, "INT32"), tensor("half0", [1, 8, 8, 1]), tensor("half1", [1, 8, 8, 1]),
         tensor("idx", [2], 7, "INT32"), tensor("gathered", [1, 2, 8, 1]), tensor("mm", [1, 8, 8, 8]),
         tensor("perm", [4], 8, "INT32"), tensor("tr", [1, 8, 8, 8]), tensor("lrelu", [1, 8, 8, 8]),
         tensor("sig", [1, 8, 8, 8]), tensor("sq", [8, 8, 8]), tensor("edim", [1], 9, "INT32"), tensor("out", [8, 1, 8, 8])],
        [0], [21, 13],
        [op(0, [0, 1, 2, 3], [4], "StridedSliceOptions", {"begin_mask": 1}),
         op(1, [4, 5], [6]),
         op(2, [6, 7], [8], "ResizeBilinearOptions", {"half_pixel_centers": True}),
         op(3, [9, 8], [10, 11], "SplitOptions", {"num_splits": 2}),
         op(4, [10, 12], [13], "GatherOptions", {"axis": 1}),
         op(5, [10, 11], [14], "BatchMatMulOptions", {"adj_y": True}),
         op(6, [14, 15], [16]),
         op(7, [16], [17], "LeakyReluOptions", {"alpha": 0.1}),
         op(8, [17], [18]),
         op(9, [18], [19], "SqueezeOptions", {"squeeze_dims": [0]}),
         op(10, [19, 20], [21])],
        [int32s([0, 0, 0, 0]), int32s([1, 4, 4, 2]), int32s([1, 2, 2, 1]), int32s([0, 0, 1, 1, 1, 1, 0, 0]),
         int32s([8, 8]), int32s([3]), int32s([0, 7]), int32s([0, 1, 3, 2]), int32s([1])])
    s["custom_op_and_subgraphs"] = tflite_model(
        [{"builtin_code": "CUSTOM", "custom_code": "MyCustomOp"}, code("RELU")],
        [tensor("in", [1, 4]), tensor("mid", [1, 4]), tensor("out", [1, 4]), tensor("state", [1, 4], 0, is_variable=True)],
        [0], [2], [op(0, [0, 3], [1], custom_options=[1, 2, 3]), op(1, [1], [2])], [],
        subgraphs_extra=[{"name": "body", "tensors": [tensor("a", [1])], "inputs": [0], "outputs": [0], "operators": []},
                         {"tensors": [], "inputs": [], "outputs": [], "operators": []}])
    # Hostile: each breaks one rule the importer checks.
    relu = [code("RELU")]
    two = [tensor("in", [1, 4]), tensor("out", [1, 4])]
    s["bad_buffer_offset"] = tflite_model(
        relu, [tensor("in", [1, 4]), tensor("c", [4], 1), tensor("out", [1, 4])], [0], [2], [op(0, [0], [2])], [])
    s["bad_buffer_offset"]["buffers"].append({"offset": 1 << 40, "size": 16})
    s["bad_tensor_index"] = tflite_model(relu, two, [0], [1], [op(0, [7], [1])], [])
    s["bad_opcode_index"] = tflite_model(relu, two, [0], [1], [op(5, [0], [1])], [])
    s["bad_negative_dim"] = tflite_model(relu, [tensor("in", [1, -4]), tensor("out", [1, 4])], [0], [1],
                                         [op(0, [0], [1])], [])
    s["bad_numel_overflow"] = tflite_model(
        relu, [tensor("in", [2147483647, 2147483647, 2147483647]), tensor("out", [1, 4])], [0], [1], [op(0, [0], [1])], [])
    s["bad_cycle"] = tflite_model(
        [code("ADD"), code("RELU")], [tensor("in", [1, 4]), tensor("a", [1, 4]), tensor("b", [1, 4])], [0], [2],
        [op(0, [0, 2], [1]), op(1, [1], [2])], [])
    s["bad_dangling"] = tflite_model(
        [code("ADD")], [tensor("in", [1, 4]), tensor("ghost", [1, 4]), tensor("out", [1, 4])], [0], [2],
        [op(0, [0, 1], [2])], [])
    s["bad_buffer_size"] = tflite_model(
        [code("ADD")], [tensor("in", [1, 4]), tensor("c", [1, 4], 1), tensor("out", [1, 4])], [0], [2],
        [op(0, [0, 1], [2])], [floats(3)])
    s["bad_zero_stride"] = tflite_model(
        [code("CONV_2D")],
        [tensor("in", [1, 8, 8, 3]), tensor("w", [4, 3, 3, 3], 1), tensor("out", [1, 4, 4, 4])],
        [0], [2], [op(0, [0, 1, -1], [2], "Conv2DOptions", {"padding": "SAME", "stride_w": 0, "stride_h": -2})],
        [floats(108)])
    s["bad_no_subgraph"] = {"version": 3, "operator_codes": [], "subgraphs": [], "buffers": [{}]}
    return s


def write_tflite():
    os.makedirs(TFLITE_OUT, exist_ok=True)
    schema = os.path.join(ROOT, "schema", "tflite.fbs")
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in tflite_seeds().items():
            src = os.path.join(tmp, name + ".json")
            with open(src, "w") as f:
                json.dump(content, f)
            subprocess.run(["flatc", "-b", "-o", TFLITE_OUT, schema, src], check=True)


if __name__ == "__main__":
    write_onnx()
    write_tflite()
    for folder in (ONNX_OUT, TFLITE_OUT):
        for name in sorted(os.listdir(folder)):
            size = os.path.getsize(os.path.join(folder, name))
            assert size < 50 * 1024, name + " is too large for a seed"
