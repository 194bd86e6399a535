"""The conversation: the chat's event handlers and the turns they keep in a gr.State.

A turn is a dict {"q": question, and "partial" (streamed text so far), then "answer" (Answer.to_dict()) or
"error" (+ "kind")}; ui/render.py turns them into chat messages and the sources panel.

    chat = Chat(engine, indexer)
    for chat_messages, turns, sources, box in chat.respond("Who?", turns, doc_ids, top_k, mode): ...

Every question goes through `engine.request`, the same validation as the `/ask` API (ui/api.py): a bad one
becomes its QuestionError's message in the chat; an unexpected failure is logged and shows GENERIC_ERROR.
A long conversation sends only its recent turns (rag.request.recent_history), so it never hits the history
bounds that `/ask` enforces.

Not here: the HTML (ui/render.py), answering (rag/engine.py), the Blocks layout and wiring (app.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr

from rag import RAG, Answer, UserFacingError
from rag.request import Message, recent_history
from ui import render
from ui.status import GENERIC_ERROR, INDEXING, Indexer

log = logging.getLogger("article_qa.ui")

Turn = dict[str, Any]
Update = tuple[Any, ...]  # chat messages, turns, sources panel HTML, question box


def history(turns: list[Turn]) -> list[Message]:
    """The conversation so far as OpenAI-style messages (answered turns only)."""
    out: list[Message] = []
    for turn in turns:
        if turn.get("answer") is not None:
            out += [{"role": "user", "content": turn["q"]}, {"role": "assistant", "content": turn["answer"]["text"]}]
    return out


def turn_of_message(turns: list[Turn], index: int) -> int | None:
    """The turn a chat message belongs to: a turn with an empty question shows no user message."""
    owners = [i for i, t in enumerate(turns) for _ in range(2 if t["q"].strip() else 1)]
    return owners[index] if 0 <= index < len(owners) else None


def error_text(exc: UserFacingError) -> str:
    """A user-facing error as a chat message: full sentences as they are, fragments as "Sorry: ….\""""
    return f"{exc}" if str(exc)[:1].isupper() else f"Sorry: {exc}."


def pick_example(evt: gr.SelectData) -> str:
    """The question of the example the user clicked."""
    return evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value)


class Chat:
    """The chat's event handlers, for one engine; the turns live in the page's gr.State, not here."""

    def __init__(self, engine: RAG, indexer: Indexer):
        self.engine, self.indexer = engine, indexer

    def panel(self, turns: list[Turn], index: int | None = None) -> str:
        """The sources panel for turn `index` (default: the last one)."""
        index = len(turns) - 1 if index is None else index
        answer = turns[index].get("answer") if 0 <= index < len(turns) else None
        try:
            documents = self.engine.retriever.corpus().documents
        except UserFacingError:  # a damaged index: the cards show the passages without their paragraph
            documents = {}
        return render.sources_panel(answer, index, documents)

    def respond(self, question: str, turns: list[Turn], doc_ids: list[str] | None, top_k: float,
                mode: str | None) -> Iterator[Update]:
        """Append a turn and stream its answer into it; yields (chat messages, turns, sources, question box)."""
        turns = [dict(t) for t in turns or []]
        turn: Turn = {"q": question or "", "partial": ""}
        turns.append(turn)
        if self.indexer.busy:
            turn.update(error=INDEXING, kind="busy")
            yield render.chat_messages(turns), turns, self.panel(turns), ""
            return
        yield render.chat_messages(turns), turns, self.panel(turns), ""
        mode = mode if self.engine.settings.llm_enabled and mode else None  # the radio is hidden without an LLM
        try:
            earlier = recent_history(history(turns[:-1]), self.engine.settings.max_question_chars)
            request = self.engine.request(turn["q"], doc_ids or None, int(top_k), earlier, mode)
            for event in self.engine.stream(request):
                if isinstance(event, Answer):
                    turn["answer"] = event.to_dict()
                else:
                    turn["partial"] += event
                    yield render.chat_messages(turns), turns, gr.skip(), gr.skip()
        except UserFacingError as exc:
            turn["error"] = error_text(exc)
        except Exception:
            log.exception("answering failed")
            turn["error"] = GENERIC_ERROR
        if turn.get("answer") is None and not turn.get("error"):
            turn["error"] = GENERIC_ERROR
        yield render.chat_messages(turns), turns, self.panel(turns), ""

    def retry(self, turns: list[Turn], doc_ids: list[str] | None, top_k: float,
              mode: str | None) -> Iterator[Update]:
        """Ask the last question again, in place of its answer."""
        if not turns:
            yield [], [], self.panel([]), gr.skip()
            return
        yield from self.respond(turns[-1]["q"], turns[:-1], doc_ids, top_k, mode)

    def select_turn(self, turns: list[Turn], evt: gr.SelectData) -> str | dict[str, Any]:
        """Show the sources of the turn whose message was clicked."""
        index = evt.index if isinstance(evt.index, int) else (evt.index or [0])[0]
        turn = turn_of_message(turns, index)
        return gr.skip() if turn is None else self.panel(turns, turn)

    def clear(self) -> Update:
        return [], [], render.sources_panel(None, 0, {}), ""
