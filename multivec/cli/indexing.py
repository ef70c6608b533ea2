"""Indexing files into a store: the shared engine of ``multivec index`` and ``multivec demo``.

Files are read and validated one at a time; a file that cannot be used is recorded as :class:`Skipped` and the run
goes on. Documents are embedded and written in batches. Re-indexing is idempotent and incremental: ids are
content-derived, a file whose records are all stored as they would be written again is not embedded or written at
all, and the records an edited file had before that are no longer produced are removed (matched on
``metadata.path``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from multivec._progress import tqdm
from multivec.cli.files import DEFAULT_CHUNK_WORDS, Skipped, discover, documents_for
from multivec.errors import MultivecError
from multivec.pdf import DEFAULT_DPI, DocumentInput, add_documents
from multivec.store import MultiVectorStore

__all__ = ["IndexReport", "index_paths"]

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
    """Collects the documents of several files and writes them together; a failed write skips those files."""

    def __init__(self, store: MultiVectorStore, report: IndexReport) -> None:
        self.store = store
        self.report = report
        self.files: list[tuple[Path, list[DocumentInput]]] = []

    def add(self, path: Path, documents: list[DocumentInput]) -> None:
        self.files.append((path, documents))
        if sum(len(docs) for _, docs in self.files) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        files, self.files = self.files, []
        if not files:
            return
        try:
            add_documents(self.store, [doc for _, docs in files for doc in docs])
        except MultivecError as err:
            self.report.skipped.extend(Skipped(str(path), _reason(err, path)) for path, _ in files)
            return
        for path, docs in files:
            self.report.files += 1
            self.report.documents += len(docs)
            self.report.removed += _remove_outdated(self.store, str(path), {doc.id for doc in docs})


def _reason(err: Exception, path: Path) -> str:
    """The error message without the file name it may start with (the summary line names the file)."""
    return str(err).removeprefix(f"{str(path)!r} ").removeprefix(f"{str(path)!r}: ")


def _unchanged(store: MultiVectorStore, path: Path, documents: list[DocumentInput]) -> bool:
    """Whether the store holds exactly these documents for ``path``, each stored as it would be written now."""
    if store.count(filter={"path": str(path)}) != len(documents):
        return False
    stored = {record.id: record for record in store.get([doc.id for doc in documents])}
    for doc in documents:
        record = stored.get(doc.id)
        payload = doc.payload
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
    files, skipped = discover(paths)
    report = IndexReport(before=store.count(), skipped=skipped)
    batcher = _Batcher(store, report)
    for path in tqdm(files, desc="Indexing", unit="file", disable=None if progress is None else not progress):
        try:
            documents = documents_for(path, store.embedding, dpi=dpi, chunk_words=chunk_words)
        except MultivecError as err:
            report.skipped.append(Skipped(str(path), _reason(err, path)))
            continue
        if _unchanged(store, path, documents):  # same content, same options: nothing to embed or write
            report.unchanged += 1
            continue
        batcher.add(path, documents)
    batcher.flush()
    report.after = store.count()
    return report
