"""A catalogue of known late-interaction checkpoints, as data: which embedder builds each, and how it processes inputs.

Each :class:`KnownModel` describes one published checkpoint: its ``family`` (the :func:`~multivec.embeddings.factory.
make_embedder` name of the embedder class that loads it), modality, vector dimension, query and document processing,
image resolution, licence, approximate size and the recommended document token ``pool_factor``. Values follow the
model cards and the colpali-engine / ColBERT / PyLate processors; they were written down without a way to re-check
them online (no Hub access where this was built), so where a value is not certain the entry says so in ``notes``
(and a length it is not sure of is ``None``: the checkpoint's own configuration decides). ``pool_factor`` is a
recommendation from the pooling literature, not measured per checkpoint here.

``make_embedder("vidore/colqwen2-v1.0")`` looks the name up here (case-insensitively) through :func:`resolve`;
names not in the catalogue go through the family names (``make_embedder("colpali", "org/other-model")``) as before.
``multivec models`` prints the catalogue.

    >>> resolve("vidore/colqwen2-v1.0")
    ('colpali', {'model_name': 'vidore/colqwen2-v1.0', 'model_class': 'ColQwen2'})
    >>> resolve("COLBERT-IR/colbertv2.0")
    ('colbert', {'model_name': 'colbert-ir/colbertv2.0', 'mode': 'colbert', 'query_length': 32, 'document_length': 180})
    >>> resolve("org/not-catalogued") is None
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["CATALOGUE", "KnownModel", "find", "resolve"]

Modality = Literal["text", "text+image"]


@dataclass(frozen=True)
class KnownModel:
    """One known checkpoint (data, not code: add an entry for a new checkpoint).

    Attributes:
        name: the hub id (matched case-insensitively).
        family: the :func:`~multivec.embeddings.factory.make_embedder` family that loads it (``colbert``,
            ``colpali``, ``bipali``).
        model_class: the class inside that family: the colpali-engine class name for ``colpali``/``bipali``
            (passed as ``model_class=``), the checkpoint layout (``ColBERT`` or ``PyLate``) for ``colbert``.
        modality: ``"text"`` or ``"text+image"``.
        dim: the dimension of each vector.
        query_processing, document_processing: how queries and documents are encoded (markers, prefixes, padding).
        query_length: the fixed, padded query length (ColBERT query augmentation); ``None`` where queries are not
            padded to a fixed length or the value is not certain (the checkpoint's configuration decides).
        document_length: the document token limit for text; ``None`` where it is not certain or does not apply.
        image_resolution: how pages are turned into patches; ``None`` for text-only models.
        licence: the checkpoint's licence, and its base model's where that differs (``"MIT; base …"``).
        parameters: approximate parameter count, human-readable (``"2.2B"``).
        size_mb: approximate weight size in MB (bfloat16 for the vision models, float32 for the text ones).
        pool_factor: the recommended document token pooling factor; ``None`` where it does not apply.
        notes: what the entry is unsure of, and anything a user should know.
    """

    name: str
    family: str
    model_class: str
    modality: Modality
    dim: int
    query_processing: str
    document_processing: str
    query_length: int | None
    document_length: int | None
    image_resolution: str | None
    licence: str
    parameters: str
    size_mb: int
    pool_factor: int | None
    notes: str

    def constructor_options(self) -> dict[str, Any]:
        """The keyword arguments the family's constructor gets for this checkpoint."""
        options: dict[str, Any] = {"model_name": self.name}
        if self.family in ("colpali", "bipali"):
            options["model_class"] = self.model_class
        elif self.family == "colbert":
            options["mode"] = "colbert"
            if self.query_length is not None:
                options["query_length"] = self.query_length
            if self.document_length is not None:
                options["document_length"] = self.document_length
        return options

    def as_dict(self) -> dict[str, Any]:
        """The entry as a JSON-ready dictionary."""
        return asdict(self)


_COLPALI_QUERY = "'Query: ' prefix, then 10 '<pad>' query augmentation tokens (colpali-engine ColPaliProcessor)"
_COLPALI_IMAGE = "page image with the prompt 'Describe the image.' (colpali-engine ColPaliProcessor)"
_COLPALI_PAGE = "448×448 fixed (resized), 32×32 = 1024 patches of 14 px, plus the prompt tokens"
_QWEN_QUERY = "'Query: ' prefix, then 10 '<|endoftext|>' query augmentation tokens (colpali-engine)"
_QWEN_IMAGE = "page image in the Qwen chat template with 'Describe the image.' (colpali-engine)"
_QWEN_PAGE = "dynamic resolution, aspect ratio kept, up to 768 patches of 28×28 px"
_SMOL_QUERY = "'Query: ' prefix, then 10 '<end_of_utterance>' query augmentation tokens (colpali-engine)"
_SMOL_IMAGE = "page image in the Idefics3 chat template with 'Describe the image.' (colpali-engine)"
_SMOL_PAGE = "Idefics3/SmolVLM image splitting: 512×512 px tiles plus a downscaled global view"
_TEXT_POOLING = (
    "pool_factor 2: token pooling halves the document vectors with about no loss for ColBERT text models "
    "(Clavié et al., 2024); not measured on this checkpoint."
)
_VISION_POOLING = (
    "pool_factor 3: about 2/3 fewer page vectors for ~98% of the retrieval quality, as measured on ColPali"
)

#: Every known checkpoint, vision models first.
CATALOGUE: tuple[KnownModel, ...] = (
    KnownModel(
        name="vidore/colpali-v1.2",
        family="colpali",
        model_class="ColPali",
        modality="text+image",
        dim=128,
        query_processing=_COLPALI_QUERY,
        document_processing=_COLPALI_IMAGE + "; texts are encoded like queries",
        query_length=None,
        document_length=None,
        image_resolution=_COLPALI_PAGE,
        licence="MIT; base PaliGemma: Gemma terms",
        parameters="2.9B",
        size_mb=5900,
        pool_factor=3,
        notes="LoRA adapter on vidore/colpaligemma-3b-pt-448-base. " + _VISION_POOLING + ".",
    ),
    KnownModel(
        name="vidore/colpali-v1.3",
        family="colpali",
        model_class="ColPali",
        modality="text+image",
        dim=128,
        query_processing=_COLPALI_QUERY,
        document_processing=_COLPALI_IMAGE + "; texts are encoded like queries",
        query_length=None,
        document_length=None,
        image_resolution=_COLPALI_PAGE,
        licence="MIT; base PaliGemma: Gemma terms",
        parameters="2.9B",
        size_mb=5900,
        pool_factor=3,
        notes="LoRA adapter on vidore/colpaligemma-3b-pt-448-base (v1.2's successor). " + _VISION_POOLING + ".",
    ),
    KnownModel(
        name="vidore/colqwen2-v1.0",
        family="colpali",
        model_class="ColQwen2",
        modality="text+image",
        dim=128,
        query_processing=_QWEN_QUERY,
        document_processing=_QWEN_IMAGE + "; texts are encoded like queries",
        query_length=None,
        document_length=None,
        image_resolution=_QWEN_PAGE,
        licence="Apache-2.0 (base too)",
        parameters="2.2B",
        size_mb=4400,
        pool_factor=3,
        notes="LoRA adapter on Qwen2-VL-2B-Instruct; about 700 vectors per page. " + _VISION_POOLING + ".",
    ),
    KnownModel(
        name="vidore/colqwen2.5-v0.2",
        family="colpali",
        model_class="ColQwen2_5",
        modality="text+image",
        dim=128,
        query_processing=_QWEN_QUERY,
        document_processing=_QWEN_IMAGE + "; texts are encoded like queries",
        query_length=None,
        document_length=None,
        image_resolution=_QWEN_PAGE,
        licence="MIT; base Qwen2.5-VL-3B: Qwen Research (non-commercial)",
        parameters="3.8B",
        size_mb=7500,
        pool_factor=3,
        notes="LoRA adapter on Qwen2.5-VL-3B-Instruct; needs a colpali-engine with ColQwen2_5 (0.3.9 or later). "
        "Unsure: the exact patch limit and the base model's licence terms (check the card). " + _VISION_POOLING + ".",
    ),
    KnownModel(
        name="vidore/colSmol-256M",
        family="colpali",
        model_class="ColIdefics3",
        modality="text+image",
        dim=128,
        query_processing=_SMOL_QUERY,
        document_processing=_SMOL_IMAGE + "; texts are encoded like queries",
        query_length=None,
        document_length=None,
        image_resolution=_SMOL_PAGE,
        licence="MIT; base SmolVLM: Apache-2.0",
        parameters="256M",
        size_mb=500,
        pool_factor=3,
        notes="ColIdefics3 on SmolVLM-256M-Instruct, runs on CPU. Unsure: the adapter's licence, the tile size "
        "and the augmentation token (from memory of colpali-engine); pooling not measured on so small a model. "
        + _VISION_POOLING
        + ".",
    ),
    KnownModel(
        name="vidore/colSmol-500M",
        family="colpali",
        model_class="ColIdefics3",
        modality="text+image",
        dim=128,
        query_processing=_SMOL_QUERY,
        document_processing=_SMOL_IMAGE + "; texts are encoded like queries",
        query_length=None,
        document_length=None,
        image_resolution=_SMOL_PAGE,
        licence="MIT; base SmolVLM: Apache-2.0",
        parameters="500M",
        size_mb=1000,
        pool_factor=3,
        notes="ColIdefics3 on SmolVLM-500M-Instruct. Unsure: the adapter's licence, the tile size and the "
        "augmentation token (from memory of colpali-engine). " + _VISION_POOLING + ".",
    ),
    KnownModel(
        name="vidore/bipali",
        family="bipali",
        model_class="BiPali",
        modality="text+image",
        dim=2048,
        query_processing=_COLPALI_QUERY + "; the token states are averaged into one vector",
        document_processing=_COLPALI_IMAGE + "; one averaged vector per page",
        query_length=None,
        document_length=None,
        image_resolution=_COLPALI_PAGE,
        licence="MIT; base PaliGemma: Gemma terms",
        parameters="2.9B",
        size_mb=5900,
        pool_factor=None,
        notes="Single-vector baseline of the ColPali paper: one (dim,) vector per input, so no token pooling. "
        "Unsure: dim 2048 (PaliGemma's hidden size, no projection) and the adapter's licence.",
    ),
    KnownModel(
        name="colbert-ir/colbertv2.0",
        family="colbert",
        model_class="ColBERT",
        modality="text",
        dim=128,
        query_processing="[Q] marker ([unused0]), padded with [MASK] to 32 tokens (query augmentation)",
        document_processing="[D] marker ([unused1]), truncated to 180 tokens, punctuation and padding dropped",
        query_length=32,
        document_length=180,
        image_resolution=None,
        licence="MIT",
        parameters="110M",
        size_mb=440,
        pool_factor=2,
        notes="BERT-base, Stanford ColBERT layout (lengths from its artifact.metadata). " + _TEXT_POOLING,
    ),
    KnownModel(
        name="answerdotai/answerai-colbert-small-v1",
        family="colbert",
        model_class="ColBERT",
        modality="text",
        dim=96,
        query_processing="[Q] marker ([unused0]), padded with [MASK] to 32 tokens (query augmentation)",
        document_processing="[D] marker ([unused1]), truncated to the checkpoint's document length",
        query_length=32,
        document_length=None,
        image_resolution=None,
        licence="Apache-2.0",
        parameters="33M",
        size_mb=130,
        pool_factor=2,
        notes="MiniLM-sized, runs well on CPU. Unsure: the document length (300 in its metadata, as remembered) "
        "is left to the checkpoint. " + _TEXT_POOLING,
    ),
    KnownModel(
        name="lightonai/GTE-ModernColBERT-v1",
        family="colbert",
        model_class="PyLate",
        modality="text",
        dim=128,
        query_processing="'[Q] ' prefix, padded with [MASK] to 32 tokens (PyLate query expansion)",
        document_processing="'[D] ' prefix, truncated to 300 tokens (trained length; ModernBERT allows 8192)",
        query_length=32,
        document_length=300,
        image_resolution=None,
        licence="Apache-2.0",
        parameters="149M",
        size_mb=600,
        pool_factor=2,
        notes="PyLate checkpoint on gte-modernbert-base; the card reports it generalises to longer documents "
        "(pass document_length= to use them); ModernBERT needs a recent transformers. " + _TEXT_POOLING,
    ),
    KnownModel(
        name="jinaai/jina-colbert-v2",
        family="colbert",
        model_class="ColBERT",
        modality="text",
        dim=128,
        query_processing="query marker token, padded with [MASK] to 32 tokens (query augmentation)",
        document_processing="document marker token, up to 8192 tokens (XLM-RoBERTa with rotary positions)",
        query_length=32,
        document_length=None,
        image_resolution=None,
        licence="CC-BY-NC-4.0 (non-commercial)",
        parameters="560M",
        size_mb=2240,
        pool_factor=2,
        notes="Multilingual; Matryoshka dimensions 128/96/64 (multivec keeps 128). Unsure: its custom "
        "XLM-RoBERTa code needs trust_remote_code, which ColBERTEmbeddings does not pass, so loading it locally "
        "may fail; its marker tokens ([QueryMarker]/[DocumentMarker]) are from memory. " + _TEXT_POOLING,
    ),
)

_BY_NAME = {model.name.lower(): model for model in CATALOGUE}


def find(name: object) -> KnownModel | None:
    """The catalogue entry named ``name`` (case-insensitive), or ``None``."""
    return _BY_NAME.get(name.lower()) if isinstance(name, str) else None


def resolve(name: object) -> tuple[str, dict[str, Any]] | None:
    """``(family, constructor options)`` for a catalogued checkpoint, ``None`` for any other name.

    This is what :func:`~multivec.embeddings.factory.make_embedder` builds for ``make_embedder(name)``.
    """
    model = find(name)
    return None if model is None else (model.family, model.constructor_options())
