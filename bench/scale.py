"""Scale benchmark set (`make bench-scale`): synthetic corpora of 1k, 10k and 100k chunks, in embedded Chroma
and in Chroma server mode, embedded with a fast stand-in so that the store, BM25 and fusion are measured.

Corpus: `bench.synthetic.make_corpus`, .txt articles recombined from the real ones, in a temporary folder.
Table, extrapolation and plot: bench/scale_report.py.

Embedder: wordllama's bundled 256-d model (`bench.embedders.WordLlamaEmbedding`), or a hashing embedder when
wordllama cannot be loaded offline. Its vectors are not e5's: retrieval *quality* means nothing here, and
e5 (384-d, ~30 ms per query, ~7 texts/s at ingest on 2 cores) would dominate every figure.

Per size and store mode, two fresh worker processes (so that memory is per point):
- ingest worker: `ingest.index.ingest(settings, embed_model=stand_in)` → wall time, chunks + sentence
  nodes, chunks/s, time inside the stand-in embedder, peak RSS;
- query worker: `rag.retrieve.Retriever(settings, embed_model=stand_in)` → corpus load time, retrieval
  p50/p95 over 100 dataset questions (and its parts: query embedding, Chroma query, BM25), the same
  restricted to 5 random articles (the UI's article filter), extractive `ask` p50 (with the same
  retriever), RSS after the queries;
- index size on disk: RAG_DATA_DIR (plus the Chroma server's folder in server mode), and the server's RSS.
A size whose estimated time would overrun the budget is not run; its figures are extrapolated (power-law
fit over the measured sizes) and labelled so.

    python -m bench.scale [--sizes 1000,10000,100000] [--modes embedded,server] [--budget-min 35]
    python -m bench.scale --merge OTHER/scale.json    # fold a separately measured point into the results
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import (
    ARTICLES,
    RESULTS_DIR,
    ROOT,
    bench_settings,
    chroma_server,
    clean_env,
    dir_size_mb,
    load_questions,
    machine_info,
    ms_since,
    proc_memory_mb,
    retrieval_latencies,
    summarize,
)
from bench.embedders import stand_in_embedding
from bench.results import fmt, publish, write_result
from bench.scale_report import MODES, extrapolate, plot, render, row
from bench.synthetic import make_corpus

SIZES = (1_000, 10_000, 100_000)
QUERIES = 100
GROWTH = 1.0  # time(10× the chunks) ≈ 10 × time(this size) × GROWTH (1k → 10k took ~6×, 10k → 100k ~10×)
FILTER_ARTICLES = 5  # articles chosen in the filtered-retrieval timing
ASK_QUESTIONS = 20  # extractive asks per point (context for retrieval, not a target)


# ----------------------------------------------------------------------------------------------- workers


def ingest_point(corpus_dir: Path, data_dir: Path, store: dict[str, Any], embedder: str = "auto") -> dict[str, Any]:
    """Ingest `corpus_dir` into a fresh index with the stand-in embedder."""
    from ingest import ingest
    from store import chroma

    model, note = stand_in_embedding(embedder)
    settings = bench_settings(data_dir=data_dir, corpus_dir=corpus_dir, **store)
    summary = ingest(settings, embed_model=model)
    sentences = chroma.collection(settings, model.identity, kind=chroma.SENTENCE).count()
    added = add_one_article(settings, model)
    return {
        "embedder": model.identity,
        "embedder_note": note,
        "seconds": round(summary.seconds, 2),
        "documents": len(summary.added),
        "chunks": summary.chunks,
        "sentence_nodes": sentences,
        "embedded_texts": summary.embedded,
        "embed_seconds": round(summary.embed_seconds, 2),
        "chunks_per_s": round(summary.chunks / summary.seconds, 1),
        "nodes_per_s": round((summary.chunks + sentences) / summary.seconds, 1),
        "memory": proc_memory_mb(),
        "add_one": added,
    }


def add_one_article(settings: Any, model: Any) -> dict[str, Any]:
    """Add one more article to the index just built, as `rag ingest FILE` and as a full `rag ingest` of the folder
    would (then take it out again): wall seconds, seconds inside the embedder, seconds per ingest step."""
    from ingest import ingest

    first = sorted(settings.corpus_dir.iterdir())[0]
    new = settings.corpus_dir / "zz-added-article.txt"
    new.write_text("One more article\n\n" + first.read_text(encoding="utf-8"), encoding="utf-8")
    out = {}
    for name, paths in (("file", [new]), ("folder", None)):
        summary = ingest(settings, paths, embed_model=model)
        out[name] = {"seconds": round(summary.seconds, 2), "embed_seconds": round(summary.embed_seconds, 2),
                     "embedded": summary.embedded, "stages": summary.stages}
        new.write_text(new.read_text(encoding="utf-8") + "\nOne more sentence at its end.\n", encoding="utf-8")
    new.unlink()
    ingest(settings, embed_model=model)
    return out


def query_point(
    corpus_dir: Path, data_dir: Path, store: dict[str, Any], questions: Sequence[str], embedder: str = "auto"
) -> dict[str, Any]:
    """Load the index, time retrieval over `questions`, then extractive asks with the same retriever."""
    from rag import RAG
    from rag.retrieve import Retriever

    model, _ = stand_in_embedding(embedder)
    settings = bench_settings(data_dir=data_dir, corpus_dir=corpus_dir, **store)
    retriever = Retriever(settings, embed_model=model)
    start = time.perf_counter()
    corpus = retriever.corpus()
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    retriever.retrieve(questions[0])
    first_ms = ms_since(start)
    latency = retrieval_latencies(retriever, questions)
    memory_after_retrieval = proc_memory_mb()
    # The UI's article filter: the dense query then filters on doc_id, which Chroma answers with a metadata scan.
    chosen = random.Random(0).sample(sorted(corpus.documents), min(FILTER_ARTICLES, len(corpus.documents)))
    filtered = []
    for q in questions[:ASK_QUESTIONS]:
        start = time.perf_counter()
        retriever.retrieve(q, doc_ids=chosen)
        filtered.append(ms_since(start))

    engine = RAG(settings)
    engine.retriever = retriever  # the stand-in's vectors are what the store holds
    start = time.perf_counter()
    engine.ask(questions[0], mode="extractive")
    first_ask_ms = ms_since(start)
    asks = [engine.ask(q, mode="extractive") for q in questions[:ASK_QUESTIONS]]
    return {
        "chunks": len(corpus.bm25.chunks),
        "corpus_load_s": round(load_s, 3),
        "first_retrieve_ms": round(first_ms, 1),
        **latency,
        "filtered_retrieve": {"articles": len(chosen), **summarize(filtered)},
        "first_ask_ms": round(first_ask_ms, 1),
        "ask": summarize([a.timings["total"] for a in asks]),
        "ask_stage_p50": {
            k: summarize([a.timings[k] for a in asks if k in a.timings])["p50"]
            for k in ("embed", "retrieve", "extract")
        },
        "memory_after_retrieval": memory_after_retrieval,
        "memory": proc_memory_mb(),
    }


def _run_worker(kind: str, spec: dict[str, Any], work: Path, timeout: float) -> dict[str, Any]:
    """Run one worker in a fresh interpreter (so its RSS is its own) and return its JSON result."""
    spec_path, out_path = work / f"{kind}-spec.json", work / f"{kind}-out.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--worker", kind, str(spec_path), str(out_path)],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    result = json.loads(out_path.read_text(encoding="utf-8"))
    result["process_seconds"] = round(time.perf_counter() - started, 2)
    return result


def _worker_main(kind: str, spec_path: Path, out_path: Path) -> int:
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    corpus, data = Path(spec["corpus_dir"]), Path(spec["data_dir"])
    if kind == "ingest":
        result = ingest_point(corpus, data, spec["store"], spec["embedder"])
    else:
        result = query_point(corpus, data, spec["store"], spec["questions"], spec["embedder"])
    out_path.write_text(json.dumps(result), encoding="utf-8")
    return 0


# -------------------------------------------------------------------------------------------- one point


def measure_point(
    corpus_dir: Path,
    work: Path,
    mode: str,
    questions: Sequence[str],
    embedder: str = "auto",
    server: Any = None,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Ingest + query workers for one corpus in one store mode; sizes on disk; the server's memory."""
    work.mkdir(parents=True, exist_ok=True)
    store: dict[str, Any] = {}
    if mode == "server":
        store = {"chroma_host": server.host, "chroma_port": server.port, "collection": f"scale-{work.name}"}
    spec = {
        "corpus_dir": str(corpus_dir),
        "data_dir": str(work / "data"),
        "store": store,
        "embedder": embedder,
        "questions": list(questions),
    }
    started = time.perf_counter()
    point: dict[str, Any] = {"mode": mode, "ingest": _run_worker("ingest", spec, work, timeout)}
    if server is not None:
        point["server_memory_after_ingest"] = proc_memory_mb(server.pid)
    point["query"] = _run_worker("query", spec, work, timeout)
    disk = {"data_dir_mb": dir_size_mb(work / "data")}
    if server is not None:
        point["server_memory_after_queries"] = proc_memory_mb(server.pid)
        disk["chroma_server_mb"] = dir_size_mb(server.path)
    disk["total_mb"] = round(sum(disk.values()), 2)
    point["disk"] = disk
    point["seconds"] = round(time.perf_counter() - started, 1)
    return point


