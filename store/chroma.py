"""The two Chroma collections of an index: chunks (what retrieval searches) and sentences (what answering ranks
sentences with), in the embedded `PersistentClient` or on a Chroma server (`HttpClient`).

They are apart because a `where` filter makes every Chroma query scan metadata first: with both in one
collection and a `kind` filter, a query at 100k chunks took 440 ms, against 1.3 ms on a collection of the
chunks alone. Every collection records the embedding model it was built with and refuses another.

The embedded store's files are chromadb's and change with every write, so they are not in the manifest
(store/manifest.py). Instead, opening it raises `IndexDamaged` when chroma/chroma.sqlite3 is missing or empty
while the manifest records vectors (opening would silently create an empty store) or when the chunk collection
is not the one the manifest records (the store was recreated); and `damage_of` turns a failure (at open or
query time, including the panics of chromadb's Rust layer) into `IndexDamaged` when its wording says the
database is corrupt or, for any other wording, when SQLite's own `PRAGMA quick_check` fails on the file.
`rag ingest` runs that check before it writes (`check_store(thorough=True)`: ~0.6 s per GB, and the store is
~1.8 GB at 100k chunks); answering runs it only after a failure. The HNSW segment files are not checked.
A Chroma server's storage is its own: none of this applies in server mode.

Not here: which records go in (ingest/index.py) or how they are ranked (rag/retrieve.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store import manifest
from store.errors import IndexDamaged, StoreError
from store.files import chroma_path
from store.settings import Settings

# Chroma's anonymised telemetry phones home; off before chromadb is imported anywhere.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# chromadb refuses writes above its max batch (5,461 records in 1.5) and SQLite refuses reads that match more
# than 32,766 ids: both are hit at about a hundred articles, so writes and full reads go in pages.
PAGE = 5000
CHUNK, SENTENCE = "chunk", "sentence"
KINDS = (CHUNK, SENTENCE)
STORE_FILE = "chroma/chroma.sqlite3"  # the embedded store's database, relative to the data dir
# SQLite's SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), as chromadb's Rust and Python layers word them.
_CORRUPT = re.compile(r"malformed|not a database|\(code: (11|26)\)", re.IGNORECASE)


# chromadb caches one embedded store per path and process; creating two clients at once races on it, and so
# does importing chromadb from two threads (the app's start-up ingest and its first page).
_CLIENT_LOCK = threading.RLock()


def chroma_client(settings: Settings) -> Any:
    with _CLIENT_LOCK:  # chromadb's imports are circular: two threads importing it at once can fail
        import chromadb
        from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    try:
        if settings.server_mode:
            return _server_client(settings, chroma_settings)
        check_store(settings)
        chroma_path(settings).mkdir(parents=True, exist_ok=True)
        with _CLIENT_LOCK:
            return chromadb.PersistentClient(path=str(chroma_path(settings)), settings=chroma_settings)
    except StoreError:
        raise
    except BaseException as exc:  # chromadb raises bare ValueError/Exception for an unreachable server
        if not failed(exc):
            raise
        where = f"{settings.chroma_host}:{settings.chroma_port}" if settings.server_mode else settings.data_dir
        raise damage_of(exc, settings) or StoreError(f"cannot open the Chroma store at {where}: {exc}") from exc


def failed(exc: BaseException) -> bool:
    """An error of chromadb's: any Exception, or a panic of its Rust layer (pyo3 raises it as a BaseException)."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def check_store(settings: Settings, thorough: bool = False) -> None:
    """Refuse to open (and so create afresh) a missing or emptied embedded database that the manifest says holds
    vectors; with `thorough`, also one that fails SQLite's quick_check. Raises IndexDamaged."""
    path = settings.data_dir / STORE_FILE
    if settings.server_mode:
        return
    if manifest.read_or_empty(settings.data_dir).vectors:
        if not path.exists():
            raise IndexDamaged(STORE_FILE, "is missing")
        if path.stat().st_size == 0:
            raise IndexDamaged(STORE_FILE, "is empty (0 bytes)")
    if thorough and path.exists() and (problem := _sqlite_problem(path)):
        raise IndexDamaged(STORE_FILE, problem)


