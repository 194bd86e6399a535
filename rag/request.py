"""`Request`: one question to answer, validated once. The library, the CLI, the chat UI and the `/ask` API all
build one, so a bad argument gets the same clear `QuestionError` message wherever it comes from.

Not here: checks that need the index (unknown article ids: rag/engine.py) or an LLM endpoint.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from store.errors import QuestionError

MAX_TOP_K = 10
MODES = ("extractive", "llm")
ROLES = ("user", "assistant")

Message = dict[str, str]  # OpenAI style: {"role": "user" | "assistant", "content": "..."}


@dataclass(frozen=True)
class Request:
    question: str
    doc_ids: tuple[str, ...] | None = None  # only search these articles; None = all
    top_k: int | None = None  # passages to retrieve; None = the configured default
    history: tuple[Message, ...] = ()  # earlier turns of the conversation, oldest first
    mode: Literal["extractive", "llm"] | None = None  # None = LLM when one is configured

    @classmethod
    def parse(
        cls,
        question: Any,
        doc_ids: Any = None,
        top_k: Any = None,
        history: Any = None,
        mode: Any = None,
        *,
        max_chars: int,
    ) -> Request:
        """A request from loosely typed arguments (an API call's JSON, say), or a QuestionError saying what is
        wrong. `doc_ids` may be a list or a comma-separated string; an empty one means all articles."""
        return cls(
            question=parse_question(question, max_chars),
            doc_ids=_doc_ids(doc_ids),
            top_k=_top_k(top_k),
            history=_history(history),
            mode=_mode(mode),
        )

    @classmethod
    def from_messages(cls, messages: Any, doc_ids: Any = None, top_k: Any = None, mode: Any = None, *,
                      max_chars: int) -> Request:
        """A request from an OpenAI-style conversation whose last message is the user's question."""
        if not isinstance(messages, Sequence) or not messages or not isinstance(messages[-1], Mapping):
            raise QuestionError("the last message must be the user's question")
        if messages[-1].get("role") != "user":
            raise QuestionError("the last message must be the user's question")
        return cls.parse(messages[-1].get("content"), doc_ids, top_k, list(messages[:-1]), mode,
                         max_chars=max_chars)


def parse_question(question: Any, max_chars: int) -> str:
    """The question, stripped; or a QuestionError that says what is wrong with it."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    question = question.strip()
    if not question:
        raise QuestionError("the question is empty")
    if len(question) > max_chars:
        raise QuestionError(f"the question is too long ({len(question)} characters; the limit is {max_chars})")
    # Cc/Cf: control and format characters; Cs: lone surrogates, which are not text at all.
    controls = [c for c in question if unicodedata.category(c) in ("Cc", "Cf", "Cs") and c not in "\n\t\u200d"]
    if controls:
        raise QuestionError("the question contains control characters")
    return question


def _doc_ids(doc_ids: Any) -> tuple[str, ...] | None:
    if isinstance(doc_ids, str):
        doc_ids = [d.strip() for d in doc_ids.split(",") if d.strip()]
    if doc_ids is None:
        return None
    if not isinstance(doc_ids, (list, tuple)) or not all(isinstance(d, str) for d in doc_ids):
        raise QuestionError("doc_ids must be a list of article ids or a comma-separated string")
    return tuple(doc_ids) or None


def _top_k(top_k: Any) -> int | None:
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise QuestionError(f"top_k must be a whole number between 1 and {MAX_TOP_K}")
    if not 1 <= top_k <= MAX_TOP_K:
        raise QuestionError(f"top_k must be between 1 and {MAX_TOP_K}")
    return top_k


def _history(history: Any) -> tuple[Message, ...]:
    """Earlier user and assistant turns; other roles (system prompts, tools) are ignored."""
    if history is None:
        return ()
    if not isinstance(history, (list, tuple)) or not all(
        isinstance(m, Mapping) and isinstance(m.get("content"), str) for m in history
    ):
        raise QuestionError("history must be a list of {role, content} messages")
    return tuple({"role": m["role"], "content": m["content"]} for m in history if m.get("role") in ROLES)


def _mode(mode: Any) -> Literal["extractive", "llm"] | None:
    if mode is None or mode == "":
        return None
    if mode not in MODES:
        raise QuestionError(f"unknown answer mode {mode!r}: use 'extractive' or 'llm'")
    return mode
