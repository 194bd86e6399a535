"""What one ingested corpus version looks like to the answering side: the chunk table (with its BM25 index)
and the cleaned documents, read together from `RAG_DATA_DIR`.

`Corpus.sentences(chunk_id)` gives the sentence records of a chunk from the spans ingestion stored with it:
extraction and citation checking both read sentences through it, and neither cuts a document again.

Not here: the vectors (store/chroma.py) or anything that ranks (rag/).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import cached_property

from store import docstore, integrity
from store.bm25 import BM25Index
from store.files import bm25_root
from store.manifest import Manifest
from store.records import ChunkRecord, Document, Sentence
from store.settings import Settings


@dataclass(frozen=True)
class Corpus:
    version: str | None  # the published corpus version; None before the first ingest
    bm25: BM25Index
    documents: dict[str, Document]
    outdated: bool = False  # written by an older version of the product: `rag ingest` brings it up to date

    @property
    def empty(self) -> bool:
        return not self.bm25.chunks

    def sentences(self, chunk_id: str) -> list[Sentence]:
        """The sentences of a chunk, in order (none for an unknown chunk or document)."""
        chunk = self.bm25.by_id.get(chunk_id)
        doc = self.documents.get(chunk.doc_id) if chunk else None
        if chunk is None or doc is None:
            return []
        return [Sentence.of(doc.doc_id, doc.title, doc.text, start, end) for start, end in chunk.sentences]

    def passages_holding(self, spans: list[tuple[str, int, int]], besides: set[str]) -> list[ChunkRecord]:
        """For each (doc_id, start, end) span that no chunk of `besides` (ids) holds, the first chunk that does (or,
        for a span across two chunks, the first that holds its start)."""
        out: list[ChunkRecord] = []
        for doc_id, start, end in spans:
            chunks = [self.bm25.by_id[cid] for cid in self.bm25.chunk_ids([doc_id])]
            holding = sorted((c for c in chunks if c.start <= start < c.end), key=lambda c: c.end < end)
            if holding and not any(c.id in besides for c in holding):
                out.append(holding[0])
                besides = besides | {holding[0].id}
        return out

    def neighbours(self, sentence: Sentence) -> tuple[Sentence | None, Sentence | None]:
        """The sentences just before and after `sentence` in the same paragraph (None at a paragraph's edge)."""
        found = self._place(sentence)
        if found is None:
            return None, None
        doc, spans, at = found
        out: list[Sentence | None] = []
        for index in (at - 1, at + 1):
            if 0 <= index < len(spans):
                start, end = spans[index]
                between = doc.text[min(end, sentence.end) : max(start, sentence.start)]
                out.append(None if "\n" in between else Sentence.of(doc.doc_id, doc.title, doc.text, start, end))
            else:
                out.append(None)
        return out[0], out[1]

    def preceding(self, sentence: Sentence) -> Sentence | None:
        """The sentence just before `sentence` in its document, in the same paragraph or not (None at the start)."""
        found = self._place(sentence)
        if found is None or found[2] == 0:
            return None
        doc, spans, at = found
        start, end = spans[at - 1]
        return Sentence.of(doc.doc_id, doc.title, doc.text, start, end)

    def _place(self, sentence: Sentence) -> tuple[Document, list[tuple[int, int]], int] | None:
        """The sentence's document, that document's sentence spans, and where the sentence is among them."""
        doc = self.documents.get(sentence.doc_id)
        spans = self._sentence_spans.get(sentence.doc_id, [])
        at = bisect.bisect_left(spans, (sentence.start, sentence.end))
        if doc is None or at >= len(spans) or spans[at][0] != sentence.start:
            return None
        return doc, spans, at

    @cached_property
    def _sentence_spans(self) -> dict[str, list[tuple[int, int]]]:
        """Every document's sentence spans in order, from the spans its chunks hold (overlaps once)."""
        spans: dict[str, set[tuple[int, int]]] = {}
        for chunk in self.bm25.chunks:
            spans.setdefault(chunk.doc_id, set()).update(chunk.sentences)
        return {doc_id: sorted(of_doc) for doc_id, of_doc in spans.items()}


def load_corpus(settings: Settings) -> Corpus:
    """The corpus as the last ingest published it (an empty one before the first ingest). Its files are checked
    against the manifest first (store/integrity.py): a damaged or missing one raises IndexDamaged."""
    return integrity.consistent_read(settings, lambda recorded: _read_corpus(settings, recorded))


def _read_corpus(settings: Settings, recorded: Manifest | None) -> Corpus:
    root = bm25_root(settings)
    loaded = BM25Index.load(root, recorded)
    bm25 = loaded or BM25Index.build([])
    version = loaded.version if loaded else BM25Index.current_version(root)
    # An index written before the manifest existed is outdated: the next ingest writes one.
    outdated = (BM25Index.is_outdated(root) or docstore.is_older_format(settings)
                or (recorded is None and bool(bm25.chunks)))
    return Corpus(version, bm25, docstore.read_documents(settings, recorded), outdated)
