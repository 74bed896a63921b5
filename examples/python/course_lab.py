"""A course lab's analysis in ten lines: params, weight memory, per-layer activations, MACs.
Usage: PYTHONPATH=build/python /usr/bin/python3 examples/python/course_lab.py MODEL.onnx|.tflite"""
import sys

import infercast

a = infercast.analyze(sys.argv[1])
t = a.totals
print(f"params {t['params']:,}  weights {t['weight_bytes'] / 2**20:.2f} MiB  MACs {t['macs'] / 1e9:.3f} G  "
      f"peak activations {t['peak_activation_bytes'] / 2**20:.2f} MiB")
layers = a.to_pandas()[["name", "op", "output_shape", "macs", "write_bytes"]]
print(layers.sort_values("macs", ascending=False).head(10).to_string(index=False))
