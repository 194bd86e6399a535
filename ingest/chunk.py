"""Sentence-aware chunking with exact character offsets.

`chunk_document` cuts a cleaned document into sentences (store/sentences.py) and packs consecutive ones
into chunks of about `CHUNK_CHARS` characters that overlap by `OVERLAP_SENTENCES` sentences. Every chunk is
a verbatim slice `text[start:end]` of its document's cleaned text, so a citation can point at an exact
span, and it records the spans of its sentences, so answering never cuts a document again. Chunk ids are
derived from the document id, position and content (store/records.py).

Chunk size, measured end to end on the team's dataset (eval/datasets/kz-ru.jsonl, 129 questions, five
articles, extractive answers): 400 chars → accuracy 0.605 (evidence hit@5 0.919); 700 → 0.628 (0.937);
1000 → 0.589 (0.964). Larger chunks hold the evidence more often but dilute the dense match and the
sentence candidates; 700 characters (~150 e5 tokens) with one sentence of overlap answers best.

Not here: cleaning (ingest/clean.py) or embedding (ingest/index.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from store.records import ChunkRecord, Sentence, chunk_id
from store.sentences import Span, split_sentences

CHUNK_CHARS = 700
OVERLAP_SENTENCES = 1


def chunk_ranges(
    sentences: Sequence[Span], chunk_chars: int = CHUNK_CHARS, overlap: int = OVERLAP_SENTENCES
) -> list[range]:
    """Pack consecutive sentences into runs of about `chunk_chars` characters, overlapping by `overlap`;
    each run is a range of sentence indices."""
    chunks: list[range] = []
    first = 0
    while first < len(sentences):
        last = first
        while last + 1 < len(sentences) and sentences[last + 1].end - sentences[first].start <= chunk_chars:
            last += 1
        chunks.append(range(first, last + 1))
        if last + 1 >= len(sentences):
            break
        first = max(first + 1, last + 1 - overlap)
    return chunks


def chunk_document(
    doc_id: str, title: str, text: str, chunk_chars: int = CHUNK_CHARS, overlap: int = OVERLAP_SENTENCES
) -> list[ChunkRecord]:
    """Chunks of one cleaned document, each a verbatim slice of `text` with a stable id."""
    sentences = split_sentences(text)
    chunks = []
    for index, run in enumerate(chunk_ranges(sentences, chunk_chars, overlap)):
        start, end = sentences[run[0]].start, sentences[run[-1]].end
        spans = tuple((sentences[i].start, sentences[i].end) for i in run)
        chunks.append(ChunkRecord(chunk_id(doc_id, index, text[start:end]), doc_id, title, start, end,
                                  text[start:end], spans))
    return chunks


def sentence_records(doc_id: str, title: str, text: str, chunks: Sequence[ChunkRecord]) -> list[Sentence]:
    """Every sentence of a document, once, in order (the chunks hold them all, overlaps twice)."""
    spans = dict.fromkeys(span for chunk in chunks for span in chunk.sentences)
    return [Sentence.of(doc_id, title, text, start, end) for start, end in spans]
