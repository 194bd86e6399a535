"""Evaluation metrics: deterministic, pure functions over per-question records and the cleaned articles.

A record is one dataset item (`id`, `category`, `question`, `answerable`, `docs`, `must`, optional
`reference` / `history`) plus `answer` (an `Answer.to_dict()`) and `wall_ms` (end-to-end milliseconds).
`texts` maps doc_id -> the article's cleaned text, the text every citation offset points into.

Measured (definitions in eval/README.md, "Metrics"):
- retrieval: chunk-level evidence hit@k, MRR, nDCG@5 and document-level hit@k over `answer.sources`;
- answers: `must` accuracy overall / answerable-only / per category, token F1 against `reference`;
- citations: validity, gold-document rate, ALCE-style citation recall and precision (lexical support check);
- refusals: precision, recall, F1, false-refusal rate;
- latency: p50 / p95 end to end and per stage.

Deliberately not here: running the systems (eval/run.py), the optional LLM judge (eval/run.py — it is
neither deterministic nor pure), writing reports (eval/report.py). No model is involved in any metric.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rag.answer import CITATION_MARKER, marker_numbers
from store.sentences import split_sentences
from store.text import numbers, term_set

Record = Mapping[str, Any]

CROSS_ARTICLE = "cross-article"
# Questions about the articles themselves (rag/about.py) whose groups name several articles by construction: a
# listing ("Which articles mention X?"), or a field or summary of several articles.
LISTING = "corpus"
ABOUT_ARTICLES = {"metadata", "summary"}
K_MAX = 5
SUPPORT_TERM_SHARE = 0.6  # share of a statement's content terms its cited quotes must contain
_TOKEN = re.compile(r"\w+", re.UNICODE)
_F1_STOPWORDS = frozenset({"a", "an", "the"})


# -- answers -----------------------------------------------------------------------------------------
def satisfies(text: str, must: Sequence[Sequence[str]]) -> bool:
    """Every `must` group has an alternative in `text` (case-insensitive substring)."""
    low = text.lower()
    return all(any(alt.lower() in low for alt in group) for group in must)


def is_correct(record: Record) -> bool:
    """Answerable: not refused and satisfies `must`. Unanswerable: refused."""
    answer = record["answer"]
    if not record["answerable"]:
        return bool(answer["refused"])
    return not answer["refused"] and satisfies(answer["text"], record["must"])


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(CITATION_MARKER.sub(" ", text).lower()) if t not in _F1_STOPWORDS]


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 (lower-cased word tokens, citation markers and articles dropped)."""
    pred, ref = _tokens(prediction), _tokens(reference)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def answer_metrics(records: Sequence[Record]) -> dict[str, Any]:
    answerable = [r for r in records if r["answerable"]]
    with_reference = [r for r in answerable if r.get("reference")]
    answered = [r for r in records if not r["answer"]["refused"]]
    categories = sorted({r["category"] for r in records})
    return {
        "accuracy": _mean(float(is_correct(r)) for r in records),
        "answerable_accuracy": _mean(float(is_correct(r)) for r in answerable),
        "token_f1": _mean(0.0 if r["answer"]["refused"] else token_f1(r["answer"]["text"], r["reference"])
                          for r in with_reference),
        "mean_answer_chars": _mean(float(len(r["answer"]["text"])) for r in answered),
        "by_category": {
            c: {"n": sum(r["category"] == c for r in records),
                "accuracy": _mean(float(is_correct(r)) for r in records if r["category"] == c)}
            for c in categories
        },
    }


# -- retrieval ---------------------------------------------------------------------------------------
def is_evidence(source: Mapping[str, Any], record: Record) -> bool:
    """A retrieved chunk of a gold doc that holds every `must` group.

    Cross-article questions, corpus questions and metadata or summary questions about several articles: no
    single paragraph holds all groups by construction, so any chunk of a gold doc counts (document level), as
    documented in eval/README.md.
    """
    if source["doc_id"] not in record["docs"]:
        return False
    return _document_level(record) or satisfies(source["text"], record["must"])


def _document_level(record: Record) -> bool:
    category = record["category"]
    return category in (CROSS_ARTICLE, LISTING) or (category in ABOUT_ARTICLES and len(record["docs"]) > 1)


