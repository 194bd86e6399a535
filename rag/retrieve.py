"""Hybrid retrieval: dense search in Chroma + BM25, fused by weighted reciprocal rank.

`Retriever.retrieve(question, k, doc_ids)` returns `Source`s, best first (at most `MAX_PER_ARTICLE` from one
article while others qualify), each remembering its dense and BM25 rank. The persisted BM25 index (and with
it the chunk table and the cleaned documents) is loaded once and reloaded only when an ingest publishes a new
corpus version — never rebuilt per query.
`sentence_vectors` fetches the stored sentence embeddings that answering ranks sentences with.
A damaged or missing index file is `IndexDamaged` (a StoreError naming the file and `rag ingest`), never a raw
traceback; `damaged()` and `needs_ingest()` tell the app whether to ingest (and so repair) at start.

Why RRF and not a score blend: e5 cosine similarities are compressed into ~0.75-0.93 and BM25 scores are
unbounded, so ranks are the only scale the two retrievers share (Cormack et al., 2009; k=60).

Not here: choosing answer sentences (rag/extract.py) or generation (rag/generate.py).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from rag.answer import Source
from store import chroma, docstore, integrity, manifest
from store.bm25 import BM25Index
from store.corpus import Corpus, load_corpus
from store.embeddings import CountingEmbedding, embedding_model
from store.errors import IndexDamaged, StoreError
from store.files import bm25_root
from store.records import ChunkRecord, Sentence
from store.settings import Settings

# A `where` filter makes Chroma's query slow at scale (restricted to 5 articles it took 95-119 ms at 100k chunks,
# against 6-7 ms unfiltered): a filter to this many chunks or fewer is answered exactly from their stored vectors.
EXACT_SEARCH_MAX_CHUNKS = 2000
# A passage's dense score is this much its best sentence's cosine and the rest its own (pooled) vector's: a question
# usually asks what one sentence says, which a passage's average meaning blurs. Measured on the team's datasets
# with pooled passage vectors (ingest/embed.py): evidence hit@1 dev 0.705 → 0.735 and held-out 0.297 → 0.486;
# 0.5 ranked worse on the held-out split (hit@1 0.405).
BEST_SENTENCE_WEIGHT = 0.25
SENTENCE_CACHE = 10_000
HUB_CACHE = 100_000  # hubness values kept (see HUB_WEIGHT), ~10 MB
# At most this many of the passages handed on come from one article while other articles' passages qualify: two
# articles about one event tell it differently, and the one that ranks second often holds the detail asked for
# ("how long were the talks" is in the article that is not about the talks). Measured: dev accuracy 0.723 →
# 0.736 and held-out 0.311 → 0.333 with 3 of 5; with 2 of 5, 0.715 / 0.289.
MAX_PER_ARTICLE = 3
# Hubness correction (CSLS: Conneau et al., 2018, "Word translation without parallel data"). Some sentences are
# close to every question about their topic — short, generic ones that name the main actors ("Tokayev thanked
# Putin for the invitation to visit Sochi") — and outrank the sentence that answers; e5's compressed similarities
# make such hubs common. A sentence's closeness to a question is its cosine less HUB_WEIGHT times its hubness: the
# mean cosine to its HUB_NEIGHBOURS nearest sentences in the corpus (the textbook k=10, weight 0.5).
# Applied to the sentences answering ranks, to each passage's best sentence (`by_best_sentence`) and to the
# sentences found anywhere in the corpus (`near_sentences`, re-ranked from three times as many by cosine).
# Measured on the team's datasets: dev accuracy 0.821 → 0.847 (7 gained, 1 lost), answers 581 → 568 characters;
# evidence hit@1 dev 0.756 → 0.763 and untouched 0.586 → 0.621 on single-passage questions; untouched accuracy
# unchanged (0.467). Hubness from passages' pooled vectors, tried for the dense passage ranking, did not help.
HUB_NEIGHBOURS = 10
HUB_WEIGHT = 0.5
NEAR_POOL = 3


def lexical_trust(known_share: float) -> float:
    """How much BM25 counts in fusion, from the share of query words the corpus vocabulary knows.

    Full weight when every word is known, none at half or less: a Russian question over English articles
    shares a transliterated name or two with them, and such lexical hits would outvote the dense ranking.
    """
    return max(0.0, 2.0 * known_share - 1.0)


def diverse(ranked: list[str], k: int, article_of: Callable[[str], str], most: int = MAX_PER_ARTICLE) -> list[str]:
    """The best k of `ranked`, passing over an article's passages beyond `most` while other articles' remain
    (then the best of those passed over fill up to k); ranking order kept."""
    taken: list[str] = []
    per_article: Counter[str] = Counter()
    for item in ranked:
        if per_article[article_of(item)] < most:
            per_article[article_of(item)] += 1
            taken.append(item)
            if len(taken) == k:
                break
    kept = set(taken)
    kept |= set([item for item in ranked if item not in kept][: k - len(taken)])
    return [item for item in ranked if item in kept]


def closeness(cosine: float, hubness: float) -> float:
    """A sentence's closeness in meaning to a question, corrected for how close it is to everything."""
    return cosine - HUB_WEIGHT * hubness


