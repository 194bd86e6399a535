"""The Gradio app for real: launched on a free 127.0.0.1 port and driven with gradio_client.

Follow-ups for programs go through `/ask` with `history` (OpenAI-style messages); the chat UI itself is
exercised in a browser (tests/test_browser.py). Uploads are tested through `ui.upload.add_articles`, the
function the upload widget calls, against a temporary corpus folder and a fresh small index, and once
through gradio's upload route and queue as the page drives them (what lands in gradio's upload cache).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, free_port, make_settings, serve_app
from gradio_client import Client
from index_view import to_one_collection_layout
from pydantic import SecretStr

from rag import RAG
from ui import render as ui
from ui.status import GENERIC_ERROR, INDEXING, Indexer, status_line
from ui.upload import add_articles, safe_filename

QUESTION = "How many times has Putin visited Kazakhstan?"


@pytest.fixture(scope="module")
def url(engine: RAG) -> Iterator[str]:
    with serve_app(engine) as address:
        yield address


@pytest.fixture(scope="module")
def client(url: str) -> Client:
    return Client(url, verbose=False)


def assert_verbatim(engine: RAG, answer: dict) -> None:
    documents = engine.retriever.corpus().documents
    for citation in answer["citations"]:
        text = documents[citation["doc_id"]].text
        assert text[citation["start_char"] : citation["end_char"]] == citation["quote"]
        assert f"[{citation['number']}]" in answer["text"]


def test_ask_returns_cited_answer(client: Client, engine: RAG) -> None:
    answer = client.predict(QUESTION, None, api_name="/ask")
    assert "error" not in answer, answer
    assert not answer["refused"]
    assert len(answer["citations"]) >= 1
    assert_verbatim(engine, answer)
    assert answer["sources"] and answer["question"] == QUESTION


def test_ask_refuses_what_the_articles_do_not_say(client: Client) -> None:
    answer = client.predict("What is the population of Brazil?", api_name="/ask")
    assert answer["refused"] is True
    assert answer["citations"] == []
    assert answer["sources"], "a refusal still lists the closest passages"


def test_ask_restricted_to_articles(client: Client, engine: RAG) -> None:
    doc = "putin-state-visit-to-kazakhstan"
    for doc_ids in ([doc], doc, f" {doc} ,"):  # a list or a comma-separated string
        answer = client.predict(QUESTION, doc_ids, 3, api_name="/ask")
        assert {s["doc_id"] for s in answer["sources"]} == {doc}
        cited = [s for s in answer["sources"] if any(c["doc_id"] == s["doc_id"] and s["start_char"] <= c["start_char"]
                                                     < s["end_char"] for c in answer["citations"])]
        assert len(answer["sources"]) <= 3 or len(cited) == len(answer["sources"])  # a cited one may add to them
        assert_verbatim(engine, answer)


def test_follow_up_uses_history(client: Client, engine: RAG) -> None:
    first = client.predict("Why did Tokayev visit Russia?", api_name="/ask")
    history = [{"role": "user", "content": first["question"]}, {"role": "assistant", "content": first["text"]}]
    follow = client.predict("Where did they meet?", None, None, history, api_name="/ask")
    assert "error" not in follow, follow
    expected = engine.chat([*history, {"role": "user", "content": "Where did they meet?"}])
    assert follow["text"] == expected.text and follow["refused"] == expected.refused
    assert_verbatim(engine, follow)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("",), "the question is empty"),
        (("   ",), "the question is empty"),
        (("x" * 5000,), "too long"),
        (("Who?", "no-such-article"), "unknown article id"),
        (("Who visited?", None, 50), "top_k"),
        (("Who visited?", None, None, "not a list"), "history"),
        (("Who visited?", None, None, None, "poetry"), "mode"),
        (("Who visited?", None, None, None, "llm"), "LLM mode needs an endpoint"),
    ],
)
def test_errors_are_messages(client: Client, args: tuple, message: str) -> None:
    result = client.predict(*args, api_name="/ask")
    assert set(result) == {"error"}
    assert message in result["error"]
    assert "Traceback" not in result["error"]


def raw_call(url: str, body: dict) -> str:
    """POST `body` to /gradio_api/call/ask as a program without gradio_client would; the result's SSE text."""
    with httpx.Client(base_url=url, timeout=60) as http:
        event = http.post("gradio_api/call/ask", json=body).json()["event_id"]
        return http.get(f"gradio_api/call/ask/{event}").text


