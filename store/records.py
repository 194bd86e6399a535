"""The records an index holds, and how their ids are made: documents, chunks and sentences.

Every offset points into a document's cleaned text, so `document.text[start:end]` is the record's text.
Ids are derived from the document id, position and content, so re-chunking an unchanged document gives
the same ids (a re-run after a crash cannot duplicate anything), and a corpus version is the hash of its
chunk ids.

Not here: how documents are cut (store/sentences.py, ingest/chunk.py) or stored (store/docstore.py,
store/bm25.py, store/chroma.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

# What an article may say about itself (ingest/metadata.py finds them): who wrote it, where and when it was
# published, and its address.
META_FIELDS = ("author", "outlet", "published", "url")
# Everything a document records about itself besides its text: META_FIELDS, the author's role, and the first
# sentence that addresses a language model instead of a reader (a planted instruction; ingest/nodes.py).
ABOUT_KEYS = (*META_FIELDS, "author_role", "instructions")


@dataclass(frozen=True)
class Document:
    doc_id: str  # the file stem, e.g. "putin-state-visit-to-kazakhstan"
    title: str
    text: str  # cleaned text; every offset in the product points into it
    source: str  # the file it was read from
    # ABOUT_KEYS found, each with "<key>_start"/"<key>_end": the sentence that states it
    meta: Mapping[str, str | int] = field(default_factory=dict)

    def stated(self, name: str) -> tuple[str, int, int] | None:
        """(value, start, end) of a metadata field the text states, or None (unknown, or declared only in
        the page's markup: then there is nothing to quote)."""
        value, start, end = self.meta.get(name), self.meta.get(f"{name}_start"), self.meta.get(f"{name}_end")
        if isinstance(value, str) and isinstance(start, int) and isinstance(end, int):
            return value, start, end
        return None


@dataclass(frozen=True)
class ChunkRecord:
    """A retrieval unit: consecutive whole sentences of one document, with their spans."""

    id: str
    doc_id: str
    title: str
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]  # (start, end) of each sentence the chunk is made of, in order


@dataclass(frozen=True)
class Sentence:
    """An answer unit: one sentence of a document; its vector lives in the sentence collection."""

    id: str
    doc_id: str
    title: str
    start: int
    end: int
    text: str

    @classmethod
    def of(cls, doc_id: str, title: str, doc_text: str, start: int, end: int) -> Sentence:
        """The sentence of a document's text at `doc_text[start:end]`."""
        text = doc_text[start:end]
        return cls(sentence_id(doc_id, start, text), doc_id, title, start, end, text)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def chunk_id(doc_id: str, index: int, text: str) -> str:
    return f"{doc_id}#{index}-{_digest(text)}"


def sentence_id(doc_id: str, start: int, text: str) -> str:
    return f"{doc_id}@{start}-{_digest(text)}"


def corpus_version(chunk_ids: list[str]) -> str:
    """Identifies a corpus state: the same chunk ids give the same version, whatever their order."""
    return hashlib.sha256("\n".join(sorted(chunk_ids)).encode()).hexdigest()[:16]
