#!/usr/bin/python3
"""Export torchvision models (random weights) to ONNX for infercast tests/benchmarks.

Every model is built with weights=None after torch.manual_seed(0), put in eval
mode and exported with torch.onnx.export (opset 13, default constant folding)
for a torch.randn(1, 3, 224, 224) input.  Files land in
<repo>/.cache/models/torchvision/<name>.onnx unless --out is given.

Existing files are skipped, so reruns are fast.  Each export is written to a
temporary file in the destination directory and renamed into place, so an
interrupted run never leaves a truncated .onnx behind.

Usage: export_torchvision.py [--out DIR] [--force] [NAME ...]
"""

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / ".cache" / "models" / "torchvision"
OPSET = 13
INPUT_SHAPE = (1, 3, 224, 224)

DEFAULT_MODELS = [
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "squeezenet1_1",
    "densenet121",
    "googlenet",
    "alexnet",
    "vit_b_16",
    "efficientnet_b0",
    "vgg11",
]

# Extra constructor arguments.  googlenet/inception default to aux_logits=True
# and warn about the missing init_weights when built without pretrained weights.
EXTRA_KWARGS = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}


def build_model(name):
    import torchvision.models as tvm

    try:
        ctor = getattr(tvm, name)
    except AttributeError:
        raise SystemExit(f"error: torchvision.models has no model '{name}'")
    kwargs = dict(EXTRA_KWARGS.get(name, {}))
    return ctor(weights=None, **kwargs)


def export_one(name, out_dir):
    import torch

    dest = out_dir / f"{name}.onnx"
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = build_model(name).eval()
    dummy = torch.randn(*INPUT_SHAPE)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".onnx.tmp", dir=out_dir)
    os.close(fd)
    try:
        # No torch.no_grad(): with grad disabled, nn.MultiheadAttention (vit_b_16)
        # takes its fused fast path (aten::_native_multi_head_attention), which
        # the opset-13 exporter cannot translate.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                dummy,
                tmp,
                opset_version=OPSET,
                input_names=["input"],
                output_names=["output"],
                do_constant_folding=True,
            )
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return dest, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", help="torchvision model names (default: standard set)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})")
    ap.add_argument("--force", action="store_true", help="re-export even if the file exists")
    args = ap.parse_args(argv)

    names = args.models or DEFAULT_MODELS
    out_dir = args.out.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)

    failures = 0
    for name in names:
        dest = out_dir / f"{name}.onnx"
        if dest.exists() and not args.force:
            size = dest.stat().st_size
            print(f"{name:<20} {size / 1e6:9.1f} MB  (exists, skipped)", flush=True)
            continue
        try:
            dest, secs = export_one(name, out_dir)
        except Exception as e:  # keep going with the other models
            failures += 1
            print(f"{name:<20} FAILED: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            continue
        size = dest.stat().st_size
        print(f"{name:<20} {size / 1e6:9.1f} MB  {secs:7.1f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
