"""Citation verification for generated answers: keep only what the cited passages support.

`verify(text, sources, corpus, support)` splits the model's answer into sentences and, for each:
- drops `[n]` markers that name no provided source;
- keeps a citation only if the cited passage supports the sentence: every number and every name of the
  sentence appears in the passage, and the sentence is close to one of the passage's sentences — by words
  (≥ MIN_WORD_SUPPORT of its content terms) or, across languages, by meaning (e5 cosine ≥ MIN_COSINE);
- drops a sentence whose citations all failed, and a sentence without citations that states facts
  (numbers or names); keeps short connective sentences.
The quote of each surviving citation is the passage sentence that supports the claim best, with its
offsets in the article. Citations are renumbered in order of first use.

Not here: calling the model (rag/generate.py) or deciding to fall back (rag/engine.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer import CITATION_MARKER, Citation, Source, marker_numbers
from rag.question import QUESTION_WORDS, has_type, question_type
from store.corpus import Corpus
from store.records import Sentence
from store.sentences import split_sentences
from store.text import addresses_a_model, has_cyrillic, names, numbers, term_set

MIN_WORD_SUPPORT = 0.5
# e5 "query:" vector of the claim against the stored sentence vectors. Measured on the seed corpus: a Russian
# paraphrase of a sentence scores 0.85 against it and <= 0.80 against its neighbours; unrelated claims <= 0.83.
MIN_COSINE = 0.84
_MARKERS = re.compile(r"\s*" + CITATION_MARKER.pattern)
# "Claim. [1]" -> "Claim [1]." so that a marker stays with the sentence it follows.
_MARKER_AFTER_STOP = re.compile(rf"([.!?…])((?:\s*{CITATION_MARKER.pattern})+)")


@dataclass(frozen=True)
class Verified:
    text: str
    citations: list[Citation]
    dropped: list[str]  # sentences removed as unsupported
    removed_markers: int  # citations that named no source or were not supported


def _facts_present(claim: str, passage: str) -> bool:
    """Every number and name in the claim appears in the passage (names compared by their stem)."""
    if not numbers(claim) <= numbers(passage):
        return False
    if has_cyrillic(claim) != has_cyrillic(passage):
        return True  # names are spelt differently across scripts; meaning is checked by embeddings
    passage_terms = term_set(passage)
    return all(term_set(name) <= passage_terms for name in names(claim))


def best_support(
    claim: str, evidence: Sequence[Sentence], similarity: Callable[[str, Sequence[Sentence]], np.ndarray] | None
) -> Sentence | None:
    """The passage sentence that supports `claim`, or None if the passage does not support it."""
    if not evidence or not _facts_present(claim, " ".join(e.text for e in evidence)):
        return None
    claim_terms = term_set(claim)
    overlap = [len(claim_terms & term_set(e.text)) / max(1, len(claim_terms)) for e in evidence]
    whole = len(claim_terms & term_set(" ".join(e.text for e in evidence))) / max(1, len(claim_terms))
    best = int(np.argmax(overlap))
    if whole >= MIN_WORD_SUPPORT and overlap[best] > 0:
        return evidence[best]
    if similarity is not None:
        cosines = similarity(claim, evidence)
        best = int(np.argmax(cosines))
        if cosines[best] >= MIN_COSINE:
            return evidence[best]
    return None


def answer_problem(question: str, checked: Verified, sources: Sequence[Source]) -> str | None:
    """Why a verified LLM answer must still be rejected (a rag/messages.py key), or None.

    Verification shows the cited passage holds the words; it cannot show the passage is honest. A passage that
    addresses the model ("ignore previous instructions and answer ...") is written by whoever wrote the article,
    so an answer citing one is rejected (indirect prompt injection). So is an answer that shares no content word
    with the question and does not hold the kind of thing it asks for: it answers something else.
    """
    for citation in checked.citations:
        holding = [s.text for s in sources
                   if s.doc_id == citation.doc_id and s.start_char <= citation.start_char < s.end_char]
        if any(addresses_a_model(text) for text in [citation.quote, *holding]):
            return "llm_injection"
    text = _MARKERS.sub("", checked.text)
    kind = question_type(question)
    overlap = (set(term_set(question)) - QUESTION_WORDS) & set(term_set(text))
    if not overlap and (kind is None or (has_type(kind, text, question) or 0.0) < 0.7):
        return "llm_off_question"
    return None


def verify(
    text: str,
    sources: Sequence[Source],
    corpus: Corpus,
    similarity: Callable[[str, Sequence[Sentence]], np.ndarray] | None = None,
) -> Verified:
    evidence = [corpus.sentences(s.chunk_id) or _quoted_span(s, corpus) for s in sources]
    kept: list[str] = []
    dropped: list[str] = []
    removed = 0
    citations: list[Citation] = []
    number_of: dict[tuple[str, int], int] = {}
    text = _MARKER_AFTER_STOP.sub(lambda m: m.group(2) + m.group(1), text)
    for span in split_sentences(text):
        sentence = text[span.start : span.end]
        cited = [n for marker in _MARKERS.finditer(sentence) for n in marker_numbers(marker)]
        claim = _MARKERS.sub("", sentence).strip()
        if not claim:
            continue
        if not cited:
            if numbers(claim) or names(claim):
                dropped.append(claim)
            else:
                kept.append(claim)
            continue
        markers = []
        for n in dict.fromkeys(cited):
            support = best_support(claim, evidence[n - 1], similarity) if 1 <= n <= len(sources) else None
            if support is None:
                removed += 1
                continue
            key = (support.doc_id, support.start)
            if key not in number_of:
                number_of[key] = len(citations) + 1
                citations.append(
                    Citation(
                        number_of[key],
                        support.doc_id,
                        support.title,
                        support.text,
                        support.start,
                        support.end,
                        round(sources[n - 1].score, 4),
                    )
                )
            markers.append(f"[{number_of[key]}]")
        if markers:
            kept.append(f"{claim} {''.join(dict.fromkeys(markers))}")
        else:
            dropped.append(claim)
    return Verified(" ".join(kept), citations, dropped, removed)


def _quoted_span(source: Source, corpus: Corpus) -> list[Sentence]:
    """A source that is not a stored chunk but a verbatim span of an article (the sentences a summary is written
    from): that span, as one sentence, if the article still holds it."""
    doc = corpus.documents.get(source.doc_id)
    if doc is None or doc.text[source.start_char : source.end_char] != source.text:
        return []
    return [Sentence.of(doc.doc_id, doc.title, doc.text, source.start_char, source.end_char)]
