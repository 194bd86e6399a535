"""The evaluation runner: `python -m eval --dataset FILE [--out DIR] [--mode extractive|llm] [--limit N]
[--no-baseline] [--judge]`, also reachable as `rag eval` through `main(argv)`.

Ingests the configured corpus (idempotent), asks every dataset question through `rag.RAG` — follow-ups are
replayed as a real conversation, each earlier user turn answered and its answer fed back as the assistant
turn — runs the llama-index quickstart baseline (eval/baseline.py) on the same questions, computes the
metrics (eval/metrics.py) and writes the report (eval/report.py). `--judge` adds LLM-graded faithfulness
and relevancy when an LLM endpoint is configured; it is reported apart from the deterministic metrics.

A dataset line without `category` counts as "uncategorized"; a line that is not JSON or lacks a required
field stops the run before anything is asked, with an error naming the file, the line and the field.

Deliberately not here: metric definitions, report rendering, or any change to how the engine answers
(in extractive mode the LLM settings are simply removed from the engine's settings).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from eval import metrics, report
from store.settings import Settings

OUT_ROOT = Path(__file__).resolve().parent / "out"
Ask = Callable[[dict[str, Any]], tuple[Any, list[str], float]]  # item -> (Answer, earlier replies, ms)

JUDGE_PROMPT = """You grade an answer produced by a question-answering system over news articles.
Given the question, the evidence passages and the answer, reply with JSON only:
{"faithful": true|false, "relevant": true|false}
faithful: every claim of the answer is stated in the evidence. relevant: the answer addresses the question
(a refusal is relevant only if the evidence really does not answer the question)."""


class EvalError(Exception):
    """A problem with the evaluation's inputs or configuration, reported as one line."""


DEFAULT_CATEGORY = "uncategorized"
# field -> (check, what it must be); eval/README.md "Dataset format". `category` defaults to DEFAULT_CATEGORY.
REQUIRED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "id": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
    "question": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
    "answerable": (lambda v: isinstance(v, bool), "true or false"),
    "docs": (lambda v: isinstance(v, list) and all(isinstance(d, str) for d in v), "a list of doc ids"),
    "must": (lambda v: isinstance(v, list) and all(isinstance(g, list) and all(isinstance(a, str) for a in g)
                                                   for g in v), "a list of lists of strings"),
}
OPTIONAL: dict[str, tuple[Callable[[Any], bool], str]] = {
    "category": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
    "reference": (lambda v: isinstance(v, str), "a string"),
    "history": (lambda v: isinstance(v, list) and all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                                      for m in v), 'a list of {"role", "content"} messages'),
}


