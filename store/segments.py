"""The lexical index on disk: segments of chunks, each written once, and the layout that says which are live.

    bm25/s-<hash>/chunks.v2.json   a segment's chunk table (ids, document ids, titles, offsets, text, sentences)
    bm25/s-<hash>/postings.npz     its term postings (store/postings.py)
    bm25/v<N>-<hash>.json          a layout: the live segments in order, the documents each holds (with their
                                   chunk counts) and those dropped from it since (updated or removed)
    bm25/CURRENT                   the live layout's name, swapped atomically

An ingest that adds or changes a few articles writes one small segment for their chunks and a new layout that
drops their old chunks from older segments (`write`); nothing else is read or written, so adding one article
costs the same at 100k chunks as at 1k. Segments are merged, reading their postings without tokenising again,
when the newest is at least half the size of the one before it (so there are about log2(chunks) of them) or
when more than half of a segment's chunks were dropped. A folder is written under a temporary name and renamed,
and a new layout is listed in the manifest before CURRENT points at it, so a reader (or a crash) never sees half
an index; segments and layouts that the live layout does not name are deleted after the swap.

Not here: scoring (store/postings.py), searching and the in-memory view (store/bm25.py), the manifest's format
(store/manifest.py).
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from store import manifest, text
from store.errors import IndexDamaged
from store.files import write_atomically
from store.manifest import Digest, Manifest
from store.postings import Postings
from store.records import ChunkRecord, corpus_version
from store.text import terms

# Each file's name carries its format, so files an older version wrote are not read as these.
CHUNK_TABLE = "chunks.v2.json"
POSTINGS = "postings.npz"
SEGMENT_FILES = (CHUNK_TABLE, POSTINGS)
_NAME = re.compile(r"[0-9A-Za-z_.-]+")
# A segment is merged into the one before it when that one holds at most this many times its live chunks.
MERGE_RATIO = 2
# What reading a damaged file raises: JSON and UTF-8 errors are ValueErrors, numpy's EOFError or ValueError,
# a damaged .npz zipfile's BadZipFile, a missing file OSError, a record of the wrong shape TypeError/KeyError.
READ_ERRORS = (ValueError, EOFError, zipfile.BadZipFile, OSError, TypeError, KeyError, AttributeError, IndexError)


@dataclass(frozen=True)
class SegmentEntry:
    """A segment as a layout lists it."""

    name: str
    documents: dict[str, int]  # document id → its chunks in the segment
    dropped: frozenset[str] = frozenset()  # documents whose chunks here are dead

    @property
    def live_documents(self) -> set[str]:
        return set(self.documents) - self.dropped

    @property
    def live_chunks(self) -> int:
        return sum(n for doc_id, n in self.documents.items() if doc_id not in self.dropped)

    @property
    def dead_chunks(self) -> int:
        return sum(self.documents.values()) - self.live_chunks


@dataclass(frozen=True)
class Layout:
    segments: tuple[SegmentEntry, ...] = ()

    @property
    def name(self) -> str:
        return f"{layout_prefix()}{corpus_version([self.to_json()])}"

    def documents(self) -> set[str]:
        """The documents with live chunks."""
        return {doc_id for entry in self.segments for doc_id in entry.live_documents}

    def without(self, doc_ids: set[str]) -> Layout:
        return Layout(tuple(SegmentEntry(e.name, e.documents, e.dropped | (doc_ids & set(e.documents)))
                            for e in self.segments))

    def to_json(self) -> str:
        return json.dumps({"segments": [{"name": e.name, "documents": e.documents, "dropped": sorted(e.dropped)}
                                        for e in self.segments]}, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, data: bytes) -> Layout:
        raw = json.loads(data)
        entries = tuple(SegmentEntry(str(e["name"]), {str(k): int(v) for k, v in e["documents"].items()},
                                     frozenset(map(str, e["dropped"]))) for e in raw["segments"])
        if not all(_NAME.fullmatch(e.name) for e in entries):
            raise ValueError("a segment name is not a plain file name")
        return cls(entries)


@dataclass(frozen=True, eq=False)
class Segment:
    """A segment's chunks (sorted by document and offset) and their postings."""

    entry: SegmentEntry
    chunks: list[ChunkRecord]
    postings: Postings

    @cached_property
    def alive(self) -> np.ndarray:
        return np.fromiter((c.doc_id not in self.entry.dropped for c in self.chunks), dtype=bool,
                           count=len(self.chunks))

    @classmethod
    def of(cls, name: str, chunks: Sequence[ChunkRecord]) -> Segment:
        """A new segment: its chunks tokenised (each with its article's title: headlines carry the topic)."""
        chunks = sorted(chunks, key=lambda c: (c.doc_id, c.start))
        postings = Postings.of([terms(f"{c.title}\n{c.text}") or ["\x00"] for c in chunks])
        return cls(SegmentEntry(name, _count_by_document(chunks)), chunks, postings)

    @classmethod
    def merged(cls, name: str, parts: Sequence[Segment]) -> Segment:
        """One segment of the parts' live chunks, from their postings (no tokenising)."""
        chunks = [c for part in parts for c, alive in zip(part.chunks, part.alive, strict=True) if alive]
        postings = Postings.concat([p.postings for p in parts], [p.alive for p in parts])
        return cls(SegmentEntry(name, _count_by_document(chunks)), chunks, postings)

    def save(self, root: Path) -> dict[str, Digest]:
        """Write the segment's folder; returns the digest of each file, by its path relative to the data dir."""
        staging, target = root / f".{self.entry.name}.tmp", root / self.entry.name
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        contents = {
            # vars(), not dataclasses.asdict: the records are flat, and asdict's deep copy took 0.8 s at 10k chunks.
            CHUNK_TABLE: json.dumps([vars(c) for c in self.chunks], ensure_ascii=False).encode("utf-8"),
            POSTINGS: self.postings.to_bytes(),
        }
        for name, data in contents.items():
            (staging / name).write_bytes(data)
        staging.rename(target)
        return {f"{root.name}/{self.entry.name}/{name}": Digest.of(data) for name, data in contents.items()}

    @classmethod
    def load(cls, root: Path, entry: SegmentEntry) -> Segment:
        """Raises IndexDamaged naming the file that cannot be read."""
        folder = root / entry.name
        where = f"{root.name}/{entry.name}/{CHUNK_TABLE}"
        try:
            chunks = read_table(folder / CHUNK_TABLE)
            where = f"{root.name}/{entry.name}/{POSTINGS}"
            postings = Postings.from_bytes((folder / POSTINGS).read_bytes())
            if len(postings.lengths) != len(chunks):
                raise ValueError(f"{len(postings.lengths)} rows for {len(chunks)} chunks")
        except READ_ERRORS as exc:
            raise IndexDamaged(where, f"cannot be read ({type(exc).__name__}: {str(exc)[:120]})") from exc
        return cls(entry, chunks, postings)


