"""The one place where local embedders meet torch / transformers / colpali-engine versions.

Everything that differs between the pinned offline stack (torch 2.13, transformers 4.47, colpali-engine 0.3.8) and
current releases (transformers 5, colpali-engine 0.3.14+) is decided here:

- imports of the ``local`` extra, turned into :class:`~multivec.errors.MissingDependencyError` when missing;
- the dtype keyword of ``from_pretrained`` (``torch_dtype=`` before transformers 4.56, ``dtype=`` after);
- which colpali-engine classes exist (looked up by name, so newer families are picked up when installed);
- device and dtype defaults.

>>> resolve_device("cpu"), str(resolve_dtype("auto", "cpu"))
('cpu', 'torch.float32')
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

from multivec.errors import ConfigurationError, MissingDependencyError

__all__ = [
    "batch_to",
    "colpali_class",
    "from_pretrained_kwargs",
    "import_colpali_engine",
    "import_torch",
    "import_transformers",
    "resolve_device",
    "resolve_dtype",
]

_DTYPE_NAMES = ("float32", "float16", "bfloat16")


def _import(module: str, feature: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if importlib.util.find_spec(module.split(".")[0]) is None:
            raise MissingDependencyError(feature, "local", missing=package) from err
        # installed but broken (e.g. a torchvision built for another torch): the real error is the useful one
        reason = f"{type(err).__name__}: {err}"
        raise MissingDependencyError(feature, "local", missing=package, reason=reason) from err


def import_torch(feature: str) -> Any:
    """``torch``, or :class:`MissingDependencyError` naming ``multivec[local]``."""
    return _import("torch", feature, "torch")


def import_transformers(feature: str) -> Any:
    """``transformers``, or :class:`MissingDependencyError` naming ``multivec[local]``."""
    import_torch(feature)
    return _import("transformers", feature, "transformers")


def import_colpali_engine(feature: str) -> Any:
    """``colpali_engine.models``, or :class:`MissingDependencyError` naming ``multivec[local]``."""
    import_transformers(feature)
    return _import("colpali_engine.models", feature, "colpali-engine")


def colpali_class(name: str) -> Any | None:
    """The colpali-engine class called ``name`` if the installed version has it (``ColQwen2_5``, ``ColQwen3``…)."""
    models = importlib.import_module("colpali_engine.models")
    return getattr(models, name, None)


def _transformers_version() -> tuple[int, int]:
    transformers = importlib.import_module("transformers")
    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return major, minor


def from_pretrained_kwargs(dtype: Any) -> dict[str, Any]:
    """Keyword arguments selecting ``dtype`` in ``from_pretrained`` for the installed transformers."""
    key = "dtype" if _transformers_version() >= (4, 56) else "torch_dtype"
    return {key: dtype}


def resolve_device(device: str | None) -> str:
    """``None``/``"auto"`` picks cuda, then mps, then cpu; anything else is checked and passed to torch as given.

    A device this machine does not have (``"cuda"`` without CUDA, ``"cuda:3"`` with two GPUs, ``"mps"`` off Apple
    silicon) is a :class:`ConfigurationError` naming it, raised before any model is loaded.
    """
    torch = importlib.import_module("torch")
    if device is not None and not (isinstance(device, str) and device == "auto"):
        if not isinstance(device, str | torch.device):
            raise ConfigurationError(f"device must be a str such as 'cpu', 'cuda', 'cuda:0', 'mps', got {device!r}")
        try:
            parsed = torch.device(device)
        except (RuntimeError, TypeError, ValueError) as err:
            raise ConfigurationError(
                f"device={device!r} is not a torch device; use 'cpu', 'cuda', 'cuda:0', 'mps'"
            ) from err
        _check_available(parsed, device)
        return str(device)
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _check_available(parsed: Any, device: Any) -> None:
    torch = importlib.import_module("torch")
    if parsed.type == "meta":
        raise ConfigurationError(f"device={device!r} holds no data and cannot run a model; use 'cpu', 'cuda' or 'mps'")
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (parsed.index is not None and parsed.index >= count):
            raise ConfigurationError(f"device={device!r} is not available: this machine has {count} CUDA device(s)")
    elif parsed.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigurationError(
                f"device={device!r} is not available: MPS needs Apple silicon and a torch built for it"
            )


def resolve_dtype(dtype: Any, device: str) -> Any:
    """``"auto"`` is bfloat16 on cuda and float32 elsewhere; names and ``torch.dtype`` values are accepted."""
    torch = importlib.import_module("torch")
    if dtype is None or (isinstance(dtype, str) and dtype == "auto"):
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str) and dtype.removeprefix("torch.") in _DTYPE_NAMES:
        return getattr(torch, dtype.removeprefix("torch."))
    raise ConfigurationError(f"torch_dtype={dtype!r} is not supported; use 'auto', {', '.join(_DTYPE_NAMES)}")


def batch_to(batch: Any, device: str, dtype: Any) -> dict[str, Any]:
    """Move a processor/tokenizer batch to ``device``; floating tensors (pixel values) also to ``dtype``."""
    torch = importlib.import_module("torch")
    return {
        key: value.to(device, dtype=dtype) if torch.is_floating_point(value) else value.to(device)
        for key, value in batch.items()
        if isinstance(value, torch.Tensor)
    }
