"""Protocol tests for tests/openai_stub.py, driven by the real ``openai`` client.

They pin down both the stub's behaviour and how the ``openai`` client reacts to each failure mode,
so that application code knows what to catch. All of them are fast (sub-second timeouts).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai_stub import EMBED_DIM, MODEL_ID, Script, StubOpenAI, split_pieces, stub_server

MESSAGES: list[Any] = [{"role": "user", "content": "What is in the article?"}]
SHORT_TIMEOUT = 0.3


@pytest.fixture
def stub() -> Iterator[StubOpenAI]:
    with stub_server() as s:
        yield s


def make_client(stub: StubOpenAI, timeout: float = 5.0, api_key: str = "x") -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.base_url, api_key=api_key, max_retries=0, timeout=timeout)


def stream_deltas(client: openai.OpenAI, **kwargs: Any) -> list[str]:
    out: list[str] = []
    for chunk in client.chat.completions.create(model=MODEL_ID, messages=MESSAGES, stream=True, **kwargs):
        if chunk.choices and chunk.choices[0].delta.content:
            out.append(chunk.choices[0].delta.content)
    return out


def test_non_streaming_returns_scripted_text(stub: StubOpenAI) -> None:
    stub.push("The article is about otters.")
    resp = make_client(stub).chat.completions.create(model=MODEL_ID, messages=MESSAGES)
    assert resp.choices[0].message.content == "The article is about otters."
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.object == "chat.completion"
    assert resp.usage is not None and resp.usage.completion_tokens == 5


def test_streaming_yields_several_chunks_that_concatenate(stub: StubOpenAI) -> None:
    text = "Otters hold hands  while sleeping.\nSee [1]."
    stub.push(text)
    chunks = list(make_client(stub).chat.completions.create(model=MODEL_ID, messages=MESSAGES, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    contents = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(contents) == len(split_pieces(text)) > 3
    assert "".join(contents) == text
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_streaming_include_usage_sends_usage_chunk(stub: StubOpenAI) -> None:
    stub.push("a b c")
    chunks = list(
        make_client(stub).chat.completions.create(
            model=MODEL_ID, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_chunk_delay_slows_the_stream(stub: StubOpenAI) -> None:
    # Incremental delivery itself is proven (timing-free) by test_stalled_stream_*: chunks arrive
    # while the server is still holding the response open. Here only a load-proof lower bound.
    stub.push(Script(content="one two three", chunk_delay=0.15))
    start = time.monotonic()
    assert stream_deltas(make_client(stub)) == ["one ", "two ", "three"]
    assert time.monotonic() - start >= 0.3


def test_delay_beyond_timeout_raises_api_timeout_error(stub: StubOpenAI) -> None:
    stub.push(Script(content="too late", delay=1.0))
    with pytest.raises(openai.APITimeoutError):  # subclass of openai.APIConnectionError
        make_client(stub, timeout=SHORT_TIMEOUT).chat.completions.create(model=MODEL_ID, messages=MESSAGES)


def test_delay_beyond_timeout_on_stream_open_raises_api_timeout_error(stub: StubOpenAI) -> None:
    stub.push(Script(content="too late", delay=1.0))
    with pytest.raises(openai.APITimeoutError):
        stream_deltas(make_client(stub, timeout=SHORT_TIMEOUT))


def test_delay_within_timeout_is_fine(stub: StubOpenAI) -> None:
    stub.push(Script(content="slow but ok", delay=0.1))
    resp = make_client(stub, timeout=2.0).chat.completions.create(model=MODEL_ID, messages=MESSAGES)
    assert resp.choices[0].message.content == "slow but ok"


def test_status_500_raises_internal_server_error(stub: StubOpenAI) -> None:
    stub.push(Script(status=500))
    with pytest.raises(openai.InternalServerError) as info:
        make_client(stub).chat.completions.create(model=MODEL_ID, messages=MESSAGES)
    assert info.value.status_code == 500
    assert isinstance(info.value, openai.APIStatusError)


def test_status_500_on_stream_raises_before_iteration(stub: StubOpenAI) -> None:
    stub.push(Script(status=500))
    with pytest.raises(openai.InternalServerError):
        make_client(stub).chat.completions.create(model=MODEL_ID, messages=MESSAGES, stream=True)


def test_malformed_json_body_raises_json_decode_error(stub: StubOpenAI) -> None:
    # Not wrapped by openai: a plain json.JSONDecodeError (a ValueError), NOT an openai.APIError.
    stub.push(Script(raw_body=b'{"id": "chatcmpl-1", "choices": [trunc'))
    with pytest.raises(Exception) as info:  # noqa: B017 - documenting whatever the client raises
        make_client(stub).chat.completions.create(model=MODEL_ID, messages=MESSAGES)
    assert type(info.value).__name__ == "JSONDecodeError"
    assert isinstance(info.value, json.JSONDecodeError)
    assert not isinstance(info.value, openai.APIError)


def test_malformed_sse_event_raises_json_decode_error(stub: StubOpenAI) -> None:
    stub.push(Script(raw_body=b"data: {not json\n\n"))
    with pytest.raises(json.JSONDecodeError):
        stream_deltas(make_client(stub))


def test_empty_stream_yields_no_content(stub: StubOpenAI) -> None:
    stub.push(Script(empty_stream=True))
    chunks = list(make_client(stub).chat.completions.create(model=MODEL_ID, messages=MESSAGES, stream=True))
    assert chunks == []


def test_stalled_stream_raises_raw_httpx_read_timeout(stub: StubOpenAI) -> None:
    # Mid-stream errors surface from iteration as raw httpx exceptions, not openai.APITimeoutError.
    stub.push(Script(content="a b c d e", stall_stream_after=2, delay=1.0))
    got: list[str] = []
    with pytest.raises(httpx.ReadTimeout):
        for chunk in make_client(stub, timeout=SHORT_TIMEOUT).chat.completions.create(
            model=MODEL_ID, messages=MESSAGES, stream=True
        ):
            got.append(chunk.choices[0].delta.content or "")
    assert got == ["a ", "b "]


def test_dropped_stream_raises_raw_httpx_remote_protocol_error(stub: StubOpenAI) -> None:
    stub.push(Script(content="a b c d e", stall_stream_after=1))
    with pytest.raises(httpx.RemoteProtocolError):
        stream_deltas(make_client(stub))


def test_embeddings_count_dimension_and_determinism(stub: StubOpenAI) -> None:
    client = make_client(stub)
    resp = client.embeddings.create(model=MODEL_ID, input=["alpha", "beta", "gamma"])  # base64 by default
    assert len(resp.data) == 3
    assert [d.index for d in resp.data] == [0, 1, 2]
    for d in resp.data:
        assert len(d.embedding) == EMBED_DIM
        assert math.isclose(math.fsum(v * v for v in d.embedding), 1.0, rel_tol=1e-5)
    single = client.embeddings.create(model=MODEL_ID, input="beta", encoding_format="float")
    assert len(single.data) == 1
    assert single.data[0].embedding == pytest.approx(resp.data[1].embedding, abs=1e-6)
    assert resp.data[0].embedding != pytest.approx(resp.data[1].embedding, abs=1e-3)


def test_embeddings_do_not_consume_chat_queue(stub: StubOpenAI) -> None:
    stub.push("still queued")
    make_client(stub).embeddings.create(model=MODEL_ID, input="x")
    assert stub.pending == 1


def test_models_lists_stub_model(stub: StubOpenAI) -> None:
    assert [m.id for m in make_client(stub).models.list()] == [MODEL_ID]


def test_callable_default_sees_request_messages() -> None:
    def answer(body: dict[str, Any]) -> Script:
        question = body["messages"][-1]["content"]
        return Script(content=f"You asked: {question}")

    with stub_server(default=answer) as stub:
        client = make_client(stub)
        resp = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": "why?"}])
        assert resp.choices[0].message.content == "You asked: why?"
        assert "".join(stream_deltas(client)) == "You asked: What is in the article?"


def test_queue_is_fifo_then_default_then_500() -> None:
    with stub_server(default=Script(content="default")) as stub:
        stub.push("first", Script(content="second"))
        client = make_client(stub)
        got = [client.chat.completions.create(model=MODEL_ID, messages=MESSAGES) for _ in range(3)]
        assert [r.choices[0].message.content for r in got] == ["first", "second", "default"]
    with stub_server() as stub, pytest.raises(openai.InternalServerError):
        make_client(stub).chat.completions.create(model=MODEL_ID, messages=MESSAGES)


def test_callable_default_that_raises_gives_500_and_records_error() -> None:
    def broken(body: dict[str, Any]) -> Script:
        raise KeyError("oops")

    with stub_server(default=broken) as stub:
        with pytest.raises(openai.InternalServerError):
            make_client(stub).chat.completions.create(model=MODEL_ID, messages=MESSAGES)
        assert stub.errors == ["KeyError: 'oops'"]


def test_requests_and_headers_are_recorded(stub: StubOpenAI) -> None:
    stub.push("one", "two")
    client = make_client(stub, api_key="sk-test-secret")
    client.chat.completions.create(model="my-model", messages=MESSAGES, temperature=0.1)
    stream_deltas(client)
    client.embeddings.create(model=MODEL_ID, input="x")
    client.models.list()

    assert len(stub.requests) == 3  # POST bodies only
    assert stub.requests[0]["model"] == "my-model"
    assert stub.requests[0]["messages"] == MESSAGES
    assert stub.requests[0]["temperature"] == 0.1
    assert stub.requests[1]["stream"] is True
    assert stub.requests[2]["input"] == "x"
    assert len(stub.chat_requests) == 2
    assert stub.request_paths == ["/v1/chat/completions"] * 2 + ["/v1/embeddings", "/v1/models"]
    assert len(stub.request_headers) == 4
    assert all(h["authorization"] == "Bearer sk-test-secret" for h in stub.request_headers)


def test_stop_is_prompt_even_with_sleeping_handler() -> None:
    stub = StubOpenAI().start()
    stub.push(Script(content="x", delay=30.0))
    with pytest.raises(openai.APITimeoutError):
        make_client(stub, timeout=0.2).chat.completions.create(model=MODEL_ID, messages=MESSAGES)
    start = time.monotonic()
    stub.stop()
    assert time.monotonic() - start < 2.0
