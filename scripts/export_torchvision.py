#!/usr/bin/python3
"""Export torchvision models (random weights) to ONNX for infercast tests/benchmarks.

Every model is built with weights=None after torch.manual_seed(0), put in eval
mode and exported with torch.onnx.export (opset 13, default constant folding)
for a torch.randn(1, 3, 224, 224) input.  Files land in
<repo>/.cache/models/torchvision/<name>.onnx unless --out is given.

Existing files are skipped, so reruns are fast.  Each export is written to a
temporary file in the destination directory and renamed into place, so an
interrupted run never leaves a truncated .onnx behind.

--zoo exports the held-out validation zoo instead: the architectures listed in
bench/zoo.txt, none of which is in the default set, into
<repo>/.cache/models/zoo/ (a folder of its own: tests and the prior sampler
read every file of .cache/models/torchvision).  Zoo exports have
their constant tensors randomized (--randomize) so that no two initializers
are identical and none is folded into an Identity node.

Usage: export_torchvision.py [--out DIR] [--force] [--randomize] [--zoo] [NAME ...]
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
ZOO_OUT = REPO_ROOT / ".cache" / "models" / "zoo"
ZOO_LIST = REPO_ROOT / "bench" / "zoo.txt"
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


def zoo_models():
    """The zoo's names: bench/zoo.txt, one per line, '#' starts a comment."""
    names = []
    for line in ZOO_LIST.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def randomize_constants(model, seed=0):
    """Give every constant-initialized float tensor random values.

    Untrained torchvision models hold many identical tensors: BatchNorm's
    running mean 0 / var 1 (folded into the preceding Conv's bias, which is then
    all zeros), its weight 1 / bias 0, LayerNorm's 1 / 0, zero-initialized
    biases and heads, constant layer scales.  The exporter de-duplicates
    identical initializers into Identity nodes.  BatchNorm statistics get a
    mean ~ N(0, 0.1) and a variance ~ U(0.5, 1.5); any other float tensor whose
    elements are all equal gets N(0, 0.02) if zero, else its value times
    U(0.75, 1.25) (a scale keeps its sign and magnitude).  Integer buffers (such
    as Swin's relative-position index) are left alone.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    done = set()
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) and mod.track_running_stats:
                mod.running_mean.normal_(0.0, 0.1, generator=gen)
                mod.running_var.uniform_(0.5, 1.5, generator=gen)
                done.update((id(mod.running_mean), id(mod.running_var)))
        tensors = list(model.named_parameters()) + list(model.named_buffers())
        for _, t in tensors:
            if id(t) in done or not t.is_floating_point() or t.numel() < 2:
                continue
            done.add(id(t))
            first = t.reshape(-1)[0].item()
            if not bool((t == first).all()):
                continue
            if first == 0.0:
                t.normal_(0.0, 0.02, generator=gen)
            else:
                t.mul_(torch.empty_like(t).uniform_(0.75, 1.25, generator=gen))


def build_model(name):
    import torchvision.models as tvm

    try:
        ctor = getattr(tvm, name)
    except AttributeError:
        raise SystemExit(f"error: torchvision.models has no model '{name}'")
    kwargs = dict(EXTRA_KWARGS.get(name, {}))
    return ctor(weights=None, **kwargs)


def export_one(name, out_dir, randomize=False):
    import torch

    dest = out_dir / f"{name}.onnx"
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = build_model(name).eval()
    if randomize:
        randomize_constants(model)
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
    ap.add_argument("models", nargs="*", help="torchvision model names (default: standard set, or the zoo)")
    ap.add_argument("--out", type=Path, default=None,
                    help=f"output directory (default: {DEFAULT_OUT}; with --zoo {ZOO_OUT})")
    ap.add_argument("--force", action="store_true", help="re-export even if the file exists")
    ap.add_argument("--randomize", action="store_true",
                    help="randomize constant-initialized tensors (BatchNorm statistics, ...) before export")
    ap.add_argument("--zoo", action="store_true",
                    help=f"the held-out validation zoo ({ZOO_LIST.relative_to(REPO_ROOT)}); implies --randomize")
    args = ap.parse_args(argv)

    if args.zoo:
        names = args.models or zoo_models()
        out = args.out or ZOO_OUT
    else:
        names = args.models or DEFAULT_MODELS
        out = args.out or DEFAULT_OUT
    randomize = args.randomize or args.zoo
    out_dir = out.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)

    failures = 0
    for name in names:
        dest = out_dir / f"{name}.onnx"
        if dest.exists() and not args.force:
            size = dest.stat().st_size
            print(f"{name:<20} {size / 1e6:9.1f} MB  (exists, skipped)", flush=True)
            continue
        try:
            dest, secs = export_one(name, out_dir, randomize)
        except Exception as e:  # keep going with the other models
            failures += 1
            print(f"{name:<20} FAILED: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            continue
        size = dest.stat().st_size
        print(f"{name:<20} {size / 1e6:9.1f} MB  {secs:7.1f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
