"""Type stub of the `infercast` extension module (python/infercast_module.cpp)."""

import os
from typing import Any, Iterable, Mapping, Sequence, Union

__version__: str

# A model: a path, the bytes of an .onnx/.tflite file (format detected by content),
# or an object with SerializeToString() -> bytes, such as onnx.ModelProto.
Model = Union[str, os.PathLike, bytes, bytearray, memoryview, Any]
# {"input": [1, 3, 224, 224]}, {"input": "1x3x224x224"} or ["input=1x3x224x224"].
InputShapes = Union[None, Mapping[str, Union[str, Sequence[int]]], Sequence[str], str]

class Error(ValueError):
    """An expected failure; str() is the CLI's one-line message."""

    kind: str  # invalid_argument | io | bad_model | unsupported | unknown_dim
    file: str  # the model path, or "<bytes>" / "<ModelProto>"
    node: str  # the node, tensor or field; may be empty
    reason: str

class Analysis:
    """The CLI's `analyze --format json` document."""

    @property
    def totals(self) -> dict[str, Any]: ...
    @property
    def layers(self) -> list[dict[str, Any]]: ...
    @property
    def ops(self) -> dict[str, int]: ...
    @property
    def warnings(self) -> list[str]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def to_pandas(self) -> Any:
        """Per-layer rows as a pandas.DataFrame."""

class Prediction:
    """The CLI's `predict --format json` document."""

    @property
    def latency_ms(self) -> float: ...
    @property
    def interval_ms(self) -> tuple[float, float]: ...
    @property
    def between_kernels_ms(self) -> float:
        """The per-operator cost summed over the executed kernels: in latency_ms, in no kernel's row."""
    @property
    def run_overhead_ms(self) -> float:
        """The per-run cost: in latency_ms, in no kernel's row."""
    @property
    def kernels(self) -> list[dict[str, Any]]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def to_pandas(self) -> Any:
        """Per-kernel rows as a pandas.DataFrame."""

class Measurement:
    """The CLI's `run --format json` document."""

    @property
    def latency_ms(self) -> float:
        """Median end-to-end latency."""
    @property
    def stats(self) -> dict[str, float]: ...
    @property
    def layers(self) -> list[dict[str, Any]]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def to_pandas(self) -> Any: ...

class Verification:
    """The CLI's `verify --format json` document."""

    @property
    def passed(self) -> bool: ...
    @property
    def outputs(self) -> list[dict[str, Any]]: ...
    def to_dict(self) -> dict[str, Any]: ...

class Predictor:
    """A latency predictor bundle, loaded once."""

    def __init__(self, bundle: Union[str, os.PathLike], runtime: str = "") -> None: ...
    def predict(self, model: Model, input_shapes: InputShapes = None, host_speed: float = 1.0) -> Prediction:
        """Every time of the prediction times host_speed (read_host()["speed"] for the host now)."""
    def predict_many(
        self, models: Iterable[Model], input_shapes: InputShapes = None, threads: int = 0, host_speed: float = 1.0
    ) -> list[Prediction]:
        """Predicts every model on native threads without the GIL."""
    def read_host(self) -> dict[str, float]:
        """The profile's reference kernel timed now: reference_ms, profile_median_ms, speed."""
    @property
    def runtime(self) -> str: ...
    @property
    def runtime_version(self) -> str: ...
    @property
    def threads(self) -> int: ...
    @property
    def path(self) -> str: ...
    def summary(self) -> dict[str, Any]: ...

def analyze(model: Model, input_shapes: InputShapes = None) -> Analysis: ...
def run(
    model: Model,
    runtime: str = "xnnpack",
    threads: int = 1,
    per_layer: bool = False,
    input_shapes: InputShapes = None,
    warmup: int = 3,
    repeat: int = 10,
    min_time_s: float = 1.0,
    seed: int = 42,
) -> Measurement: ...
def verify(
    model: Model,
    runtime: str = "xnnpack",
    reference: str = "ort",
    reference_model: Union[None, Model] = None,
    tolerance: Union[None, float] = None,  # default 1e-3 of each output's max |want|
    rtol: Union[None, float] = None,  # rtol/atol: numpy.allclose per element instead
    atol: Union[None, float] = None,
    threads: int = 1,
    seed: int = 42,
    input_shapes: InputShapes = None,
) -> Verification: ...
def export(
    model: Model,
    to: str = "onnx",
    output: Union[None, str, os.PathLike] = None,
    opset: int = 13,
    fp16: bool = False,
    input_shapes: InputShapes = None,
) -> Union[bytes, None]: ...
