"""Writes an evaluation run to a folder: `report.json`, `report.md` and PNG plots.

- report.json: meta, every metric of the product and the baseline, per-question records with verdicts,
  and the optional LLM judge's grades;
- report.md: product vs baseline summary table with a delta column, per-category accuracy, the LLM
  judge (apart), latency per stage, and every product failure (question / answer / citations / expected);
- accuracy_by_category.png, latency.png (end-to-end histogram), evidence_hit_at_k.png (k = 1..5).
Plots need matplotlib (the `eval` extra: `pip install -e '.[eval]'`); without it they are skipped.

Deliberately not here: computing metrics (eval/metrics.py) or running anything (eval/run.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# (label, path into a system's metrics, kind): "ratio" prints 3 decimals, "ms"/"num" 1 decimal, "int" as is.
SUMMARY_ROWS: list[tuple[str, tuple[str, ...], str]] = [
    ("Accuracy (all questions)", ("answers", "accuracy"), "ratio"),
    ("Accuracy (answerable)", ("answers", "answerable_accuracy"), "ratio"),
    ("Token F1 vs reference", ("answers", "token_f1"), "ratio"),
    ("Mean answer length (chars, non-refused)", ("answers", "mean_answer_chars"), "num"),
    ("Evidence hit@1", ("retrieval", "evidence_hit@1"), "ratio"),
    ("Evidence hit@3", ("retrieval", "evidence_hit@3"), "ratio"),
    ("Evidence hit@5", ("retrieval", "evidence_hit@5"), "ratio"),
    ("Evidence MRR", ("retrieval", "mrr"), "ratio"),
    ("Evidence nDCG@5", ("retrieval", "ndcg@5"), "ratio"),
    ("Document hit@1", ("retrieval", "doc_hit@1"), "ratio"),
    ("Document hit@5", ("retrieval", "doc_hit@5"), "ratio"),
    ("Citation validity", ("citations", "validity"), "ratio"),
    ("Citations to a gold doc", ("citations", "gold_doc_rate"), "ratio"),
    ("Citation recall (ALCE-style)", ("citations", "recall"), "ratio"),
    ("Citation precision (ALCE-style)", ("citations", "precision"), "ratio"),
    ("Refusal precision", ("refusals", "precision"), "ratio"),
    ("Refusal recall", ("refusals", "recall"), "ratio"),
    ("Refusal F1", ("refusals", "f1"), "ratio"),
    ("False-refusal rate", ("refusals", "false_refusal_rate"), "ratio"),
    ("Latency p50 (ms, end to end)", ("latency", "end_to_end", "p50"), "ms"),
    ("Latency p95 (ms, end to end)", ("latency", "end_to_end", "p95"), "ms"),
    ("Errors", ("errors",), "int"),
]


def lookup(metrics: Mapping[str, Any] | None, path: Sequence[str]) -> Any:
    value: Any = metrics
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def fmt(value: Any, kind: str = "ratio", signed: bool = False) -> str:
    if value is None:
        return "n/a"
    if kind == "int":
        return f"{value:+d}" if signed else str(value)
    spec = ".1f" if kind in ("ms", "num") else ".3f"
    return format(value, ("+" if signed else "") + spec)


def delta(a: Any, b: Any) -> Any:
    return a - b if a is not None and b is not None else None


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def summary_table(product: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> str:
    rows = []
    for label, path, kind in SUMMARY_ROWS:
        p, b = lookup(product, path), lookup(baseline, path)
        rows.append([label, fmt(p, kind), fmt(b, kind), fmt(delta(p, b), kind, signed=True)])
    return _table(["metric", "product", "baseline", "Δ (product − baseline)"], rows)


def category_table(product: Mapping[str, Any], baseline: Mapping[str, Any] | None) -> str:
    rows = []
    for category, entry in product["answers"]["by_category"].items():
        b = lookup(baseline, ("answers", "by_category", category, "accuracy"))
        rows.append([category, str(entry["n"]), fmt(entry["accuracy"]), fmt(b),
                     fmt(delta(entry["accuracy"], b), signed=True)])
    return _table(["category", "n", "product", "baseline", "Δ"], rows)


def stage_table(product: Mapping[str, Any]) -> str:
    stages = product["latency"]["stages"]
    rows = [[s, fmt(v["p50"], "ms"), fmt(v["p95"], "ms")] for s, v in stages.items()]
    return _table(["stage (product)", "p50 ms", "p95 ms"], rows)


def _expected(record: Mapping[str, Any]) -> str:
    if not record["answerable"]:
        return "a refusal (unanswerable)"
    groups = [" or ".join(f"`{alt}`" for alt in group) for group in record["must"]]
    return "; ".join(f"({g})" for g in groups) + f" — gold docs: {', '.join(record['docs'])}"


def failure_entry(record: Mapping[str, Any]) -> str:
    answer = record["answer"]
    lines = [f"### {record['id']} ({record['category']})", ""]
    for turn, reply in zip(record.get("history") or [], record.get("history_answers") or [], strict=False):
        lines.append(f"- earlier turn: {turn['content']} → {_one_line(reply)}")
    lines.append(f"- **Q:** {record['question']}")
    refused = " (refused)" if answer["refused"] else ""
    lines.append(f"- **A**{refused}: {_one_line(answer['text']) or '(empty)'}")
    if record.get("error"):
        lines.append(f"- **error:** {record['error']}")
    for citation in answer["citations"]:
        span = f"[{citation['start_char']}:{citation['end_char']}]"
        lines.append(f"  - [{citation['number']}] `{citation['doc_id']}` {span}: "
                     f"“{_one_line(citation['quote'], 300)}”")
    lines.append(f"- **expected:** {_expected(record)}")
    lines.append(f"- evidence rank in sources: {record.get('evidence_rank') or 'none'}")
    return "\n".join(lines)


def _one_line(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def judge_section(judge: Mapping[str, Any] | None, meta: Mapping[str, Any]) -> str:
    if not judge:
        note = meta.get("judge_skipped") or "not requested (`--judge` with an LLM endpoint configured)"
        return f"LLM judge: {note}."
    rows = [[name, fmt(j["faithfulness"]), fmt(j["relevancy"]), str(j["graded"]), j["model"]]
            for name, j in judge.items()]
    return ("Non-deterministic; not part of the gate.\n\n"
            + _table(["system", "faithfulness", "relevancy", "graded", "judge model"], rows))


def render_markdown(result: Mapping[str, Any]) -> str:
    meta, product = result["meta"], result["metrics"]["product"]
    baseline = result["metrics"].get("baseline")
    failures = [r for r in result["records"]["product"] if not r["correct"]]
    parts = [
        "# Evaluation report", "",
        f"Dataset `{meta['dataset']}` — {meta['questions']} questions, mode `{meta['mode']}`, "
        f"created {meta['created']}. Baseline: "
        + ("llama-index quickstart (default splitter, top-2, same e5 model and cleaned documents)."
           if baseline else "not run."), "",
        "## Summary", "", summary_table(product, baseline), "",
        "## Accuracy per category", "", category_table(product, baseline), "",
        "## Latency per stage", "", stage_table(product), "",
        "## LLM judge", "", judge_section(result.get("judge"), meta), "",
        f"## Product failures ({len(failures)})", "",
    ]
    parts += [failure_entry(r) + "\n" for r in failures] or ["None."]
    return "\n".join(parts) + "\n"


def console_summary(result: Mapping[str, Any]) -> str:
    return summary_table(result["metrics"]["product"], result["metrics"].get("baseline"))


# -- plots ---------------------------------------------------------------------------------------------
def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy(plt: Any, systems: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    categories = list(systems["product"]["answers"]["by_category"])
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(systems)
    for i, (name, m) in enumerate(systems.items()):
        values = [m["answers"]["by_category"].get(c, {}).get("accuracy") or 0.0 for c in categories]
        ax.bar([x + i * width for x in range(len(categories))], values, width, label=name)
    centres = [x + width * (len(systems) - 1) / 2 for x in range(len(categories))]
    ax.set_xticks(centres, categories, rotation=20)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy per category")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(plt: Any, records: Mapping[str, Sequence[Mapping[str, Any]]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    values = {name: [r["wall_ms"] for r in recs if not r.get("error")] for name, recs in records.items()}
    top = max((max(v) for v in values.values() if v), default=1.0)
    bins = [top * i / 40 for i in range(41)]  # shared bins so the systems are comparable
    for name, wall in values.items():
        ax.hist(wall, bins=bins, alpha=0.6, label=name)
    ax.set_xlabel("end-to-end latency (ms)")
    ax.set_ylabel("questions")
    ax.set_title("Latency distribution")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_hit_curve(plt: Any, systems: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, m in systems.items():
        curve = [v or 0.0 for v in m["retrieval"]["evidence_hit_curve"]]
        ax.plot(range(1, len(curve) + 1), curve, marker="o", label=name)
    ax.set_xlabel("k")
    ax.set_ylabel("evidence hit@k")
    ax.set_ylim(0, 1)
    ax.set_xticks(range(1, 6))
    ax.set_title("Evidence hit@k (answerable questions)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(result: Mapping[str, Any], out: Path) -> list[Path]:
    plt = _pyplot()
    if plt is None:
        return []
    paths = [out / "accuracy_by_category.png", out / "latency.png", out / "evidence_hit_at_k.png"]
    plot_accuracy(plt, result["metrics"], paths[0])
    plot_latency(plt, result["records"], paths[1])
    plot_hit_curve(plt, result["metrics"], paths[2])
    return paths


def write_report(result: Mapping[str, Any], out: Path) -> list[Path]:
    """Write report.json, report.md and the plots into `out` (created); returns the written paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str), "utf-8")
    markdown = render_markdown(result)
    plots = write_plots(result, out)
    if plots:
        markdown += "\n## Plots\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in plots) + "\n"
    else:
        markdown += "\n(Plots skipped: matplotlib is not installed; `pip install -e '.[eval]'`.)\n"
    (out / "report.md").write_text(markdown, "utf-8")
    return [out / "report.json", out / "report.md", *plots]
