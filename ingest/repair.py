"""Opening the index's parts for writing, and bringing damaged or disagreeing parts back in line.

Called by `ingest` (ingest/index.py) before it writes. Each opener takes the list of repairs to report and
appends what it did (the ingest summary's `repaired`):
- `recorded_manifest`: the manifest, or None when it is damaged (every file is then checked by parsing);
- `open_collections`: the two Chroma collections; a damaged embedded store is moved aside, never deleted;
- `open_docstore`: the docstore, or an empty one when it is damaged (moved aside too), with `adopt` taking back
  the documents whose vectors are intact;
- `reconcile`: after a run killed at any point, deletes vector records no document owns and forgets documents
  whose records are incomplete, so that the run embeds them again.

Not here: what is damaged and how that is detected (store/integrity.py, store/chroma.py, store/manifest.py).
"""

from __future__ import annotations

from llama_index.core.schema import Document

from ingest.nodes import record_nodes
from store import chroma, docstore, integrity, manifest
from store.chroma import Collections
from store.docstore import DocumentStore
from store.errors import IndexDamaged
from store.files import chroma_path, docstore_root
from store.manifest import Manifest
from store.settings import Settings


def recorded_manifest(settings: Settings, repaired: list[str]) -> Manifest | None:
    """The manifest; a damaged one counts as none (every file is then checked by parsing) and is written anew."""
    try:
        return manifest.read(settings.data_dir)
    except IndexDamaged as exc:
        repaired.append(f"{exc.part} {exc.problem}: written again")
        return None


def open_collections(settings: Settings, identity: str, repaired: list[str]) -> tuple[Collections, dict[str, int]]:
    """The two collections and their record counts. A damaged embedded store is moved aside and a new one made:
    `reconcile` then finds every document's vectors missing, and the run embeds them all again."""
    try:
        chroma.check_store(settings, thorough=True)  # SQLite's own check: a corrupt page fails here, not halfway
        collections = Collections.open(settings, identity)
        return collections, collections.counts()  # counting reads every record: damage shows here too
    except BaseException as exc:
        if (damage := chroma.damage_of(exc, settings)) is None:
            raise
    path = chroma_path(settings)
    moved = f"moved chroma/ to {integrity.move_aside(path).name}, " if path.exists() else ""
    chroma.forget_embedded_clients()
    manifest.record_vectors(settings.data_dir, {})  # the new store holds none yet
    repaired.append(f"{damage.part} {damage.problem}: {moved}every article embedded again")
    collections = Collections.open(settings, identity)
    return collections, collections.counts()


def open_docstore(
    settings: Settings, recorded: Manifest | None, repaired: list[str]
) -> tuple[DocumentStore, bool]:
    """The docstore, and whether it was lost: a damaged one is moved aside and an empty one returned. A damaged
    shard counts: every shard is checked (against the manifest, or by reading it)."""
    try:
        store = docstore.load(settings, recorded)
        docstore.check(store, settings, recorded)
        return store, False
    except IndexDamaged as exc:
        return _lost_docstore(settings, exc, repaired), True


def _lost_docstore(settings: Settings, damage: IndexDamaged, repaired: list[str]) -> DocumentStore:
    kept = [f"{path.name} as {integrity.move_aside(path).name}"
            for path in (docstore_root(settings), settings.data_dir / docstore.OLD_NAME) if path.exists()]
    repaired.append(f"{damage.part} {damage.problem}: rebuilt from the articles"
                    + (f" (the damaged files are kept: {', '.join(kept)})" if kept else ""))
    return docstore.empty()


def adopt(collections: Collections, store: DocumentStore, documents: list[Document]) -> None:
    """Into a rebuilt docstore, take back each document whose records the vector store holds complete (the same
    ids, which carry the content, and titles): it is not embedded again. `reconcile` deletes the others' records."""
    held: dict[str, set[tuple[str, str]]] = {}
    for coll in collections.by_kind().values():
        for node_id, meta in chroma.metadatas(coll).items():
            held.setdefault(meta.get("doc_id", ""), set()).add((node_id, meta.get("title", "")))
    intact = [d for d in documents if held.get(d.id_) == {(n.id_, n.metadata["title"]) for n in record_nodes(d)}]
    store.set_document_hashes({doc.id_: doc.hash for doc in intact})
    store.add_documents(intact)


def reconcile(collections: Collections, store: DocumentStore) -> set[str]:
    """Make Chroma and the docstore agree after an interrupted run (see the module docstring).
    Returns the ids of the documents the docstore forgot."""
    nodes = {doc_id: record_nodes(doc) for doc_id, doc in docstore.stored_nodes(store).items()}
    incomplete: set[str] = set()
    for kind, coll in collections.by_kind().items():
        expected = {doc_id: {n.id_ for n in of_doc if n.metadata["kind"] == kind} for doc_id, of_doc in nodes.items()}
        held_by_doc: dict[str, set[str]] = {}
        for node_id, meta in chroma.metadatas(coll).items():
            held_by_doc.setdefault(meta.get("doc_id", ""), set()).add(node_id)
        all_expected = set().union(*expected.values()) if expected else set()
        strays = [node_id for ids in held_by_doc.values() for node_id in ids if node_id not in all_expected]
        for start in range(0, len(strays), chroma.PAGE):
            coll.delete(ids=strays[start : start + chroma.PAGE])
        incomplete |= {doc_id for doc_id, ids in expected.items() if not ids <= held_by_doc.get(doc_id, set())}
    for doc_id in sorted(incomplete):
        for coll in collections.by_kind().values():
            coll.delete(where={"doc_id": doc_id})
        store.delete_document(doc_id, raise_error=False)
    return incomplete
