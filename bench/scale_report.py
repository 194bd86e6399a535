"""The scale set's table, extrapolations and plot, from the measured points (bench/scale.py).

`row` flattens one measured point, `extrapolate` fills a size the time budget left out (power-law fit over
the measured sizes, marked as such), `render` writes the markdown table and `plot` the latency figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import machine_line
from bench.results import fmt, verdict

MODES = ("embedded", "server")
TARGET_P50_MS = 100.0  # retrieval p50 at 100k chunks


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
        "filtered_p50": (q.get("filtered_retrieve") or {}).get("p50"),
        "ask_p50": q["ask"]["p50"],
        "corpus_load_s": q["corpus_load_s"],
        "disk_mb": point["disk"]["total_mb"],
        "ingest_peak_rss_mb": ing["memory"].get("VmHWM"),
        "query_rss_mb": q["memory"].get("VmRSS"),
        "server_rss_mb": server_rss,
        # adding one article, as `rag ingest FILE`: wall seconds, the embedder's excluded
        "add_one_s": _without_embedding((ing.get("add_one") or {}).get("file")),
    }


def _without_embedding(run: dict[str, Any] | None) -> float | None:
    return round(run["seconds"] - run["embed_seconds"], 2) if run else None


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
        "filtered_p50",
        "ask_p50",
        "corpus_load_s",
        "disk_mb",
        "ingest_peak_rss_mb",
        "query_rss_mb",
        "server_rss_mb",
        "add_one_s",
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
        "Chroma p50 ms | BM25 p50 ms | filtered to 5 articles p50 ms | ask p50 ms (20 q) | corpus load s | "
        "disk MB | ingest peak RSS MB | query RSS MB (server RSS) | add 1 article s (embedding excluded) |"
    )
    lines = [
        f"## Scale set — {machine_line(result['machine'])}",
        "",
        f"Stand-in embedder: {result['embedder_note']} — vectors are not e5's; the figures measure store, BM25 "
        f"and fusion. {result['queries']} queries from the team's dataset; created {result['created']}; "
        f"whole run {fmt(result['seconds'] / 60)} min. *Italic rows are extrapolated, not measured.*",
        "",
        head,
        "| " + " | ".join(["---"] * 14) + " |",
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
            fmt(r.get("filtered_p50")),
            fmt(r["ask_p50"]),
            fmt(r["corpus_load_s"], 2),
            fmt(r["disk_mb"], 0),
            fmt(r["ingest_peak_rss_mb"], 0),
            fmt(r["query_rss_mb"], 0) + (f" ({fmt(r['server_rss_mb'], 0)})" if r.get("server_rss_mb") else ""),
            fmt(r.get("add_one_s"), 2),
        ]
        if r["extrapolated"]:
            cells = [f"*{c} (extrap.)*" if i == 0 else f"*{c}*" for i, c in enumerate(cells)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for r in rows:
        if r["size"] == max(x["size"] for x in rows):
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
