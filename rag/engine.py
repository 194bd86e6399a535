"""`RAG`: the library entry point. Validates a question, retrieves, answers (extractively or with an LLM),
verifies, and times each stage.

    engine = RAG()                       # settings from the environment
    engine.ingest()                      # sync the corpus folder into the index
    answer = engine.ask("question")      # -> Answer
    answer = engine.chat(messages)       # OpenAI-style history; the last user message is the question
    for event in engine.stream("question"): ...   # str pieces, then the final Answer

Not here: how passages are found (rag/retrieve.py), chosen (rag/extract.py), generated (rag/generate.py)
or checked (rag/verify.py).
"""

from __future__ import annotations

import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.answer import Answer, Source
from rag.errors import QuestionError
from rag.extract import IdfTable, candidates, cite, extract
from rag.retrieve import Corpus, Retriever
from rag.settings import Settings
from rag.text import has_cyrillic, term_set

EMPTY_INDEX = (
    "The index is empty: no articles have been ingested yet. Put .txt, .md or .html files in {corpus} "
    "and run `rag ingest` (or add them from the app)."
)


def validate_question(question: Any, max_chars: int) -> str:
    """The question, stripped; or a QuestionError that says what is wrong with it."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    question = question.strip()
    if not question:
        raise QuestionError("the question is empty")
    if len(question) > max_chars:
        raise QuestionError(f"the question is too long ({len(question)} characters; the limit is {max_chars})")
    controls = [c for c in question if unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t\u200d"]
    if controls:
        raise QuestionError("the question contains control characters")
    return question


def refusal_text(question: str, reason: str) -> str:
    if has_cyrillic(question):
        return f"В статьях нет ответа на этот вопрос ({reason}). Ниже — самые близкие фрагменты."
    return f"The articles don't say. ({reason.capitalize()}.) The closest passages are listed below."


class RAG:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.retriever = Retriever(self.settings)
        self._idf: tuple[str, IdfTable] | None = None
        self._idf_lock = threading.Lock()

    # -- ingestion ---------------------------------------------------------------------------------
    def ingest(self, paths: Sequence[Path] | None = None, show_progress: bool = False) -> Any:
        from ingest import ingest

        return ingest(self.settings, paths, show_progress=show_progress, embed_model=self.retriever.embed_model)

    def documents(self) -> list[dict[str, Any]]:
        """The indexed articles: doc_id, title, source and chunk count."""
        corpus = self.retriever.corpus()
        counts: dict[str, int] = {}
        for chunk in corpus.bm25.chunks:
            counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
        return [
            {"doc_id": d.doc_id, "title": d.title, "source": d.source, "chunks": counts.get(d.doc_id, 0)}
            for d in sorted(corpus.documents.values(), key=lambda d: d.title.lower())
        ]

    # -- answering ---------------------------------------------------------------------------------
    def _idf_table(self, corpus: Corpus) -> IdfTable:
        with self._idf_lock:
            if self._idf is None or self._idf[0] != corpus.version:
                self._idf = (corpus.version, IdfTable(corpus))
            return self._idf[1]

    def ask(self, question: str, doc_ids: list[str] | None = None, top_k: int | None = None) -> Answer:
        answer = None
        for event in self.stream(question, doc_ids=doc_ids, top_k=top_k):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def chat(self, messages: list[dict[str, str]], doc_ids: list[str] | None = None,
             top_k: int | None = None) -> Answer:
        answer = None
        for event in self.stream_chat(messages, doc_ids=doc_ids, top_k=top_k):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream_chat(self, messages: list[dict[str, str]], doc_ids: list[str] | None = None,
                    top_k: int | None = None) -> Iterator[str | Answer]:
        if not messages or messages[-1].get("role") != "user":
            raise QuestionError("the last message must be the user's question")
        question = validate_question(messages[-1].get("content"), self.settings.max_question_chars)
        history = [m for m in messages[:-1] if m.get("role") in ("user", "assistant")]
        yield from self.stream(question, doc_ids=doc_ids, top_k=top_k, history=history)

    def stream(self, question: str, doc_ids: list[str] | None = None, top_k: int | None = None,
               history: list[dict[str, str]] | None = None) -> Iterator[str | Answer]:
        """Yield answer text as it is produced, then the final `Answer`."""
        question = validate_question(question, self.settings.max_question_chars)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        corpus = self.retriever.corpus()
        if corpus.empty:
            text = EMPTY_INDEX.format(corpus=self.settings.corpus_dir)
            yield text
            yield Answer(text=text, refused=True, question=question, timings={"total": 0.0})
            return

        search_query = self._standalone(question, history or [])
        mark = time.perf_counter()
        query_vector = self.retriever.embed_query(search_query)
        timings["embed"] = _ms(mark)
        mark = time.perf_counter()
        sources = self.retriever.retrieve(search_query, k=top_k, doc_ids=doc_ids, query_vector=query_vector)
        timings["retrieve"] = _ms(mark)

        mark = time.perf_counter()
        cands = candidates(question if search_query == question else search_query, sources, corpus,
                           self._idf_table(corpus), query_vector, self.retriever.sentence_vectors)
        extraction = extract(search_query, cands)
        timings["extract"] = _ms(mark)
        answer = self._extractive_answer(question, extraction, sources)
        answer.timings = {**timings, "total": _ms(started)}
        yield answer.text
        yield answer

    def _extractive_answer(self, question: str, extraction: Any, sources: list[Source]) -> Answer:
        if not extraction.answerable:
            return Answer(text=refusal_text(question, extraction.reason), refused=True, sources=sources,
                          question=question)
        text, citations = cite(extraction.chosen)
        return Answer(text=text, refused=False, citations=citations, sources=sources, question=question)

    def _standalone(self, question: str, history: list[dict[str, str]]) -> str:
        """A follow-up made searchable on its own: the earlier user turns' salient terms are carried over.

        A follow-up ("Who announced it?") shares few content terms with the passage that answers it; the
        topic lives in the previous question. Carrying the last user turn's words keeps retrieval on topic.
        """
        previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
        if not previous:
            return question
        own_terms = term_set(question)
        if len(own_terms) >= 4:  # a self-contained question needs no help
            return question
        return f"{question} {previous[-1]}"


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