def test_ask_with_missing_arguments_says_the_question_is_missing(client: Client, url: str) -> None:
    """Too few arguments used to get {"error": null}: gradio refused the call before /ask ran."""
    missing = {"error": "the question is missing (the first argument)"}
    assert client.predict(api_name="/ask") == missing
    for data in ([], [None]):
        reply = raw_call(url, {"data": data})
        assert reply.startswith("event: complete"), reply
        assert json.loads(reply.split("data:", 1)[1]) == [missing]
    reply = raw_call(url, {"data": [QUESTION]})  # the other arguments may be left out
    assert '"refused": false' in reply and '"error"' not in reply


def test_ask_refuses_a_huge_history(client: Client) -> None:
    """A 13 MB history used to be accepted and processed."""
    huge = [{"role": "user", "content": "x" * 1_300_000}, {"role": "assistant", "content": "y"}] * 5
    result = client.predict("Where did they meet?", None, None, huge, api_name="/ask")
    assert result == {"error": "the history is too long (6,500,005 characters; the limit is 40,000): send only "
                               "the recent turns"}
    many = [{"role": "user", "content": "Why?"}, {"role": "assistant", "content": "Because."}] * 26
    result = client.predict("Where did they meet?", None, None, many, api_name="/ask")
    assert result == {"error": "the history is too long (52 messages; the limit is 50): send only the recent turns"}


def test_unexpected_errors_are_generic_and_logged(engine: RAG, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    fresh = RAG(engine.settings)
    monkeypatch.setattr(fresh, "ask", broken)
    with serve_app(fresh) as address:
        result = Client(address, verbose=False).predict(QUESTION, api_name="/ask")
    assert result == {"error": GENERIC_ERROR}
    assert "secret internals" in caplog.text


def test_twenty_concurrent_clients(url: str, engine: RAG) -> None:
    questions = [QUESTION, "Why did Tokayev visit Russia?", "What did Tokayev say about the LPR and the DPR?",
                 "What is the population of Brazil?"]

    def one(i: int) -> dict:
        return Client(url, verbose=False).predict(questions[i % len(questions)], api_name="/ask")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    assert all("error" not in r and r["text"] for r in results), [r.get("error") for r in results]
    assert sum(not r["refused"] for r in results) >= 15
    for r in results:
        assert_verbatim(engine, r)
    assert time.monotonic() - started < 120


def test_documents_endpoint(client: Client, engine: RAG) -> None:
    docs = client.predict(api_name="/documents")
    assert docs == engine.documents() and len(docs) == 5


def test_page_and_auth(engine: RAG) -> None:
    with serve_app(engine, auth=SecretStr("reader:s3cret-pass")) as address:
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(address + "config", timeout=10)
        with pytest.raises(Exception):  # noqa: B017 - the client raises its own auth error
            Client(address, verbose=False)
        answer = Client(address, auth=("reader", "s3cret-pass"), verbose=False).predict(QUESTION, api_name="/ask")
        assert not answer["refused"]


def test_api_key_never_reaches_the_page(engine: RAG) -> None:
    secret = "sk-test-DO-NOT-SHOW-1234567890"
    fresh = RAG(engine.settings.model_copy(update={"openai_api_key": SecretStr(secret)}))
    with serve_app(fresh) as address:
        for path in ("", "config", "gradio_api/info"):
            body = urllib.request.urlopen(address + path, timeout=10).read().decode()
            assert secret not in body


def test_indexing_in_progress_is_a_message(tmp_path: Path, small_corpus: Path) -> None:
    import threading

    engine = RAG(make_settings(tmp_path, small_corpus))
    gate, real_ingest = threading.Event(), engine.ingest
    engine.ingest = lambda *a, **k: (gate.wait(60), real_ingest(*a, **k))[1]  # type: ignore[method-assign]
    indexer = Indexer(engine)
    assert indexer.start_if_needed() and indexer.busy
    with serve_app(engine, indexer) as address:
        client = Client(address, verbose=False)
        assert client.predict("When did the harbour bridge open?", api_name="/ask") == {"error": INDEXING}
        assert "Indexing the articles" in status_line(engine, indexer)
        gate.set()
        indexer.join(120)
        assert indexer.state == "ready", indexer.message
        answer = client.predict("When did the harbour bridge open?", api_name="/ask")
        assert not answer["refused"] and "March 3" in answer["text"]
        assert "3 articles" in status_line(engine, indexer)


def test_an_index_in_an_older_layout_is_reindexed_at_start(tmp_path: Path, small_corpus: Path) -> None:
    settings = make_settings(tmp_path, small_corpus)
    RAG(settings).ingest()
    to_one_collection_layout(settings)
    engine = RAG(settings)
    assert engine.retriever.outdated()
    indexer = Indexer(engine)
    assert indexer.start_if_needed()
    indexer.join(120)
    assert indexer.state == "ready" and "added 3" in indexer.message, indexer.message
    assert not engine.retriever.outdated()
    assert not Indexer(engine).start_if_needed()
    assert "120 million" in engine.ask("How much did the harbour bridge cost?").text


@contextmanager
def app_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, float]]:
    """`python app.py` on a free port with `env` added; yields its URL and the seconds to HTTP 200 on /."""
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env={**os.environ, **env, "RAG_PORT": str(port)},
            stdout=out, stderr=subprocess.STDOUT,
        )
    started, status = time.monotonic(), None
    try:
        while time.monotonic() - started < 90 and proc.poll() is None and status is None:
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status
            except OSError:
                time.sleep(0.2)
        assert status == 200, log.read_text()[-3000:]
        yield f"http://127.0.0.1:{port}/", time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(20)