def _sqlite_problem(path: Path) -> str | None:
    """What SQLite's quick_check (every page and index; not the rows' contents) finds wrong, or None (also when it
    cannot tell, e.g. the file is locked)."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)) as db:
            rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return f"is corrupt ({exc})" if _CORRUPT.search(str(exc)) else None
    verdict = "; ".join(str(row[0]) for row in rows[:3])
    return None if verdict == "ok" else f"is corrupt (SQLite's check: {verdict[:160]})"


def damage_of(exc: BaseException, settings: Settings) -> IndexDamaged | None:
    """IndexDamaged if a failure of the embedded store comes from a corrupt database, by its wording or else by
    SQLite's check of the file; None for anything else, and always in server mode."""
    if isinstance(exc, IndexDamaged):
        return exc
    if settings.server_mode or isinstance(exc, StoreError) or not failed(exc):
        return None
    if _CORRUPT.search(str(exc)):
        return IndexDamaged(STORE_FILE, f"is corrupt ({str(exc)[:160]})")
    path = settings.data_dir / STORE_FILE
    problem = _sqlite_problem(path) if path.exists() else None
    return IndexDamaged(STORE_FILE, problem) if problem else None


def _server_client(settings: Settings, chroma_settings: Any) -> Any:
    """An HttpClient whose every request is bounded in time: chromadb's own has no timeout (chroma #5805),
    so a frozen server would hang a question forever."""
    import chromadb
    import httpx

    url = f"http://{settings.chroma_host}:{settings.chroma_port}/api/v2/heartbeat"
    try:  # creating the client already talks to the server, without a timeout: probe first
        httpx.get(url, timeout=settings.chroma_timeout).raise_for_status()
    except httpx.HTTPError as exc:
        raise StoreError(
            f"cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port}: {exc}"
        ) from exc
    client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
    session = getattr(getattr(client, "_server", None), "_session", None)
    if session is not None:
        session.timeout = httpx.Timeout(settings.chroma_timeout)
    return client


def forget_embedded_clients() -> None:
    """Drop chromadb's per-process cache of embedded stores, so the next client sees what another process
    (a `rag ingest` next to the app) wrote; a cached one fails with "Error finding id" (chroma #3792)."""
    with _CLIENT_LOCK:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()


def collection_name(settings: Settings, kind: str = CHUNK) -> str:
    return settings.collection if kind == CHUNK else f"{settings.collection}-{kind}s"


def collection(settings: Settings, embed_identity: str, client: Any = None, kind: str = CHUNK) -> Any:
    """The chunk (or sentence) collection, created on first use; refuses a store built with another model."""
    client = client or chroma_client(settings)
    name = collection_name(settings, kind)
    try:
        coll = client.get_or_create_collection(
            name,
            embedding_function=None,  # vectors always come from our own model, never Chroma's downloader
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embed_model": embed_identity},
        )
    except BaseException as exc:
        if not failed(exc):
            raise
        raise damage_of(exc, settings) or StoreError(f"cannot open collection {name!r}: {exc}") from exc
    recorded = manifest.read_or_empty(settings.data_dir).vectors.get(name)
    if kind == CHUNK and not settings.server_mode and recorded and recorded != str(coll.id):
        raise IndexDamaged(STORE_FILE, f"was replaced: collection {name!r} is not the one the index was written into")
    stored = (coll.metadata or {}).get("embed_model")
    if stored and stored != embed_identity:
        raise StoreError(
            f"collection {name!r} was built with {stored}, but the configured model is "
            f"{embed_identity}; set RAG_COLLECTION to a new name or delete {settings.data_dir}"
        )
    return coll


@dataclass(frozen=True)
class Collections:
    """The two collections of one index, by record kind."""

    chunks: Any
    sentences: Any

    @classmethod
    def open(cls, settings: Settings, embed_identity: str) -> Collections:
        client = chroma_client(settings)
        return cls(*(collection(settings, embed_identity, client, kind) for kind in KINDS))

    def by_kind(self) -> dict[str, Any]:
        return {CHUNK: self.chunks, SENTENCE: self.sentences}

    def counts(self) -> dict[str, int]:
        """Records per kind."""
        return {kind: coll.count() for kind, coll in self.by_kind().items()}

    def recorded(self, settings: Settings) -> dict[str, str]:
        """What the manifest records of them: the embedded chunk collection's id (nothing of a server's)."""
        return {} if settings.server_mode else {collection_name(settings, CHUNK): str(self.chunks.id)}


def metadatas(coll: Any) -> dict[str, dict[str, Any]]:
    """Every record's metadata, by id, read in pages."""
    held = get_all(coll, include=["metadatas"])
    return {node_id: meta or {} for node_id, meta in zip(held["ids"], held["metadatas"], strict=True)}


def get_all(coll: Any, **kwargs: Any) -> dict[str, list[Any]]:
    """`coll.get(**kwargs)` for every matching record, read in pages."""
    out: dict[str, list[Any]] = {"ids": [], "metadatas": [], "documents": []}
    offset = 0
    while True:
        page = coll.get(limit=PAGE, offset=offset, **kwargs)
        for key in out:
            out[key].extend(page.get(key) or [])
        if len(page["ids"]) < PAGE:
            return out
        offset += PAGE
