"""The document store: each ingested document's cleaned text, metadata and content hash, as a llama-index
`KVDocumentStore` whose documents live in shard files under `docstore/`, so that adding one article to a big
index reads and writes one shard, not every document (one 103 MB JSON file at 100k chunks: 0.5 s to parse
and 0.6-0.9 s to write on every ingest).

Layout of `docstore/`:
    index.json         which shard file is live for each slot, every document's source file, and llama-index's
                       small collections (content hashes, ref-doc info); replaced atomically: the commit point
    <slot>-<hash>.json the documents whose id hashes to that slot (`slot_of`: 256 slots), named by their content
A shard file is never rewritten in place: a changed shard is written under its new name and the index swapped
to it, so a crash at any point leaves the old or the new docstore, never a mix. Files the live index does not
name are deleted by `sweep`, which the ingest calls after it publishes (a reader holding the older index then
sees the manifest move and reads again: store/integrity.py). Every file is accepted in the manifest
(store/manifest.py) before it is written; each is checked against it when read, and a damaged or missing one
is `IndexDamaged`, never a raw decoding error.

Ingestion's `IngestionPipeline` keeps it (the content hash is what makes re-ingesting an unchanged document
free); answering reads it as plain `Document` records. An index with the single `docstore.json` of earlier
versions is read as it is and counts as outdated: the next ingest writes it as shards and deletes the old file.

Not here: the vectors (store/chroma.py) or the chunk table (store/bm25.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

from llama_index.core.schema import BaseNode
from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore
from llama_index.core.storage.kvstore.simple_kvstore import SimpleKVStore

from store import manifest
from store.errors import IndexDamaged
from store.files import docstore_root, write_atomically
from store.manifest import Digest, Manifest
from store.records import ABOUT_KEYS, Document
from store.settings import Settings

FOLDER = "docstore"
INDEX = f"{FOLDER}/index.json"  # as the manifest lists it
OLD_NAME = "docstore.json"  # the single file of earlier versions
DOCUMENTS = "docstore/data"  # llama-index's collection of documents; the others hold a few fields per document
SLOT_DIGITS = 2  # 256 shards: at 100k chunks (6k documents) ~25 documents and ~400 KB each
FORMAT = 1


def slot_of(doc_id: str) -> str:
    return hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:SLOT_DIGITS]


class Shards(MutableMapping[str, dict]):
    """llama-index's document collection: a shard is read the first time one of its documents is asked for, and
    the slots written to are remembered until `persist`. Which documents exist is known without reading any
    shard (`sources`, from the index)."""

    def __init__(self, live: dict[str, str], sources: dict[str, str], read: Callable[[str], dict[str, dict]]):
        self.live = live  # slot → its shard's path relative to the data dir
        self.sources = sources  # document id → the file it was read from, for every stored document
        self.changed: set[str] = set()  # slots written to since the last persist
        self._read = read
        self._loaded: dict[str, dict[str, dict]] = {}

    def shard(self, slot: str) -> dict[str, dict]:
        if slot not in self._loaded:
            self._loaded[slot] = self._read(self.live[slot]) if slot in self.live else {}
        return self._loaded[slot]

    def __getitem__(self, doc_id: str) -> dict:
        if doc_id not in self.sources:
            raise KeyError(doc_id)
        slot = slot_of(doc_id)
        try:
            return self.shard(slot)[doc_id]
        except KeyError:
            raise IndexDamaged(self.live.get(slot, INDEX), f"does not hold the document {doc_id!r}") from None

    def __setitem__(self, doc_id: str, value: dict) -> None:
        slot = slot_of(doc_id)
        self.shard(slot)[doc_id] = value
        self.sources[doc_id] = str(value.get("__data__", {}).get("metadata", {}).get("source", ""))
        self.changed.add(slot)

    def __delitem__(self, doc_id: str) -> None:
        if doc_id not in self.sources:
            raise KeyError(doc_id)
        slot = slot_of(doc_id)
        self.shard(slot).pop(doc_id, None)
        del self.sources[doc_id]
        self.changed.add(slot)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.sources

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.sources))

    def __len__(self) -> int:
        return len(self.sources)


class ShardedKVStore(SimpleKVStore):
    """llama-index's in-memory KV store, with the document collection in `Shards`."""

    def __init__(self, shards: Shards, collections: dict[str, dict[str, dict]]):
        super().__init__({**collections, DOCUMENTS: shards})  # type: ignore[dict-item]
        self.shards = shards

    def small_collections(self) -> dict[str, dict[str, dict]]:
        return {name: dict(values) for name, values in self._collections_mappings.items() if name != DOCUMENTS}


