"""The app's queue under concurrent callers: its configuration (bench/load.py measures what it buys, README
"Load"), many sessions at once through the queue protocol that gradio_client and the page speak, and the login
in front of that protocol. No timing is asserted here."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import serve_app
from gradio.queueing import Queue
from pydantic import SecretStr

import app
from bench.load_client import GradioHttp, run_http
from rag import RAG

QUESTIONS = ["How many times has Putin visited Kazakhstan?", "Why did Tokayev visit Russia?",
             "What did Tokayev say about the LPR and the DPR?", "What is the population of Brazil?"]


@pytest.fixture(scope="module")
def url(engine: RAG) -> Iterator[str]:
    with serve_app(engine) as address:
        yield address


def _ask_fn(demo: Any) -> Any:
    return next(fn for fn in demo.fns.values() if fn.api_name == "ask")


def test_ask_is_answered_a_few_at_a_time_and_queue_positions_go_out_on_a_timer(engine: RAG) -> None:
    demo = app.build_app(engine)
    queue = demo._queue
    ask = _ask_fn(demo)
    limit = queue.default_concurrency_limit if ask.concurrency_limit == "default" else ask.concurrency_limit
    assert limit == app.QUEUE_CONCURRENCY and limit is not None  # first come, first served; not a free-for-all
    assert ask.queue  # gradio_client and the page reach /ask through the queue
    # Gradio's default ("auto") sends every waiting caller an update whenever any job starts.
    assert queue.live_updates is False
    assert queue.update_intervals == app.STATUS_UPDATE_SECONDS


def test_no_monitoring_summary_is_computed_per_event(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gradio rebuilds a pandas summary of recent events after each one unless told otherwise (the app does)."""
    summaries: list[int] = []
    real = Queue.compute_analytics_summary

    def counted(self: Queue, records: Any) -> Any:
        before = self.event_count_at_last_cache
        result = real(self, records)
        if self.event_count_at_last_cache != before:
            summaries.append(len(records))
        return result

    monkeypatch.setattr(Queue, "compute_analytics_summary", counted)
    records = _load(url, [[QUESTIONS[0]], [QUESTIONS[3]]])
    assert all(r["ok"] for r in records), records
    assert summaries == []


def _load(url: str, sessions: list[list[str]]) -> list[dict[str, Any]]:
    """bench.load's client (the queue protocol over raw HTTP): one record per request."""
    records: list[dict[str, Any]] = []
    asyncio.run(run_http(url, sessions, deadline=float("inf"), timeout=120, emit=records.append))
    return records


def test_twelve_sessions_at_once_through_the_queue_protocol(url: str) -> None:
    """Three times the queue's concurrency, each session with a follow-up that carries its history: every request
    is answered (none is lost or mixed up between sessions), as bench/load.py measures at 50 sessions."""
    sessions = [[QUESTIONS[i % 4], QUESTIONS[(i + 1) % 4]] for i in range(3 * app.QUEUE_CONCURRENCY)]
    records = _load(url, sessions)
    assert len(records) == 2 * len(sessions)
    assert all(r["ok"] for r in records), [r.get("error") for r in records if not r["ok"]]
    assert {(r["session"], r["turn"]) for r in records} == {(s, t) for s in range(len(sessions)) for t in (0, 1)}
    by_question = {(r["session"], r["turn"]): r["refused"] for r in records}
    brazil = {k for k in by_question if sessions[k[0]][k[1]] == QUESTIONS[3]}
    assert brazil and all(by_question[k] for k in brazil)  # the articles do not say
    assert any(not refused for k, refused in by_question.items() if k not in brazil)


def test_login_guards_the_queue_protocol(engine: RAG) -> None:
    with serve_app(engine, auth=SecretStr("reader:s3cret-pass")) as address:
        body = {"data": [QUESTIONS[0]], "fn_index": _ask_fn_index(address, "reader", "s3cret-pass"),
                "session_hash": "anonymous01", "event_data": None, "trigger_id": None}
        refused = httpx.post(f"{address}gradio_api/queue/join", json=body, timeout=30)
        assert refused.status_code == 401

        async def logged_in() -> Any:  # the login form's session cookie, then the same protocol
            async with httpx.AsyncClient(timeout=60) as client:
                await client.post(f"{address}login", data={"username": "reader", "password": "s3cret-pass"})
                api = GradioHttp(client, address)
                await api.connect()
                return await api.call("reader00001", [QUESTIONS[0], None, None, None, None])

        answer = asyncio.run(logged_in())
        assert "error" not in answer and not answer["refused"]


def _ask_fn_index(address: str, user: str, password: str) -> int:
    with httpx.Client(timeout=30) as client:
        client.post(f"{address}login", data={"username": user, "password": password})
        config = client.get(f"{address}config").json()
    return next(d["id"] for d in config["dependencies"] if d.get("api_name") == "ask")
