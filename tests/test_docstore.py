"""store/docstore.py: the documents in shard files named by an index, so that changing one document writes one
shard; and the single docstore.json of earlier versions, read as it is and written as shards by the next ingest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import BRIDGE, make_settings
from llama_index.core.schema import Document as LlamaDocument

from ingest import ingest
from rag import RAG
from store import docstore, integrity, manifest
from store.errors import IndexDamaged
from store.settings import Settings


def add(store: docstore.DocumentStore, doc_id: str, text: str) -> None:
    doc = LlamaDocument(id_=doc_id, text=text, metadata={"title": doc_id, "source": f"/corpus/{doc_id}.md"})
    store.set_document_hash(doc.id_, doc.hash)
    store.add_documents([doc])


def files_on_disk(settings: Settings) -> dict[str, tuple[int, int]]:
    """Each file under docstore/ → (inode, mtime_ns)."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (settings.data_dir / "docstore").iterdir()}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, tmp_path / "articles")


@pytest.fixture
def forty(settings: Settings) -> docstore.DocumentStore:
    """40 documents persisted: more than one shard."""
    store = docstore.empty()
    for i in range(40):
        add(store, f"doc-{i}", f"Document number {i} says {i * 7} things.")
    docstore.persist(store, settings)
    return store


def test_a_persisted_store_reads_back_the_same_documents_hashes_and_sources(
    settings: Settings, forty: docstore.DocumentStore
) -> None:
    loaded = docstore.load(settings, manifest.read(settings.data_dir))
    assert loaded.get_all_document_hashes() == forty.get_all_document_hashes()
    assert loaded.sources() == {f"doc-{i}": f"/corpus/doc-{i}.md" for i in range(40)}
    documents = docstore.read_documents(settings, manifest.read(settings.data_dir))
    assert documents["doc-3"].text == "Document number 3 says 21 things." and len(documents) == 40
    live = docstore.files(settings)
    assert live[0] == docstore.INDEX and len(live) == 1 + len({docstore.slot_of(f"doc-{i}") for i in range(40)})
    assert sorted(files_on_disk(settings)) == sorted(Path(rel).name for rel in live)


def test_changing_one_document_writes_its_shard_and_the_index_and_nothing_else(
    settings: Settings, forty: docstore.DocumentStore
) -> None:
    before = files_on_disk(settings)
    store = docstore.load(settings, manifest.read(settings.data_dir))
    add(store, "doc-5", "Document number 5 was corrected.")
    assert set(store.kvstore.shards.changed) == {docstore.slot_of("doc-5")}
    docstore.persist(store, settings)
    docstore.sweep(settings)
    after = files_on_disk(settings)
    kept = {name for name in before if name in after and before[name] == after[name]}
    assert len(kept) == len(before) - 2  # all but the index and doc-5's shard, which have new files
    assert docstore.read_documents(settings)["doc-5"].text == "Document number 5 was corrected."
    assert docstore.read_documents(settings)["doc-6"].text == "Document number 6 says 42 things."


def test_persisting_an_unchanged_store_writes_nothing(settings: Settings, forty: docstore.DocumentStore) -> None:
    before = files_on_disk(settings)
    docstore.persist(docstore.load(settings), settings)
    assert files_on_disk(settings) == before


def test_deleting_the_last_document_of_a_slot_drops_its_shard(settings: Settings) -> None:
    store = docstore.empty()
    add(store, "only", "The only document.")
    docstore.persist(store, settings)
    store.delete_document("only")
    docstore.persist(store, settings)
    docstore.sweep(settings)
    assert docstore.files(settings) == [docstore.INDEX] and docstore.read_documents(settings) == {}
    assert sorted(files_on_disk(settings)) == ["index.json"]


def test_a_shard_without_a_document_the_index_lists_is_named_as_damage(
    settings: Settings, forty: docstore.DocumentStore
) -> None:
    rel = next(rel for rel in docstore.files(settings) if rel.startswith(f"docstore/{docstore.slot_of('doc-1')}-"))
    shard = json.loads((settings.data_dir / rel).read_bytes())
    del shard["doc-1"]
    (settings.data_dir / rel).write_text(json.dumps(shard))
    with pytest.raises(IndexDamaged) as raised:
        docstore.read_documents(settings)  # no manifest to compare against: the contents tell
    assert raised.value.part == rel and "does not hold the document 'doc-1'" in raised.value.problem


def test_an_index_with_the_single_file_of_earlier_versions_answers_and_one_ingest_writes_shards(
    tmp_path: Path, small_corpus: Path
) -> None:
    settings = make_settings(tmp_path, small_corpus)
    ingest(settings)
    # The same index as an earlier version wrote it: one docstore.json, which the manifest lists.
    store = docstore.load(settings)
    collections = {**store.kvstore.small_collections(), docstore.DOCUMENTS: dict(store.kvstore.shards)}
    (settings.data_dir / docstore.OLD_NAME).write_text(json.dumps(collections))
    for rel in docstore.files(settings):
        (settings.data_dir / rel).unlink()
    published = manifest.read_or_empty(settings.data_dir)
    integrity.publish(settings, published.vectors, published.records)
    recorded = manifest.read(settings.data_dir)
    assert recorded is not None and docstore.OLD_NAME in recorded.files

    engine = RAG(settings)
    assert engine.retriever.outdated() and "120 million euros" in engine.ask(BRIDGE).text
    summary = engine.ingest()
    assert summary.embedded == 0 and summary.repaired == [] and len(summary.unchanged) == 3
    assert not (settings.data_dir / docstore.OLD_NAME).exists() and docstore.files(settings)
    assert not engine.retriever.needs_ingest() and "120 million euros" in engine.ask(BRIDGE).text