def test_python_app_starts_and_serves(indexed_articles, tmp_path: Path) -> None:  # noqa: ANN001
    """`python app.py` on an existing index: HTTP 200 on / quickly; the key never appears in its output."""
    env = {"RAG_DATA_DIR": str(indexed_articles.data_dir), "RAG_CORPUS_DIR": str(indexed_articles.corpus_dir),
           "OPENAI_API_KEY": "sk-never-print-me-42"}
    with app_process(env, tmp_path / "app.log") as (_, elapsed):
        print(f"python app.py → HTTP 200 on / in {elapsed:.1f} s")
    output = (tmp_path / "app.log").read_text()
    assert elapsed < 60
    assert "sk-never-print-me-42" not in output
    assert "127.0.0.1" in output and "0.0.0.0" not in output


def test_python_app_indexes_an_empty_index_on_first_start(tmp_path: Path, small_corpus: Path) -> None:
    """What `make run` does on a fresh clone: the page comes up while the corpus is indexed in the background
    (the start-up ingest and the first page once raced on importing chromadb), then questions are answered."""
    env = {"RAG_DATA_DIR": str(tmp_path / "fresh-data"), "RAG_CORPUS_DIR": str(small_corpus)}
    with app_process(env, tmp_path / "app.log") as (url, _):
        client = Client(url, verbose=False)
        deadline, answer = time.monotonic() + 120, {"error": INDEXING}
        while answer == {"error": INDEXING} and time.monotonic() < deadline:
            time.sleep(0.5)
            answer = client.predict("How much did the harbour bridge cost?", api_name="/ask")
    output = (tmp_path / "app.log").read_text()
    assert "120 million" in answer.get("text", ""), (answer, output[-3000:])
    assert "Traceback" not in output and "failed" not in output, output[-3000:]


# ------------------------------------------------------------------------------------------------ uploads


@pytest.fixture
def small_engine(tmp_path: Path, small_corpus: Path) -> RAG:
    engine = RAG(make_settings(tmp_path, small_corpus, max_file_bytes=4000))
    engine.ingest()
    return engine


def _file(tmp_path: Path, name: str, content: str | bytes) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_safe_filename() -> None:
    assert safe_filename("../../evil.txt") == "evil.txt"
    assert safe_filename("..\\..\\win.MD") == "win.md"
    assert safe_filename("/etc/passwd.txt") == "passwd.txt"
    assert safe_filename(".hidden.txt") == "hidden.txt"
    assert safe_filename("My Article (final)!.html") == "My-Article-final.html"
    assert safe_filename("Статья о мосте.txt") == "Статья-о-мосте.txt"
    assert safe_filename("a..b.txt") == "a-b.txt"
    assert safe_filename("<script>.txt") == "script.txt"
    assert safe_filename(".txt") == "txt"  # no suffix left: refused as an unsupported type


