"""The persisted lexical index: bm25s over every chunk, plus the chunk table it ranks.

Ingestion calls `BM25Index.build(chunks).save(root)` whenever the corpus changed; answering calls
`BM25Index.load(root)` once and `search` per query. A save writes a new version directory and then
swaps the `CURRENT` pointer atomically, so a reader (or a crash) never sees half an index. The chunk table
(ids, document ids, titles, offsets, text, sentence spans) doubles as the engine's in-memory view of the corpus.

Every file a save writes (and `CURRENT`) is listed in the manifest before `CURRENT` points at it
(store/manifest.py); `load(root, manifest)` checks each against it first, and turns any read error into
`IndexDamaged` naming the file, never a raw decoding error.

Not here: embeddings or fusion (rag/retrieve.py), or what a corpus version is (store/records.py).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import bm25s
import numpy as np

from store import manifest
from store.errors import IndexDamaged
from store.files import write_atomically
from store.manifest import Digest, Manifest
from store.records import ChunkRecord, corpus_version
from store.text import terms, word_terms, words

# The chunk table's file; its name carries the format, so a table an older version wrote (without sentence
# spans) is not read as this one: the index counts as outdated until the next ingest rebuilds it.
CHUNK_TABLE = "chunks.v2.json"
_VERSION_NAME = re.compile(r"[0-9A-Za-z_.-]+")
# What reading a damaged table or bm25s file raises: JSON and UTF-8 errors are ValueErrors, numpy's EOFError or
# ValueError, a missing file OSError, a record of the wrong shape TypeError/KeyError.
READ_ERRORS = (ValueError, EOFError, OSError, TypeError, KeyError, AttributeError, IndexError)


class BM25Index:
    def __init__(self, chunks: list[ChunkRecord], retriever: bm25s.BM25 | None, version: str):
        self.chunks = chunks
        self.version = version
        self._retriever = retriever
        self._row_of_doc: dict[str, list[int]] = {}
        for row, chunk in enumerate(chunks):
            self._row_of_doc.setdefault(chunk.doc_id, []).append(row)
        self.by_id = {chunk.id: chunk for chunk in chunks}

    @classmethod
    def build(cls, chunks: list[ChunkRecord]) -> BM25Index:
        chunks = sorted(chunks, key=lambda c: (c.doc_id, c.start))
        retriever = None
        if chunks:
            retriever = bm25s.BM25()
            # A chunk is indexed with its article title: headlines carry the topic words.
            retriever.index([terms(f"{c.title}\n{c.text}") or ["\x00"] for c in chunks], show_progress=False)
        return cls(chunks, retriever, corpus_version([c.id for c in chunks]))

    def save(self, root: Path) -> None:
        # Always written afresh (a folder of this version left by a killed run is not trusted).
        staging, target = root / f".{self.version}.tmp", root / self.version
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if self._retriever is not None:
            self._retriever.save(str(staging))
        # vars(), not dataclasses.asdict: the records are flat, and asdict's deep copy took 0.8 s at 10k chunks.
        (staging / CHUNK_TABLE).write_text(
            json.dumps([vars(c) for c in self.chunks], ensure_ascii=False), encoding="utf-8"
        )
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
        # Listed before CURRENT points at them, so that a reader never finds the live version unlisted.
        written = {rel: Digest.of_file(root.parent / rel) for rel in self.files(root, self.version)}
        manifest.expect(root.parent, {**written, self.pointer(root): Digest.of(self.version.encode())})
        write_atomically(root / "CURRENT", self.version)
        for old in root.iterdir():  # older versions are garbage once CURRENT points past them
            if old.is_dir() and old.name != self.version:
                shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def current_version(root: Path) -> str | None:
        """The live version's name; None before the first save, or if CURRENT is unreadable (then `load` says so)."""
        try:
            name = (root / "CURRENT").read_bytes().decode("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return name if _VERSION_NAME.fullmatch(name) else None

    @staticmethod
    def pointer(root: Path) -> str:
        """CURRENT's path relative to the data dir, as the manifest lists it."""
        return f"{root.name}/CURRENT"

    @staticmethod
    def files(root: Path, version: str) -> list[str]:
        """The files of a saved version, relative to the data dir (as the manifest lists them)."""
        folder = root / version
        if not folder.is_dir():
            return []
        return sorted(f"{root.name}/{version}/{p.name}" for p in folder.iterdir() if p.is_file())

    @classmethod
    def is_saved(cls, root: Path, version: str) -> bool:
        """True when `version` is the live one and its chunk table is in this format."""
        return cls.current_version(root) == version and (root / version / CHUNK_TABLE).exists()

    @classmethod
    def is_outdated(cls, root: Path) -> bool:
        """True when the live version was written in an older format (no chunk table of this one)."""
        version = cls.current_version(root)
        return version is not None and not (root / version / CHUNK_TABLE).exists()

    @classmethod
    def check(cls, root: Path, recorded: Manifest) -> tuple[str, str] | None:
        """(file, what is wrong) for the first of CURRENT and the live version's files that does not match the
        manifest (size and checksum), or None. A live version the manifest does not list is damaged too."""
        pointer = cls.pointer(root)
        if problem := recorded.problem(pointer, root / "CURRENT"):
            return pointer, problem
        version = cls.current_version(root)
        if version is None:
            return (pointer, "is unreadable") if (root / "CURRENT").exists() else None
        listed = recorded.under(f"{root.name}/{version}/")
        if not listed:
            return f"{root.name}/{version}/", "is not the version the last ingest wrote"
        for rel in listed:
            if problem := recorded.problem(rel, root.parent / rel):
                return rel, problem
        return None

    @classmethod
    def load(cls, root: Path, recorded: Manifest | None = None) -> BM25Index | None:
        """The live version (None before the first save, or for a table in an older format), its files first
        checked against `recorded` if given; raises IndexDamaged for a damaged or missing file."""
        if recorded is not None and (damage := cls.check(root, recorded)):
            raise IndexDamaged(*damage)
        version = cls.current_version(root)
        if version is None:
            if (root / "CURRENT").exists():  # a save always writes a version name there
                raise IndexDamaged(cls.pointer(root), "is unreadable")
            return None
        table = root / version / CHUNK_TABLE
        if not table.exists():
            return None
        where = f"{root.name}/{version}/{CHUNK_TABLE}"
        try:
            chunks = _read_table(table)
            where = f"{root.name}/{version}/ (the bm25s index)"
            retriever = bm25s.BM25.load(str(root / version)) if chunks else None
        except READ_ERRORS as exc:
            raise IndexDamaged(where, f"cannot be read ({type(exc).__name__}: {str(exc)[:120]})") from exc
        return cls(chunks, retriever, version)

    @classmethod
    def saved_chunks(cls, root: Path) -> list[ChunkRecord]:
        """The live version's chunk table without its bm25s index, unchecked ([] if there is none or it cannot be
        read): what an ingest may reuse for documents that did not change, after checking them itself."""
        version = cls.current_version(root)
        try:
            return _read_table(root / version / CHUNK_TABLE) if version else []
        except READ_ERRORS:
            return []

    def document_frequencies(self) -> dict[str, int]:
        """Number of chunks each indexed term occurs in (read off the sparse score matrix, one column a term)."""
        if self._retriever is None:
            return {}
        counts = np.diff(self._retriever.scores["indptr"])
        # bm25s also lists an empty placeholder token that has no column.
        return {term: int(counts[col]) for term, col in self._retriever.vocab_dict.items() if col < len(counts)}

    def known_share(self, query: str) -> float:
        """Share of the query's content words the corpus vocabulary knows (0 for a question in another script).

        Fusion weighs BM25 by it: a Russian question over English articles matches only a transliterated name
        or two, and those lexical hits are noise next to the cross-lingual dense ranking.
        """
        if self._retriever is None:
            return 0.0
        vocab = self._retriever.vocab_dict
        per_word = [term_list for word in words(query) if (term_list := word_terms(word))]
        if not per_word:
            return 0.0
        return sum(any(t in vocab for t in ts) for ts in per_word) / len(per_word)

    def chunk_ids(self, doc_ids: list[str]) -> list[str]:
        """Ids of the chunks of these documents."""
        return [self.chunks[row].id for doc_id in doc_ids for row in self._row_of_doc.get(doc_id, [])]

    def search(self, query: str, k: int, doc_ids: list[str] | None = None) -> list[tuple[ChunkRecord, float]]:
        """Top-k chunks by BM25 score (only those with a positive score), optionally within `doc_ids`."""
        query_terms = [t for t in terms(query) if t in self._retriever.vocab_dict] if self._retriever else []
        if not query_terms:
            return []
        mask = None
        if doc_ids is not None:
            mask = np.zeros(len(self.chunks), dtype=np.float32)
            for doc_id in doc_ids:
                mask[self._row_of_doc.get(doc_id, [])] = 1.0
            if not mask.any():
                return []
        k = min(k, len(self.chunks))
        rows, scores = self._retriever.retrieve(
            [query_terms], k=k, show_progress=False, weight_mask=mask, n_threads=1
        )
        return [(self.chunks[r], float(s)) for r, s in zip(rows[0], scores[0], strict=True) if s > 0]


def _read_table(path: Path) -> list[ChunkRecord]:
    return [ChunkRecord(**{**r, "sentences": tuple(map(tuple, r["sentences"]))}) for r in json.loads(path.read_bytes())]
