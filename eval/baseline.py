"""The comparison baseline: llama-index's quickstart pipeline over the same cleaned articles.

`VectorStoreIndex.from_documents(docs, embed_model=E5Embedding())` with llama-index's default splitter,
an in-memory vector store and `similarity_top_k=2` — the same e5 model and the same cleaned documents as
the product (taken from the engine's corpus), so a comparison isolates the pipeline (chunking, hybrid
retrieval, sentence selection, refusals). The "answer" is the top passage's text: no citation markers,
one citation whose quote is the passage, located in the cleaned text with `str.find` (offsets -1 when it
is not a verbatim slice, so citation validity is measured honestly). It never refuses.

Deliberately not here: any LLM (the quickstart's query engine would need one; the top passage stands in),
conversation handling (follow-ups are asked bare), or metrics (eval/metrics.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from rag.answer import Answer, Citation, Source
from store.records import Document

TOP_K = 2


def locate(passage: str, text: str) -> tuple[int, int]:
    """Offsets of `passage` in `text`, or (-1, -1) when it is not a verbatim slice."""
    start = text.find(passage) if passage else -1
    return (start, start + len(passage)) if start >= 0 else (-1, -1)


def answer_from_hits(question: str, hits: Sequence[tuple[str, str, str, str, float]],
                     texts: Mapping[str, str]) -> Answer:
    """The baseline's answer from ranked (node_id, doc_id, title, passage, score) hits."""
    sources = []
    for node_id, doc_id, title, passage, score in hits:
        start, end = locate(passage, texts.get(doc_id, ""))
        sources.append(Source(chunk_id=node_id, doc_id=doc_id, title=title, text=passage, start_char=start,
                              end_char=end, score=score, dense_score=score))
    if not sources:
        return Answer(text="", refused=False, question=question)
    top = sources[0]
    citation = Citation(number=1, doc_id=top.doc_id, title=top.title, quote=top.text,
                        start_char=top.start_char, end_char=top.end_char, score=top.score)
    return Answer(text=top.text, refused=False, citations=[citation], sources=sources, question=question)


class Baseline:
    """Quickstart retrieval over the given cleaned documents; `ask(question) -> Answer`."""

    def __init__(self, documents: Iterable[Document], top_k: int = TOP_K, embed_model: Any = None):
        from llama_index.core import Document as LlamaDocument
        from llama_index.core import VectorStoreIndex

        from store.embeddings import E5Embedding

        documents = list(documents)
        self.texts = {d.doc_id: d.text for d in documents}
        docs = [LlamaDocument(text=d.text, metadata={"doc_id": d.doc_id, "title": d.title})
                for d in documents]
        started = time.perf_counter()
        self.index = VectorStoreIndex.from_documents(docs, embed_model=embed_model or E5Embedding())
        self.build_seconds = time.perf_counter() - started
        self.retriever = self.index.as_retriever(similarity_top_k=top_k)

    def ask(self, question: str) -> Answer:
        started = time.perf_counter()
        nodes = self.retriever.retrieve(question)
        hits = [(n.node.node_id, n.node.metadata.get("doc_id", ""), n.node.metadata.get("title", ""),
                 n.node.get_content(), float(n.score or 0.0)) for n in nodes]
        answer = answer_from_hits(question, hits, self.texts)
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        return replace(answer, timings={"retrieve": elapsed, "total": elapsed})
