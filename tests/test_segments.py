"""store/segments.py: the lexical index written segment by segment, and read back as one (store/bm25.py)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ARTICLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import manifest, segments, text
from store.bm25 import BM25Index
from store.errors import IndexDamaged
from store.records import ChunkRecord, chunk_id
from store.segments import Layout

QUERIES = ["Tokayev refused the order", "oil shipments pipeline", "Putin visit Astana", "Путин Астана"]


def article_chunks(doc_id: str, path: Path, version: str = "") -> list[ChunkRecord]:
    """An article's lines as chunks (their sentence spans are not needed here)."""
    out, start = [], 0
    for index, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        text = f"{line} {version}".strip()
        if text:
            end = start + len(text)
            out.append(ChunkRecord(chunk_id(doc_id, index, text), doc_id, path.stem, start, end, text, ()))
        start += len(line) + 1
    return out


@pytest.fixture
def corpus() -> dict[str, list[ChunkRecord]]:
    return {f"d{i}": article_chunks(f"d{i}", path) for i, path in enumerate(sorted(ARTICLES.iterdir()))}


def same_as_rebuilt(root: Path, chunks: list[ChunkRecord]) -> None:
    """The written index holds exactly these chunks and scores them as one index built from them does."""
    loaded, rebuilt = BM25Index.load(root, manifest.read(root.parent)), BM25Index.build(chunks)
    assert loaded is not None and sorted(c.id for c in loaded.chunks) == sorted(c.id for c in chunks)
    for query in QUERIES:
        got, want = dict(loaded.search(query, len(chunks))), dict(rebuilt.search(query, len(chunks)))
        assert got.keys() == want.keys()
        np.testing.assert_allclose([got[c] for c in want], list(want.values()), rtol=1e-5)
        top = loaded.search(query, 5)
        assert [s for _, s in top] == sorted(got.values(), reverse=True)[:5]
    assert loaded.document_frequencies() == rebuilt.document_frequencies()
    assert loaded.chunk_ids(["d1"]) == [c.id for c in loaded.chunks if c.doc_id == "d1"]


def on_disk(root: Path) -> set[str]:
    return {p.name for p in root.iterdir()}


