"""Faults of the LLM endpoint, for real: refused connections, stalls, malformed and dropped streams, HTML
error pages. Each must give the extractive answer with a notice, within a bounded time, in the engine and
through the app's `/ask` API. tests/test_llm.py covers the plain protocol failures; this file adds the rest.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import BRIDGE, serve_app
from gradio_client import Client
from openai_stub import Script, StubOpenAI

from rag import RAG, Answer
from store.settings import Settings


def llm_settings(settings: Settings, base_url: str) -> Settings:
    return settings.model_copy(update={"llm_base_url": base_url, "llm_model": "stub-model", "llm_timeout": 3.0,
                                       "llm_retries": 0, "openai_api_key": None})


def sse(*events: bytes) -> bytes:
    return b"".join(b"data: " + event + b"\n\n" for event in events)


FIRST_CHUNK = json.dumps({
    "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 0, "model": "stub-model",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "The bridge cost "}, "finish_reason": None}],
}).encode()
HTML_PAGE = b"<!doctype html><html><head><title>Sign in</title></head><body><h1>Welcome to nginx!</h1></body></html>"


@contextmanager
def html_endpoint(status: int = 200) -> Iterator[str]:
    """An 'OpenAI endpoint' that is really a web page: every request gets HTML with Content-Type text/html."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(HTML_PAGE)))
            self.end_headers()
            self.wfile.write(HTML_PAGE)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def scripted(script: Script) -> Iterator[str]:
    with StubOpenAI(script) as stub:
        yield stub.base_url


FAULTS: dict[str, tuple[Callable[[], Any], str]] = {
    "malformed SSE event mid-stream": (
        lambda: scripted(Script(raw_body=sse(FIRST_CHUNK, b"{bad json", b"[DONE]"))), "unusable reply"),
    "malformed first SSE event": (lambda: scripted(Script(raw_body=sse(b"{bad json"))), "unusable reply"),
    "SSE error event": (
        lambda: scripted(Script(raw_body=sse(b'{"error": {"message": "overloaded", "type": "server_error"}}'))),
        "unusable reply"),
    "connection dropped mid-stream": (
        lambda: scripted(Script(content="The bridge cost 120 million euros [1]. More.", stall_stream_after=2)),
        "unusable reply"),
    "HTML page with 200": (lambda: html_endpoint(200), "empty answer"),
    "HTML error page (502)": (lambda: html_endpoint(502), "HTTP 502"),
    "HTML error page (500), scripted": (
        lambda: scripted(Script(status=500, raw_body=HTML_PAGE)), "HTTP 500"),
}


@pytest.fixture(scope="module")
def llm_index(small_index: Settings) -> Settings:
    """The small index, with the openai client warmed up once: its first request in a process costs ~0.5 s of
    imports, which a loaded machine stretches towards the short timeout these tests use."""
    with StubOpenAI(Script(content="NOT_IN_SOURCES")) as stub:
        RAG(llm_settings(small_index, stub.base_url)).ask(BRIDGE)
    return small_index


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_llm_fault_falls_back_to_the_extractive_answer(llm_index: Settings, fault: str) -> None:
    endpoint, notice = FAULTS[fault]
    with endpoint() as base_url:
        engine = RAG(llm_settings(llm_index, base_url))
        started = time.monotonic()
        events = list(engine.stream(BRIDGE))
        elapsed = time.monotonic() - started
    answer = events[-1]
    assert isinstance(answer, Answer)
    assert elapsed < 8, f"{fault}: {elapsed:.1f} s"
    assert answer.mode == "extractive" and not answer.refused and "120 million" in answer.text
    assert answer.notice and notice in answer.notice and "extractive" in answer.notice, answer.notice
    docs = engine.retriever.corpus().documents
    assert all(docs[c.doc_id].text[c.start_char : c.end_char] == c.quote for c in answer.citations)


@pytest.mark.timeout(180)
def test_llm_faults_through_the_ask_api(llm_index: Settings) -> None:
    """The app's `/ask` in LLM mode: a malformed stream, a dropped stream, a stall past the timeout, then the
    endpoint gone (connection refused) - each an extractive answer with a notice, in bounded time."""
    with StubOpenAI() as stub, serve_app(RAG(llm_settings(llm_index, stub.base_url))) as url:
        client = Client(url, verbose=False)
        cases = [
            (Script(raw_body=sse(FIRST_CHUNK, b"{bad json")), "unusable reply"),
            (Script(content="The bridge cost 120 million euros [1]. More.", stall_stream_after=2), "unusable reply"),
            (Script(content="late", delay=10), "timed out"),
            (None, "unreachable"),
        ]
        for script, notice in cases:
            if script is None:
                stub.stop()  # nothing listens on the port any more: connection refused
            else:
                stub.push(script)
            started = time.monotonic()
            result = client.predict(BRIDGE, None, None, None, "llm", api_name="/ask")
            elapsed = time.monotonic() - started
            assert "error" not in result, result
            assert result["mode"] == "extractive" and "120 million" in result["text"], result
            assert notice in (result["notice"] or ""), (notice, result["notice"])
            assert elapsed < 10, f"{notice}: {elapsed:.1f} s"



def test_a_russian_question_gets_the_fallback_notice_in_russian(llm_index: Settings) -> None:
    import re

    from conftest import free_port

    engine = RAG(llm_settings(llm_index, f"http://127.0.0.1:{free_port()}/v1"))  # nothing listens there
    answer = engine.ask("Сколько стоил новый мост в гавани Порт-Элмсвик?")
    assert answer.mode == "extractive" and answer.notice
    assert "LLM недоступна" in answer.notice
    assert not re.search(r"[A-Za-z]", answer.notice.replace("LLM", "")), answer.notice
