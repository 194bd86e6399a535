"""What the page says about the app's state: the start-up ingest running in the background (`Indexer`), the
status line above the chat, and what a page load or the indexing timer refreshes (`Status`).

    indexer = Indexer(engine)
    indexer.start_if_needed()        # ingests in a thread if the index is empty or in an older layout
    Status(engine, indexer).poll()   # status line, article filter, corpus table, examples, the timer

Also the two messages every part shows instead of an answer: INDEXING (wait for the start-up ingest) and
GENERIC_ERROR (an unexpected failure, logged).

Not here: the HTML itself (ui/render.py), the Blocks layout (app.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import gradio as gr

from ingest import Progress
from rag import RAG, UserFacingError
from ui import render

log = logging.getLogger("article_qa.ui")
GENERIC_ERROR = "Something went wrong while answering. The error was logged; please try again."
INDEXING = "The articles are still being indexed. Please ask again in a moment."


class Indexer:
    """Runs the start-up ingest in a background thread and reports its state to the page."""

    def __init__(self, engine: RAG):
        self.engine, self.state, self.message = engine, "ready", ""
        self.started = 0.0
        self.progress = ""  # "indexing 12 of 40 articles · 0.5 articles/s · about 1 min left" while it runs
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self.state == "indexing"

    def start_if_needed(self) -> bool:
        """Index in the background if the index is empty or in an older layout; True if that started."""
        retriever = self.engine.retriever
        if not retriever.needs_ingest():
            return False
        self.state, self.started = "indexing", time.monotonic()
        self._thread = threading.Thread(target=self._run, name="first-ingest", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        try:
            self.message, self.state = self.engine.ingest(progress=self._on_progress).line(), "ready"
            log.info("start-up ingest done: %s", self.message)
        except (UserFacingError, FileNotFoundError) as exc:
            self.message, self.state = str(exc), "error"
        except Exception:
            log.exception("start-up ingest failed")
            self.message, self.state = "indexing failed; see the server log", "error"

    def _on_progress(self, progress: Progress) -> None:
        self.progress = progress.line()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def status_line(engine: RAG, indexer: Indexer) -> str:
    # While indexing the line shows progress only, so the index is not read then.
    seconds = time.monotonic() - indexer.started if indexer.busy else 0.0
    docs = [] if indexer.busy else indexed_documents(engine)
    return render.status_line(indexer.state, indexer.message, seconds, engine.settings.corpus_dir, docs,
                              engine.settings.llm_enabled, indexer.progress if indexer.busy else "")


def indexed_documents(engine: RAG) -> list[dict[str, Any]]:
    """The indexed articles, or none while the index cannot be read (damaged, being repaired at start): the page
    still loads, and the status line and the chat say what is wrong."""
    try:
        return engine.documents()
    except UserFacingError as exc:
        log.warning("the index cannot be read: %s", exc)
        return []


def doc_choices(docs: list[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(label, doc_id) pairs for the article filter."""
    return [(d["title"] or d["doc_id"], d["doc_id"]) for d in docs]


class Status:
    """The parts of the page that change when the index does; page load, the timer and uploads call these."""

    def __init__(self, engine: RAG, indexer: Indexer):
        self.engine, self.indexer = engine, indexer

    def refresh(self) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
        """Status line, article filter choices, corpus table, chat examples."""
        docs = indexed_documents(self.engine)
        return (status_line(self.engine, self.indexer), gr.update(choices=doc_choices(docs)),
                render.corpus_table(docs, self.engine.settings.corpus_dir),
                gr.update(examples=render.example_questions(docs) or None))

    def poll(self) -> tuple[Any, ...]:
        """`refresh`, plus the timer itself: it stops ticking once the start-up ingest is over."""
        return (*self.refresh(), gr.Timer(active=self.indexer.busy))
