"""Quick benchmark set (`make bench`, a few minutes on 2 cores), with the real e5 embedder:

1. ingestion of the articles folder into a temporary RAG_DATA_DIR: cold run (time, chunks, sentence nodes,
   chunks/s, time inside the embedder, overhead ratio run ÷ embedder) and a warm re-run (nothing changed:
   time, texts embedded — must be 0);
2. query latency over the team's dataset questions: retrieval only, extractive `ask` (+ per-stage p50),
   and time-to-first-token in LLM mode against `tests/openai_stub.py` — a scripted local server that
   answers instantly, so the figure is the product's own overhead, not a model's speed;
3. the app's resident memory: `python app.py` on a free port over the index from 1., asked 20 questions
   through gradio_client `/ask`, VmRSS read from /proc.

    python -m bench.quick [--questions N] [--app-questions 20] [--no-app] [--results DIR]

Writes `quick.json`, `quick-latency.png` and the table in `README.md` under the results folder.
Targets, table and plot: bench/quick_report.py.
"""

from __future__ import annotations

import argparse
import contextlib
import re
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
    clean_env,
    descendants,
    free_port,
    load_questions,
    machine_info,
    ms_since,
    proc_memory_mb,
    retrieval_latencies,
    stop_process,
    summarize,
    wait_for_port,
)
from bench.quick_report import plot, render
from bench.results import publish
from store.settings import Settings

# ----------------------------------------------------------------------------------------------- ingest


def bench_ingest(corpus_dir: Path, work_dir: Path) -> dict[str, Any]:
    """Cold ingest of `corpus_dir` into `work_dir/data`, then a warm re-run with nothing changed."""
    start = time.perf_counter()
    import chromadb  # noqa: F401 - imported here so that import time is reported apart from the run
    from llama_index.vector_stores.chroma import ChromaVectorStore  # noqa: F401

    from ingest import ingest
    from store import chroma
    from store.embeddings import embedding_model

    imports_s = time.perf_counter() - start
    settings = bench_settings(data_dir=work_dir / "data", corpus_dir=corpus_dir)
    model = embedding_model(settings)
    cold = ingest(settings, embed_model=model)
    sentences = chroma.collection(settings, model.identity, kind=chroma.SENTENCE).count()
    warm = ingest(settings, embed_model=model)
    return {
        "settings": {"data_dir": str(settings.data_dir), "corpus_dir": str(corpus_dir)},
        "embedder": model.identity,
        "imports_s": round(imports_s, 3),
        "documents": len(cold.added),
        "cold": {
            "seconds": round(cold.seconds, 3),
            "chunks": cold.chunks,
            "sentence_nodes": sentences,
            "embedded_texts": cold.embedded,
            "embed_seconds": round(cold.embed_seconds, 3),
            "chunks_per_s": round(cold.chunks / cold.seconds, 2),
            "texts_per_s": round(cold.embedded / cold.seconds, 2),
            "outside_embedder_s": round(cold.seconds - cold.embed_seconds, 3),
            "overhead_ratio": round(cold.seconds / cold.embed_seconds, 3) if cold.embed_seconds else None,
        },
        "warm": {"seconds": round(warm.seconds, 3), "embedded_texts": warm.embedded, "line": warm.line()},
    }


# ---------------------------------------------------------------------------------------------- queries


def scripted_answer(body: dict[str, Any]) -> str:
    """The stub's reply: the first sentence of passage [1], cited — a well-formed answer that verifies."""
    messages = body.get("messages") or []
    user = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
    match = re.search(r'^<passage n="1"[^>]*>\n(.+)$', user, re.M)
    if not match:
        return "NOT_IN_SOURCES"
    first = re.split(r"(?<=[.!?])\s", match.group(1).strip(), maxsplit=1)[0]
    return f"{first} [1]"


def _stage_p50(timings: list[dict[str, float]]) -> dict[str, Any]:
    stages = sorted({k for t in timings for k in t})
    return {k: summarize([t[k] for t in timings if k in t])["p50"] for k in stages}


