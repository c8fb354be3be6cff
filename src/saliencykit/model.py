"""Loading models from any supported source into an ``ov.Model`` and running batches on them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.properties.hint as hints

from .errors import ModelInputError, ModelLoadError, OptionError
from .graph.batch import make_batch_dynamic, set_batch
from .graph.edit import first_line
from .graph.query import select_input
from .stderr import captured_stderr

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".xml", ".onnx", ".tflite")
#: the inference precisions ``precision=`` takes (CLI: ``--precision``); f32 is the default
PRECISIONS = ("f32", "bf16", "f16")

_core_lock = threading.Lock()
_core: ov.Core | None = None


def core() -> ov.Core:
    """The process-wide OpenVINO runtime core (creating one is slow, sharing it is safe)."""
    global _core
    with _core_lock:
        if _core is None:
            _core = ov.Core()
        return _core


def load_model(
    source: str | Path | ov.Model | Any,
    *,
    example_input: Any = None,
    input_shape: Sequence[int] | None = None,
) -> ov.Model:
    """Return an ``ov.Model`` from an IR ``.xml`` (with its ``.bin``), ``.onnx``, ``.tflite``, an ``ov.Model``
    or a ``torch.nn.Module``.

    A torch module needs ``example_input=`` (a tensor) or ``input_shape=`` (e.g. ``(1, 3, 224, 224)``); it is
    converted with ``openvino.convert_model`` with a dynamic batch dimension.
    """
    if isinstance(source, ov.Model):
        return source
    if isinstance(source, (str, Path)):
        return _read_model_file(Path(source))
    if is_torch_module(source):
        return _convert_torch(source, example_input, input_shape)
    raise ModelLoadError(
        f"model: cannot load an object of type {type(source).__name__}. Pass a path to an .xml/.onnx/.tflite "
        "file, an openvino.Model or a torch.nn.Module."
    )


def _read_model_file(path: Path) -> ov.Model:
    if not path.exists():
        raise ModelLoadError(f"{path}: no such model file. Check the path.")
    if path.is_dir():
        raise ModelLoadError(f"{path}: is a folder; pass the model file itself (.xml, .onnx or .tflite).")
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelLoadError(
            f"{path}: unsupported model format '{suffix or '(no extension)'}'. "
            f"saliencykit reads {', '.join(MODEL_SUFFIXES)}; export other formats to ONNX first, "
            "or pass a torch.nn.Module."
        )
    if suffix == ".xml" and not path.with_suffix(".bin").exists():
        raise ModelLoadError(
            f"{path}: the weights file {path.with_suffix('.bin').name} is missing beside it. "
            "An OpenVINO IR is two files: copy the .bin next to the .xml."
        )
    noise: list[str] = []
    try:
        with captured_stderr(1 << 16) as noise:  # the frontends print parse errors before raising
            return core().read_model(str(path))
    except Exception as exc:  # OpenVINO raises RuntimeError with a long internal trace
        reason = _openvino_reason(str(exc))
        raise ModelLoadError(
            f"{path}: could not be read as a {suffix[1:].upper()} model: the file is truncated, corrupt or not "
            f"a model{f' ({reason})' if reason else ''}. Re-export or re-download it."
        ) from None
    finally:
        if noise and noise[0].strip():
            log.debug("model frontends said while reading %s:\n%s", path, noise[0])


def _openvino_reason(text: str) -> str:
    """The line of an OpenVINO exception that says what is wrong: source locations and the generic
    "Unable to read the model" (which only repeats the path) are dropped; "" when nothing is left."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Exception from", "Unable to read the model", "Check '")):
            return line[:200]
    return ""


def check_precision(precision: object) -> str:
    """``precision`` when it is one of :data:`PRECISIONS`; else an :class:`OptionError` naming them.

    The one check every entry point (``ModelRunner``, ``Pipeline``, ``Explainer``, the audit, the CLI) relies on.
    """
    if not isinstance(precision, str) or precision not in PRECISIONS:
        allowed = ", ".join(f"'{p}'" for p in PRECISIONS)
        raise OptionError(
            f"precision={precision!r}: use one of {allowed} (CLI: --precision {'|'.join(PRECISIONS)}); "
            "f32 is exact, bf16/f16 are faster on processors that support them."
        )
    return precision


