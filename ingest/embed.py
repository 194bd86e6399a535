"""Embedding at ingest: every sentence is embedded once, and each chunk's vector is pooled from its sentences'.

`SentencePooledEmbedding` is the pipeline's embedding step (a llama-index transformation). An index holds
a vector per chunk (what retrieval searches) and per sentence (what answering ranks sentences with), and a
chunk is a run of whole sentences. Embedding both would put every character through the model twice, plus
the chunk overlaps and titles; embedding the sentences alone and pooling them costs about a third as much.
- A chunk's vector is the length-weighted mean of its sentences' vectors (weights in characters, so a long
  sentence counts as much as the tokens it holds, as in the model's own mean pooling), plus its document
  title's vector at the weight of one average sentence (the title gives a chunk its topic, as it did when
  the title was embedded with the chunk's text), normalised. Measured on the team's dataset: see
  `TITLE_WEIGHT` below and the closing notes of issue 13.
- Sentences go to the model ordered by length, so the texts of one batch are alike in size and the model's
  threads (it parallelises over the texts of a batch) finish together; results come back in node order.

Not here: which texts exist (ingest/chunk.py), the model (store/embeddings.py), storing vectors (ingest/index.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from llama_index.core.schema import BaseNode, MetadataMode, TransformComponent

from store.chroma import CHUNK, SENTENCE
from store.embeddings import CountingEmbedding

# The title counts as this many average sentences of its chunk.
TITLE_WEIGHT = 1.0


class SentencePooledEmbedding(TransformComponent):
    """Embeds sentence nodes and titles; gives chunk nodes the pooled vector of the sentences they span."""

    embed_model: CountingEmbedding
    title_weight: float = TITLE_WEIGHT
    on_embedded: Callable[[int], None] | None = None  # called with the characters of each batch embedded

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        sentences = [node for node in nodes if node.metadata["kind"] == SENTENCE]
        for node, vector in zip(sentences, self._embed([_text(n) for n in sentences]), strict=True):
            node.embedding = vector.tolist()
        chunks = [node for node in nodes if node.metadata["kind"] == CHUNK]
        title_vectors = self._title_vectors(chunks, sentences) if self.title_weight else {}
        of_doc: dict[str, list[BaseNode]] = {}
        for node in sentences:
            of_doc.setdefault(node.metadata["doc_id"], []).append(node)
        for chunk in chunks:
            spanned = [s for s in of_doc.get(chunk.metadata["doc_id"], []) if _within(s, chunk)]
            chunk.embedding = pool(spanned, title_vectors.get(chunk.metadata["title"]), self.title_weight).tolist()
        return nodes

    def _title_vectors(self, chunks: list[BaseNode], sentences: list[BaseNode]) -> dict[str, np.ndarray]:
        """Each title's vector: a document's first sentence is usually its title, already embedded."""
        vectors = {
            n.metadata["title"]: np.asarray(n.embedding) for n in sentences if n.get_content() == n.metadata["title"]
        }
        missing = sorted({node.metadata["title"] for node in chunks} - set(vectors))
        return {**vectors, **dict(zip(missing, self._embed(missing), strict=True))}

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Vectors of `texts`, in their order, embedded shortest first."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        embedded: list[list[float]] = []
        size = self.embed_model.embed_batch_size
        for start in range(0, len(order), size):
            batch = [texts[i] for i in order[start : start + size]]
            embedded += self.embed_model.get_text_embedding_batch(batch)
            if self.on_embedded is not None:
                self.on_embedded(sum(map(len, batch)))
        vectors = np.zeros((len(texts), len(embedded[0]) if embedded else 0), dtype=np.float32)
        if embedded:
            vectors[order] = np.asarray(embedded, dtype=np.float32)
        return vectors


def pool(sentences: Sequence[BaseNode], title: np.ndarray | None, title_weight: float) -> np.ndarray:
    """The unit vector of the sentences' length-weighted mean, with the title at `title_weight` average sentences."""
    if not sentences:
        raise ValueError("a chunk spans at least one sentence")
    weights = np.array([len(node.get_content()) for node in sentences], dtype=np.float32)
    vectors = np.asarray([node.embedding for node in sentences], dtype=np.float32)
    total = weights @ vectors
    if title is not None:
        total += title_weight * weights.mean() * title
    return total / np.linalg.norm(total)


def _within(sentence: BaseNode, chunk: BaseNode) -> bool:
    return chunk.metadata["start_char"] <= sentence.metadata["start_char"] < chunk.metadata["end_char"]


def _text(node: BaseNode) -> str:
    return node.get_content(metadata_mode=MetadataMode.EMBED)
