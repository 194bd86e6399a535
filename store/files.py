"""The files of an index under `RAG_DATA_DIR`, and how they are written: atomically, one ingest at a time.

Layout of `RAG_DATA_DIR`:
    chroma/           the embedded Chroma store (unused in server mode; see store/chroma.py)
    docstore/         llama-index docstore: cleaned text, metadata and content hash per document, in shards
                      named by an index.json (store/docstore.py)
    bm25/s-<hash>/    a segment of the lexical index: chunks.v2.json (the chunk table) and postings.npz
    bm25/v<N>-<hash>.json  a layout: which segments are live, tokenised by version N of terms (store/segments.py)
    bm25/CURRENT      name of the live layout, swapped atomically after an ingest
    file_stats.json   what each corpus file was like when last read (`file_stats_path`)
    manifest.json     size and SHA-256 of each file above that the product writes (store/manifest.py), written
                      last by every ingest; what is checked against it when is store/integrity.py's business
    ingest.lock       held while an ingest runs
    *.damaged-<time>  a damaged docstore or Chroma store that an ingest moved aside before rebuilding it: kept
                      for inspection, never read again; delete it when you like

Not here: what goes into those files (store/docstore.py, store/bm25.py, store/manifest.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from store.errors import StoreError
from store.settings import Settings


def docstore_root(settings: Settings) -> Path:
    return settings.data_dir / "docstore"


def bm25_root(settings: Settings) -> Path:
    return settings.data_dir / "bm25"


def file_stats_path(settings: Settings) -> Path:
    """Size and modification time of each corpus file when it was last read, with its document's id and hash:
    an ingest does not read a file again while they match. A cache: losing it only costs reading every file."""
    return settings.data_dir / "file_stats.json"


def chroma_path(settings: Settings) -> Path:
    return settings.data_dir / "chroma"


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
