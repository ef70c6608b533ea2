"""Local ColPali-family embedders on colpali-engine: ``ColPaliEmbeddings`` (multi-vector) and ``BiPaliEmbeddings``.

``ColPaliEmbeddings`` loads any late-interaction model colpali-engine provides (ColPali, ColQwen2, ColQwen2.5,
ColIdefics3/ColSmol, and newer families when the installed colpali-engine has them); ``BiPaliEmbeddings`` loads the
single-vector ``Bi*`` twins (BiPali, BiQwen2, …), whose embeddings are one L2-normalised ``(dim,)`` vector.

How inputs are encoded:

- **queries** go through the processor's ``process_queries`` (query prefix and augmentation tokens);
- **images** go through ``process_images``;
- **document texts** (``embed_text``, ``embed_documents``) are encoded exactly like queries. These models were
  trained with text only on the query side, so that is the text encoding they know; it is also what an Infinity
  server does for every text, so a collection built through Infinity and one built locally hold the same vectors,
  and it is the same on every colpali-engine version (``process_texts`` only exists in newer ones). As a result
  ``embed_text(s)`` and ``embed_query(s)`` are equal, on purpose.

Padding rows are dropped with the attention mask (never by value), so an input's vectors do not depend on the
batch it was embedded in. The model is loaded once, at construction, on ``device`` (auto: cuda → mps → cpu) in
``torch_dtype`` (auto: bfloat16 on cuda, float32 elsewhere), and run under ``torch.inference_mode()`` in chunks of
``batch_size``; forward passes are serialised per instance (the async methods run them on one worker thread).

Example (needs ``pip install "multivec-retrieval[local]"``; a tiny random ColQwen2 stands in for the real weights, which
would be ``ColPaliEmbeddings("vidore/colqwen2-v1.0")``: 128-d vectors, about 700 per page)::

    >>> import tempfile
    >>> from PIL import Image
    >>> from multivec.embeddings import ColPaliEmbeddings
    >>> from multivec.testing.tiny_models import build_tiny_colqwen2
    >>> emb = ColPaliEmbeddings(build_tiny_colqwen2(tempfile.mkdtemp()), device="cpu")
    >>> emb.embed_query("what is late interaction?").shape[1] == emb.dim
    True
    >>> emb.embed_image(Image.new("RGB", (120, 90), "white")).shape[1] == emb.dim
    True
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from multivec._options import positive_int
from multivec.embeddings import _compat
from multivec.embeddings._batching import length_sorted_batches
from multivec.embeddings._hub import hub_file, load_or_raise, read_json, version_hint
from multivec.embeddings.base import MultiVectorMultiModalEmbedding
from multivec.errors import ConfigurationError, EmbeddingError, InvalidInputError, ModelLoadError
from multivec.images import DEFAULT_MAX_PIXELS
from multivec.patch_grid import PatchGrid
from multivec.types import Embedding, ImageInput

__all__ = ["MODEL_FAMILIES", "BiPaliEmbeddings", "ColPaliEmbeddings", "ModelFamily"]


@dataclass(frozen=True)
class ModelFamily:
    """How to load one family of colpali-engine checkpoints (data, not code: add a row for a new family).

    ``model_types`` are the ``model_type`` values of the checkpoint's ``config.json``; ``multi_vector`` and
    ``single_vector`` the colpali-engine class names (looked up in the installed colpali-engine);
    ``name_hints`` lower-case substrings of hub ids, used only for adapter-only repos without a ``config.json``.
    ``min_image_size``/``max_aspect_ratio`` are what the family's image processor accepts. ``prefix_token_types``:
    the model reads ``token_type_ids`` and every input is one bidirectional prefix (type 0), as in training.
    """

    name: str
    model_types: tuple[str, ...]
    multi_vector: str | None
    single_vector: str | None
    name_hints: tuple[str, ...] = ()
    min_image_size: tuple[int, int] = (3, 3)
    max_aspect_ratio: float | None = None
    prefix_token_types: bool = False


#: Known families, most specific name hints first (``colqwen2.5`` before ``colqwen2``).
MODEL_FAMILIES: tuple[ModelFamily, ...] = (
    ModelFamily(
        "Qwen2.5-VL", ("qwen2_5_vl",), "ColQwen2_5", "BiQwen2_5", ("colqwen2.5", "colqwen2_5"), (28, 28), 200.0
    ),
    ModelFamily("Qwen2-VL", ("qwen2_vl",), "ColQwen2", "BiQwen2", ("colqwen2", "biqwen2"), (28, 28), 200.0),
    ModelFamily("Qwen3-VL", ("qwen3_vl",), "ColQwen3", None, ("colqwen3",), (32, 32), 200.0),
    ModelFamily("PaliGemma", ("paligemma",), "ColPali", "BiPali", ("colpali", "bipali"), prefix_token_types=True),
    ModelFamily("Idefics3", ("idefics3", "smolvlm"), "ColIdefics3", "BiIdefics3", ("colsmol", "colidefics3")),
    ModelFamily("Idefics2", ("idefics2",), "ColIdefics2", "BiIdefics2", ("colidefics2",)),
    ModelFamily("Gemma3", ("gemma3",), "ColGemma3", "BiGemma3", ("colgemma",)),
    ModelFamily("ModernVBERT", ("modernvbert",), "ColModernVBert", "BiModernVBert", ("modernvbert",)),
)
_DEFAULT_FAMILY = ModelFamily("custom", (), None, None)


@dataclass(frozen=True)
class _Resolved:
    model_class: Any
    processor_class: Any
    family: ModelFamily


def _processor_for(model_class_name: str) -> Any | None:
    for candidate in (f"{model_class_name}Processor", f"{model_class_name}_Processor"):
        found = _compat.colpali_class(candidate)
        if found is not None:
            return found
    return None


def _family_of(name: str) -> ModelFamily:
    for family in MODEL_FAMILIES:
        if name in (family.multi_vector, family.single_vector):
            return family
    return _DEFAULT_FAMILY


def _describe(model_name: str) -> tuple[list[str], str | None, str]:
    """``(architectures, model_type, hint_text)`` from config.json, or from the base model of a LoRA adapter."""
    config = read_json(model_name, "config.json")
    hints = model_name.lower()
    if config is None:
        adapter = read_json(model_name, "adapter_config.json")
        if adapter is None:
            hub_file(model_name, "config.json")  # raises ModelLoadError saying how to provide the model
            raise ModelLoadError(f"{model_name!r} has no config.json")  # pragma: no cover - hub_file raised
        base = str(adapter.get("base_model_name_or_path") or "")
        hints += " " + base.lower()
        config = (read_json(base, "config.json") if base else None) or {}
    architectures = [str(a) for a in config.get("architectures") or []]
    model_type = config.get("model_type")
    return architectures, str(model_type) if model_type else None, hints


def _resolve(model_name: str, model_class: str | type | None, processor_class: Any, multi: bool) -> _Resolved:
    kind = "multi-vector (Col*)" if multi else "single-vector (Bi*)"
    slot = "multi_vector" if multi else "single_vector"
    if model_class is not None:
        name = model_class if isinstance(model_class, str) else model_class.__name__
        cls = _compat.colpali_class(name) if isinstance(model_class, str) else model_class
        if cls is None:
            raise ConfigurationError(f"colpali-engine has no class {name!r}; upgrade colpali-engine or fix model_class")
    else:
        architectures, model_type, hints = _describe(model_name)
        prefix = "Col" if multi else "Bi"
        name = next((a for a in architectures if a.startswith(prefix) and _compat.colpali_class(a)), "")
        if not name:
            by_type = [f for f in MODEL_FAMILIES if model_type in f.model_types]
            by_hint = [f for f in MODEL_FAMILIES if any(h in hints for h in f.name_hints)]
            family = next(iter(by_type or by_hint), None)
            name = (getattr(family, slot) or "") if family is not None else ""
            if not name:
                known = ", ".join(f.name for f in MODEL_FAMILIES)
                raise ModelLoadError(
                    f"cannot tell which {kind} colpali-engine class loads {model_name!r} (architectures="
                    f"{architectures}, model_type={model_type!r}); known families: {known}; pass model_class="
                )
        cls = _compat.colpali_class(name)
        if cls is None:
            raise ModelLoadError(
                f"{model_name!r} needs colpali-engine's {name}, which the installed colpali-engine does not provide; "
                "upgrade colpali-engine or pass model_class="
            )
    processor = processor_class if processor_class is not None else _processor_for(name)
    if isinstance(processor, str):
        processor = _compat.colpali_class(processor)
    if processor is None:
        raise ConfigurationError(f"no processor class found for {name!r}; pass processor_class=")
    return _Resolved(cls, _compat.usable_processor_class(processor), _family_of(name))


class _ColEngineEmbeddings(MultiVectorMultiModalEmbedding):
    """Shared loading and forward pass of the colpali-engine embedders (multi- and single-vector)."""

    _feature: ClassVar[str] = "ColPaliEmbeddings"

    def __init__(
        self,
        model_name: str | os.PathLike[str],
        *,
        model_class: str | type | None = None,
        processor_class: str | type | None = None,
        device: str | None = "auto",
        torch_dtype: Any = "auto",
        batch_size: int = 4,
        embed_batch_size: int = 10,
        max_concurrency: int = 4,
        allow_urls: bool = False,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        super().__init__(
            model_name=model_name,
            embed_batch_size=embed_batch_size,
            max_concurrency=max_concurrency,
            allow_urls=allow_urls,
            max_image_pixels=max_image_pixels,
        )
        self.batch_size = positive_int(batch_size, "batch_size")
        for name, value in (("model_class", model_class), ("processor_class", processor_class)):
            if value is not None and not isinstance(value, str | type):
                raise ConfigurationError(f"{name} must be a colpali-engine class or its name, got {value!r}")
        _compat.import_colpali_engine(self._feature)
        self._torch = _compat.import_torch(self._feature)
        self.device = _compat.resolve_device(device)
        self.torch_dtype = _compat.resolve_dtype(torch_dtype, self.device)
        resolved = _resolve(self.model_name, model_class, processor_class, self.is_multi_vector)
        self.family = resolved.family
        self.min_image_size = resolved.family.min_image_size
        kwargs = _compat.from_pretrained_kwargs(self.torch_dtype)
        model = load_or_raise(
            lambda: resolved.model_class.from_pretrained(self.model_name, **kwargs), self.model_name, "model"
        )
        with _compat.quiet_loading():
            unloaded = _compat.tie_unloaded_weights(model)
        if unloaded:
            raise ModelLoadError(
                f"loading {self.model_name!r} left {len(unloaded)} weight(s) without data ({', '.join(unloaded[:3])}); "
                f"{version_hint()}"
            )
        self._model = load_or_raise(lambda: model.to(self.device).eval(), self.model_name, f"model on {self.device}")
        self._processor = load_or_raise(
            lambda: resolved.processor_class.from_pretrained(self.model_name), self.model_name, "processor"
        )
        self._lock = threading.Lock()
        self._dim: int | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_name={self.model_name!r}, model_class={type(self._model).__name__})"

    @property
    def dim(self) -> int:
        if self._dim is None:
            declared = getattr(self._model, "dim", None)
            self._dim = declared if isinstance(declared, int) else int(self.embed_query("dim").shape[-1])
        return self._dim

    # -- primitives ------------------------------------------------------------------------------------------

    def _embed_texts(self, texts: list[str], *, is_query: bool) -> list[Embedding]:
        # Documents are query-encoded on purpose; see the module docstring.
        return self._embed_chunks(texts, self._processor.process_queries, "texts")

    def _embed_images(self, images: list[Image.Image]) -> list[Embedding]:
        self._check_aspect_ratios(images, offset=None)
        return self._embed_chunks(images, self._processor.process_images, "images")

    def load_images(self, images: Sequence[ImageInput]) -> list[Image.Image]:
        decoded = super().load_images(images)
        self._check_aspect_ratios(decoded, offset=0)
        return decoded

    def _check_aspect_ratios(self, images: list[Image.Image], offset: int | None) -> None:
        limit = self.family.max_aspect_ratio
        if limit is None:
            return
        for i, image in enumerate(images):
            width, height = image.size
            if max(width, height) / min(width, height) > limit:
                index = None if offset is None else offset + i
                where = "image" if index is None else f"images[{index}]"
                raise InvalidInputError(
                    f"{where} is {width}x{height}, an aspect ratio above the {limit:g}:1 this model accepts; crop it",
                    index=index,
                )

    # -- forward pass ------------------------------------------------------------------------------------------

    def _embed_chunks(self, items: Sequence[Any], process: Any, what: str) -> list[Embedding]:
        sizes = [len(x) if isinstance(x, str) else x.width * x.height for x in items]
        out: list[Embedding] = [np.empty(0, np.float32)] * len(items)
        for positions in length_sorted_batches(sizes, self.batch_size):
            try:
                batch = process([items[i] for i in positions])
                output, mask = self._forward(batch)
            except Exception as err:
                raise EmbeddingError(
                    f"{self!r} failed on a batch of {what} at positions {sorted(positions)}: {type(err).__name__}: {err}"
                ) from err
            for i, vector in zip(positions, self._to_numpy(output, mask), strict=True):
                out[i] = vector
        return out

    def _forward(self, batch: Any) -> tuple[Any, Any]:
        moved = _compat.batch_to(batch, self.device, self.torch_dtype)
        if self.family.prefix_token_types and "token_type_ids" not in moved:
            # colpali-engine's queries come without token types; transformers 5 then attends causally once a batch
            # is padded (a text's vectors would depend on its batch mates), where 4.x and training used one prefix.
            moved["token_type_ids"] = self._torch.zeros_like(moved["input_ids"])
        with self._lock, self._torch.inference_mode():
            output = self._model(**moved)
        return output, moved["attention_mask"]

    def _to_numpy(self, output: Any, mask: Any) -> list[Embedding]:
        raise NotImplementedError

    def _finish(self, array: Any) -> Embedding:
        """float32 numpy; re-normalised when the model ran in reduced precision (its rows are unit in fp32)."""
        vectors = array.detach().to("cpu", dtype=self._torch.float32).numpy()
        if self.torch_dtype != self._torch.float32:
            norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
            vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        return np.ascontiguousarray(vectors, dtype=np.float32)


class ColPaliEmbeddings(_ColEngineEmbeddings):
    """Multi-vector text + image embeddings from any colpali-engine late-interaction model, run locally.

    Args:
        model_name: hub id or local directory (default ``vidore/colpali-v1.3``).
        model_class: colpali-engine class (name or class) to load; by default picked from the checkpoint's
            ``config.json`` (``architectures``, then ``model_type``) using :data:`MODEL_FAMILIES`.
        processor_class: its processor (default: the class named ``<model_class>Processor``).
        device: ``"auto"`` (cuda → mps → cpu) or a torch device string.
        torch_dtype: ``"auto"`` (bfloat16 on cuda, float32 elsewhere), a dtype name or a ``torch.dtype``.
        batch_size: inputs per forward pass.
        embed_batch_size, max_concurrency, allow_urls, max_image_pixels: see the base class.

    Raises :class:`~multivec.errors.ModelLoadError` when the model cannot be found or loaded (e.g. offline with no
    local copy) and :class:`~multivec.errors.MissingDependencyError` without the ``local`` extra.

    >>> import tempfile
    >>> from PIL import Image
    >>> from multivec.testing.tiny_models import build_tiny_colpali
    >>> emb = ColPaliEmbeddings(build_tiny_colpali(tempfile.mkdtemp()), device="cpu")  # or "vidore/colpali-v1.3"
    >>> pages = [Image.new("RGB", (64, 80), "white"), Image.new("RGB", (80, 64), "gray")]
    >>> [v.shape[1] == emb.dim for v in emb.embed_images(pages)]
    [True, True]
    """

    def __init__(self, model_name: str | os.PathLike[str] = "vidore/colpali-v1.3", **options: Any) -> None:
        super().__init__(model_name, **options)

    def _to_numpy(self, output: Any, mask: Any) -> list[Embedding]:
        keep = mask.to("cpu").bool()
        return [self._finish(output[i][keep[i].to(output.device)]) for i in range(output.shape[0])]

    # -- layout (for explanations) -------------------------------------------------------------------------------

    def query_tokens(self, query: str) -> list[str] | None:
        """The tokens as text, one per row of ``embed_query(query)`` (prefix and augmentation included).

        Word-boundary markers of the tokenizer (``Ġ``, ``▁``) are dropped; a token that is only such a marker keeps it.
        """
        super().query_tokens(query)
        batch = self._processor.process_queries([query])
        ids = batch["input_ids"][0][batch["attention_mask"][0].bool()]
        return [self._label(t) for t in self._processor.tokenizer.convert_ids_to_tokens(ids.tolist())]

    def special_tokens(self) -> frozenset[str]:
        """The tokenizer's special tokens (``<bos>``, ``<pad>``, ``<|endoftext|>``…), the query-augmentation token
        colpali-engine pads queries with and the image placeholder token, as :meth:`query_tokens` writes them.

        >>> import tempfile
        >>> from multivec.testing.tiny_models import build_tiny_colpali
        >>> emb = ColPaliEmbeddings(build_tiny_colpali(tempfile.mkdtemp()), device="cpu")
        >>> {"<bos>", "<pad>", "<image>"} <= emb.special_tokens()
        True
        """
        tokenizer = self._processor.tokenizer
        tokens = [str(t) for t in tokenizer.all_special_tokens]
        for name in ("query_augmentation_token", "image_token"):
            token = getattr(self._processor, name, None)
            if isinstance(token, str) and token:
                tokens.append(token)
        return frozenset(tokens) | {self._label(t) for t in tokens}

    def _label(self, token: str) -> str:
        """How :meth:`query_tokens` writes a token: as text, without the tokenizer's word-boundary marker."""
        return self._processor.tokenizer.convert_tokens_to_string([token]).strip() or str(token)

    def _image_token_id(self) -> int:
        token_id = getattr(self._processor, "image_token_id", None)
        if token_id is None:
            token = getattr(self._processor, "image_token", None) or "<image>"
            token_id = self._processor.tokenizer.convert_tokens_to_ids(token)
        return int(token_id)

    def image_patch_grid(self, image: ImageInput) -> PatchGrid:
        """The patch grid of ``embed_image(image)``: which rows are image patches, and how they tile the page.

        ColPali (PaliGemma): a fixed square grid (32x32 for 448px models), image tokens first. ColQwen2/2.5: a
        dynamic grid from the processor's ``image_grid_thw`` divided by the merge size, at the image-pad tokens.
        Raises :class:`~multivec.errors.EmbeddingError` for layouts it cannot tell (tiled images, Idefics3).

        >>> import tempfile
        >>> from PIL import Image
        >>> from multivec.testing.tiny_models import build_tiny_colqwen2
        >>> emb = ColPaliEmbeddings(build_tiny_colqwen2(tempfile.mkdtemp()), device="cpu")  # or a real ColQwen2
        >>> portrait, landscape = Image.new("RGB", (60, 120)), Image.new("RGB", (120, 60))
        >>> emb.image_patch_grid(portrait).rows > emb.image_patch_grid(portrait).cols  # ColQwen2 follows the page
        True
        >>> emb.image_patch_grid(landscape).rows < emb.image_patch_grid(landscape).cols
        True
        """
        decoded = self.load_images([image])[0]
        batch = self._processor.process_images([decoded])
        keep = batch["attention_mask"][0].bool()
        ids = batch["input_ids"][0][keep]
        positions = [int(i) for i in (ids == self._image_token_id()).nonzero().flatten().tolist()]
        n = len(positions)
        if "image_grid_thw" in batch:
            frames, height, width = (int(x) for x in batch["image_grid_thw"][0].tolist())
            merge = int(getattr(self._processor.image_processor, "merge_size", 1))
            rows, cols = frames * height // merge, width // merge
        else:
            rows = cols = math.isqrt(n)
        if n == 0 or rows * cols != n:
            raise EmbeddingError(
                f"{self!r}: cannot tell the patch layout of this model's images ({n} image tokens, guessed "
                f"{rows}x{cols}); similarity maps need a ColPali or ColQwen2-style model"
            )
        return PatchGrid(rows, cols, tuple(positions))


class BiPaliEmbeddings(_ColEngineEmbeddings):
    """Single-vector text + image embeddings from colpali-engine's ``Bi*`` models (BiPali, BiQwen2, …), run locally.

    Every embedding is one L2-normalised vector of shape ``(dim,)`` (``is_multi_vector`` is ``False``). Options,
    loading and errors are those of :class:`ColPaliEmbeddings`; the default model is ``vidore/bipali``.

    >>> import tempfile
    >>> from multivec.testing.tiny_models import build_tiny_bipali
    >>> emb = BiPaliEmbeddings(build_tiny_bipali(tempfile.mkdtemp()), device="cpu")  # or "vidore/bipali"
    >>> emb.embed_query("a query").ndim
    1
    """

    is_multi_vector: ClassVar[bool] = False
    _feature: ClassVar[str] = "BiPaliEmbeddings"

    def __init__(self, model_name: str | os.PathLike[str] = "vidore/bipali", **options: Any) -> None:
        super().__init__(model_name, **options)

    def _to_numpy(self, output: Any, mask: Any) -> list[Embedding]:
        return [self._finish(output[i]) for i in range(output.shape[0])]
