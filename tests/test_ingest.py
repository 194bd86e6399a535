"""Ingestion into Chroma: chunk offsets, idempotency, updates, deletes, bad input, crash safety, server mode."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ARTICLES, BRIDGE, ROOT, make_settings
from index_view import stored_records, to_one_collection_layout

from ingest import index as index_module
from ingest import ingest
from ingest import nodes as nodes_module
from store import chroma, docstore
from store.bm25 import BM25Index
from store.files import bm25_root
from store.settings import Settings
from store.text import terms as text_terms


def test_five_articles_are_chunked_with_exact_offsets(indexed_articles: Settings) -> None:
    from rag.retrieve import Retriever

    corpus = Retriever(indexed_articles).corpus()
    assert sorted(corpus.documents) == sorted(p.stem for p in ARTICLES.iterdir())
    stored = stored_records(indexed_articles)
    chunks = {cid: m for cid, m in stored.items() if m["kind"] == "chunk"}
    assert len(chunks) == len(corpus.bm25.chunks) > 20
    for meta in stored.values():
        doc = corpus.documents[meta["doc_id"]]
        assert doc.text[meta["start_char"] : meta["end_char"]] == meta["text"]
    for doc in corpus.documents.values():
        assert doc.title and doc.text.startswith(doc.title)
        assert "Leave a Reply" not in doc.text


def test_rerun_on_unchanged_corpus_embeds_nothing(
    tmp_path: Path, small_corpus: Path, store_mode: dict[str, object]
) -> None:
    settings = make_settings(tmp_path, small_corpus, **store_mode)
    first = ingest(settings)
    assert sorted(first.added) == ["glacier-study", "harbour-bridge", "orchard"]
    assert first.embedded > 0
    ids_before = set(stored_records(settings))
    second = ingest(settings)
    assert second.embedded == 0
    assert sorted(second.unchanged) == sorted(first.added)
    assert set(stored_records(settings)) == ids_before
    assert "added 0 / updated 0 / unchanged 3 / removed 0 / skipped 0" in second.line()


def test_a_folder_sync_reads_only_the_files_whose_size_or_time_changed(
    tmp_path: Path, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, small_corpus)
    ingest(settings)
    read: list[str] = []
    load_files = index_module.load_files
    monkeypatch.setattr(index_module, "load_files", lambda paths, *a, **k: load_files(
        [p for p in paths if not read.append(p.name)], *a, **k))
    assert sorted(ingest(settings).unchanged) == ["glacier-study", "harbour-bridge", "orchard"] and read == []

    bridge = small_corpus / "harbour-bridge.txt"
    os.utime(bridge, ns=(bridge.stat().st_atime_ns, bridge.stat().st_mtime_ns + 10**9))  # touched, same text
    summary = ingest(settings)
    assert read == ["harbour-bridge.txt"] and len(summary.unchanged) == 3 and summary.embedded == 0
    read.clear()
    bridge.write_text("Harbour bridge closes\n\nThe bridge closed on May 9 for repairs.", encoding="utf-8")
    summary = ingest(settings)
    assert read == ["harbour-bridge.txt"] and summary.updated == ["harbour-bridge"]
    # A newcomer whose name clashes with a file not read this time is still refused.
    (small_corpus / "orchard.md").write_text("# Orchard\n\nApples.", encoding="utf-8")
    read.clear()
    summary = ingest(settings)
    assert read == ["orchard.md"] and any("duplicate document id 'orchard'" in r for _, r in summary.skipped)
    # The record is a cache: unreadable, every file is read again and nothing changes.
    (tmp_path / "data" / "file_stats.json").write_text("{not json", encoding="utf-8")
    read.clear()
    summary = ingest(settings)
    assert len(read) == 4 and summary.embedded == 0 and not summary.updated


def test_changed_file_replaces_exactly_its_chunks(
    tmp_path: Path, small_corpus: Path, store_mode: dict[str, object]
) -> None:
    settings = make_settings(tmp_path, small_corpus, **store_mode)
    ingest(settings)
    before = stored_records(settings)
    others_before = {cid for cid, m in before.items() if m["doc_id"] != "harbour-bridge"}
    (small_corpus / "harbour-bridge.txt").write_text(
        "Harbour bridge closes for repairs\n\nThe harbour bridge in Port Elmswick closed on May 9 for repairs "
        "to its tram tracks.",
        encoding="utf-8",
    )
    summary = ingest(settings)
    assert summary.updated == ["harbour-bridge"] and summary.embedded > 0
    after = stored_records(settings)
    assert {cid for cid, m in after.items() if m["doc_id"] != "harbour-bridge"} == others_before
    bridge = [m["text"] for m in after.values() if m["doc_id"] == "harbour-bridge"]
    assert any("May 9" in t for t in bridge) and not any("120 million" in t for t in bridge)
    bm25 = BM25Index.load(bm25_root(settings))
    assert bm25 is not None and not any("120 million" in c.text for c in bm25.chunks)


def test_deleted_file_loses_its_chunks_everywhere(
    tmp_path: Path, small_corpus: Path, store_mode: dict[str, object]
) -> None:
    settings = make_settings(tmp_path, small_corpus, **store_mode)
    ingest(settings)
    (small_corpus / "orchard.html").unlink()
    summary = ingest(settings)
    assert summary.removed == ["orchard"]
    assert not [m for m in stored_records(settings).values() if m["doc_id"] == "orchard"]
    bm25 = BM25Index.load(bm25_root(settings))
    assert bm25 is not None and {c.doc_id for c in bm25.chunks} == {"glacier-study", "harbour-bridge"}


def test_store_writes_and_reads_go_in_pages(
    tmp_path: Path, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chromadb caps a write at 5,461 records and SQLite a read at 32,766 ids; a tiny page exercises the slicing.
    monkeypatch.setattr(chroma, "PAGE", 4)
    settings = make_settings(tmp_path, small_corpus)
    first = ingest(settings)
    stored = stored_records(settings)
    sentences = sum(m["kind"] == "sentence" for m in stored.values())
    assert first.embedded == sentences > 3 * 3  # each sentence once (a title is its first); chunks are pooled
    assert first.chunks == sum(m["kind"] == "chunk" for m in stored.values())
    assert ingest(settings).embedded == 0


def test_explicit_paths_add_without_deleting(tmp_path: Path, small_corpus: Path) -> None:
    settings = make_settings(tmp_path, small_corpus)
    ingest(settings, [small_corpus / "orchard.html"])
    extra = tmp_path / "elsewhere"
    extra.mkdir()
    (extra / "ferry.txt").write_text("Ferry service resumes\n\nThe island ferry resumed service on Monday.")
    summary = ingest(settings, [extra / "ferry.txt"])
    assert summary.added == ["ferry"] and summary.removed == []
    assert {m["doc_id"] for m in stored_records(settings).values()} == {"orchard", "ferry"}


def test_adding_an_article_indexes_only_its_chunks_lexically(
    tmp_path: Path, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lexical index gets a segment for the new article; the others' segment is not read or written again."""
    from store import segments

    settings = make_settings(tmp_path, small_corpus)
    ingest(settings)
    root = bm25_root(settings)
    (old,) = [p for p in root.iterdir() if p.is_dir()]
    before = {p.name: p.stat().st_mtime_ns for p in old.iterdir()}
    tokenised: list[int] = []
    monkeypatch.setattr(segments, "terms", lambda text: tokenised.append(1) or text_terms(text))
    (small_corpus / "ferry.txt").write_text("Ferry service resumes\n\nThe island ferry resumed service on Monday.")
    summary = ingest(settings)
    assert summary.added == ["ferry"] and len(tokenised) == 1  # the one chunk of the new article
    assert {p.name: p.stat().st_mtime_ns for p in old.iterdir()} == before
    assert len([p for p in root.iterdir() if p.is_dir()]) == 2
    view = BM25Index.load(root)
    assert view is not None and view.search("island ferry", 3)[0][0].doc_id == "ferry"
    assert summary.chunks == len(view.chunks)


