"""Static checks of the evaluation datasets (no network, no models).

- eval/datasets/kz-ru.jsonl: the team's dev set (tune and debug on it);
- eval/datasets/kz-ru-heldout.jsonl: held-out questions of the reworded categories (measure only, never tune on it).

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
DATASET_DIR = ROOT / "eval" / "datasets"
DEV, HELDOUT = "kz-ru.jsonl", "kz-ru-heldout.jsonl"
ARTICLES = ROOT / "data" / "articles"

# Categories written in the users' own words (synonyms, other syntax), not in the articles' wording.
REWORDED = {"paraphrase", "near-miss", "multi-part"}
MIN_PER_CATEGORY = {
    DEV: {
        "fact": 25,
        "number-date": 12,
        "name-role": 8,
        "cross-article": 6,
        "russian": 10,
        "follow-up": 8,
        "unanswerable": 14,
        "paraphrase": 32,
        "near-miss": 8,
        "multi-part": 8,
        "metadata": 10,
        "corpus": 10,
        "summary": 10,
    },
    HELDOUT: {"paraphrase": 20, "near-miss": 5, "multi-part": 5},
}
MIN_TOTAL = {DEV: 90, HELDOUT: 30}
# Russian questions of the reworded categories, over both files.
MIN_RUSSIAN = {"paraphrase": 4, "near-miss": 2, "multi-part": 2}
MIN_MULTI_PART_TWO_DOCS = 5
CATEGORIES = set().union(*MIN_PER_CATEGORY.values())
UNANSWERABLE = {"unanswerable", "near-miss"}
# Questions about the articles themselves (rag/about.py): some have no answer (a field an article does not state),
# and a listing's `must` (or a summary's of several articles) names several articles, so no one paragraph holds it.
ABOUT = {"metadata", "corpus"}
ID_PREFIX = {
    "fact": "fact-", "number-date": "num-", "name-role": "name-", "cross-article": "cross-", "russian": "ru-",
    "follow-up": "fu-", "unanswerable": "unans-", "paraphrase": "para-", "near-miss": "near-", "multi-part": "multi-",
    "metadata": "meta-", "corpus": "corpus-", "summary": "sum-",
}
REQUIRED = {"id", "category", "question", "answerable", "docs", "must"}
OPTIONAL = {"reference", "history"}
CYRILLIC = re.compile(r"[\u0400-\u04FF]")

# Multi-word proper names a user cannot reasonably reword; the copied-wording check treats each occurrence
# (in questions and articles alike) as one opaque token, so the words around a name are still checked.
NAME_ALLOW_LIST = (
    "Order of Alexander Nevsky",
    "St. Petersburg International Economic Forum",
    "St. Petersburg Economic Forum",
    "Caspian Pipeline Consortium",
    "Eurasian Economic Union",
    "Collective Security Treaty Organization",
    "Treaty of Friendship and Cooperation",
    "Ministry of Industry and Infrastructure Development",
    "Bureau of National Statistics",
    "Kassym-Jomart Tokayev",
)
NGRAM = 3


def _load(name: str) -> list[dict]:
    rows = []
    for n, line in enumerate((DATASET_DIR / name).read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"{name} line {n}: blank line in JSONL"
        rows.append(json.loads(line))
    return rows


DATA = {name: _load(name) for name in MIN_PER_CATEGORY}
ROWS = [(name, row) for name, rows in DATA.items() for row in rows]
ANSWERABLE = [(f, r) for f, r in ROWS if r.get("answerable") is True]


def _ids(pairs):
    return [f"{f.removesuffix('.jsonl')}:{r.get('id', '?')}" for f, r in pairs]


@cache
def _doc(doc_id: str) -> str:
    return (ARTICLES / f"{doc_id}.txt").read_text(encoding="utf-8").lower()


def _hits(text: str, group: list[str]) -> bool:
    return any(alt.lower() in text for alt in group)


def _line_satisfies_all(line: str, must: list[list[str]]) -> bool:
    return all(_hits(line, g) for g in must)


def _words(text: str) -> list[str]:
    """Lower-cased word tokens, punctuation dropped (apostrophes join: "Tokayev's" -> "tokayevs")."""
    return re.findall(r"\w+", text.lower().replace("’", "").replace("'", ""))


_NAMES = [tuple(_words(n)) for n in NAME_ALLOW_LIST]


def _masked(words: list[str]) -> list[str]:
    """Replace every allow-listed name by one token of its own (longest names first)."""
    out, i = [], 0
    while i < len(words):
        for k, name in sorted(enumerate(_NAMES), key=lambda kn: -len(kn[1])):
            if tuple(words[i:i + len(name)]) == name:
                out.append(f"<name{k}>")
                i += len(name)
                break
        else:
            out.append(words[i])
            i += 1
    return out


def _ngrams(words: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@cache
def _article_ngrams() -> frozenset[tuple[str, ...]]:
    grams: set[tuple[str, ...]] = set()
    for path in sorted(ARTICLES.glob("*.txt")):
        grams |= _ngrams(_masked(_words(path.read_text(encoding="utf-8"))))
    return frozenset(grams)


def _copied_runs(question: str) -> list[str]:
    return sorted(" ".join(g) for g in _ngrams(_masked(_words(question))) & _article_ngrams())


@pytest.mark.parametrize("name", list(MIN_TOTAL))
def test_dataset_not_empty_and_large_enough(name):
    assert len(DATA[name]) >= MIN_TOTAL[name]


@pytest.mark.parametrize(("name", "row"), ROWS, ids=_ids(ROWS))
def test_schema(name, row):
    keys = set(row)
    assert keys >= REQUIRED, f"missing fields: {REQUIRED - keys}"
    assert keys <= REQUIRED | OPTIONAL, f"unknown fields: {keys - REQUIRED - OPTIONAL}"
    assert isinstance(row["id"], str) and row["id"].strip()
    assert row["category"] in MIN_PER_CATEGORY[name], f"category {row['category']!r} does not belong in {name}"
    assert row["id"].startswith(ID_PREFIX[row["category"]]), "id prefix does not match the category"
    assert isinstance(row["question"], str) and row["question"].strip()
    assert isinstance(row["answerable"], bool)
    assert isinstance(row["docs"], list) and all(isinstance(d, str) for d in row["docs"])
    assert len(set(row["docs"])) == len(row["docs"]), "duplicate doc ids"
    assert isinstance(row["must"], list)
    for group in row["must"]:
        assert isinstance(group, list) and group, "each must group is a non-empty list"
        assert all(isinstance(a, str) and a.strip() for a in group), "alternatives are non-empty strings"
    if row["answerable"]:
        assert row["category"] not in UNANSWERABLE
        assert row["docs"], "answerable question without gold docs"
        assert row["must"], "answerable question without must groups"
        assert isinstance(row.get("reference"), str) and row["reference"].strip()
        for d in row["docs"]:
            assert (ARTICLES / f"{d}.txt").is_file(), f"unknown doc id {d!r}"
    else:
        assert row["category"] in UNANSWERABLE | ABOUT
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


def test_unique_ids_and_questions_across_files():
    ids = [r["id"] for _, r in ROWS]
    dup = [i for i, c in Counter(ids).items() if c > 1]
    assert not dup, f"duplicate ids: {dup}"
    qs = [r["question"].strip().lower() for _, r in ROWS]
    dupq = [q for q, c in Counter(qs).items() if c > 1]
    assert not dupq, f"duplicate questions: {dupq}"


@pytest.mark.parametrize("name", list(MIN_PER_CATEGORY))
def test_category_minimums(name):
    counts = Counter(r["category"] for r in DATA[name])
    mins = MIN_PER_CATEGORY[name]
    short = {c: (counts.get(c, 0), m) for c, m in mins.items() if counts.get(c, 0) < m}
    assert not short, f"{name}: categories below minimum (have, need): {short}"


def test_reworded_categories_mix():
    """Over both files: Russian questions in every reworded category, multi-part questions over two articles."""
    ru = Counter(r["category"] for _, r in ROWS if r["category"] in REWORDED and CYRILLIC.search(r["question"]))
    short = {c: (ru.get(c, 0), m) for c, m in MIN_RUSSIAN.items() if ru.get(c, 0) < m}
    assert not short, f"too few Russian questions (have, need): {short}"
    two_docs = [r for _, r in ROWS if r["category"] == "multi-part" and len(r["docs"]) >= 2]
    assert len(two_docs) >= MIN_MULTI_PART_TWO_DOCS


def test_unanswerable_mix():
    unans = [r for r in DATA[DEV] if r["category"] == "unanswerable"]
    assert any(CYRILLIC.search(r["question"]) for r in unans), "need a Russian unanswerable question"
    injection = re.compile(r"ignore|forget|system:|забудь|инструкц", re.I)
    injections = [r for r in unans if injection.search(r["question"])]
    assert len(injections) >= 2, "need at least two prompt-injection questions"


@pytest.mark.parametrize(("name", "row"), ANSWERABLE, ids=_ids(ANSWERABLE))
def test_must_alternatives_occur_in_gold_docs(name, row):
    text = "\n".join(_doc(d) for d in row["docs"])
    for group in row["must"]:
        assert _hits(text, group), f"no alternative of {group} occurs in {row['docs']}"
        missing = [a for a in group if a.lower() not in text]
        assert not missing, f"alternatives not found in gold docs: {missing}"


SINGLE_SOURCE = [(f, r) for f, r in ANSWERABLE if r["category"] not in {"cross-article", "multi-part", "corpus"}
                 and not (r["category"] in {"metadata", "summary"} and len(r["docs"]) > 1)]


@pytest.mark.parametrize(("name", "row"), SINGLE_SOURCE, ids=_ids(SINGLE_SOURCE))
def test_one_paragraph_satisfies_all_groups(name, row):
    """Single-source questions: some paragraph (line) of a gold doc contains every must group."""
    for d in row["docs"]:
        if any(_line_satisfies_all(line, row["must"]) for line in _doc(d).splitlines()):
            return
    pytest.fail(f"no single paragraph of {row['docs']} satisfies all groups {row['must']}")


CROSS = [(f, r) for f, r in ANSWERABLE if r["category"] == "cross-article"]


@pytest.mark.parametrize(("name", "row"), CROSS, ids=_ids(CROSS))
def test_cross_article_needs_more_than_one_paragraph(name, row):
    """Cross-article questions must not be answerable by one paragraph of a single article."""
    for d in row["docs"]:
        for line in _doc(d).splitlines():
            assert not _line_satisfies_all(line, row["must"]), f"{d} alone answers it: {line[:120]}"


MULTI = [(f, r) for f, r in ROWS if r["category"] == "multi-part"]


@pytest.mark.parametrize(("name", "row"), MULTI, ids=_ids(MULTI))
def test_multi_part_groups_cover_every_part_and_doc(name, row):
    """At least one must group per part; with several gold docs, every doc answers at least one group."""
    assert len(row["must"]) >= 2, "a two-part question needs at least two must groups"
    for d in row["docs"]:
        assert any(_hits(_doc(d), g) for g in row["must"]), f"{d} satisfies none of the groups {row['must']}"


REWORDED_EN = [(f, r) for f, r in ROWS if r["category"] in REWORDED and not CYRILLIC.search(r["question"])]


@pytest.mark.parametrize(("name", "row"), REWORDED_EN, ids=_ids(REWORDED_EN))
def test_reworded_questions_copy_no_three_word_run(name, row):
    """Users do not quote the article: no 3 consecutive words of the question occur consecutively in any article."""
    copied = _copied_runs(row["question"])
    assert not copied, f"runs copied from the articles: {copied}"


def test_copied_run_check_can_fail():
    assert _copied_runs("Why did Russia suspend shipments of Kazakh oil?") == ["of kazakh oil", "shipments of kazakh"]
    assert _copied_runs("Which award did Tokayev turn down?") == []
    # an allow-listed name is one token: the name itself passes, the words copied around it do not
    assert _copied_runs("Why did he turn down the Order of Alexander Nevsky?") == []
    copied = _copied_runs("Tokayev refused the Order of Alexander Nevsky")
    assert copied == ["refused the <name0>", "tokayev refused the"]
