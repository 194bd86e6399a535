"""Faults between processes, for real: ingests SIGKILLed at random points (after which the next run must
leave store, docstore and BM25 in agreement), an app reading while `rag ingest` writes in another process,
and two ingests at once. tests/test_ingest.py has the fixed-delay kills; this file adds what it does not.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import BRIDGE, ROOT, SMALL_CORPUS, make_settings, write_corpus
from index_view import stored_records

from ingest import ingest
from ingest import nodes as nodes_module
from rag import RAG, Answer
from rag.retrieve import Retriever
from store import docstore
from store.errors import StoreError
from store.files import ingest_lock
from store.settings import Settings

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


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment for a `rag` subprocess on `settings`' data and corpus, and nothing else of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") and k != "OPENAI_API_KEY"}
    return {**env, "RAG_DATA_DIR": str(settings.data_dir), "RAG_CORPUS_DIR": str(settings.corpus_dir)}


# ------------------------------------------------------------------------------------ ingest under SIGKILL

INGEST_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from ingest import ingest
    from store.settings import Settings
    print("imported", flush=True)
    ingest(Settings(data_dir=Path(sys.argv[1]), corpus_dir=Path(sys.argv[2]), _env_file=None))
""")


def assert_index_consistent(settings: Settings) -> dict[str, dict]:
    """Store, docstore, BM25 index and corpus folder agree; no chunk or sentence is stored twice."""
    held = stored_records(settings)
    documents = docstore.stored_nodes(docstore.load(settings)).values()
    expected = {node.id_ for doc in documents for node in nodes_module.record_nodes(doc)}
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
               "docstore": ("docstore/", (0.0, 0.05)), "bm25": ("bm25", (0.0, 0.03))}


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
        persisted = len(docstore.load(settings).get_all_document_hashes())
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
    from store.settings import Settings
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
                with ingest_lock(settings, wait=False):
                    pass
            except StoreError as exc:
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