class DocumentStore(KVDocumentStore):
    """What ingestion's pipeline keeps documents and their hashes in (llama-index's docstore interface)."""

    def __init__(self, kvstore: ShardedKVStore):
        super().__init__(kvstore)
        self.kvstore = kvstore

    def sources(self) -> dict[str, str]:
        """Every stored document's id → the file it was read from (no shard is read)."""
        return dict(self.kvstore.shards.sources)


def empty() -> DocumentStore:
    return DocumentStore(ShardedKVStore(Shards({}, {}, lambda rel: {}), {}))


def load(settings: Settings, recorded: Manifest | None = None) -> DocumentStore:
    """The docstore (an empty one before the first ingest), checked against `recorded` if given (size and
    checksum of the very bytes parsed, the shards' as they are read); raises IndexDamaged for a damaged file,
    or a missing one it lists."""
    data_dir = settings.data_dir
    raw = _read_checked(data_dir, INDEX, recorded)
    if raw is None:
        return _load_older_format(data_dir, recorded) or empty()
    try:
        index = json.loads(raw)
        live = {str(slot): str(rel) for slot, rel in index["shards"].items()}
        sources = {str(doc_id): str(source) for doc_id, source in index["sources"].items()}
        collections = {str(name): dict(values) for name, values in index["collections"].items()}
        if index["format"] != FORMAT or any(rel.startswith((".", "/")) or ".." in rel for rel in live.values()):
            raise ValueError(f"format {index['format']!r} or a shard outside {FOLDER}/")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise IndexDamaged(INDEX, _unreadable(exc)) from exc

    def read_shard(rel: str) -> dict[str, dict]:
        shard = _parse(rel, _read_checked(data_dir, rel, recorded, required=True))
        if not all(isinstance(value, dict) for value in shard.values()):
            raise IndexDamaged(rel, "cannot be read (a document is not a JSON object)")
        return shard

    return DocumentStore(ShardedKVStore(Shards(live, sources, read_shard), collections))


def check(store: DocumentStore, settings: Settings, recorded: Manifest | None) -> None:
    """Raise IndexDamaged for the first damaged or missing shard of a loaded store: checked against `recorded`
    (hashing, not parsing: 0.1 s for 100 MB), or by reading every shard when there is no manifest."""
    shards = store.kvstore.shards
    for slot, rel in sorted(shards.live.items()):
        path = settings.data_dir / rel
        if recorded is None or rel not in recorded.files:
            shards.shard(slot)
        elif problem := recorded.problem(rel, path):
            raise IndexDamaged(rel, problem)


def persist(store: DocumentStore, settings: Settings) -> None:
    """Write the shards changed since the last persist, then the index (nothing when nothing changed)."""
    kvstore, shards = store.kvstore, store.kvstore.shards
    written: dict[str, bytes] = {}
    for slot in sorted(shards.changed):
        documents = shards.shard(slot)
        if not documents:
            shards.live.pop(slot, None)
            continue
        data = json.dumps(documents).encode("utf-8")
        shards.live[slot] = f"{FOLDER}/{slot}-{hashlib.sha256(data).hexdigest()[:16]}.json"
        written[shards.live[slot]] = data
    index = json.dumps({"format": FORMAT, "shards": dict(sorted(shards.live.items())), "sources": shards.sources,
                        "collections": kvstore.small_collections()}).encode("utf-8")
    if not shards.changed and _current_bytes(settings.data_dir / INDEX) == index:
        return
    written[INDEX] = index  # last: it is what makes the new shards live
    manifest.expect(settings.data_dir, {rel: Digest.of(data) for rel, data in written.items()})
    for rel, data in written.items():
        write_atomically(settings.data_dir / rel, data)
    shards.changed.clear()