def is_torch_module(obj: object) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module``, told without importing torch."""
    return any(cls.__module__.startswith("torch.nn") and cls.__name__ == "Module" for cls in type(obj).__mro__)


def _convert_torch(module: Any, example_input: Any, input_shape: Sequence[int] | None) -> ov.Model:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is present whenever a Module exists
        raise ModelLoadError("torch is not installed: pip install 'saliencykit[torch]'.") from None
    if example_input is None:
        if input_shape is None:
            raise ModelLoadError(
                f"{type(module).__name__}: a torch module needs example_input= (a tensor) or input_shape= "
                "(e.g. (1, 3, 224, 224)) to be converted."
            )
        example_input = torch.zeros(tuple(int(d) for d in input_shape))
    shape = tuple(example_input.shape)
    module.eval()
    try:
        with torch.no_grad():
            return ov.convert_model(module, example_input=example_input, input=[(-1, *shape[1:])])
    except Exception as exc:
        raise ModelLoadError(
            f"{type(module).__name__}: conversion to OpenVINO failed ({str(exc).splitlines()[0][:200]}). "
            "Check that the module runs on example_input, or export it to ONNX yourself."
        ) from None


class ModelRunner:
    """Compile a model once and infer batches ``(N, ...)`` of any N on it.

    Large batches are split into chunks that go through an ``AsyncInferQueue`` so that preparing the next
    chunk overlaps with inference. The default ``performance="latency"`` uses all cores for each request (as
    fast as the throughput hint for larger batches, faster for one image: ``bench/inference.py``).
    ``precision="f32"`` is the default: OpenVINO's CPU default is bf16 where the processor supports it, which
    moves logits enough to change a saliency ranking.

    With the latency hint a dynamic-batch model is compiled first for a batch of exactly 1, which serves single
    samples (the CPU plugin runs static shapes faster, and one image at a time is the common call:
    ``bench/inference.py``); the dynamic-batch compilation is made at the first call with several samples.

    ``fixed_batch=True`` compiles the model for batches of exactly ``chunk_size`` (the last chunk is padded):
    for callers that always send many samples, such as black-box methods. Static shapes let the CPU plugin
    plan memory once (``bench/blackbox.py`` measures the gain). Models whose batch cannot be fixed keep the
    dynamic path. The batch is set by :mod:`saliencykit.graph.batch`.
    """

    def __init__(
        self,
        model: ov.Model,
        device: str = "CPU",
        input_name: str | None = None,
        chunk_size: int = 16,
        performance: str = "latency",
        constant_inputs: Mapping[str, np.ndarray] | None = None,
        precision: str = "f32",
        fixed_batch: bool = False,
    ) -> None:
        self.precision = check_precision(precision)
        if performance not in ("latency", "throughput"):
            raise ModelInputError(f"performance='{performance}': use 'latency' or 'throughput'.")
        self.performance = performance
        model = model.clone()  # reshaping below must not change the caller's model
        static_shape = select_input(model, input_name).get_partial_shape()
        self._input_arg = input_name
        self.chunk_size = max(1, int(chunk_size))
        self.fixed_batch = self.chunk_size if fixed_batch and set_batch(model, input_name, self.chunk_size) else None
        if fixed_batch and not self.fixed_batch:
            log.info("model batch could not be fixed to %d; using a dynamic batch", self.chunk_size)
        if self.fixed_batch:
            self.dynamic_batch = False
            self.model = model
        else:
            self.model, self.dynamic_batch = make_batch_dynamic(model, input_name)
        port = select_input(self.model, input_name)
        self.input_index = next(n for n, i in enumerate(self.model.inputs) if i == port)
        self.input_name = port.get_any_name() if port.get_names() else f"input{self.input_index}"
        self.input_shape = port.get_partial_shape()
        self.input_type = port.get_element_type().to_dtype()
        self.constant_inputs = dict(constant_inputs or {})
        #: synchronous calls read a one-input model's batch in place (``check_batch`` made it contiguous, of the
        #: input's type); other inputs' values come as given and are copied
        self._share = len(self.model.inputs) == 1
        extra = [i.get_any_name() for n, i in enumerate(self.model.inputs) if n != self.input_index]
        missing = [n for n in extra if n not in self.constant_inputs]
        if missing:
            raise ModelInputError(
                f"model inputs {', '.join(missing)} have no values; pass them with constant_inputs= "
                "(saliencykit feeds images to one input)."
            )
        self._device = device
        self._config: dict = {
            hints.performance_mode: hints.PerformanceMode.LATENCY
            if performance == "latency"
            else hints.PerformanceMode.THROUGHPUT
        }
        if device.upper().startswith("CPU"):
            self._config[hints.inference_precision] = getattr(ov.Type, precision)
        self._static_shape = static_shape
        self._batch_verified = not self.dynamic_batch
        self._lock = threading.Lock()
        self._compile()

    def _compile(self) -> None:
        """Compile what serves single samples: a dynamic-batch model's twin fixed to a batch of 1, else the model.

        The dynamic-batch compilation, for several samples at once, is made at the first such batch.
        """
        single = None
        if self.dynamic_batch and self.performance == "latency":  # the throughput hint is for batches
            single = self.model.clone()
            if not set_batch(single, self._input_arg, 1):
                single = None
        compiled = None
        if single is not None:
            try:
                compiled = core().compile_model(single, self._device, self._config)
            except Exception as exc:  # the dynamic compilation below says what is wrong, or serves every batch
                log.info("no batch-1 compilation: %s", first_line(exc))
        self.compiled = compiled if compiled is not None else self._compile_model(self.model)
        self.output_names = [
            o.get_any_name() if o.get_names() else f"output{n}" for n, o in enumerate(self.compiled.outputs)
        ]
        self._request = self.compiled.create_infer_request()
        #: the compilation (and a request) for batches of several samples: this one unless a batch-1 twin serves
        self._batched = None if compiled is not None else (self.compiled, self._request)
        self._queue: ov.AsyncInferQueue | None = None

    def _compile_model(self, model: ov.Model) -> ov.CompiledModel:
        try:
            return core().compile_model(model, self._device, self._config)
        except Exception as exc:
            available = core().available_devices
            if self._device.split(":")[0].split(".")[0].upper() not in {d.split(".")[0] for d in available} | {
                "AUTO",
                "MULTI",
                "HETERO",
            }:
                raise ModelLoadError(
                    f"device '{self._device}' is not available on this machine; OpenVINO sees: "
                    f"{', '.join(available)}. Use device='CPU'."
                ) from None
            raise ModelLoadError(f"model could not be compiled for {self._device}: {first_line(exc)}") from None

    def _batched_model(self) -> tuple[ov.CompiledModel, ov.InferRequest]:
        """The compilation for several samples per request, made at the first call that needs it."""
        if self._batched is None:
            compiled = self._compile_model(self.model)
            self._batched = (compiled, compiled.create_infer_request())
        return self._batched

    def _fall_back_to_static_batch(self) -> None:
        """The model accepted a dynamic batch in shape inference but hard-codes it inside: undo, one per request."""
        log.info("model hard-codes its batch size; inferring one sample per request")
        self.model.reshape({self.input_index: self._static_shape})
        self.dynamic_batch = False
        self.input_shape = self.model.inputs[self.input_index].get_partial_shape()
        self._compile()

    def check_batch(self, batch: np.ndarray) -> np.ndarray:
        """Validate a batch against the model input and convert it to the input's dtype."""
        batch = np.asarray(batch)
        shape = self.input_shape
        if shape.rank.is_static:
            rank = shape.rank.get_length()
            if batch.ndim != rank:
                raise ModelInputError(
                    f"input '{self.input_name}' expects {rank} dimensions {shape}; got an array of shape "
                    f"{batch.shape}. Batch images as (N, ...) arrays."
                )
            for axis in range(1, rank):
                if shape[axis].is_static and shape[axis].get_length() != batch.shape[axis]:
                    raise ModelInputError(
                        f"input '{self.input_name}' has the fixed shape {shape}; got an array of shape "
                        f"{batch.shape}. Resize the images (Preprocess(size=...), CLI: --size) to match."
                    )
        if batch.shape[0] == 0:
            raise ModelInputError(f"input '{self.input_name}': empty batch.")
        return np.ascontiguousarray(batch, dtype=self.input_type)

    def _inputs(self, chunk: np.ndarray, extra: Mapping[str, np.ndarray]) -> dict:
        feed = {self.input_index: chunk}
        for n, i in enumerate(self.model.inputs):
            if n != self.input_index:
                name = i.get_any_name()
                feed[n] = extra[name] if name in extra else self.constant_inputs[name]
        return feed

    def infer(self, batch: np.ndarray, inputs: Mapping[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """Run a batch ``(N, ...)``; return every model output, each with N leading.

        ``inputs`` gives the other inputs' values for this call only (instead of ``constant_inputs``).
        """
        batch = self.check_batch(batch)
        extra = dict(inputs or {})
        with self._lock:
            if not self._batch_verified and batch.shape[0] > 1:
                try:
                    result = self._infer(batch, extra)
                except RuntimeError:
                    self._fall_back_to_static_batch()
                    return self._infer(batch, extra)
                self._batch_verified = True
                return result
            return self._infer(batch, extra)

    def _infer(self, batch: np.ndarray, extra: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        if self.fixed_batch:
            return self._infer_fixed(batch, extra)
        if batch.shape[0] == 1:
            return self._infer_sync(self.compiled, self._request, batch, extra)
        chunk = self.chunk_size if self.dynamic_batch else 1
        compiled, request = self._batched_model()
        if batch.shape[0] <= chunk:
            return self._infer_sync(compiled, request, batch, extra)
        return self._infer_async(compiled, batch, chunk, extra)

    def _infer_sync(
        self, compiled: ov.CompiledModel, request: ov.InferRequest, batch: np.ndarray, extra: Mapping[str, np.ndarray]
    ) -> list[np.ndarray]:
        result = request.infer(self._inputs(batch, extra), share_inputs=self._share)
        return [np.array(result[o]) for o in compiled.outputs]

    def _infer_fixed(self, batch: np.ndarray, extra: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """A model compiled for exactly ``chunk_size`` samples: pad the last chunk, drop its padded outputs."""
        n, chunk = batch.shape[0], self.fixed_batch
        assert chunk is not None  # only called for a fixed batch
        short = -n % chunk
        if short:
            batch = np.concatenate([batch, np.repeat(batch[-1:], short, axis=0)])
        if batch.shape[0] == chunk:
            outputs = self._infer_sync(self.compiled, self._request, batch, extra)
        else:
            outputs = self._infer_async(self.compiled, batch, chunk, extra)
        return [o[:n] for o in outputs]

    def _infer_async(
        self, compiled: ov.CompiledModel, batch: np.ndarray, chunk: int, extra: Mapping[str, np.ndarray]
    ) -> list[np.ndarray]:
        if self._queue is None:
            jobs = max(2, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
            self._queue = ov.AsyncInferQueue(compiled, jobs)
        starts = range(0, batch.shape[0], chunk)
        parts: dict[int, list[np.ndarray]] = {}
        errors: list[BaseException] = []
        outputs = compiled.outputs

        def done(request: ov.InferRequest, start: int) -> None:
            try:
                parts[start] = [np.array(request.get_tensor(o).data) for o in outputs]
            except BaseException as exc:  # surfaced after wait_all
                errors.append(exc)

        self._queue.set_callback(done)
        for start in starts:
            self._queue.start_async(self._inputs(batch[start : start + chunk], extra), start)
        self._queue.wait_all()
        if errors:
            raise errors[0]
        return [np.concatenate([parts[s][k] for s in starts]) for k in range(len(outputs))]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Run a batch and return the first output."""
        return self.infer(batch)[0]


__all__ = ["ModelRunner", "core", "is_torch_module", "load_model", "make_batch_dynamic", "select_input"]
