"""The lexical index as answering sees it: every live chunk, BM25 search over them, and the vocabulary.

Ingestion writes it segment by segment (store/segments.py); answering calls `BM25Index.load(root)` once per
published version and `search` per query. Scores come from the segments' term postings at query time
(store/postings.py), with IDF and average length over every live chunk, so they do not depend on how the chunks
were split into segments. The chunk table (ids, document ids, titles, offsets, text, sentence spans) doubles as
the engine's in-memory view of the corpus.

Each file is checked against the manifest (store/manifest.py) before it is read: `load(root, manifest)` turns
any damage or read error into `IndexDamaged` naming the file, never a raw decoding error.

Not here: embeddings or fusion (rag/retrieve.py), or what a corpus version is (store/records.py).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from store import postings, segments
from store.errors import IndexDamaged
from store.manifest import Manifest
from store.records import ChunkRecord
from store.segments import Segment
from store.text import terms, word_terms, words


class BM25Index:
    def __init__(self, parts: list[Segment], version: str):
        self.version = version
        self._segments = [(part.postings, part.alive) for part in parts]
        self._rows = [chunk for part in parts for chunk in part.chunks]  # live or not: what scores index
        alive = np.concatenate([part.alive for part in parts]) if parts else np.zeros(0, dtype=bool)
        self._live_rows = np.flatnonzero(alive)
        self.chunks = [self._rows[row] for row in self._live_rows]
        self._row_of_doc: dict[str, list[int]] = {}
        for row in self._live_rows:
            self._row_of_doc.setdefault(self._rows[row].doc_id, []).append(int(row))
        self.by_id = {chunk.id: chunk for chunk in self.chunks}

    @classmethod
    def build(cls, chunks: list[ChunkRecord]) -> BM25Index:
        """An index of these chunks held in memory only (ingestion writes segments instead)."""
        parts = [Segment.of("memory", chunks)] if chunks else []
        return cls(parts, segments.Layout(tuple(p.entry for p in parts)).name)

    @staticmethod
    def current_version(root: Path) -> str | None:
        """The live version's name; None before the first ingest, or if CURRENT is unreadable (`load` says so)."""
        return segments.current_name(root)

    @staticmethod
    def pointer(root: Path) -> str:
        return segments.pointer(root)

    @staticmethod
    def files(root: Path, version: str) -> list[str]:
        """The files of a written version, relative to the data dir (as the manifest lists them)."""
        return segments.files(root, version)

    @staticmethod
    def is_outdated(root: Path) -> bool:
        """True when the live version was written in an older format (the next ingest writes it again)."""
        return segments.is_older_format(root)

    @staticmethod
    def check(root: Path, recorded: Manifest) -> tuple[str, str] | None:
        return segments.check(root, recorded)

    @classmethod
    def load(cls, root: Path, recorded: Manifest | None = None) -> BM25Index | None:
        """The live version (None before the first ingest, or in an older format), its files first checked
        against `recorded` if given; raises IndexDamaged for a damaged or missing file."""
        if recorded is not None and (damage := segments.check(root, recorded)):
            raise IndexDamaged(*damage)
        found = segments.read(root)
        return cls(found[1], found[0]) if found else None

    @cached_property
    def _vocabulary(self) -> dict[str, int]:
        """Number of live chunks each term occurs in (a term only dropped chunks used is not in it)."""
        return dict(postings.document_frequencies(self._segments))

    def document_frequencies(self) -> dict[str, int]:
        return dict(self._vocabulary)

    def known_share(self, query: str) -> float:
        """Share of the query's content words the corpus vocabulary knows (0 for a question in another script).

        Fusion weighs BM25 by it: a Russian question over English articles matches only a transliterated name
        or two, and those lexical hits are noise next to the cross-lingual dense ranking.
        """
        vocab = self._vocabulary
        per_word = [term_list for word in words(query) if (term_list := word_terms(word))]
        if not per_word:
            return 0.0
        return sum(any(t in vocab for t in ts) for ts in per_word) / len(per_word)

    def chunk_ids(self, doc_ids: list[str]) -> list[str]:
        """Ids of the chunks of these documents."""
        return [self._rows[row].id for doc_id in doc_ids for row in self._row_of_doc.get(doc_id, [])]

    def search(self, query: str, k: int, doc_ids: list[str] | None = None) -> list[tuple[ChunkRecord, float]]:
        """Top-k chunks by BM25 score (only those with a positive score), optionally within `doc_ids`."""
        query_terms = [t for t in terms(query) if t in self._vocabulary]
        if not query_terms:
            return []
        scored = postings.scores(self._segments, query_terms)
        if doc_ids is not None:
            within = np.zeros(len(scored), dtype=bool)
            for doc_id in doc_ids:
                within[self._row_of_doc.get(doc_id, [])] = True
            scored[~within] = 0.0
        candidates = np.flatnonzero(scored > 0)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scored[candidates], k - 1)[:k]]
        # Ties go to the earlier row, so a search gives the same order every time.
        best = candidates[np.lexsort((candidates, -scored[candidates]))]
        return [(self._rows[row], float(scored[row])) for row in best]
