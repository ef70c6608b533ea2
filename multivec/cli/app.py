"""The ``multivec`` command: argument parsing, the subcommands, and error reporting.

Exit codes: ``0`` success; ``1`` the work failed (nothing could be indexed, a model or server failed, the store is
locked or damaged, a file could not be read or written); ``2`` a usage error (bad flags, values or filter, unknown
store or collection, an embedder that does not match the store). Every error prints one line on stderr
(``multivec: error: …``, or ``multivec COMMAND: error: …`` for flags argparse refuses), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from multivec.cli import manifest, models, stats, tuning, verifying
from multivec.cli.files import DEFAULT_CHUNK_WORDS
from multivec.embeddings.base import MultiVectorBaseEmbedding
from multivec.embeddings.factory import EMBEDDERS, make_embedder
from multivec.errors import ConfigurationError, InvalidInputError, MultivecError
from multivec.pdf import DEFAULT_DPI, check_dpi

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: ``--embedder`` choices shown in help; ``fake`` (no model, for tests) is accepted but not advertised.
_PUBLIC_EMBEDDERS = [name for name in EMBEDDERS if name != "fake"]


class _UsageError(Exception):
    """A command-line mistake found after parsing (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (the usage itself is one ``--help`` away), no abbreviated
    options (``--mode`` must not silently mean ``--model``), and unknown options answered with the valid ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # subcommand parsers are built by this class too
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and any(isinstance(a, argparse._SubParsersAction) for a in self._actions):
            command = str(getattr(parsed, "command", ""))
            chosen = next(
                (a.choices.get(command, self) for a in self._actions if isinstance(a, argparse._SubParsersAction)), self
            )
            valid = sorted({o for a in chosen._actions for o in a.option_strings if o.startswith("--")})
            self.error(
                f"unrecognized arguments: {' '.join(extras)}; the options of `{chosen.prog}` are {', '.join(valid)}"
            )
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_one_line(message)} (see `{self.prog} --help`)\n")


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def _embedder_flags(parser: argparse.ArgumentParser, *, default_help: str) -> None:
    parser.add_argument(
        "--embedder",
        choices=EMBEDDERS,
        metavar="{" + ",".join(_PUBLIC_EMBEDDERS) + "}",
        help=f"embedding model family ({default_help})",
    )
    parser.add_argument("--model", help="model id or local directory (infinity: the served model name)")
    parser.add_argument("--url", help="Infinity server URL (with --embedder infinity)")