def test_upload_sanitises_and_ingests(small_engine: RAG, tmp_path: Path) -> None:
    corpus = Path(small_engine.settings.corpus_dir)
    text = "Ferry strike in Lundholm\n\nFerry workers in Lundholm went on strike on May 9 over pay. " * 2
    result = add_articles(
        small_engine, [_file(tmp_path, "a.txt", text), _file(tmp_path, "b.md", "# Tram line\n\nThe tram line "
                                                                    "to Kessel opens in 2027.")],
        names=["../../evil.txt", "Tram Line (draft).md"])
    assert [p.name for p in result.saved] == ["evil.txt", "Tram-Line-draft.md"]
    assert not (tmp_path / "evil.txt").exists() and not (corpus.parent.parent / "evil.txt").exists()
    assert (corpus / "evil.txt").read_text() == text
    ids = {d["doc_id"] for d in small_engine.documents()}
    assert {"evil", "Tram-Line-draft", "harbour-bridge"} <= ids
    assert "evil.txt saved as evil.txt" in result.text()
    answer = small_engine.ask("When did the Lundholm ferry workers go on strike?")
    assert not answer.refused and "May 9" in answer.text


def test_upload_never_overwrites_an_article(small_engine: RAG, tmp_path: Path) -> None:
    corpus = Path(small_engine.settings.corpus_dir)
    original = (corpus / "harbour-bridge.txt").read_text()
    result = add_articles(small_engine, [_file(tmp_path, "x.md", "# Other bridge\n\nA different bridge "
                                               "story about the Norvik bridge, opened in June.")],
                          names=["harbour-bridge.md"])  # same doc id as harbour-bridge.txt
    assert [p.name for p in result.saved] == ["harbour-bridge-2.md"]
    assert "renamed" in result.text() and "harbour-bridge.md" in result.text()
    assert (corpus / "harbour-bridge.txt").read_text() == original
    assert {"harbour-bridge", "harbour-bridge-2"} <= {d["doc_id"] for d in small_engine.documents()}


def test_bad_uploads_change_nothing(small_engine: RAG, tmp_path: Path) -> None:
    corpus = Path(small_engine.settings.corpus_dir)
    before_files, before_docs = sorted(corpus.iterdir()), small_engine.documents()
    files = [
        _file(tmp_path, "doc.pdf", "%PDF-1.4 not an article"),
        _file(tmp_path, "big.txt", "word " * 2000),  # 10,000 bytes > max_file_bytes=4000
        _file(tmp_path, "empty.txt", ""),
        _file(tmp_path, "binary.txt", bytes(range(256)) * 4),
        _file(tmp_path, "noext", "text"),
    ]
    result = add_articles(small_engine, files)
    assert result.saved == []
    text = result.text()
    assert "unsupported type .pdf" in text and "too large" in text and "empty file" in text
    assert "binary.txt: not added" in text and "unsupported type (none)" in text
    assert sorted(corpus.iterdir()) == before_files
    assert small_engine.documents() == before_docs


# ------------------------------------------------------------------------------------------------ rendering


def test_rendering_escapes_article_text() -> None:
    payload = '<script>alert(1)</script><img src=x onerror="alert(2)"> ${x} {{y}}'
    assert "<script>" not in ui.esc(payload) and "<img" not in ui.esc(payload) and "${" not in ui.esc(payload)
    doc_text = f"Title\n\nFirst paragraph.\n\nBefore {payload} after the quote.\n\nLast."
    start = doc_text.index("Before")
    end = start + len(f"Before {payload}")
    citation = {"number": 1, "doc_id": "d<1>", "title": "T<b>", "quote": doc_text[start:end],
                "start_char": start, "end_char": end, "score": 1.0}
    card = ui.citation_card(citation, 0, {"d<1>": {"text": doc_text}})
    assert "<script>" not in card and "<img" not in card and "<b>" not in card
    assert card.count("<mark>") == 1 and "First paragraph" not in card and "after the quote." in card
    answer = {"text": f"{payload} [1]", "refused": False, "citations": [citation], "sources": []}
    message = ui.answer_message(answer, 3)
    assert '<a class="aqa-cite" href="#aqa-src-3-1"' in message and "<script>" not in message


