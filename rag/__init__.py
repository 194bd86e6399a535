"""article-qa answering: `from rag import RAG`. Retrieve → answer → verify citations.

Imports are lazy so that `rag.settings` or `rag.text` stay cheap for the ingestion side and the CLI.
"""

from typing import Any

__all__ = ["RAG", "Answer", "Citation", "Source", "Settings", "QuestionError", "UserFacingError"]

_HOMES = {
    "RAG": "rag.engine",
    "Answer": "rag.answer",
    "Citation": "rag.answer",
    "Source": "rag.answer",
    "Settings": "rag.settings",
    "QuestionError": "rag.errors",
    "UserFacingError": "rag.errors",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(name)
