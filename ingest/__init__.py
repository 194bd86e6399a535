"""Ingestion: load → clean → chunk → index. `ingest.ingest(settings)` syncs the corpus folder into the store.

The heavy parts (llama-index, chromadb) are imported on first use, so `ingest.chunk` and friends stay
cheap to import for the answering side.
"""

from typing import Any

__all__ = ["IngestSummary", "ingest"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ingest import index

        return getattr(index, name)
    raise AttributeError(name)
