"""Shared fixtures of the Python module's tests: the CLI, the model folders, a small bundle.

ctest sets INFERCAST_CLI, INFERCAST_SOURCE_DIR and PYTHONPATH (the built module);
run by hand: PYTHONPATH=build/python INFERCAST_CLI=build/infercast python3 -m pytest tests/python
"""

import json
import os
import pathlib
import subprocess

import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("INFERCAST_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
CLI = os.environ.get("INFERCAST_CLI", str(SOURCE_DIR / "build" / "infercast"))
MODELS = SOURCE_DIR / ".cache" / "models"


def torchvision_test_models():
    """The torchvision models `make models` fetches: the Makefile's own list."""
    text = (SOURCE_DIR / "Makefile").read_text().split("TORCHVISION_TEST_MODELS :=", 1)[1]
    names = []
    for line in text.split("\n"):
        names += line.replace("\\", " ").split()
        if not line.rstrip().endswith("\\"):
            return names
    return names


def mediapipe_test_models():
    """The MediaPipe .tflite files `make models` fetches (scripts/fetch_mediapipe.sh)."""
    script = (SOURCE_DIR / "scripts" / "fetch_mediapipe.sh").read_text()
    return sorted({w for w in script.split() if w.endswith(".tflite") and w[0].isalnum() and "/" not in w and "$" not in w})


def cli(*args, check=True):
    """Runs the CLI; returns (exit code, stdout, stderr)."""
    p = subprocess.run([CLI, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"infercast {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p.returncode, p.stdout, p.stderr


def cli_json(*args):
    return json.loads(cli(*args, "--format", "json")[1])


def model_path(relative):
    path = MODELS / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (run `make models`)")
    return path


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    """A small XNNPACK bundle measured here: 30 convs, depthwise convs and FCs."""
    folder = tmp_path_factory.mktemp("bundle")
    db = folder / "kernels.db"
    out = folder / "xnnpack.bundle"
    # Tiny, quick kernels timed twice each: the bundle's numbers need not be good, only real
    # (the fc family gets XGBoost trees, so predict_many exercises them from many threads).
    cli("bench", "--runtime", "xnnpack", "--db", str(db), "--kernels", "conv,dwconv+relu6,fc", "--count", "30",
        "--threads", "1", "--warmup", "0", "--repeats", "2", "--min-time", "0", "--max-remeasure", "0", "--no-cold",
        "--max-macs", "2e6", "--profile", "xnnpack-1t", "-q")
    cli("train", "--db", str(db), "--profile", "xnnpack-1t", "-o", str(out), "--model", "gbm", "--model", "roofline")
    return out
