"""A NAS-style loop: sample MobileNetV2-like candidates with PyTorch, export each to an
in-memory ONNX buffer (never touching the disk), and rank them by predicted latency on
the bundle's device and runtime, next to their MACs and params.

Usage: PYTHONPATH=build/python /usr/bin/python3 examples/python/nas_search.py BUNDLE [--candidates 24]
"""
import argparse
import io
import random

import torch
from torch import nn

import infercast


def conv_bn(cin, cout, k, stride, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return layers + ([nn.ReLU6(inplace=True)] if act else [])


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand, k):
        super().__init__()
        hidden = cin * expand
        layers = conv_bn(cin, hidden, 1, 1) if expand != 1 else []
        layers += conv_bn(hidden, hidden, k, stride, groups=hidden) + conv_bn(hidden, cout, 1, 1, act=False)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def candidate(width, depths, expand, kernel, resolution, classes=1000):
    """A MobileNetV2-like network: stem, five stages of inverted residuals, head."""
    ch = lambda c: max(8, int(c * width + 4) // 8 * 8)  # noqa: E731
    layers = conv_bn(3, ch(32), 3, 2)
    cin = ch(32)
    for (c, stride), depth in zip([(16, 1), (24, 2), (32, 2), (64, 2), (96, 1), (160, 2)], depths):
        for i in range(depth):
            layers.append(InvertedResidual(cin, ch(c), stride if i == 0 else 1, 1 if c == 16 else expand, kernel))
            cin = ch(c)
    layers += conv_bn(cin, 1280, 1, 1) + [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, classes)]
    return nn.Sequential(*layers).eval(), (1, 3, resolution, resolution)


def to_onnx_bytes(model, shape):
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, torch.randn(*shape), buffer, opset_version=13, input_names=["input"])
    return buffer.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", help="predictor bundle (infercast profile / train)")
    ap.add_argument("--candidates", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    predictor = infercast.Predictor(a.bundle)

    configs, buffers = [], []
    for _ in range(a.candidates):
        config = dict(width=rng.choice([0.5, 0.75, 1.0, 1.4]), depths=[1] + [rng.randint(1, 4) for _ in range(5)],
                      expand=rng.choice([3, 4, 6]), kernel=rng.choice([3, 5]), resolution=rng.choice([160, 192, 224]))
        configs.append(config)
        buffers.append(to_onnx_bytes(*candidate(**config)))

    predictions = predictor.predict_many(buffers)  # native threads, no GIL
    analyses = [infercast.analyze(b) for b in buffers]
    ranked = sorted(zip(predictions, analyses, configs), key=lambda r: r[0].latency_ms)
    print(f"{len(ranked)} candidates on {predictor.runtime} ({predictor.threads} threads), fastest first:")
    print(f"{'ms':>8} {'90% band':>17} {'MMACs':>8} {'Mparams':>8}  config")
    for p, an, c in ranked:
        lo, hi = p.interval_ms
        print(f"{p.latency_ms:8.2f} {lo:8.2f}..{hi:<8.2f} {an.totals['macs'] / 1e6:8.0f} "
              f"{an.totals['params'] / 1e6:8.2f}  {c}")


if __name__ == "__main__":
    main()