def files(settings: Settings) -> list[str]:
    """The live docstore's files, relative to the data dir (none before the first ingest)."""
    try:
        live = json.loads((settings.data_dir / INDEX).read_bytes())["shards"].values()
    except FileNotFoundError:
        return [OLD_NAME] if is_older_format(settings) else []
    return [INDEX, *sorted(live)]


def sweep(settings: Settings) -> None:
    """Delete the shard files the live index does not name, and the older single file (after a publish)."""
    keep = set(files(settings))
    if INDEX not in keep:
        return
    folder = docstore_root(settings)
    for path in folder.iterdir():
        if f"{FOLDER}/{path.name}" not in keep and path.is_file():
            path.unlink(missing_ok=True)
    (settings.data_dir / OLD_NAME).unlink(missing_ok=True)


def is_older_format(settings: Settings) -> bool:
    return not (settings.data_dir / INDEX).exists() and (settings.data_dir / OLD_NAME).exists()


def stored_nodes(store: DocumentStore, ids: Iterable[str] | None = None) -> dict[str, BaseNode]:
    """The documents the docstore holds (or those of `ids` it holds), by id, as llama-index nodes."""
    ids = store.get_all_document_hashes().values() if ids is None else ids
    nodes = {doc_id: store.get_document(doc_id, raise_error=False) for doc_id in ids}
    return {doc_id: node for doc_id, node in nodes.items() if node is not None}


def as_document(doc_id: str, node: BaseNode) -> Document:
    meta = node.metadata
    about = {k: v for k, v in meta.items() if k.removesuffix("_start").removesuffix("_end") in ABOUT_KEYS}
    return Document(doc_id, meta.get("title", ""), node.get_content(), meta.get("source", ""), about)


def read_documents(settings: Settings, recorded: Manifest | None = None) -> dict[str, Document]:
    """Every ingested document, by id (none before the first ingest); see `load` for the checks."""
    store = load(settings, recorded)
    part = INDEX if (settings.data_dir / INDEX).exists() else OLD_NAME
    try:
        nodes = stored_nodes(store)
        return {doc_id: as_document(doc_id, node) for doc_id, node in nodes.items()}
    except IndexDamaged:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # valid JSON, but not records of ours
        raise IndexDamaged(part, _unreadable(exc)) from exc


def _load_older_format(data_dir: Path, recorded: Manifest | None) -> DocumentStore | None:
    """The single docstore.json of earlier versions, every slot marked changed so that `persist` writes it as
    shards; None when there is none."""
    raw = _read_checked(data_dir, OLD_NAME, recorded)
    if raw is None:
        return None
    collections = _parse(OLD_NAME, raw)
    try:
        documents = collections.pop(DOCUMENTS, {})
        store = empty()
        for doc_id, value in documents.items():
            store.kvstore.shards[doc_id] = value
        for name, values in collections.items():
            store.kvstore.put_all(list(values.items()), collection=name)
        return store
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise IndexDamaged(OLD_NAME, _unreadable(exc)) from exc


def _read_checked(data_dir: Path, rel: str, recorded: Manifest | None, required: bool = False) -> bytes | None:
    """The bytes of `rel`, checked against `recorded`; None for a missing file that nothing says must exist."""
    path = data_dir / rel
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problem = recorded.problem(rel, path) if recorded is not None else None
        if problem or required:
            raise IndexDamaged(rel, problem or "is missing") from None
        return None
    if recorded is not None and (problem := recorded.problem(rel, path, data)):
        raise IndexDamaged(rel, problem)
    return data


def _parse(rel: str, data: bytes | None) -> dict[str, Any]:
    try:
        raw = json.loads(data or b"")
        if not isinstance(raw, dict):
            raise TypeError(f"a JSON {type(raw).__name__}, not an object")
    except (ValueError, TypeError) as exc:
        raise IndexDamaged(rel, _unreadable(exc)) from exc
    return raw


def _current_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _unreadable(exc: Exception) -> str:
    return f"cannot be read ({type(exc).__name__}: {str(exc)[:120]})"

