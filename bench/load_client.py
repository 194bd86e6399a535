"""The load client of `bench.load`: chat sessions against a running app's `/ask`, in a process of its own.

    python -m bench.load_client URL SESSIONS.json --deadline-s 600 --timeout-s 300 [--client gradio]

SESSIONS.json is a list of sessions, each a list of questions. Every session asks its questions in turn, passing
the conversation so far as `history`, and each request prints one JSON line on stdout
({"session", "turn", "started", "seconds", "ok", "refused", "error"}; `started` is time.time()); the last line
is {"client_cpu_seconds": ...}, this process's own CPU time.

Two clients, both through the app's real HTTP API (queue, session, SSE stream — what the page and
gradio_client use):
- "http" (default): asyncio + httpx, one session hash per session: POST /gradio_api/queue/join, then read
  GET /gradio_api/queue/data?session_hash=… (server-sent events) until the request's `process_completed`.
  It costs ~5 ms of CPU per request.
- "gradio": one `gradio_client.Client` per session in a thread each, as the bench did before. gradio_client
  costs ~50-110 ms of CPU per request here (a new httpx client, so a new TLS context, per call; per-job threads
  polling every 50 ms; a heartbeat stream per client), more than the app spends answering: on the same 2 cores
  it measures the client as much as the app.
Why a process of its own: the client's CPU is then measured apart from the app's and from the bench's own
work, and its GIL is not the measuring process's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

Record = dict[str, Any]
Emit = Callable[[Record], None]


def _record(session: int, turn: int, started: float, seconds: float, reply: Any) -> Record:
    """One request's outcome: ok unless the reply is not a dict or is an {"error": ...}."""
    if isinstance(reply, dict) and "error" not in reply:
        return {"session": session, "turn": turn, "started": started, "seconds": seconds, "ok": True,
                "refused": bool(reply.get("refused"))}
    error = reply.get("error") if isinstance(reply, dict) else f"unexpected reply {type(reply).__name__}"
    return {"session": session, "turn": turn, "started": started, "seconds": seconds, "ok": False,
            "error": str(error)[:160]}


def _next_history(history: list[dict[str, str]], question: str, reply: Any) -> list[dict[str, str]]:
    asked = [*history, {"role": "user", "content": question}]
    if isinstance(reply, dict) and "error" not in reply:
        return [*asked, {"role": "assistant", "content": reply.get("text", "")}]
    return asked


# ------------------------------------------------------------------------------------------- http client


class GradioHttp:
    """Gradio's queue protocol (sse_v3) for one endpoint, over a shared httpx.AsyncClient."""

    def __init__(self, client: httpx.AsyncClient, url: str, api_name: str = "ask"):
        self.client, self.url, self.api_name = client, url.rstrip("/"), api_name
        self.prefix, self.fn_index = "/gradio_api", -1

    async def connect(self) -> None:
        """Read the app's config for its API prefix and the endpoint's function index."""
        response = await self.client.get(f"{self.url}/config")
        response.raise_for_status()
        config = response.json()
        self.prefix = config.get("api_prefix", "/gradio_api")
        self.fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == self.api_name)

    async def call(self, session_hash: str, args: list[Any]) -> Any:
        """The endpoint's single output for `args`, or {"error": ...} for a failed event."""
        joined = await self.client.post(f"{self.url}{self.prefix}/queue/join", json={
            "data": args, "fn_index": self.fn_index, "session_hash": session_hash,
            "event_data": None, "trigger_id": None})
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        async with self.client.stream("GET", f"{self.url}{self.prefix}/queue/data",
                                      params={"session_hash": session_hash}) as stream:
            stream.raise_for_status()
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                kind = message.get("msg")
                if kind == "process_completed" and message.get("event_id") == event_id:
                    output = message.get("output") or {}
                    if not message.get("success"):
                        return {"error": f"event failed: {output.get('error')}"}
                    return output["data"][0]
                if kind in ("close_stream", "unexpected_error", "server_stopped"):
                    return {"error": f"stream ended: {kind} {message.get('message') or ''}".strip()}
        return {"error": "stream ended without a result"}


