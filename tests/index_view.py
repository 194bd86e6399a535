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
