"""The answer contract: `Answer`, `Citation`, `Source`. Everything the CLI, UI, API and eval show comes from here.

Plain dataclasses with `to_dict()` so an answer is JSON as it is. A `Citation` points at a verbatim span of
an article's cleaned text: `text[start_char:end_char] == quote`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# An inline citation in an answer's text: "[1]", or several numbers in one bracket, "[1, 2]".
CITATION_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def marker_numbers(marker: re.Match[str]) -> list[int]:
    """The citation numbers of one `CITATION_MARKER` match."""
    return [int(n) for n in re.split(r"[,;]", marker.group(1))]


@dataclass(frozen=True)
class Source:
    """A retrieved passage (a chunk), with how each retriever ranked it."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    start_char: int
    end_char: int
    score: float  # fused (reciprocal-rank) score
    dense_score: float | None = None  # cosine similarity, when the dense retriever found it
    bm25_score: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None


@dataclass(frozen=True)
class Citation:
    number: int
    doc_id: str
    title: str
    quote: str  # verbatim text of the article
    start_char: int
    end_char: int
    score: float


@dataclass(frozen=True)
class Answer:
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    mode: Literal["extractive", "llm"] = "extractive"
    timings: dict[str, float] = field(default_factory=dict)  # stage -> milliseconds
    notice: str | None = None  # e.g. "LLM endpoint unreachable; extractive answer shown"
    degraded: bool = False  # answered from keyword matches alone: the vector index was unavailable
    question: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
