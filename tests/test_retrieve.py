"""rag/retrieve.py: the dense list re-ranked by each passage's best sentence."""

from __future__ import annotations

import pytest

from rag.retrieve import BEST_SENTENCE_WEIGHT, Retriever
from store.settings import Settings


def test_a_passage_holding_the_asked_sentence_rises_in_the_dense_list(indexed_articles: Settings) -> None:
    retriever = Retriever(indexed_articles)
    corpus = retriever.corpus()
    chunk_ids = [c.id for c in corpus.bm25.chunks[:6]]
    target = chunk_ids[-1]
    sentence = corpus.sentences(target)[-1]
    query = retriever.sentence_vectors([sentence.id])[sentence.id]  # a question that says exactly this sentence
    ranked = [(cid, 0.80) for cid in chunk_ids[:-1]] + [(target, 0.78)]  # the passage's own vector ranks it last
    rescored = retriever.by_best_sentence(ranked, query, corpus)
    assert rescored[0][0] == target
    assert rescored[0][1] == pytest.approx(0.78 * (1 - BEST_SENTENCE_WEIGHT) + BEST_SENTENCE_WEIGHT * 1.0, abs=1e-4)
    assert sorted(cid for cid, _ in rescored) == sorted(chunk_ids)
    assert retriever.by_best_sentence([], query, corpus) == []
