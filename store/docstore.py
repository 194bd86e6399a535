"""The document store: each ingested document's cleaned text, metadata and content hash, in llama-index's
`SimpleDocumentStore` persisted as `docstore.json`.

Ingestion's `IngestionPipeline` keeps it (the content hash is what makes re-ingesting an unchanged document
free); answering reads it as plain `Document` records. It is written atomically, so a crash leaves the old
or the new file, never half of one.

Not here: the vectors (store/chroma.py) or the chunk table (store/bm25.py).
"""

from __future__ import annotations

from llama_index.core.schema import BaseNode
from llama_index.core.storage.docstore import SimpleDocumentStore

from store.files import docstore_path, write_atomically
from store.records import Document
from store.settings import Settings


def load(settings: Settings) -> SimpleDocumentStore:
    path = docstore_path(settings)
    if path.exists():
        return SimpleDocumentStore.from_persist_path(str(path))
    return SimpleDocumentStore()


def persist(docstore: SimpleDocumentStore, settings: Settings) -> None:
    tmp = docstore_path(settings).with_suffix(".json.tmp")
    docstore.persist(str(tmp))
    write_atomically(docstore_path(settings), tmp.read_bytes())
    tmp.unlink()


def stored_nodes(docstore: SimpleDocumentStore) -> dict[str, BaseNode]:
    """The documents the docstore holds, by id, as llama-index nodes."""
    ids = docstore.get_all_document_hashes().values()
    nodes = {doc_id: docstore.get_document(doc_id, raise_error=False) for doc_id in ids}
    return {doc_id: node for doc_id, node in nodes.items() if node is not None}


def as_document(doc_id: str, node: BaseNode) -> Document:
    meta = node.metadata
    return Document(doc_id, meta.get("title", ""), node.get_content(), meta.get("source", ""))


def read_documents(settings: Settings) -> dict[str, Document]:
    """Every ingested document, by id (none before the first ingest)."""
    if not docstore_path(settings).exists():
        return {}
    return {doc_id: as_document(doc_id, node) for doc_id, node in stored_nodes(load(settings)).items()}
