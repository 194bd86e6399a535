"""Scale benchmark set (`make bench-scale`): synthetic corpora of 1k, 10k and 100k chunks, in embedded Chroma
and in Chroma server mode, embedded with a fast stand-in so that the store, BM25 and fusion are measured.

Corpus: written as .txt files into a temporary folder. Each synthetic article has a size drawn from the
real articles' range and is made of paragraphs recombined from the five real articles' sentences (drawn at
random, seeded), with ~10% of the words swapped for other corpus words and a few invented names per article,
so that chunk and sentence texts are not verbatim duplicates and the vocabulary grows with the corpus.

Embedder: wordllama's bundled 256-d model (`bench.common.WordLlamaEmbedding`), or a hashing embedder when
wordllama cannot be loaded offline. Its vectors are not e5's: retrieval *quality* means nothing here, and
e5 (384-d, ~30 ms per query, ~7 texts/s at ingest on 2 cores) would dominate every figure.

Per size and store mode, two fresh worker processes (so that memory is per point):
- ingest worker: `ingest.index.ingest(settings, embed_model=stand_in)` → wall time, chunks + sentence
  nodes, chunks/s, time inside the stand-in embedder, peak RSS;
- query worker: `rag.retrieve.Retriever(settings, embed_model=stand_in)` → corpus load time, retrieval
  p50/p95 over 100 dataset questions (and its parts: query embedding, Chroma query, BM25), extractive
  `ask` p50 (with the same retriever), RSS after the queries;
- index size on disk: RAG_DATA_DIR (plus the Chroma server's folder in server mode), and the server's RSS.
A size whose estimated time would overrun the budget is not run; its figures are extrapolated (power-law
fit over the measured sizes) and labelled so.

    python -m bench.scale [--sizes 1000,10000,100000] [--modes embedded,server] [--budget-min 25]
    python -m bench.scale --merge OTHER/scale.json    # fold a separately measured point into the results
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import re
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
    fmt,
    load_questions,
    loadavg,
    machine_info,
    machine_line,
    ms_since,
    now_iso,
    proc_memory_mb,
    retrieval_latencies,
    stand_in_embedding,
    summarize,
    verdict,
    write_result,
)

SIZES = (1_000, 10_000, 100_000)
MODES = ("embedded", "server")
TARGET_P50_MS = 100.0  # retrieval p50 at 100k chunks
QUERIES = 100
GROWTH = 1.0  # time(10× the chunks) ≈ 10 × time(this size) × GROWTH (1k → 10k took ~6×, 10k → 100k ~10×)
ASK_QUESTIONS = 20  # extractive asks per point (context for retrieval, not a target)
_SYLLABLES = ("ka", "ra", "zhan", "bek", "nur", "ter", "ol", "mar", "sul", "ta", "dos", "gul", "ay", "em", "sal", "yer")
_SUFFIXES = ("ov", "ev", "bek", "uly", "in", "kyzy", "an", "")


# ----------------------------------------------------------------------------------------------- corpus


def _pool(articles_dir: Path) -> tuple[list[str], list[int], list[str]]:
    """Sentences of the real articles (titles excluded), their cleaned sizes, and their longer words."""
    from ingest.chunk import split_sentences
    from ingest.clean import clean_text
    from ingest.load import corpus_files, load_files

    sources, _ = load_files(corpus_files(articles_dir), 5_000_000)
    sentences, sizes, vocab = [], [], set()
    for source in sources:
        cleaned = clean_text(source.text)
        body = cleaned.text[len(cleaned.title) :]
        sizes.append(len(cleaned.text))
        sentences += [body[s.start : s.end] for s in split_sentences(body)]
        vocab.update(re.findall(r"\b[a-z]{4,}\b", body))
    if not sentences:
        raise ValueError(f"no sentences in {articles_dir}")
    return sentences, sizes, sorted(vocab)


def _name(rng: random.Random) -> str:
    return ("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))) + rng.choice(_SUFFIXES)).capitalize()


def _mutate(sentence: str, rng: random.Random, vocab: Sequence[str], names: Sequence[str]) -> str:
    words = sentence.split(" ")
    for i, word in enumerate(words):
        if i and word.isalpha() and word[:1].isupper() and rng.random() < 0.3:
            words[i] = rng.choice(names)
        elif vocab and len(word) >= 4 and word.isalpha() and word.islower() and rng.random() < 0.1:
            words[i] = rng.choice(vocab)
    return " ".join(words)


def make_corpus(target_chunks: int, out_dir: Path, articles_dir: Path = ARTICLES, seed: int = 0) -> dict[str, Any]:
    """Write synthetic articles into `out_dir` until they hold at least `target_chunks` chunks (as the ingest
    chunker will cut them). Deterministic for a given seed and source folder."""
    from ingest.chunk import chunk_document
    from ingest.clean import clean_text

    started = time.perf_counter()
    rng = random.Random(seed)
    sentences, sizes, vocab = _pool(articles_dir)
    low, high = int(min(sizes) * 0.8), int(max(sizes) * 1.2)
    out_dir.mkdir(parents=True, exist_ok=True)
    chunks = chars = files = 0
    while chunks < target_chunks:
        names = [_name(rng) for _ in range(3)]
        target = rng.randint(low, high)
        title_words = _mutate(rng.choice(sentences), rng, vocab, names).rstrip(".").split()
        lines = [" ".join(title_words[: rng.randint(6, 12)])]
        length = len(lines[0])
        while length < target:
            paragraph = " ".join(_mutate(rng.choice(sentences), rng, vocab, names) for _ in range(rng.randint(2, 5)))
            lines.append(paragraph)
            length += len(paragraph) + 1
        text = "\n".join(lines) + "\n"
        doc_id = f"synth-{files:06d}"
        n = len(chunk_document(doc_id, clean_text(text).text))
        if chunks + n > target_chunks and chunks and target_chunks - chunks < n // 2:
            break  # closer to the target without this article
        (out_dir / f"{doc_id}.txt").write_text(text, encoding="utf-8")
        chunks, chars, files = chunks + n, chars + len(text), files + 1
    return {
        "target_chunks": target_chunks,
        "files": files,
        "chunks": chunks,
        "chars": chars,
        "mean_article_chars": round(chars / max(files, 1)),
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 2),
    }


# ----------------------------------------------------------------------------------------------- workers


def ingest_point(corpus_dir: Path, data_dir: Path, store: dict[str, Any], embedder: str = "auto") -> dict[str, Any]:
    """Ingest `corpus_dir` into a fresh index with the stand-in embedder."""
    from ingest import ingest
    from rag import store as rag_store

    model, note = stand_in_embedding(embedder)
    settings = bench_settings(data_dir=data_dir, corpus_dir=corpus_dir, **store)
    summary = ingest(settings, embed_model=model)
    sentences = rag_store.collection(settings, model.identity, part=rag_store.SENTENCES).count()
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
    }


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


# ------------------------------------------------------------------------------------------ extrapolation


def _power_fit(xs: Sequence[float], ys: Sequence[float], x: float) -> float | None:
    """y at x from a power law through the measured points (log-log least squares; linear if one point)."""
    pts = [(a, b) for a, b in zip(xs, ys, strict=True) if a and b]
    if not pts:
        return None
    if len(pts) == 1:
        return pts[0][1] * x / pts[0][0]
    lx = [math.log(a) for a, _ in pts]
    ly = [math.log(b) for _, b in pts]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    var = sum((a - mx) ** 2 for a in lx) or 1.0
    slope = sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / var
    return round(math.exp(my + slope * (math.log(x) - mx)), 2)


def row(size: int, point: dict[str, Any]) -> dict[str, Any]:
    """The flat figures of one measured point (what the table, the plot and extrapolation use)."""
    ing, q = point["ingest"], point["query"]
    server_rss = (point.get("server_memory_after_queries") or {}).get("VmRSS")
    return {
        "size": size,
        "mode": point["mode"],
        "extrapolated": False,
        "chunks": ing["chunks"],
        "sentence_nodes": ing["sentence_nodes"],
        "ingest_s": ing["seconds"],
        "chunks_per_s": ing["chunks_per_s"],
        "nodes_per_s": ing["nodes_per_s"],
        "embed_s": ing["embed_seconds"],
        "retrieve_p50": q["retrieve"]["p50"],
        "retrieve_p95": q["retrieve"]["p95"],
        "dense_p50": q["dense"]["p50"],
        "bm25_p50": q["bm25"]["p50"],
        "ask_p50": q["ask"]["p50"],
        "corpus_load_s": q["corpus_load_s"],
        "disk_mb": point["disk"]["total_mb"],
        "ingest_peak_rss_mb": ing["memory"].get("VmHWM"),
        "query_rss_mb": q["memory"].get("VmRSS"),
        "server_rss_mb": server_rss,
    }


def extrapolate(size: int, mode: str, measured: Sequence[dict[str, Any]], reason: str) -> dict[str, Any]:
    """A row for an unmeasured size, each figure fitted over the measured rows of the same mode."""
    rows = [r for r in measured if r["mode"] == mode and not r["extrapolated"]]
    xs = [r["chunks"] for r in rows]
    out: dict[str, Any] = {"size": size, "mode": mode, "extrapolated": True, "reason": reason, "chunks": size}
    for key in (
        "sentence_nodes",
        "ingest_s",
        "embed_s",
        "retrieve_p50",
        "retrieve_p95",
        "dense_p50",
        "bm25_p50",
        "ask_p50",
        "corpus_load_s",
        "disk_mb",
        "ingest_peak_rss_mb",
        "query_rss_mb",
        "server_rss_mb",
    ):
        out[key] = _power_fit(xs, [r.get(key) or 0 for r in rows], size)
    out["chunks_per_s"] = round(size / out["ingest_s"], 1) if out.get("ingest_s") else None
    out["nodes_per_s"] = (
        round((size + (out["sentence_nodes"] or 0)) / out["ingest_s"], 1) if out.get("ingest_s") else None
    )
    return out


# ------------------------------------------------------------------------------------------------ report


def render(result: dict[str, Any]) -> str:
    rows = result["rows"]
    head = (
        "| chunks (+ sentence nodes) | store | ingest s | chunks/s (nodes/s) | retrieval p50 / p95 ms | "
        "Chroma p50 ms | BM25 p50 ms | ask p50 ms (20 q) | corpus load s | disk MB | ingest peak RSS MB | "
        "query RSS MB (server RSS) |"
    )
    lines = [
        f"## Scale set — {machine_line(result['machine'])}",
        "",
        f"Stand-in embedder: {result['embedder_note']} — vectors are not e5's; the figures measure store, BM25 "
        f"and fusion. {result['queries']} queries from the team's dataset; created {result['created']}; "
        f"whole run {fmt(result['seconds'] / 60)} min. *Italic rows are extrapolated, not measured.*",
        "",
        head,
        "| " + " | ".join(["---"] * 12) + " |",
    ]
    for r in rows:
        cells = [
            f"{r['chunks']:,} (+{int(r['sentence_nodes'] or 0):,})",
            r["mode"],
            fmt(r["ingest_s"]),
            f"{fmt(r['chunks_per_s'], 0)} ({fmt(r['nodes_per_s'], 0)})",
            f"{fmt(r['retrieve_p50'])} / {fmt(r['retrieve_p95'])}",
            fmt(r["dense_p50"]),
            fmt(r["bm25_p50"], 2),
            fmt(r["ask_p50"]),
            fmt(r["corpus_load_s"], 2),
            fmt(r["disk_mb"], 0),
            fmt(r["ingest_peak_rss_mb"], 0),
            fmt(r["query_rss_mb"], 0) + (f" ({fmt(r['server_rss_mb'], 0)})" if r.get("server_rss_mb") else ""),
        ]
        if r["extrapolated"]:
            cells = [f"*{c} (extrap.)*" if i == 0 else f"*{c}*" for i, c in enumerate(cells)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for r in rows:
        if r["size"] == max(SIZES) or r["size"] == max(x["size"] for x in rows):
            status = verdict(r["retrieve_p50"], TARGET_P50_MS)
            label = "extrapolated" if r["extrapolated"] else "measured"
            lines.append(
                f"- Target retrieval p50 ≤ {TARGET_P50_MS:.0f} ms at {r['chunks']:,} chunks, {r['mode']}: "
                f"{fmt(r['retrieve_p50'])} ms ({label}) — {status}."
            )
    for note in result.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    panels = [
        (axes[0][0], "retrieve_p50", "retrieval p50 (ms)", True),
        (axes[0][1], "chunks_per_s", "ingest chunks/s", False),
        (axes[1][0], "query_rss_mb", "query process RSS (MB)", False),
        (axes[1][1], "disk_mb", "index on disk (MB)", False),
    ]
    colors = {"embedded": "#3d5a80", "server": "#ee6c4d"}
    for ax, key, label, target in panels:
        for mode in MODES:
            rows = [r for r in result["rows"] if r["mode"] == mode and r.get(key)]
            if not rows:
                continue
            xs, ys = [r["chunks"] for r in rows], [r[key] for r in rows]
            ax.plot(xs, ys, "-", color=colors[mode], label=mode)
            for r in rows:
                face = "white" if r["extrapolated"] else colors[mode]
                ax.plot(r["chunks"], r[key], "o", color=colors[mode], mfc=face)
            if key == "retrieve_p50":
                p95 = [r["retrieve_p95"] for r in rows]
                ax.plot(xs, p95, ":", color=colors[mode], label=f"{mode} p95")
        if target:
            ax.axhline(TARGET_P50_MS, color="grey", ls="--", lw=1, label="target p50")
        ax.set_xscale("log")
        ax.set_xlabel("chunks (hollow = extrapolated)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Scale set — {result['machine']['nproc']} cores, {result['machine']['cpu_model']}; stand-in embedder",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -------------------------------------------------------------------------------------------------- main


def run(
    results_dir: Path = RESULTS_DIR,
    sizes: Sequence[int] = SIZES,
    modes: Sequence[str] = MODES,
    budget_s: float = 25 * 60,
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
    result["created"] = now_iso()
    result["machine"]["loadavg_end"] = loadavg()
    results_dir.mkdir(parents=True, exist_ok=True)
    result["plot"] = str(plot(result, results_dir / "scale.png"))
    result["markdown"] = render(result)
    write_result(results_dir, "scale", result)
    return result


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
    parser.add_argument("--budget-min", type=float, default=25.0, help="time budget in minutes (25)")
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
