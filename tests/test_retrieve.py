"""rag/retrieve.py: the dense list re-ranked by each passage's best sentence, hubness, article diversity."""

from __future__ import annotations

import numpy as np
import pytest

from rag import RAG
from rag.answer import Citation, Source
from rag.retrieve import BEST_SENTENCE_WEIGHT, HUB_NEIGHBOURS, Retriever, closeness, diverse
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
    best = closeness(1.0, retriever.hubness([sentence.id])[sentence.id])
    assert rescored[0][1] == pytest.approx(0.78 * (1 - BEST_SENTENCE_WEIGHT) + BEST_SENTENCE_WEIGHT * best, abs=1e-4)
    assert sorted(cid for cid, _ in rescored) == sorted(chunk_ids)
    assert retriever.by_best_sentence([], query, corpus) == []


def test_a_sentences_hubness_is_its_mean_cosine_to_its_nearest_sentences_in_the_corpus(
    indexed_articles: Settings,
) -> None:
    retriever = Retriever(indexed_articles)
    corpus = retriever.corpus()
    ids = list(dict.fromkeys(s.id for c in corpus.bm25.chunks for s in corpus.sentences(c.id)))
    vectors = retriever.sentence_vectors(ids)
    matrix = np.stack([vectors[i] for i in ids])
    similarity = matrix @ matrix.T
    np.fill_diagonal(similarity, -np.inf)
    exact = np.sort(similarity, axis=1)[:, -HUB_NEIGHBOURS:].mean(axis=1)
    sample = list(range(0, len(ids), 7))
    hubs = retriever.hubness([ids[i] for i in sample] + ["no-such-sentence"])
    assert "no-such-sentence" not in hubs
    assert [hubs[ids[i]] for i in sample] == pytest.approx([float(exact[i]) for i in sample], abs=1e-3)
    # A hub, a sentence close to everything, loses more of its cosine than a sentence close to few.
    assert closeness(0.85, float(exact.max())) < closeness(0.85, float(exact.min()))


def test_one_article_fills_at_most_three_of_five_places_while_others_qualify() -> None:
    ranked = ["a1", "a2", "a3", "a4", "b1", "a5", "c1"]
    article = lambda item: item[0]  # noqa: E731
    assert diverse(ranked, 5, article) == ["a1", "a2", "a3", "b1", "c1"]
    assert diverse(ranked, 3, article) == ["a1", "a2", "a3"]
    # No other article left (a filter to one article): its passages fill every place, in rank order.
    assert diverse(["a1", "a2", "a3", "a4", "a5", "b1"], 5, article) == ["a1", "a2", "a3", "a4", "b1"]
    assert diverse(["a1", "a2", "a3", "a4", "a5"], 5, article) == ["a1", "a2", "a3", "a4", "a5"]


def test_the_sentences_nearest_in_meaning_are_found_corpus_wide_or_within_articles(indexed_articles: Settings) -> None:
    retriever = Retriever(indexed_articles)
    corpus = retriever.corpus()
    chunk = corpus.bm25.chunks[3]
    sentence = corpus.sentences(chunk.id)[0]
    query = retriever.sentence_vectors([sentence.id])[sentence.id]
    near = retriever.near_sentences(query, 3, None, corpus)
    assert near[0] == sentence and len(near) == 3
    others = sorted({c.doc_id for c in corpus.bm25.chunks} - {sentence.doc_id})[:2]
    assert {s.doc_id for s in retriever.near_sentences(query, 5, others, corpus)} <= set(others)
    assert corpus.passages_holding([(sentence.doc_id, sentence.start, sentence.end)], set())[0].id in {
        c.id for c in corpus.bm25.chunks if c.start <= sentence.start and sentence.end <= c.end}
    assert corpus.passages_holding([(sentence.doc_id, sentence.start, sentence.end)], {chunk.id}) == []


@pytest.mark.parametrize("question", ["Which award did Tokayev decline?", "Who met Tokayev at Adler airport?",
                                      "What did Putin say about the reception in Astana?"])
def test_every_citation_points_into_one_of_the_answer_sources(engine: RAG, question: str) -> None:
    """With two passages retrieved, the answer may quote a sentence found by meaning elsewhere: its passage then
    takes the place of one no citation points into."""
    answer = engine.ask(question, top_k=2)
    assert answer.citations

    def holds(source: Source, citation: Citation) -> bool:
        return source.doc_id == citation.doc_id and source.start_char <= citation.start_char < source.end_char

    for citation in answer.citations:
        assert any(holds(s, citation) for s in answer.sources), citation
    # More sources than asked for only when every one of them is cited.
    assert len(answer.sources) <= 2 or all(any(holds(s, c) for c in answer.citations) for s in answer.sources)