# -------------------------------------------------------------------------------------------------- main


def run(
    results_dir: Path = RESULTS_DIR,
    sizes: Sequence[int] = SIZES,
    modes: Sequence[str] = MODES,
    budget_s: float = 35 * 60,
    seed: int = 0,
    embedder: str = "auto",
    queries: int = QUERIES,
    articles_dir: Path = ARTICLES,
    work_root: Path | None = None,
) -> dict[str, Any]:
    """Measure every (size, mode) the budget allows, extrapolate the rest, write scale.json + plot + table."""
    started = time.perf_counter()
    questions = load_questions(queries)
    _, note = stand_in_embedding(embedder)
    result: dict[str, Any] = {
        "benchmark": "scale",
        "machine": machine_info(),
        "embedder_note": note,
        "queries": len(questions),
        "budget_s": budget_s,
        "corpora": {},
        "points": {},
        "rows": [],
        "notes": [],
    }
    measured: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        if work_root is None:
            work_root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scale-")))
        last: dict[str, tuple[int, float]] = {}  # mode -> (chunks, seconds) of its largest measured point
        for size in sorted(sizes):
            elapsed = time.perf_counter() - started
            wanted = []
            for mode in modes:
                if mode in last:
                    chunks, secs = last[mode]
                    estimate = secs * (size / chunks) * GROWTH
                    if elapsed + estimate > budget_s:
                        reason = (
                            f"not run: estimated {estimate / 60:.1f} min ({secs:.0f} s at {chunks:,} chunks × "
                            f"{size / chunks:.0f} × {GROWTH}) would exceed the {budget_s / 60:.0f}-min budget "
                            f"({elapsed / 60:.1f} min used)"
                        )
                        result["rows"].append(extrapolate(size, mode, measured, reason))
                        result["notes"].append(f"{size:,} chunks, {mode}: {reason}; figures extrapolated.")
                        continue
                    elapsed += estimate
                wanted.append(mode)
            if not wanted:
                continue
            corpus_dir = work_root / f"corpus-{size}"
            shutil.rmtree(corpus_dir, ignore_errors=True)
            print(f"[bench.scale] generating a {size:,}-chunk corpus …", flush=True)
            result["corpora"][str(size)] = make_corpus(size, corpus_dir, articles_dir, seed)
            for mode in wanted:
                print(f"[bench.scale] {size:,} chunks, {mode} store: ingest + {len(questions)} queries …", flush=True)
                work = work_root / f"{mode}-{size}"
                shutil.rmtree(work, ignore_errors=True)
                if mode == "server":
                    with chroma_server(work_root / f"chroma-{size}") as server:
                        point = measure_point(corpus_dir, work, mode, questions, embedder, server)
                else:
                    point = measure_point(corpus_dir, work, mode, questions, embedder)
                result["points"][f"{mode}-{size}"] = point
                flat = row(size, point)
                measured.append(flat)
                result["rows"].append(flat)
                last[mode] = (flat["chunks"], point["seconds"])
                print(
                    f"[bench.scale]   {flat['chunks']:,} chunks: ingest {flat['ingest_s']} s, retrieval p50 "
                    f"{flat['retrieve_p50']} ms, took {point['seconds']} s",
                    flush=True,
                )
            shutil.rmtree(corpus_dir, ignore_errors=True)
    result["rows"].sort(key=lambda r: (r["size"], MODES.index(r["mode"])))
    result["seconds"] = round(time.perf_counter() - started, 1)
    return publish(results_dir, "scale", result, plot, "scale.png", render)


