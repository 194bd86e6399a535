"""Every sentence the engine writes into an answer that is not quoted from an article: refusals and their
reasons, notices, index states. In English and Russian; a question in Russian gets the whole text in Russian.

`say(key, lang, **fields)` renders one; keys are the codes the stages return (rag/extract.py refusal
reasons, rag/generate.py `LLMError.code`).

Not here: messages about bad requests (QuestionError, raised before answering) or the UI's own labels.
"""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    # Refusal, with one of the reasons below.
    "refusal": {
        "en": "The articles don't say. ({reason}.) The closest passages are listed below.",
        "ru": "В статьях нет ответа на этот вопрос ({reason}). Ниже — самые близкие фрагменты.",
    },
    "part_refused": {
        "en": "The articles don't answer “{part}”.",
        "ru": "В статьях нет ответа на вопрос «{part}».",
    },
    "injection": {
        "en": "The question asks to change instructions, not about the articles",
        "ru": "вопрос просит изменить инструкции, а не спрашивает о статьях",
    },
    "no_passage": {
        "en": "No passage of the articles matches the question",
        "ru": "ни один фрагмент статей не подходит к вопросу",
    },
    "too_far": {
        "en": "No passage of the articles is close enough in meaning",
        "ru": "ни один фрагмент статей не близок к вопросу по смыслу",
    },
    "not_mentioned": {
        "en": "The articles do not mention what the question is about",
        "ru": "в статьях не упоминается то, о чём спрашивается",
    },
    "wrong_type": {
        "en": "The passages do not contain what the question asks for",
        "ru": "во фрагментах нет того, что спрашивается",
    },
    "model_refused": {
        "en": "The model found no answer in the passages",
        "ru": "модель не нашла ответа во фрагментах",
    },
    # Notices: the answer stands, with something the reader should know.
    "fallback": {
        "en": "{why}; showing the extractive answer instead.",
        "ru": "{why}; показан ответ, извлечённый из статей.",
    },
    "rewrite_failed": {
        "en": "{why}; the follow-up was resolved without the LLM.",
        "ru": "{why}; уточняющий вопрос понят без помощи LLM.",
    },
    "verification_removed": {
        "en": "Verification removed {sentences} unsupported sentence(s) and {markers} citation(s) the passages "
        "do not back.",
        "ru": "Проверка удалила неподтверждённых предложений: {sentences}, ссылок, которые фрагменты не "
        "подтверждают: {markers}.",
    },
    "llm_injection": {
        "en": "the LLM answer relied on a passage that gives instructions to the model",
        "ru": "ответ LLM опирался на фрагмент, который даёт указания модели",
    },
    "llm_off_question": {
        "en": "the LLM answer does not address the question",
        "ru": "ответ LLM не относится к вопросу",
    },
    "degraded": {
        "en": "The vector index returned nothing, so this answer comes from keyword matches alone; run `rag ingest` "
        "to repair the index.",
        "ru": "Векторный индекс ничего не вернул, поэтому ответ найден только по ключевым словам; выполните "
        "`rag ingest`, чтобы восстановить индекс.",
    },
    "llm_empty": {"en": "the LLM returned an empty answer", "ru": "LLM вернула пустой ответ"},
    "llm_uncited": {
        "en": "the LLM answer had no verifiable citation",
        "ru": "в ответе LLM нет ни одной подтверждённой ссылки",
    },
    # LLMError codes (rag/generate.py).
    "llm_timeout": {"en": "the LLM endpoint timed out", "ru": "LLM не ответила вовремя"},
    "llm_slow": {"en": "the LLM endpoint took too long to answer", "ru": "LLM отвечала слишком долго"},
    "llm_unreachable": {"en": "the LLM endpoint is unreachable", "ru": "LLM недоступна"},
    "llm_http": {"en": "the LLM endpoint returned HTTP {status}", "ru": "LLM вернула ошибку HTTP {status}"},
    "llm_unusable": {
        "en": "the LLM endpoint sent an unusable reply ({detail})",
        "ru": "LLM прислала непригодный ответ ({detail})",
    },
    "llm_rewrite": {
        "en": "question rewrite failed ({detail})",
        "ru": "не удалось переформулировать вопрос ({detail})",
    },
}


def say(key: str, lang: str, **fields: Any) -> str:
    """The text for `key` in `lang` ("en" or "ru"), with `fields` filled in."""
    texts = TEXTS[key]
    return texts.get(lang, texts["en"]).format(**fields)