def evidence_flags(record: Record) -> list[bool]:
    return [is_evidence(s, record) for s in record["answer"]["sources"]]


def hit_at(flags: Sequence[bool], k: int) -> float:
    return 1.0 if any(flags[:k]) else 0.0


def reciprocal_rank(flags: Sequence[bool]) -> float:
    return next((1.0 / rank for rank, flag in enumerate(flags, start=1) if flag), 0.0)


def ndcg_at(flags: Sequence[bool], k: int) -> float:
    """Binary-gain nDCG@k; the ideal ranking puts the retrieved evidence chunks first."""
    dcg = sum(1.0 / math.log2(i + 2) for i, flag in enumerate(flags[:k]) if flag)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, sum(flags))))
    return dcg / ideal if ideal else 0.0


def doc_hit_at(record: Record, k: int) -> float:
    return 1.0 if any(s["doc_id"] in record["docs"] for s in record["answer"]["sources"][:k]) else 0.0


def retrieval_metrics(records: Sequence[Record]) -> dict[str, Any]:
    """Over answerable questions only."""
    answerable = [r for r in records if r["answerable"]]
    flags = [evidence_flags(r) for r in answerable]
    curve = [_mean(hit_at(f, k) for f in flags) for k in range(1, K_MAX + 1)]
    doc_curve = [_mean(doc_hit_at(r, k) for r in answerable) for k in range(1, K_MAX + 1)]
    return {
        "evidence_hit@1": curve[0], "evidence_hit@3": curve[2], "evidence_hit@5": curve[4],
        "mrr": _mean(reciprocal_rank(f) for f in flags),
        "ndcg@5": _mean(ndcg_at(f, K_MAX) for f in flags),
        "doc_hit@1": doc_curve[0], "doc_hit@3": doc_curve[2], "doc_hit@5": doc_curve[4],
        "evidence_hit_curve": curve,
        "doc_hit_curve": doc_curve,
    }


# -- citations ---------------------------------------------------------------------------------------
def citation_valid(citation: Mapping[str, Any], sources: Sequence[Mapping[str, Any]],
                   texts: Mapping[str, str]) -> bool:
    """Cited doc is among the retrieved sources, the offsets slice out the quote, the quote is verbatim."""
    text = texts.get(citation["doc_id"])
    quote, start, end = citation["quote"], citation["start_char"], citation["end_char"]
    if text is None or not quote or start < 0 or end > len(text):
        return False
    in_sources = any(s["doc_id"] == citation["doc_id"] for s in sources)
    return in_sources and text[start:end] == quote and quote in text


def statements(text: str) -> list[tuple[str, list[int]]]:
    """The answer's sentences (markers removed), each with the citation numbers that belong to it.

    A marker belongs to the last sentence that starts before it ("Claim. [1]" and "Claim [1] goes on.").
    Sentences without content terms or numbers (stray punctuation) are not statements.
    """
    clean, marks, pos = "", [], 0
    for match in CITATION_MARKER.finditer(text):
        clean += text[pos:match.start()]
        marks += [(len(clean), number) for number in marker_numbers(match)]
        pos = match.end()
    clean += text[pos:]
    spans = split_sentences(clean)
    cited: list[list[int]] = [[] for _ in spans]
    for at, number in marks:
        index = max((i for i, s in enumerate(spans) if s.start < at), default=0)
        if spans and number not in cited[index]:
            cited[index].append(number)
    out = [(clean[s.start:s.end], c) for s, c in zip(spans, cited, strict=True)]
    return [(s, c) for s, c in out if term_set(s) or numbers(s)]


def supports(statement: str, quotes: Sequence[str]) -> bool:
    """Lexical support: the quotes hold >= 60% of the statement's content terms and all of its numbers."""
    if not quotes:
        return False
    joined = "\n".join(quotes)
    needed, available = term_set(statement), term_set(joined)
    terms_ok = not needed or len(needed & available) >= SUPPORT_TERM_SHARE * len(needed)
    return terms_ok and numbers(statement) <= numbers(joined)


