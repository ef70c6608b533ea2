"""The catalogue of known models: complete, consistent entries; ``resolve`` / ``make_embedder``; ``multivec models``.

No weights are loaded: resolution is checked as data, and ``make_embedder`` with the family classes replaced.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import fields
from typing import Any

import pytest

from multivec.cli.app import main
from multivec.embeddings import catalogue, factory
from multivec.embeddings.catalogue import CATALOGUE, KnownModel, find, resolve
from multivec.errors import ConfigurationError

#: family name -> (module, class) that make_embedder builds for it
FAMILY_CLASSES = {
    "colbert": ("multivec.embeddings.colbert", "ColBERTEmbeddings"),
    "colpali": ("multivec.embeddings.colpali", "ColPaliEmbeddings"),
    "bipali": ("multivec.embeddings.colpali", "BiPaliEmbeddings"),
}
REQUIRED = {
    "vidore/colpali-v1.2",
    "vidore/colpali-v1.3",
    "vidore/colqwen2-v1.0",
    "vidore/colqwen2.5-v0.2",
    "vidore/colSmol-256M",
    "vidore/colSmol-500M",
    "vidore/bipali",
    "colbert-ir/colbertv2.0",
    "answerdotai/answerai-colbert-small-v1",
    "lightonai/GTE-ModernColBERT-v1",
    "jinaai/jina-colbert-v2",
}


def test_the_issue_s_checkpoints_are_all_catalogued_once() -> None:
    names = [model.name for model in CATALOGUE]
    assert set(names) == REQUIRED
    assert len({name.lower() for name in names}) == len(names)


@pytest.mark.parametrize("model", CATALOGUE, ids=lambda m: m.name)
def test_every_entry_is_complete_and_well_typed(model: KnownModel) -> None:
    hints = typing.get_type_hints(KnownModel)
    for field in fields(KnownModel):
        value = getattr(model, field.name)
        hint = hints[field.name]
        optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
        if value is None:
            assert optional, f"{model.name}: {field.name} is None"
            continue
        expected = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
        if typing.get_origin(expected) is typing.Literal:
            assert value in typing.get_args(expected), (model.name, field.name, value)
        else:
            assert isinstance(value, expected) and not isinstance(value, bool), (model.name, field.name, value)
        if isinstance(value, str):
            assert value.strip(), f"{model.name}: {field.name} is empty"
        if isinstance(value, int):
            assert value > 0, (model.name, field.name, value)
    assert model.family in FAMILY_CLASSES
    assert (model.image_resolution is None) == (model.modality == "text")
    assert (model.pool_factor is None) == (model.family == "bipali")  # a single vector has no tokens to pool


@pytest.mark.parametrize("family", sorted({m.family for m in CATALOGUE}))
def test_every_family_maps_to_an_existing_embedder_class_that_takes_the_options(family: str) -> None:
    module, name = FAMILY_CLASSES[family]
    cls = getattr(__import__(module, fromlist=[name]), name)
    accepted = factory._options_of(cls)
    for model in CATALOGUE:
        if model.family == family:
            assert accepted is None or set(model.constructor_options()) <= accepted, model.name


def test_resolve_known_names_case_insensitively_and_not_others() -> None:
    assert resolve("vidore/colqwen2-v1.0") == (
        "colpali",
        {"model_name": "vidore/colqwen2-v1.0", "model_class": "ColQwen2"},
    )
    assert resolve("VIDORE/ColQwen2.5-v0.2") == (
        "colpali",
        {"model_name": "vidore/colqwen2.5-v0.2", "model_class": "ColQwen2_5"},
    )
    assert resolve("vidore/colsmol-256m") == (
        "colpali",
        {"model_name": "vidore/colSmol-256M", "model_class": "ColIdefics3"},
    )
    assert resolve("vidore/bipali") == ("bipali", {"model_name": "vidore/bipali", "model_class": "BiPali"})
    assert resolve("lightonai/gte-moderncolbert-v1") == (
        "colbert",
        {"model_name": "lightonai/GTE-ModernColBERT-v1", "mode": "colbert", "query_length": 32, "document_length": 300},
    )
    # a length the catalogue is not sure of is left to the checkpoint
    assert resolve("answerdotai/answerai-colbert-small-v1") == (
        "colbert",
        {"model_name": "answerdotai/answerai-colbert-small-v1", "mode": "colbert", "query_length": 32},
    )
    for unknown in ("org/not-catalogued", "colpali", "colbert", "", "vidore/colqwen2", None, 3, ["vidore/bipali"]):
        assert resolve(unknown) is None
        assert find(unknown) is None


def test_resolved_options_come_back_unchanged_from_a_fresh_call() -> None:
    first = resolve("colbert-ir/colbertv2.0")
    assert first is not None
    first[1]["query_length"] = 99  # the caller's copy
    assert resolve("colbert-ir/colbertv2.0") == (
        "colbert",
        {"model_name": "colbert-ir/colbertv2.0", "mode": "colbert", "query_length": 32, "document_length": 180},
    )


class _Recorder:
    """Stands in for an embedder class: records its keyword arguments, loads nothing."""

    def __init__(self, model_name: str = "default", **options: Any) -> None:
        self.options = {"model_name": model_name, **options}


def _options(embedder: object) -> Any:
    return getattr(embedder, "options", None)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> dict[str, type]:
    """Replace the family classes by recorders (``_build`` takes anything from them)."""
    import multivec.embeddings.colbert as colbert
    import multivec.embeddings.colpali as colpali

    classes = {name: type(name, (_Recorder,), {}) for name in ("ColBERTEmbeddings", "ColPaliEmbeddings", "BiPali")}
    monkeypatch.setattr(colbert, "ColBERTEmbeddings", classes["ColBERTEmbeddings"])
    monkeypatch.setattr(colpali, "ColPaliEmbeddings", classes["ColPaliEmbeddings"])
    monkeypatch.setattr(colpali, "BiPaliEmbeddings", classes["BiPali"])
    return classes


def test_make_embedder_builds_the_catalogued_class_with_its_options(recorded: dict[str, type]) -> None:
    built: Any = factory.make_embedder("vidore/colqwen2-v1.0")
    assert type(built) is recorded["ColPaliEmbeddings"]
    assert _options(built) == {"model_name": "vidore/colqwen2-v1.0", "model_class": "ColQwen2"}

    built = factory.make_embedder("Colbert-IR/ColBERTv2.0", device="cpu", document_length=300)  # options win
    assert type(built) is recorded["ColBERTEmbeddings"]
    assert _options(built) == {
        "model_name": "colbert-ir/colbertv2.0",
        "mode": "colbert",
        "query_length": 32,
        "document_length": 300,
        "device": "cpu",
    }
    assert type(factory.make_embedder("vidore/bipali")) is recorded["BiPali"]


def test_unknown_names_still_go_through_the_family_constructors(recorded: dict[str, type]) -> None:
    built: Any = factory.make_embedder("colpali", "org/other-model")
    assert type(built) is recorded["ColPaliEmbeddings"]
    assert _options(built) == {"model_name": "org/other-model"}
    # a catalogued id given as the model of a family is passed exactly as before (no catalogue options)
    built = factory.make_embedder("colpali", "vidore/colqwen2-v1.0")
    assert _options(built) == {"model_name": "vidore/colqwen2-v1.0"}
    assert _options(factory.make_embedder("colbert")) == {"model_name": "default"}
    with pytest.raises(ConfigurationError, match="unknown embedder 'org/other-model'"):
        factory.make_embedder("org/other-model")
    with pytest.raises(ConfigurationError, match="catalogued model"):
        factory.make_embedder("vidore/colqwen2-v1.0", "another/model")
    with pytest.raises(ConfigurationError, match="catalogued model"):
        factory.make_embedder("vidore/colqwen2-v1.0", url="http://127.0.0.1:7997")


def test_a_catalogued_name_never_shadows_a_family_name() -> None:
    assert not {m.name.lower() for m in CATALOGUE} & set(factory.EMBEDDERS)
    assert catalogue.resolve("fake") is None


def test_models_command_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["name", "family", "modality", "dim", "size", "licence", "pool"]
    for model in CATALOGUE:
        row = next(line for line in lines if line.startswith(model.name + " "))
        cells = row.split()
        assert cells[1:4] == [model.family, model.modality, str(model.dim)]
        assert model.licence in row
        assert cells[-1] == ("-" if model.pool_factor is None else str(model.pool_factor))


def test_models_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    out, _ = capsys.readouterr()
    entries = json.loads(out)
    assert [entry["name"] for entry in entries] == [model.name for model in CATALOGUE]
    assert entries == [model.as_dict() for model in CATALOGUE]
    assert set(entries[0]) == {field.name for field in fields(KnownModel)}


def test_models_command_refuses_unknown_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--store", "x"]) == 2
    assert "--json" in capsys.readouterr().err
