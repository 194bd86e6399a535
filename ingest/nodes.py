"""The llama-index nodes of an article: its Document, and the chunk and sentence nodes cut from it.

`document(source)` cleans a loaded file into a llama-index `Document` (the docstore's unit: its hash decides
re-embedding); `record_nodes(doc)` cuts it into chunk nodes (retrieval units) and sentence nodes (answer units)
with offsets into the cleaned text and ids derived from their content (store/records.py); `ArticleChunker` is
that cut as a pipeline transformation.

Not here: chunk geometry (ingest/chunk.py), embedding (ingest/embed.py), writing (ingest/index.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from llama_index.core.schema import BaseNode, Document, NodeRelationship, TextNode, TransformComponent

from ingest.chunk import chunk_document, sentence_records
from ingest.clean import clean_text
from ingest.load import SourceFile
from ingest.metadata import find_metadata
from store.chroma import CHUNK, SENTENCE
from store.records import ChunkRecord
from store.sentences import split_sentences
from store.text import addresses_a_model


class ArticleChunker(TransformComponent):
    """llama-index transformation: documents → sentence-aware chunk nodes with offsets and stable ids."""

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[BaseNode]:
        out: list[BaseNode] = []
        for doc in nodes:
            out.extend(record_nodes(doc))
        return out


def records(doc: BaseNode) -> list[ChunkRecord]:
    return chunk_document(doc.metadata["doc_id"], doc.metadata["title"], doc.get_content())


def record_nodes(doc: BaseNode) -> list[TextNode]:
    """Chunk nodes (retrieval units) and sentence nodes (answer units) of one cleaned document.

    Sentences get their own vectors so that answering can rank them by meaning, across languages,
    without embedding anything at question time; they are stored in their own collection (store/chroma.py).
    """
    chunks = records(doc)
    nodes = [_node(doc, c.id, c.text, c.start, c.end, CHUNK) for c in chunks]
    sentences = sentence_records(doc.metadata["doc_id"], doc.metadata["title"], doc.get_content(), chunks)
    nodes += [_node(doc, s.id, s.text, s.start, s.end, SENTENCE) for s in sentences]
    return nodes


def _node(doc: BaseNode, node_id: str, text: str, start: int, end: int, kind: str) -> TextNode:
    hidden = ["doc_id", "title", "start_char", "end_char", "kind"]  # a node's embedded text is its own, nothing else
    node = TextNode(
        id_=node_id,
        text=text,
        start_char_idx=start,
        end_char_idx=end,
        metadata={
            "doc_id": doc.metadata["doc_id"],
            "title": doc.metadata["title"],
            "start_char": start,
            "end_char": end,
            "kind": kind,
        },
        excluded_embed_metadata_keys=hidden,
        excluded_llm_metadata_keys=hidden,
    )
    node.relationships[NodeRelationship.SOURCE] = doc.as_related_node_info()
    return node


def document(source: SourceFile) -> Document | str:
    """A llama-index Document for a loaded file, or the reason it has no article text."""
    cleaned = clean_text(source.text)
    if not cleaned.text.strip():
        return "no article text left after removing boilerplate"
    metadata = {
        "doc_id": source.doc_id,
        "title": cleaned.title,
        "source": str(source.path),
        "content_hash": hashlib.sha256(cleaned.text.encode("utf-8")).hexdigest(),
        **find_metadata(cleaned.text, source.meta).to_metadata(),  # author, outlet, date, url, with their spans
        **_instructions(cleaned.text),
    }
    # The document hash covers text and metadata: a new title or location re-indexes the document.
    return Document(id_=source.doc_id, text=cleaned.text, metadata=metadata,
                    excluded_embed_metadata_keys=list(metadata), excluded_llm_metadata_keys=list(metadata))


def _instructions(text: str) -> dict[str, str | int]:
    """The first sentence that addresses a language model instead of a reader ("ignore previous instructions..."),
    as `instructions` with its span: the article is flagged (RAG.documents, the corpus table), and an LLM answer
    that cites such a passage is rejected (rag/verify.py)."""
    for span in split_sentences(text):
        if addresses_a_model(quote := text[span.start : span.end]):
            return {"instructions": quote, "instructions_start": span.start, "instructions_end": span.end}
    return {}
