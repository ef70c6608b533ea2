"""The version guards of multivec.embeddings._compat."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

from multivec.embeddings import _compat
from multivec.errors import ConfigurationError


@pytest.mark.parametrize(("version", "key"), [("4.47.1", "torch_dtype"), ("4.56.0", "dtype"), ("5.3.0", "dtype")])
def test_from_pretrained_dtype_keyword_follows_transformers(
    monkeypatch: pytest.MonkeyPatch, version: str, key: str
) -> None:
    # The module object as _compat finds it (sys.modules may hold a newer one than this file imported).
    monkeypatch.setattr(importlib.import_module("transformers"), "__version__", version)
    assert _compat.from_pretrained_kwargs(torch.float32) == {key: torch.float32}


def test_device_and_dtype_resolution() -> None:
    assert _compat.resolve_device("cpu") == "cpu"
    assert _compat.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else _compat.resolve_device(None))
    assert _compat.resolve_dtype("auto", "cpu") is torch.float32
    assert _compat.resolve_dtype("auto", "cuda:0") is torch.bfloat16
    assert _compat.resolve_dtype("torch.float16", "cpu") is torch.float16
    assert _compat.resolve_dtype(torch.bfloat16, "cpu") is torch.bfloat16
    with pytest.raises(ConfigurationError, match="int8"):
        _compat.resolve_dtype("int8", "cpu")
    with pytest.raises(ConfigurationError, match="not a torch device"):
        _compat.resolve_device("gpu-please")


def test_colpali_classes_are_looked_up_by_name() -> None:
    from colpali_engine.models import ColPali

    assert _compat.colpali_class("ColPali") is ColPali
    assert _compat.colpali_class("ColFlor") is None  # not in upstream colpali-engine


def test_a_missing_package_and_a_broken_one_are_told_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from multivec.errors import MissingDependencyError

    broken = tmp_path / "multivec_broken_dep"
    broken.mkdir()
    (broken / "__init__.py").write_text(
        "raise ImportError('cannot import name Thing from other_dep (built for torch 9)')"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingDependencyError, match=r"installed but cannot be imported.*built for torch 9") as info:
        _compat._import("multivec_broken_dep", "a feature", "multivec-broken-dep")
    assert info.value.reason is not None
    with pytest.raises(MissingDependencyError, match=r"multivec-absent-dep is not installed"):
        _compat._import("multivec_absent_dep", "a feature", "multivec-absent-dep")


def test_a_package_failing_to_import_with_any_error_is_reported_with_that_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multivec.errors import MissingDependencyError

    # what a release built against another transformers does: an AttributeError at import, not an ImportError
    package = tmp_path / "multivec_mismatched_dep"
    package.mkdir()
    (package / "__init__.py").write_text("import math\nmath.no_such_function\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        MissingDependencyError, match=r"installed but cannot be imported \(AttributeError: .*no_such"
    ) as info:
        _compat._import("multivec_mismatched_dep", "a feature", "multivec-mismatched-dep")
    assert isinstance(info.value.__cause__, AttributeError)


def test_colpali_engine_installed_but_unimportable_is_not_called_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from multivec.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "colpali_engine.models", None)  # importing it now fails, the package stays found
    with pytest.raises(MissingDependencyError) as info:
        _compat.import_colpali_engine("ColPaliEmbeddings")
    message = str(info.value)
    assert "colpali-engine, which is installed but cannot be imported" in message
    assert "colpali_engine.models" in message  # the real import error, not a guess
    assert "not installed" not in message
