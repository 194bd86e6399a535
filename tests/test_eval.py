"""The evaluation suite: each metric on tiny hand-made records (each can fail), the llama-index baseline on
a small made-up corpus, the runner's argument checks, and the CI gate — the whole suite (product +
baseline) on the team's dataset in extractive mode, with thresholds on the headline figures.

Gate thresholds sit a few points under the measured values (see the comment at GATE); the lead re-sets
them when the engine is final.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from eval import metrics, report
from eval.baseline import Baseline, answer_from_hits, locate
from eval.run import DEFAULT_CATEGORY, EvalError, engine_settings, judge, load_dataset, main, run_suite
from rag.answer import Answer, Citation, Source
from store.records import Document
from store.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "eval" / "datasets" / "kz-ru.jsonl"

TEXTS = {
    "d1": "The bridge opened on March 3. It cost 120 million euros. Mayor Ilse Brandt praised it.",
    "d2": "The glacier lost 18 metres since 2010. Dr. Tomas Varga led the study.",
}


def source(doc_id: str, text: str) -> Source:
    start = TEXTS[doc_id].find(text)
    return Source(f"{doc_id}#{start}", doc_id, doc_id.upper(), text, start, start + len(text), 0.5)


def citation(number: int, doc_id: str, quote: str, start: int | None = None) -> Citation:
    start = TEXTS[doc_id].find(quote) if start is None else start
    return Citation(number, doc_id, doc_id.upper(), quote, start, start + len(quote), 0.5)


def record(text: str = "", refused: bool = False, answerable: bool = True, category: str = "fact",
           docs: tuple[str, ...] = ("d1",), must: tuple[tuple[str, ...], ...] = (("120 million",),),
           citations: tuple[Citation, ...] = (), sources: tuple[Source, ...] = (),
           timings: dict[str, float] | None = None, wall_ms: float = 10.0, **extra: Any) -> dict[str, Any]:
    answer = Answer(text=text, refused=refused, citations=list(citations), sources=list(sources),
                    timings=timings or {"total": wall_ms})
    return {"id": "x", "category": category, "question": "q?", "answerable": answerable,
            "docs": list(docs) if answerable else [], "must": [list(g) for g in must] if answerable else [],
            "answer": answer.to_dict(), "wall_ms": wall_ms, **extra}


# -- answers -------------------------------------------------------------------------------------------
def test_accuracy_by_must_groups_and_refusals() -> None:
    must = (("120 million", "120m"), ("euros",))
    assert metrics.is_correct(record("It cost 120 MILLION Euros.", must=must))
    assert not metrics.is_correct(record("It cost 120 million.", must=must))  # a group is missing
    assert not metrics.is_correct(record("120 million euros", refused=True, must=must))  # refused: wrong
    assert metrics.is_correct(record("The articles don't say.", refused=True, answerable=False))
    assert not metrics.is_correct(record("Something.", answerable=False))


def test_answer_metrics_overall_and_per_category() -> None:
    records = [record("120 million"), record("no idea"), record("", refused=True, answerable=False,
                                                                   category="unanswerable")]
    result = metrics.answer_metrics(records)
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["answerable_accuracy"] == 0.5
    assert result["by_category"] == {"fact": {"n": 2, "accuracy": 0.5},
                                     "unanswerable": {"n": 1, "accuracy": 1.0}}


def test_token_f1() -> None:
    f1 = metrics.token_f1("It cost 120 million euros [1]", "120 million euros")  # P = 3/5, R = 1
    assert f1 == pytest.approx(2 * 0.6 / 1.6)
    assert metrics.token_f1("The bridge", "a glacier") == 0.0
    assert metrics.token_f1("", "anything") == 0.0


# -- retrieval -----------------------------------------------------------------------------------------
def test_evidence_hit_mrr_ndcg_and_document_hit() -> None:
    sources = (source("d2", "The glacier lost 18 metres since 2010."),
               source("d1", "The bridge opened on March 3."),  # gold doc, but not the evidence
               source("d1", "It cost 120 million euros."))
    r = record(sources=sources)
    flags = metrics.evidence_flags(r)
    assert flags == [False, False, True]
    assert (metrics.hit_at(flags, 1), metrics.hit_at(flags, 2), metrics.hit_at(flags, 3)) == (0.0, 0.0, 1.0)
    assert metrics.reciprocal_rank(flags) == pytest.approx(1 / 3)
    assert metrics.ndcg_at(flags, 5) == pytest.approx(1 / math.log2(4))
    assert (metrics.doc_hit_at(r, 1), metrics.doc_hit_at(r, 2)) == (0.0, 1.0)
    assert metrics.ndcg_at([True, False], 5) == 1.0 and metrics.ndcg_at([False, False], 5) == 0.0


def test_retrieval_metrics_skip_unanswerable_and_cross_article_is_document_level() -> None:
    cross = record(category="cross-article", docs=("d1", "d2"), must=(("120 million",), ("18 metres",)),
                   sources=(source("d2", "Dr. Tomas Varga led the study."),))
    miss = record(sources=(source("d2", "The glacier lost 18 metres since 2010."),))
    unanswerable = record(answerable=False, sources=(source("d1", "It cost 120 million euros."),))
    result = metrics.retrieval_metrics([cross, miss, unanswerable])
    assert result["evidence_hit@1"] == 0.5 and result["doc_hit@5"] == 0.5
    assert result["evidence_hit_curve"] == [0.5] * 5


# -- citations -----------------------------------------------------------------------------------------
def test_citation_validity_catches_wrong_offsets_foreign_docs_and_invented_quotes() -> None:
    sources = [source("d1", "It cost 120 million euros.").__dict__]
    good = citation(1, "d1", "It cost 120 million euros.").__dict__
    assert metrics.citation_valid(good, sources, TEXTS)
    shifted = {**good, "start_char": good["start_char"] + 1, "end_char": good["end_char"] + 1}
    assert not metrics.citation_valid(shifted, sources, TEXTS)
    not_retrieved = citation(1, "d2", "Dr. Tomas Varga led the study.").__dict__
    assert not metrics.citation_valid(not_retrieved, sources, TEXTS)
    invented = {**good, "quote": "It cost 130 million euros."}
    assert not metrics.citation_valid(invented, sources, TEXTS)
    assert not metrics.citation_valid({**good, "start_char": -1, "end_char": -1}, sources, TEXTS)

    off_by_one = citation(1, "d1", "It cost 120 million euros.", start=1)
    r = record("It cost 120 million euros. [1]", citations=(off_by_one,),
               sources=(source("d1", "It cost 120 million euros."),))
    assert metrics.citation_metrics([r], TEXTS)["validity"] < 1.0


def test_gold_document_rate() -> None:
    r = record("x [1] y [2]", citations=(citation(1, "d1", "It cost 120 million euros."),
                                         citation(2, "d2", "Dr. Tomas Varga led the study.")))
    assert metrics.citation_metrics([r], TEXTS)["gold_doc_rate"] == 0.5


def test_statements_take_the_markers_that_follow_them() -> None:
    found = metrics.statements("It cost 120 million euros. [1] Mayor Brandt praised it [2][3] warmly. [4]")
    assert found == [("It cost 120 million euros.", [1]), ("Mayor Brandt praised it  warmly.", [2, 3, 4])]


def test_support_needs_most_terms_and_every_number() -> None:
    quote = "It cost 120 million euros."
    assert metrics.supports("The bridge cost 120 million euros.", [quote])  # 3 of 4 terms, the number
    assert not metrics.supports("It cost 130 million euros.", [quote])  # a number the quote lacks
    assert not metrics.supports("Mayor Brandt praised the tram lines.", [quote])
    assert not metrics.supports("It cost 120 million euros.", [])
    assert metrics.supports("It cost 120 million euros and Dr. Varga led the study.",
                            [quote, "Dr. Tomas Varga led the study."])  # only jointly


def test_citation_recall_and_precision() -> None:
    cost, mayor, glacier = ("It cost 120 million euros.", "Mayor Ilse Brandt praised it.",
                            "The glacier lost 18 metres since 2010.")
    cites = (citation(1, "d1", cost), citation(2, "d1", mayor), citation(3, "d2", glacier))
    perfect = Answer(f"{cost} [1] {mayor} [2]", False, list(cites[:2])).to_dict()
    assert metrics.citation_quality(perfect) == (1.0, 1.0)
    padded = Answer(f"{cost} [1][3] {mayor} [2]", False, list(cites)).to_dict()  # [3] is irrelevant
    assert metrics.citation_quality(padded) == (1.0, 2 / 3)
    wrong = Answer(f"{cost} [3] {mayor} [2]", False, list(cites)).to_dict()
    assert metrics.citation_quality(wrong) == (0.5, 0.5)
    uncited = Answer(f"{cost} {mayor}", False, []).to_dict()
    assert metrics.citation_quality(uncited) == (0.0, 0.0)
    passage = Answer(f"{cost} {mayor}", False, [Citation(1, "d1", "D1", TEXTS["d1"], 0, 87, 1.0)]).to_dict()
    assert metrics.citation_quality(passage) == (1.0, 1.0)  # no markers: the passage cites every sentence


# -- refusals and latency ------------------------------------------------------------------------------
def test_refusal_metrics() -> None:
    records = [record(refused=True, answerable=False), record(answerable=False), record(refused=True),
               record("120 million")]
    result = metrics.refusal_metrics(records)
    assert (result["tp"], result["fp"], result["fn"]) == (1, 1, 1)
    assert result["precision"] == result["recall"] == result["f1"] == 0.5
    assert result["false_refusal_rate"] == 0.5
    assert metrics.refusal_metrics([record("120 million")])["f1"] == 0.0


def test_latency_percentiles_per_stage() -> None:
    assert metrics.percentile([10, 20, 30, 40], 50) == 25
    assert metrics.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 95) == pytest.approx(10.5)
    assert metrics.percentile([], 50) is None
    records = [record(wall_ms=w, timings={"embed": w / 2, "total": w}) for w in (10, 20, 30)]
    records.append(record(wall_ms=0.0, error="boom"))  # failed questions do not count
    result = metrics.latency_metrics(records)
    assert result["end_to_end"]["p50"] == 20 and result["stages"]["embed"]["p50"] == 10


# -- baseline ------------------------------------------------------------------------------------------
def test_baseline_answer_marks_passages_it_cannot_locate() -> None:
    assert locate("120 million", TEXTS["d1"]) == (TEXTS["d1"].find("120"), TEXTS["d1"].find("120") + 11)
    hits = [("n1", "d1", "D1", "It cost 120 million  euros.", 0.9)]  # not a verbatim slice
    answer = answer_from_hits("q?", hits, TEXTS)
    assert (answer.citations[0].start_char, answer.refused) == (-1, False)
    r = record(answer.text)
    r["answer"] = answer.to_dict()
    assert metrics.citation_metrics([r], TEXTS)["validity"] == 0.0


def test_baseline_on_a_small_corpus() -> None:
    docs = [Document("bridge", "Harbour bridge", "The new harbour bridge in Port Elmswick opened on March 3. "
                     "It cost 120 million euros and carries two tram lines.", "bridge.txt"),
            Document("orchard", "Apple harvest", "Farmers in Valdoria picked 42,000 tonnes of apples this "
                     "autumn, the most since records began in 1961.", "orchard.txt")]
    baseline = Baseline(docs)
    answer = baseline.ask("How much did the harbour bridge cost?")
    assert "120 million" in answer.text and not answer.refused
    assert [s.doc_id for s in answer.sources] == ["bridge", "orchard"]
    cited = answer.citations[0]
    assert docs[0].text[cited.start_char:cited.end_char] == cited.quote
    assert not baseline.ask("What is the population of Brazil?").refused  # it never refuses


# -- runner --------------------------------------------------------------------------------------------
def test_extractive_mode_drops_the_llm_and_llm_mode_needs_one(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    configured = Settings(_env_file=None, llm_base_url="http://127.0.0.1:9/v1")  # type: ignore[call-arg]
    assert not engine_settings(configured, "extractive").llm_enabled
    assert engine_settings(configured, "llm").llm_enabled
    assert main(["--dataset", str(DATASET), "--mode", "llm", "--out", str(tmp_path)]) == 2
    assert "RAG_LLM_BASE_URL" in capsys.readouterr().err
    assert main(["--dataset", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path)]) == 2


def test_llm_judge_grades_through_the_endpoint(openai_stub: Any) -> None:
    openai_stub.push('{"faithful": true, "relevant": false}', "I cannot grade this.")
    settings = Settings(_env_file=None, llm_base_url=openai_stub.base_url)  # type: ignore[call-arg]
    records = [{**record("It cost 120 million euros."), "id": "a"}, {**record("?"), "id": "b"}]
    result = judge(settings, records, "product", progress=False)
    assert result["per_question"] == {"a": {"faithful": True, "relevant": False},
                                      "b": {"faithful": None, "relevant": None}}
    assert (result["faithfulness"], result["relevancy"], result["graded"]) == (1.0, 0.0, 1)
    assert "120 million" in openai_stub.requests[0]["messages"][1]["content"]


# -- dataset validation --------------------------------------------------------------------------------
GOOD_LINE = {"id": "fact-01", "category": "fact", "question": "How much did the bridge cost?", "answerable": True,
             "docs": ["bridge"], "must": [["120 million"]], "reference": "120 million euros."}


def write_dataset(tmp_path: Path, *lines: dict[str, Any] | str) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_dataset_category_defaults_to_uncategorized(tmp_path: Path) -> None:
    """A line without `category` used to stop `rag eval` with KeyError: 'category'."""
    bare = {k: v for k, v in GOOD_LINE.items() if k != "category"} | {"id": "x-01"}
    items = load_dataset(write_dataset(tmp_path, GOOD_LINE, "", bare))
    assert [i["category"] for i in items] == ["fact", DEFAULT_CATEGORY] and DEFAULT_CATEGORY == "uncategorized"
    assert len(load_dataset(DATASET)) >= 150  # the team's dataset passes the check


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({k: v for k, v in GOOD_LINE.items() if k != "answerable"}, ":3: missing field 'answerable'"),
        ({"id": "q", "question": "Who?"}, ":3: missing fields 'answerable', 'docs', 'must'"),
        ('{"id": "q", "question": "Who?",', ":3: not valid JSON ("),
        ("[1, 2]", ":3: expected a JSON object, got list"),
        (GOOD_LINE | {"must": ["120 million"]}, ":3: field 'must' must be a list of lists of strings"),
        (GOOD_LINE | {"answerable": "yes"}, ":3: field 'answerable' must be true or false"),
        (GOOD_LINE | {"category": None}, ":3: field 'category' must be a non-empty string"),
        (GOOD_LINE, ":3: id 'fact-01' is already used on line 1"),
    ],
)
def test_dataset_errors_name_the_line_and_the_field(tmp_path: Path, bad: dict[str, Any] | str, message: str) -> None:
    path = write_dataset(tmp_path, GOOD_LINE, "", bad)
    with pytest.raises(EvalError) as error:
        load_dataset(path)
    assert str(error.value).startswith(f"{path}{message}"), str(error.value)


def test_rag_eval_reports_a_bad_dataset_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cli

    path = write_dataset(tmp_path, {k: v for k, v in GOOD_LINE.items() if k != "must"})
    assert cli.main(["eval", "--dataset", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}:1: missing field 'must' (see eval/README.md, Dataset format)\n"
    assert not (tmp_path / "out").exists()
    assert main(["--dataset", str(write_dataset(tmp_path)), "--out", str(tmp_path / "out")]) == 2
    assert "no questions in the dataset" in capsys.readouterr().err


# -- the gate ------------------------------------------------------------------------------------------
# Measured on the team's dataset (235 questions, with the paraphrase, near-miss, multi-part, metadata, corpus and
# summary categories; extractive mode): accuracy 0.868, refusal F1 0.909 (recall 0.857), evidence hit@1 0.795, hit@5
# 0.920, citation validity 1.000; paraphrase questions 0.814; metadata, corpus and summary questions 1.000 each.
# Thresholds sit just under the measured values so that a regression fails CI. (On the first 195 questions accuracy was
# 0.605 before passage vectors were pooled from sentence vectors, issue 13, and 0.579 after: hit@1 rose 0.699 → 0.735
# and the held-out split's accuracy stayed 0.267, but five dev answers changed sentence, four of them Russian questions
# whose best two sentences are within 0.02 in cosine. Issue 11: quoting up to two runners-up, 0.664 → 0.723; at most 3
# of 5 passages from one article, 0.736 and hit@5 0.895; follow-ups with a pronoun and "how many <things> <any verb>",
# 0.740 and refusal F1 0.678; "how many <things> of <kind>", a sentence that points back taken with the one before, and
# the question type read off the first question word, 0.757 and 0.724; the sentences nearest in meaning corpus-wide as
# answer candidates, 0.762 and 0.702; parts that do not quote one another again and a repeat penalty scaled by the new
# question's words, 0.774; sentences that lean back read and quoted with the one before, 0.783; comparisons asked about
# each side, 0.787 and 0.714; quotations quoted to their end, 0.791; a figure of the asked kind, 0.796 and 0.737; a
# purpose answers "why", 0.800; a figure of the asked kind whatever the question word, 0.813 and 0.800; what an event
# led to is not answered by a sentence that says it is still to come, 0.821 and 0.839; sentence meaning corrected for
# hubness, 0.847; a birth, a death, an agreement and what a change is of answered only by a sentence that reports it,
# 0.860 and 0.892; runners-up for questions in another script, 0.864; a post answered only by a sentence that names one,
# 0.868 and 0.909.)
GATE = {
    ("answers", "accuracy"): 0.86,
    ("refusals", "f1"): 0.90,
    ("refusals", "recall"): 0.85,
    ("retrieval", "evidence_hit@5"): 0.91,
    ("answers", "by_category", "paraphrase", "accuracy"): 0.80,
    ("answers", "by_category", "metadata", "accuracy"): 0.9,
    ("answers", "by_category", "corpus", "accuracy"): 0.9,
    ("answers", "by_category", "summary", "accuracy"): 0.9,
}


def test_gate_on_the_team_dataset(indexed_articles: Settings, tmp_path: Path) -> None:
    result = run_suite(indexed_articles, DATASET, tmp_path / "out", mode="extractive", ingest=False,
                       progress=False)
    product, baseline = result["metrics"]["product"], result["metrics"]["baseline"]
    summary = report.summary_table(product, baseline)
    assert product["n"] == len(DATASET.read_text(encoding="utf-8").splitlines()) and product["errors"] == 0
    for path, threshold in GATE.items():
        assert report.lookup(product, path) >= threshold, f"{'.'.join(path)} below {threshold}\n{summary}"
    assert product["citations"]["validity"] == 1.0, summary
    assert product["answers"]["accuracy"] > baseline["answers"]["accuracy"], summary
    for name in ("report.json", "report.md", "accuracy_by_category.png", "latency.png",
                 "evidence_hit_at_k.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    saved = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert len(saved["records"]["baseline"]) == product["n"]
