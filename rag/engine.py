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

import numpy as np

from ingest.chunk import sentence_id
from rag.answer import Answer, Source
from rag.errors import QuestionError
from rag.extract import IdfTable, candidates, cite, extract, passage_evidence
from rag.generate import NOT_IN_SOURCES, Generator, LLMError
from rag.retrieve import Corpus, Retriever
from rag.settings import Settings
from rag.text import has_cyrillic, term_set
from rag.verify import Evidence, verify

FOLLOW_UP_MAX_TERMS = 4  # a question with this many content terms is taken as self-contained

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
        raise QuestionError(
            f"the question is too long ({len(question)} characters; the limit is {max_chars})"
        )
    # Cc/Cf: control and format characters; Cs: lone surrogates, which are not text at all.
    controls = [c for c in question if unicodedata.category(c) in ("Cc", "Cf", "Cs") and c not in "\n\t\u200d"]
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
        self._llm: Generator | None = None

    # -- ingestion ---------------------------------------------------------------------------------
    def ingest(self, paths: Sequence[Path] | None = None, show_progress: bool = False) -> Any:
        from ingest import ingest

        return ingest(
            self.settings, paths, show_progress=show_progress, embed_model=self.retriever.embed_model
        )

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

    def ask(
        self,
        question: str,
        doc_ids: list[str] | None = None,
        top_k: int | None = None,
        mode: str | None = None,
    ) -> Answer:
        return _final_answer(self.stream(question, doc_ids=doc_ids, top_k=top_k, mode=mode))

    def chat(
        self,
        messages: list[dict[str, str]],
        doc_ids: list[str] | None = None,
        top_k: int | None = None,
        mode: str | None = None,
    ) -> Answer:
        return _final_answer(self.stream_chat(messages, doc_ids=doc_ids, top_k=top_k, mode=mode))

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        doc_ids: list[str] | None = None,
        top_k: int | None = None,
        mode: str | None = None,
    ) -> Iterator[str | Answer]:
        if not messages or messages[-1].get("role") != "user":
            raise QuestionError("the last message must be the user's question")
        question = validate_question(messages[-1].get("content"), self.settings.max_question_chars)
        history = [m for m in messages[:-1] if m.get("role") in ("user", "assistant")]
        yield from self.stream(question, doc_ids=doc_ids, top_k=top_k, history=history, mode=mode)

    def stream(
        self,
        question: str,
        doc_ids: list[str] | None = None,
        top_k: int | None = None,
        history: list[dict[str, str]] | None = None,
        mode: str | None = None,
    ) -> Iterator[str | Answer]:
        """Yield answer text as it is produced, then the final `Answer` (whose text is authoritative:
        verification may remove what was streamed)."""
        question = validate_question(question, self.settings.max_question_chars)
        use_llm = self._use_llm(mode)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        corpus = self.retriever.corpus()
        if corpus.empty:
            text = EMPTY_INDEX.format(corpus=self.settings.corpus_dir)
            yield text
            yield Answer(text=text, refused=True, question=question, timings={"total": 0.0})
            return

        mark = time.perf_counter()
        search_query, rewrite_notice = self._standalone(question, history or [], use_llm)
        if search_query != question:
            timings["rewrite"] = _ms(mark)
        mark = time.perf_counter()
        query_vector = self.retriever.embed_query(search_query)
        timings["embed"] = _ms(mark)
        mark = time.perf_counter()
        sources = self.retriever.retrieve(search_query, k=top_k, doc_ids=doc_ids, query_vector=query_vector)
        timings["retrieve"] = _ms(mark)

        mark = time.perf_counter()
        # Meaning comes from the (possibly expanded) search query; words and question type from what the
        # user asked now; what earlier answers already quoted is not repeated.
        said = " ".join(m.get("content", "") for m in history or [] if m.get("role") == "assistant")
        idf = self._idf_table(corpus)
        cands = candidates(question, sources, corpus, idf, query_vector, self.retriever.sentence_vectors, said)
        evidence = passage_evidence(question, sources, idf)
        extractive = self._extractive_answer(question, extract(question, cands, evidence), sources)
        timings["extract"] = _ms(mark)
        if not use_llm:
            extractive.timings = {**timings, "total": _ms(started)}
            extractive.notice = rewrite_notice
            yield extractive.text
            yield extractive
            return

        mark = time.perf_counter()
        pieces: list[str] = []
        try:
            for piece in self._generator().stream(search_query, sources):
                if not pieces:
                    timings["first_token"] = _ms(mark)
                pieces.append(piece)
                yield piece
        except LLMError as exc:
            timings["generate"] = _ms(mark)
            extractive.notice = f"{exc}; showing the extractive answer instead."
            extractive.timings = {**timings, "total": _ms(started)}
            yield extractive
            return
        timings["generate"] = _ms(mark)
        mark = time.perf_counter()
        answer = self._checked_llm_answer(question, "".join(pieces).strip(), sources, corpus, extractive)
        timings["verify"] = _ms(mark)
        answer.timings = {**timings, "total": _ms(started)}
        yield answer

    def _use_llm(self, mode: str | None) -> bool:
        if mode not in (None, "llm", "extractive"):
            raise QuestionError(f"unknown answer mode {mode!r}: use 'extractive' or 'llm'")
        if mode == "llm" and not self.settings.llm_enabled:
            raise QuestionError("LLM mode needs an endpoint: set RAG_LLM_BASE_URL and/or OPENAI_API_KEY")
        return mode == "llm" or (mode is None and self.settings.llm_enabled)

    def _generator(self) -> Generator:
        if self._llm is None:
            self._llm = Generator(self.settings)
        return self._llm

    def _checked_llm_answer(
        self, question: str, raw: str, sources: list[Source], corpus: Corpus, extractive: Answer
    ) -> Answer:
        if NOT_IN_SOURCES in raw:
            return Answer(
                text=refusal_text(question, "the model found no answer in the passages"),
                refused=True,
                sources=sources,
                mode="llm",
                question=question,
            )
        checked = verify(raw, sources, corpus, self._similarity)
        if not raw or not checked.citations:
            why = (
                "the LLM returned an empty answer" if not raw else "the LLM answer had no verifiable citation"
            )
            extractive.notice = f"{why}; showing the extractive answer instead."
            return extractive
        notice = None
        if checked.dropped or checked.removed_markers:
            notice = (
                f"Verification removed {len(checked.dropped)} unsupported sentence(s) and "
                f"{checked.removed_markers} citation(s) the passages do not back."
            )
        return Answer(
            text=checked.text,
            refused=False,
            citations=checked.citations,
            sources=sources,
            mode="llm",
            notice=notice,
            question=question,
        )

    def _similarity(self, claim: str, evidence: Sequence[Evidence]) -> np.ndarray:
        """Cosine of the claim (as a query) to each evidence sentence's stored vector."""
        query = self.retriever.embed_query(claim)
        ids = [sentence_id(e.doc_id, e.start, e.text) for e in evidence]
        vectors = self.retriever.sentence_vectors(ids)
        return np.array([float(vectors[i] @ query) if i in vectors else 0.0 for i in ids])

    def _extractive_answer(self, question: str, extraction: Any, sources: list[Source]) -> Answer:
        if not extraction.answerable:
            return Answer(
                text=refusal_text(question, extraction.reason),
                refused=True,
                sources=sources,
                question=question,
            )
        text, citations = cite(extraction.chosen)
        return Answer(text=text, refused=False, citations=citations, sources=sources, question=question)

    def _standalone(
        self, question: str, history: list[dict[str, str]], use_llm: bool
    ) -> tuple[str, str | None]:
        """A follow-up made searchable on its own, and a notice if the LLM rewrite failed.

        With an LLM, the model rewrites the question from the conversation. Without one, the previous user
        turn is appended when the question is short: a follow-up ("Who announced it?") shares few content
        terms with the passage that answers it, and the topic lives in the previous question.
        """
        previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
        if not previous:
            return question, None
        if use_llm:
            try:
                return self._generator().rewrite(question, history), None
            except LLMError as exc:
                notice = f"{exc}; the follow-up was resolved without the LLM."
        else:
            notice = None
        if len(term_set(question)) >= FOLLOW_UP_MAX_TERMS:
            return question, notice
        return f"{question} {previous[-1]}", notice


def _final_answer(events: Iterator[str | Answer]) -> Answer:
    """Drain a stream: the last event is the Answer."""
    answer = None
    for event in events:
        answer = event
    assert isinstance(answer, Answer)
    return answer


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
