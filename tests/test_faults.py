"""Faults, for real: an LLM endpoint that misbehaves (engine and `/ask`), a Chroma server that dies or
freezes and comes back, ingests SIGKILLed at random points, and two processes on one embedded store.

Every wait is bounded (pytest-timeout marks, join/wait timeouts), every process started here is killed in a
`finally`. tests/test_llm.py covers the plain endpoint failures (500, stall, empty stream, refused) and
tests/test_ingest.py fixed-delay kills; this file adds what they do not.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SMALL_CORPUS, free_port, make_settings
from gradio_client import Client
from index_view import stored_records
from openai_stub import Script, StubOpenAI

import app
from ingest import index as index_module
from ingest import ingest
from rag import RAG, Answer, store
from rag.errors import UserFacingError
from rag.retrieve import Retriever
from rag.settings import Settings

BRIDGE = "How much did the harbour bridge cost?"
FERRY = "When did the Lundholm ferry workers go on strike?"
FERRY_TEXT = (
    "Ferry strike in Lundholm\n\nFerry workers in Lundholm went on strike on May 9 over pay. The strike halted "
    "crossings to the island of Vessa for three days.\n\nUnion leader Petra Sand said talks would resume in June."
)
TRAM_TEXT = (
    "# Tram line to Kessel approved\n\nThe city council of Kessel approved a new tram line on Tuesday. The line "
    "will be 14 kilometres long and open in 2027.\n\nIt will cost 310 million euros."
)
RAG_CLI = str(Path(sys.executable).parent / "rag")


def write_corpus(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("faults-index")
    settings = make_settings(tmp, write_corpus(tmp / "articles", SMALL_CORPUS))
    ingest(settings)
    return settings


@contextmanager
def serve(engine: RAG) -> Iterator[Client]:
    """The real gradio app for `engine` on a free loopback port, and a client for it."""
    demo = app.build_app(engine)
    port = free_port()
    app.launch(demo, engine.settings, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment for a `rag` subprocess on `settings`' data and corpus, and nothing else of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") and k != "OPENAI_API_KEY"}
    return {**env, "RAG_DATA_DIR": str(settings.data_dir), "RAG_CORPUS_DIR": str(settings.corpus_dir)}


# ------------------------------------------------------------------------------------------ LLM endpoint


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
    with StubOpenAI() as stub, serve(RAG(llm_settings(llm_index, stub.base_url))) as client:
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


# ---------------------------------------------------------------------------------------- Chroma server


@dataclass
class ChromaServer:
    """`chroma run` on a fixed port and path, which a test may kill, freeze and restart."""

    path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ChromaServer:
        chroma = Path(sys.executable).parent / "chroma"
        log = open(self.path.parent / "chroma.log", "ab")  # noqa: SIM115 - handed to the process
        self.proc = subprocess.Popen([str(chroma), "run", "--path", str(self.path), "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.kill()
        log_text = (self.path.parent / "chroma.log").read_text(errors="replace")[-2000:]
        raise AssertionError(f"chroma run did not start on port {self.port}: {log_text}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen server must be able to die
            self.proc.kill()
            self.proc.wait(30)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path / "chroma-db").start()
    try:
        yield server
    finally:
        server.kill()


def server_engine(tmp_path: Path, chroma: ChromaServer) -> RAG:
    corpus = write_corpus(tmp_path / "articles", SMALL_CORPUS)
    settings = make_settings(tmp_path, corpus, chroma_host="127.0.0.1", chroma_port=chroma.port,
                             collection="faults-restart")
    ingest(settings)
    return RAG(settings)


@pytest.mark.timeout(240)
def test_chroma_server_killed_then_restarted(tmp_path: Path, chroma: ChromaServer) -> None:
    """Kill the server under a running engine and app: clear errors, quickly; restart it on the same port
    and path: the same engine and app answer again, and the store kept everything."""
    engine = server_engine(tmp_path, chroma)
    with serve(engine) as client:
        assert "120 million" in engine.ask(BRIDGE).text
        assert "120 million" in client.predict(BRIDGE, api_name="/ask")["text"]
        chroma.kill()
        for _ in range(2):  # the first call fails on the open connection, the second on reconnecting
            started = time.monotonic()
            with pytest.raises(UserFacingError) as failure:
                engine.ask(BRIDGE)
            assert time.monotonic() - started < 10
            assert "Chroma" in str(failure.value) or "vector" in str(failure.value), failure.value
            started = time.monotonic()
            result = client.predict(BRIDGE, api_name="/ask")
            assert time.monotonic() - started < 10
            assert set(result) == {"error"} and result["error"] != app.GENERIC_ERROR, result
        chroma.start()
        answer = engine.ask(BRIDGE)  # same engine: it reconnects by itself
        assert not answer.refused and "120 million" in answer.text
        assert "120 million" in client.predict(BRIDGE, api_name="/ask")["text"]
    summary = ingest(engine.settings)
    assert summary.embedded == 0 and len(summary.unchanged) == 3  # nothing was lost with the server


@pytest.mark.timeout(180)
def test_frozen_chroma_server_is_an_error_in_bounded_time(tmp_path: Path, chroma: ChromaServer) -> None:
    engine = server_engine(tmp_path, chroma)
    assert "120 million" in engine.ask(BRIDGE).text
    chroma.signal(signal.SIGSTOP)
    outcome: list[BaseException | Answer] = []

    def ask() -> None:
        try:
            outcome.append(engine.ask(BRIDGE))
        except BaseException as exc:  # noqa: BLE001 - recorded and checked below
            outcome.append(exc)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    asker.join(25)
    hung = asker.is_alive()
    chroma.signal(signal.SIGCONT)  # let the stuck request finish before the fixture kills the server
    asker.join(30)
    assert not hung, "engine.ask was still waiting on the frozen Chroma server after 25 s"
    assert outcome and isinstance(outcome[0], UserFacingError), outcome


FIRST_BURST_SCRIPT = textwrap.dedent("""
    import json, sys, threading
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path
    from rag import RAG
    from rag.settings import Settings
    engine = RAG(Settings(data_dir=Path(sys.argv[1]), corpus_dir=Path(sys.argv[2]), _env_file=None))
    engine.retriever.corpus()  # as `python app.py` does before serving: BM25 loaded, Chroma not opened yet
    start = threading.Barrier(6)
    def ask(_):
        start.wait(30)
        try:
            return "ok" if "120 million" in engine.ask(sys.argv[3]).text else "wrong answer"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:160]
    with ThreadPoolExecutor(6) as pool:
        print(json.dumps(list(pool.map(ask, range(6)))))
