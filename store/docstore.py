"""The document store: each ingested document's cleaned text, metadata and content hash, in llama-index's
`SimpleDocumentStore` persisted as `docstore.json`.

Ingestion's `IngestionPipeline` keeps it (the content hash is what makes re-ingesting an unchanged document
free); answering reads it as plain `Document` records. It is written atomically, so a crash leaves the old
or the new file, never half of one, and its digest is accepted in the manifest before each write
(store/manifest.py). `load(settings, recorded)` checks the bytes it parses against the manifest, and turns a
damaged or missing file into `IndexDamaged`, never a raw decoding error.

Not here: the vectors (store/chroma.py) or the chunk table (store/bm25.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from llama_index.core.schema import BaseNode
from llama_index.core.storage.docstore import SimpleDocumentStore
from llama_index.core.storage.kvstore.simple_kvstore import SimpleKVStore

from store import manifest
from store.errors import IndexDamaged
from store.files import docstore_path, write_atomically
from store.manifest import Digest, Manifest
from store.records import ABOUT_KEYS, Document
from store.settings import Settings

NAME = "docstore.json"  # as the manifest lists it


def load(settings: Settings, recorded: Manifest | None = None) -> SimpleDocumentStore:
    """The docstore (an empty one before the first ingest), checked against `recorded` if given (size and
    checksum of the very bytes parsed); raises IndexDamaged for a damaged file, or a missing one it lists."""
    path = docstore_path(settings)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if recorded is not None and (problem := recorded.problem(NAME, path)):
            raise IndexDamaged(NAME, problem) from None
        return SimpleDocumentStore()
    if recorded is not None and (problem := recorded.problem(NAME, path, data)):
        raise IndexDamaged(NAME, problem)
    try:
        raw = json.loads(data)
        if not isinstance(raw, dict):
            raise TypeError(f"a JSON {type(raw).__name__}, not an object")
        store = SimpleDocumentStore(SimpleKVStore(raw))
        store.get_all_document_hashes()  # the structure is there, not just valid JSON
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise IndexDamaged(NAME, f"cannot be read ({type(exc).__name__}: {str(exc)[:120]})") from exc
    return store


def persist(docstore: SimpleDocumentStore, settings: Settings) -> None:
    # The bytes SimpleDocumentStore.persist writes, made once in memory: writing them to a temporary file and
    # reading them back for the digest cost 0.5 s of 1.3 s at 100k chunks.
    data = json.dumps(docstore.to_dict()).encode("utf-8")
    manifest.expect(settings.data_dir, {NAME: Digest.of(data)})  # accepted before it is on disk
    write_atomically(docstore_path(settings), data)


def stored_nodes(docstore: SimpleDocumentStore, ids: Iterable[str] | None = None) -> dict[str, BaseNode]:
    """The documents the docstore holds (or those of `ids` it holds), by id, as llama-index nodes."""
    ids = docstore.get_all_document_hashes().values() if ids is None else ids
    nodes = {doc_id: docstore.get_document(doc_id, raise_error=False) for doc_id in ids}
    return {doc_id: node for doc_id, node in nodes.items() if node is not None}


def as_document(doc_id: str, node: BaseNode) -> Document:
    meta = node.metadata
    about = {k: v for k, v in meta.items() if k.removesuffix("_start").removesuffix("_end") in ABOUT_KEYS}
    return Document(doc_id, meta.get("title", ""), node.get_content(), meta.get("source", ""), about)


def read_documents(settings: Settings, recorded: Manifest | None = None) -> dict[str, Document]:
    """Every ingested document, by id (none before the first ingest); see `load` for the checks."""
    try:
        nodes = stored_nodes(load(settings, recorded))
        return {doc_id: as_document(doc_id, node) for doc_id, node in nodes.items()}
    except IndexDamaged:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # valid JSON, but not records of ours
        raise IndexDamaged(NAME, f"cannot be read ({type(exc).__name__}: {str(exc)[:120]})") from exc
