"""Extractive summaries of articles: "Summarize the article about X", "What are these articles about?".

An article's summary is a few of its own sentences, each cited: its lead (the first full sentence after the
headline: news articles put the gist there), then the sentences closest to the article's centre (the mean of
its stored sentence vectors: what most of the article is about), skipping any too similar to one already
chosen (maximal marginal relevance), shown in reading order. Across the corpus, fewer sentences per article.

Not here: detecting the question (rag/about.py) or generating prose: a summary quotes, it never rewrites.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from store.corpus import Corpus
from store.records import Document, Sentence

PER_ARTICLE = 3  # sentences summarising one article
PER_ARTICLE_IN_CORPUS = 2  # ... and each article of a summary of several
MIN_WORDS = 10  # shorter "sentences" are captions, bylines and headings, not content
MAX_CHARS = 400  # a longer one is usually a quotation run together with its context
REDUNDANCY = 0.7  # weight of closeness to the centre against similarity to what was already chosen
_PROSE = re.compile(r"[.!?…»”\"]\s*$")
# A sentence that leans on the one before it ("It remains unclear…", "However, …", a lower-case fragment) means
# little on its own in a summary.
_LEANS_BACK = re.compile(r"^(?:[a-zа-яё(]|(?i:(it|this|that|these|those|he|she|they|his|her|their|however|but|"
                         r"and|so|therefore|thus|also|moreover|meanwhile)\b))")

Vectors = Callable[[list[str]], dict[str, np.ndarray]]


def summary_sentences(doc: Document, corpus: Corpus, vectors: Vectors, count: int) -> list[Sentence]:
    """`count` sentences of the article that together say what it is about, in reading order."""
    sentences = [s for s in _sentences(doc, corpus) if _is_prose(s.text)]
    if not sentences:
        return []
    chosen = [sentences[0]]  # the lead
    stored = vectors([s.id for s in sentences])
    pool = [s for s in sentences[1:] if s.id in stored and not _LEANS_BACK.search(s.text)]
    if pool and count > 1:
        matrix = np.stack([stored[s.id] for s in pool])
        centre = matrix.mean(axis=0)
        central = matrix @ (centre / (np.linalg.norm(centre) or 1.0))
        picked: list[int] = []
        lead = stored.get(sentences[0].id)
        seen = [lead] if lead is not None else []
        while len(picked) < min(count - 1, len(pool)):
            redundant = np.max(np.stack(seen) @ matrix.T, axis=0) if seen else np.zeros(len(pool))
            score = REDUNDANCY * central - (1 - REDUNDANCY) * redundant
            score[picked] = -np.inf
            best = int(np.argmax(score))
            picked.append(best)
            seen.append(matrix[best])
        chosen += [pool[i] for i in picked]
    return sorted(chosen, key=lambda s: s.start)


def _sentences(doc: Document, corpus: Corpus) -> list[Sentence]:
    """Every sentence of the article once, in order (chunks overlap), without the headline."""
    by_start: dict[int, Sentence] = {}
    for chunk_id in corpus.bm25.chunk_ids([doc.doc_id]):
        for sentence in corpus.sentences(chunk_id):
            by_start.setdefault(sentence.start, sentence)
    headline_end = len(doc.text.split("\n", 1)[0])
    return [by_start[start] for start in sorted(by_start) if start >= headline_end]


def _is_prose(text: str) -> bool:
    return len(text.split()) >= MIN_WORDS and len(text) <= MAX_CHARS and bool(_PROSE.search(text))