def merge(results_dir: Path, other: Path) -> dict[str, Any]:
    """Fold the measured rows of another scale run (e.g. one size/mode run on its own) into the latest
    `scale.json`: a measured row replaces an extrapolated or older one of the same size and mode."""
    base = json.loads((results_dir / "scale.json").read_text(encoding="utf-8"))
    extra = json.loads(other.read_text(encoding="utf-8"))
    for new in (r for r in extra["rows"] if not r["extrapolated"]):
        key = (new["size"], new["mode"])
        base["rows"] = [r for r in base["rows"] if (r["size"], r["mode"]) != key] + [new]
        base["points"][f"{new['mode']}-{new['size']}"] = extra["points"][f"{new['mode']}-{new['size']}"]
        base["notes"] = [n for n in base["notes"] if not n.startswith(f"{new['size']:,} chunks, {new['mode']}:")]
        load = extra["machine"].get("loadavg_start", ["?"])[0]
        base["notes"].append(
            f"{new['size']:,} chunks, {new['mode']}: measured in a separate run ({extra['created']}, "
            f"{fmt(extra['seconds'] / 60)} min, load avg {load} at start) and merged here."
        )
    base["rows"].sort(key=lambda r: (r["size"], MODES.index(r["mode"])))
    base["plot"] = str(plot(base, results_dir / "scale.png"))
    base["markdown"] = render(base)
    write_result(results_dir, "scale", base)
    return base


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker_main(argv[1], Path(argv[2]), Path(argv[3]))
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="chunk counts, comma-separated")
    parser.add_argument("--modes", default=",".join(MODES), help="embedded,server")
    parser.add_argument("--budget-min", type=float, default=35.0, help="time budget in minutes (35)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embedder", choices=("auto", "wordllama", "hashing"), default="auto")
    parser.add_argument("--queries", type=int, default=QUERIES, help=f"dataset questions to time ({QUERIES})")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help=f"output folder ({RESULTS_DIR})")
    parser.add_argument("--work", type=Path, help="keep corpora and indexes here instead of a temp folder")
    parser.add_argument("--merge", type=Path, help="only merge the measured rows of this scale.json into --results")
    args = parser.parse_args(argv)
    if args.merge:
        print(merge(args.results, args.merge)["markdown"])
        return 0
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown mode(s) {sorted(unknown)}; use {MODES}")
    result = run(
        args.results,
        [int(s) for s in args.sizes.split(",") if s],
        modes,
        args.budget_min * 60,
        args.seed,
        args.embedder,
        args.queries,
        work_root=args.work,
    )
    print(result["markdown"])
    print(f"\nwritten to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
