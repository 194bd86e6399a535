"""The quick set's table and plot, from one run's result (bench/quick.py) — and the targets they are judged by.

`render` writes the markdown table (ingest, retrieval, extractive ask, then LLM mode and app memory when they
were measured); `plot` draws the latency figure. Nothing here measures anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import DATASET, ROOT, machine_line
from bench.results import fmt, verdict

TARGETS = {
    "overhead_ratio": 1.15,
    "retrieval_p50_ms": 30.0,
    "ask_p50_ms": 100.0,
    "app_rss_mb": 1024.0,
}

Row = tuple[str, str, str, str]  # measure, value, target, status


# ------------------------------------------------------------------------------------------------- table


def _ingest_rows(ing: dict[str, Any]) -> list[Row]:
    cold, warm = ing["cold"], ing["warm"]
    return [
        ("ingest cold: wall time", f"{fmt(cold['seconds'], 2)} s", "", ""),
        (
            "ingest cold: chunks / sentence nodes / texts embedded",
            f"{cold['chunks']} / {cold['sentence_nodes']} / {cold['embedded_texts']}",
            "",
            "",
        ),
        ("ingest cold: chunks/s (texts/s)", f"{fmt(cold['chunks_per_s'], 2)} ({fmt(cold['texts_per_s'], 2)})", "", ""),
        ("ingest cold: time inside the embedder", f"{fmt(cold['embed_seconds'], 2)} s", "", ""),
        (
            "ingest cold: overhead ratio (run ÷ embedder)",
            fmt(cold["overhead_ratio"], 3),
            f"≤ {TARGETS['overhead_ratio']}",
            verdict(cold["overhead_ratio"], TARGETS["overhead_ratio"]),
        ),
        (
            "ingest warm re-run: wall time / texts embedded",
            f"{fmt(warm['seconds'], 2)} s / {warm['embedded_texts']}",
            "0 embedded",
            "met" if warm["embedded_texts"] == 0 else "**missed**",
        ),
    ]


def _query_rows(q: dict[str, Any]) -> list[Row]:
    """Retrieval (with its parts) and the extractive ask (with its stages)."""
    r, ex = q["retrieval"], q["extractive"]
    return [
        (
            "retrieval p50 / p95 (incl. query embedding)",
            f"{fmt(r['retrieve']['p50'])} / {fmt(r['retrieve']['p95'])} ms",
            f"p50 ≤ {TARGETS['retrieval_p50_ms']:.0f} ms",
            verdict(r["retrieve"]["p50"], TARGETS["retrieval_p50_ms"]),
        ),
        (
            "… parts p50: query embedding / Chroma query / BM25 / fusion+other",
            f"{fmt(r['query_embedding']['p50'])} / {fmt(r['dense']['p50'])} / {fmt(r['bm25']['p50'], 2)} / "
            f"{fmt(r['fusion_other']['p50'], 2)} ms",
            "",
            "",
        ),
        (
            "extractive ask p50 / p95",
            f"{fmt(ex['ask']['p50'])} / {fmt(ex['ask']['p95'])} ms",
            f"p50 ≤ {TARGETS['ask_p50_ms']:.0f} ms",
            verdict(ex["ask"]["p50"], TARGETS["ask_p50_ms"]),
        ),
        (
            "… stage p50 (answer.timings)",
            " / ".join(f"{k} {fmt(v)}" for k, v in ex["stage_p50"].items()) + " ms",
            "",
            "",
        ),
    ]


def _llm_rows(llm: dict[str, Any]) -> list[Row]:
    """LLM mode against the scripted stub: the product's own overhead, not a model's speed (so no target)."""
    stages = llm["stage_p50"]
    return [
        (
            "LLM mode, **scripted stub server**: time to first token p50 / p95",
            f"{fmt(llm['ttft_end_to_end']['p50'])} / {fmt(llm['ttft_end_to_end']['p95'])} ms",
            "",
            "",
        ),
        (
            "… stage p50: request→first token / generate / verify / total",
            f"{fmt(stages.get('first_token'))} / {fmt(stages.get('generate'))} / {fmt(stages.get('verify'))} / "
            f"{fmt(stages.get('total'))} ms",
            "",
            "",
        ),
    ]


def _app_rows(app: dict[str, Any]) -> list[Row]:
    # The target is on the whole process tree: any worker processes the app spawns count too.
    rss = app["after_questions"]["rss_mb"] + app["after_questions"]["children_rss_mb"]
    return [
        ("app start-up (spawn → port open)", f"{fmt(app['startup_s'])} s", "", ""),
        (
            f"app RSS after start / after {app['questions']} questions (peak)",
            f"{fmt(app['after_start']['rss_mb'], 0)} / {fmt(rss, 0)} MB "
            f"({fmt(app['after_questions']['peak_rss_mb'], 0)} MB)",
            f"≤ {TARGETS['app_rss_mb']:.0f} MB",
            verdict(rss, TARGETS["app_rss_mb"]),
        ),
        (
            "app /ask via gradio_client p50 / p95",
            f"{fmt(app['ask_api']['p50'])} / {fmt(app['ask_api']['p95'])} ms",
            "",
            "",
        ),
    ]


def render(result: dict[str, Any]) -> str:
    """The markdown table of one quick run."""
    ing, q = result["ingest"], result["queries"]
    rows = _ingest_rows(ing) + _query_rows(q)
    if "llm" in q:
        rows += _llm_rows(q["llm"])
    if "app" in result:
        rows += _app_rows(result["app"])
    lines = [
        f"## Quick set — {machine_line(result['machine'])}",
        "",
        f"Real embedder ({ing['embedder']}); {ing['documents']} articles from "
        f"`{Path(ing['settings']['corpus_dir']).name}`; {q['questions']} questions from "
        f"`{DATASET.relative_to(ROOT)}`; created {result['created']}.",
        "",
        "| measure | value | target | status |",
        "| --- | --- | --- | --- |",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
    ]
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------------- plot


def plot(result: dict[str, Any], path: Path) -> Path:
    """Latency p50/p95 per path, and the extractive ask's stage split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    q = result["queries"]
    bars = [
        ("query embedding", q["retrieval"]["query_embedding"]),
        ("retrieval", q["retrieval"]["retrieve"]),
        ("extractive ask", q["extractive"]["ask"]),
    ]
    if "llm" in q:
        bars.append(("LLM TTFT (stub)", q["llm"]["ttft_end_to_end"]))
    if "app" in result:
        bars.append(("app /ask (HTTP)", result["app"]["ask_api"]))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = [b[0] for b in bars]
    ys = range(len(bars))
    left.barh([y + 0.2 for y in ys], [b[1]["p95"] or 0 for b in bars], height=0.4, label="p95", color="#f4a259")
    left.barh([y - 0.2 for y in ys], [b[1]["p50"] or 0 for b in bars], height=0.4, label="p50", color="#3d5a80")
    left.axvline(TARGETS["retrieval_p50_ms"], color="grey", ls=":", lw=1)
    left.axvline(TARGETS["ask_p50_ms"], color="grey", ls="--", lw=1)
    left.set_yticks(list(ys), names)
    left.set_xlabel("ms")
    left.set_title("Latency (dotted: retrieval target, dashed: ask target)")
    left.legend()
    stages = {k: v for k, v in q["extractive"]["stage_p50"].items() if k != "total" and v is not None}
    right.bar(list(stages), list(stages.values()), color="#98c1d9")
    right.set_ylabel("ms (p50)")
    right.set_title("Extractive ask: stage p50")
    fig.suptitle(f"Quick set — {result['machine']['nproc']} cores, {result['machine']['cpu_model']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
