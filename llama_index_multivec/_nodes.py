"""Translation between LlamaIndex nodes and multivec store records (no I/O, no scoring)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.schema import BaseNode, ImageNode, MetadataMode, NodeWithScore, TextNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from multivec._options import items
from multivec.errors import ConfigurationError, InvalidInputError
from multivec.items import Item, Modality
from multivec.source_images import is_pdf, page_dpi, source_image
from multivec.store import Hit, Record
from multivec.types import ImageInput

__all__ = [
    "RAW_SCORE_KEY",
    "check_nodes",
    "hit_to_node",
    "image_input",
    "metadata_mode",
    "node_input",
    "nodes_to_items",
    "record_to_node",
    "scored",
]

#: ``node.metadata`` key holding the raw MaxSim score of a retrieved or reranked node (``NodeWithScore.score`` is
#: the [0, 1] relevance). It is excluded from the text the LLM and embedders see.
RAW_SCORE_KEY = "maxsim_score"

_NODE_CONTENT = "_node_content"


def metadata_mode(value: Any, name: str) -> MetadataMode:
    """``value`` as a ``MetadataMode`` (the enum or its value), else :class:`ConfigurationError` naming ``name``."""
    try:
        return MetadataMode(value)
    except ValueError:
        raise ConfigurationError(
            f"{name} must be a MetadataMode ({', '.join(m.value for m in MetadataMode)}), got {value!r}"
        ) from None


def check_nodes(nodes: Any, kind: type[BaseNode] | type[NodeWithScore] = BaseNode) -> list[Any]:
    """``nodes`` as a list of ``kind`` (LlamaIndex nodes, or ``NodeWithScore``), else :class:`InvalidInputError`
    naming the first position that is not."""
    if isinstance(nodes, BaseNode | NodeWithScore):
        raise InvalidInputError("expected a list of nodes, got a single node; wrap it in a list")
    checked = items(nodes, "nodes")
    for i, node in enumerate(checked):
        if not isinstance(node, kind):
            raise InvalidInputError(f"nodes[{i}] is {type(node).__name__}, expected {kind.__name__}", index=i)
    return checked


def _where(node: BaseNode, index: int) -> str:
    return f"nodes[{index}] ({type(node).__name__} {node.node_id!r})"


def image_input(node: ImageNode, index: int) -> ImageInput:
    """What the embedder reads for an ``ImageNode``: its base64 image (as a data URI), else its path, else its URL,
    else, for a PDF page (``file_path`` + numeric ``page_label``, as ``add_pdfs`` stores them), the page rendered
    at the dpi it was indexed with."""
    if node.image:
        return f"data:{node.image_mimetype or 'image/png'};base64,{node.image}"
    if node.image_path:
        return node.image_path
    if node.image_url:
        return node.image_url
    source, page = node.metadata.get("file_path"), str(node.metadata.get("page_label", ""))
    if isinstance(source, str) and is_pdf(source) and page.isdigit():
        return source_image(source, int(page), dpi=page_dpi(node.metadata))
    raise InvalidInputError(
        f"{_where(node, index)} has no image; set image (base64), image_path or image_url", index=index
    )


def node_input(node: BaseNode, index: int, metadata_mode: MetadataMode) -> tuple[Modality, str | ImageInput]:
    """What the embedder reads for a node: an ``ImageNode``'s image (:func:`image_input`), else the node's
    content in ``metadata_mode``."""
    if isinstance(node, ImageNode):
        return "image", image_input(node, index)
    return "text", node.get_content(metadata_mode=metadata_mode)


def nodes_to_items(nodes: Sequence[BaseNode], metadata_mode: MetadataMode) -> list[Item]:
    """The items a list of nodes is stored as (:mod:`multivec.items`); raises before anything is embedded.

    Text nodes are embedded from ``node.get_content(metadata_mode)`` and stored with their bare text as content.
    Image nodes are embedded from their image; the record's content is the image's path or URL (base64 images
    stay only inside the serialised node). The whole node (relationships, metadata, image fields) is serialised
    into the record's metadata with ``node_to_metadata_dict``, so it round-trips and ``ref_doc_id`` filters work.
    """
    out = []
    for i, node in enumerate(check_nodes(nodes)):
        modality, content = node_input(node, i, metadata_mode)
        source = None
        if isinstance(node, ImageNode):
            source = stored = node.image_path or node.image_url
            metadata = node_to_metadata_dict(node, remove_text=False, flat_metadata=False)
        else:
            stored = node.get_content(metadata_mode=MetadataMode.NONE)
            metadata = node_to_metadata_dict(node, remove_text=True, flat_metadata=False)
        item = Item(content, modality, node.node_id, metadata, source, stored_content=stored, label=_where(node, i))
        out.append(item)
    return out


def record_to_node(record: Record) -> BaseNode:
    """The node a record was written from.

    Records written outside LlamaIndex (the core store, the LangChain adapter, ``MultiVectorStore.add_pdfs``) become a
    ``TextNode`` or an ``ImageNode`` with the record's id and metadata; their ``source`` and ``page`` go to the
    LlamaIndex metadata keys ``file_path`` and ``page_label``. An image record's source becomes ``image_path``
    unless it is a PDF page (the page is not stored as an image file; render it with :func:`multivec.pdf.read_pdf`).
    """
    metadata = dict(record.metadata)
    if _NODE_CONTENT in metadata:
        text = record.content if record.modality == "text" else None
        return metadata_dict_to_node(metadata, text=text)
    if record.source is not None:
        metadata.setdefault("file_path", record.source)
    if record.page is not None:
        metadata.setdefault("page_label", str(record.page))
    if record.modality == "image":
        image_path = record.source if record.page is None else None
        # the page's words (text layer or caption) are what a response synthesizer sends to the LLM
        return ImageNode(id_=record.id, image_path=image_path, text=record.text, metadata=metadata)
    return TextNode(id_=record.id, text=record.content or "", metadata=metadata)


def scored(node: BaseNode, score: float, relevance: float) -> NodeWithScore:
    """``NodeWithScore`` with the [0, 1] ``relevance`` as score and the raw MaxSim score in ``RAW_SCORE_KEY``.

    ``node`` is copied, never mutated.
    """

    def excluded(keys: list[str]) -> list[str]:
        return keys if RAW_SCORE_KEY in keys else [*keys, RAW_SCORE_KEY]

    copy = node.model_copy(
        update={
            "metadata": {**node.metadata, RAW_SCORE_KEY: score},
            "excluded_embed_metadata_keys": excluded(node.excluded_embed_metadata_keys),
            "excluded_llm_metadata_keys": excluded(node.excluded_llm_metadata_keys),
        }
    )
    return NodeWithScore(node=copy, score=relevance)


def hit_to_node(hit: Hit) -> NodeWithScore:
    """A store hit as a LlamaIndex ``NodeWithScore`` (see :func:`scored`)."""
    return scored(record_to_node(hit), hit.score, hit.relevance)
