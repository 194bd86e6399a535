"""Question analysis (rag/question.py): parts of a multi-part question, the asked-for kind, causes."""

from __future__ import annotations

import pytest

from rag.question import (
    asks_outcome,
    counted_noun,
    has_type,
    holds_asked_unit,
    language,
    measured_thing,
    parts,
    question_type,
    refers_back,
    still_to_come,
)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What did X call Y, and how did Z respond?", ["What did X call Y?", "how did Z respond?"]),
        ("Where did they meet and what did they sign?", ["Where did they meet?", "what did they sign?"]),
        ("Who opened the bridge? When did it open?", ["Who opened the bridge?", "When did it open?"]),
        ("Где встретились Путин и Токаев, и что они подписали?", ["Где встретились Путин и Токаев?",
                                                                  "что они подписали?"]),
        # One question, even with "and" in it.
        ("How did Tokayev and Putin greet each other?", ["How did Tokayev and Putin greet each other?"]),
        ("Who met Tokayev and where?", ["Who met Tokayev and where?"]),
        ("Trade between Russia and Kazakhstan: how large was it?", ["Trade between Russia and Kazakhstan: how "
                                                                     "large was it?"]),
        # A comparison: the same question about each side.
        ("How many deals were signed during the first visit compared with the second one?",
         ["How many deals were signed during the first visit?", "How many deals were signed during the second one?"]),
        ("What was the status of the Sochi trip versus the Astana trip?",
         ["What was the status of the Sochi trip?", "What was the status of the Astana trip?"]),
        ("How does oil compare to gas?", ["How does oil compare to gas?"]),
    ],
)
def test_parts(question: str, expected: list[str]) -> None:
    assert parts(question) == expected


def test_reason_questions_want_a_cause() -> None:
    for question in ("Why was it halted?", "What official explanation was given?", "How did they justify it?",
                     "What was the official excuse?", "Почему остановили отгрузки?", "По какой причине?"):
        assert question_type(question) == "reason", question
    assert has_type("reason", "The official reason is mine clearing.", "Why?")
    assert has_type("reason", "It was closed, citing environmental problems.", "Why?")
    assert not has_type("reason", "Russia suspended shipments of oil.", "Why?")
    assert has_type("reason", "This allows the economy to be protected from sanctions.", "Why does it help?")


def test_a_when_clause_after_the_question_word_does_not_ask_for_a_date() -> None:
    assert question_type("How did Putin react when Tokayev spoke?") is None
    assert question_type("When did Tokayev speak?") == "date"
    assert question_type("Who met him when he landed?") == "name"
    assert question_type("Как отреагировал Путин, когда Токаев выступил?") is None
    assert question_type("Когда выступил Токаев?") == "date"


def test_a_figure_question_wants_a_figure_of_its_kind() -> None:
    sentence = "Exports rose to 120 million on June 3, 40% of the total."
    assert holds_asked_unit("What share of exports went east?", sentence)
    assert not holds_asked_unit("What share of exports went east?", "Exports rose to 120 million.")
    assert holds_asked_unit("What sum did they pay?", "They paid $28 billion.")
    assert not holds_asked_unit("What sum did they pay?", "They paid in 28 instalments.")
    assert holds_asked_unit("On which day did he arrive?", sentence)
    assert not holds_asked_unit("On which day did he arrive?", "He arrived in 2022.")
    assert holds_asked_unit("How long were the talks?", "The talks lasted two and a half hours.")
    assert holds_asked_unit("How long is the border?", "The border is 7,500 km long.")
    assert not holds_asked_unit("How long were the talks?", "The talks covered 12 topics.")
    assert holds_asked_unit("By how much did exports grow?", "Exports grew 2,000 times.")
    assert holds_asked_unit("How many wagons were blocked?", "1,700 wagons were blocked.")  # no kind named
    # "The first half of the year" is a period, not a share.
    assert not holds_asked_unit("What share of exports went east?", "In the first half of the year exports grew.")
    assert holds_asked_unit("What share of exports went east?", "Half of the exports went east.")
    # "Какая доля" asks for a share; "какая должность" (a post) does not.
    assert not holds_asked_unit("Какая доля экспорта идёт через КТК?", "Exports rose to 120 million.")
    assert holds_asked_unit("Какую должность занимает Нарышкин?", "The SVR director Naryshkin, 40%, spoke.")
    # A post by its holder's title, plural or the office's name; not a word that merely begins like one.
    assert holds_asked_unit("What post did they hold?", "The two chairmen met in Astana.")
    assert holds_asked_unit("What post did he keep?", "He kept the chairmanship of the Security Council.")
    assert not holds_asked_unit("Какую должность он занимал?", "Такова его судьба, headed for Astana.")
    # A value, a price, a fine: an amount of money.
    for question in ("What is the monetary value of the deal?", "What was the value of the contract?",
                     "How large was the fine imposed on the company?", "Каков штраф?"):
        assert not holds_asked_unit(question, "The court fined the company in early July."), question
        assert holds_asked_unit(question, "The court fined the company 5 million rubles."), question
    assert holds_asked_unit("How large was the delegation?", "The delegation had 40 members.")


