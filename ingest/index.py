"""Incremental, idempotent, crash-safe indexing of a corpus folder into Chroma (+ the BM25 index).

`ingest(settings, paths=None)` is the one entry point: load → clean → chunk → embed → store.
It runs llama-index's `IngestionPipeline` with a persisted docstore over `ChromaVectorStore`:
- the docstore keeps each document's content hash, so an unchanged document is never re-embedded;
- `UPSERTS` replaces a changed document's chunks; documents go through the pipeline in batches of about
  1 MB of text, so memory stays flat with corpus size, and the docstore is persisted after each batch;
- a full sync of the corpus folder also removes a deleted file's chunks first (`UPSERTS_AND_DELETE`'s
  rule, done before the batches because that strategy deletes whatever one run did not see);
  explicit `paths` only add or update;
- chunk ids are derived from content (ingest/chunk.py), so re-adding after a crash cannot duplicate;
- before each run, `_reconcile` compares the chunk and sentence ids the two collections hold with the ids
  the docstore's documents must have, deletes strays and forgets documents with missing vectors, so that a
  run killed at any point (between the vector write and the docstore persist, say) is completed by the next
  one; the same repair moves an index from an older layout (sentences among the chunks) to this one;
- the docstore is written atomically, and the BM25 index is rebuilt from Chroma only when the corpus
  version changed.
A file that fails to load (binary, too large, unreadable...) is reported as skipped and keeps whatever
was indexed for it before: bad input never loses indexed data.

Not here: reading files (ingest/load.py), boilerplate removal (ingest/clean.py), chunk geometry
(ingest/chunk.py).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline
from llama_index.core.schema import BaseNode, Document, MetadataMode, NodeRelationship, TextNode, TransformComponent
from llama_index.core.storage.docstore import SimpleDocumentStore

from ingest.chunk import chunk_document, sentence_id, split_sentences
from ingest.clean import clean_text
from ingest.load import Skipped, SourceFile, corpus_files, load_files
from rag import store
from rag.bm25 import BM25Index, ChunkRecord, corpus_version
from rag.embeddings import CountingEmbedding, embedding_model
from rag.settings import Settings


@dataclass
class IngestSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    notices: list[tuple[str, str]] = field(default_factory=list)  # (path, e.g. decoding fallback)
    chunks: int = 0  # chunks in the index after the run
    embedded: int = 0  # texts sent to the embedding model in this run
    embed_seconds: float = 0.0
    seconds: float = 0.0

    def line(self) -> str:
        text = (
            f"added {len(self.added)} / updated {len(self.updated)} / unchanged {len(self.unchanged)} / "
            f"removed {len(self.removed)} / skipped {len(self.skipped)} — {self.chunks} chunks, "
            f"{self.embedded} embedded in {self.seconds:.1f}s"
        )
        reasons = "; ".join(f"{Path(p).name}: {r}" for p, r in self.skipped)
        return f"{text} (skipped: {reasons})" if reasons else text

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class ArticleChunker(TransformComponent):
    """llama-index transformation: documents → sentence-aware chunk nodes with offsets and stable ids."""

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[BaseNode]:
        out: list[BaseNode] = []
        for doc in nodes:
            out.extend(_chunk_nodes(doc))
        return out


def _chunk_nodes(doc: BaseNode) -> list[TextNode]:
    """Chunk nodes (retrieval units) and sentence nodes (answer units) of one cleaned document.

    Sentences get their own vectors so that answering can rank them by meaning, across languages,
    without embedding anything at question time; they are stored in their own collection (rag/store.py).
    """
    doc_id, text = doc.metadata["doc_id"], doc.get_content()
    nodes = []
    for chunk in chunk_document(doc_id, text):
        # The title travels into the chunk's embedding (topic context); offsets and ids do not.
        template = "{metadata_str}\n\n{content}"
        nodes.append(_node(doc, chunk.id, chunk.text, chunk.start, chunk.end, "chunk", template))
    for span in split_sentences(text):
        sentence = text[span.start : span.end]
        nodes.append(
            _node(
                doc,
                sentence_id(doc_id, span.start, sentence),
                sentence,
                span.start,
                span.end,
                "sentence",
                "{content}",
            )
        )
    return nodes


def _node(doc: BaseNode, node_id: str, text: str, start: int, end: int, kind: str, template: str) -> TextNode:
    hidden = ["doc_id", "start_char", "end_char", "kind"] + (["title"] if kind == "sentence" else [])
    node = TextNode(
        id_=node_id,
        text=text,
        start_char_idx=start,
        end_char_idx=end,
        metadata={
            "doc_id": doc.metadata["doc_id"],
            "title": doc.metadata["title"],
            "start_char": start,
            "end_char": end,
            "kind": kind,
        },
        excluded_embed_metadata_keys=hidden,
        excluded_llm_metadata_keys=hidden,
        metadata_template="{value}",
        text_template=template,
    )
    node.relationships[NodeRelationship.SOURCE] = doc.as_related_node_info()
    return node


def _document(source: SourceFile) -> Document | str:
    """A llama-index Document for a loaded file, or the reason it has no article text."""
    cleaned = clean_text(source.text)
    if not cleaned.text.strip():
        return "no article text left after removing boilerplate"
    return Document(
        id_=source.doc_id,
        text=cleaned.text,
        metadata={
            "doc_id": source.doc_id,
            "title": cleaned.title,
            "source": str(source.path),
            "content_hash": hashlib.sha256(cleaned.text.encode("utf-8")).hexdigest(),
        },
        # The document hash covers text and metadata: a new title or location re-indexes the document.
        excluded_embed_metadata_keys=["doc_id", "title", "source", "content_hash"],
        excluded_llm_metadata_keys=["doc_id", "title", "source", "content_hash"],
    )


def _load_docstore(settings: Settings) -> SimpleDocumentStore:
    path = store.docstore_path(settings)
    if path.exists():
        return SimpleDocumentStore.from_persist_path(str(path))
    return SimpleDocumentStore()


def _persist_docstore(docstore: SimpleDocumentStore, settings: Settings) -> None:
    tmp = store.docstore_path(settings).with_suffix(".json.tmp")
    docstore.persist(str(tmp))
    store.write_atomically(store.docstore_path(settings), tmp.read_bytes())
    tmp.unlink()


def _stored_documents(docstore: SimpleDocumentStore) -> dict[str, BaseNode]:
    return {doc_id: docstore.get_document(doc_id) for doc_id in docstore.get_all_document_hashes().values()}


# chromadb refuses writes above its max batch (5,461 records in 1.5) and SQLite refuses reads that match more
# than 32,766 ids: both are hit at about a hundred articles, so writes and full reads go in slices.
STORE_PAGE = 5000
# The pipeline holds every node of a run, with its vector, in memory (8.2 GB at 100k chunks in one run):
# documents go through it in batches of about this much text, ~1.4k chunks and ~5k sentences.
INGEST_BATCH_CHARS = 1_000_000


def _get_all(coll: Any, **kwargs: Any) -> dict[str, list[Any]]:
    """`coll.get(**kwargs)` for every matching record, read in pages."""
    out: dict[str, list[Any]] = {"ids": [], "metadatas": [], "documents": []}
    offset = 0
    while True:
        page = coll.get(limit=STORE_PAGE, offset=offset, **kwargs)
        for key in out:
            out[key].extend(page.get(key) or [])
        if len(page["ids"]) < STORE_PAGE:
            return out
        offset += STORE_PAGE


@dataclass(frozen=True)
class Collections:
    """The two Chroma collections one index writes: chunks (retrieval) and sentences (answer ranking)."""

    chunks: Any
    sentences: Any

    @classmethod
    def open(cls, settings: Settings, embed_identity: str) -> Collections:
        client = store.chroma_client(settings)
        chunks, sentences = (store.collection(settings, embed_identity, client, part) for part in store.PARTS)
        return cls(chunks, sentences)

    def by_kind(self) -> dict[str, Any]:
        return {"chunk": self.chunks, "sentence": self.sentences}


def _vector_store(collections: Collections) -> Any:
    """llama-index's Chroma store, adapted: each node goes to its kind's collection, at most STORE_PAGE
    records per call, with only the node's own metadata (llama-index's `_node_content` copy of every node
    would double the index and cost 40% of the write time), and deleting a document deletes it from both."""
    from llama_index.vector_stores.chroma import ChromaVectorStore

    class ArticleVectorStore(ChromaVectorStore):
        def add(self, nodes: list[BaseNode], **add_kwargs: Any) -> list[str]:
            for kind, coll in collections.by_kind().items():
                of_kind = [node for node in nodes if node.metadata["kind"] == kind]
                for start in range(0, len(of_kind), STORE_PAGE):
                    page = of_kind[start : start + STORE_PAGE]
                    coll.add(
                        ids=[node.node_id for node in page],
                        embeddings=[node.get_embedding() for node in page],
                        metadatas=[node.metadata for node in page],
                        documents=[node.get_content(metadata_mode=MetadataMode.NONE) for node in page],
                    )
            return [node.node_id for node in nodes]

        def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
            for coll in collections.by_kind().values():
                coll.delete(where={"doc_id": ref_doc_id})

    return ArticleVectorStore(chroma_collection=collections.chunks)


def _reconcile(collections: Collections, docstore: SimpleDocumentStore) -> set[str]:
    """Make Chroma and the docstore agree after an interrupted run (see the module docstring).
    Returns the ids of the documents the docstore forgot."""
    nodes = {doc_id: _chunk_nodes(doc) for doc_id, doc in _stored_documents(docstore).items()}
    incomplete: set[str] = set()
    for kind, coll in collections.by_kind().items():
        expected = {doc_id: {n.id_ for n in of_doc if n.metadata["kind"] == kind} for doc_id, of_doc in nodes.items()}
        held = _get_all(coll, include=["metadatas"])
        held_by_doc: dict[str, set[str]] = {}
        for node_id, meta in zip(held["ids"], held["metadatas"], strict=True):
            held_by_doc.setdefault((meta or {}).get("doc_id", ""), set()).add(node_id)
        all_expected = set().union(*expected.values()) if expected else set()
        strays = [node_id for ids in held_by_doc.values() for node_id in ids if node_id not in all_expected]
        for start in range(0, len(strays), STORE_PAGE):
            coll.delete(ids=strays[start : start + STORE_PAGE])
        incomplete |= {doc_id for doc_id, ids in expected.items() if not ids <= held_by_doc.get(doc_id, set())}
    for doc_id in sorted(incomplete):
        for coll in collections.by_kind().values():
            coll.delete(where={"doc_id": doc_id})
        docstore.delete_document(doc_id, raise_error=False)
    return incomplete


def _rebuild_bm25(chunks: Any, settings: Settings) -> int:
    """Rebuild the lexical index from the chunks Chroma holds, if they changed. Returns the chunk count."""
    held = _get_all(chunks, include=["documents", "metadatas"])
    version = corpus_version(held["ids"])
    root = store.bm25_root(settings)
    if BM25Index.current_version(root) != version or not (root / version).exists():
        records = [
            ChunkRecord(cid, m["doc_id"], m["title"], int(m["start_char"]), int(m["end_char"]), text)
            for cid, m, text in zip(held["ids"], held["metadatas"], held["documents"], strict=True)
        ]
        BM25Index.build(records).save(root)
    return len(held["ids"])


def ingest(
    settings: Settings,
    paths: Sequence[Path] | None = None,
    show_progress: bool = False,
    embed_model: CountingEmbedding | None = None,
) -> IngestSummary:
    """Bring the index in line with the corpus folder (or add/update just `paths`)."""
    started = time.perf_counter()
    summary = IngestSummary()
    embed_model = embed_model or embedding_model(settings)
    full_sync = paths is None
    files = corpus_files(settings.corpus_dir) if full_sync else _expand(paths)

    with store.ingest_lock(settings):
        collections = Collections.open(settings, embed_model.identity)
        docstore = _load_docstore(settings)
        forgotten = _reconcile(collections, docstore)
        before = docstore.get_all_document_hashes()  # hash -> doc_id
        hash_of = {doc_id: h for h, doc_id in before.items()}
        stored = _stored_documents(docstore)
        # On a name clash (x.txt next to an indexed x.md) the indexed file keeps its id; the newcomer is skipped.
        indexed_sources = {str(doc.metadata.get("source")) for doc in stored.values()}
        files = sorted(files, key=lambda path: str(path) not in indexed_sources)
        sources, skipped = load_files(files, settings.max_file_bytes)
        summary.skipped = [(str(s.path), s.reason) for s in skipped]
        summary.notices = [(str(s.path), s.notice) for s in sources if s.notice]

        documents: list[Document] = []
        for source in sources:
            doc = _document(source)
            if isinstance(doc, str):
                summary.skipped.append((str(source.path), doc))
            else:
                documents.append(doc)
        # A file that exists but could not be read keeps its previous chunks instead of being deleted.
        present = {d.id_ for d in documents}
        kept = {Path(p).stem for p, _ in summary.skipped if Path(p).exists()}
        documents += [stored[d] for d in kept if d in stored and d not in present]

        vector_store = _vector_store(collections)
        pipeline = IngestionPipeline(
            transformations=[ArticleChunker(), embed_model],
            vector_store=vector_store,
            docstore=docstore,
            docstore_strategy=DocstoreStrategy.UPSERTS,
            disable_cache=True,
        )
        embedded_before = embed_model.embedded_texts
        seconds_before = embed_model.embed_seconds
        removed = sorted(set(hash_of) - present - kept) if full_sync else []
        for doc_id in removed:  # UPSERTS_AND_DELETE's rule, which cannot run batch by batch
            vector_store.delete(doc_id)
            docstore.delete_document(doc_id, raise_error=False)
        if removed or forgotten:
            _persist_docstore(docstore, settings)
        for batch in _batches(documents, INGEST_BATCH_CHARS):
            if pipeline.run(documents=batch, show_progress=show_progress):
                _persist_docstore(docstore, settings)  # a killed run keeps the batches done so far

        for doc in documents:
            if doc.id_ not in hash_of:
                summary.added.append(doc.id_)
            elif hash_of[doc.id_] != doc.hash:
                summary.updated.append(doc.id_)
            else:
                summary.unchanged.append(doc.id_)
        summary.removed = removed
        summary.chunks = _rebuild_bm25(collections.chunks, settings)

    summary.embedded = embed_model.embedded_texts - embedded_before
    summary.embed_seconds = embed_model.embed_seconds - seconds_before
    summary.seconds = time.perf_counter() - started
    return summary


def _batches(documents: Sequence[Document], max_chars: int) -> Iterator[list[Document]]:
    """Consecutive runs of documents of at most `max_chars` characters of text (or one larger document)."""
    batch: list[Document] = []
    size = 0
    for doc in documents:
        if batch and size + len(doc.text) > max_chars:
            yield batch
            batch, size = [], 0
        batch.append(doc)
        size += len(doc.text)
    if batch:
        yield batch


def _expand(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files.extend(corpus_files(path) if Path(path).is_dir() else [Path(path)])
    return files


__all__ = ["IngestSummary", "ingest", "Skipped"]
