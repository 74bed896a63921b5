#!/usr/bin/python3
"""Reference output shapes of the ONNX backend test models (Debian libonnx-testdata).

For every /usr/share/libonnx-testdata/data/{node,pytorch-converted,
pytorch-operator,simple}/*/model.onnx, read test_data_set_0/output_<N>.pb
(output_<N>.pb belongs to graph output N) and write one JSON line per model:

    {"model": "<abs path>", "outputs": [[d0, d1, ...] | "non_tensor", ...],
     "kinds": ["tensor" | "sequence" | "optional" | "map" | "unparsed", ...]}

A scalar output has dims [].  Outputs that are not plain tensors (sequences,
optionals, maps) are recorded as the string "non_tensor" in "outputs", with
their kind in "kinds".  The protobuf message type is chosen from the graph
output's declared type; when that is missing, TensorProto is tried first and
then SequenceProto / OptionalProto / MapProto.

Output: <repo>/.cache/reference/onnx_testdata_shapes.jsonl (or --out FILE).
The file is rewritten only if its content changes (idempotent), atomically.
Uses only the onnx package.
"""

import argparse
import glob
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import onnx

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / ".cache" / "reference" / "onnx_testdata_shapes.jsonl"
DATA_ROOT = Path("/usr/share/libonnx-testdata/data")
SUITES = ("node", "pytorch-converted", "pytorch-operator", "simple")

ELEM_SIZE = {
    onnx.TensorProto.FLOAT: 4, onnx.TensorProto.UINT8: 1, onnx.TensorProto.INT8: 1,
    onnx.TensorProto.UINT16: 2, onnx.TensorProto.INT16: 2, onnx.TensorProto.INT32: 4,
    onnx.TensorProto.INT64: 8, onnx.TensorProto.BOOL: 1, onnx.TensorProto.FLOAT16: 2,
    onnx.TensorProto.DOUBLE: 8, onnx.TensorProto.UINT32: 4, onnx.TensorProto.UINT64: 8,
    onnx.TensorProto.COMPLEX64: 8, onnx.TensorProto.COMPLEX128: 16, onnx.TensorProto.BFLOAT16: 2,
}

NON_TENSOR = (
    ("sequence", onnx.SequenceProto),
    ("optional", onnx.OptionalProto),
    ("map", onnx.MapProto),
)
KIND_OF_TYPE = {"sequence_type": "sequence", "optional_type": "optional", "map_type": "map"}


def plausible_tensor(t):
    """Sanity check that bytes parsed as TensorProto really were one.

    Protobuf parsing is lenient: a serialized SequenceProto / OptionalProto
    parses "successfully" as a TensorProto (their fields 1-3 collide with
    dims / data_type / segment), so parse success alone proves nothing.
    Require no segment, a valid data type and a data payload whose size
    matches prod(dims).
    """
    TP = onnx.TensorProto
    if t.HasField("segment") or t.data_type not in ELEM_SIZE and t.data_type != TP.STRING:
        return False
    numel = 1
    for d in t.dims:
        if d < 0:
            return False
        numel *= d
    if t.data_location == TP.EXTERNAL:
        return True
    if t.HasField("raw_data"):
        return t.data_type != TP.STRING and len(t.raw_data) == numel * ELEM_SIZE[t.data_type]
    per_elem = 2 if t.data_type in (TP.COMPLEX64, TP.COMPLEX128) else 1
    stored = (len(t.float_data) + len(t.int32_data) + len(t.string_data) + len(t.int64_data)
              + len(t.double_data) + len(t.uint64_data))
    return stored == numel * per_elem


def parse_output(data, declared):
    """Returns (kind, dims or None)."""
    if declared in KIND_OF_TYPE:
        kind = KIND_OF_TYPE[declared]
        msg = dict(NON_TENSOR)[kind]()
        msg.ParseFromString(data)
        return kind, None
    t = onnx.TensorProto()
    try:
        t.ParseFromString(data)
        ok = plausible_tensor(t)
    except Exception:
        ok = False
    if ok:
        return "tensor", list(t.dims)
    # Without a declared type, Sequence vs Optional is ambiguous on the wire
    # (same field numbers); both are "non_tensor" either way.
    for kind, cls in NON_TENSOR:
        try:
            cls().ParseFromString(data)
            return kind, None
        except Exception:
            continue
    return "unparsed", None


def output_index(p):
    return int(re.fullmatch(r"output_(\d+)\.pb", p.name).group(1))


def collect():
    records = []
    for suite in SUITES:
        for model_path in sorted(glob.glob(str(DATA_ROOT / suite / "*" / "model.onnx"))):
            model_path = Path(model_path)
            model = onnx.load(str(model_path), load_external_data=False)
            declared = [o.type.WhichOneof("value") for o in model.graph.output]
            files = sorted((model_path.parent / "test_data_set_0").glob("output_*.pb"), key=output_index)
            outputs, kinds = [], []
            for f in files:
                i = output_index(f)
                kind, dims = parse_output(f.read_bytes(), declared[i] if i < len(declared) else None)
                kinds.append(kind)
                outputs.append(dims if kind == "tensor" else "non_tensor")
            rec = {"model": str(model_path), "outputs": outputs, "kinds": kinds}
            if len(files) != len(declared):
                rec["graph_outputs"] = len(declared)
            records.append(rec)
    return records


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write reference output shapes of the ONNX test data models.")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    records = collect()
    text = "".join(json.dumps(r, separators=(", ", ": ")) + "\n" for r in records)

    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and out.read_text() == text:
        status = "unchanged"
    else:
        fd, tmp = tempfile.mkstemp(prefix=".shapes.", dir=out.parent)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, out)
        status = "written"

    n_out = sum(len(r["outputs"]) for r in records)
    non_tensor = [(r["model"], k) for r in records for k in r["kinds"] if k != "tensor"]
    models_nt = len({m for m, _ in non_tensor})
    by_kind = {}
    for _, k in non_tensor:
        by_kind[k] = by_kind.get(k, 0) + 1
    mismatch = sum(1 for r in records if "graph_outputs" in r)
    print(f"{out}: {status}; {len(records)} models, {n_out} outputs, "
          f"{len(non_tensor)} non-tensor outputs in {models_nt} models {by_kind}, "
          f"{mismatch} models with output-file/graph-output count mismatch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
