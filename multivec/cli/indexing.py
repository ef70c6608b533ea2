"""Indexing files into a store: the shared engine of ``multivec index`` and ``multivec demo``.

Files are read and validated one at a time; a file that cannot be used is recorded as :class:`Skipped` and the run
goes on. Documents are embedded and written in batches. Re-indexing is idempotent and incremental: ids are
content-derived, a file whose records are all stored as they would be written again is not embedded or written at
all, and the records an edited file had before that are no longer produced are removed (matched on
``metadata.path``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from multivec._progress import tqdm
from multivec.cli.files import DEFAULT_CHUNK_WORDS, Skipped, discover, items_for
from multivec.embeddings.base import MultiVectorMultiModalEmbedding
from multivec.errors import MultivecError
from multivec.items import Item, uses_images
from multivec.pdf import DEFAULT_DPI
from multivec.store import MultiVectorStore

__all__ = ["IndexReport", "index_paths", "unchanged_report"]

#: Documents embedded and written together.
BATCH_SIZE = 32


@dataclass
class IndexReport:
    """What one indexing run did: files indexed, documents written, records before/after, stale records removed,
    and the files skipped with their reasons."""

    files: int = 0
    documents: int = 0
    before: int = 0
    after: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"indexed {self.files} file(s) as {self.documents} document(s); the collection holds {self.after} "
            f"record(s) ({self.after - self.before:+d}"
            + (f", {self.removed} outdated removed" if self.removed else "")
            + ")"
            + (f"; {self.unchanged} unchanged file(s) left as they were" if self.unchanged else "")
        ]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s):")
            lines.extend(f"  {item.path}: {item.reason}" for item in self.skipped)
        return "\n".join(lines)


class _Batcher:
    """Collects the items of several files and writes them together (one transaction); a file whose item is
    refused is skipped and the others are written."""

    def __init__(self, store: MultiVectorStore, report: IndexReport) -> None:
        self.store = store
        self.report = report
        self.files: list[tuple[Path, list[Item]]] = []

    def add(self, path: Path, documents: list[Item]) -> None:
        self.files.append((path, documents))
        if sum(len(docs) for _, docs in self.files) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        files, self.files = self.files, []
        while files:
            items = [doc for _, docs in files for doc in docs]
            removed = 0
            try:
                with self.store.atomic():  # the new records and the removal of the outdated ones, or neither
                    self.store.add_items(items)
                    for path, docs in files:
                        removed += _remove_outdated(self.store, str(path), {str(doc.id) for doc in docs})
            except MultivecError as err:
                bad = _file_at(files, getattr(err, "index", None))
                if bad is None:  # not one file's fault (the disk is full, the store closed): skip the batch
                    self.report.skipped.extend(Skipped(str(path), _reason(err, path)) for path, _ in files)
                    return
                self.report.skipped.append(Skipped(str(files[bad][0]), _reason(err, files[bad][0])))
                files = files[:bad] + files[bad + 1 :]  # nothing was written: try the others again
                continue
            self.report.removed += removed
            for _, docs in files:
                self.report.files += 1
                self.report.documents += len(docs)
            return


def _file_at(files: list[tuple[Path, list[Item]]], index: int | None) -> int | None:
    """The position in ``files`` of the file whose items hold item ``index`` of the whole batch."""
    if index is None:
        return None
    for position, (_, docs) in enumerate(files):
        if index < len(docs):
            return position
        index -= len(docs)
    return None


def _reason(err: Exception, path: Path) -> str:
    """The error message without the file name it may start with (the summary line names the file)."""
    return str(err).removeprefix(f"{str(path)!r} ").removeprefix(f"{str(path)!r}: ")


def _unchanged(store: MultiVectorStore, path: Path, documents: list[Item]) -> bool:
    """Whether the store holds exactly these documents for ``path``, each stored as it would be written now."""
    if store.count(filter={"path": str(path)}) != len(documents):
        return False
    stored = {record.id: record for record in store.get([str(doc.id) for doc in documents])}
    for doc in documents:
        record = stored.get(str(doc.id))
        payload = doc.row()
        if record is None or (record.content, record.metadata, record.modality, record.source, record.page) != (
            payload["content"],
            payload["metadata"],
            payload["modality"],
            payload["source"],
            payload["page"],
        ):
            return False
    return True


def _remove_outdated(store: MultiVectorStore, path: str, current: set[str]) -> int:
    outdated = [record.id for record in store.scroll(filter={"path": path}) if record.id not in current]
    if outdated:
        store.delete(ids=outdated)
    return len(outdated)


def index_paths(
    store: MultiVectorStore,
    paths: Iterable[str | Path],
    *,
    dpi: float = DEFAULT_DPI,
    chunk_words: int = DEFAULT_CHUNK_WORDS,
    progress: bool | None = None,
) -> IndexReport:
    """Index every supported file under ``paths`` into ``store`` (see the module docstring).

    ``progress``: ``True``/``False`` to force the progress bar on or off; ``None`` shows it on a terminal only.
    """
    embedding = store.embedding
    decode = None
    if isinstance(embedding, MultiVectorMultiModalEmbedding):
        decode = lambda data: embedding.load_images([data])[0]  # noqa: E731 - the embedder's own checks
    report = _index(store, paths, uses_images(embedding), decode, dpi, chunk_words, progress, write=True)
    assert report is not None
    return report


def unchanged_report(
    store: MultiVectorStore, paths: Iterable[str | Path], *, with_images: bool, dpi: float, chunk_words: int
) -> IndexReport | None:
    """The report of indexing ``paths`` into ``store`` when every file is already stored as it would be written
    now, found without embedding anything (``store`` may be opened without its model:
    :func:`multivec.store.integrity.open_without_model`); ``None`` as soon as one file needs embedding.

    ``with_images``: whether the store's embedder reads images (:func:`multivec.embeddings.factory.reads_images`).
    """
    return _index(store, paths, with_images, None, dpi, chunk_words, False, write=False)


def _index(
    store: MultiVectorStore,
    paths: Iterable[str | Path],
    with_images: bool,
    decode: Callable[[bytes], Image.Image] | None,
    dpi: float,
    chunk_words: int,
    progress: bool | None,
    *,
    write: bool,
) -> IndexReport | None:
    files, skipped = discover(paths)
    report = IndexReport(before=store.count(), skipped=skipped)
    batcher = _Batcher(store, report)
    for path in tqdm(files, desc="Indexing", unit="file", disable=None if progress is None else not progress):
        try:
            documents = items_for(path, with_images=with_images, decode=decode, dpi=dpi, chunk_words=chunk_words)
        except MultivecError as err:
            report.skipped.append(Skipped(str(path), _reason(err, path)))
            continue
        if _unchanged(store, path, documents):  # same content, same options: nothing to embed or write
            report.unchanged += 1
            continue
        if not write:
            return None
        batcher.add(path, documents)
    batcher.flush()
    report.after = store.count()
    return report
