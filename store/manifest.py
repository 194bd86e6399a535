"""The manifest, `manifest.json` under RAG_DATA_DIR: the size and SHA-256 of every file the product writes there
(the docstore's index and shards, bm25/CURRENT, the live layout bm25/v<N>-<hash>.json and its segments' files),
plus the id of the embedded Chroma chunk collection the index was written into.

How it is written, so that it never vouches for less than what is on disk:
- `expect()` before a file is replaced: the new digest is accepted next to the current one (a few at most), so a
  reader between the two writes, or a run killed between them, still finds the file on disk accepted (a file
  that did not exist yet is accepted as absent, too: a first ingest killed early is not damage).
- `publish()` at the end of every ingest, last, rewrites it from the files on disk: each with one digest.
Each write is atomic (store/files.py), and only an ingest writes it, under the ingest lock.

Checking a file against it (`Manifest.problem`) compares the size and, from the bytes, the checksum; what is
checked when is store/integrity.py's business. A file the manifest does not list is not checked here.

Not here: what the files hold (store/bm25.py, store/docstore.py), Chroma's own files (chromadb writes them; only
their presence and the collection id are recorded).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.errors import IndexDamaged
from store.files import write_atomically

MANIFEST = "manifest.json"
FORMAT = 1
ACCEPTED = 3  # digests kept per file while writes are in flight: the file on disk is always one of the last two


@dataclass(frozen=True)
class Digest:
    size: int
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls(len(data), hashlib.sha256(data).hexdigest())

    @classmethod
    def of_file(cls, path: Path) -> Digest:
        sha, size = hashlib.sha256(), 0
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                sha.update(block)
                size += len(block)
        return cls(size, sha.hexdigest())


ABSENT = Digest(-1, "")  # accepted while a file that did not exist is being written for the first time


@dataclass(frozen=True)
class Manifest:
    files: dict[str, tuple[Digest, ...]] = field(default_factory=dict)  # path relative to the data dir → accepted
    vectors: dict[str, str] = field(default_factory=dict)  # embedded Chroma: chunk collection name → its id
    # Vector records per kind as the last finished ingest left them; {} while an ingest writes (`begin`), so the
    # next ingest knows whether it must reconcile the vector store with the docstore (ingest/repair.py).
    records: dict[str, int] = field(default_factory=dict)

    def under(self, prefix: str) -> list[str]:
        return sorted(rel for rel in self.files if rel.startswith(prefix))

    def problem(self, rel: str, path: Path, data: bytes | None = None) -> str | None:
        """What is wrong with the file at `path` (listed as `rel`), or None if it is as written or not listed.
        With `data` (the bytes just read from it), those are checked instead of reading the file again."""
        accepted = self.files.get(rel)
        if accepted is None:
            return None
        if data is None:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                return None if ABSENT in accepted else "is missing"
        else:
            size = len(data)
        sizes = sorted({d.size for d in accepted if d != ABSENT})
        if size not in sizes:
            if size == 0:
                return f"is empty (0 bytes, {sizes[-1]} expected)"
            return f"is {'truncated' if size < sizes[0] else 'the wrong size'} ({size} bytes, {sizes[-1]} expected)"
        digest = Digest.of(data) if data is not None else Digest.of_file(path)
        return None if digest in accepted else "is corrupt (its checksum does not match)"

    def to_json(self) -> str:
        files = {rel: [vars(d) for d in accepted] for rel, accepted in sorted(self.files.items())}
        return json.dumps({"format": FORMAT, "files": files, "vectors": self.vectors, "records": self.records},
                          indent=1)

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw: dict[str, Any] = json.loads(data)
        files = {rel: tuple(Digest(int(d["size"]), str(d["sha256"])) for d in accepted)
                 for rel, accepted in raw["files"].items()}
        return cls(files, {str(k): str(v) for k, v in raw.get("vectors", {}).items()},
                   {str(k): int(v) for k, v in raw.get("records", {}).items()})


def manifest_path(data_dir: Path) -> Path:
    return data_dir / MANIFEST


def read(data_dir: Path) -> Manifest | None:
    """The manifest (None for an index written before there was one); an unreadable one is IndexDamaged."""
    try:
        data = manifest_path(data_dir).read_bytes()
    except FileNotFoundError:
        return None
    try:
        return Manifest.from_json(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexDamaged(MANIFEST, f"cannot be read ({type(exc).__name__})") from exc


def read_or_empty(data_dir: Path) -> Manifest:
    """The manifest, or an empty one if there is none or it is unreadable (for writers, which replace it)."""
    try:
        return read(data_dir) or Manifest()
    except IndexDamaged:  # the writer replaces a damaged manifest; publish() makes it whole again
        return Manifest()


def expect(data_dir: Path, digests: dict[str, Digest]) -> None:
    """Accept these digests for these files next to the current ones: call it before writing the files."""
    current = read_or_empty(data_dir)
    files = dict(current.files)
    for rel, digest in digests.items():
        kept = tuple(d for d in files.get(rel, ()) if d != digest)
        if not kept and not (data_dir / rel).exists():
            kept = (ABSENT,)
        files[rel] = (*kept, digest)[-ACCEPTED:]
    write_atomically(manifest_path(data_dir), Manifest(files, current.vectors, current.records).to_json())


def record_vectors(data_dir: Path, vectors: dict[str, str]) -> None:
    """Record exactly these embedded chunk collections (name → id); {} once the store they were in is gone."""
    current = read_or_empty(data_dir)
    if vectors != current.vectors:
        write_atomically(manifest_path(data_dir), Manifest(current.files, vectors, current.records).to_json())


def begin(data_dir: Path) -> None:
    """Record that an ingest is about to write: until `publish`, the vector record counts are unknown."""
    current = read_or_empty(data_dir)
    if current.records:
        write_atomically(manifest_path(data_dir), Manifest(current.files, current.vectors).to_json())


def publish(data_dir: Path, rels: list[str], vectors: dict[str, str], records: dict[str, int]) -> Manifest:
    """Rewrite the manifest from the files on disk: exactly `rels` (those that exist), one digest each, these
    chunk collections next to those recorded before (other collection names in the same store), and the vector
    record counts per kind."""
    files = {rel: (Digest.of_file(data_dir / rel),) for rel in rels if (data_dir / rel).is_file()}
    manifest = Manifest(files, {**read_or_empty(data_dir).vectors, **vectors}, records)
    write_atomically(manifest_path(data_dir), manifest.to_json())
    return manifest
