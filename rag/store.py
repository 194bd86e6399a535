"""Where the index lives: two Chroma collections and the files under `RAG_DATA_DIR`.

Ingestion writes these, answering reads them; both go through this module so that paths and the
Chroma client set-up (embedded `PersistentClient` or a server through `HttpClient`) are decided once.

Collections: `RAG_COLLECTION` holds the chunks (what retrieval searches) and `RAG_COLLECTION-sentences` the
sentence vectors (what answering ranks sentences with). They are apart because a `where` filter makes
every Chroma query scan metadata first: with both in one collection and a `kind` filter, a query at 100k
chunks took 440 ms, against 1.3 ms on a collection of the chunks alone.

Layout of `RAG_DATA_DIR`:
    chroma/           the embedded Chroma store (unused in server mode)
    docstore.json     llama-index docstore: cleaned text + content hash per document (ingest state)
    bm25/<version>/   the persisted bm25s index of every chunk, plus chunks.json (ids, offsets, metadata)
    bm25/CURRENT      name of the live version, swapped atomically after a rebuild
    ingest.lock       held while an ingest runs

Not here: any embedding, chunking or ranking logic.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import UserFacingError
from rag.settings import Settings

# Chroma's anonymised telemetry phones home; off before chromadb is imported anywhere.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


class StoreError(UserFacingError):
    """The vector store cannot be reached or does not match the configured embedding model."""


def docstore_path(settings: Settings) -> Path:
    return settings.data_dir / "docstore.json"


def bm25_root(settings: Settings) -> Path:
    return settings.data_dir / "bm25"


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
        (settings.data_dir / "chroma").mkdir(parents=True, exist_ok=True)
        with _CLIENT_LOCK:
            return chromadb.PersistentClient(path=str(settings.data_dir / "chroma"), settings=chroma_settings)
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


CHUNKS, SENTENCES = "chunks", "sentences"
PARTS = (CHUNKS, SENTENCES)


def collection_name(settings: Settings, part: str = CHUNKS) -> str:
    return settings.collection if part == CHUNKS else f"{settings.collection}-{part}"


def collection(settings: Settings, embed_identity: str, client: Any = None, part: str = CHUNKS) -> Any:
    """The chunk (or sentence) collection, created on first use; refuses a store built with another model."""
    client = client or chroma_client(settings)
    name = collection_name(settings, part)
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


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write a file so that a crash at any point leaves either the old or the new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


@contextlib.contextmanager
def ingest_lock(settings: Settings, wait: bool = True) -> Iterator[None]:
    """One ingest at a time per data dir. With `wait=False`, raise at once if another ingest runs."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "ingest.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as exc:
            raise StoreError(f"another ingest is running on {settings.data_dir}") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