def _pool_factor_flag(parser: argparse.ArgumentParser, *, when: str) -> None:
    def factor(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 2:
            raise argparse.ArgumentTypeError(f"must be an integer >= 2, got {text!r}")
        return value

    parser.add_argument(
        "--pool-factor",
        type=factor,
        metavar="N",
        help=f"store about 1/N of each document's token vectors (hierarchical token pooling, docs/pooling.md); {when}",
    )


def _datatype_flag(parser: argparse.ArgumentParser, *, when: str) -> None:
    from multivec.store.backend import DATATYPES

    parser.add_argument(
        "--datatype",
        choices=DATATYPES,
        metavar="NAME",
        help=f"storage of the token vectors: {', '.join(DATATYPES)} (docs/scaling.md); {when}",
    )


def _store_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, type=Path, help="store directory (created by `multivec index`)")
    parser.add_argument("--collection", default="multivec", help="collection name (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="multivec",
        description="Late-interaction (ColBERT/ColPali MaxSim) search over your files, stored in Qdrant.",
        epilog="Start with `multivec demo`. Exit codes: 0 ok, 1 failed, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser(
        "index",
        help="index text files, images and PDFs",
        description="Index files and folders (recursively): .txt/.md texts, images, PDFs (one document per page). "
        "Re-indexing is idempotent; unreadable files are reported and skipped. Exits 1 only when files were "
        "given but none could be indexed.",
    )
    index.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    _store_flags(index)
    _embedder_flags(index, default_help="default: the store's, else colbert with the offline MiniLM")
    index.add_argument("--dpi", type=float, default=DEFAULT_DPI, help="PDF rendering resolution (default: %(default)s)")
    index.add_argument(
        "--chunk-words",
        type=int,
        default=DEFAULT_CHUNK_WORDS,
        help="split text files into passages of at most this many words; 0: never (default: %(default)s)",
    )
    index.add_argument("--quiet", action="store_true", help="no progress bar")
    _pool_factor_flag(index, when="fixed when the store is created (default: none, or the store's own)")
    _datatype_flag(index, when="fixed when the store is created (default: float32, or the store's own)")

    search = commands.add_parser("search", help="search a store", description="Search a store built by `index`.")
    search.add_argument("query", metavar="QUERY")
    _store_flags(search)
    search.add_argument("-k", type=int, default=5, help="number of results (default: %(default)s)")
    search.add_argument("--filter", help='metadata filter as JSON, e.g. \'{"file_name": "notes.md"}\'')
    search.add_argument("--exact", action="store_true", help="exact MaxSim over every document (no prefetch)")
    _hybrid_flags(search, defaults="the store's own")
    search.add_argument("--json", action="store_true", help="print the results as JSON")
    _embedder_flags(search, default_help="default: the one that built the store")

    explain = commands.add_parser(
        "explain",
        help="show why a stored document matches a query",
        description="Break a stored document's MaxSim score for QUERY down by word of the query, largest first: "
        "each word's contribution and the document words (or page patches) it matched. --out writes a PNG: for "
        "images and PDF pages, the top words' similarity maps over the page; for texts, a bar chart of the word "
        "contributions. --json prints the same as JSON, with the model-token detail behind the words.",
    )
    explain.add_argument("query", metavar="QUERY")
    _store_flags(explain)
    explain.add_argument("--id", required=True, dest="doc_id", metavar="DOC_ID", help="document id (see search --json)")
    explain.add_argument("--out", type=Path, help="write the picture to this PNG file")
    explain.add_argument(
        "--dpi", type=float, default=None, help="PDF page rendering resolution (default: the one it was indexed with)"
    )
    explain.add_argument("--json", action="store_true", help="print the breakdown as JSON")
    _embedder_flags(explain, default_help="default: the one that built the store")

    evaluate = commands.add_parser(
        "eval",
        help="evaluate retrieval on a BEIR-layout dataset",
        description="Index a BEIR-layout dataset (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) into a temporary "
        "store, run every judged query and print nDCG@10, Recall@100, MRR@10 (ranx) and timings.",
    )
    evaluate.add_argument("dataset", metavar="DATASET_DIR", type=Path)
    _embedder_flags(evaluate, default_help="default: colbert with the offline MiniLM")
    evaluate.add_argument("--exact", action="store_true", help="exact MaxSim instead of the two-stage search")
    _hybrid_flags(evaluate, defaults="dbsf, 0.3")
    evaluate.add_argument("-k", type=int, default=100, help="results per query (default: %(default)s)")
    evaluate.add_argument("--split", default="test", help="qrels split (default: %(default)s)")
    evaluate.add_argument(
        "--no-title", dest="title", action="store_false", help="index the text field alone (default: title + text)"
    )
    evaluate.add_argument("--max-queries", type=int, help="evaluate only the first N judged queries")
    evaluate.add_argument("--max-docs", type=int, help="corpus: the judged documents plus others up to N in all")
    evaluate.add_argument("--json", action="store_true", help="print the results as JSON")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bars")
    _pool_factor_flag(evaluate, when="default: none")
    _datatype_flag(evaluate, when="default: float32")

    demo = commands.add_parser(
        "demo",
        help="index a bundled sample offline and answer example questions",
        description="Index five short texts and a generated 3-page PDF into a temporary embedded store, offline, "
        "and print the top results of four example questions.",
    )
    _embedder_flags(demo, default_help="default: colbert with the offline MiniLM")
    demo.add_argument("-k", type=int, default=3, help="results per question (default: %(default)s)")
    demo.add_argument("--keep", type=Path, help="keep the sample and the store in this directory")
    verifying.add_parser(commands, _store_flags)
    models.add_parser(commands)
    tuning.add_parser(commands, _store_flags)
    stats.add_parser(commands, _store_flags)
    return parser


def _version() -> str:
    from multivec import __version__

    return __version__


def _embedder(spec: manifest.EmbedderSpec) -> MultiVectorBaseEmbedding:
    return make_embedder(spec.embedder, spec.model, spec.url)