def load_dataset(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The dataset's items, checked line by line: an EvalError names the file, the line and what is wrong
    (not JSON, a missing field, a field of the wrong type, a repeated id) instead of a KeyError mid-run."""
    if not Path(path).is_file():
        raise EvalError(f"no such dataset: {path}")
    items: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        item = _dataset_item(line, f"{path}:{number}")
        if item["id"] in first_line:
            raise EvalError(f"{path}:{number}: id {item['id']!r} is already used on line {first_line[item['id']]}")
        first_line[item["id"]] = number
        items.append(item)
    if not items:
        raise EvalError(f"{path}: no questions in the dataset")
    return items[:limit] if limit else items


def _dataset_item(line: str, where: str) -> dict[str, Any]:
    """One dataset line as an item with `category` filled in, or an EvalError that starts with `where`."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EvalError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(item, dict):
        raise EvalError(f"{where}: expected a JSON object, got {type(item).__name__}")
    missing = [name for name in REQUIRED if name not in item]
    if missing:
        raise EvalError(f"{where}: missing field{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(repr(m) for m in missing)} (see eval/README.md, Dataset format)")
    for name, (valid, expected) in (REQUIRED | OPTIONAL).items():
        if name in item and not valid(item[name]):
            raise EvalError(f"{where}: field {name!r} must be {expected}")
    return {**item, "category": item.get("category", DEFAULT_CATEGORY)}


def engine_settings(settings: Settings, mode: str) -> Settings:
    """Settings for the engine under test: LLM mode needs an endpoint; extractive mode removes it."""
    if mode == "llm":
        if not settings.llm_enabled:
            raise EvalError("--mode llm needs an LLM endpoint: set RAG_LLM_BASE_URL or OPENAI_API_KEY")
        return settings
    return settings.model_copy(update={"llm_base_url": None, "openai_api_key": None})


def make_record(item: dict[str, Any], answer: Any, wall_ms: float, error: str | None = None,
                history_answers: list[str] | None = None) -> dict[str, Any]:
    return {**item, "answer": answer.to_dict(), "wall_ms": round(wall_ms, 2), "error": error,
            "history_answers": history_answers or []}


def _timed(call: Callable[[Any], Any], arg: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call(arg)
    return result, (time.perf_counter() - started) * 1000


def product_asker(engine: Any) -> Ask:
    """Ask one item: replay `history` through `engine.chat` (real answers as assistant turns) first.
    Only the graded (last) turn is timed."""

    def ask(item: dict[str, Any]) -> tuple[Any, list[str], float]:
        history = [m["content"] for m in item.get("history", []) if m.get("role") == "user"]
        if not history:
            answer, ms = _timed(engine.ask, item["question"])
            return answer, [], ms
        messages: list[dict[str, str]] = []
        replies = []
        for turn in history:
            messages.append({"role": "user", "content": turn})
            reply = engine.chat(messages).text
            messages.append({"role": "assistant", "content": reply})
            replies.append(reply)
        messages.append({"role": "user", "content": item["question"]})
        answer, ms = _timed(engine.chat, messages)
        return answer, replies, ms

    return ask


def baseline_asker(baseline: Any) -> Ask:
    """The baseline is single-turn: follow-ups are asked bare, as a default pipeline would."""

    def ask(item: dict[str, Any]) -> tuple[Any, list[str], float]:
        answer, ms = _timed(baseline.ask, item["question"])
        return answer, [], ms

    return ask


def run_items(ask: Ask, items: Sequence[dict[str, Any]], label: str, progress: bool) -> list[dict[str, Any]]:
    """Ask every item; an exception becomes an empty, wrong answer with the error recorded."""
    from rag.answer import Answer

    records = []
    for item in tqdm(items, desc=label, unit="q", disable=not progress):
        try:
            answer, replies, wall = ask(item)
            error = None
        except Exception as exc:  # recorded per question so that one failure does not lose the run
            answer, replies, wall = Answer(text="", refused=False, question=item["question"]), [], 0.0
            error = f"{type(exc).__name__}: {exc}"
        records.append(make_record(item, answer, wall, error, replies))
    return records


def _judge_one(client: Any, model: str, record: dict[str, Any]) -> dict[str, bool | None]:
    answer = record["answer"]
    evidence = [c["quote"] for c in answer["citations"]] or [s["text"] for s in answer["sources"][:3]]
    user = "Question: {}\n\nEvidence:\n{}\n\nAnswer: {}".format(
        record["question"], "\n---\n".join(evidence), answer["text"])
    try:
        reply = client.chat.completions.create(
            model=model, temperature=0, max_tokens=50,
            messages=[{"role": "system", "content": JUDGE_PROMPT}, {"role": "user", "content": user}],
        ).choices[0].message.content or ""
    except Exception:
        return {"faithful": None, "relevant": None}
    found = {k: re.search(rf'"{k}"\s*:\s*(true|false)', reply, re.I) for k in ("faithful", "relevant")}
    return {k: (m.group(1).lower() == "true" if m else None) for k, m in found.items()}


def judge(settings: Settings, records: list[dict[str, Any]], label: str, progress: bool) -> dict[str, Any]:
    """LLM-graded faithfulness and relevancy (share of answers graded true), one request per question."""
    import openai

    client = openai.OpenAI(base_url=settings.llm_base_url, api_key=settings.api_key, timeout=settings.llm_timeout)
    grades = {r["id"]: _judge_one(client, settings.llm_model, r)
              for r in tqdm(records, desc=f"judge {label}", unit="q", disable=not progress)}

    def share(key: str) -> float | None:
        values = [g[key] for g in grades.values() if g[key] is not None]
        return sum(values) / len(values) if values else None

    return {"model": settings.llm_model, "faithfulness": share("faithful"), "relevancy": share("relevant"),
            "graded": sum(g["faithful"] is not None for g in grades.values()), "per_question": grades}


def run_suite(settings: Settings, dataset: Path, out: Path, mode: str = "extractive",
              limit: int | None = None, baseline: bool = True, use_judge: bool = False, ingest: bool = True,
              progress: bool = True) -> dict[str, Any]:
    """Run product (+ baseline), compute metrics, write the report into `out`; returns the report dict."""
    from rag.engine import RAG

    items = load_dataset(dataset, limit)
    engine = RAG(engine_settings(settings, mode))
    if ingest:
        engine.ingest()
    documents = engine.retriever.corpus().documents
    if not documents:
        raise EvalError(f"the index is empty: no articles in {engine.settings.corpus_dir}")
    texts = {doc_id: doc.text for doc_id, doc in documents.items()}
    systems = {"product": run_items(product_asker(engine), items, "product", progress)}
    if baseline:
        from eval.baseline import Baseline

        pipeline = Baseline(documents.values())
        systems["baseline"] = run_items(baseline_asker(pipeline), items, "baseline", progress)
    result: dict[str, Any] = {
        "meta": {"dataset": str(dataset), "mode": mode, "questions": len(items),
                 "created": datetime.now().isoformat(timespec="seconds"),
                 "corpus": sorted(texts), "top_k": engine.settings.top_k},
        "metrics": {name: metrics.summarize(records, texts) for name, records in systems.items()},
        "records": {name: [{**r, **metrics.annotate(r, texts)} for r in records]
                    for name, records in systems.items()},
        "judge": None,
    }
    if use_judge and settings.llm_enabled:
        result["judge"] = {name: judge(settings, recs, name, progress) for name, recs in systems.items()}
    elif use_judge:
        result["meta"]["judge_skipped"] = "no LLM endpoint configured (RAG_LLM_BASE_URL / OPENAI_API_KEY)"
    report.write_report(result, out)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval", description="Evaluate article-qa on a dataset.")
    parser.add_argument("--dataset", required=True, type=Path, help="JSONL question set (eval/README.md)")
    parser.add_argument("--out", type=Path, help="report folder (default: eval/out/<timestamp>/)")
    parser.add_argument("--mode", choices=["extractive", "llm"], default="extractive")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--no-baseline", action="store_true", help="skip the llama-index quickstart baseline")
    parser.add_argument("--judge", action="store_true",
                        help="LLM-graded faithfulness/relevancy (needs an LLM endpoint)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = args.out or OUT_ROOT / datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        result = run_suite(Settings(), args.dataset, out, mode=args.mode, limit=args.limit,
                           baseline=not args.no_baseline, use_judge=args.judge, progress=not args.quiet)
    except EvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if result["meta"].get("judge_skipped"):
        print(f"note: judge skipped: {result['meta']['judge_skipped']}", file=sys.stderr)
    print(report.console_summary(result))
    print(f"report: {out / 'report.md'}")
    return 0