def _unsent(index: int, turn: int, error: str) -> dict[str, Any]:
    """The record of a request that was never sent: a failure of the session, not a latency."""
    return {"session": index, "turn": turn, "started": time.time(), "seconds": 0.0, "ok": False, "error": error}


async def _http_session(api: GradioHttp, index: int, questions: list[str], deadline: float, timeout: float,
                        emit: Emit) -> None:
    session_hash = uuid.uuid4().hex[:11]  # like the page's and gradio_client's: one per session
    history: list[dict[str, str]] = []
    for turn, question in enumerate(questions):
        started, clock = time.time(), time.monotonic()
        if clock > deadline:
            emit(_unsent(index, turn, "not sent: phase time limit"))
            continue
        try:
            args = [question, None, None, history or None, None]
            reply = await asyncio.wait_for(api.call(session_hash, args), min(timeout, max(1.0, deadline - clock)))
        except Exception as exc:  # noqa: BLE001 - timeouts and transport errors are results here
            reply = {"error": f"{type(exc).__name__}: {str(exc)[:120]}"}
        emit(_record(index, turn, started, time.monotonic() - clock, reply))
        history = _next_history(history, question, reply)


async def run_http(url: str, sessions: list[list[str]], deadline: float, timeout: float, emit: Emit) -> None:
    limits = httpx.Limits(max_connections=2 * len(sessions) + 8, max_keepalive_connections=2 * len(sessions) + 8)
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), limits=limits) as client:
        api = GradioHttp(client, url)
        await api.connect()
        await asyncio.gather(*(_http_session(api, i, qs, deadline, timeout, emit) for i, qs in enumerate(sessions)))


# ----------------------------------------------------------------------------------------- gradio_client


def _gradio_session(url: str, index: int, questions: list[str], deadline: float, timeout: float,
                    emit: Emit) -> None:
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, download_files=False)
    except Exception as exc:  # noqa: BLE001 - a session that cannot connect counts as failed requests
        for turn in range(len(questions)):
            emit(_unsent(index, turn, f"connect: {type(exc).__name__}"))
        return
    history: list[dict[str, str]] = []
    for turn, question in enumerate(questions):
        started, clock = time.time(), time.monotonic()
        if clock > deadline:
            emit(_unsent(index, turn, "not sent: phase time limit"))
            continue
        try:
            job = client.submit(question, None, None, history or None, None, api_name="/ask")
            reply = job.result(timeout=min(timeout, max(1.0, deadline - clock)))
        except Exception as exc:  # noqa: BLE001
            reply = {"error": f"{type(exc).__name__}: {str(exc)[:120]}"}
        emit(_record(index, turn, started, time.monotonic() - clock, reply))
        history = _next_history(history, question, reply)


def run_gradio(url: str, sessions: list[list[str]], deadline: float, timeout: float, emit: Emit) -> None:
    with ThreadPoolExecutor(max_workers=len(sessions), thread_name_prefix="session") as pool:
        futures = [pool.submit(_gradio_session, url, i, qs, deadline, timeout, emit) for i, qs in enumerate(sessions)]
        for future in futures:
            future.result()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_client", description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("sessions", type=Path, help="JSON list of sessions, each a list of questions")
    parser.add_argument("--client", choices=("http", "gradio"), default="http")
    parser.add_argument("--deadline-s", type=float, default=600, help="send no request after this many seconds")
    parser.add_argument("--timeout-s", type=float, default=300, help="per request")
    args = parser.parse_args(argv)
    sessions = json.loads(args.sessions.read_text(encoding="utf-8"))
    lock = threading.Lock()

    def emit(record: Record) -> None:
        with lock:
            print(json.dumps(record), flush=True)

    deadline = time.monotonic() + args.deadline_s
    cpu = time.process_time()
    if args.client == "http":
        asyncio.run(run_http(args.url, sessions, deadline, args.timeout_s, emit))
    else:
        run_gradio(args.url, sessions, deadline, args.timeout_s, emit)
    emit({"client_cpu_seconds": round(time.process_time() - cpu, 2)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
