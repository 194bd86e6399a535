"""Term postings of a set of chunks, and BM25 scored from them when a query comes.

bm25s builds an eager index: every (term, chunk) score is computed at build time with the corpus-wide IDF and
average chunk length baked in. Adding one article changes the IDF of every term it uses and the average length,
so every score must be computed again: 10.9 s per added article at 100k chunks. `Postings` keeps raw term
counts instead, so chunks indexed at different times live in separate segments (store/bm25.py), and `scores`
takes the IDF and average length over all live chunks of all segments at query time. The result equals bm25s'
own (method "lucene", k1 = 1.5, b = 0.75; tests/test_postings.py compares them on a corpus), and a query reads
only the postings of its own terms: a few thousand numbers for a rare term, one per chunk for the commonest.

Not here: tokenising (store/text.py), which chunks are live or where a segment's files go (store/bm25.py).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

K1, B = 1.5, 0.75  # bm25s' defaults, the values BM25 is usually run with


@dataclass(frozen=True, eq=False)
class Postings:
    """Which chunks (rows) each term occurs in, how often, and each chunk's length in terms."""

    terms: tuple[str, ...]
    indptr: np.ndarray  # int64, len(terms) + 1: term t occurs in rows[indptr[t]:indptr[t + 1]]
    rows: np.ndarray  # int32, row within this set of chunks, ascending per term
    counts: np.ndarray  # int32, how often the term occurs in that row
    lengths: np.ndarray  # int32, terms per row

    @classmethod
    def of(cls, token_lists: Sequence[Sequence[str]]) -> Postings:
        """Postings of chunks given as their token lists (duplicates counted, as BM25 wants)."""
        vocab: dict[str, int] = {}
        term_ids = np.fromiter((vocab.setdefault(t, len(vocab)) for ts in token_lists for t in ts), dtype=np.int64)
        lengths = np.fromiter(map(len, token_lists), dtype=np.int32, count=len(token_lists))
        rows = np.repeat(np.arange(len(token_lists), dtype=np.int64), lengths)
        keys, counts = np.unique(term_ids * max(len(token_lists), 1) + rows, return_counts=True)
        return cls._from_sorted(tuple(vocab), keys, counts, lengths)

    @classmethod
    def _from_sorted(cls, terms: tuple[str, ...], keys: np.ndarray, counts: np.ndarray,
                     lengths: np.ndarray) -> Postings:
        """From postings keyed term id × row count + row, in ascending key order."""
        n_rows = max(len(lengths), 1)
        per_term = np.bincount(keys // n_rows, minlength=len(terms))
        indptr = np.concatenate([[0], np.cumsum(per_term)]).astype(np.int64)
        return cls(terms, indptr, (keys % n_rows).astype(np.int32), counts.astype(np.int32),
                   lengths.astype(np.int32))

    @classmethod
    def concat(cls, parts: Sequence[Postings], keep: Sequence[np.ndarray] | None = None) -> Postings:
        """One set of postings for the parts' rows one after the other, keeping only the rows `keep` marks (one
        boolean array per part): what merging segments costs is this, with no tokenising."""
        keep = keep if keep is not None else [np.ones(len(p.lengths), dtype=bool) for p in parts]
        vocab: dict[str, int] = {}
        all_terms, all_rows, all_counts, lengths = [], [], [], []
        offset = 0
        for part, kept in zip(parts, keep, strict=True):
            renumber = np.cumsum(kept) - 1 + offset  # a kept row's number in the result
            global_ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in part.terms), dtype=np.int64,
                                     count=len(part.terms))
            term_of = np.repeat(global_ids, np.diff(part.indptr))
            live = kept[part.rows]
            all_terms.append(term_of[live])
            all_rows.append(renumber[part.rows[live]])
            all_counts.append(part.counts[live])
            lengths.append(part.lengths[kept])
            offset += int(kept.sum())
        n_rows = max(offset, 1)
        keys = np.concatenate(all_terms or [np.zeros(0, np.int64)]) * n_rows + np.concatenate(
            all_rows or [np.zeros(0, np.int64)])
        order = np.argsort(keys, kind="stable")
        counts = np.concatenate(all_counts or [np.zeros(0, np.int32)])[order]
        merged = cls._from_sorted(tuple(vocab), keys[order], counts,
                                  np.concatenate(lengths or [np.zeros(0, np.int32)]))
        return merged._without_unused_terms()

    def _without_unused_terms(self) -> Postings:
        used = np.diff(self.indptr) > 0
        if used.all():
            return self
        terms = tuple(t for t, u in zip(self.terms, used, strict=True) if u)
        indptr = np.concatenate([[0], np.cumsum(np.diff(self.indptr)[used])]).astype(np.int64)
        return Postings(terms, indptr, self.rows, self.counts, self.lengths)

    @cached_property
    def column(self) -> dict[str, int]:
        return {term: i for i, term in enumerate(self.terms)}

    def of_term(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows, counts) of a term; empty arrays for a term these chunks do not use."""
        col = self.column.get(term)
        if col is None:
            return self.rows[:0], self.counts[:0]
        start, end = self.indptr[col], self.indptr[col + 1]
        return self.rows[start:end], self.counts[start:end]

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        # Terms hold no newline (they are stemmed words), so one UTF-8 blob keeps them without pickling.
        blob = np.frombuffer("\n".join(self.terms).encode("utf-8"), dtype=np.uint8)
        np.savez(buffer, terms=blob, n_terms=np.array([len(self.terms)]), indptr=self.indptr, rows=self.rows,
                 counts=self.counts, lengths=self.lengths)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Postings:
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            n_terms = int(saved["n_terms"][0])
            terms = tuple(saved["terms"].tobytes().decode("utf-8").split("\n")) if n_terms else ()
            postings = cls(terms, saved["indptr"], saved["rows"], saved["counts"], saved["lengths"])
        if len(postings.terms) != n_terms or len(postings.indptr) != n_terms + 1 or (
                len(postings.rows) != postings.indptr[-1]):
            raise ValueError("postings arrays do not agree in length")
        return postings


def scores(segments: Sequence[tuple[Postings, np.ndarray]], query_terms: Sequence[str]) -> np.ndarray:
    """BM25 score of every row of the segments, one after the other, for `query_terms` (a repeated term counts
    again). Each segment comes with a boolean array of its live rows; dead rows score 0 and count nowhere."""
    live_lengths = [postings.lengths[alive] for postings, alive in segments]
    n_live = sum(len(lengths) for lengths in live_lengths)
    out = np.zeros(sum(len(alive) for _, alive in segments), dtype=np.float32)
    if n_live == 0:
        return out
    average = float(sum(int(lengths.sum()) for lengths in live_lengths)) / n_live
    offsets = np.cumsum([0] + [len(alive) for _, alive in segments])
    for term, times in Counter(query_terms).items():
        found = []
        for (postings, alive), offset in zip(segments, offsets, strict=False):
            rows, counts = postings.of_term(term)
            live = alive[rows]
            found.append((rows[live], counts[live], postings.lengths, offset))
        df = sum(len(rows) for rows, *_ in found)
        if df == 0:
            continue
        idf = np.log(1 + (n_live - df + 0.5) / (df + 0.5))
        for rows, counts, lengths, offset in found:
            tf = counts.astype(np.float32)
            norm = K1 * (1 - B + B * lengths[rows] / average)
            out[offset + rows] += times * idf * tf / (tf + norm)  # a term's rows are distinct
    return out


def document_frequencies(segments: Sequence[tuple[Postings, np.ndarray]]) -> Counter[str]:
    """Number of live rows each term occurs in, over all segments."""
    out: Counter[str] = Counter()
    for postings, alive in segments:
        if not len(postings.rows):
            continue
        live_per_term = np.add.reduceat(alive[postings.rows].astype(np.int64), postings.indptr[:-1])
        out.update({t: int(n) for t, n in zip(postings.terms, live_per_term, strict=True) if n})
    return out
