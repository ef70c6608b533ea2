"""Quiet by default: loading and using local models prints nothing a user did not ask for.

The checks run in a fresh interpreter, as a user's script would: transformers logs through its own stderr handler
and prints its ``Loading weights`` bar (transformers 5) and notes such as ``Qwen2VLRotaryEmbedding can now be
fully parameterized…`` (4.x) once per process, so only a new process shows what a user sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest

from multivec.embeddings import _compat
from multivec.errors import ModelLoadError
from tests.local import colbert_checkpoints as ckpt

ROOT = Path(__file__).resolve().parents[2]
# what a user's environment has by default: none of the switches that decide verbosity, bars or warnings
_USER_CHOICES = ("TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS", "PYTHONWARNINGS", "TQDM_DISABLE")

_SESSION = """
import tempfile
from PIL import Image
import langchain_multivec, llama_index_multivec
from multivec.embeddings import ColBERTEmbeddings, ColPaliEmbeddings, offline_minilm_path
from multivec.store import MultiVectorStore
from multivec.testing.tiny_models import build_tiny_colpali, build_tiny_colqwen2

emb = ColBERTEmbeddings(offline_minilm_path(), device="cpu")
with MultiVectorStore(emb, path=tempfile.mkdtemp()) as store:
    store.add_texts(["red apples grow on trees", "blue cars drive fast"])
    assert store.search("apples", k=1)[0].content.startswith("red")
for build in (build_tiny_colpali, build_tiny_colqwen2):
    page_model = ColPaliEmbeddings(build(tempfile.mkdtemp()), device="cpu")
    page_model.embed_query("where is the chart?")
    page_model.embed_images([Image.new("RGB", (64, 80), "white")])
print("done")
"""


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in _USER_CHOICES}
    clean.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=300
    )


def test_loading_indexing_searching_and_page_models_print_nothing() -> None:
    result = _run(_SESSION)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert result.stderr == ""  # no bars, load reports, deprecation notes or warnings


def test_transformers_logs_still_show_when_the_user_asks_for_them() -> None:
    code = """
    from multivec.embeddings import ColBERTEmbeddings
    ColBERTEmbeddings(device="cpu")
    """
    assert _run(code).stderr == ""
    asked = _run(code, TRANSFORMERS_VERBOSITY="info")
    assert asked.returncode == 0 and "loading" in asked.stderr.lower()  # transformers' own INFO lines


def test_quiet_loading_puts_back_what_it_changed_also_on_error_and_nested() -> None:
    from transformers.utils import logging as tlog

    before = (tlog.get_verbosity(), tlog.is_progress_bar_enabled(), list(warnings.filters))
    with pytest.raises(RuntimeError), _compat.quiet_loading():
        with _compat.quiet_loading():
            assert not tlog.is_progress_bar_enabled()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("default", UserWarning)  # only what the block ignores is ignored
                warnings.warn("for developers", FutureWarning, stacklevel=1)
                warnings.warn("for users", UserWarning, stacklevel=1)
            assert [str(w.message) for w in caught] == ["for users"]
        assert not tlog.is_progress_bar_enabled()  # the outer block still holds
        raise RuntimeError("load failed")
    assert (tlog.get_verbosity(), tlog.is_progress_bar_enabled(), list(warnings.filters)) == before


def test_a_user_chosen_verbosity_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from transformers.utils import logging as tlog

    previous = tlog.get_verbosity()
    tlog.set_verbosity(logging.INFO)
    try:
        with _compat.quiet_loading():
            assert tlog.get_verbosity() == logging.INFO
        assert tlog.get_verbosity() == logging.INFO
    finally:
        tlog.set_verbosity(previous)


def test_an_encoder_missing_weights_is_refused_not_silently_random(tmp_path: Path, minilm_dir: Path) -> None:
    from safetensors.torch import load_file, save_file

    from multivec.embeddings import ColBERTEmbeddings

    directory = ckpt.build_stanford_colbert(tmp_path / "stanford", minilm_dir)
    weights = directory / "model.safetensors"
    state: dict[str, Any] = load_file(str(weights))
    dropped = [k for k in state if k.startswith("bert.encoder.layer.1.")]
    save_file({k: v for k, v in state.items() if k not in dropped}, str(weights), metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"lacks \d+ weight\(s\).*encoder\.layer\.1\..*would be random"):
        ColBERTEmbeddings(str(directory), device="cpu")
