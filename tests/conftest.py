"""Shared fixtures: settings on temporary data dirs, an ingested copy of the five articles, a real Chroma
server, and the scripted OpenAI-compatible server. Every test gets its own RAG_DATA_DIR."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
sys.path.insert(0, str(Path(__file__).parent))  # tests import helpers such as openai_stub by name

from openai_stub import StubOpenAI, stub_server  # noqa: E402

from store.settings import Settings  # noqa: E402

if TYPE_CHECKING:
    import app
    from rag import RAG, Answer

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = ROOT / "data" / "articles"

# Small made-up articles for tests that change the corpus: cheap to embed, unrelated to the seed corpus.
SMALL_CORPUS = {
    "harbour-bridge.txt": "New harbour bridge opens in Port Elmswick\n\nThe new harbour bridge in Port Elmswick "
    "opened on March 3 after four years of construction. It cost 120 million euros and carries two tram lines."
    "\n\nMayor Ilse Brandt said the bridge would cut commuting times by a third.",
    "glacier-study.md": "# Glacier study finds faster melt\n\nA team led by Dr. Tomas Varga measured the Ostfjell "
    "glacier for twelve summers. It lost 18 metres of thickness since 2010.\n\nThe study was published in "
    "the Journal of Cold Regions.",
    "orchard.html": "<html><head><title>Orchard harvest</title></head><body><nav>Home | News</nav><article>"
    "<h1>Apple harvest breaks records in Valdoria</h1><p>Farmers in Valdoria picked 42,000 tonnes of apples "
    "this autumn, the most since records began in 1961.</p><p>Cooperative chair Marta Quell credited the "
    "mild spring.</p></article><footer>Copyright 2024 Valdoria Daily. All rights reserved.</footer>"
    "</body></html>",
}
BRIDGE = "How much did the harbour bridge cost?"  # answered by SMALL_CORPUS: "120 million euros"


def assert_cited_verbatim(engine: RAG, answer: Answer) -> None:
    """Every citation quotes its article verbatim at its offsets, is marked in the text and is among the sources."""
    documents = engine.retriever.corpus().documents
    assert answer.citations
    for c in answer.citations:
        assert documents[c.doc_id].text[c.start_char : c.end_char] == c.quote
        assert f"[{c.number}]" in answer.text
        assert c.doc_id in {s.doc_id for s in answer.sources}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_settings(tmp: Path, corpus: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp / "data", corpus_dir=corpus, _env_file=None, **overrides)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's environment or writes into the checkout."""
    for name in list(os.environ):
        if name.startswith("RAG_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "default-data"))


def write_corpus(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "articles", SMALL_CORPUS)


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """SMALL_CORPUS ingested once per test module, with a 20 kB file limit; the module may change it."""
    from ingest import ingest

    tmp = tmp_path_factory.mktemp("small-index")
    settings = make_settings(tmp, write_corpus(tmp / "articles", SMALL_CORPUS), max_file_bytes=20_000)
    ingest(settings)
    return settings


@contextlib.contextmanager
def serve_app(engine: RAG, indexer: app.Indexer | None = None, **settings_update: object) -> Iterator[str]:
    """The real gradio app for `engine` on a free loopback port; yields its URL."""
    import app

    settings = engine.settings.model_copy(update=settings_update) if settings_update else engine.settings
    demo = app.build_app(engine, indexer)
    port = free_port()
    app.launch(demo, settings, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextlib.contextmanager
def server_process(name: str, command: list[str], port: int, log_path: Path, timeout: float) -> Iterator[None]:
    """Run a server on 127.0.0.1:`port` until the block ends; fail the test with its log if it does not start."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if proc.poll() is not None:
                        pytest.fail(f"{name} exited: {log_path.read_text()[-2000:]}")
                    if time.monotonic() > deadline:
                        pytest.fail(f"{name} did not start within {timeout:.0f} s")
                    time.sleep(0.2)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real Chroma server (`chroma run`) on 127.0.0.1, for the whole session."""
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if chroma is None:
        pytest.fail("the `chroma` CLI from chromadb is not installed")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    command = [chroma, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)]
    with server_process("chroma server", command, port, path / "server.log", timeout=60):
        yield "127.0.0.1", port


@pytest.fixture(params=["embedded", "server"])
def store_mode(request: pytest.FixtureRequest) -> dict[str, object]:
    """Settings overrides for each store mode; server mode uses a fresh collection on the shared server."""
    if request.param == "embedded":
        return {}
    host, port = request.getfixturevalue("chroma_server")
    return {"chroma_host": host, "chroma_port": port, "collection": f"t-{os.urandom(6).hex()}"}


@pytest.fixture(scope="session")
def indexed_articles(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The five seed articles ingested once per session (embedded store). Tests must not modify it."""
    from ingest import ingest

    tmp = tmp_path_factory.mktemp("indexed")
    settings = make_settings(tmp, ARTICLES)
    ingest(settings)
    return settings


@pytest.fixture(scope="session")
def engine(indexed_articles: Settings):  # noqa: ANN201 - rag.RAG, imported lazily
    from rag import RAG

    return RAG(indexed_articles)


@pytest.fixture
def openai_stub() -> Iterator[StubOpenAI]:
    with stub_server() as server:
        yield server
