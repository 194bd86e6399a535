"""Incremental, idempotent, crash-safe indexing of a corpus folder: the writer of the index store/ defines.

`ingest(settings, paths=None)` is the one entry point: load → clean → chunk → embed → store.

What llama-index does here, and what it does not: its `IngestionPipeline` with a persisted docstore and the
`UPSERTS` strategy decides what needs embedding (the docstore keeps each document's content hash, so an
unchanged document is never re-embedded, and a changed one has its records replaced), and runs our
transformations (`ArticleChunker`, then `SentencePooledEmbedding`, ingest/embed.py). Its `ChromaVectorStore` is
the pipeline's sink, overridden where it writes: an index has two collections and must not copy every node's
JSON into Chroma (`ArticleVectorStore`). Retrieval and answering do not use llama-index.
- A file whose size and modification time are those recorded when it was last read is not read again, and
  neither is its stored document: it is unchanged (`_unchanged`; a folder sync at 10k chunks read for 1.8 s).
- Documents go through the pipeline in batches of about 1 MB of text (memory stays flat with corpus size);
  the docstore is persisted after each batch.
- A full sync of the corpus folder also removes a deleted file's records first (`UPSERTS_AND_DELETE`'s
  rule, done before the batches because that strategy deletes whatever one run did not see); explicit
  `paths` only add or update.
- When the last run did not finish (the manifest's vector record counts are cleared while a run writes and
  published at its end) or the vector store no longer holds what was published (a wiped server, a store
  rebuilt after damage), `reconcile` (ingest/repair.py) compares the ids the two collections hold with the ids
  the docstore's documents must have, deletes strays and forgets documents with missing vectors, so that a
  run killed at any point is completed by the next one. A finished index skips it: it reads every record's
  metadata and re-cuts every document (5 s at 10k chunks).
- The lexical index gets one new segment for the documents this run added or changed, and drops their old
  chunks (store/segments.py): adding one article does not re-index the others (10.9 s at 100k chunks when it
  did). It is written whole again after an unfinished run, or when it was damaged or in an older format.
- Damaged parts are repaired first, as store/integrity.py finds them: a damaged embedded Chroma store is moved
  aside (`chroma.damaged-<time>`, never deleted) and filled again by re-embedding; a damaged docstore is moved
  aside and rebuilt from the corpus folder, taking back the documents whose vectors are intact (`adopt`), so
  only the others are embedded again; a damaged BM25 version is rebuilt from the docstore. The summary's
  `repaired` says what was. The manifest is written last (`integrity.publish`).
A file that fails to load (binary, too large, unreadable...) is reported as skipped and keeps whatever
was indexed for it before: bad input never loses indexed data. The corpus folder is only ever read.

Not here: reading files (ingest/load.py), boilerplate removal (ingest/clean.py), chunk geometry
(ingest/chunk.py), the file formats (store/).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline
from llama_index.core.schema import BaseNode, Document, MetadataMode
from llama_index.vector_stores.chroma import ChromaVectorStore

from ingest.embed import SentencePooledEmbedding
from ingest.load import corpus_files, load_files
from ingest.nodes import ArticleChunker, document, records
from ingest.progress import Progress
from ingest.repair import adopt, open_collections, open_docstore, reconcile, recorded_manifest
from store import chroma, docstore, integrity, manifest, segments
from store.chroma import Collections
from store.docstore import DocumentStore
from store.embeddings import CountingEmbedding, embedding_model
from store.files import bm25_root, file_stats_path, ingest_lock, read_json, write_atomically
from store.manifest import Manifest
from store.settings import Settings

# The pipeline holds every node of a run, with its vector, in memory (8.2 GB at 100k chunks in one run):
# documents go through it in batches of about this much text, ~1.4k chunks and ~5k sentences.
INGEST_BATCH_CHARS = 1_000_000


@dataclass
class IngestSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    notices: list[tuple[str, str]] = field(default_factory=list)  # (path, e.g. decoding fallback)
    repaired: list[str] = field(default_factory=list)  # damaged parts of the index this run rebuilt, and how
    chunks: int = 0  # chunks in the index after the run
    embedded: int = 0  # texts sent to the embedding model in this run
    embed_seconds: float = 0.0
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)  # seconds per step of the run (the pipeline's includes
    # the embedding)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0.0) + time.perf_counter() - started, 4)

    def line(self) -> str:
        text = (
            f"added {len(self.added)} / updated {len(self.updated)} / unchanged {len(self.unchanged)} / "
            f"removed {len(self.removed)} / skipped {len(self.skipped)} — {self.chunks} chunks, "
            f"{self.embedded} embedded in {self.seconds:.1f}s"
        )
        reasons = "; ".join(f"{Path(p).name}: {r}" for p, r in self.skipped)
        text = f"{text} (skipped: {reasons})" if reasons else text
        return f"{text} (repaired: {'; '.join(self.repaired)})" if self.repaired else text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ArticleVectorStore(ChromaVectorStore):
    """llama-index's Chroma store, adapted: each node goes to its kind's collection, `chroma.PAGE` records at most
    per call, with only the node's own metadata (llama-index's `_node_content` copy of every node would
    double the index and cost 40% of the write time), and deleting a document deletes it from both."""

    def __init__(self, collections: Collections):
        super().__init__(chroma_collection=collections.chunks)
        self._by_kind = collections.by_kind()

    def add(self, nodes: list[BaseNode], **add_kwargs: Any) -> list[str]:
        for kind, coll in self._by_kind.items():
            of_kind = [node for node in nodes if node.metadata["kind"] == kind]
            for start in range(0, len(of_kind), chroma.PAGE):
                page = of_kind[start : start + chroma.PAGE]
                coll.add(
                    ids=[node.node_id for node in page],
                    embeddings=[node.get_embedding() for node in page],
                    metadatas=[node.metadata for node in page],
                    documents=[node.get_content(metadata_mode=MetadataMode.NONE) for node in page],
                )
        return [node.node_id for node in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        for coll in self._by_kind.values():
            coll.delete(where={"doc_id": ref_doc_id})


def _rebuild_bm25(
    store: DocumentStore, settings: Settings, recorded: Manifest | None, summary: IngestSummary, reuse: bool
) -> int:
    """Bring the lexical index in line with the documents; returns the chunk count. With `reuse`, only the
    documents this run added or changed are cut and indexed, as a new segment (store/segments.py); without it
    (the last run did not finish), or when the live version is damaged, every document is."""
    root = bm25_root(settings)
    damage = integrity.bm25_damage(settings, recorded)
    if damage is not None:
        shutil.rmtree(root, ignore_errors=True)  # derived from the docstore and rebuilt from it below (may be gone)
        summary.repaired.append(f"{damage.part} {damage.problem}: BM25 index rebuilt from the docstore")
    base = segments.live_layout(root) if reuse and damage is None else segments.Layout()
    stored = set(store.get_all_document_hashes().values())
    indexed = base.documents()
    stale = (indexed & {*summary.added, *summary.updated}) | (indexed - stored)
    # Only these documents are read from the docstore (turning all 6k of a 100k-chunk index into nodes: 0.2 s).
    fresh = docstore.stored_nodes(store, sorted(d for d in stored if d not in indexed or d in stale))
    added = [chunk for doc in fresh.values() for chunk in records(doc)]
    layout = segments.write(root, base.without(stale), added)
    return sum(entry.live_chunks for entry in layout.segments)


def _unchanged(files: Sequence[Path], store: DocumentStore, seen: dict[str, Any]) -> dict[Path, str]:
    """The files whose size and modification time are those recorded when their stored document was read, with
    that document's id: they are not read again (reading and cleaning is most of a folder sync: 19 s at 100k
    chunks), nor is their document (parsing every shard to find each unchanged: 0.7 s at 100k chunks).
    `seen` maps a file's path to [size, mtime_ns, doc_id, document hash] (store/files.py, `file_stats_path`)."""
    out: dict[Path, str] = {}
    for path in files:
        record = seen.get(str(path))
        if record and store.get_document_hash(record[2]) == record[3] and record[:2] == _size_and_mtime(path):
            out[path] = record[2]
    return out


