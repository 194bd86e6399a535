"""store/postings.py: BM25 from term postings at query time, compared with bm25s' eager index as the reference."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest
from conftest import ARTICLES

from store.postings import Postings, document_frequencies, scores
from store.text import terms

QUERIES = ["Tokayev refused the order", "oil shipments through the pipeline", "Putin visit Astana", "the the the",
           "Путин Астана", "unknownword shipments shipments"]


def token_lists() -> list[list[str]]:
    """The seed articles' lines as chunks (a few hundred, in two languages' worth of words)."""
    lines = [line for path in sorted(ARTICLES.iterdir()) for line in path.read_text(encoding="utf-8").splitlines()]
    return [terms(line) or ["\x00"] for line in lines if line.strip()]


def all_alive(postings: Postings) -> np.ndarray:
    return np.ones(len(postings.lengths), dtype=bool)


@pytest.mark.parametrize("query", QUERIES)
def test_scores_equal_bm25s_lucene_scores(query: str) -> None:
    tokens = token_lists()
    reference = bm25s.BM25()
    reference.index(tokens, show_progress=False)
    postings = Postings.of(tokens)
    query_terms = [t for t in terms(query) if t in reference.vocab_dict]
    ours = scores([(postings, all_alive(postings))], query_terms)
    expected = reference.get_scores(query_terms) if query_terms else np.zeros(len(tokens))
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5)
    assert (ours > 0).any() == bool(query_terms)


def test_split_into_segments_scores_as_one() -> None:
    tokens = token_lists()
    whole = Postings.of(tokens)
    cuts = [0, 7, 8, len(tokens) // 2, len(tokens)]
    parts = [Postings.of(tokens[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    for query in QUERIES:
        query_terms = terms(query)
        np.testing.assert_allclose(scores([(p, all_alive(p)) for p in parts], query_terms),
                                   scores([(whole, all_alive(whole))], query_terms), rtol=1e-5)
    assert document_frequencies([(p, all_alive(p)) for p in parts]) == document_frequencies([(whole, all_alive(whole))])


def test_dead_rows_score_zero_and_count_nowhere() -> None:
    tokens = token_lists()
    alive = np.arange(len(tokens)) % 3 != 0
    postings = Postings.of(tokens)
    kept = Postings.of([t for t, a in zip(tokens, alive, strict=True) if a])
    for query in QUERIES:
        with_dead = scores([(postings, alive)], terms(query))
        assert not with_dead[~alive].any()
        np.testing.assert_allclose(with_dead[alive], scores([(kept, all_alive(kept))], terms(query)), rtol=1e-5)
    assert document_frequencies([(postings, alive)]) == document_frequencies([(kept, all_alive(kept))])


def test_concat_keeps_only_the_marked_rows_and_equals_indexing_them_afresh() -> None:
    tokens = token_lists()
    first, second = Postings.of(tokens[:10]), Postings.of(tokens[10:])
    keep = [np.arange(10) % 2 == 0, np.ones(len(tokens) - 10, dtype=bool)]
    keep[1][:3] = False
    merged = Postings.concat([first, second], keep)
    expected_rows = [t for t, k in zip(tokens, np.concatenate(keep), strict=True) if k]
    expected = Postings.of(expected_rows)
    assert sorted(merged.terms) == sorted(expected.terms)  # a term only dropped rows used is gone
    np.testing.assert_array_equal(merged.lengths, expected.lengths)
    for term in expected.terms:
        for got, want in zip(merged.of_term(term), expected.of_term(term), strict=True):
            np.testing.assert_array_equal(got, want)


def test_bytes_round_trip_and_damage_is_an_error() -> None:
    postings = Postings.of(token_lists())
    again = Postings.from_bytes(postings.to_bytes())
    assert again.terms == postings.terms
    for name in ("indptr", "rows", "counts", "lengths"):
        np.testing.assert_array_equal(getattr(again, name), getattr(postings, name))
    empty = Postings.from_bytes(Postings.of([]).to_bytes())
    assert empty.terms == () and scores([(empty, all_alive(empty))], ["oil"]).shape == (0,)
    with pytest.raises(Exception) as raised:
        Postings.from_bytes(postings.to_bytes()[:500])
    assert isinstance(raised.value, (ValueError, EOFError, OSError)) or type(raised.value).__name__ == "BadZipFile"