""")


@pytest.mark.timeout(240)
def test_first_concurrent_questions_in_a_fresh_process(small_index: Settings, tmp_path: Path) -> None:
    for trial in range(3):  # the race is lost in nearly every fresh process; three make it certain
        data = tmp_path / f"copy-{trial}"
        shutil.copytree(small_index.data_dir, data)
        out = subprocess.run([sys.executable, "-c", FIRST_BURST_SCRIPT, str(data), str(small_index.corpus_dir),
                              BRIDGE], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        results = json.loads(out.stdout.strip().splitlines()[-1])
        assert results == ["ok"] * 6, f"fresh process {trial}: {results}"


# ------------------------------------------------------------------------------------ ingest under SIGKILL

INGEST_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from ingest import ingest
    from rag.settings import Settings
    print("imported", flush=True)
    ingest(Settings(data_dir=Path(sys.argv[1]), corpus_dir=Path(sys.argv[2]), _env_file=None))
""")


def assert_index_consistent(settings: Settings) -> dict[str, dict]:
    """Store, docstore, BM25 index and corpus folder agree; no chunk or sentence is stored twice."""
    held = stored_records(settings)
    docstore = index_module._load_docstore(settings)
    documents = index_module._stored_documents(docstore).values()
    expected = {node.id_ for doc in documents for node in index_module._chunk_nodes(doc)}
    assert set(held) == expected
    spans = [(m["doc_id"], m["kind"], m["start_char"], m["end_char"]) for m in held.values()]
    assert len(spans) == len(set(spans)), "duplicate chunks or sentences in the store"
    view = Retriever(settings).corpus()
    files = {p.stem for p in Path(settings.corpus_dir).iterdir()}
    assert set(view.documents) == files
    assert {c.id for c in view.bm25.chunks} == {cid for cid, m in held.items() if m["kind"] == "chunk"}
    return held


# Where a kill is aimed: right after the imports, or just after the run first touches the Chroma store, the
# docstore or the BM25 directory, plus a random offset (seconds) drawn from the range given.
KILL_POINTS = {"imports": ("", (0.0, 1.5)), "chroma": ("chroma", (0.0, 0.8)),
               "docstore": ("docstore.json", (0.0, 0.05)), "bm25": ("bm25", (0.0, 0.03))}