def bench_queries(settings: Settings, questions: Sequence[str], llm: bool = True, warmup: int = 3) -> dict[str, Any]:
    """Retrieval-only, extractive-ask and LLM-mode (scripted server) latency over `questions`."""
    from rag import RAG
    from rag.answer import Answer

    engine = RAG(settings)
    result: dict[str, Any] = {"questions": len(questions)}
    result["retrieval"] = retrieval_latencies(engine.retriever, questions, warmup)

    for q in list(questions)[:warmup]:
        engine.ask(q, mode="extractive")
    wall, timings, refused = [], [], 0
    for q in questions:
        start = time.perf_counter()
        answer = engine.ask(q, mode="extractive")
        wall.append(ms_since(start))
        timings.append(answer.timings)
        refused += bool(answer.refused)
    result["extractive"] = {"ask": summarize(wall), "stage_p50": _stage_p50(timings), "refused": refused}

    if llm:
        sys.path.insert(0, str(ROOT / "tests"))
        from openai_stub import StubOpenAI

        with StubOpenAI(default=scripted_answer) as stub:
            llm_engine = RAG(settings.model_copy(update={"llm_base_url": stub.base_url, "llm_model": "stub-model"}))
            for q in list(questions)[:warmup]:
                llm_engine.ask(q, mode="llm")
            ttft, wall, timings, fallbacks = [], [], [], 0
            for q in questions:
                start = time.perf_counter()
                first = None
                for event in llm_engine.stream(q, mode="llm"):
                    if isinstance(event, str) and first is None:
                        first = ms_since(start)
                    elif isinstance(event, Answer):
                        timings.append(event.timings)
                        fallbacks += event.mode != "llm"
                wall.append(ms_since(start))
                if first is not None:
                    ttft.append(first)
            result["llm"] = {
                "server": "tests/openai_stub.py StubOpenAI (scripted, replies instantly; not a model)",
                "ttft_end_to_end": summarize(ttft),
                "total": summarize(wall),
                "stage_p50": _stage_p50(timings),
                "extractive_fallbacks": fallbacks,
            }
    return result


# ----------------------------------------------------------------------------------------------- app RSS


def _tree_memory(pid: int) -> dict[str, float]:
    main = proc_memory_mb(pid)
    kids = [proc_memory_mb(k).get("VmRSS", 0.0) for k in descendants(pid)]
    return {"rss_mb": main.get("VmRSS", 0.0), "peak_rss_mb": main.get("VmHWM", 0.0), "children_rss_mb": sum(kids)}


def bench_app_rss(
    data_dir: Path, corpus_dir: Path, questions: Sequence[str], work_dir: Path, timeout: float = 180
) -> dict[str, Any]:
    """Start `python app.py` over an existing index, ask `questions` via gradio_client, read VmRSS."""
    from gradio_client import Client

    port = free_port()
    env = clean_env() | {
        "RAG_DATA_DIR": str(data_dir),
        "RAG_CORPUS_DIR": str(corpus_dir),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ANONYMIZED_TELEMETRY": "False",
    }
    log_path = work_dir / "app.log"
    with open(log_path, "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(port, proc, timeout, "app.py")
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            startup_s = time.perf_counter() - start
            after_start = _tree_memory(proc.pid)
            latencies, errors = [], []
            for q in questions:
                t0 = time.perf_counter()
                reply = client.predict(q, api_name="/ask")
                latencies.append(ms_since(t0))
                if isinstance(reply, dict) and reply.get("error"):
                    errors.append(str(reply["error"]))
            after = _tree_memory(proc.pid)
        except Exception:
            sys.stderr.write(log_path.read_text(errors="replace")[-3000:])
            raise
        finally:
            stop_process(proc)
    return {
        "startup_s": round(startup_s, 2),
        "questions": len(questions),
        "after_start": after_start,
        "after_questions": after,
        "ask_api": summarize(latencies),
        "errors": errors,
    }


# -------------------------------------------------------------------------------------------------- main


def run(
    results_dir: Path = RESULTS_DIR,
    corpus_dir: Path = ARTICLES,
    questions: Sequence[str] | None = None,
    app_questions: int = 20,
    app: bool = True,
    llm: bool = True,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the quick set, write `quick.json` + `quick-latency.png` + README table; return the result."""
    questions = list(questions) if questions is not None else load_questions()
    result: dict[str, Any] = {"benchmark": "quick", "machine": machine_info()}
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-quick-")))
        print(f"[bench.quick] ingesting {corpus_dir} (cold, then warm) …", flush=True)
        result["ingest"] = bench_ingest(corpus_dir, work_dir)
        settings = bench_settings(data_dir=work_dir / "data", corpus_dir=corpus_dir)
        print(f"[bench.quick] {len(questions)} questions: retrieval, extractive, LLM (stub) …", flush=True)
        result["queries"] = bench_queries(settings, questions, llm=llm)
        if app:
            print(f"[bench.quick] app.py RSS over {app_questions} questions …", flush=True)
            result["app"] = bench_app_rss(settings.data_dir, corpus_dir, questions[:app_questions], work_dir)
    return publish(results_dir, "quick", result, plot, "quick-latency.png", render)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quick", description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, help="use only the first N dataset questions")
    parser.add_argument("--app-questions", type=int, default=20, help="questions asked through the app (20)")
    parser.add_argument("--no-app", action="store_true", help="skip the app RSS measurement")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help=f"output folder ({RESULTS_DIR})")
    args = parser.parse_args(argv)
    result = run(args.results, questions=load_questions(args.questions), app_questions=args.app_questions,
                 app=not args.no_app)
    print(result["markdown"])
    print(f"\nwritten to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
