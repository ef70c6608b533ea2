"""The one place where local embedders meet torch / transformers / colpali-engine versions.

Everything that differs between the pinned offline stack (torch 2.13, transformers 4.47, colpali-engine 0.3.8) and
current releases (transformers 5, colpali-engine 0.3.14+) is decided here:

- imports of the ``local`` extra, turned into :class:`~multivec.errors.MissingDependencyError` when missing;
- the dtype keyword of ``from_pretrained`` (``torch_dtype=`` before transformers 4.56, ``dtype=`` after);
- which colpali-engine classes exist (looked up by name, so newer families are picked up when installed);
- which parts a processor is built from (``attributes`` before transformers 5, ``get_attributes()`` after), and a
  repair for processors whose parts transformers 5 cannot see (colpali-engine 0.3.18's ``BiPaliProcessor``);
- tied weights that a checkpoint omits and that ``from_pretrained`` left without data (colpali-engine 0.3.18's
  ColPali/BiPali on transformers 5: their ``tie_weights`` override delegates to the inner Gemma model, which has no
  ``lm_head`` there any more, so the omitted ``lm_head`` stays on the meta device and ``.to(device)`` fails);
- device and dtype defaults.

>>> resolve_device("cpu"), str(resolve_dtype("auto", "cpu"))
('cpu', 'torch.float32')
"""

from __future__ import annotations

import functools
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
    "processor_attributes",
    "resolve_device",
    "resolve_dtype",
    "tie_unloaded_weights",
    "usable_processor_class",
]

_DTYPE_NAMES = ("float32", "float16", "bfloat16")


def _import(module: str, feature: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except Exception as err:  # a version mismatch fails an import with AttributeError, TypeError, … as well
        if isinstance(err, ImportError) and importlib.util.find_spec(module.split(".")[0]) is None:
            raise MissingDependencyError(feature, "local", missing=package) from err
        # installed but broken (e.g. a torchvision built for another torch): the real error is the useful one
        first_line = (str(err).strip().splitlines() or [""])[0][:300]
        reason = f"{type(err).__name__}: {first_line}"
        raise MissingDependencyError(feature, "local", missing=package, reason=reason) from err


def import_torch(feature: str) -> Any:
    """``torch``, or :class:`MissingDependencyError` naming ``multivec-retrieval[local]``."""
    return _import("torch", feature, "torch")


def import_transformers(feature: str) -> Any:
    """``transformers``, or :class:`MissingDependencyError` naming ``multivec-retrieval[local]``."""
    import_torch(feature)
    return _import("transformers", feature, "transformers")


def import_colpali_engine(feature: str) -> Any:
    """``colpali_engine.models``, or :class:`MissingDependencyError` naming ``multivec-retrieval[local]``."""
    import_transformers(feature)
    return _import("colpali_engine.models", feature, "colpali-engine")


def colpali_class(name: str) -> Any | None:
    """The colpali-engine class called ``name`` if the installed version has it (``ColQwen2_5``, ``ColQwen3``…)."""
    models = importlib.import_module("colpali_engine.models")
    return getattr(models, name, None)


def processor_attributes(processor_class: Any) -> list[str]:
    """The parts a transformers processor class is built from (``image_processor``, ``tokenizer``, …)."""
    get_attributes = getattr(processor_class, "get_attributes", None)
    if callable(get_attributes):  # transformers 5 reads them from the __init__ signature
        return list(get_attributes())
    return list(getattr(processor_class, "attributes", None) or [])


@functools.cache
def usable_processor_class(processor_class: Any) -> Any:
    """``processor_class``, or a same-named subclass whose ``__init__`` shows transformers 5 its parts.

    Transformers 5 finds a processor's parts in its ``__init__`` signature; a subclass declaring only
    ``__init__(self, *args, **kwargs)`` (colpali-engine 0.3.18's ``BiPaliProcessor``) then has none and builds or
    loads a processor without tokenizer. The subclass keeps every method of the original and takes the signature of
    the nearest base class that names its parts.
    """
    if not isinstance(processor_class, type) or processor_attributes(processor_class):
        return processor_class
    base = next((b for b in processor_class.__mro__[1:] if processor_attributes(b)), None)
    if base is None:
        return processor_class

    original_init: Any = getattr(processor_class, "__init__")  # noqa: B009 - mypy refuses .__init__ on a class object

    @functools.wraps(getattr(base, "__init__"))  # noqa: B009
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)

    namespace = {"__init__": __init__, "__module__": processor_class.__module__, "__doc__": processor_class.__doc__}
    return type(processor_class.__name__, (processor_class,), namespace)


def tie_unloaded_weights(model: Any) -> list[str]:
    """Tie the weights ``from_pretrained`` left on the meta device; the names of those still without data."""

    def unloaded() -> list[str]:
        return [name for name, param in model.named_parameters(remove_duplicate=False) if param.is_meta]

    if not unloaded():
        return []
    model.tie_weights()
    pretrained = importlib.import_module("transformers").PreTrainedModel
    if unloaded() and isinstance(model, pretrained):
        pretrained.tie_weights(model)  # every pair the config declares, whatever the subclass overrides
    return unloaded()


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
    """Move a processor/tokenizer batch to ``device``; floating tensors (pixel values) also to ``dtype``.

    Training ``labels`` (which PaliGemma's processor adds on transformers 5) are dropped: they would only make the
    model compute a language-model loss.
    """
    torch = importlib.import_module("torch")
    return {
        key: value.to(device, dtype=dtype) if torch.is_floating_point(value) else value.to(device)
        for key, value in batch.items()
        if isinstance(value, torch.Tensor) and key != "labels"
    }
