"""Ingestion: load → clean → chunk → index. `ingest(settings)` syncs the corpus folder into the index.

It writes the index that store/ defines and never imports the answering side (rag/).
"""

from ingest.index import IngestSummary, ingest

__all__ = ["IngestSummary", "ingest"]
