"""Questions about the articles themselves (rag/about.py): who wrote one, which outlet published it, which
articles there are and which mention a name; detected from the wording, answered from the stored metadata
through the real engine on the seed articles, every citation verbatim."""

from __future__ import annotations

import pytest
from conftest import assert_cited_verbatim
from openai_stub import StubOpenAI

from rag import RAG
from rag.about import intent

PUTIN_VISIT = "putin-state-visit-to-kazakhstan"
ALTERNATIVE = "kazakhstan-looking-for-alternative-to-russia"
REASONS = "reasons-for-tokayev-visit-to-russia"
SOCHI = "tokayev-putin-sochi-hidden-signal"



@pytest.mark.parametrize(
    ("question", "kind", "field", "every"),
    [
        ("Who wrote the article about Putin's state visit?", "meta", "author", False),
        ("Who is the author of this piece?", "meta", "author", False),
        ("Which outlet published the piece on Kazakhstan's search for an alternative to Russia?", "meta", "outlet",
         False),
        ("What is the source of the article on the Kazakh front?", "meta", "outlet", False),
        ("When was the article about the Sochi talks published?", "meta", "published", False),
        ("Who wrote these articles?", "meta", "author", True),
        ("Кто автор статьи о визите Путина?", "meta", "author", False),
        ("Какое издание опубликовало статью о причинах визита Токаева?", "meta", "outlet", False),
        ("Кто авторы этих статей?", "meta", "author", True),
        ("Which articles are in the corpus?", "list", "", False),
        ("What articles do you have?", "list", "", False),
        ("Какие статьи у вас есть?", "list", "", False),
        ("How many articles are there?", "count", "", False),
        ("Сколько статей?", "count", "", False),
        ("Which articles mention Nazarbayev?", "mentions", "", False),
        ("Summarize the article about Putin's state visit", "summary", "", False),
        ("What is the article on the Kazakh front about?", "summary", "", False),
        ("What are these articles about?", "summary", "", True),
        ("О чём статья о визите Путина?", "summary", "", False),
        ("Кратко перескажи эти статьи", "summary", "", True),
    ],
)
def test_detects_questions_about_the_articles(question: str, kind: str, field: str, every: bool) -> None:
    found = intent(question)
    assert found is not None and (found.kind, found.field, found.every) == (kind, field, every)


@pytest.mark.parametrize(
    "question",
    [
        "Who wrote to Putin?",
        "Which newspaper published Putin's article?",
        "Which newspaper published Tokayev's article ahead of Putin's state visit?",
        "Which newspaper employs Sergey Saenko?",
        "How many documents were signed during the visit?",
        "Which articles did the presidents exchange?",
        "What word does the author say Moscow should use?",
        "When did Putin visit Kazakhstan?",
        "Какая газета опубликовала статью Токаева?",
        "Какие статьи упоминают Назарбаева?",  # a Cyrillic name is not spelled so in the English texts
        "What was the Sochi meeting about?",
        "Which newspapers published the articles Putin and Tokayev exchanged?",
        "Who wrote the articles that Putin and Tokayev exchanged?",
        "Which media outlet first reported the story about the blocked wagons?",
        "Summarize what Putin said about trade.",
    ],
)
def test_ordinary_questions_are_not_captured(question: str) -> None:
    assert intent(question) is None


@pytest.mark.parametrize(
    ("question", "doc_id", "expected"),
    [
        ("Who wrote the article about Putin's state visit?", PUTIN_VISIT, "Sergey Saenko, international observer"),
        ("Which outlet published the piece on Kazakhstan's search for an alternative to Russia?", ALTERNATIVE,
         "Exclusive.kz"),
        ("Who wrote the Exclusive.kz commentary on the Sochi meeting?", ALTERNATIVE, "Miras Nurmukhanbetov"),
        ("Кто автор статьи о государственном визите Путина?", PUTIN_VISIT, "Sergey Saenko"),
        ("Какое издание опубликовало статью о причинах визита Токаева в Россию?", REASONS, "KZ.expert"),
    ],
)
def test_metadata_answers_cite_the_stating_sentence(engine: RAG, question: str, doc_id: str, expected: str) -> None:
    answer = engine.ask(question)
    assert not answer.refused and expected in answer.text
    assert_cited_verbatim(engine, answer)
    assert answer.citations[0].doc_id == doc_id and expected.split(",")[0] in answer.citations[0].quote


def test_a_field_the_article_does_not_state_is_refused_not_guessed(engine: RAG) -> None:
    answer = engine.ask("Who wrote the article about the hidden signal Tokayev sent in Sochi?")
    assert answer.refused and not answer.citations
    assert "does not say who wrote it" in answer.text and "hidden signal" in answer.text
    russian = engine.ask("Кто автор этой статьи?", doc_ids=[SOCHI])
    assert russian.refused and "не сказано" in russian.text


