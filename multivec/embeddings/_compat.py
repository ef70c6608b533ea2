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
- device and dtype defaults;
- keeping transformers quiet while a model loads (:func:`quiet_loading`): its ``Loading weights`` /
  ``Loading checkpoint shards`` bars (on by default in transformers 5), its load reports and deprecation notes.

>>> resolve_device("cpu"), str(resolve_dtype("auto", "cpu"))
('cpu', 'torch.float32')
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any, cast

from multivec.errors import ConfigurationError, MissingDependencyError

__all__ = [
    "batch_to",
    "colpali_class",
    "from_pretrained_kwargs",
    "import_colpali_engine",
    "import_torch",
    "import_transformers",
    "processor_attributes",
    "quiet_loading",
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


_quiet_lock = threading.Lock()
_quiet_depth = 0
_restore: list[Any] = []


def _silence_transformers() -> list[Any]:
    """Turn transformers' bars and warning logs off; the calls that undo it. What the user chose is left alone."""
    try:
        tlog = importlib.import_module("transformers.utils.logging")
        hub = importlib.import_module("huggingface_hub.utils")
    except ImportError:
        return []
    undo: list[Any] = []
    if tlog.is_progress_bar_enabled() and "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ:
        hub_was_off = hub.are_progress_bars_disabled()
        tlog.disable_progress_bar()  # switches huggingface_hub's bars off too…
        if not hub_was_off:
            hub.enable_progress_bars()  # …whose download bars stay as they were: a download shows its progress

        def bars_back() -> None:
            tlog.enable_progress_bar()
            if hub_was_off:
                hub.disable_progress_bars()

        undo.append(bars_back)
    # its log lines go to its own stderr handler; lowered only from the default level, so a verbosity the user chose
    # (TRANSFORMERS_VERBOSITY, set_verbosity_info()) still shows all it asks for
    if "TRANSFORMERS_VERBOSITY" not in os.environ and tlog.get_verbosity() == logging.WARNING:
        tlog.set_verbosity(logging.ERROR)
        undo.append(lambda: tlog.set_verbosity(logging.WARNING))
    return undo


def _ignore_developer_warnings() -> Any:
    """Ignore DeprecationWarning/FutureWarning (notes for the code calling transformers, not for its users); the call
    that takes out exactly these filters again. The entries go in front of ``warnings.filters`` directly:
    ``filterwarnings`` would move a user's equal entry, and a ``catch_warnings`` block, restoring the whole list,
    would be undone out of order by loads on other threads."""
    filters = cast(list[Any], warnings.filters)  # a list, typed read-only by typeshed
    added = [("ignore", None, category, None, 0) for category in (DeprecationWarning, FutureWarning)]
    filters[:0] = added

    def back() -> None:
        for entry in added:
            position = next((i for i, f in enumerate(filters) if f is entry), None)
            if position is not None:
                del filters[position]

    return back


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Keep transformers quiet around a model load: no ``Loading weights`` bars, load reports or notes for developers.

    Transformers 5 draws a ``Loading weights`` bar for every ``from_pretrained`` and logs a load report for
    checkpoint keys a model does not use (the ColBERT projection beside the encoder weights); both 4.x and 5.x log
    deprecation notes meant for the code that calls them (``Qwen2VLRotaryEmbedding can now be fully
    parameterized…``). Inside this block its bars are off, its log level is ERROR (errors still show) unless the user
    set a verbosity, and ``DeprecationWarning``/``FutureWarning`` are ignored; everything is put back as it was on
    exit, also when the load raises. Nested and concurrent blocks share one silencing (the last one out restores).
    Download bars of the Hugging Face Hub stay on: they only appear while a model is really being downloaded, which
    can take minutes. ``HF_HUB_DISABLE_PROGRESS_BARS`` or ``TRANSFORMERS_VERBOSITY`` in the environment means the
    user decided, so bars or log level are then left as they are.

    >>> import warnings
    >>> from transformers.utils import logging as tlog
    >>> before = (tlog.get_verbosity(), tlog.is_progress_bar_enabled(), list(warnings.filters))
    >>> with quiet_loading():
    ...     tlog.is_progress_bar_enabled()
    False
    >>> (tlog.get_verbosity(), tlog.is_progress_bar_enabled(), list(warnings.filters)) == before
    True
    """
    global _quiet_depth
    with _quiet_lock:
        if _quiet_depth == 0:
            _restore[:] = [*_silence_transformers(), _ignore_developer_warnings()]
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                for undo in reversed(_restore):
                    undo()
                _restore.clear()


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
