"""Archive benchmark: a cold ingest of N synthetic real-length articles with the real e5 embedder, the way a
user's first `rag ingest` of a news archive runs.

    python -m bench.archive                  # 1,000 articles (~30-40 min on 2 quiet cores)
    python -m bench.archive --articles 50    # a quick look

The articles are `bench.synthetic.make_corpus(articles=N)`: paragraphs recombined from the seed articles'
sentences, each article as long as a seed article (7.6 k characters on average), in a temporary folder. The
ingest runs in a child process (`python -m bench.archive --worker`) so that its peak memory is its own.
Reported: wall seconds, articles/s, characters/s, texts embedded and the seconds inside the embedder, chunks,
the seconds of each ingest step (`IngestSummary.stages`), peak RSS (the kernel's high-water mark of the
child), index size on disk. Results go to bench/results/archive.json (+ history/) and a markdown table is
printed. Targets (issue 13): 1,000 articles in ≤ 40 min with peak RSS ≤ 2 GB.

Not here: the store and BM25 at 100k chunks with a fast stand-in embedder (bench/scale.py).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS_DIR,
    ROOT,
    bench_settings,
    clean_env,
    dir_size_mb,
    loadavg,
    machine_info,
    machine_line,
)
from bench.results import now_iso, write_result

TARGET_MINUTES, TARGET_RSS_MB = 40.0, 2048.0


def worker(corpus: Path, data: Path, out: Path) -> int:
    from ingest import ingest

    summary = ingest(bench_settings(data_dir=data, corpus_dir=corpus))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1)}
    out.write_text(json.dumps({**summary.to_dict(), **cpu}))  # ru_maxrss: kilobytes on Linux
    return 0


def run(articles: int, seed: int, timeout: float) -> dict[str, Any]:
    from bench.synthetic import make_corpus

    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        work = Path(tmp)
        corpus = make_corpus(0, work / "corpus", seed=seed, articles=articles)
        out = work / "summary.json"
        cmd = [sys.executable, "-m", "bench.archive", "--worker", str(work / "corpus"), str(work / "data"), str(out)]
        subprocess.run(cmd, cwd=ROOT, env=clean_env(), check=True, timeout=timeout)
        summary = json.loads(out.read_text())
        size_mb = dir_size_mb(work / "data")
    seconds = summary["seconds"]
    return {
        "articles": corpus["files"],
        "chars": corpus["chars"],
        "mean_article_chars": corpus["mean_article_chars"],
        "chunks": summary["chunks"],
        "embedded_texts": summary["embedded"],
        "seconds": round(seconds, 1),
        "minutes": round(seconds / 60, 2),
        "embed_seconds": round(summary["embed_seconds"], 1),
        "articles_per_s": round(corpus["files"] / seconds, 3),
        "chars_per_s": round(corpus["chars"] / seconds),
        "stages": summary["stages"],
        "peak_rss_mb": summary["peak_rss_mb"],
        # CPU seconds of the ingesting process: with wall seconds, how much of the machine it had (2 = all of it)
        "cpu_seconds": summary["cpu_seconds"],
        "cores_used": round(summary["cpu_seconds"] / seconds, 2),
        "index_mb": round(size_mb, 1),
        "targets": {"minutes": TARGET_MINUTES, "peak_rss_mb": TARGET_RSS_MB},
        "met": seconds / 60 <= TARGET_MINUTES * corpus["files"] / 1000 and summary["peak_rss_mb"] <= TARGET_RSS_MB,
    }


def markdown(result: dict[str, Any]) -> str:
    r = result["archive"]
    stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
    return "\n".join([
        f"## Archive: cold ingest of {r['articles']:,} synthetic articles, real e5",
        "",
        machine_line(result["machine"]),
        "",
        "| articles | characters | chunks | texts embedded | wall | embedder | articles/s | peak RSS | index |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {r['articles']:,} | {r['chars']:,} | {r['chunks']:,} | {r['embedded_texts']:,} | {r['minutes']} min | "
        f"{r['embed_seconds'] / 60:.1f} min | {r['articles_per_s']} | {r['peak_rss_mb']:,.0f} MB | "
        f"{r['index_mb']} MB |",
        "",
        f"CPU: {r['cpu_seconds'] / 60:.1f} min, {r['cores_used']} cores on average. Steps (s): {stages}."
        f" Target for 1,000 articles: ≤ {TARGET_MINUTES:.0f} min, peak RSS ≤ "
        f"{TARGET_RSS_MB:,.0f} MB (scaled to the article count): {'met' if r['met'] else 'NOT met'}.",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.archive", description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout-min", type=float, default=120)
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--worker", nargs=3, type=Path, metavar=("CORPUS", "DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(*args.worker)
    machine = machine_info()  # the load average before the run
    result: dict[str, Any] = {"machine": machine, "archive": run(args.articles, args.seed, args.timeout_min * 60)}
    result["created"], result["machine"]["loadavg_end"] = now_iso(), loadavg()
    result["markdown"] = markdown(result)
    write_result(args.results, "archive", result)
    print(result["markdown"])
    return 0 if result["archive"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