def _open_store(args: argparse.Namespace, embedding: MultiVectorBaseEmbedding) -> Any:
    from multivec.store import MultiVectorStore

    return MultiVectorStore(
        embedding,
        args.collection,
        path=str(args.store),
        filterable_fields={"path": "keyword"},
        pool_factor=getattr(args, "pool_factor", None),
        multivector_datatype=getattr(args, "datatype", None),
    )


def _check_store_dir(store: Path) -> None:
    if store.exists() and not store.is_dir():
        raise _UsageError(
            f"--store {str(store)!r} is a file; pass a store directory (new or built by `multivec index`)"
        )


def _unchanged_without_model(args: argparse.Namespace, spec: manifest.EmbedderSpec) -> Any:
    """The report of an ``index`` run with nothing to embed, found without loading the model (an unchanged re-run
    then costs reading and hashing the files); ``None`` when the model is needed or this cannot be told so."""
    from multivec.cli.indexing import unchanged_report
    from multivec.embeddings.factory import reads_images
    from multivec.store.integrity import open_without_model

    with_images = reads_images(spec.embedder)
    new_options = getattr(args, "pool_factor", None) is not None or getattr(args, "datatype", None) is not None
    if with_images is None or new_options or not (args.store / args.collection).is_dir():
        return None
    try:
        with open_without_model(args.store, args.collection) as store:
            return unchanged_report(
                store, args.paths, with_images=with_images, dpi=args.dpi, chunk_words=args.chunk_words
            )
    except MultivecError:  # locked, damaged, ...: the normal path reports it
        return None


