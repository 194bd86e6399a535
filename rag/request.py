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
# History bounds: the engine only uses the recent turns, and an unbounded history (a 13 MB one was accepted)
# costs memory, parsing and, in LLM mode, prompt tokens. 50 messages are 25 question/answer turns; the
# characters are a multiple of the question limit (20 × 2000 by default), room for long generated answers.
MAX_HISTORY_MESSAGES = 50
HISTORY_CHARS_PER_QUESTION_CHARS = 20

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
            history=_history(history, max_chars),
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
    if question is None:  # an API call with too few arguments: gradio fills the missing ones with None
        raise QuestionError("the question is missing (the first argument)")
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


def history_char_limit(max_chars: int) -> int:
    """The most characters a history may hold, for a question limit of `max_chars`."""
    return HISTORY_CHARS_PER_QUESTION_CHARS * max_chars


def _history(history: Any, max_chars: int) -> tuple[Message, ...]:
    """Earlier user and assistant turns, within the history bounds; other roles (system prompts, tools) are
    ignored but count towards the bounds, which apply to what the caller sent."""
    if history is None:
        return ()
    if not isinstance(history, (list, tuple)):
        raise QuestionError("history must be a list of {role, content} messages")
    if len(history) > MAX_HISTORY_MESSAGES:  # checked first: cheap, before looking at the messages
        raise QuestionError(f"the history is too long ({len(history)} messages; the limit is "
                            f"{MAX_HISTORY_MESSAGES}): send only the recent turns")
    if not all(isinstance(m, Mapping) and isinstance(m.get("content"), str) for m in history):
        raise QuestionError("history must be a list of {role, content} messages")
    chars, limit = sum(len(m["content"]) for m in history), history_char_limit(max_chars)
    if chars > limit:
        raise QuestionError(f"the history is too long ({chars:,} characters; the limit is {limit:,}): "
                            "send only the recent turns")
    return tuple({"role": m["role"], "content": m["content"]} for m in history if m.get("role") in ROLES)


def recent_history(messages: Sequence[Message], max_chars: int) -> list[Message]:
    """The latest of `messages` that fit the history bounds, oldest first, starting with a user turn: what a
    long conversation (the chat UI) sends instead of all of it, since only the recent turns matter."""
    kept: list[Message] = []
    total, limit = 0, history_char_limit(max_chars)
    for message in reversed(messages):
        total += len(message["content"])
        if len(kept) == MAX_HISTORY_MESSAGES or total > limit:
            break
        kept.append(message)
    kept.reverse()
    while kept and kept[0]["role"] != "user":  # an answer without its question would mislead the rewrite
        kept.pop(0)
    return kept


def _mode(mode: Any) -> Literal["extractive", "llm"] | None:
    if mode is None or mode == "":
        return None
    if mode not in MODES:
        raise QuestionError(f"unknown answer mode {mode!r}: use 'extractive' or 'llm'")
    return mode
