"""Index integrity, for real: each file kind the product writes (the chunk table, the postings, the layout, CURRENT,
the docstore's index and a shard, the manifest) and the embedded store's chroma.sqlite3, each truncated to half,
emptied, overwritten with random bytes or deleted. Asking then raises IndexDamaged naming the file and
`rag ingest` (never a raw decoding error), the retriever says the index needs an ingest, and one ingest repairs
exactly that part: the question is answered again, a second ingest embeds nothing, and the corpus folder is untouched.

Every case starts from a copy of one ingested data dir (the module's `pristine` index), so only the repairs cost.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BRIDGE, ROOT, SMALL_CORPUS, make_settings, write_corpus

from ingest import ingest
from rag import RAG
from rag.retrieve import Retriever
from store import docstore
from store.bm25 import BM25Index
from store.errors import IndexDamaged, StoreError
from store.files import bm25_root
from store.settings import Settings

# Each damage, and how the message words it (from the manifest: the size first, then the checksum).
DAMAGES = {
    "truncated": "is truncated (",
    "zero": "is empty (0 bytes",
    "random": "is corrupt (its checksum does not match)",
    "deleted": "is missing",
}
# File kind → its path under the data dir (the live BM25 version's files by name: `live_rel`) and what its repair
# costs.
KINDS = {
    "chunk table": ("chunks.v2.json", "from the docstore"),
    "postings": ("postings.npz", "from the docstore"),
    "bm25 layout": ("bm25/v", "from the docstore"),
    "bm25 CURRENT": ("bm25/CURRENT", "from the docstore"),
    "docstore index": ("docstore/index.json", "from the articles"),
    "docstore shard": ("docstore/", "from the articles"),
    "chroma sqlite": ("chroma/chroma.sqlite3", "embedded again"),
    "manifest": ("manifest.json", "written again"),
}


COLD_EMBEDDED: list[int] = []  # what the pristine index's cold ingest embedded: every text of SMALL_CORPUS


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """SMALL_CORPUS ingested once; tests copy its data dir and must not change it or the corpus folder."""
    tmp = tmp_path_factory.mktemp("pristine")
    settings = make_settings(tmp, write_corpus(tmp / "articles", SMALL_CORPUS))
    COLD_EMBEDDED.append(ingest(settings).embedded)
    return settings


def live_rel(settings: Settings, name: str) -> str:
    """The path of a file under the data dir: one of the live BM25 version's or docstore's (a shard before the
    index), by the end or start of its path."""
    root = bm25_root(settings)
    live = [*BM25Index.files(root, BM25Index.current_version(root) or ""), *reversed(docstore.files(settings))]
    return next((rel for rel in live if rel.endswith(name) or rel.startswith(name)), name)


def copy_of(pristine: Settings, tmp_path: Path) -> Settings:
    """The pristine index in a data dir of its own, on the same corpus folder (so nothing counts as changed)."""
    data_dir = tmp_path / "data"
    shutil.copytree(pristine.data_dir, data_dir, ignore=shutil.ignore_patterns("ingest.lock"))
    return pristine.model_copy(update={"data_dir": data_dir})


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "zero":
        path.write_bytes(b"")
    elif how == "random":
        noise = random.Random(len(data)).randbytes(len(data))
        path.write_bytes(noise if noise != data else noise[::-1])
    else:
        path.unlink()


def corpus_snapshot(settings: Settings) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(settings.corpus_dir).iterdir())}


def problem_wording(kind: str, how: str) -> str:
    if kind == "manifest":
        return "cannot be read ("
    if kind == "chroma sqlite" and how == "truncated":
        return "is corrupt (error returned from database: (code: 11) database disk image is malformed)"
    if kind == "chroma sqlite" and how == "random":
        return "is corrupt (error returned from database: (code: 26) file is not a database)"
    return DAMAGES[how]


@pytest.mark.parametrize("how", list(DAMAGES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_damaged_file_is_reported_clearly_and_repaired_by_one_ingest(
    pristine: Settings, tmp_path: Path, kind: str, how: str
) -> None:
    settings = copy_of(pristine, tmp_path)
    rel = live_rel(settings, KINDS[kind][0])
    before = corpus_snapshot(settings)
    damage(settings.data_dir / rel, how)
    damaged_bytes = None if how == "deleted" else (settings.data_dir / rel).read_bytes()
    engine = RAG(settings)

    if kind == "manifest" and how == "deleted":  # what an index written before manifests existed looks like
        assert engine.retriever.damaged() is None and engine.retriever.outdated()
    else:
        with pytest.raises(IndexDamaged) as raised:
            engine.ask(BRIDGE)
        assert isinstance(raised.value, StoreError) and raised.value.part == rel
        assert str(raised.value).startswith(f"The index is damaged: {rel} {problem_wording(kind, how)}")
        assert "Run `rag ingest` to repair it." in str(raised.value)
        assert engine.retriever.damaged() is not None
    assert engine.retriever.needs_ingest()

    summary = engine.ingest()
    repaired_now = not (kind == "manifest" and how == "deleted")
    assert [r.split(" ")[0] for r in summary.repaired] == ([rel] if repaired_now else [])
    assert not repaired_now or KINDS[kind][1] in summary.line()
    assert summary.embedded == (COLD_EMBEDDED[0] if kind == "chroma sqlite" else 0)  # only lost vectors again
    assert not engine.retriever.needs_ingest()
    answer = engine.ask(BRIDGE)
    assert not answer.refused and "120 million euros" in answer.text
    again = ingest(settings)
    assert again.embedded == 0 and again.repaired == [] and len(again.unchanged) == 3
    assert corpus_snapshot(settings) == before  # repair only ever reads the corpus folder
    if kind.startswith(("docstore", "chroma")) and damaged_bytes is not None:  # moved aside, never deleted
        kept = [p for p in settings.data_dir.rglob(f"{Path(rel).stem}*") if ".damaged-" in str(p) and p.is_file()]
        assert [p.read_bytes() for p in kept] == [damaged_bytes]


@pytest.mark.parametrize("folder", ["bm25", "chroma"])
def test_a_whole_folder_deleted_is_named_and_rebuilt_by_one_ingest(
    pristine: Settings, tmp_path: Path, folder: str
) -> None:
    settings = copy_of(pristine, tmp_path)
    shutil.rmtree(settings.data_dir / folder)
    engine = RAG(settings)
    with pytest.raises(StoreError):
        engine.ask(BRIDGE)
    summary = engine.ingest()
    assert summary.repaired and summary.embedded == (COLD_EMBEDDED[0] if folder == "chroma" else 0)
    assert "120 million euros" in engine.ask(BRIDGE).text


def test_cli_names_the_damage_and_ingest_repairs_it(pristine: Settings, tmp_path: Path) -> None:
    """The issue's case: a truncated chunk table made `rag ask` print a JSONDecodeError traceback and `rag ingest`
    report "unchanged", leaving the damage."""
    settings = copy_of(pristine, tmp_path)
    rel = live_rel(settings, "chunks.v2.json")
    damage(settings.data_dir / rel, "truncated")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=str(settings.data_dir), RAG_CORPUS_DIR=str(settings.corpus_dir))
    rag = str(Path(sys.executable).parent / "rag")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([rag, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    asked = run("ask", BRIDGE)
    assert asked.returncode == 1 and "Traceback" not in asked.stderr
    assert asked.stderr.strip() == (
        f"error: The index is damaged: {rel} is truncated (650 bytes, 1300 expected). Run `rag ingest` to repair it."
    )
    repaired = run("ingest", "--quiet")
    assert repaired.returncode == 0 and "0 embedded" in repaired.stdout
    assert f"(repaired: {rel} is truncated" in repaired.stdout and "BM25 index rebuilt" in repaired.stdout
    answered = run("ask", BRIDGE)
    assert answered.returncode == 0 and "120 million euros" in answered.stdout


@pytest.mark.parametrize("part", ["docstore", "bm25"])
def test_an_edit_that_keeps_size_and_syntax_is_caught_by_the_checksum(
    pristine: Settings, tmp_path: Path, part: str
) -> None:
    """A flipped digit parses fine and keeps the size: only the checksum tells, and without it the answer
    would silently change."""
    settings = copy_of(pristine, tmp_path)
    path = next(p for p in sorted((settings.data_dir / part).rglob("*.json")) if b"120 million" in p.read_bytes())
    data = path.read_bytes()
    path.write_bytes(data.replace(b"120 million", b"920 million"))
    engine = RAG(settings)
    with pytest.raises(IndexDamaged, match="is corrupt \\(its checksum does not match\\)"):
        engine.ask(BRIDGE)
    assert engine.ingest().embedded == 0
    assert "120 million euros" in engine.ask(BRIDGE).text


def test_ingest_finds_a_corrupt_page_of_the_vector_store_with_sqlites_own_check(
    pristine: Settings, tmp_path: Path
) -> None:
    """A page overwritten in the middle keeps the size and may not stop every query: `rag ingest` asks SQLite."""
    settings = copy_of(pristine, tmp_path)
    path = settings.data_dir / "chroma" / "chroma.sqlite3"
    data = bytearray(path.read_bytes())
    page = len(data) // 4096 // 2
    data[page * 4096 : (page + 1) * 4096] = random.Random(page).randbytes(4096)
    path.write_bytes(bytes(data))
    summary = ingest(settings)
    assert [r.split(" (")[0] for r in summary.repaired] == ["chroma/chroma.sqlite3 is corrupt"]
    assert summary.embedded == COLD_EMBEDDED[0] > 0
    assert "120 million euros" in RAG(settings).ask(BRIDGE).text
    assert ingest(settings).embedded == 0


def test_a_new_store_in_place_of_the_indexed_one_is_damage(pristine: Settings, tmp_path: Path) -> None:
    """Something opened the store after its database was deleted, and chromadb made an empty one: the chunk
    collection is not the one the manifest records."""
    import chromadb

    from store import chroma

    settings = copy_of(pristine, tmp_path)
    (settings.data_dir / "chroma" / "chroma.sqlite3").unlink()
    chromadb.PersistentClient(path=str(settings.data_dir / "chroma")).get_or_create_collection(settings.collection)
    chroma.forget_embedded_clients()
    engine = RAG(settings)
    with pytest.raises(IndexDamaged, match="chroma.sqlite3 was replaced: collection 'articles' is not the one"):
        engine.ask(BRIDGE)
    summary = engine.ingest()
    assert summary.embedded == COLD_EMBEDDED[0] and summary.repaired[0].startswith("chroma/chroma.sqlite3 was replaced")
    assert "120 million euros" in engine.ask(BRIDGE).text


TRAM = "# Tram line to Kessel approved\n\nThe city council of Kessel approved a new tram line. It costs 310 million."


@pytest.mark.parametrize("interrupted", ["index.json", "CURRENT", "first CURRENT"])
def test_a_run_killed_between_manifest_and_file_is_not_damage(
    tmp_path: Path, small_corpus: Path, monkeypatch: pytest.MonkeyPatch, interrupted: str
) -> None:
    """The manifest accepts a file's new digest before the file is replaced: a run killed in between (or a
    reader in between) finds the file on disk accepted, the old one or, for a first write, none at all."""
    import store.docstore
    import store.segments

    settings = make_settings(tmp_path, small_corpus)
    if not interrupted.startswith("first"):
        ingest(settings)
    (small_corpus / "tram.md").write_text(TRAM, encoding="utf-8")
    module = store.docstore if interrupted == "index.json" else store.segments
    write = module.write_atomically

    def killed(path: Path, data: str | bytes) -> None:
        if path.name == interrupted.split()[-1]:
            raise KeyboardInterrupt("killed")
        write(path, data)

    monkeypatch.setattr(module, "write_atomically", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest(settings)
    monkeypatch.undo()
    reader = Retriever(settings)
    assert reader.damaged() is None
    assert reader.corpus().empty == interrupted.startswith("first")
    resumed = ingest(settings)
    assert resumed.repaired == [] and not reader.needs_ingest()
    assert "310 million" in RAG(settings).ask("How much does the Kessel tram line cost?").text


def test_a_reader_that_races_an_ingest_reads_again_instead_of_reporting_damage(
    tmp_path: Path, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest in another process publishes between the reader's manifest read and its docstore read: the
    docstore no longer matches the manifest the reader holds, but the manifest moved, so it reads again."""
    import store.docstore

    settings = make_settings(tmp_path, small_corpus)
    ingest(settings)
    read_documents, raced = store.docstore.read_documents, []

    def racing(settings_: Settings, recorded: object) -> object:
        if not raced:
            raced.append(True)
            (small_corpus / "tram.md").write_text(TRAM, encoding="utf-8")
            ingest(settings)
        return read_documents(settings_, recorded)

    monkeypatch.setattr(store.docstore, "read_documents", racing)
    view = Retriever(settings).corpus()
    assert raced and "tram" in view.documents and any(c.doc_id == "tram" for c in view.bm25.chunks)
