"""What one ingested corpus version looks like to the answering side: the chunk table (with its BM25 index)
and the cleaned documents, read together from `RAG_DATA_DIR`.

`Corpus.sentences(chunk_id)` gives the sentence records of a chunk from the spans ingestion stored with it:
extraction and citation checking both read sentences through it, and neither cuts a document again.

Not here: the vectors (store/chroma.py) or anything that ranks (rag/).
"""

from __future__ import annotations

from dataclasses import dataclass

from store import docstore
from store.bm25 import BM25Index
from store.files import bm25_root
from store.records import Document, Sentence
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


def load_corpus(settings: Settings) -> Corpus:
    """The corpus as the last ingest published it (an empty one before the first ingest)."""
    root = bm25_root(settings)
    version = BM25Index.current_version(root)
    bm25 = BM25Index.load(root) or BM25Index.build([])
    return Corpus(version, bm25, docstore.read_documents(settings), BM25Index.is_outdated(root))
