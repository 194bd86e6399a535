"""Ingestion: load → clean → chunk → index. `ingest(settings)` syncs the corpus folder into the index.

It writes the index that store/ defines and never imports the answering side (rag/).
"""

from ingest.index import IngestSummary, ingest
from ingest.progress import Progress

__all__ = ["IngestSummary", "Progress", "ingest"]