def test_the_filter_names_the_article(engine: RAG) -> None:
    answer = engine.ask("Which outlet published this article?", doc_ids=[REASONS])
    assert not answer.refused and "KZ.expert" in answer.text
    assert_cited_verbatim(engine, answer)


def test_every_article_s_author_where_stated(engine: RAG) -> None:
    answer = engine.ask("Who wrote these articles?")
    assert not answer.refused and "Saenko" in answer.text and "Nurmukhanbetov" in answer.text
    assert "Not stated for" in answer.text
    assert_cited_verbatim(engine, answer)
    assert len(answer.citations) == 2


def test_lists_and_counts_the_articles_by_title(engine: RAG) -> None:
    titles = [d["title"] for d in engine.documents()]
    for question in ("Which articles are in the corpus?", "How many articles are there?", "Какие статьи у вас есть?"):
        answer = engine.ask(question)
        assert not answer.refused and all(title in answer.text for title in titles), question
        assert_cited_verbatim(engine, answer)
        assert len(answer.citations) == len(titles)
    assert "5 articles" in engine.ask("How many articles do you have?").text


def test_articles_mentioning_a_name_are_cited_where_they_mention_it(engine: RAG) -> None:
    answer = engine.ask("Which articles mention Nazarbayev?")
    assert not answer.refused
    assert_cited_verbatim(engine, answer)
    assert all("nazarbayev" in c.quote.lower() for c in answer.citations)
    missing = engine.ask("Which articles mention Zelensky?")
    assert missing.refused and "Zelensky" in missing.text


def test_llm_mode_gets_the_same_exact_metadata_answer(engine: RAG, openai_stub: StubOpenAI) -> None:
    settings = engine.settings.model_copy(update={"llm_base_url": openai_stub.base_url, "llm_model": "stub",
                                                  "openai_api_key": None})
    llm = RAG(settings)
    answer = llm.ask("Who wrote the article about Putin's state visit?", mode="llm")
    assert not answer.refused and "Sergey Saenko" in answer.text
    assert_cited_verbatim(llm, answer)
    assert not openai_stub.chat_requests  # exact from the metadata: no model call


def test_llm_mode_writes_a_summary_from_the_chosen_sentences_and_verifies_it(engine: RAG) -> None:
    question = "Summarize the article about Putin's state visit to Kazakhstan."
    extractive = engine.ask(question)
    lead = extractive.citations[0]
    with StubOpenAI(lambda body: "Putin paid a state visit to Kazakhstan on November 27-28 [1].") as stub:
        llm = RAG(engine.settings.model_copy(update={"llm_base_url": stub.base_url, "llm_model": "stub"}))
        answer = llm.ask(question, mode="llm")
        prompt = stub.requests[-1]["messages"][-1]["content"]
    assert all(c.quote in prompt for c in extractive.citations)  # written from the sentences the summary chose
    assert answer.mode == "llm" and not answer.refused and "November 27-28" in answer.text
    assert [(c.doc_id, c.start_char) for c in answer.citations] == [(lead.doc_id, lead.start_char)]
    assert_cited_verbatim(llm, answer)
    with StubOpenAI(lambda body: "Putin is the president of Brazil.") as stub:  # uncited: rejected
        llm = RAG(engine.settings.model_copy(update={"llm_base_url": stub.base_url, "llm_model": "stub"}))
        fallback = llm.ask(question, mode="llm")
    assert fallback.mode == "extractive" and fallback.text == extractive.text and fallback.notice


def test_summary_of_one_article_quotes_its_lead_and_central_sentences(engine: RAG) -> None:
    answer = engine.ask("Summarize the article about Putin's state visit to Kazakhstan.")
    assert not answer.refused and "November 27-28" in answer.text  # the lead
    assert_cited_verbatim(engine, answer)
    assert {c.doc_id for c in answer.citations} == {PUTIN_VISIT} and len(answer.citations) == 3
    starts = [c.start_char for c in answer.citations]
    assert starts == sorted(starts) and len(set(starts)) == 3  # reading order, no repeats


def test_summary_of_the_articles_covers_each_one(engine: RAG) -> None:
    answer = engine.ask("What are these articles about?")
    assert not answer.refused
    assert_cited_verbatim(engine, answer)
    assert {c.doc_id for c in answer.citations} == {d["doc_id"] for d in engine.documents()}
    filtered = engine.ask("Summarize the articles", doc_ids=[REASONS, SOCHI])
    assert {c.doc_id for c in filtered.citations} == {REASONS, SOCHI}