def test_adding_an_article_writes_its_own_segment_and_leaves_the_others_alone(
    tmp_path: Path, corpus: dict[str, list[ChunkRecord]]
) -> None:
    root = tmp_path / "bm25"
    big = [c for doc_id in ("d0", "d1", "d2", "d3") for c in corpus[doc_id]]
    first = segments.write(root, Layout(), big)
    (base,) = first.segments
    table = root / base.name / segments.CHUNK_TABLE
    before = table.stat()

    second = segments.write(root, segments.live_layout(root), corpus["d4"])
    assert [e.name for e in second.segments][0] == base.name and len(second.segments) == 2
    assert (table.stat().st_ino, table.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert on_disk(root) == {"CURRENT", f"{second.name}.json", *(e.name for e in second.segments)}
    assert set(manifest.read(tmp_path).files) >= set(BM25Index.files(root, second.name))
    same_as_rebuilt(root, [*big, *corpus["d4"]])
    assert segments.write(root, segments.live_layout(root), []) == second  # nothing changed: nothing written


def test_an_updated_or_removed_article_is_dropped_from_its_old_segment(
    tmp_path: Path, corpus: dict[str, list[ChunkRecord]]
) -> None:
    root = tmp_path / "bm25"
    segments.write(root, Layout(), [c for chunks in corpus.values() for c in chunks])
    updated = article_chunks("d2", sorted(ARTICLES.iterdir())[2], version="revised")
    layout = segments.write(root, segments.live_layout(root).without({"d2", "d3"}), updated)
    assert layout.documents() == {"d0", "d1", "d2", "d4"}
    same_as_rebuilt(root, [*corpus["d0"], *corpus["d1"], *updated, *corpus["d4"]])
    loaded = BM25Index.load(root)
    assert loaded is not None and all("revised" in c.text for c in loaded.chunks if c.doc_id == "d2")


def test_segments_are_merged_so_that_there_are_about_log2_of_them(tmp_path: Path) -> None:
    root = tmp_path / "bm25"
    paths = sorted(ARTICLES.iterdir())
    written: list[ChunkRecord] = []
    for i in range(40):
        chunks = article_chunks(f"n{i}", paths[i % len(paths)], version=str(i))[:3]
        written += chunks
        layout = segments.write(root, segments.live_layout(root), chunks)
        assert len(layout.segments) <= math.log2(len(written)) + 1
        sizes = [e.live_chunks for e in layout.segments]
        assert all(a > segments.MERGE_RATIO * b for a, b in zip(sizes, sizes[1:], strict=False))
    assert on_disk(root) == {"CURRENT", f"{layout.name}.json", *(e.name for e in layout.segments)}
    same_as_rebuilt(root, written)

    # Removing most of the oldest segment's articles rewrites it without them.
    oldest = layout.segments[0]
    gone = set(sorted(oldest.documents)[: len(oldest.documents) * 3 // 4])
    after = segments.write(root, layout.without(gone), [])
    assert oldest.name not in {e.name for e in after.segments} and not after.documents() & gone
    assert all(not e.dropped for e in after.segments[:1])
    same_as_rebuilt(root, [c for c in written if c.doc_id not in gone])


def test_a_damaged_segment_file_is_named(tmp_path: Path, corpus: dict[str, list[ChunkRecord]]) -> None:
    root = tmp_path / "bm25"
    layout = segments.write(root, Layout(), corpus["d0"])
    postings = root / layout.segments[0].name / segments.POSTINGS
    postings.write_bytes(postings.read_bytes()[:100])
    with pytest.raises(IndexDamaged) as raised:  # without the manifest: found by reading
        BM25Index.load(root)
    assert raised.value.part == f"bm25/{layout.segments[0].name}/{segments.POSTINGS}"
    with pytest.raises(IndexDamaged, match="is truncated"):  # with it: found by its size
        BM25Index.load(root, manifest.read(tmp_path))


def test_an_index_in_the_older_single_folder_format_is_outdated(
    tmp_path: Path, corpus: dict[str, list[ChunkRecord]]
) -> None:
    root = tmp_path / "bm25"
    (root / "0123456789abcdef").mkdir(parents=True)
    (root / "0123456789abcdef" / "chunks.v2.json").write_text("[]")
    (root / "CURRENT").write_text("0123456789abcdef")
    assert BM25Index.is_outdated(root) and BM25Index.load(root) is None
    assert segments.live_layout(root) == Layout()
    segments.write(root, segments.live_layout(root), corpus["d0"])
    assert not BM25Index.is_outdated(root) and "0123456789abcdef" not in on_disk(root)


def test_an_index_tokenised_by_another_version_of_terms_is_outdated_and_indexed_again(
    tmp_path: Path, corpus: dict[str, list[ChunkRecord]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "bm25"
    old = segments.write(root, Layout(), corpus["d0"])
    monkeypatch.setattr(text, "TERMS_VERSION", text.TERMS_VERSION + 1)
    assert BM25Index.is_outdated(root) and BM25Index.load(root) is None
    assert segments.live_layout(root) == Layout()  # so the next ingest indexes every document again
    new = segments.write(root, segments.live_layout(root), corpus["d0"])
    assert new.name != old.name and not BM25Index.is_outdated(root)
    assert on_disk(root) == {"CURRENT", f"{new.name}.json", *(e.name for e in new.segments)}


# One step of a corpus' life: (document number, version) adds or updates it; version None removes it.
STEPS = st.lists(st.tuples(st.integers(0, 7), st.one_of(st.none(), st.integers(0, 3))), min_size=1, max_size=12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_any_sequence_of_adds_updates_and_removals_scores_as_one_index_of_what_is_left(
    steps: list[tuple[int, int | None]]
) -> None:
    paths = sorted(ARTICLES.iterdir())
    live: dict[str, list[ChunkRecord]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bm25"
        for number, version in steps:
            doc_id = f"a{number}"
            gone = {doc_id} & set(live)
            added = []
            if version is None:
                live.pop(doc_id, None)
            else:  # a few lines of an article, different per version
                added = article_chunks(doc_id, paths[number % len(paths)], version=f"v{version}")[version::2][:6]
                live[doc_id] = added
            layout = segments.write(root, segments.live_layout(root).without(gone), added)
            assert layout.documents() == {d for d, chunks in live.items() if chunks}
        if any(live.values()):
            same_as_rebuilt(root, [c for chunks in live.values() for c in chunks])
