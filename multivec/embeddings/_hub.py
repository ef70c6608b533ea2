"""Finding a local model's files (local directory or Hugging Face Hub id) with clear errors.

A model is a local directory when ``model_name`` is an existing directory; otherwise it is a hub id, resolved from
the local Hugging Face cache (and downloaded when online). Failures become
:class:`~multivec.errors.ModelLoadError` naming the model and how to provide it, never a raw hub traceback.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> _ = open(os.path.join(d, "config.json"), "w").write('{"model_type": "bert"}')
>>> read_json(d, "config.json")
{'model_type': 'bert'}
>>> read_json(d, "missing.json") is None
True
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from multivec.embeddings._compat import quiet_loading
from multivec.errors import ModelLoadError, MultivecError

__all__ = ["hub_file", "installed_versions", "is_offline", "load_or_raise", "read_json", "version_hint"]

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "on"}
_STACK = ("torch", "transformers", "colpali-engine")


def is_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) forbids downloads."""
    return any(os.environ.get(var, "").strip().lower() in _TRUE for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _how_to_provide(model_name: str) -> str:
    if Path(model_name).expanduser().is_dir():
        return "the directory exists but does not hold a complete model saved with save_pretrained"
    if is_offline():
        return (
            f"HF_HUB_OFFLINE is set and no local copy of {model_name!r} was found: download it once while online "
            f"(huggingface-cli download {model_name}) or pass the path of a local copy as model_name"
        )
    return f"check the hub id {model_name!r} (and your access to it) or pass the path of a local copy as model_name"


def hub_file(model_name: str, filename: str, *, required: bool = True) -> Path | None:
    """Path of ``filename`` in the model (local dir or hub id); ``None`` if absent and not ``required``."""
    local = Path(model_name).expanduser()
    if local.is_dir():
        path = local / filename
        if path.is_file():
            return path
        if required:
            raise ModelLoadError(f"{model_name!r} is a directory without {filename}; is it a saved model directory?")
        return None
    if model_name.startswith((".", "/", "~")) or model_name.count("/") > 1:
        raise ModelLoadError(f"model directory {model_name!r} does not exist; pass an existing directory or a hub id")
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(model_name, filename))
    except Exception as err:  # the hub client's error classes differ between versions
        if not required:
            return None
        raise ModelLoadError(
            f"cannot load model {model_name!r} ({filename}: {type(err).__name__}): {_how_to_provide(model_name)}"
        ) from None


def read_json(model_name: str, filename: str) -> dict[str, Any] | None:
    """The parsed JSON file ``filename`` of the model, or ``None`` when the model has no such file."""
    path = hub_file(model_name, filename, required=False)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{filename} of model {model_name!r} is unreadable: {err}") from err
    return data if isinstance(data, dict) else None


def installed_versions() -> str:
    """The versions of the packages a local model runs on, for error messages.

    >>> installed_versions().startswith("torch ")
    True
    >>> "version incompatibility" in version_hint()
    True
    """
    found = []
    for package in _STACK:
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{package} not installed")
    return ", ".join(found)


def load_or_raise(load: Callable[[], T], model_name: str, what: str) -> T:
    """Run a ``from_pretrained`` call quietly (:func:`~multivec.embeddings._compat.quiet_loading`), turning its
    failures into :class:`ModelLoadError`.

    Only a failure to find or read files (``OSError``) is blamed on the model's location; any other failure with the
    files in place comes from the code that reads them, so the message names the installed versions instead.
    """
    try:
        with quiet_loading():
            return load()
    except MultivecError:
        raise
    except Exception as err:  # transformers raises OSError, ValueError, KeyError, … depending on the failure
        first_line = (str(err).strip().splitlines() or [""])[0][:300]
        hint = _how_to_provide(model_name) if isinstance(err, OSError) else version_hint()
        raise ModelLoadError(
            f"cannot load the {what} of {model_name!r} ({type(err).__name__}: {first_line}); {hint}"
        ) from err


def version_hint() -> str:
    """Why a model whose files were found did not load: the installed versions, not the files."""
    return (
        f"the model files were found, so this is most likely a version incompatibility between the installed "
        f"{installed_versions()}"
    )