def read_table(path: Path) -> list[ChunkRecord]:
    return [ChunkRecord(**{**r, "sentences": tuple(map(tuple, r["sentences"]))}) for r in json.loads(path.read_bytes())]


def _count_by_document(chunks: Iterable[ChunkRecord]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in chunks:
        out[chunk.doc_id] = out.get(chunk.doc_id, 0) + 1
    return out


def current_name(root: Path) -> str | None:
    """The live layout's name; None before the first write, or if CURRENT is unreadable (`read` says so)."""
    try:
        name = (root / "CURRENT").read_bytes().decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if _NAME.fullmatch(name) else None


def pointer(root: Path) -> str:
    """CURRENT's path relative to the data dir, as the manifest lists it."""
    return f"{root.name}/CURRENT"


def layout_rel(root: Path, name: str) -> str:
    return f"{root.name}/{name}.json"


def layout_prefix() -> str:
    """How a layout's name starts: with the version of the tokeniser its segments were indexed with, so that an
    index tokenised another way counts as older and is indexed again (`store.text.TERMS_VERSION`)."""
    return f"v{text.TERMS_VERSION}-"


def is_older_format(root: Path) -> bool:
    """CURRENT names something other than a layout of this version: the single folder of earlier releases, or a
    layout whose segments were tokenised by another version of `terms`."""
    name = current_name(root)
    return name is not None and not name.startswith(layout_prefix())


def read_layout(root: Path, name: str) -> Layout:
    """Raises IndexDamaged if the layout cannot be read."""
    try:
        return Layout.from_json((root / f"{name}.json").read_bytes())
    except READ_ERRORS as exc:
        raise IndexDamaged(layout_rel(root, name), f"cannot be read ({type(exc).__name__})") from exc


def live_layout(root: Path) -> Layout:
    """The live layout for an ingest to build on: an empty one when there is none, or it is in an older format
    or unreadable (then everything is indexed again)."""
    name = current_name(root)
    if name is None or is_older_format(root):
        return Layout()
    try:
        return read_layout(root, name)
    except IndexDamaged:
        return Layout()


def files(root: Path, name: str) -> list[str]:
    """The files of a written layout, itself first, relative to the data dir (as the manifest lists them)."""
    try:
        layout = Layout.from_json((root / f"{name}.json").read_bytes())
    except READ_ERRORS:
        return []
    return [layout_rel(root, name), *(f"{root.name}/{e.name}/{f}" for e in layout.segments for f in SEGMENT_FILES)]


def check(root: Path, recorded: Manifest) -> tuple[str, str] | None:
    """(file, what is wrong) for the first of CURRENT, the live layout and its segments' files that does not match
    the manifest (size and checksum), or None. A live layout the manifest does not list is damaged too."""
    where = pointer(root)
    if problem := recorded.problem(where, root / "CURRENT"):
        return where, problem
    name = current_name(root)
    if name is None:
        return (where, "is unreadable") if (root / "CURRENT").exists() else None
    rel = layout_rel(root, name)
    if rel not in recorded.files:
        return rel, "is not the version the last ingest wrote"
    if problem := recorded.problem(rel, root / f"{name}.json"):
        return rel, problem
    for rel in files(root, name)[1:]:
        if problem := recorded.problem(rel, root.parent / rel):
            return rel, problem
    return None


def read(root: Path) -> tuple[str, list[Segment]] | None:
    """The live layout's name and segments (None before the first write, or in an older format); raises
    IndexDamaged for a file that is missing or cannot be read."""
    name = current_name(root)
    if name is None:
        if (root / "CURRENT").exists():  # a write always puts a layout's name there
            raise IndexDamaged(pointer(root), "is unreadable")
        return None
    if is_older_format(root):
        return None
    layout = read_layout(root, name)
    return name, [Segment.load(root, entry) for entry in layout.segments]


def write(root: Path, base: Layout, added: Sequence[ChunkRecord]) -> Layout:
    """Make `base` plus a segment of the `added` chunks the live layout, merging segments as the module says;
    returns it. Nothing is written when it is already live."""
    fresh: dict[str, Segment] = {}  # segments written by this call, by name
    entries = [e for e in base.segments if e.live_chunks]
    if added:
        segment = Segment.of(_new_name(root, added, fresh), added)
        fresh[segment.entry.name] = segment
        entries.append(segment.entry)
    entries = _compacted(root, entries, fresh)
    layout = Layout(tuple(entries))
    if current_name(root) == layout.name and (root / f"{layout.name}.json").exists():
        return layout
    root.mkdir(parents=True, exist_ok=True)
    written: dict[str, Digest] = {}
    for entry in entries:
        if entry.name in fresh:  # segments made and merged away in this call are never written
            written.update(fresh[entry.name].save(root))
    data = layout.to_json().encode()
    # Listed before CURRENT points at them, so that a reader never finds the live layout unlisted.
    manifest.expect(root.parent, {**written, layout_rel(root, layout.name): Digest.of(data),
                                  pointer(root): Digest.of(layout.name.encode())})
    write_atomically(root / f"{layout.name}.json", data)
    write_atomically(root / "CURRENT", layout.name)
    keep = {"CURRENT", f"{layout.name}.json", *(e.name for e in entries)}
    for old in root.iterdir():  # everything else is garbage once CURRENT points past it
        if old.name not in keep:
            shutil.rmtree(old) if old.is_dir() else old.unlink(missing_ok=True)
    return layout


def _compacted(root: Path, entries: list[SegmentEntry], fresh: dict[str, Segment]) -> list[SegmentEntry]:
    """Segments merged: one mostly dead is rewritten, and the newest goes into the one before it while that one
    holds at most MERGE_RATIO times its live chunks."""
    def load(entry: SegmentEntry) -> Segment:
        return fresh[entry.name] if entry.name in fresh else Segment.load(root, entry)

    def merge(parts: list[SegmentEntry]) -> SegmentEntry:
        loaded = [load(p) for p in parts]
        live = [c for s in loaded for c, alive in zip(s.chunks, s.alive, strict=True) if alive]
        segment = Segment.merged(_new_name(root, live, fresh), loaded)
        fresh[segment.entry.name] = segment
        return segment.entry

    entries = [merge([e]) if e.dead_chunks > e.live_chunks else e for e in entries]
    while len(entries) >= 2 and entries[-2].live_chunks <= MERGE_RATIO * entries[-1].live_chunks:
        entries[-2:] = [merge(entries[-2:])]
    return entries


def _new_name(root: Path, chunks: Sequence[ChunkRecord], taken: dict[str, Segment]) -> str:
    """A name no folder has: segments are never written over, as a reader may be reading one."""
    base = f"s-{corpus_version([c.id for c in chunks])}"
    name, counter = base, 1
    while (root / name).exists() or name in taken:
        counter += 1
        name = f"{base}-{counter}"
    return name
