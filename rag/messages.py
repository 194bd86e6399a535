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
    "not_yet": {
        "en": "The articles speak of it only as something still to come",
        "ru": "в статьях об этом говорится лишь как о предстоящем",
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
    # Questions about the articles themselves (rag/about.py).
    "about_author": {"en": "“{title}” was written by {value}.", "ru": "Автор статьи «{title}» — {value}."},
    "about_outlet": {
        "en": "“{title}” was published by {value}.",
        "ru": "Статью «{title}» опубликовало издание {value}.",
    },
    "about_published": {"en": "“{title}” was published on {value}.", "ru": "Статья «{title}» опубликована {value}."},
    "about_url": {"en": "The address of “{title}” is {value}.", "ru": "Адрес статьи «{title}»: {value}."},
    "about_no_author": {
        "en": "The article “{title}” does not say who wrote it.",
        "ru": "В статье «{title}» не сказано, кто её автор.",
    },
    "about_no_outlet": {
        "en": "The article “{title}” does not say where it was published.",
        "ru": "В статье «{title}» не сказано, где она опубликована.",
    },
    "about_no_published": {
        "en": "The article “{title}” does not say when it was published.",
        "ru": "В статье «{title}» не сказано, когда она опубликована.",
    },
    "about_no_url": {
        "en": "The article “{title}” does not give its web address.",
        "ru": "В статье «{title}» не указан её адрес.",
    },
    "about_none_author": {
        "en": "None of the articles says who wrote it.",
        "ru": "Ни в одной статье не сказано, кто её автор.",
    },
    "about_none_outlet": {
        "en": "None of the articles says where it was published.",
        "ru": "Ни в одной статье не сказано, где она опубликована.",
    },
    "about_none_published": {
        "en": "None of the articles says when it was published.",
        "ru": "Ни в одной статье не сказано, когда она опубликована.",
    },
    "about_none_url": {"en": "None of the articles gives its web address.", "ru": "Ни в одной статье не указан адрес."},
    "about_silent_author": {"en": "Not stated for {titles}.", "ru": "Не указан автор: {titles}."},
    "about_silent_outlet": {"en": "Not stated for {titles}.", "ru": "Не указано издание: {titles}."},
    "about_silent_published": {"en": "Not stated for {titles}.", "ru": "Не указана дата: {titles}."},
    "about_silent_url": {"en": "Not stated for {titles}.", "ru": "Не указан адрес: {titles}."},
    "about_summary": {"en": "“{title}”:", "ru": "«{title}»:"},
    "about_no_article": {"en": "No article matches the question.", "ru": "Ни одна статья не подходит к вопросу."},
    "about_list": {"en": "There are {count} articles: {titles}.", "ru": "Статей: {count}: {titles}."},
    "about_count": {"en": "There are {count} articles: {titles}.", "ru": "Всего статей: {count}: {titles}."},
    "about_mentions": {
        "en": "{count} article(s) mention “{term}”:",
        "ru": "«{term}» упоминается в статьях ({count}):",
    },
    "about_no_mention": {
        "en": "None of the articles mentions “{term}”.",
        "ru": "Ни в одной статье не упоминается «{term}».",
    },
}


def say(key: str, lang: str, **fields: Any) -> str:
    """The text for `key` in `lang` ("en" or "ru"), with `fields` filled in."""
    texts = TEXTS[key]
    return texts.get(lang, texts["en"]).format(**fields)
