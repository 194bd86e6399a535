"""Sentence splitting with exact character offsets: the one definition of "a sentence" in the product.

`split_sentences(text)` returns the spans of `text`'s sentences. Ingestion cuts documents with it (the
sentence records and chunk boundaries stored in the index); answering uses it only on text it did not
store, such as a generated answer to verify.

Not here: chunk geometry (ingest/chunk.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SENTENCE_CHARS = 1200  # run-on "sentences" (lists, tables) are cut at word boundaries beyond this

# A sentence ends at . ! ? … (optionally followed by closing quotes/brackets) before whitespace, or at a
# line break (cleaned text has one paragraph per line). A period closing an abbreviation is no end.
_END = re.compile(r"""[.!?…]+["'”»’)\]]*(?=\s)|\n\s*""")
_ABBREVIATIONS = frozenset(
    """
mr mrs ms dr prof st jr sr vs etc approx no gen col lt sgt capt gov sen rep inc ltd co corp dept univ jan feb
mar apr jun jul aug sep sept oct nov dec p.m a.m e.g i.e u.s u.k u.n г гг т.е т.д ул им
""".split()
)
_WORD_BEFORE = re.compile(r"([\w.]+)\.$")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at `dot` closes an abbreviation or an initial ("St.", "p.m.", "J.")."""
    match = _WORD_BEFORE.search(text, max(0, dot - 12), dot + 1)
    if not match:
        return False
    word = match.group(1).lower().rstrip(".")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha() and text[match.start(1)].isupper())


def _trimmed(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


def _cut_long(text: str, span: Span) -> list[Span]:
    """Split an over-long sentence at word boundaries so no chunk or quote is unbounded."""
    pieces, start = [], span.start
    while span.end - start > MAX_SENTENCE_CHARS:
        cut = text.rfind(" ", start, start + MAX_SENTENCE_CHARS)
        cut = cut if cut > start else start + MAX_SENTENCE_CHARS
        pieces.append(Span(start, cut))
        start = cut + 1 if text[cut : cut + 1] == " " else cut
    pieces.append(Span(start, span.end))
    return [p for p in (_trimmed(text, s.start, s.end) for s in pieces) if p]


def split_sentences(text: str) -> list[Span]:
    """Sentence spans of `text` (offsets into it), in order, whitespace-trimmed, never empty."""
    spans: list[Span] = []
    start = 0
    for match in _END.finditer(text):
        first = match.group(0)[0]
        single_period = len(match.group(0).rstrip("\"'”»’)]")) == 1
        if first == "." and single_period and _is_abbreviation(text, match.start()):
            continue
        end = match.end() if not first.isspace() else match.start()
        span = _trimmed(text, start, end)
        if span:
            spans.extend(_cut_long(text, span))
        start = match.end()
    tail = _trimmed(text, start, len(text))
    if tail:
        spans.extend(_cut_long(text, tail))
    return spans
