"""Embedding models: e5 prefixes, batching, async, counting, the OpenAI-compatible backend and model identity."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import make_settings
from openai_stub import EMBED_DIM, StubOpenAI

from store import chroma
from store.embeddings import E5Embedding, OpenAICompatibleEmbedding, embedding_model
from store.errors import StoreError


def test_e5_uses_query_and_passage_prefixes_and_batches_consistently() -> None:
    model = E5Embedding(embed_batch_size=2)
    text = "Trade turnover reached $28 billion."
    query = np.array(model.get_query_embedding(text))
    passage = np.array(model.get_text_embedding(text))
    assert query.shape == (384,) and abs(np.linalg.norm(query) - 1) < 1e-3
    assert not np.allclose(query, passage)  # "query: " and "passage: " prefixes differ
    batch = np.array(model.get_text_embedding_batch([text, "Another sentence.", "A third one."]))
    assert np.allclose(batch[0], passage, atol=1e-5)
    assert model.embedded_texts == 5 and model.embed_seconds > 0
    assert np.allclose(asyncio.run(model.aget_query_embedding(text)), query, atol=1e-5)
    ranked = np.array(model.get_text_embedding_batch(["The bridge cost 120 million euros.", "Apples were picked."]))
    assert int(np.argmax(ranked @ np.array(model.get_query_embedding("How much did the bridge cost?")))) == 0


def test_concurrent_questions_are_embedded_side_by_side_by_separate_engines() -> None:
    """Two chat sessions' questions do not queue for one engine: each borrows its own (at most QUERY_ENGINES),
    and the vectors are the ones a lone call gives."""
    from store.embeddings import QUERY_ENGINES, _E5Engines

    questions = [f"What did the minister say on day {i}?" for i in range(8)]
    alone = {q: np.array(E5Embedding().get_query_embedding(q)) for q in questions}
    engines = _E5Engines(2)
    both_inside = threading.Barrier(2, timeout=30)  # broken (an error) if the two calls could not overlap
    original = engines._borrow

    def borrow() -> object:
        engine = original()
        both_inside.wait()
        return engine

    engines._borrow = borrow  # type: ignore[method-assign]
    with ThreadPoolExecutor(2) as pool:
        vectors = dict(zip(questions[:2], pool.map(lambda q: engines.encode([q], True)[0], questions[:2]),
                           strict=True))
    assert engines._created == 2
    assert all(np.allclose(vectors[q], alone[q], atol=1e-6) for q in vectors)
    engines._borrow = original  # type: ignore[method-assign]
    with ThreadPoolExecutor(4) as pool:
        many = list(pool.map(lambda q: engines.encode([q], True)[0], questions))
    assert engines._created == 2 and QUERY_ENGINES >= 1
    assert all(np.allclose(v, alone[q], atol=1e-6) for q, v in zip(questions, many, strict=True))


def test_openai_compatible_backend_goes_through_the_client(tmp_path: Path, openai_stub: StubOpenAI) -> None:
    settings = make_settings(
        tmp_path, tmp_path, embed_backend="openai", embed_base_url=openai_stub.base_url, embed_model="stub-embed"
    )
    model = embedding_model(settings)
    assert isinstance(model, OpenAICompatibleEmbedding)
    vectors = model.get_text_embedding_batch(["one", "two", "three"])
    assert len(vectors) == 3 and len(vectors[0]) == EMBED_DIM
    assert openai_stub.requests[-1]["model"] == "stub-embed"
    assert model.embedded_texts == 3


def test_a_store_refuses_a_different_embedding_model(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tmp_path)
    chroma.collection(settings, "E5Embedding:multilingual-e5-small-q4")
    with pytest.raises(StoreError, match="RAG_COLLECTION"):
        chroma.collection(settings, "OpenAICompatibleEmbedding:text-embedding-3-small")
