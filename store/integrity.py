"""Index integrity: every file the product writes under RAG_DATA_DIR is checked against the manifest
(store/manifest.py) when it is opened, and a damaged or missing one is `IndexDamaged`, naming the file and
`rag ingest`, which rebuilds it (ingest/index.py).

What is checked when:
- Answering (`store.corpus.load_corpus`, through `consistent_read`), each time it loads a published version:
  bm25/CURRENT, the live layout and its segments' files, and the docstore's index and shards, by size and
  SHA-256, then by parsing.
  Checksums are cheap next to the loading they guard (measured on 2 cores, 100k chunks: 0.11-0.14 s for the
  126 MB BM25 folder against 1.9-2.6 s to load it; 0.1 s to hash the 103 MB docstore whose bytes are parsed in
  0.3 s; ~10% in all), so nothing is left to sizes alone. The seed corpus' take 0.3 ms against 1.5 ms of loading.
- The embedded Chroma store when it is opened (store/chroma.py): present and non-empty if the manifest records
  vectors, and holding the chunk collection the manifest records; a failure that says (or, asked after the
  failure, SQLite's quick_check says) the database is corrupt is damage. Its files are chromadb's and change
  with every write, so they have no checksum; its HNSW segment files are not checked at all.
- `rag ingest`, before it writes anything: all of the above, plus SQLite's quick_check of chroma.sqlite3 on
  every run (~0.6 s per GB; the store is ~1.8 GB at 100k chunks). A damaged part is rebuilt from what is intact.
An index written before the manifest existed has only the parse checks; it counts as outdated, so the app's
start-up ingest writes the manifest.

A reader runs next to an ingest in another process: the writer accepts a file's new digest in the manifest
before replacing it, and `consistent_read` reads again when the manifest or CURRENT changed while it read, so
a reader never reports a file that was being replaced as damaged.

Not here: the digests (store/manifest.py), the repairs themselves (ingest/index.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from store import docstore, manifest
from store.bm25 import BM25Index
from store.errors import IndexDamaged
from store.files import bm25_root
from store.manifest import Manifest
from store.settings import Settings

T = TypeVar("T")
READ_ATTEMPTS = 5


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


def published_token(settings: Settings) -> tuple[object, ...]:
    """Changes whenever an ingest writes the manifest or moves CURRENT (both are replaced atomically)."""
    return _stat(manifest.manifest_path(settings.data_dir)), _stat(bm25_root(settings) / "CURRENT")


def consistent_read(settings: Settings, read: Callable[[Manifest | None], T]) -> T:
    """`read(manifest)`; read again if it found damage while an ingest was publishing (the manifest or CURRENT
    changed meanwhile), so damage is only reported when nothing moved while it was found."""
    for attempt in range(READ_ATTEMPTS):
        before = published_token(settings)
        try:
            return read(manifest.read(settings.data_dir))
        except IndexDamaged:
            if attempt + 1 == READ_ATTEMPTS or published_token(settings) == before:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def bm25_damage(settings: Settings, recorded: Manifest | None) -> IndexDamaged | None:
    """What is damaged in the live BM25 version, or None: against the manifest if there is one, else by loading it."""
    root = bm25_root(settings)
    if recorded is not None:
        found = BM25Index.check(root, recorded)
        return IndexDamaged(*found) if found else None
    try:
        BM25Index.load(root)
    except IndexDamaged as exc:
        return exc
    return None


def move_aside(path: Path) -> Path:
    """Rename a damaged file or folder to `<name>.damaged-<time><suffix>` next to it (never deleted)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    stem, suffix = (path.stem, path.suffix) if path.is_file() else (path.name, "")
    target = path.with_name(f"{stem}.damaged-{stamp}{suffix}")
    counter = 1
    while target.exists():
        counter += 1
        target = path.with_name(f"{stem}.damaged-{stamp}-{counter}{suffix}")
    path.rename(target)
    return target


def publish(settings: Settings, vectors: dict[str, str], records: dict[str, int]) -> Manifest:
    """Write the manifest last in an ingest: the live docstore's files, CURRENT and the live BM25 version's files
    as they are on disk now, `vectors` (embedded chunk collection name → id; {} in server mode) and `records` (vector
    records per kind)."""
    root = bm25_root(settings)
    version = BM25Index.current_version(root)
    rels = [*docstore.files(settings), BM25Index.pointer(root), *(BM25Index.files(root, version) if version else [])]
    return manifest.publish(settings.data_dir, rels, vectors, records)
