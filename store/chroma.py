"""The two Chroma collections of an index: chunks (what retrieval searches) and sentences (what answering ranks
sentences with), in the embedded `PersistentClient` or on a Chroma server (`HttpClient`).

They are apart because a `where` filter makes every Chroma query scan metadata first: with both in one
collection and a `kind` filter, a query at 100k chunks took 440 ms, against 1.3 ms on a collection of the
chunks alone. Every collection records the embedding model it was built with and refuses another.

Not here: which records go in (ingest/index.py) or how they are ranked (rag/retrieve.py).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from store.errors import StoreError
from store.files import chroma_path
from store.settings import Settings

# Chroma's anonymised telemetry phones home; off before chromadb is imported anywhere.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# chromadb refuses writes above its max batch (5,461 records in 1.5) and SQLite refuses reads that match more
# than 32,766 ids: both are hit at about a hundred articles, so writes and full reads go in pages.
PAGE = 5000
CHUNK, SENTENCE = "chunk", "sentence"
KINDS = (CHUNK, SENTENCE)


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
        chroma_path(settings).mkdir(parents=True, exist_ok=True)
        with _CLIENT_LOCK:
            return chromadb.PersistentClient(path=str(chroma_path(settings)), settings=chroma_settings)
    except StoreError:
        raise
    except Exception as exc:  # chromadb raises bare ValueError/Exception for an unreachable server
        where = f"{settings.chroma_host}:{settings.chroma_port}" if settings.server_mode else settings.data_dir
        raise StoreError(f"cannot open the Chroma store at {where}: {exc}") from exc


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
    except Exception as exc:
        raise StoreError(f"cannot open collection {name!r}: {exc}") from exc
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
