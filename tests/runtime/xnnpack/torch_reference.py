#!/usr/bin/python3
"""Reference logits for the torchvision ONNX exports, computed by PyTorch itself.

scripts/export_torchvision.py builds each model with torch.manual_seed(0) and
weights=None and exports it; this script rebuilds the same model the same way (same
seed, same constructor arguments), runs it in float64 on a fixed input, and writes

  <out>/<name>.input.f32   the input, float32 little-endian, shape 1x3x224x224
  <out>/<name>.output.f32  the logits, float32 little-endian (computed in float64)
  <out>/<name>.features.f32  the input of the last nn.Linear (the classifier), when the
                             model has one: random-init classifiers are often zero or
                             tiny (vit_b_16's head is zero-initialized), the features are not

The XNNPACK executor test (tests/runtime/xnnpack/models_test.cpp) runs the .onnx
file on the same input and compares. Usage: torch_reference.py OUT_DIR NAME...
"""

import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def export_recipe():
    spec = importlib.util.spec_from_file_location("export_torchvision", REPO_ROOT / "scripts" / "export_torchvision.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    import torch

    recipe = export_recipe()
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name in argv[1:]:
        torch.manual_seed(0)  # exactly as export_one() does before building
        model = recipe.build_model(name).eval().double()
        gen = torch.Generator().manual_seed(20240601)
        x = torch.rand(*recipe.INPUT_SHAPE, generator=gen, dtype=torch.float32)
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        captured = []
        if linears:
            linears[-1].register_forward_hook(lambda mod, inputs, output: captured.append(inputs[0].detach()))
        with torch.no_grad():
            y = model(x.double())
        features = out / f"{name}.features.f32"
        if captured:
            features.write_bytes(captured[-1].numpy().astype("<f4").tobytes())
        elif features.exists():
            features.unlink()
        (out / f"{name}.input.f32").write_bytes(x.numpy().astype("<f4").tobytes())
        (out / f"{name}.output.f32").write_bytes(y.numpy().astype("<f4").tobytes())
        print(f"{name}: logits {tuple(y.shape)} range [{y.min().item():.4f}, {y.max().item():.4f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
