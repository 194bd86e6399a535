"""article-qa answering: `from rag import RAG`. A request → retrieve → answer → verify citations.

It reads the index through store/ and calls ingestion (ingest/) only for `RAG.ingest`; nothing below it
imports it, and it imports nothing above it (ui/, eval/, app.py, cli.py).
"""

from rag.answer import Answer, Citation, Source
from rag.engine import RAG
from rag.request import Request
from store.errors import QuestionError, UserFacingError
from store.settings import Settings

__all__ = ["RAG", "Answer", "Citation", "Request", "Source", "Settings", "QuestionError", "UserFacingError"]