def _cmd_index(args: argparse.Namespace) -> int:
    from multivec.cli.indexing import index_paths

    _check_store_dir(args.store)
    check_dpi(args.dpi, "--dpi")
    if args.chunk_words < 0:
        raise _UsageError(f"--chunk-words must be 0 (never split) or more, got {args.chunk_words}")
    spec = manifest.resolve(args.store, args.collection, embedder=args.embedder, model=args.model, url=args.url)
    report = _unchanged_without_model(args, spec)
    if report is None:
        with _open_store(args, _embedder(spec)) as store:
            manifest.save(args.store, args.collection, spec)
            report = index_paths(
                store, args.paths, dpi=args.dpi, chunk_words=args.chunk_words, progress=False if args.quiet else None
            )
    nothing = report.skipped and not report.files and not report.unchanged
    print(report.summary(), file=sys.stderr if nothing else sys.stdout)
    if nothing:
        print("multivec: error: nothing could be indexed", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _parse_filter(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise _UsageError(f"--filter is not valid JSON ({err.msg} at position {err.pos})") from None
    except RecursionError:
        raise _UsageError("--filter is nested too deeply to read; flatten it") from None
    if not isinstance(value, dict):
        raise _UsageError('--filter must be a JSON object, e.g. \'{"file_name": "notes.md"}\'')
    return value


def _existing_spec(args: argparse.Namespace) -> manifest.EmbedderSpec:
    """The embedder of an existing store (flags may override), or a usage error naming the known collections."""
    _check_store_dir(args.store)
    spec = manifest.load(args.store, args.collection) if args.store.is_dir() else None
    if spec is None:
        known = manifest.collections(args.store) if args.store.is_dir() else []
        where = f"; it has: {', '.join(known)}" if known else ""
        raise _UsageError(
            f"no collection {args.collection!r} in store {str(args.store)!r}{where}; build it with "
            f"`multivec index PATH --store {args.store}`"
        )
    return manifest.resolve(args.store, args.collection, embedder=args.embedder, model=args.model, url=args.url)


def _hybrid_flags(parser: argparse.ArgumentParser, *, defaults: str) -> None:
    parser.add_argument(
        "--mode",
        choices=("maxsim", "hybrid"),
        default="maxsim",
        help="maxsim: late interaction alone; hybrid: BM25 over the stored text fused with it (default: %(default)s)",
    )
    parser.add_argument(
        "--hybrid-fusion", choices=("rrf", "dbsf", "rerank"), help=f"how --mode hybrid fuses (default: {defaults})"
    )
    parser.add_argument(
        "--hybrid-weight",
        type=float,
        metavar="W",
        help=f"lexical weight of --mode hybrid, MaxSim weighs 1 (default: {defaults})",
    )


def _cmd_search(args: argparse.Namespace) -> int:
    from multivec.cli.output import hits_json, hits_table

    if args.k < 1:
        raise _UsageError(f"-k must be at least 1, got {args.k}")
    query_filter = _parse_filter(args.filter)
    spec = _existing_spec(args)
    with _open_store(args, _embedder(spec)) as store:
        hits = store.search(
            args.query,
            k=args.k,
            filter=query_filter,
            exact=args.exact,
            mode=args.mode,
            hybrid_fusion=args.hybrid_fusion,
            hybrid_weight=args.hybrid_weight,
        )
    print(hits_json(hits) if args.json else (hits_table(hits) if hits else "no results"))
    return EXIT_OK


def _cmd_explain(args: argparse.Namespace) -> int:
    from multivec.cli.explaining import explanation_json, run_explain

    if args.out is not None and args.out.suffix.lower() != ".png":
        raise _UsageError(f"--out must name a .png file, got {str(args.out)!r}")
    if args.dpi is not None:
        check_dpi(args.dpi, "--dpi")
    spec = _existing_spec(args)
    with _open_store(args, _embedder(spec)) as store:
        explanation, record, shown = run_explain(store, args.query, args.doc_id, out=args.out, dpi=args.dpi)
    print(explanation_json(explanation, record) if args.json else explanation.table())
    if shown is not None:
        print(f"wrote {shown} to {args.out}", file=sys.stderr)
    return EXIT_OK


def _cmd_eval(args: argparse.Namespace) -> int:
    from multivec.evaluation import evaluate, load_beir

    if args.k < 1:
        raise _UsageError(f"-k must be at least 1, got {args.k}")
    for flag, value in (("--max-queries", args.max_queries), ("--max-docs", args.max_docs)):
        if value is not None and value < 1:
            raise _UsageError(f"{flag} must be at least 1, got {value}")
    dataset = load_beir(args.dataset, split=args.split, title=args.title)
    if args.max_queries is not None or args.max_docs is not None:
        dataset = dataset.subset(args.max_queries, args.max_docs)
    embedding = make_embedder(args.embedder or manifest.DEFAULT_EMBEDDER, args.model, args.url)
    result = evaluate(
        embedding,
        dataset,
        exact=args.exact,
        k=args.k,
        show_progress=not args.quiet,
        pool_factor=args.pool_factor,
        multivector_datatype=args.datatype,
        mode=args.mode,
        hybrid_fusion=args.hybrid_fusion,
        hybrid_weight=args.hybrid_weight,
    )
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.table())
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from multivec.cli.demo import run_demo

    spec = manifest.EmbedderSpec(
        args.embedder or manifest.DEFAULT_EMBEDDER, manifest.normalise_model(args.model), args.url
    )
    if args.k < 1:
        raise _UsageError(f"-k must be at least 1, got {args.k}")
    run_demo(_embedder(spec), keep=args.keep, k=args.k)
    if args.keep is not None:
        manifest.save(args.keep / "store", "demo", spec)
    return EXIT_OK


_COMMANDS = {
    "index": _cmd_index,
    "search": _cmd_search,
    "explain": _cmd_explain,
    "eval": _cmd_eval,
    "demo": _cmd_demo,
    "verify": verifying.run,
    "models": models.run,
    "tune": tuning.run,
    "stats": stats.run,
}


def _os_error(err: OSError) -> str:
    where = f": {err.filename}" if err.filename else ""
    return f"{err.strerror or err}{where}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``multivec`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit code.

    ``2``: a usage error (flags argparse refuses, bad values, ``InvalidInputError``/``ConfigurationError``);
    ``1``: a runtime failure (any other multivec error, an ``OSError``, anything unexpected). Either prints one
    line on stderr, never a traceback.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, --version, or a flag argparse refused (it printed why)
        return exit.code if isinstance(exit.code, int) else EXIT_USAGE
    try:
        return _COMMANDS[args.command](args)
    except (_UsageError, ConfigurationError, InvalidInputError) as err:
        print(f"multivec: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except MultivecError as err:
        print(f"multivec: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as err:
        print(f"multivec: error: {_one_line(_os_error(err))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("multivec: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug of ours: still one line, and what to report
        print(
            f"multivec: error: unexpected {type(err).__name__}: {_one_line(err)} (please report this)", file=sys.stderr
        )
        return EXIT_FAILED