def data_files(data_dir: Path, prefix: str) -> dict[str, int]:
    """mtime_ns of every file under `data_dir` whose relative path starts with `prefix`."""
    found = {}
    for folder, _, names in os.walk(data_dir):
        for name in names:
            path = Path(folder) / name
            rel = path.relative_to(data_dir).as_posix()
            if rel.startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    found[rel] = path.stat().st_mtime_ns
    return found


def ingest_killed_at(settings: Settings, point: str, offset: float) -> str:
    """Run an ingest in a subprocess and SIGKILL it `offset` s after it reaches `point`; what happened."""
    prefix, _ = KILL_POINTS[point]
    before = data_files(settings.data_dir, prefix) if point != "imports" else {}
    proc = subprocess.Popen([sys.executable, "-c", INGEST_SCRIPT, str(settings.data_dir), str(settings.corpus_dir)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None and select.select([proc.stdout], [], [], 90)[0], "no start-up in 90 s"
        assert proc.stdout.readline() == b"imported\n"
        deadline = time.monotonic() + 90
        while point != "imports" and data_files(settings.data_dir, prefix) == before:
            if proc.poll() is not None or time.monotonic() > deadline:
                return "finished before reaching it"
            time.sleep(0.005)
        try:
            proc.wait(offset)
            return "finished first"
        except subprocess.TimeoutExpired:
            return "killed"
    finally:
        proc.kill()
        proc.wait(30)


@pytest.mark.timeout(150)
def test_ingest_sigkilled_at_random_points_over_several_runs(tmp_path: Path) -> None:
    """Seeded random SIGKILLs (FAULTS_SEED=n to vary) on one data dir while the corpus changes between runs, so
    kills land in embedding, the Chroma write, the docstore persist or the BM25 swap of an add, an update or a
    delete, on top of the previous kill's leftovers. One clean run then leaves a consistent index, nothing twice."""
    seed = int(os.environ.get("FAULTS_SEED", "20240611"))
    rng = random.Random(seed)
    corpus = write_corpus(tmp_path / "articles", SMALL_CORPUS)
    settings = make_settings(tmp_path, corpus)
    changes: list[Callable[[], object]] = [
        lambda: None,
        lambda: (corpus / "ferry.txt").write_text(FERRY_TEXT),
        lambda: (corpus / "harbour-bridge.txt").write_text(SMALL_CORPUS["harbour-bridge.txt"] + "\n\nIt opened late."),
        lambda: ((corpus / "orchard.html").unlink(), (corpus / "tram.md").write_text(TRAM_TEXT)),
    ]
    schedule = []
    for change in changes:
        change()
        point = rng.choice(sorted(KILL_POINTS))
        offset = rng.uniform(*KILL_POINTS[point][1])
        outcome = ingest_killed_at(settings, point, offset)
        persisted = len(index_module._load_docstore(settings).get_all_document_hashes())
        schedule.append((point, round(offset, 3), outcome, f"docstore: {persisted} docs"))
    print(f"seed {seed}: {schedule}")
    assert sum(step[2] == "killed" for step in schedule) >= 2, schedule
    summary = ingest(settings)
    held = assert_index_consistent(settings)
    assert summary.chunks == sum(m["kind"] == "chunk" for m in held.values())
    assert sorted(Retriever(settings).corpus().documents) == ["ferry", "glacier-study", "harbour-bridge", "tram"]
    assert ingest(settings).embedded == 0
    engine = RAG(settings)
    assert "310 million" in engine.ask("How much will the Kessel tram line cost?").text
    assert "May 9" in engine.ask(FERRY).text


# ------------------------------------------------------------------------ two processes, one embedded store

CHECK_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from rag import RAG
    from rag.settings import Settings
    engine = RAG(Settings(data_dir=Path(sys.argv[1]), corpus_dir=Path(sys.argv[2]), _env_file=None))
    answer = engine.ask(sys.argv[3])
    print(json.dumps({"refused": answer.refused, "text": answer.text}))
""")


@dataclass
class ReaderRun:
    """What a long-lived engine saw while `rag ingest` (another process) added an article to its store."""

    settings: Settings
    outcomes: list[tuple[str, float, str]] = field(default_factory=list)  # (ok|error, seconds, detail)
    ingest_rc: int | None = None
    ingest_output: str = ""
    ingest_seconds: float = 0.0
    after: Answer | BaseException | None = None  # the same engine asked about the new article afterwards
    fresh: dict[str, Any] = field(default_factory=dict)  # a new process asked about it


@pytest.fixture(scope="module")
def reader_during_ingest(tmp_path_factory: pytest.TempPathFactory) -> ReaderRun:
    tmp = tmp_path_factory.mktemp("two-processes")
    corpus = write_corpus(tmp / "articles", SMALL_CORPUS)
    settings = make_settings(tmp, corpus)
    ingest(settings)
    engine = RAG(settings)
    assert "120 million" in engine.ask(BRIDGE).text
    run = ReaderRun(settings)
    (corpus / "ferry.txt").write_text(FERRY_TEXT)
    started = time.monotonic()
    proc = subprocess.Popen([RAG_CLI, "ingest", "--quiet"], cwd=ROOT, env=cli_env(settings), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = started + 150
        after_end = 3  # a few more questions once the ingest is over
        while time.monotonic() < deadline and after_end:
            if proc.poll() is not None:
                after_end -= 1
            asked = time.monotonic()
            try:
                answer = engine.ask(BRIDGE if len(run.outcomes) % 2 else FERRY)
                run.outcomes.append(("ok", time.monotonic() - asked, answer.text[:60]))
            except Exception as exc:  # noqa: BLE001 - recorded; the tests judge them
                run.outcomes.append(("error", time.monotonic() - asked, f"{type(exc).__name__}: {exc}"[:200]))
        run.ingest_rc = proc.wait(30)
        run.ingest_seconds = time.monotonic() - started
        run.ingest_output = proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    try:
        run.after = engine.ask(FERRY)
    except Exception as exc:  # noqa: BLE001
        run.after = exc
    check = subprocess.run([sys.executable, "-c", CHECK_SCRIPT, str(settings.data_dir), str(corpus), FERRY], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr[-2000:]
    run.fresh = json.loads(check.stdout.strip().splitlines()[-1])
    return run


@pytest.mark.timeout(300)
def test_reader_and_ingest_processes_do_not_hang_or_corrupt(reader_during_ingest: ReaderRun) -> None:
    """An engine asking in a loop while `rag ingest` adds an article in another process: bounded time, no
    hang, the ingest completes, the store has no duplicates and a new process answers from the new article."""
    run = reader_during_ingest
    print(f"ingest {run.ingest_seconds:.1f} s, {len(run.outcomes)} questions, "
          f"{sum(o == 'error' for o, _, _ in run.outcomes)} errors")
    assert run.ingest_rc == 0, run.ingest_output
    assert "added 1 / updated 0 / unchanged 3" in run.ingest_output
    assert run.outcomes and max(seconds for _, seconds, _ in run.outcomes) < 30
    assert run.outcomes[0][0] == "ok"
    for outcome, _, detail in run.outcomes:  # a failure is at worst a clear, user-facing store error
        assert outcome == "ok" or detail.startswith("StoreError"), detail
    assert not run.fresh["refused"] and "May 9" in run.fresh["text"]
    assert_index_consistent(run.settings)


@pytest.mark.timeout(300)
def test_reader_keeps_answering_during_and_after_an_ingest_in_another_process(
    reader_during_ingest: ReaderRun,
) -> None:
    run = reader_during_ingest
    errors = [detail for outcome, _, detail in run.outcomes if outcome == "error"]
    assert not errors, f"{len(errors)}/{len(run.outcomes)} questions failed, e.g. {errors[0]}"
    assert isinstance(run.after, Answer) and "May 9" in run.after.text, run.after


@pytest.mark.timeout(300)
def test_two_concurrent_cli_ingests_serialise_on_the_lock(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "articles", {**SMALL_CORPUS, "ferry.txt": FERRY_TEXT, "tram.md": TRAM_TEXT})
    settings = make_settings(tmp_path, corpus)
    env = cli_env(settings)
    procs = [subprocess.Popen([RAG_CLI, "ingest", "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    refused = None
    try:
        deadline = time.monotonic() + 120
        while refused is None and time.monotonic() < deadline and any(p.poll() is None for p in procs):
            try:  # a third ingest that will not wait is refused while one of them holds the lock
                with store.ingest_lock(settings, wait=False):
                    pass
            except store.StoreError as exc:
                refused = str(exc)
            time.sleep(0.05)
        outputs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(30)
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert refused and "another ingest is running" in refused
    lines = sorted(line for out in outputs for line in out.splitlines() if line.startswith("added"))
    assert lines[0].startswith("added 0 / updated 0 / unchanged 5") and " 0 embedded" in lines[0], lines
    assert lines[1].startswith("added 5 / updated 0 / unchanged 0"), lines
    held = assert_index_consistent(settings)
    assert {m["doc_id"] for m in held.values()} == {"harbour-bridge", "glacier-study", "orchard", "ferry", "tram"}
