"""The Python peer for bench/analyze_speed.sh: what a user without infercast runs to
get a model's shapes, the input to any cost count.

Usage: python_onnx_analyze.py MODEL.onnx

Loads the model with onnx.load (parses the whole protobuf, weights included) and runs
onnx.shape_inference.infer_shapes on it, then prints the number of nodes and of
inferred value_infos so the work cannot be skipped. Single-threaded, like infercast.
"""
import sys

import onnx
import onnx.shape_inference


def main(path):
    model = onnx.load(path)
    inferred = onnx.shape_inference.infer_shapes(model)
    print(f"nodes {len(inferred.graph.node)} value_infos {len(inferred.graph.value_info)}")


if __name__ == "__main__":
    main(sys.argv[1])
