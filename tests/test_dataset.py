"""Static checks of the evaluation dataset eval/datasets/kz-ru.jsonl (no network, no models).

Format: see eval/README.md ("Dataset format").
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "eval" / "datasets" / "kz-ru.jsonl"
ARTICLES = ROOT / "data" / "articles"

MIN_PER_CATEGORY = {
    "fact": 25,
    "number-date": 12,
    "name-role": 8,
    "cross-article": 6,
    "russian": 10,
    "follow-up": 8,
    "unanswerable": 14,
}
MIN_TOTAL = 90
REQUIRED = {"id", "category", "question", "answerable", "docs", "must"}
OPTIONAL = {"reference", "history"}
CYRILLIC = re.compile(r"[\u0400-\u04FF]")


def _load() -> list[dict]:
    rows = []
    for n, line in enumerate(DATASET.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"line {n}: blank line in JSONL"
        rows.append(json.loads(line))
    return rows


ROWS = _load()
ANSWERABLE = [r for r in ROWS if r.get("answerable") is True]


def _ids(rows):
    return [r.get("id", "?") for r in rows]


@cache
def _doc(doc_id: str) -> str:
    return (ARTICLES / f"{doc_id}.txt").read_text(encoding="utf-8").lower()


def _hits(text: str, group: list[str]) -> bool:
    return any(alt.lower() in text for alt in group)


def _line_satisfies_all(line: str, must: list[list[str]]) -> bool:
    return all(_hits(line, g) for g in must)


def test_dataset_not_empty_and_large_enough():
    assert len(ROWS) >= MIN_TOTAL


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_schema(row):
    keys = set(row)
    assert keys >= REQUIRED, f"missing fields: {REQUIRED - keys}"
    assert keys <= REQUIRED | OPTIONAL, f"unknown fields: {keys - REQUIRED - OPTIONAL}"
    assert isinstance(row["id"], str) and row["id"].strip()
    assert row["category"] in MIN_PER_CATEGORY
    assert isinstance(row["question"], str) and row["question"].strip()
    assert isinstance(row["answerable"], bool)
    assert isinstance(row["docs"], list) and all(isinstance(d, str) for d in row["docs"])
    assert len(set(row["docs"])) == len(row["docs"]), "duplicate doc ids"
    assert isinstance(row["must"], list)
    for group in row["must"]:
        assert isinstance(group, list) and group, "each must group is a non-empty list"
        assert all(isinstance(a, str) and a.strip() for a in group), "alternatives are non-empty strings"
    if row["answerable"]:
        assert row["category"] != "unanswerable"
        assert row["docs"], "answerable question without gold docs"
        assert row["must"], "answerable question without must groups"
        assert isinstance(row.get("reference"), str) and row["reference"].strip()
        for d in row["docs"]:
            assert (ARTICLES / f"{d}.txt").is_file(), f"unknown doc id {d!r}"
    else:
        assert row["category"] == "unanswerable"
        assert row["docs"] == [] and row["must"] == []
    if row["category"] == "follow-up":
        hist = row.get("history")
        assert isinstance(hist, list) and hist, "follow-up needs a non-empty history"
        for turn in hist:
            assert set(turn) == {"role", "content"}
            assert turn["role"] == "user"
            assert isinstance(turn["content"], str) and turn["content"].strip()
    else:
        assert "history" not in row, "history is only for follow-up questions"
    if row["category"] == "cross-article":
        assert len(row["docs"]) >= 2, "cross-article questions need at least two gold docs"
    if row["category"] == "russian":
        assert CYRILLIC.search(row["question"]), "russian question must be written in Russian"


def test_unique_ids_and_questions():
    ids = [r["id"] for r in ROWS]
    dup = [i for i, c in Counter(ids).items() if c > 1]
    assert not dup, f"duplicate ids: {dup}"
    qs = [r["question"].strip().lower() for r in ROWS]
    dupq = [q for q, c in Counter(qs).items() if c > 1]
    assert not dupq, f"duplicate questions: {dupq}"


def test_category_minimums():
    counts = Counter(r["category"] for r in ROWS)
    short = {c: (counts.get(c, 0), m) for c, m in MIN_PER_CATEGORY.items() if counts.get(c, 0) < m}
    assert not short, f"categories below minimum (have, need): {short}"


def test_unanswerable_mix():
    unans = [r for r in ROWS if r["category"] == "unanswerable"]
    assert any(CYRILLIC.search(r["question"]) for r in unans), "need a Russian unanswerable question"
    injection = re.compile(r"ignore|forget|system:|забудь|инструкц", re.I)
    injections = [r for r in unans if injection.search(r["question"])]
    assert len(injections) >= 2, "need at least two prompt-injection questions"


@pytest.mark.parametrize("row", ANSWERABLE, ids=_ids(ANSWERABLE))
def test_must_alternatives_occur_in_gold_docs(row):
    text = "\n".join(_doc(d) for d in row["docs"])
    for group in row["must"]:
        assert _hits(text, group), f"no alternative of {group} occurs in {row['docs']}"
        missing = [a for a in group if a.lower() not in text]
        assert not missing, f"alternatives not found in gold docs: {missing}"


SINGLE_SOURCE = [r for r in ANSWERABLE if r["category"] != "cross-article"]


@pytest.mark.parametrize("row", SINGLE_SOURCE, ids=_ids(SINGLE_SOURCE))
def test_one_paragraph_satisfies_all_groups(row):
    """Single-source questions: some paragraph (line) of a gold doc contains every must group."""
    for d in row["docs"]:
        if any(_line_satisfies_all(line, row["must"]) for line in _doc(d).splitlines()):
            return
    pytest.fail(f"no single paragraph of {row['docs']} satisfies all groups {row['must']}")


CROSS = [r for r in ANSWERABLE if r["category"] == "cross-article"]


@pytest.mark.parametrize("row", CROSS, ids=_ids(CROSS))
def test_cross_article_needs_more_than_one_paragraph(row):
    """Cross-article questions must not be answerable by one paragraph of a single article."""
    for d in row["docs"]:
        for line in _doc(d).splitlines():
            assert not _line_satisfies_all(line, row["must"]), f"{d} alone answers it: {line[:120]}"
