"""The programmatic API next to the chat: `/ask` and `/documents` (app.py registers them with gr.api).

    api = Api(engine, indexer)
    api.ask("Who?", doc_ids="a,b", top_k=3, history=[...], mode="extractive")  # Answer.to_dict() or {"error"}
    api.documents()                                                               # the indexed articles

Arguments are checked by `engine.request`, the same validation as the chat (ui/chat.py); errors come back
as {"error": message}, never as an exception, and unexpected ones are logged and reported as GENERIC_ERROR.
`question` defaults to None only so that a call without it (gradio_client fills missing arguments with None;
app.py pads short raw HTTP calls the same way) gets "the question is missing" rather than a bare failure.
Gradio derives the endpoints' parameters and API docs from the signatures and docstrings below.

Not here: answering (rag/engine.py), the request's validation (rag/request.py).
"""

from __future__ import annotations

import logging
from typing import Any

from rag import RAG, UserFacingError
from ui.status import GENERIC_ERROR, INDEXING, Indexer

log = logging.getLogger("article_qa.ui")


class Api:
    def __init__(self, engine: RAG, indexer: Indexer):
        self.engine, self.indexer = engine, indexer

    def ask(self, question: str | None = None, doc_ids: list[str] | str | None = None, top_k: int | None = None,
            history: list[dict[str, str]] | None = None, mode: str | None = None) -> dict[str, Any]:
        """Answer a question from the articles (the question is required). doc_ids: list or comma-separated
        ids to search only those; history: earlier turns as [{"role": "user"|"assistant", "content": ...}],
        at most 50 messages. Returns Answer.to_dict() or {"error": message}."""
        try:
            if self.indexer.busy:
                return {"error": INDEXING}
            return self.engine.ask(self.engine.request(question, doc_ids, top_k, history, mode)).to_dict()
        except UserFacingError as exc:
            return {"error": str(exc)}
        except Exception:
            log.exception("/ask failed")
            return {"error": GENERIC_ERROR}

    def documents(self) -> list[dict[str, Any]]:
        """The indexed articles: doc_id, title, source and chunk count."""
        return self.engine.documents()
