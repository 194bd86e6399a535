"""The UI's parts (ui/chat.py, ui/status.py, ui/upload.py, ui/api.py) called directly: no server, no Blocks.

The chat and the API run against a real engine over SMALL_CORPUS; uploads go into a fresh temporary corpus.
tests/test_app.py and tests/test_browser.py cover the same parts through the served app.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest
from conftest import BRIDGE, make_settings

from ingest import IngestSummary, Progress
from rag import RAG, QuestionError, UserFacingError
from store.settings import Settings
from ui import upload as upload_module
from ui.api import Api
from ui.chat import Chat, error_text, history, pick_example, turn_of_message
from ui.status import GENERIC_ERROR, INDEXING, Indexer, Status, doc_choices, status_line
from ui.upload import Upload, UploadResult, add_articles

SKIP = gr.skip()


@pytest.fixture(scope="module")
def small(small_index: Settings) -> RAG:
    """An engine over the module's SMALL_CORPUS index; tests here only read it."""
    return RAG(small_index)


def busy(engine: RAG) -> Indexer:
    indexer = Indexer(engine)
    indexer.state = "indexing"  # as while start_if_needed's thread runs
    return indexer


def final_turn(updates: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The last turn after the last update (the turns list is the same object in every update)."""
    return updates[-1][1][-1]


def last_message(update: tuple[Any, ...]) -> str:
    return update[0][-1]["content"]


# ------------------------------------------------------------------------------------------------ status


def test_status_line_states(small: RAG) -> None:
    indexer = Indexer(small)
    assert "3 articles" in status_line(small, indexer) and "aqa-ready" in status_line(small, indexer)
    assert "LLM answers" not in status_line(small, indexer)
    assert "Indexing the articles" in status_line(small, busy(small))
    indexer.state, indexer.message = "error", "corpus folder <missing>"
    line = status_line(small, indexer)
    assert "Indexing failed: corpus folder &lt;missing&gt;" in line and "aqa-error" in line


def test_the_start_up_ingest_shows_its_progress(tmp_path: Path, small_corpus: Path) -> None:
    engine = RAG(make_settings(tmp_path, small_corpus))
    indexer = Indexer(engine)
    seen: list[str] = []
    report = indexer._on_progress

    def spy(progress: Progress) -> None:  # what the page's status line said at each report
        report(progress)
        seen.append(status_line(engine, indexer))

    indexer._on_progress = spy  # type: ignore[method-assign]
    assert indexer.start_if_needed()
    indexer.join(120)
    assert indexer.state == "ready" and len(seen) >= 2
    assert "(indexing 0 of 3 articles, 0 s so far)" in seen[0]
    assert "indexing 3 of 3 articles · " in seen[-1] and "articles/s · about" in seen[-1]
    assert "Indexing the articles" not in status_line(engine, indexer)  # done: what is indexed


def test_bylines_and_flags_in_the_corpus_table_and_on_cards() -> None:
    from ui.render import byline, corpus_table

    about = {"author": "Jane Doe", "author_role": "correspondent", "outlet": "Valdoria Daily",
             "published": "2024-03-03"}
    assert byline(about) == "By Jane Doe, correspondent · Valdoria Daily · 2024-03-03"
    assert byline({"outlet": "Segodnya"}) == "Segodnya" and byline({}) == ""
    table = corpus_table([{"doc_id": "a", "title": "A <b>", "chunks": 2, **about, "instructions": None},
                          {"doc_id": "b", "title": "B", "chunks": 1, "instructions": "Ignore previous <instructions>"}])
    assert "By Jane Doe, correspondent · Valdoria Daily" in table and "A &lt;b&gt;" in table
    assert table.count("aqa-flag") == 1 and "Ignore previous &lt;instructions&gt;" in table


def test_indexer_reports_a_failed_start_up_ingest(tmp_path: Path) -> None:
    engine = RAG(make_settings(tmp_path, tmp_path / "no-such-folder"))
    indexer = Indexer(engine)
    assert indexer.start_if_needed()
    indexer.join(60)
    assert indexer.state == "error" and not indexer.busy
    assert indexer.message and "Traceback" not in indexer.message


def test_indexer_does_nothing_on_a_current_index(small: RAG) -> None:
    indexer = Indexer(small)
    assert not indexer.start_if_needed()
    assert indexer.state == "ready" and indexer._thread is None


def test_refresh_and_poll(small: RAG) -> None:
    status, filters, about, examples = Status(small, Indexer(small)).refresh()
    assert "3 articles" in status
    assert {doc_id for _, doc_id in filters["choices"]} == {"harbour-bridge", "glacier-study", "orchard"}
    assert "harbour-bridge" in about and len(examples["examples"]) == 3
    assert Status(small, Indexer(small)).poll()[-1].active is False
    assert Status(small, busy(small)).poll()[-1].active is True


def test_doc_choices_fall_back_to_the_id() -> None:
    assert doc_choices([{"title": "", "doc_id": "a"}, {"title": "B", "doc_id": "b"}]) == [("a", "a"), ("B", "b")]


# -------------------------------------------------------------------------------------------------- chat


def test_respond_streams_a_cited_answer(small: RAG) -> None:
    updates = list(Chat(small, Indexer(small)).respond(BRIDGE, [], [], 3.0, None))
    assert len(updates) >= 3  # the question at once, streamed text, the final answer
    assert "Searching the articles" in last_message(updates[0])
    assert "aqa-streaming" in last_message(updates[1]) and updates[1][2:] == (SKIP, SKIP)
    chat_messages, turns, sources, box = updates[-1]
    assert len(turns) == 1 and box == ""
    answer = turns[0]["answer"]
    assert "120 million" in answer["text"] and answer["citations"]
    assert "aqa-answered" in chat_messages[-1]["content"] and BRIDGE in chat_messages[0]["content"]
    assert "<mark>" in sources and "aqa-src-0-1" in sources


def test_respond_builds_one_validated_request(small: RAG, monkeypatch: pytest.MonkeyPatch) -> None:
    """Filters, top_k and the answered earlier turns go to engine.request, as for /ask."""
    chat = Chat(small, Indexer(small))
    first = list(chat.respond(BRIDGE, [], [], 3.0, None))[-1][1]
    calls: list[tuple[Any, ...]] = []
    real = small.request
    monkeypatch.setattr(small, "request", lambda *args: calls.append(args) or real(*args))
    unanswered = {"q": "lost question", "error": GENERIC_ERROR}
    turns = list(chat.respond("Who is the mayor?", [*first, unanswered], ["harbour-bridge"], 2.0, "llm"))[-1][1]
    assert calls == [("Who is the mayor?", ["harbour-bridge"], 2, history(first), None)]
    assert history(first) == [{"role": "user", "content": BRIDGE},
                              {"role": "assistant", "content": first[0]["answer"]["text"]}]
    assert {s["doc_id"] for s in turns[-1]["answer"]["sources"]} == {"harbour-bridge"}
    assert len(turns) == 3 and turns[:2] == [*first, unanswered]  # earlier turns are kept as they were


@pytest.mark.parametrize(
    ("question", "doc_ids", "message"),
    [("   ", None, "Sorry: the question is empty."), (None, None, "Sorry: the question is empty."),
     ("x" * 61, None, "too long"), ("Who?", ["no-such-article"], "unknown article id")],
)
def test_bad_questions_become_messages(small_index: Settings, question: str | None, doc_ids: list[str] | None,
                                       message: str) -> None:
    engine = RAG(small_index.model_copy(update={"max_question_chars": 60}))
    updates = list(Chat(engine, Indexer(engine)).respond(question, [], doc_ids, 3.0, None))  # type: ignore[arg-type]
    turn = final_turn(updates)
    assert message in turn["error"] and "answer" not in turn
    assert "aqa-status-error" in last_message(updates[-1]) and updates[-1][3] == ""


def test_unexpected_errors_are_generic_and_logged(small: RAG, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: object) -> Iterator[str]:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(small, "stream", broken)
    with caplog.at_level(logging.ERROR):
        updates = list(Chat(small, Indexer(small)).respond(BRIDGE, [], None, 3.0, None))
    assert final_turn(updates)["error"] == GENERIC_ERROR
    assert "secret internals" in caplog.text and "secret internals" not in last_message(updates[-1])


def test_a_stream_without_an_answer_is_an_error(small: RAG, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(small, "stream", lambda request: iter(["half an ans"]))
    updates = list(Chat(small, Indexer(small)).respond(BRIDGE, [], None, 3.0, None))
    assert "half an ans" in last_message(updates[1])
    assert final_turn(updates)["error"] == GENERIC_ERROR and final_turn(updates)["partial"] == "half an ans"


def test_error_text() -> None:
    assert error_text(QuestionError("the question is empty")) == "Sorry: the question is empty."
    assert error_text(UserFacingError("The index is locked.")) == "The index is locked."


def test_busy_indexer_answers_nothing(small: RAG, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(small, "request", lambda *a: pytest.fail("must not answer while indexing"))
    updates = list(Chat(small, busy(small)).respond(BRIDGE, [], None, 3.0, None))
    assert len(updates) == 1
    assert final_turn(updates) == {"q": BRIDGE, "partial": "", "error": INDEXING, "kind": "busy"}
    assert "aqa-status-busy" in last_message(updates[0])


def test_retry_replaces_the_last_turn(small: RAG) -> None:
    chat = Chat(small, Indexer(small))
    failed = [{"q": "Who opened the bridge?", "partial": "", "error": GENERIC_ERROR}]
    first = list(chat.respond(BRIDGE, [], None, 3.0, None))[-1][1]
    turns = list(chat.retry([*first, *failed], None, 3.0, None))[-1][1]
    assert len(turns) == 2 and turns[0] == first[0]
    assert turns[1]["q"] == "Who opened the bridge?" and "error" not in turns[1] and turns[1]["answer"]
    assert list(chat.retry([], None, 3.0, None)) == [([], [], chat.panel([]), SKIP)]


def test_turn_of_message() -> None:
    turns = [{"q": "a"}, {"q": "  "}, {"q": "b"}]  # the empty question shows no user message
    assert [turn_of_message(turns, i) for i in range(6)] == [0, 0, 1, 2, 2, None]
    assert turn_of_message(turns, -1) is None


def test_select_turn_shows_that_turns_sources(small: RAG) -> None:
    chat = Chat(small, Indexer(small))
    turns = list(chat.respond(BRIDGE, [], None, 3.0, None))[-1][1]
    turns = list(chat.respond("How much thickness did the Ostfjell glacier lose?", turns, None, 3.0, None))[-1][1]
    first, second = chat.panel(turns, 0), chat.panel(turns, 1)
    assert first != second and "aqa-src-0-1" in first and "aqa-src-1-1" in second
    assert chat.select_turn(turns, SimpleNamespace(index=1)) == first  # type: ignore[arg-type]
    assert chat.select_turn(turns, SimpleNamespace(index=[2, 0])) == second  # type: ignore[arg-type]
    assert chat.select_turn(turns, SimpleNamespace(index=4)) == SKIP  # type: ignore[arg-type]


def test_pick_example_and_clear(small: RAG) -> None:
    assert pick_example(SimpleNamespace(value={"text": "Q?", "display_text": "Short"})) == "Q?"  # type: ignore[arg-type]
    assert pick_example(SimpleNamespace(value="Plain?")) == "Plain?"  # type: ignore[arg-type]
    chat_messages, turns, sources, box = Chat(small, Indexer(small)).clear()
    assert chat_messages == [] and turns == [] and box == "" and "aqa-src" not in sources


# --------------------------------------------------------------------------------------------------- api


def test_api_answers(small: RAG) -> None:
    api = Api(small, Indexer(small))
    answer = api.ask(BRIDGE, "harbour-bridge, ", 2)
    assert not answer["refused"] and answer["citations"] and answer["question"] == BRIDGE
    assert {s["doc_id"] for s in answer["sources"]} == {"harbour-bridge"} and len(answer["sources"]) <= 2
    assert api.documents() == small.documents() and len(api.documents()) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [(("",), "the question is empty"), ((42,), "the question must be text"),
     (("Who?", "no-such-article"), "unknown article id"), (("Who?", None, 50), "top_k"),
     (("Who?", None, "3"), "top_k"), (("Who?", None, None, "not a list"), "history"),
     (("Who?", None, None, None, "poetry"), "mode"), (("Who?", None, None, None, "llm"), "LLM mode needs")],
)
def test_api_argument_errors(small: RAG, args: tuple[Any, ...], message: str) -> None:
    result = Api(small, Indexer(small)).ask(*args)
    assert set(result) == {"error"} and message in result["error"]


def test_api_call_without_a_question_says_so(small: RAG) -> None:
    api = Api(small, Indexer(small))
    assert api.ask() == {"error": "the question is missing (the first argument)"}
    assert api.ask(None, None, None, None, None) == api.ask()


def test_a_long_chat_sends_only_its_recent_turns(small: RAG, monkeypatch: pytest.MonkeyPatch) -> None:
    """/ask refuses a history over 50 messages; the chat keeps working past 25 turns by sending the recent ones."""
    answered = {"q": "When did the harbour bridge open?", "answer": {"text": "It opened on March 3 [1]."}}
    turns = [dict(answered) for _ in range(40)]
    seen: list[Any] = []
    real_request = small.request
    monkeypatch.setattr(small, "request", lambda *args: (seen.append(args[3]), real_request(*args))[1])
    turn = final_turn(list(Chat(small, Indexer(small)).respond(BRIDGE, turns, None, 3.0, None)))
    assert "error" not in turn and turn["answer"]["citations"]
    assert len(seen[0]) == 50 and seen[0][0]["role"] == "user" and seen[0] == history(turns)[-50:]


def test_api_busy_and_unexpected_errors(small: RAG, monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    assert Api(small, busy(small)).ask(BRIDGE) == {"error": INDEXING}
    monkeypatch.setattr(small, "ask", lambda request: (_ for _ in ()).throw(RuntimeError("secret internals")))
    with caplog.at_level(logging.ERROR):
        assert Api(small, Indexer(small)).ask(BRIDGE) == {"error": GENERIC_ERROR}
    assert "secret internals" in caplog.text


# ------------------------------------------------------------------------------------------------ upload


@pytest.fixture
def fresh(tmp_path: Path, small_corpus: Path) -> RAG:
    """Its own corpus folder and index, with a 4 kB file limit: upload tests change both."""
    engine = RAG(make_settings(tmp_path, small_corpus, max_file_bytes=4000))
    engine.ingest()
    return engine


def upload_file(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / "uploads" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


FERRY = "Ferry strike in Lundholm\n\nFerry workers in Lundholm went on strike on May 9 over pay.\n"


def test_upload_adds_and_refreshes(fresh: RAG, tmp_path: Path) -> None:
    steps: list[str] = []
    out = Upload(fresh, Indexer(fresh)).upload([upload_file(tmp_path, "Ferry Strike!.txt", FERRY)],
                                               progress=lambda value, desc="": steps.append(desc))
    result, status, filters, about, _examples, files = out
    assert "saved as Ferry-Strike.txt" in result and "Index: 1 article(s) added" in result
    assert "4 articles" in status and "Ferry-Strike" in about and files is None
    assert "Ferry-Strike" in {doc_id for _, doc_id in filters["choices"]}
    assert steps == ["Saving files…", "Indexing 1 file(s)…"]
    assert (Path(fresh.settings.corpus_dir) / "Ferry-Strike.txt").read_text() == FERRY


def test_upload_of_nothing_changes_nothing(fresh: RAG) -> None:
    assert Upload(fresh, Indexer(fresh)).upload([]) == (SKIP, SKIP, SKIP, SKIP, SKIP, None)


def test_upload_waits_for_the_start_up_ingest(fresh: RAG, tmp_path: Path) -> None:
    before = sorted(Path(fresh.settings.corpus_dir).iterdir())
    out = Upload(fresh, busy(fresh)).upload([upload_file(tmp_path, "ferry.txt", FERRY)])
    assert INDEXING in out[0] and "aqa-status-busy" in out[0] and out[-1] is None
    assert sorted(Path(fresh.settings.corpus_dir).iterdir()) == before


def test_bad_and_unsupported_uploads_leave_nothing(fresh: RAG, tmp_path: Path) -> None:
    corpus = Path(fresh.settings.corpus_dir)
    before_files, before_docs = sorted(corpus.iterdir()), fresh.documents()
    files = [upload_file(tmp_path, "doc.pdf", "%PDF-1.4"), upload_file(tmp_path, "big.txt", "word " * 2000),
             upload_file(tmp_path, "empty.txt", ""), upload_file(tmp_path, "binary.txt", bytes(range(256)) * 4)]
    result = add_articles(fresh, files, names=["doc.pdf", "big.txt", "empty.txt", "<i>binary.txt"])
    text = result.text()
    assert "✗ doc.pdf: unsupported type .pdf (allowed: " in text and "✗ big.txt: too large (10,000 bytes" in text
    assert "✗ empty.txt: empty file" in text and "✗ &lt;i&gt;binary.txt: not added — binary file" in text
    assert "✓" not in text and "saved" not in text  # the binary file was never reported as saved
    assert result.saved == [] and isinstance(result.summary, IngestSummary)
    assert sorted(result.refused) == sorted(Path(f) for f in files) and all(Path(f).exists() for f in files)
    assert sorted(corpus.iterdir()) == before_files and fresh.documents() == before_docs
    refused = add_articles(fresh, [files[0]])
    assert refused.summary is None and refused.text().startswith("✗ doc.pdf: unsupported type")


def test_a_failed_ingest_removes_the_files(fresh: RAG, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    corpus = Path(fresh.settings.corpus_dir)
    before = sorted(corpus.iterdir())
    monkeypatch.setattr(fresh, "ingest", lambda paths: (_ for _ in ()).throw(RuntimeError("secret internals")))
    with caplog.at_level(logging.ERROR):
        result = add_articles(fresh, [upload_file(tmp_path, "ferry.txt", FERRY)])
    assert result.text() == "✗ ferry.txt: not added — indexing failed (see the server log)"
    assert "secret internals" in caplog.text and "secret internals" not in result.text()
    monkeypatch.setattr(fresh, "ingest", lambda paths: (_ for _ in ()).throw(UserFacingError("the store is <full>")))
    again = add_articles(fresh, [upload_file(tmp_path, "ferry-2.txt", FERRY)])
    assert again.text() == "✗ ferry-2.txt: not added — the store is &lt;full&gt;"
    assert sorted(corpus.iterdir()) == before and result.saved == []


def test_a_failed_upload_is_a_message(fresh: RAG, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object, **kwargs: object) -> UploadResult:
        raise OSError("disk on fire")

    monkeypatch.setattr(upload_module, "add_articles", broken)
    with caplog.at_level(logging.ERROR):
        out = Upload(fresh, Indexer(fresh)).upload([upload_file(tmp_path, "ferry.txt", FERRY)])
    assert "The upload failed; the error was logged." in out[0] and "disk on fire" not in out[0]
    assert "disk on fire" in caplog.text and "3 articles" in out[1]



def test_each_upload_gets_one_line_with_its_final_outcome(fresh: RAG, tmp_path: Path) -> None:
    """A file ingestion skips (binary) was once reported "✓ saved as" and then "✗ not added"."""
    files = [upload_file(tmp_path, "ferry.txt", FERRY), upload_file(tmp_path, "binary.txt", bytes(range(256)) * 4),
             upload_file(tmp_path, "doc.pdf", "%PDF-1.4")]
    lines = add_articles(fresh, files).text().splitlines()
    assert lines[:2] == ["✓ ferry.txt saved as ferry.txt", "✗ binary.txt: not added — binary file"]
    assert lines[2].startswith("✗ doc.pdf: unsupported type .pdf") and len(lines) == 4
    assert lines[3].startswith("Index: 1 article(s) added;")


def gradio_cache_file(cache: Path, name: str, content: str | bytes) -> dict[str, Any]:
    """An upload as gradio leaves it: <GRADIO_TEMP_DIR>/<content hash>/<name>, described by a FileData dict."""
    data = content.encode() if isinstance(content, str) else content
    path = cache / hashlib.sha256(data + name.encode()).hexdigest() / name
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return {"path": str(path), "orig_name": f"My {name}", "meta": {"_type": "gradio.FileData"}}


@pytest.fixture
def gradio_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "gradio-cache"
    cache.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    return cache


def test_upload_deletes_cached_copies_of_files_it_did_not_add(fresh: RAG, gradio_cache: Path) -> None:
    files = [gradio_cache_file(gradio_cache, "ferry.txt", FERRY),
             gradio_cache_file(gradio_cache, "binary.txt", bytes(range(256)) * 4),
             gradio_cache_file(gradio_cache, "doc.pdf", "%PDF-1.4"), gradio_cache_file(gradio_cache, "empty.txt", "")]
    out = Upload(fresh, Indexer(fresh)).upload(files)
    assert "✓ My ferry.txt saved as My-ferry.txt" in out[0] and "✗ My binary.txt: not added" in out[0]
    assert "✗ My doc.pdf: unsupported type" in out[0] and "✗ My empty.txt: empty file" in out[0]
    assert [p.relative_to(gradio_cache) for p in gradio_cache.rglob("*")] == [
        Path(files[0]["path"]).parent.relative_to(gradio_cache), Path(files[0]["path"]).relative_to(gradio_cache)]
    assert {d["doc_id"] for d in fresh.documents()} >= {"My-ferry"}


def test_upload_deletes_cached_copies_when_busy_or_failing(fresh: RAG, gradio_cache: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    Upload(fresh, busy(fresh)).upload([gradio_cache_file(gradio_cache, "a.txt", FERRY)])
    monkeypatch.setattr(upload_module, "add_articles", lambda *a, **k: (_ for _ in ()).throw(OSError("full")))
    out = Upload(fresh, Indexer(fresh)).upload([gradio_cache_file(gradio_cache, "b.txt", FERRY)])
    assert "The upload failed" in out[0] and list(gradio_cache.iterdir()) == []
    outside = upload_file(tmp_path, "c.txt", FERRY)  # not in gradio's cache: never deleted
    Upload(fresh, busy(fresh)).upload([outside])
    assert Path(outside).exists()
