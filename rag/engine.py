"""`RAG`: the library entry point. Takes a validated request (rag/request.py), then runs the stages
retrieve → extract → (generate → verify), timing each one.

    engine = RAG()                       # settings from the environment
    engine.ingest()                      # sync the corpus folder into the index
    answer = engine.ask("question")      # -> Answer
    answer = engine.chat(messages)       # OpenAI-style history; the last user message is the question
    for event in engine.stream("question"): ...   # str pieces, then the final Answer

Not here: how passages are found (rag/retrieve.py), chosen (rag/extract.py), generated (rag/generate.py)
or checked (rag/verify.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ingest import IngestSummary, Progress, ingest
from rag import about
from rag.answer import Answer, Source
from rag.extract import (
    ANSWER_SENTENCES,
    PART_SENTENCES,
    Candidate,
    Extraction,
    IdfTable,
    candidates,
    clearest_first,
    extract,
    passage_evidence,
)
from rag.generate import NOT_IN_SOURCES, Generator, LLMError
from rag.messages import say
from rag.question import language, parts, refers_back
from rag.quote import cite
from rag.request import Message, Request
from rag.retrieve import Retriever, passage_source
from rag.verify import answer_problem, verify
from store.corpus import Corpus
from store.errors import QuestionError
from store.records import ABOUT_KEYS, Sentence
from store.settings import Settings
from store.text import term_set

SELF_CONTAINED_MIN_TERMS = 4  # a follow-up with at least this many content terms is searched as it is
# Sentences closest in meaning to the question anywhere in the corpus join the retrieved passages' sentences as
# answer candidates: a passage's pooled vector can rank it out of the top k while one of its sentences says
# exactly what was asked. Dev accuracy 0.757 → 0.762, untouched split 0.356 → 0.378 (10: the same), refusal F1
# 0.724 → 0.702 (one unanswerable question answered); 2 ms more per question.
NEAR_SENTENCES = 5

EMPTY_INDEX = (
    "The index is empty: no articles have been ingested yet. Put .txt, .md or .html files in {corpus} "
    "and run `rag ingest` (or add them from the app)."
)
OUTDATED_INDEX = (
    "The index was written by an older version of article-qa. Run `rag ingest` to bring it up to date "
    "(the app does this by itself when it starts)."
)


def refusal_text(question: str, reason: str) -> str:
    lang = language(question)
    return say("refusal", lang, reason=say(reason, lang))


class Stopwatch:
    """Milliseconds per stage of one answer, and the total since it was created."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.lap(name, started)

    def lap(self, name: str, since: float) -> None:
        self.timings[name] = round((time.perf_counter() - since) * 1000, 2)

    def total(self) -> dict[str, float]:
        return {**self.timings, "total": round((time.perf_counter() - self.started) * 1000, 2)}


@dataclass(frozen=True)
class Retrieval:
    """What the retrieve stage found for a request."""

    query: str  # what was searched: the question, or a follow-up made standalone
    vector: np.ndarray
    sources: list[Source]
    notice: str | None  # e.g. the LLM rewrite of a follow-up failed


