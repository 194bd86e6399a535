"""How chosen answer sentences are quoted: each widened to the sentences that belong with it (the one it points
or leans back on, a next one that leans back on it, the rest of a quotation it opens, neighbours that score
close to it), and the answer text with a citation marker after every quoted sentence.

Works on any scored sentence record with doc_id, title, start, end, text and score (rag/extract.py's
`Candidate`). Not here: scoring or choosing the sentences (rag/extract.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, TypeVar

from rag.answer import Citation
from store.corpus import Corpus
from store.records import Sentence
from store.sentences import split_sentences


class Scored(Protocol):
    doc_id: str
    title: str
    start: int
    end: int
    text: str
    score: float


S = TypeVar("S", bound=Scored)  # a dataclass: widened copies are made with dataclasses.replace

NEIGHBOUR_RATIO = 0.7  # see widen()
# A sentence that opens by pointing back at the one before it ("That is why…", "For this reason…"): what it
# points at (the reason, the cause, the fact it draws on) is in the sentence before.
POINTS_BACK = re.compile(
    r"\W*(?:and |but |so )?(?:(?:it|this|that) (?:is|was) )?(?:(?:for|because of) (?:this|that|these) reasons?|"
    r"(?:this|that|which) (?:is|was) (?:the reason )?why|(?:this|that) (?:is|was) the reason|hence|therefore|"
    r"thus(?! far)|consequently|as a result|this means|именно поэтому|поэтому|по этой причине|в связи с этим)\b",
    re.I,
)
# A sentence that opens with a word standing for something in the sentence before it in its paragraph ("It was
# the other way around", "The remaining ten are memorandums", "He explained that…") is not self-contained: what
# it is about is said in that sentence. It is scored with that sentence's words and, if closer, meaning
# (`candidates`), and quoted with it; a chosen sentence is quoted with the next one when that one leans back on
# it, since the answer is often that continuation (`widen`). Dev accuracy 0.779 → 0.783 (2 gained, 1 lost),
# untouched split 0.378 → 0.444, answers 21 / 31 characters longer. Scoring with the mean of the two meanings
# instead: 0.762 / 0.378; only the quoting: 0.783 / 0.422; scoring POINTS_BACK sentences so too: 0.779 / 0.422.
LEANS_BACK = re.compile(
    r"\W*(?:(?:and|but|however|so|yet|also|still|indeed|apparently|moreover|besides|in fact|at the same time|"
    r"in other words|after all|of course)\W+)*(?:this|that|these|those|it|he|she|they|his|her|its|their|such|"
    r"the latter|the former|the remaining|the rest|the others?|both|neither|either|there|here|then)\b"
    # The same in Russian (not measured: the team's articles are English).
    r"|\W*(?:(?:и|но|однако|а|также|впрочем|при этом|кроме того|более того)\W+)*(?:это|этот|эта|эти|этого|этой|"
    r"этим|этом|он|она|оно|они|его|её|ее|их|ему|ей|им|такой|такая|такое|такие|последний|последняя|последние|"
    r"остальные|оба|обе|там|тогда)(?![\w-])",
    re.I,
)
# A quotation opened in a quoted sentence is quoted to its end, where its speaker is usually named ("…”, said
# Tokayev."), if it ends within this many more sentences of the paragraph. Dev accuracy 0.787 → 0.791 (a "who
# argued…?" question), untouched split unchanged, answers 5 characters longer. Taking a quotation closed in the
# quoted sentence back to where it opens, too: 0.787 / unchanged.
QUOTATION_SENTENCES = 3


def widen(chosen: list[S], cands: Sequence[Scored], corpus: Corpus) -> list[S]:
    """Each chosen sentence with the neighbours in its paragraph that score close to it, as one span.

    The sentence that matches the question best often sits next to the one that answers it: the statement
    before an elaboration, the reason after a fact. Measured on the dev questions: the answer was in the
    sentence before or after for 10 of 61 wrongly answered questions; taking a neighbour that scores at least
    `NEIGHBOUR_RATIO` of the chosen sentence raised accuracy 0.574 → 0.590 for answers of 328 characters on
    average (taking both neighbours always: 0.595 for 470 characters). A sentence that points back
    (`POINTS_BACK`) always takes the one before it: dev accuracy 0.745 → 0.749, untouched split unchanged; at a
    paragraph's start, the last one of the paragraph before (0.774 → 0.779, untouched unchanged). A sentence
    that leans back on another (`LEANS_BACK`) is quoted with it, whichever of the two was chosen, and a
    quotation it opens is quoted to its end (`QUOTATION_SENTENCES`).
    """
    scores = {(c.doc_id, c.start): c.score for c in cands}
    out: list[S] = []
    for c in chosen:
        doc = corpus.documents[c.doc_id]
        start, end = c.start, c.end
        sentence = Sentence.of(c.doc_id, c.title, doc.text, c.start, c.end)
        before, after = corpus.neighbours(sentence)
        for neighbour in (before, after):
            score = scores.get((neighbour.doc_id, neighbour.start)) if neighbour else None
            if neighbour and score is not None and score > 0 and score >= NEIGHBOUR_RATIO * c.score:
                start, end = min(start, neighbour.start), max(end, neighbour.end)
        if POINTS_BACK.match(c.text):  # at a paragraph's start, what it points at ends the paragraph before
            before = before or corpus.preceding(sentence)
        if before is not None and (POINTS_BACK.match(c.text) or LEANS_BACK.match(c.text)):
            start = min(start, before.start)
        if after is not None and LEANS_BACK.match(after.text):
            end = max(end, after.end)
        end = _through_quotation(doc.text, start, end, after, corpus)
        shared = next((i for i, o in enumerate(out) if o.doc_id == c.doc_id and o.start < end and start < o.end), None)
        if shared is None:
            out.append(replace(c, start=start, end=end, text=doc.text[start:end]))
        else:  # two chosen sentences whose spans now share text: one quote, where the better one stood
            kept = out[shared]
            start, end = min(start, kept.start), max(end, kept.end)
            out[shared] = replace(kept, start=start, end=end, text=doc.text[start:end])
    return out


def _through_quotation(text: str, start: int, end: int, following: Sentence | None, corpus: Corpus) -> int:
    """The end of a span that opens a quotation: where the quotation closes (and its speaker is named), within
    `QUOTATION_SENTENCES` more sentences of the paragraph (from `following`, the one after the chosen sentence);
    `end` when it is closed already or closes farther on."""
    def still_open(stop: int) -> bool:
        span = text[start:stop]
        return span.count("“") > span.count("”") or span.count("«") > span.count("»")

    for _ in range(QUOTATION_SENTENCES if still_open(end) else 0):
        if following is None:
            break
        if not still_open(max(end, following.end)):
            return max(end, following.end)
        following = corpus.neighbours(following)[1]
    return end


def cite(groups: Sequence[Sequence[Scored]]) -> tuple[str, list[Citation]]:
    """The answer text with [n] markers and its citations: each group (the answer to one part of the question)
    in reading order, groups in the question's order; a sentence two parts both chose is cited once."""
    number_of: dict[tuple[str, int], int] = {}
    citations: list[Citation] = []
    pieces: list[str] = []
    for chosen in groups:
        for c in sorted(chosen, key=lambda c: (c.doc_id != chosen[0].doc_id, c.doc_id, c.start)):
            if (c.doc_id, c.start) in number_of:
                continue
            number_of[(c.doc_id, c.start)] = len(citations) + 1
            citations.append(Citation(len(citations) + 1, c.doc_id, c.title, c.text, c.start, c.end, round(c.score, 4)))
            pieces.append(_marked(c.text, len(citations)))
    return " ".join(pieces), citations


def _marked(quote: str, number: int) -> str:
    """A quote with its citation marker after each of its sentences, so that every claim carries it (a quote
    widened to its neighbours is several sentences and one citation)."""
    return " ".join(f"{quote[s.start:s.end]} [{number}]" for s in split_sentences(quote)) or f"{quote} [{number}]"
