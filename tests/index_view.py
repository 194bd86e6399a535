"""What the Chroma store holds, read straight from both collections, for tests that check the index."""

from __future__ import annotations

from rag import store
from rag.embeddings import embedding_model
from rag.settings import Settings


def stored_records(settings: Settings) -> dict[str, dict]:
    """Every stored chunk and sentence: id -> its metadata plus "text"."""
    records: dict[str, dict] = {}
    for part in store.PARTS:
        coll = store.collection(settings, embedding_model(settings).identity, part=part)
        held = coll.get(include=["metadatas", "documents"])
        for record_id, meta, text in zip(held["ids"], held["metadatas"], held["documents"], strict=True):
            assert record_id not in records, f"{record_id} is stored in both collections"
            assert meta["kind"] == ("chunk" if part == store.CHUNKS else "sentence"), f"{record_id} in {part}"
            records[record_id] = {**meta, "text": text}
    return records


def to_one_collection_layout(settings: Settings) -> None:
    """Rewrite an index into the layout of older versions: sentence vectors among the chunks."""
    identity = embedding_model(settings).identity
    client = store.chroma_client(settings)
    old = store.collection(settings, identity, client, part=store.SENTENCES).get(
        include=["embeddings", "metadatas", "documents"]
    )
    store.collection(settings, identity, client).add(
        ids=old["ids"], embeddings=old["embeddings"], metadatas=old["metadatas"], documents=old["documents"]
    )
    client.delete_collection(store.collection_name(settings, store.SENTENCES))