def test_refusal_and_notice_render_differently() -> None:
    source = {"doc_id": "d", "title": "Passage title", "text": "Closest passage text.", "score": 0.5}
    refusal = {"text": "The articles don't say.", "refused": True, "citations": [], "sources": [source],
               "notice": "LLM endpoint unreachable"}
    assert "aqa-refusal" in ui.answer_message(refusal, 0)
    assert "LLM endpoint unreachable" in ui.answer_message(refusal, 0)
    panel = ui.sources_panel(refusal, 0, {})
    assert "Closest passages" in panel and "Closest passage text." in panel and "<mark>" not in panel


def upload_through_the_page(url: str, files: list[tuple[str, bytes]]) -> str:
    """What the page does: POST the files to gradio's upload route, then run the upload event through the
    queue; returns the upload result HTML."""
    with httpx.Client(base_url=url, timeout=60) as http:
        config = http.get("config").json()
        widget = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "aqa-upload")
        event = next(d["id"] for d in config["dependencies"] if [widget, "upload"] in d["targets"])
        paths = http.post("gradio_api/upload", files=[("files", f) for f in files]).json()
        data = [[{"path": p, "orig_name": name, "meta": {"_type": "gradio.FileData"}}
                 for p, (name, _) in zip(paths, files, strict=True)]]
        http.post("gradio_api/queue/join", json={"data": data, "fn_index": event, "trigger_id": widget,
                                                 "session_hash": "upload-test", "event_data": None})
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": "upload-test"}) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed":
                    return message["output"]["data"][0]
    raise AssertionError("the upload event did not complete")


def test_refused_uploads_leave_gradios_cache(small_engine: RAG, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused files (a binary .txt that ingestion skips, a .pdf gradio's own type check refused before the
    handler ran) used to stay in gradio's upload cache; the binary one was reported saved, then not added."""
    cache = tmp_path / "gradio-cache"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    ferry = b"Ferry strike in Lundholm\n\nFerry workers in Lundholm went on strike on May 9 over pay.\n"
    with serve_app(small_engine) as address:
        result = upload_through_the_page(address, [("binary.txt", bytes(range(256)) * 4),
                                                   ("doc.pdf", b"%PDF-1.4"), ("Ferry Strike!.txt", ferry)])
        cached = [p.read_bytes() for p in cache.rglob("*") if p.is_file() and "vibe_edit_history" not in p.parts]
    assert "✗ binary.txt: not added — binary file<br>✗ doc.pdf: unsupported type .pdf" in result
    assert "✓ Ferry Strike!.txt saved as Ferry-Strike.txt" in result and result.count("binary.txt") == 1
    assert cached == [ferry]  # only the added file's copy, which gradio's delete_cache ages out
    assert not [p for p in cache.rglob("*") if p.is_file() and "vibe_edit_history" not in p.parts]  # on close
    assert (Path(small_engine.settings.corpus_dir) / "Ferry-Strike.txt").read_bytes() == ferry


def test_a_damaged_index_is_repaired_at_start_and_the_page_still_builds(tmp_path: Path, small_corpus: Path) -> None:
    import app
    from store.bm25 import BM25Index
    from store.files import bm25_root
    from store.segments import CHUNK_TABLE

    settings = make_settings(tmp_path, small_corpus)
    RAG(settings).ingest()
    root = bm25_root(settings)
    table = settings.data_dir / next(f for f in BM25Index.files(root, BM25Index.current_version(root)) if
                                     f.endswith(CHUNK_TABLE))
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])  # truncated
    engine = RAG(settings)
    indexer = Indexer(engine)
    app.build_app(engine, indexer)  # the page builds although the index cannot be read yet
    assert status_line(engine, indexer)  # renders (with no articles listed) instead of raising
    assert indexer.start_if_needed()
    indexer.join(120)
    assert indexer.state == "ready" and "repaired" in indexer.message, indexer.message
    assert not Indexer(engine).start_if_needed()
    assert "120 million" in engine.ask("How much did the harbour bridge cost?").text
