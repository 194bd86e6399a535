"""ingest/embed.py: each sentence is embedded once, and a chunk's vector is pooled from its sentences'."""

from __future__ import annotations

import numpy as np
import pytest
from llama_index.core.schema import Document

from ingest.embed import SentencePooledEmbedding, pool
from ingest.nodes import ArticleChunker
from store.chroma import CHUNK, SENTENCE
from store.embeddings import CountingEmbedding


class LetterEmbedding(CountingEmbedding):
    """A deterministic toy model: a text's vector counts its letters a-z (then normalised); records what it saw."""

    model_name: str = "letters"
    seen: list[str] = []

    def _embed(self, texts: list[str], is_query: bool) -> list[list[float]]:
        self.seen.extend(texts)
        out = []
        for text in texts:
            counts = np.array([text.lower().count(chr(97 + i)) for i in range(26)], dtype=np.float32) + 1e-3
            out.append((counts / np.linalg.norm(counts)).tolist())
        return out


TEXT = "Bridge news\n\n" + " ".join(
    f"The {word} span of the harbour bridge opened in month {n} after {n + 3} years of work." for n, word in
    enumerate(["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
               "eleventh", "twelfth"])
)


def nodes_of(text: str) -> list:
    doc = Document(id_="bridge", text=text, metadata={"doc_id": "bridge", "title": "Bridge news"})
    return ArticleChunker()([doc])


def test_each_sentence_is_embedded_once_and_chunks_are_pooled_from_them() -> None:
    model = LetterEmbedding(seen=[])
    nodes = SentencePooledEmbedding(embed_model=model, title_weight=0.0)(nodes_of(TEXT))
    sentences = [n for n in nodes if n.metadata["kind"] == SENTENCE]
    chunks = [n for n in nodes if n.metadata["kind"] == CHUNK]
    assert len(chunks) > 1 and len(sentences) > len(chunks)
    assert sorted(model.seen) == sorted(n.get_content() for n in sentences)  # no chunk text, no sentence twice
    for sentence in sentences:  # vectors come back in node order although the model saw them by length
        assert sentence.embedding == pytest.approx(model._embed([sentence.get_content()], False)[0], abs=1e-6)
    for chunk in chunks:
        start, end = chunk.metadata["start_char"], chunk.metadata["end_char"]
        spanned = [s for s in sentences if start <= s.metadata["start_char"] < end]
        assert " ".join(s.get_content() for s in spanned).split() == chunk.get_content().split()
        assert chunk.embedding == pytest.approx(pool(spanned, None, 0.0).tolist(), abs=1e-6)


def test_titles_pull_chunks_towards_them_and_are_not_embedded_twice() -> None:
    model = LetterEmbedding(seen=[])
    plain = SentencePooledEmbedding(embed_model=model, title_weight=0.0)(nodes_of(TEXT))
    model.seen.clear()
    titled = SentencePooledEmbedding(embed_model=model, title_weight=1.0)(nodes_of(TEXT))
    assert model.seen.count("Bridge news") == 1  # as the first sentence: its vector serves as the title's too
    title = np.asarray(model._embed(["Bridge news"], False)[0])
    elsewhere = SentencePooledEmbedding(embed_model=model)(nodes_of(TEXT.replace("Bridge news", "Bridges", 1)))
    assert model.seen[-1] == "Bridge news"  # a title the text does not start with is embedded, once
    assert len(elsewhere) == len(titled)
    for a, b in zip(plain, titled, strict=True):
        if a.metadata["kind"] == CHUNK:
            assert np.dot(b.embedding, title) > np.dot(a.embedding, title)


def test_pool_weighs_sentences_by_length_and_normalises() -> None:
    short = Document(text="ab", embedding=[1.0, 0.0])
    long = Document(text="abcdefgh", embedding=[0.0, 1.0])
    vector = pool([short, long], None, 0.0)
    assert np.linalg.norm(vector) == pytest.approx(1.0)
    assert vector[1] == pytest.approx(4 * vector[0])  # four times the characters, four times the weight
    with_title = pool([short, long], np.array([1.0, 0.0]), 1.0)
    assert with_title[0] > vector[0]
    with pytest.raises(ValueError):
        pool([], None, 0.0)