def test_bad_files_are_skipped_with_reasons_and_lose_nothing(tmp_path: Path, small_corpus: Path) -> None:
    settings = make_settings(tmp_path, small_corpus, max_file_bytes=2000)
    ingest(settings)
    indexed = stored_records(settings)
    (small_corpus / "empty.txt").write_bytes(b"")
    (small_corpus / "noise.txt").write_bytes(os.urandom(600) + b"\x00" * 10)
    (small_corpus / "big.txt").write_text("Big file\n\n" + "word " * 1000)
    (small_corpus / "slides.pdf").write_bytes(b"%PDF-1.4 ...")
    (small_corpus / "cyrillic.txt").write_bytes("Новости дня\n\nМост открыли в марте.".encode("cp1251"))
    # An indexed article that turns into garbage keeps its old chunks: bad input never loses data.
    (small_corpus / "glacier-study.md").write_bytes(b"\x00\x01\x02" * 50)
    summary = ingest(settings)
    reasons = {Path(p).name: r for p, r in summary.skipped}
    assert set(reasons) == {"empty.txt", "noise.txt", "big.txt", "slides.pdf", "glacier-study.md"}
    assert "empty" in reasons["empty.txt"] and "binary" in reasons["noise.txt"]
    assert "limit" in reasons["big.txt"] and ".pdf" in reasons["slides.pdf"]
    assert summary.added == ["cyrillic"]
    assert any(Path(p).name == "cyrillic.txt" for p, _ in summary.notices)
    after = stored_records(settings)
    assert {cid for cid, m in indexed.items()} <= set(after)
    assert "glacier-study" not in summary.removed
    assert "skipped 5" in summary.line() and "slides.pdf" in summary.line()