def _recorded_stats(settings: Settings) -> dict[str, list[Any]]:
    """`file_stats_path`'s records; none when it is missing or unreadable (then every file is read)."""
    try:
        recorded = read_json(file_stats_path(settings), {})
    except (OSError, ValueError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {path: record for path, record in recorded.items() if isinstance(record, list) and len(record) == 4}


def _size_and_mtime(path: Path) -> list[int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def _read_files(
    files: Sequence[Path], store: DocumentStore, settings: Settings, summary: IngestSummary,
    seen: dict[str, Any] | None = None,
) -> tuple[list[Document], set[str], dict[str, list[Any]]]:
    """The documents read now, to run through the pipeline; the ids of the stored documents kept as they are
    (unchanged files', see `_unchanged`, and unreadable ones'); and what to record of each file read now.
    Skipped files and notices go into `summary`."""
    place = {str(path): i for i, path in enumerate(files)}
    reused = _unchanged(files, store, seen or {})
    # On a name clash (x.txt next to an indexed x.md) the indexed file keeps its id; the newcomer is skipped.
    stored = store.sources()
    indexed_sources = set(stored.values())
    files = sorted((f for f in files if f not in reused), key=lambda path: str(path) not in indexed_sources)
    stats = {str(path): _size_and_mtime(path) for path in files}  # before reading: a later change shows
    sources, skipped = load_files(files, settings.max_file_bytes, {doc_id: path for path, doc_id in reused.items()})
    summary.skipped = [(str(s.path), s.reason) for s in skipped]
    summary.notices = [(str(s.path), s.notice) for s in sources if s.notice]
    documents: list[Document] = []
    read: dict[str, list[Any]] = {}
    for source in sources:
        doc = document(source)
        if isinstance(doc, str):
            summary.skipped.append((str(source.path), doc))
        else:
            documents.append(doc)
            if stats.get(str(source.path)):
                read[str(source.path)] = [*stats[str(source.path)], doc.id_, doc.hash]
    documents.sort(key=lambda d: place.get(str(d.metadata.get("source")), 0))
    # A file that exists but could not be read keeps its previous chunks instead of being deleted.
    present = {d.id_ for d in documents}
    unreadable = {Path(p).stem for p, _ in summary.skipped if Path(p).exists()}
    return documents, set(reused.values()) | {d for d in unreadable if d in stored and d not in present}, read


def ingest(
    settings: Settings,
    paths: Sequence[Path] | None = None,
    progress: Callable[[Progress], None] | None = None,
    embed_model: CountingEmbedding | None = None,
) -> IngestSummary:
    """Bring the index in line with the corpus folder (or add/update just `paths`); `progress` is called as the
    embedding goes (ingest/progress.py)."""
    started = time.perf_counter()
    summary = IngestSummary()
    embed_model = embed_model or embedding_model(settings)
    files = corpus_files(settings.corpus_dir) if paths is None else _expand(paths)
    embedded_before, seconds_before = embed_model.embedded_texts, embed_model.embed_seconds

    stage = summary.stage
    with ingest_lock(settings):
        with stage("open"):
            recorded = recorded_manifest(settings, summary.repaired)
            collections, held = open_collections(settings, embed_model.identity, summary.repaired)
            store, lost = open_docstore(settings, recorded, summary.repaired)
        seen = {} if lost else _recorded_stats(settings)
        if lost:  # rebuilt from the whole corpus folder; documents whose vectors are intact are taken back
            documents, kept, read = _read_files(sorted({*corpus_files(settings.corpus_dir), *files}),
                                                docstore.empty(), settings, summary)
            adopt(collections, store, documents)
        with stage("reconcile"):  # only when the last run did not finish, or the vector store changed since
            finished = not lost and recorded is not None and recorded.records == held
            manifest.begin(settings.data_dir)
            forgotten = set() if finished else reconcile(collections, store)
        hash_of = {doc_id: h for h, doc_id in store.get_all_document_hashes().items()}
        if not lost:
            with stage("read"):
                documents, kept, read = _read_files(files, store, settings, summary, seen)
        vector_store = ArticleVectorStore(collections)
        removed = sorted(set(hash_of) - {d.id_ for d in documents} - kept) if paths is None else []
        with stage("remove"):
            for doc_id in removed:  # UPSERTS_AND_DELETE's rule, which cannot run batch by batch
                vector_store.delete(doc_id)
                store.delete_document(doc_id, raise_error=False)
            if removed or forgotten or lost or docstore.is_older_format(settings):  # the last: written as shards
                docstore.persist(store, settings)
        to_embed = [doc for doc in documents if hash_of.get(doc.id_) != doc.hash]
        embedding = Progress.start(len(to_embed), sum(len(doc.text) for doc in to_embed), progress)
        with stage("pipeline"):
            _run_pipeline(documents, vector_store, store, SentencePooledEmbedding(
                embed_model=embed_model, on_embedded=embedding.advance), settings)
        embedding.finish()
        _classify(documents, hash_of, summary)
        summary.unchanged = sorted({*summary.unchanged, *kept})
        summary.removed = removed
        with stage("bm25"):
            summary.chunks = _rebuild_bm25(store, settings, recorded, summary, reuse=finished)
        indexed = {d.id_ for d in documents} | set(hash_of) - set(removed)
        write_atomically(file_stats_path(settings), json.dumps(
            {path: record for path, record in {**seen, **read}.items() if record[2] in indexed}))
        with stage("publish"):
            # last: it vouches for all of the above
            integrity.publish(settings, collections.recorded(settings), collections.counts())
            docstore.sweep(settings)  # the shards no longer live, now that nothing vouches for them

    summary.embedded, summary.embed_seconds = (embed_model.embedded_texts - embedded_before,
                                               embed_model.embed_seconds - seconds_before)
    summary.seconds = time.perf_counter() - started
    return summary


def _run_pipeline(documents: list[Document], vector_store: ArticleVectorStore, store: DocumentStore,
                  embedding: SentencePooledEmbedding, settings: Settings) -> None:
    pipeline = IngestionPipeline(
        transformations=[ArticleChunker(), embedding],
        vector_store=vector_store,
        docstore=store,
        docstore_strategy=DocstoreStrategy.UPSERTS,
        disable_cache=True,
    )
    for batch in _batches(documents, INGEST_BATCH_CHARS):
        if pipeline.run(documents=batch):
            docstore.persist(store, settings)  # a killed run keeps the batches done so far


def _classify(documents: list[Document], hash_of: dict[str, str], summary: IngestSummary) -> None:
    for doc in documents:
        if doc.id_ not in hash_of:
            summary.added.append(doc.id_)
        elif hash_of[doc.id_] != doc.hash:
            summary.updated.append(doc.id_)
        else:
            summary.unchanged.append(doc.id_)


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
    return [file for path in paths for file in (corpus_files(path) if Path(path).is_dir() else [Path(path)])]
