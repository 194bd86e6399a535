"""The benchmarks run end to end on tiny inputs and write well-formed results. Not timed: no latency is
asserted here (the numbers come from `make bench` / `make bench-scale`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import quick, scale, synthetic
from bench.common import load_questions, machine_info, summarize
from bench.embedders import HashingEmbedding

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

ARTICLE = (
    "New harbour bridge opens in Port Elmswick\n"
    "The new harbour bridge in Port Elmswick opened on March 3 after four years of construction. "
    "It cost 120 million euros and carries two tram lines.\n"
    "Mayor Ilse Brandt said the bridge would cut commuting times by a third.\n"
)


def _assert_machine(machine: dict) -> None:
    assert machine["nproc"] >= 1
    assert machine["cpu_model"]
    assert machine["ram_gb"] > 0
    assert machine["python"].count(".") == 2
    assert machine["packages"]["chromadb"] and machine["packages"]["llama-index-core"]
    assert len(machine["loadavg_start"]) == 3 and len(machine["loadavg_end"]) == 3


def test_summarize_and_machine_info() -> None:
    stats = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats["n"] == 5 and stats["p50"] == 3.0 and stats["min"] == 1.0 and stats["max"] == 100.0
    assert 4.0 < stats["p95"] <= 100.0
    assert summarize([])["p50"] is None
    info = machine_info()
    assert info["nproc"] >= 1 and "packages" in info
    assert len(load_questions(3)) == 3


def test_quick_set_tiny_run(tmp_path: Path) -> None:
    corpus = tmp_path / "articles"
    corpus.mkdir()
    (corpus / "bridge.txt").write_text(ARTICLE, encoding="utf-8")
    results = tmp_path / "results"
    questions = ["When did the bridge open?", "Сколько стоил мост?", "Who is the mayor?"]

    result = quick.run(results, corpus_dir=corpus, questions=questions, app_questions=2, work_dir=tmp_path / "w")

    data = json.loads((results / "quick.json").read_text(encoding="utf-8"))
    assert data["benchmark"] == "quick" and data["created"] == result["created"]
    _assert_machine(data["machine"])
    cold, warm = data["ingest"]["cold"], data["ingest"]["warm"]
    assert cold["chunks"] >= 1 and cold["sentence_nodes"] >= 3
    assert cold["embedded_texts"] == cold["sentence_nodes"]  # each sentence once; chunk vectors are pooled
    assert cold["embed_seconds"] > 0 and cold["overhead_ratio"] >= 1.0
    assert warm["embedded_texts"] == 0
    queries = data["queries"]
    assert queries["questions"] == 3
    for key in ("retrieve", "query_embedding", "dense", "bm25", "fusion_other"):
        assert queries["retrieval"][key]["n"] == 3 and queries["retrieval"][key]["p50"] is not None
    assert queries["extractive"]["ask"]["n"] == 3
    assert {"embed", "retrieve", "extract", "total"} <= set(queries["extractive"]["stage_p50"])
    assert queries["llm"]["ttft_end_to_end"]["n"] == 3 and "scripted" in queries["llm"]["server"]
    app = data["app"]
    assert app["questions"] == 2 and app["errors"] == []
    assert 0 < app["after_start"]["rss_mb"] <= app["after_questions"]["peak_rss_mb"]
    assert (results / "quick-latency.png").read_bytes()[:8] == PNG_MAGIC
    table = (results / "README.md").read_text(encoding="utf-8")
    assert "## Quick set" in table and "overhead ratio" in table and "scripted stub server" in table
    assert len(list((results / "history").glob("quick-*.json"))) == 1


def test_synthetic_corpus_is_deterministic_and_sized(tmp_path: Path) -> None:
    first = synthetic.make_corpus(60, tmp_path / "a", seed=7)
    again = synthetic.make_corpus(60, tmp_path / "b", seed=7)
    synthetic.make_corpus(60, tmp_path / "c", seed=8)
    assert first == {**again, "seconds": first["seconds"]}
    assert first["chunks"] >= 40 and first["files"] >= 2
    assert first["mean_article_chars"] > 3000  # article-sized, like the real ones
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert all((tmp_path / "a" / n).read_text() == (tmp_path / "b" / n).read_text() for n in names)
    assert (tmp_path / "a" / names[0]).read_text() != (tmp_path / "c" / names[0]).read_text()


def test_scale_set_tiny_run_both_modes_with_extrapolation(tmp_path: Path) -> None:
    results = tmp_path / "results"
    # The first size always runs; with a 1-second budget the second one is extrapolated, never run.
    result = scale.run(
        results, sizes=[20, 400], modes=["embedded", "server"], budget_s=1, embedder="hashing", queries=3,
        work_root=tmp_path / "work",
    )

    data = json.loads((results / "scale.json").read_text(encoding="utf-8"))
    assert data["benchmark"] == "scale" and data["created"] == result["created"]
    _assert_machine(data["machine"])
    assert "hashing" in data["embedder_note"]
    rows = {(r["size"], r["mode"]): r for r in data["rows"]}
    assert set(rows) == {(20, "embedded"), (20, "server"), (400, "embedded"), (400, "server")}
    for mode in ("embedded", "server"):
        measured, guessed = rows[(20, mode)], rows[(400, mode)]
        assert not measured["extrapolated"] and guessed["extrapolated"] and "budget" in guessed["reason"]
        assert measured["chunks"] >= 10 and measured["sentence_nodes"] > measured["chunks"]
        assert measured["retrieve_p50"] > 0 and measured["disk_mb"] > 0 and measured["query_rss_mb"] > 0
        point = data["points"][f"{mode}-20"]
        assert point["ingest"]["embedded_texts"] == measured["sentence_nodes"]
        assert point["query"]["retrieve"]["n"] == 3
        added = point["ingest"]["add_one"]
        assert added["file"]["embedded"] > 0 and added["folder"]["stages"]["reconcile"] < 1  # not reconciled
        assert measured["add_one_s"] == round(added["file"]["seconds"] - added["file"]["embed_seconds"], 2)
    assert rows[(20, "server")]["server_rss_mb"] > 0
    assert data["points"]["server-20"]["disk"]["chroma_server_mb"] > 0
    assert (results / "scale.png").read_bytes()[:8] == PNG_MAGIC
    table = (results / "README.md").read_text(encoding="utf-8")
    assert "## Scale set" in table and "extrap." in table

    # A size measured in a separate run replaces its extrapolation when merged.
    separate = dict(
        data, rows=[{**rows[(20, "server")], "size": 400}], points={"server-400": data["points"]["server-20"]}
    )
    (tmp_path / "separate.json").write_text(json.dumps(separate), encoding="utf-8")
    merged = scale.merge(results, tmp_path / "separate.json")
    assert not {(r["size"], r["mode"]): r for r in merged["rows"]}[(400, "server")]["extrapolated"]
    assert any("measured in a separate run" in n for n in merged["notes"])
    assert "server-400" in json.loads((results / "scale.json").read_text(encoding="utf-8"))["points"]


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    model = HashingEmbedding()
    a, b = model.get_text_embedding("Tokayev met Putin"), model.get_text_embedding("Tokayev met Putin")
    assert a == b and len(a) == 256
    assert abs(sum(x * x for x in a) - 1.0) < 1e-5
    assert model.embedded_texts == 2


def test_wordllama_loads_offline_from_the_wheel() -> None:
    pytest.importorskip("wordllama")
    from bench.embedders import WordLlamaEmbedding

    model = WordLlamaEmbedding()
    vectors = model.get_text_embedding_batch(["Kazakhstan", "Казахстан"])
    assert len(vectors) == 2 and len(vectors[0]) == 256
    assert model.embedded_texts == 2


def test_archive_set_tiny_run(tmp_path: Path) -> None:
    from bench import archive

    archive.main(["--articles", "2", "--results", str(tmp_path)])
    data = json.loads((tmp_path / "archive.json").read_text(encoding="utf-8"))
    run = data["archive"]
    assert run["articles"] == 2 and run["chunks"] >= 2 and run["embedded_texts"] > run["chunks"]
    assert run["peak_rss_mb"] > 50 and run["cpu_seconds"] > 0 and run["stages"]["pipeline"] > 0
    assert "## Archive" in (tmp_path / "README.md").read_text(encoding="utf-8")
