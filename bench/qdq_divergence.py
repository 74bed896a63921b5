#!/usr/bin/env python3
"""Where two executions of a QDQ ONNX file part, tensor by tensor.

For every QuantizeLinear output of MODEL (in graph order), a copy of the graph truncated at
that tensor (dequantized, so the fused int8 kernel before it stays fused) is run by ONNX
Runtime through infercast's runner (runners/ort/runner.js, docs/runner-protocol.md) twice:

  --compare optimization   with its graph optimizations on and off, on the same input;
  --compare input-step     optimized, on the input and on the input with one element moved by
                           one input quantization step (towards zero).

Per tensor it prints how many elements differ by more than half a step, the largest
difference in steps and the summed real-valued difference. `quantize --check-runtime ort`
gives the same two comparisons on the model's outputs only (docs/int8.md).

Usage: PYTHONPATH= /usr/bin/python3 bench/qdq_divergence.py MODEL.onnx [--compare optimization|input-step]
           [--seed N] [--every K]
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Runner:
    """One runner process speaking protocol version 1."""

    def __init__(self):
        self.proc = subprocess.Popen(['node', os.path.join(ROOT, 'runners/ort/runner.js')], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.next_id = 0

    def request(self, op, **fields):
        self.next_id += 1
        self.proc.stdin.write(json.dumps(dict(id=self.next_id, op=op, **fields)) + '\n')
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if not answer.get('ok'):
            sys.exit(f"qdq_divergence: runner: {answer.get('error')}")
        return answer

    def infer(self, model, optimization, name, x):
        self.request('load', model=model, threads=1, optimization=optimization)
        wire = {'dtype': 'float32', 'dims': list(x.shape), 'data_b64': base64.b64encode(x.tobytes()).decode()}
        out = next(iter(self.request('infer', inputs={name: wire})['outputs'].values()))
        return np.frombuffer(base64.b64decode(out['data_b64']), np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('model')
    ap.add_argument('--compare', choices=['optimization', 'input-step'], default='optimization')
    ap.add_argument('--seed', type=int, default=2)
    ap.add_argument('--every', type=int, default=1, help='probe every K-th tensor')
    args = ap.parse_args()
    m = onnx.load(args.model)
    g = m.graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    if len(g.input) != 1:
        sys.exit(f'qdq_divergence: {args.model}: takes a model with one input, not {len(g.input)}')
    name = g.input[0].name
    dims = [d.dim_value for d in g.input[0].type.tensor_type.shape.dim]
    if not all(d > 0 for d in dims):
        sys.exit(f'qdq_divergence: {args.model}: input {name!r} needs a static shape, has {dims}')
    producer = {o: n for n in g.node for o in n.output}
    quantizers = [n for n in g.node if n.op_type == 'QuantizeLinear' and n.input[0] not in init]
    input_q = [n for n in quantizers if n.input[0] == name]
    probes = [n for n in quantizers if n.input[0] != name][::args.every]

    rng = np.random.default_rng(args.seed)
    x = rng.uniform(-1, 1, dims).astype(np.float32)
    other = x
    if args.compare == 'input-step':
        if not input_q:
            sys.exit(f'qdq_divergence: {args.model}: no QuantizeLinear reads input {name!r}')
        step = float(init[input_q[0].input[1]])
        other = x.copy().reshape(-1)
        at = int(rng.integers(other.size))
        other[at] += step if other[at] < 0 else -step
        other = other.reshape(dims)
        print(f'input element {at} moved by one step ({step:.6g})')

    def upstream(t, acc):
        stack = [t]
        while stack:
            t = stack.pop()
            if t in acc or t not in producer:
                continue
            acc.add(t)
            stack.extend(producer[t].input)
        return acc

    runner = Runner()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'truncated.onnx')
        for k, q in enumerate(probes):
            t = q.output[0]
            needed = upstream(t, set())
            nodes = [n for n in g.node if any(o in needed for o in n.output)]
            nodes.append(helper.make_node('DequantizeLinear', [t, q.input[1], q.input[2]], ['probe']))
            used = {i for n in nodes for i in n.input}
            sub = helper.make_graph(nodes, 'truncated', list(g.input),
                                    [helper.make_tensor_value_info('probe', onnx.TensorProto.FLOAT, None)],
                                    [i for i in g.initializer if i.name in used])
            sm = helper.make_model(sub, opset_imports=m.opset_import)
            sm.ir_version = m.ir_version
            onnx.save(sm, path)
            if args.compare == 'optimization':
                a, b = runner.infer(path, 'all', name, x), runner.infer(path, 'disabled', name, x)
            else:
                a, b = runner.infer(path, 'all', name, x), runner.infer(path, 'all', name, other)
            step = float(init[q.input[1]])
            d = np.abs(a - b)
            print(f'{k * args.every:4d} {producer[q.input[0]].op_type:18s} {t}: {int((d > 0.5 * step).sum())} of '
                  f'{d.size} differ, max {d.max() / step:.0f} steps, summed {d.sum():.3g}', flush=True)


if __name__ == '__main__':
    main()