class RAG:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.retriever = Retriever(self.settings)
        self._idf: tuple[str | None, IdfTable] | None = None
        self._idf_lock = threading.Lock()
        self._llm: Generator | None = None

    # -- ingestion ---------------------------------------------------------------------------------
    def ingest(
        self, paths: Sequence[Path] | None = None, progress: Callable[[Progress], None] | None = None
    ) -> IngestSummary:
        return ingest(self.settings, paths, progress=progress, embed_model=self.retriever.embed_model)

    def documents(self) -> list[dict[str, Any]]:
        """The indexed articles: doc_id, title, source, chunk count, the author, author_role, outlet, published
        (ISO date) and url each states, and `instructions`: a sentence addressed to a language model, if any
        (None where there is none)."""
        corpus = self.retriever.corpus()
        counts: dict[str, int] = {}
        for chunk in corpus.bm25.chunks:
            counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
        return [
            {"doc_id": d.doc_id, "title": d.title, "source": d.source, "chunks": counts.get(d.doc_id, 0),
             **{key: d.meta.get(key) for key in ABOUT_KEYS}}
            for d in sorted(corpus.documents.values(), key=lambda d: d.title.lower())
        ]

    # -- answering ---------------------------------------------------------------------------------
    def request(self, question: Any, doc_ids: Any = None, top_k: Any = None, history: Any = None,
                mode: Any = None) -> Request:
        """A validated request with this engine's question length limit."""
        return Request.parse(question, doc_ids, top_k, history, mode, max_chars=self.settings.max_question_chars)

    def ask(self, question: str | Request, doc_ids: list[str] | None = None, top_k: int | None = None,
            mode: str | None = None) -> Answer:
        return _final_answer(self.stream(question, doc_ids=doc_ids, top_k=top_k, mode=mode))

    def chat(self, messages: list[Message], doc_ids: list[str] | None = None, top_k: int | None = None,
             mode: str | None = None) -> Answer:
        return _final_answer(self.stream_chat(messages, doc_ids=doc_ids, top_k=top_k, mode=mode))

    def stream_chat(self, messages: list[Message], doc_ids: list[str] | None = None, top_k: int | None = None,
                    mode: str | None = None) -> Iterator[str | Answer]:
        request = Request.from_messages(messages, doc_ids, top_k, mode, max_chars=self.settings.max_question_chars)
        return self.stream(request)

    def stream(self, question: str | Request, doc_ids: list[str] | None = None, top_k: int | None = None,
               history: list[Message] | None = None, mode: str | None = None) -> Iterator[str | Answer]:
        """Yield answer text as it is produced, then the final `Answer` (whose text is authoritative:
        verification may remove what was streamed). Raises QuestionError for a bad request."""
        request = question if isinstance(question, Request) else self.request(question, doc_ids, top_k, history, mode)
        use_llm = self._use_llm(request.mode)
        corpus = self.retriever.corpus()
        self._check_doc_ids(request, corpus)
        return self._answer(request, corpus, use_llm)

    def _answer(self, request: Request, corpus: Corpus, use_llm: bool) -> Iterator[str | Answer]:
        watch = Stopwatch()
        if corpus.empty:
            text = OUTDATED_INDEX if corpus.outdated else EMPTY_INDEX.format(corpus=self.settings.corpus_dir)
            yield text
            yield Answer(text=text, refused=True, question=request.question, timings={"total": 0.0})
            return
        asked = about.intent(request.question)
        if asked is not None:  # about the articles themselves: exact from the stored metadata and texts
            yield from self._about_answer(asked, request, corpus, use_llm, watch)
            return
        found = self._retrieve(request, use_llm, watch)
        with watch.stage("extract"):
            extractive = self._extract(request, found, corpus)
        if not use_llm:
            answer = self._flag_degraded(replace(extractive, notice=found.notice, timings=watch.total()), found)
            yield answer.text
            yield answer
            return
        for event in self._generate(request, found, corpus, extractive, watch):
            yield self._flag_degraded(event, found) if isinstance(event, Answer) else event

    def _about_answer(self, asked: about.Intent, request: Request, corpus: Corpus, use_llm: bool,
                      watch: Stopwatch) -> Iterator[str | Answer]:
        """A question about the articles (rag/about.py). In LLM mode a summary is written by the model from the
        sentences the extractive summary chose, and verified like any answer (that summary stands in if the
        model fails or its answer is rejected); metadata and corpus answers are exact and stay as they are."""
        search = replace(request, question=asked.topic, history=())  # the words naming the article
        sources = self._retrieve(search, False, watch).sources if asked.needs_search else []
        with watch.stage("extract"):
            answer = about.answer(asked, request.question, corpus, sources, request.doc_ids,
                                  self.retriever.sentence_vectors)
        answer = replace(answer, timings=watch.total())
        if use_llm and asked.kind == "summary" and answer.citations:
            chosen = [Source(f"{c.doc_id}@{c.start_char}", c.doc_id, c.title, c.quote, c.start_char, c.end_char,
                             1.0) for c in answer.citations]
            yield from self._generate(request, Retrieval(request.question, np.zeros(0), chosen, None), corpus,
                                      answer, watch)
            return
        yield answer.text
        yield answer

    @staticmethod
    def _flag_degraded(answer: Answer, found: Retrieval) -> Answer:
        """Passages found by keywords alone mean the vector search returned nothing (an emptied or unreachable
        vector index): the answer says so instead of silently answering worse."""
        if not found.sources or any(s.dense_rank is not None for s in found.sources):
            return answer
        notice = say("degraded", language(answer.question or found.query))
        return replace(answer, degraded=True, notice=f"{answer.notice} {notice}" if answer.notice else notice)

    def _retrieve(self, request: Request, use_llm: bool, watch: Stopwatch) -> Retrieval:
        with watch.stage("rewrite"):
            query, notice = self._standalone(request.question, request.history, use_llm)
        if query == request.question:
            del watch.timings["rewrite"]
        with watch.stage("embed"):
            vector = self.retriever.embed_query(query)
        with watch.stage("retrieve"):
            doc_ids = list(request.doc_ids) if request.doc_ids else None
            sources = self.retriever.retrieve(query, k=request.top_k, doc_ids=doc_ids, query_vector=vector)
        return Retrieval(query, vector, sources, notice)

    def _extract(self, request: Request, found: Retrieval, corpus: Corpus) -> Answer:
        """The extractive answer (or refusal); a question that asks several things is answered part by part,
        each part searched on its own (with the first part as context when it is short)."""
        questions = parts(request.question)
        if len(questions) == 1:
            extraction = self._extraction(request, request.question, found, corpus)
            return self._extractive_answer(request.question, [extraction], found.sources, corpus)
        sources, searched = list(found.sources), []
        for part in questions:
            query = part if part == questions[0] else self._with_context(part, questions[0])
            vector = self.retriever.embed_query(query)
            doc_ids = list(request.doc_ids) if request.doc_ids else None
            part_sources = self.retriever.retrieve(query, k=request.top_k, doc_ids=doc_ids, query_vector=vector)
            searched.append(Retrieval(query, vector, part_sources, None))
            seen = {s.chunk_id for s in sources}
            sources += [s for s in part_sources if s.chunk_id not in seen]
        # A part does not quote again what a part answered before it quoted: its own answer would be lost in the
        # citation of the same sentence (dev: one multi-part question gained, untouched split unchanged). Parts are
        # answered clearest first, so that of two parts that want one sentence the one it answers more clearly
        # keeps it (dev accuracy 0.868 → 0.872, one gained, none lost; untouched split unchanged).
        alone = [self._extraction(request, part, found_part, corpus, PART_SENTENCES)
                 for part, found_part in zip(questions, searched, strict=True)]
        extractions: dict[int, Extraction] = {}
        for i in clearest_first(alone):
            quoted = " ".join(c.text for e in extractions.values() for c in e.chosen)
            extractions[i] = (self._extraction(request, questions[i], searched[i], corpus, PART_SENTENCES, quoted)
                              if quoted else alone[i])
        return self._extractive_answer(request.question, [extractions[i] for i in range(len(questions))], sources,
                                       corpus, questions)

    def _extraction(self, request: Request, question: str, found: Retrieval, corpus: Corpus,
                    most: int = ANSWER_SENTENCES, quoted: str = "") -> Extraction:
        """Meaning comes from the (possibly expanded) search query; words and question type from what the user
        asked now; what earlier answers (and earlier parts, `quoted`) already quoted is not repeated."""
        said = " ".join([*(m["content"] for m in request.history if m["role"] == "assistant"), quoted])
        idf = self._idf_table(corpus)
        doc_ids = list(request.doc_ids) if request.doc_ids else None
        near = self.retriever.near_sentences(found.vector, NEAR_SENTENCES, doc_ids, corpus) if found.vector.size else []
        cands = candidates(question, found.sources, corpus, idf, found.vector, self.retriever.sentence_vectors, said,
                           near, self.retriever.hubness)
        evidence = passage_evidence(question, found.sources, idf, cands, found.query)
        return extract(question, cands, evidence, corpus, most)

    def _generate(self, request: Request, found: Retrieval, corpus: Corpus, extractive: Answer,
                  watch: Stopwatch) -> Iterator[str | Answer]:
        """Stream the LLM's answer, then verify it; the extractive answer stands in if the endpoint fails."""
        pieces: list[str] = []
        started = time.perf_counter()
        try:
            with watch.stage("generate"):
                for piece in self._generator().stream(found.query, found.sources):
                    if not pieces:
                        watch.lap("first_token", started)
                    pieces.append(piece)
                    yield piece
        except LLMError as exc:
            lang = language(request.question)
            notice = say("fallback", lang, why=say(exc.code, lang, **exc.fields))
            yield replace(extractive, notice=notice, timings=watch.total())
            return
        with watch.stage("verify"):
            answer = self._checked_llm_answer(request.question, "".join(pieces).strip(), found.sources, corpus,
                                              extractive)
        yield replace(answer, timings=watch.total())

    def _check_doc_ids(self, request: Request, corpus: Corpus) -> None:
        unknown = set(request.doc_ids or ()) - set(corpus.documents)
        if unknown and not corpus.empty:
            raise QuestionError(f"unknown article id(s): {', '.join(sorted(unknown))}")

    def _idf_table(self, corpus: Corpus) -> IdfTable:
        with self._idf_lock:
            if self._idf is None or self._idf[0] != corpus.version:
                self._idf = (corpus.version, IdfTable(corpus))
            return self._idf[1]

    def _use_llm(self, mode: str | None) -> bool:
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
        lang = language(question)
        if NOT_IN_SOURCES in raw:
            text = refusal_text(question, "model_refused")
            return Answer(text=text, refused=True, sources=sources, mode="llm", question=question)
        checked = verify(raw, sources, corpus, self._similarity)
        if not raw or not checked.citations:
            why = say("llm_empty" if not raw else "llm_uncited", lang)
            return replace(extractive, notice=say("fallback", lang, why=why))
        problem = answer_problem(question, checked, sources)
        if problem:
            return replace(extractive, notice=say("fallback", lang, why=say(problem, lang)))
        notice = None
        if checked.dropped or checked.removed_markers:
            notice = say("verification_removed", lang, sentences=len(checked.dropped),
                         markers=checked.removed_markers)
        return Answer(text=checked.text, refused=False, citations=checked.citations, sources=sources, mode="llm",
                      notice=notice, question=question)

    def _similarity(self, claim: str, sentences: Sequence[Sentence]) -> np.ndarray:
        """Cosine of the claim (as a query) to each sentence's stored vector."""
        query = self.retriever.embed_query(claim)
        vectors = self.retriever.sentence_vectors([s.id for s in sentences])
        return np.array([float(vectors[s.id] @ query) if s.id in vectors else 0.0 for s in sentences])

    def _extractive_answer(self, question: str, extractions: list[Extraction], sources: list[Source],
                           corpus: Corpus, questions: list[str] | None = None) -> Answer:
        """The cited sentences of every answered part, and a line for each part the articles do not answer;
        a refusal when no part is answered."""
        if not any(e.answerable for e in extractions):
            return Answer(text=refusal_text(question, extractions[0].reason), refused=True, sources=sources,
                          question=question)
        sources = _with_cited_passages(sources, [c for e in extractions if e.answerable for c in e.chosen], corpus)
        text, citations = cite([e.chosen for e in extractions if e.answerable])
        unanswered = [say("part_refused", language(question), part=part.rstrip("?"))
                      for part, e in zip(questions or [question], extractions, strict=True) if not e.answerable]
        text = " ".join([text, *unanswered])
        return Answer(text=text, refused=False, citations=citations, sources=sources, question=question)

    def _standalone(self, question: str, history: Sequence[Message], use_llm: bool) -> tuple[str, str | None]:
        """A follow-up made searchable on its own, and a notice if the LLM rewrite failed.

        With an LLM, the model rewrites the question from the conversation. Without one, the previous user
        turn is appended when the question is short: a follow-up ("Who announced it?") shares few content
        terms with the passage that answers it, and the topic lives in the previous question.
        """
        previous = [m["content"] for m in history if m["role"] == "user" and m["content"]]
        if not previous:
            return question, None
        notice = None
        if use_llm:
            try:
                return self._generator().rewrite(question, history), None
            except LLMError as exc:
                lang = language(question)
                notice = say("rewrite_failed", lang, why=say(exc.code, lang, **exc.fields))
        return self._with_context(question, previous[-1]), notice

    @staticmethod
    def _with_context(question: str, context: str) -> str:
        """A short question searched together with what it refers to (the previous question, or the first
        part of a multi-part one): the topic lives there."""
        if len(term_set(question)) >= SELF_CONTAINED_MIN_TERMS and not refers_back(question):
            return question
        return f"{question} {context}"


def _with_cited_passages(sources: list[Source], chosen: list[Candidate], corpus: Corpus) -> list[Source]:
    """The sources with the passage of each chosen sentence that none of them holds (one found by meaning outside
    the retrieved passages, NEAR_SENTENCES), so that every citation points into a source. They take the places of
    the last sources that no citation points into: an answer lists no more sources than were asked for."""
    def holds(source: Source) -> bool:
        return any(source.doc_id == c.doc_id and source.start_char <= c.start < source.end_char for c in chosen)

    added = [passage_source(chunk) for chunk in corpus.passages_holding(
        [(c.doc_id, c.start, c.end) for c in chosen], {s.chunk_id for s in sources})]
    uncited = [i for i, source in enumerate(sources) if not holds(source)]
    dropped = set(uncited[max(0, len(uncited) - len(added)):]) if added else set()
    return [s for i, s in enumerate(sources) if i not in dropped] + added


def _final_answer(events: Iterator[str | Answer]) -> Answer:
    """Drain a stream: the last event is the Answer."""
    answer = None
    for event in events:
        answer = event
    assert isinstance(answer, Answer)
    return answer
