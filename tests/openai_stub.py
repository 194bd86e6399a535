"""A small, deterministic, scripted OpenAI-compatible HTTP server for protocol tests.

What it does:
  * Serves ``POST /v1/chat/completions`` (plain JSON, or real Server-Sent Events with chunked
    transfer encoding when the body has ``"stream": true``), ``GET /v1/models`` (one model,
    ``stub-model``) and ``POST /v1/embeddings`` (deterministic unit vectors from a hash of each input,
    32-dim unless the request asks for ``dimensions``; honours ``encoding_format="base64"``, which
    the ``openai`` client sends by default).
  * Answers each chat request from a FIFO queue of :class:`Script` objects (``push``); when the queue
    is empty it uses ``default`` (a Script, or a callable that gets the request body), else HTTP 500.
    A Script can delay the answer, slow or stall a stream, return an error status, send raw bytes,
    or send an empty stream - enough to exercise client timeouts and error handling.
  * Records every request: ``requests`` (JSON bodies of POSTs), ``request_headers`` (lower-cased
    headers of every request, incl. ``authorization``) and ``request_paths`` (aligned with headers).

What it does NOT do:
  * No real language model, tokenizer, tool/function calling, logprobs, ``n > 1``, images, audio,
    the Responses API or legacy ``/v1/completions``; request parameters other than ``stream``,
    ``stream_options.include_usage``, ``model``, ``input``, ``dimensions`` and ``encoding_format``
    are recorded but ignored. No authentication is enforced. Embeddings carry no meaning.
  * Scripts are only consumed by chat completions; embeddings and models never consume the queue.
    Note the ``openai`` client retries 5xx/timeouts by default, and each retry consumes a Script -
    use ``max_retries=0`` for one-request-per-script tests.

Stdlib only. Typical use::

    with stub_server() as stub:
        stub.push("Hello there.", Script(status=500))
        client = openai.OpenAI(base_url=stub.base_url, api_key="x", max_retries=0)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["EMBED_DIM", "MODEL_ID", "Script", "StubOpenAI", "split_pieces", "stub_embedding", "stub_server"]

MODEL_ID = "stub-model"
EMBED_DIM = 32


@dataclass
class Script:
    """What the server does for one chat-completion request.

    ``delay`` is slept before anything is sent (status line included). With ``stall_stream_after=N``
    the stream sends N content chunks, then sends nothing for ``delay`` seconds (the socket stays
    open; the pre-answer delay is then skipped) and finally closes the connection WITHOUT the
    finish chunk, ``[DONE]`` or the terminating HTTP chunk - a dropped stream. ``raw_body`` is sent
    verbatim with ``status``; Content-Type is ``text/event-stream`` for stream requests, else
    ``application/json``.
    """

    content: str = ""
    delay: float = 0.0
    chunk_delay: float = 0.0
    status: int = 200
    raw_body: bytes | None = None
    empty_stream: bool = False
    stall_stream_after: int | None = None


ScriptSource = Script | Callable[[dict[str, Any]], "Script | str"]


def split_pieces(content: str) -> list[str]:
    """Split text into token-ish stream pieces: each word with its following whitespace."""
    return re.findall(r"\S+\s*|\s+", content)


def stub_embedding(text: str, dim: int = EMBED_DIM) -> list[float]:
    """Deterministic pseudo-embedding: a unit vector derived from SHA-256 of ``text``."""
    raw = b""
    counter = 0
    while len(raw) < dim:
        raw += hashlib.sha256(counter.to_bytes(4, "big") + text.encode("utf-8")).digest()
        counter += 1
    vec = [(b - 127.5) / 127.5 for b in raw[:dim]]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def _as_script(value: Script | str) -> Script:
    return Script(content=value) if isinstance(value, str) else value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    stub: StubOpenAI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # idle keep-alive connections give up after this

    # ---- plumbing -------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output quiet

    def setup(self) -> None:
        super().setup()
        self.server.stub._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.stub._track(self.connection, add=False)

    def handle(self) -> None:
        # The client may hang up mid-answer (e.g. after its own timeout): that is expected, not an error.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            super().handle()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, obj: Any) -> None:
        self._send_bytes(status, json.dumps(obj).encode("utf-8"), "application/json")

    def _send_error(self, status: int, message: str, err_type: str = "server_error") -> None:
        error = {"message": message, "type": err_type, "param": None, "code": None}
        self._send_json(status, {"error": error})

    def _route(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1/") else path

    # ---- verbs ----------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.server.stub._record(self.path, self.headers, None)
        if self._route() == "/models":
            model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "stub"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_error(404, f"Unknown path {self.path}", "invalid_request_error")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("body is not a JSON object")
        except ValueError:
            self.server.stub._record(self.path, self.headers, {"_raw": raw.decode("utf-8", "replace")})
            self._send_error(400, "Request body is not a JSON object", "invalid_request_error")
            return
        self.server.stub._record(self.path, self.headers, body)
        route = self._route()
        if route == "/chat/completions":
            self._chat(body)
        elif route == "/embeddings":
            self._embeddings(body)
        else:
            self._send_error(404, f"Unknown path {self.path}", "invalid_request_error")

    # ---- endpoints ------------------------------------------------------------------------------
    def _embeddings(self, body: dict[str, Any]) -> None:
        inp = body.get("input", "")
        items = inp if isinstance(inp, list) else [inp]
        dim = int(body.get("dimensions") or EMBED_DIM)
        data = []
        for i, item in enumerate(items):
            vec = stub_embedding(item if isinstance(item, str) else json.dumps(item), dim)
            emb: Any = vec
            if body.get("encoding_format") == "base64":
                emb = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode("ascii")
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(len(str(x).split()) for x in items)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model") or MODEL_ID,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def _chat(self, body: dict[str, Any]) -> None:
        stub = self.server.stub
        script = stub._next_script(body)
        if script is None:
            self._send_error(500, "StubOpenAI: no scripted response and no default")
            return
        stream = bool(body.get("stream"))
        if script.delay and script.stall_stream_after is None and not stub._sleep(script.delay):
            return  # server stopping
        if script.raw_body is not None:
            ctype = "text/event-stream" if stream else "application/json"
            self._send_bytes(script.status, script.raw_body, ctype)
            return
        if script.status != 200:
            self._send_error(script.status, f"StubOpenAI scripted error {script.status}")
            return
        model = str(body.get("model") or MODEL_ID)
        cid = f"chatcmpl-stub-{uuid.uuid4().hex[:12]}"
        created = int(time.time())
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in body.get("messages") or [])
        pieces = split_pieces(script.content)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        if not stream:
            message = {"role": "assistant", "content": script.content}
            choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
            self._send_json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [choice],
                    "usage": usage,
                },
            )
            return
        self._stream(script, pieces, cid, created, model, usage, body)

    def _stream(
        self,
        script: Script,
        pieces: list[str],
        cid: str,
        created: int,
        model: str,
        usage: dict[str, int],
        body: dict[str, Any],
    ) -> None:
        stub = self.server.stub
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def write_chunk(data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

        def event(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
            obj: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
            }
            obj.update(extra or {})
            write_chunk(b"data: " + json.dumps(obj).encode("utf-8") + b"\n\n")

        def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]

        if not script.empty_stream:
            for i, piece in enumerate(pieces):
                if script.stall_stream_after is not None and i >= script.stall_stream_after:
                    break
                if i and script.chunk_delay and not stub._sleep(script.chunk_delay):
                    return
                delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                event(choice(delta))
            if script.stall_stream_after is not None:
                stub._sleep(script.delay)
                self.close_connection = True
                return  # drop the connection mid-stream
            if not pieces:
                event(choice({"role": "assistant", "content": ""}))
            event(choice({}, "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                event([], {"usage": usage})
        write_chunk(b"data: [DONE]\n\n")
        write_chunk(b"")  # terminating zero-length chunk


class StubOpenAI:
    """Scripted OpenAI-compatible server on 127.0.0.1:<free port>, running in a daemon thread."""

    def __init__(self, default: ScriptSource | None = None) -> None:
        self.default = default
        self.base_url = ""
        self.requests: list[dict[str, Any]] = []
        self.request_headers: list[dict[str, str]] = []
        self.request_paths: list[str] = []
        self.errors: list[str] = []  # exceptions raised by a callable ``default``
        self._post_paths: list[str] = []  # aligned with ``requests``
        self._queue: deque[Script] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- public API -----------------------------------------------------------------------------
    def push(self, *scripts: Script | str) -> None:
        """Queue answers for the next chat-completion requests (FIFO); a str means Script(content=str)."""
        with self._lock:
            self._queue.extend(_as_script(s) for s in scripts)

    @property
    def pending(self) -> int:
        """Number of queued scripts not yet consumed."""
        with self._lock:
            return len(self._queue)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """JSON bodies of chat-completion requests only."""
        with self._lock:
            return [
                b
                for p, b in zip(self._post_paths, self.requests, strict=True)
                if p.rstrip("/").endswith("/chat/completions")
            ]

    def start(self) -> StubOpenAI:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.stub = self
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="StubOpenAI", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wake handlers sleeping on delay / stall
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # close idle keep-alive connections so handler threads exit
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StubOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- internals used by the handler ----------------------------------------------------------
    def _record(self, path: str, headers: Any, body: dict[str, Any] | None) -> None:
        hdrs = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            self.request_paths.append(path)
            self.request_headers.append(hdrs)
            if body is not None:
                self._post_paths.append(path)
                self.requests.append(body)

    def _next_script(self, body: dict[str, Any]) -> Script | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.default is None:
            return None
        if isinstance(self.default, Script):
            return self.default
        try:
            return _as_script(self.default(body))
        except Exception as exc:  # surface test bugs as a 500 + a recorded error, not a hung client
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            return Script(status=500)

    def _sleep(self, seconds: float) -> bool:
        """Sleep, but wake early when stopping. Returns False if the server is stopping."""
        if seconds > 0:
            self._stopping.wait(seconds)
        return not self._stopping.is_set()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)


@contextlib.contextmanager
def stub_server(default: ScriptSource | None = None) -> Iterator[StubOpenAI]:
    """Start a :class:`StubOpenAI` for the duration of a ``with`` block (wrap it in a fixture)."""
    stub = StubOpenAI(default).start()
    try:
        yield stub
    finally:
        stub.stop()