@pytest.mark.parametrize(
    ("question", "thing"),
    [
        ("By how much did Kazakh shipments of processors increase?", "Kazakh shipments of processors"),
        ("By how much did bilateral trade drop over the last ten months?", "bilateral trade"),
        ("How much has trade turnover fallen?", "trade turnover"),
        ("How much did the visit cost?", None),
        ("How many wagons were blocked?", None),
    ],
)
def test_what_a_by_how_much_question_measures(question: str, thing: str | None) -> None:
    assert measured_thing(question) == thing


@pytest.mark.parametrize(
    ("question", "answering", "not_answering"),
    [
        ("When was Kassym-Jomart Tokayev born?", "Tokayev was born on 17 May 1953 in Alma-Ata.",
         "On June 18, Kassym-Jomart Tokayev stated that Kazakhstan does not recognise the republics."),
        ("Where was the author born?", "The author, a native of Omsk, moved to Almaty.", "The author lives in Omsk."),
        ("Когда родился Токаев?", "Токаев родился 17 мая 1953 года.", "18 июня Токаев выступил на форуме."),
        ("When did the poet die?", "The poet died in exile in 1837.", "In 1837 the poet wrote his last letter."),
        ("What did Putin and Erdogan agree on in Sochi?", "In Sochi the two leaders agreed to build a gas hub.",
         "Erdogan, who visited Sochi on August 5, was received by Putin."),
        ("What was decided at the summit?", "The summit adopted a joint statement on transit.",
         "The summit took place in Samarkand on September 15."),
        ("О чём договорились Путин и Токаев?", "Стороны подписали соглашение о транзите.",
         "Путин встретил Токаева в аэропорту."),
        ("What post does Sergey Naryshkin hold?", "The SVR Chief Sergey Naryshkin said his agency knew.",
         "Sergey Naryshkin said that the disturbances had been foreseen."),
        ("What position did Nazarbayev keep after 2019?", "Nazarbayev stayed chairman of the Security Council.",
         "Nazarbayev's successor chose Moscow for his first trip."),
        ("Какую должность занимает Нарышкин?", "Director of the SVR Sergey Naryshkin spoke on Friday.",
         "Naryshkin spoke on Friday about the January events."),
    ],
)
def test_a_birth_a_death_an_agreement_or_a_post_is_answered_only_by_a_sentence_that_reports_one(
    question: str, answering: str, not_answering: str
) -> None:
    assert holds_asked_unit(question, answering)
    assert not holds_asked_unit(question, not_answering)


@pytest.mark.parametrize("question", ["Who was born in Omsk?", "How old is the pipeline?", "What did Putin say?",
                                      "Why did the talks last so long?", "Сколько лет длится конфликт?",
                                      "What role did the CSTO play?", "Which post office was closed?",
                                      "What title of the article was used?"])
def test_other_questions_want_no_birth_death_agreement_or_post(question: str) -> None:
    assert holds_asked_unit(question, "The pipeline was built in 1970 and Putin spoke for an hour.")


@pytest.mark.parametrize(
    ("question", "outcome"),
    [
        ("What was decided at the summit in Samarkand?", True),
        ("What came out of the talks in Baku?", True),
        ("What did Putin and Erdogan agree on in Sochi?", True),
        ("Чем закончились переговоры в Баку?", True),
        ("When was the summit in Samarkand planned?", False),
        ("Which leader was he going to meet in Baku?", False),
    ],
)
def test_which_questions_ask_what_an_event_led_to(question: str, outcome: bool) -> None:
    assert asks_outcome(question) is outcome


def test_which_sentences_speak_of_something_still_to_come() -> None:
    assert still_to_come("The summit in Samarkand, scheduled for September, may bring them together.")
    assert still_to_come("There are still 5 days before the trip to Baku.")
    assert still_to_come("Putin will arrive in Astana in October.")
    assert still_to_come("Саммит состоится в сентябре.")
    assert not still_to_come("The leaders agreed on a new pipeline in Sochi.")
    # An outcome about the future is an outcome all the same.
    assert not still_to_come("They agreed that the exercises will be held in October.")
    assert still_to_come("Documents will be signed at the summit.")


def test_language() -> None:
    assert language("Кто встретил Токаева?") == "ru"
    assert language("Who met Tokayev?") == "en"


def test_a_pronoun_refers_back_to_the_conversation() -> None:
    assert refers_back("What did he say Tokayev was really doing?")
    assert refers_back("In which year does Kazakhstan chair it?")
    assert refers_back("Что он думает о заявлениях Токаева?")
    assert not refers_back("What did Karasev say about the forum?")
    assert not refers_back("Сколько документов подписали в Москве?")


@pytest.mark.parametrize(
    ("question", "counted"),
    [
        ("How many wagons of coal were blocked?", "wagons"),
        ("How many documents did they sign?", "documents"),
        ("How many bodyguards surrounded the president?", "bodyguards"),  # any verb after the counted things
        ("How much money was sent?", None),
    ],
)
def test_what_a_count_question_counts(question: str, counted: str | None) -> None:
    assert counted_noun(question) == counted