def test_crash_between_store_write_and_docstore_persist_leaves_no_duplicates(
    tmp_path: Path, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, small_corpus)

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(docstore, "persist", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest(settings)
    written = stored_records(settings)
    assert written  # vectors reached Chroma, the docstore never heard of them
    monkeypatch.undo()
    summary = ingest(settings)
    assert sorted(summary.added) == ["glacier-study", "harbour-bridge", "orchard"]
    after = stored_records(settings)
    assert set(after) == set(written)  # same stable ids: nothing duplicated
    assert ingest(settings).embedded == 0


KILL_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from ingest import ingest
    from store.settings import Settings
    ingest(Settings(data_dir=Path(sys.argv[1]), corpus_dir=Path(sys.argv[2]), _env_file=None))
""")


@pytest.mark.parametrize("delay", [0.5, 2.5, 5.0, 9.0])
def test_sigkill_at_any_point_is_completed_by_the_next_run(tmp_path: Path, delay: float) -> None:
    corpus = tmp_path / "articles"
    corpus.mkdir()
    for name in ["reasons-for-tokayev-visit-to-russia.txt", "tokayev-putin-sochi-hidden-signal.txt"]:
        (corpus / name).write_bytes((ARTICLES / name).read_bytes())
    settings = make_settings(tmp_path, corpus)
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(settings.data_dir), str(corpus)], cwd=ROOT)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Whatever the kill left behind is readable, and the next run completes it with no duplicates.
    summary = ingest(settings)
    stored = stored_records(settings)
    from rag.retrieve import Retriever

    corpus_view = Retriever(settings).corpus()
    expected = {
        n.id_
        for doc in docstore.stored_nodes(docstore.load(settings)).values()
        for n in nodes_module.record_nodes(doc)
    }
    assert set(stored) == expected
    assert sorted(corpus_view.documents) == sorted(p.stem for p in corpus.iterdir())
    assert {c.id for c in corpus_view.bm25.chunks} == {cid for cid, m in stored.items() if m["kind"] == "chunk"}
    assert summary.chunks == len(corpus_view.bm25.chunks)
    assert ingest(settings).embedded == 0


def test_ingest_and_query_work_without_network(
    tmp_path: Path, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    settings = make_settings(tmp_path, small_corpus)
    assert ingest(settings).chunks > 0
    from rag import RAG

    answer = RAG(settings).ask("How much did the harbour bridge cost?")
    assert not answer.refused and "120 million" in answer.text


def test_cli_ingest_prints_a_summary_line(tmp_path: Path, small_corpus: Path) -> None:
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "cli-data"), "RAG_CORPUS_DIR": str(small_corpus)}
    out = subprocess.run(
        [sys.executable, "-m", "cli", "ingest", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "added 3 / updated 0 / unchanged 0 / removed 0 / skipped 0" in out.stdout
    rag = Path(sys.executable).parent / "rag"
    again = subprocess.run(
        [str(rag), "ingest", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0 and "unchanged 3" in again.stdout and "0 embedded" in again.stdout
    missing = subprocess.run(
        [str(rag), "ingest", str(tmp_path / "nope")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_batched_run_matches_one_run_and_a_kill_keeps_finished_batches(
    tmp_path: Path, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = make_settings(tmp_path / "whole", small_corpus)
    ingest(whole)
    monkeypatch.setattr(index_module, "INGEST_BATCH_CHARS", 1)  # one document per batch
    settings = make_settings(tmp_path / "batched", small_corpus)
    persist, persisted = docstore.persist, []

    def crash_on_second_batch(store: object, settings_: Settings) -> None:
        if persisted:
            raise KeyboardInterrupt("killed")
        persisted.append(True)
        persist(store, settings_)

    monkeypatch.setattr(docstore, "persist", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        ingest(settings)
    monkeypatch.setattr(docstore, "persist", persist)
    resumed = ingest(settings)
    assert len(resumed.unchanged) == 1 and len(resumed.added) == 2  # the first batch was kept
    assert stored_records(settings) == stored_records(whole)


def test_index_in_the_one_collection_layout_is_moved_to_two(tmp_path: Path, small_corpus: Path) -> None:
    settings = make_settings(tmp_path, small_corpus)
    ingest(settings)
    expected = stored_records(settings)
    to_one_collection_layout(settings)
    summary = ingest(settings)
    assert sorted(summary.added) == ["glacier-study", "harbour-bridge", "orchard"]  # re-indexed once
    assert stored_records(settings) == expected  # and every record sits in its own kind's collection
    assert ingest(settings).embedded == 0


def test_an_index_in_an_older_format_is_outdated_until_the_next_ingest(
    tmp_path: Path, small_corpus: Path
) -> None:
    import json

    from rag import RAG
    from rag.engine import OUTDATED_INDEX
    from store.segments import CHUNK_TABLE

    settings = make_settings(tmp_path, small_corpus)
    ingest(settings)
    root = bm25_root(settings)
    live = next(p for p in root.iterdir() if p.is_dir())
    table = json.loads((live / CHUNK_TABLE).read_text())
    # The index as a release before segments wrote it: one folder, named by CURRENT, with the chunk table in it
    # (and, before that, without sentence spans), and no manifest.
    old = root / "0123456789abcdef"
    old.mkdir()
    (old / "chunks.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "sentences"} for r in table]))
    (root / "CURRENT").write_text(old.name)
    (settings.data_dir / "manifest.json").unlink()

    engine = RAG(settings)
    assert engine.retriever.outdated()
    assert engine.ask(BRIDGE).text == OUTDATED_INDEX
    summary = ingest(settings)
    assert summary.embedded == 0  # only the table is rebuilt: nothing is embedded again
    assert not engine.retriever.outdated()
    assert "120 million euros" in engine.ask(BRIDGE).text


def test_a_finished_index_is_not_reconciled_again_but_a_changed_vector_store_is(
    tmp_path: Path, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, small_corpus)
    ingest(settings)
    calls: list[int] = []
    real = index_module.reconcile
    monkeypatch.setattr(index_module, "reconcile", lambda *args: calls.append(1) or real(*args))
    (small_corpus / "harbour-bridge.txt").write_text("Bridge closed\n\nThe harbour bridge closed for repairs.")
    assert ingest(settings).updated == ["harbour-bridge"] and calls == []  # reading every record costs 5 s at 10k
    coll = chroma.collection(settings, "E5Embedding:multilingual-e5-small-q4", kind=chroma.SENTENCE)
    lost = coll.get(limit=1)
    coll.delete(ids=lost["ids"])  # the vector store changed behind the index's back
    summary = ingest(settings)
    assert calls == [1] and summary.added == [lost["metadatas"][0]["doc_id"]] and summary.embedded > 0
    assert ingest(settings).embedded == 0 and calls == [1]


def test_what_an_article_says_about_itself_is_stored_with_it_and_listed(indexed_articles: Settings) -> None:
    from rag import RAG
    from rag.retrieve import Retriever

    listed = {d["doc_id"]: d for d in RAG(indexed_articles).documents()}
    assert listed["putin-state-visit-to-kazakhstan"]["author"] == "Sergey Saenko"
    assert listed["kazakhstan-front-tokayev-against-putin"]["outlet"] == "Segodnya"
    assert listed["tokayev-putin-sochi-hidden-signal"]["author"] is None  # "By: |" names nobody
    assert all(d["instructions"] is None for d in listed.values())  # nothing addresses a model
    doc = Retriever(indexed_articles).corpus().documents["putin-state-visit-to-kazakhstan"]
    value, start, end = doc.stated("author") or ("", 0, 0)
    assert value in doc.text[start:end] and "international observer" in doc.text[start:end]
    assert doc.stated("url") is None
