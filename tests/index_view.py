"""What the Chroma store holds, read straight from both collections, for tests that check the index."""

from __future__ import annotations

from store import chroma
from store.embeddings import embedding_model
from store.settings import Settings


def stored_records(settings: Settings) -> dict[str, dict]:
    """Every stored chunk and sentence: id -> its metadata plus "text"."""
    records: dict[str, dict] = {}
    for kind in chroma.KINDS:
        coll = chroma.collection(settings, embedding_model(settings).identity, kind=kind)
        held = coll.get(include=["metadatas", "documents"])
        for record_id, meta, text in zip(held["ids"], held["metadatas"], held["documents"], strict=True):
            assert record_id not in records, f"{record_id} is stored in both collections"
            assert meta["kind"] == kind, f"{record_id} in the {kind} collection"
            records[record_id] = {**meta, "text": text}
    return records


def to_one_collection_layout(settings: Settings) -> None:
    """Rewrite an index into the layout of older versions: sentence vectors among the chunks."""
    identity = embedding_model(settings).identity
    client = chroma.chroma_client(settings)
    old = chroma.collection(settings, identity, client, kind=chroma.SENTENCE).get(
        include=["embeddings", "metadatas", "documents"]
    )
    chroma.collection(settings, identity, client).add(
        ids=old["ids"], embeddings=old["embeddings"], metadatas=old["metadatas"], documents=old["documents"]
    )
    client.delete_collection(chroma.collection_name(settings, chroma.SENTENCE))
