"""The `rag` command: ask (text and JSON), chat with follow-ups, clear errors for bad questions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from store.settings import Settings

RAG_BIN = str(Path(sys.executable).parent / "rag")


def run_rag(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_DATA_DIR": str(settings.data_dir), "RAG_CORPUS_DIR": str(settings.corpus_dir)}
    return subprocess.run([RAG_BIN, *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=300)


def test_ask_prints_the_answer_and_numbered_sources(indexed_articles: Settings) -> None:
    out = run_rag(indexed_articles, "ask", "Which Black Sea port did Russia stop Kazakh oil shipments from?")
    assert out.returncode == 0, out.stderr
    assert "Novorossiysk" in out.stdout and "[1]" in out.stdout and "Sources:" in out.stdout


def test_ask_json_is_the_answer_dict(indexed_articles: Settings) -> None:
    out = run_rag(
        indexed_articles,
        "ask",
        "--json",
        "--doc",
        "putin-state-visit-to-kazakhstan",
        "How many documents were signed after the negotiations?",
    )
    data = json.loads(out.stdout)
    assert data["refused"] is False and data["mode"] == "extractive"
    assert {c["doc_id"] for c in data["citations"]} == {"putin-state-visit-to-kazakhstan"}
    assert {"text", "citations", "sources", "timings"} <= set(data)


def test_bad_questions_are_one_line_errors(indexed_articles: Settings) -> None:
    for question in ["   ", "x" * 3000, "bad\x07question"]:
        out = run_rag(indexed_articles, "ask", question)
        assert out.returncode == 1 and out.stderr.startswith("error: the question")
        assert "Traceback" not in out.stderr


def test_chat_keeps_history_for_follow_ups(indexed_articles: Settings) -> None:
    dialogue = "What did Russia do with Kazakh oil shipments from Novorossiysk?\nWhat was the official reason?\n\n"
    out = run_rag(indexed_articles, "chat", stdin=dialogue)
    assert out.returncode == 0, out.stderr
    assert "Novorossiysk" in out.stdout and "mine clearing" in out.stdout