def fuse(rankings: list[tuple[list[str], float]], rrf_k: int) -> dict[str, float]:
    """Weighted reciprocal-rank fusion of ranked id lists: score(id) = Σ w / (rrf_k + rank)."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, item in enumerate(ids, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (rrf_k + rank)
    return scores


class Retriever:
    def __init__(self, settings: Settings, embed_model: CountingEmbedding | None = None):
        self.settings = settings
        self.embed_model = embed_model or embedding_model(settings)
        self._collections: dict[str, Any] = {}
        self._corpus: Corpus | None = None
        self._published: tuple[object, ...] | None = None  # what `_corpus` was loaded for
        self._damage: tuple[tuple[object, ...], IndexDamaged] | None = None  # the last load's damage, and when
        self._lock = threading.Lock()
        # Sentence vectors read from the store, by id: ranking passages by their best sentence and then choosing
        # answer sentences read the same ones for one question. An id carries its sentence's text, so a cached
        # vector stays right; the cache is emptied when it holds SENTENCE_CACHE vectors (~15 MB).
        self._sentence_cache: dict[str, np.ndarray] = {}
        self._hub_cache: dict[str, float] = {}  # hubness by sentence id, for the corpus version loaded

    def collection(self, kind: str = chroma.CHUNK) -> Any:
        if kind not in self._collections:
            self._collections[kind] = chroma.collection(self.settings, self.embed_model.identity, kind=kind)
        return self._collections[kind]

    def corpus(self) -> Corpus:
        """The current corpus view, reloaded if an ingest published a new version since the last call; raises
        IndexDamaged while a file of it is damaged or missing (until an ingest repairs it)."""
        root = bm25_root(self.settings)
        manifest_written = manifest.manifest_path(self.settings.data_dir).exists()
        published = (BM25Index.current_version(root), BM25Index.is_outdated(root), manifest_written,
                     docstore.is_older_format(self.settings))
        with self._lock:
            # Keyed by the published version (None before the first ingest) and format, so an empty index is
            # not reloaded, and the store not reopened, on every call; a damaged one is not re-read until an
            # ingest writes the manifest or CURRENT again.
            if self._corpus is not None and self._published == published:
                return self._corpus
            token = integrity.published_token(self.settings)
            if self._damage is not None and self._damage[0] == token:
                raise self._damage[1]
            if self._corpus is not None or self._damage is not None:
                self._reopen()  # the vectors changed too, possibly from another process
            try:
                self._corpus, self._published, self._damage = load_corpus(self.settings), published, None
                self._hub_cache = {}
            except IndexDamaged as exc:
                self._corpus, self._damage = None, (token, exc)
                raise
            return self._corpus

    def _reopen(self) -> None:
        if not self.settings.server_mode:
            chroma.forget_embedded_clients()
        self._collections = {}

    def _read_store(self, read: Any, what: str, kind: str = chroma.CHUNK) -> Any:
        """Run `read(collection)` on the chunk (or sentence) collection, reopening the store once if it fails
        (a restarted server, another process's writes); a second failure is a StoreError with a clear message."""
        for attempt in (1, 2):
            try:
                return read(self.collection(kind))
            except BaseException as exc:  # chromadb's Rust layer panics (a BaseException) on some corrupt stores
                if not chroma.failed(exc):
                    raise
                self._reopen()
                if attempt == 2:
                    if isinstance(exc, StoreError):
                        raise
                    raise chroma.damage_of(exc, self.settings) or StoreError(f"{what} failed: {exc}") from exc
        raise AssertionError("unreachable")

    def damaged(self) -> IndexDamaged | None:
        """What is damaged in the index, or None: the corpus files (checked against the manifest) and, unless
        the corpus is empty, the embedded vector store (opened and counted). Other store errors are raised."""
        try:
            if not self.corpus().empty:
                self._read_store(lambda coll: coll.count(), "vector store read")
        except IndexDamaged as exc:
            return exc
        return None

    def needs_ingest(self) -> bool:
        """True for an index an ingest must write or repair before it answers well: empty, outdated or damaged.
        The app calls this at start and, if True, ingests in the background."""
        return self.damaged() is not None or self.corpus().empty or self.outdated()

    def outdated(self) -> bool:
        """True for an index an older version wrote: a chunk table without sentence spans, or sentence vectors
        among the chunks. It answers worse or not at all until an ingest brings it up to date."""
        corpus = self.corpus()
        if corpus.outdated:
            return True
        if corpus.empty:
            return False
        return self._read_store(lambda coll: coll.count(), "vector store read", chroma.SENTENCE) == 0

    def embed_query(self, question: str) -> np.ndarray:
        return np.asarray(self.embed_model.get_query_embedding(question), dtype=np.float32)

    def dense(
        self, query_vector: np.ndarray, k: int, doc_ids: list[str] | None, corpus: Corpus | None = None
    ) -> list[tuple[str, float]]:
        if doc_ids is not None:
            chunk_ids = (corpus or self.corpus()).bm25.chunk_ids(doc_ids)
            if len(chunk_ids) <= EXACT_SEARCH_MAX_CHUNKS:
                return self._exact_dense(query_vector, k, chunk_ids)
        where = {"doc_id": {"$in": list(doc_ids)}} if doc_ids is not None else None
        result = self._read_store(
            lambda coll: coll.query(
                query_embeddings=[query_vector.tolist()], n_results=k, where=where, include=["distances"]
            ),
            "vector search",
        )
        # Chroma's cosine space returns distance = 1 - cosine similarity.
        return [(cid, 1.0 - dist) for cid, dist in zip(result["ids"][0], result["distances"][0], strict=True)]

    def _exact_dense(self, query_vector: np.ndarray, k: int, chunk_ids: list[str]) -> list[tuple[str, float]]:
        """Top-k of `chunk_ids` by cosine similarity, computed from their stored vectors."""
        if not chunk_ids:
            return []
        result = self._read_store(lambda coll: coll.get(ids=chunk_ids, include=["embeddings"]), "vector store read")
        if not len(result["ids"]):
            return []
        vectors = np.asarray(result["embeddings"], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(query_vector)
        similarity = vectors @ query_vector / np.maximum(norms, 1e-12)
        best = np.argsort(-similarity, kind="stable")[:k]
        return [(result["ids"][i], float(similarity[i])) for i in best]

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        doc_ids: list[str] | None = None,
        query_vector: np.ndarray | None = None,
    ) -> list[Source]:
        corpus = self.corpus()
        if corpus.empty:
            return []
        k = k or self.settings.top_k
        if query_vector is None:
            query_vector = self.embed_query(question)
        ranked = self.dense(query_vector, self.settings.dense_k, doc_ids, corpus)
        dense = self.by_best_sentence([(cid, s) for cid, s in ranked if cid in corpus.bm25.by_id], query_vector, corpus)
        lexical = corpus.bm25.search(question, self.settings.bm25_k, doc_ids)
        fused = fuse(
            [
                ([cid for cid, _ in dense], self.settings.dense_weight),
                (
                    [c.id for c, _ in lexical],
                    self.settings.bm25_weight * lexical_trust(corpus.bm25.known_share(question)),
                ),
            ],
            self.settings.rrf_k,
        )
        dense_info = {cid: (rank, s) for rank, (cid, s) in enumerate(dense, start=1)}
        lexical_info = {c.id: (rank, s) for rank, (c, s) in enumerate(lexical, start=1)}
        ranked_ids = sorted(fused, key=lambda cid: (-fused[cid], cid))
        best = diverse(ranked_ids, k, lambda cid: corpus.bm25.by_id[cid].doc_id)
        return [passage_source(corpus.bm25.by_id[cid], fused[cid], dense_info.get(cid), lexical_info.get(cid))
                for cid in best]

    def by_best_sentence(
        self, ranked: list[tuple[str, float]], query_vector: np.ndarray, corpus: Corpus
    ) -> list[tuple[str, float]]:
        """The dense list re-ranked with each passage's best sentence (see BEST_SENTENCE_WEIGHT)."""
        if not ranked:
            return ranked
        members = {cid: [s.id for s in corpus.sentences(cid)] for cid, _ in ranked}
        vectors = self.sentence_vectors([sid for ids in members.values() for sid in ids])
        hubs = self.hubness([sid for ids in members.values() for sid in ids])
        rescored = []
        for cid, score in ranked:
            best = max((closeness(float(vectors[sid] @ query_vector), hubs.get(sid, 0.0))
                        for sid in members[cid] if sid in vectors), default=score)
            rescored.append((cid, (1 - BEST_SENTENCE_WEIGHT) * score + BEST_SENTENCE_WEIGHT * best))
        return sorted(rescored, key=lambda item: -item[1])

    def near_sentences(
        self, query_vector: np.ndarray, k: int, doc_ids: list[str] | None, corpus: Corpus
    ) -> list[Sentence]:
        """The k sentences closest in meaning to the query (see `closeness`) of the NEAR_POOL × k nearest by cosine, of
        the whole corpus or of `doc_ids`."""
        if corpus.empty or k <= 0:
            return []
        where = {"doc_id": {"$in": list(doc_ids)}} if doc_ids is not None else None
        result = self._read_store(
            lambda coll: coll.query(query_embeddings=[query_vector.tolist()], n_results=NEAR_POOL * k, where=where,
                                    include=["metadatas", "distances"]),
            "vector search", chroma.SENTENCE,
        )
        hubs = self.hubness(result["ids"][0])
        found = []
        for sid, meta, distance in zip(result["ids"][0], result["metadatas"][0], result["distances"][0], strict=True):
            doc = corpus.documents.get(str(meta.get("doc_id")))
            start, end = meta.get("start_char"), meta.get("end_char")
            if doc is not None and isinstance(start, int) and isinstance(end, int):
                sentence = Sentence.of(doc.doc_id, doc.title, doc.text, start, end)
                found.append((closeness(1.0 - distance, hubs.get(sid, 0.0)), sentence))
        found.sort(key=lambda item: -item[0])
        return [sentence for _, sentence in found[:k]]

    def sentence_vectors(self, sentence_ids: list[str]) -> dict[str, np.ndarray]:
        """Stored embeddings of the given sentence ids (those the store has)."""
        cache = self._sentence_cache  # shared by the app's threads: read and extended, never relied on after
        found = {sid: vec for sid in sentence_ids if (vec := cache.get(sid)) is not None}
        missing = [sid for sid in dict.fromkeys(sentence_ids) if sid not in found]
        if missing:
            result = self._read_store(
                lambda coll: coll.get(ids=missing, include=["embeddings"]), "vector store read", chroma.SENTENCE
            )
            read = {sid: np.asarray(vec, dtype=np.float32)
                    for sid, vec in zip(result["ids"], result["embeddings"], strict=True)}
            if len(cache) + len(read) > SENTENCE_CACHE:
                cache.clear()
            cache.update(read)
            found.update(read)
        return found

    def hubness(self, sentence_ids: list[str]) -> dict[str, float]:
        """Each stored sentence's hubness (see HUB_WEIGHT), computed on first use and kept for the corpus version."""
        cache = self._hub_cache  # shared like the sentence cache; a new one for each corpus version loaded
        missing = [sid for sid in dict.fromkeys(sentence_ids) if sid not in cache]
        vectors = self.sentence_vectors(missing) if missing else {}
        asked = [sid for sid in missing if sid in vectors]
        if asked:
            result = self._read_store(
                lambda coll: coll.query(query_embeddings=[vectors[sid].tolist() for sid in asked],
                                        n_results=HUB_NEIGHBOURS + 1, include=["distances"]),
                "vector search", chroma.SENTENCE,
            )
            for sid, ids, distances in zip(asked, result["ids"], result["distances"], strict=True):
                others = [1.0 - d for other, d in zip(ids, distances, strict=True) if other != sid][:HUB_NEIGHBOURS]
                if len(cache) >= HUB_CACHE:
                    cache.clear()
                cache[sid] = float(np.mean(others)) if others else 0.0
        return {sid: cache[sid] for sid in sentence_ids if sid in cache}


def passage_source(
    chunk: ChunkRecord, score: float = 0.0, dense: tuple[int, float] | None = None,
    lexical: tuple[int, float] | None = None,
) -> Source:
    return Source(
        chunk_id=chunk.id,
        doc_id=chunk.doc_id,
        title=chunk.title,
        text=chunk.text,
        start_char=chunk.start,
        end_char=chunk.end,
        score=score,
        dense_score=dense[1] if dense else None,
        bm25_score=lexical[1] if lexical else None,
        dense_rank=dense[0] if dense else None,
        bm25_rank=lexical[0] if lexical else None,
    )