def citation_quality(answer: Mapping[str, Any]) -> tuple[float, float]:
    """ALCE-style (recall, precision) of one answer's citations.

    recall: share of statements supported by the union of their cited quotes; precision: share of
    (statement, citation) pairs where the citation supports the statement alone or removing it breaks
    the support. An answer with no markers but with citations (the baseline) cites them for every
    statement. No citations at all: (0, 0).
    """
    quotes = {c["number"]: c["quote"] for c in answer["citations"]}
    found = statements(answer["text"])
    if quotes and not any(nums for _, nums in found):
        found = [(s, sorted(quotes)) for s, _ in found]
    supported, relevant, pairs = 0, 0, 0
    for statement, nums in found:
        cited = [quotes.get(n, "") for n in nums]
        full = supports(statement, cited)
        supported += full
        for i in range(len(cited)):
            rest = cited[:i] + cited[i + 1:]
            relevant += supports(statement, [cited[i]]) or (full and not supports(statement, rest))
            pairs += 1
    recall = supported / len(found) if found else 0.0
    return recall, (relevant / pairs if pairs else 0.0)


def citation_metrics(records: Sequence[Record], texts: Mapping[str, str]) -> dict[str, Any]:
    answered = [r for r in records if not r["answer"]["refused"]]
    checks = [citation_valid(c, r["answer"]["sources"], texts)
              for r in records for c in r["answer"]["citations"]]
    gold = [c["doc_id"] in r["docs"] for r in records if r["answerable"] for c in r["answer"]["citations"]]
    quality = [citation_quality(r["answer"]) for r in answered]
    return {
        "n_citations": len(checks),
        "validity": _mean(float(c) for c in checks),
        "gold_doc_rate": _mean(float(g) for g in gold),
        "answers_with_citations": _mean(float(bool(r["answer"]["citations"])) for r in answered),
        "recall": _mean(q[0] for q in quality),
        "precision": _mean(q[1] for q in quality),
    }


# -- refusals ----------------------------------------------------------------------------------------
def refusal_metrics(records: Sequence[Record]) -> dict[str, Any]:
    """Positive class: a refusal on an unanswerable question. Undefined ratios are reported as 0."""
    tp = sum(r["answer"]["refused"] and not r["answerable"] for r in records)
    fp = sum(r["answer"]["refused"] and r["answerable"] for r in records)
    fn = sum(not r["answer"]["refused"] and not r["answerable"] for r in records)
    answerable = sum(bool(r["answerable"]) for r in records)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "false_refusal_rate": fp / answerable if answerable else 0.0, "tp": tp, "fp": fp, "fn": fn}


# -- latency -----------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolation percentile (q in 0..100), like numpy's default."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_metrics(records: Sequence[Record]) -> dict[str, Any]:
    """Over the questions that did not fail with an error."""
    records = [r for r in records if not r.get("error")]
    wall = [float(r["wall_ms"]) for r in records]
    stages = sorted({s for r in records for s in r["answer"]["timings"]})
    per_stage = {s: [float(r["answer"]["timings"][s]) for r in records if s in r["answer"]["timings"]]
                 for s in stages}
    return {
        "end_to_end": {"p50": percentile(wall, 50), "p95": percentile(wall, 95)},
        "stages": {s: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for s, v in per_stage.items()},
    }


# -- everything --------------------------------------------------------------------------------------
def summarize(records: Sequence[Record], texts: Mapping[str, str]) -> dict[str, Any]:
    """All metrics of one system's records."""
    return {
        "n": len(records),
        "n_answerable": sum(bool(r["answerable"]) for r in records),
        "errors": sum(bool(r.get("error")) for r in records),
        "retrieval": retrieval_metrics(records),
        "answers": answer_metrics(records),
        "citations": citation_metrics(records, texts),
        "refusals": refusal_metrics(records),
        "latency": latency_metrics(records),
    }


def annotate(record: Record, texts: Mapping[str, str]) -> dict[str, Any]:
    """Per-question verdicts stored next to each record in report.json."""
    answer = record["answer"]
    flags = evidence_flags(record)
    recall, precision = citation_quality(answer)
    return {
        "correct": is_correct(record),
        "evidence_rank": next((i for i, f in enumerate(flags, start=1) if f), None),
        "citations_valid": [citation_valid(c, answer["sources"], texts) for c in answer["citations"]],
        "citation_recall": recall,
        "citation_precision": precision,
    }
