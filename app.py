"""The chat UI and its programmatic API: `python app.py` (or `rag serve`) serves it on RAG_HOST:RAG_PORT.

    demo = build_app(RAG())      # gr.Blocks: chat, sources panel, filters, upload, "About the corpus"
    launch(demo, settings)       # host/port/auth/CSS from the settings; blocks unless prevent_thread_lock

RAG_AUTH turns on gradio's login form (a session cookie; HTTP Basic, `curl -u`, is not accepted), with
repeated wrong passwords slowed down (`Login`); binding beyond loopback without it logs a warning.

On first start with an empty index (or one an older version wrote), `main` ingests the corpus folder in a
background thread; the page shows the progress (a status line polled by a gr.Timer) and the chat says
"indexing…" until it is done.

For programs: `/ask` (question, doc_ids, top_k, history, mode) → `Answer.to_dict()` or {"error": ...};
follow-ups pass the earlier turns as OpenAI-style `history`. `/documents` lists the indexed articles. Calls go
through gradio's queue; `/ask` answers QUEUE_CONCURRENCY at a time, first come, first served (`python -m bench.load`
measures it under 50 concurrent sessions).

This module lays out the page and wires its events to the parts in ui/, which do the work: the chat
(ui/chat.py), the status line and start-up ingest (ui/status.py), uploads (ui/upload.py), the API
(ui/api.py) and the HTML (ui/render.py). Not here either: answering (rag/engine.py), indexing (ingest/).
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# After every event gradio's queue rebuilds a pandas summary of up to 10,000 recent events for its monitoring
# dashboard, which this app does not serve (enable_monitoring=False): ~2 ms of CPU per /ask in a fresh app, ~8 ms
# once 10,000 events are recorded. The summary is rebuilt every N events; an N no server reaches turns it off.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**62))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import hmac  # noqa: E402
import ipaddress  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from ingest.load import SUPPORTED_SUFFIXES  # noqa: E402
from rag import RAG, Settings, UserFacingError  # noqa: E402
from ui import render  # noqa: E402
from ui.api import Api  # noqa: E402
from ui.chat import Chat, pick_example  # noqa: E402
from ui.status import Indexer, Status, doc_choices, indexed_documents, status_line  # noqa: E402
from ui.upload import Upload  # noqa: E402

log = logging.getLogger("article_qa.app")
MODES = [("Extractive — quotes from the articles", "extractive"), ("LLM — generated, with citations", "llm")]
API_ENDPOINTS = ("ask", "documents")
# The queue (measured with `python -m bench.load`, 50 sessions on 2 cores at load average 7-10; README "Load").
# Event listeners without a limit of their own, /ask included, answer QUEUE_CONCURRENCY requests at once and queue
# the rest first come, first served, so every caller waits about as long as the others: with no limit, 50 calls at
# once race for the embedder's lock and the GIL, and the unlucky ones waited 7-9 s (p95 5.1-5.8 s against 3.3-3.5 s
# with 4). 6 or 8 gained nothing (the engine is CPU-bound; the embedder runs one query at a time). Queue positions
# go out every STATUS_UPDATE_SECONDS: gradio's default ("auto") sends every waiting caller an update whenever any
# job starts, 35 messages per /ask at 50 callers (5,283 for 150 calls, against 512 now), CPU spent on both sides.
QUEUE_CONCURRENCY = 4
STATUS_UPDATE_SECONDS = 1.0
UPLOAD_CACHE_SECONDS = 3600  # gradio deletes cached uploads this old (those the upload handler did not delete)


class AppBlocks(gr.Blocks):
    """gr.Blocks whose API endpoints take missing trailing arguments as None, as gradio_client does.

    Gradio rejects a raw HTTP call with fewer values than parameters before the endpoint runs, with an error
    that carries no message (`{"error": null}`, since show_error is off); padded, the call reaches `/ask`,
    which answers {"error": "the question is missing …"}. The page's own events keep gradio's strict check.
    """

    def validate_inputs(self, block_fn: Any, inputs: list[Any]) -> None:
        if block_fn.api_name in API_ENDPOINTS and len(inputs) < len(block_fn.inputs):
            inputs.extend([None] * (len(block_fn.inputs) - len(inputs)))
        super().validate_inputs(block_fn, inputs)


@dataclass
class Page:
    """The components that events read or write."""

    turns: gr.State
    status: gr.HTML
    chatbot: gr.Chatbot
    box: gr.Textbox
    send: gr.Button
    retry: gr.Button
    clear: gr.Button
    filter_box: gr.Dropdown
    top_k: gr.Slider
    mode: gr.Radio
    files: gr.File
    upload_out: gr.HTML
    sources: gr.HTML
    about: gr.HTML
    timer: gr.Timer


def build_app(engine: RAG, indexer: Indexer | None = None) -> gr.Blocks:
    indexer = indexer or Indexer(engine)
    with AppBlocks(title="Article QA", fill_width=False,
                   delete_cache=(UPLOAD_CACHE_SECONDS, UPLOAD_CACHE_SECONDS)) as demo:
        page = _layout(engine, indexer)
        _wire(demo, page, engine, indexer)
    demo.queue(default_concurrency_limit=QUEUE_CONCURRENCY, max_size=256, status_update_rate=STATUS_UPDATE_SECONDS)
    return demo


def _layout(engine: RAG, indexer: Indexer) -> Page:
    settings = engine.settings
    turns = gr.State([])
    with gr.Row(equal_height=True):
        gr.HTML('<div class="aqa-header"><h1>Article QA</h1><p>Answers quoted from your articles, every '
                "claim with a source — or an honest “the articles don't say”.</p></div>")
        status = gr.HTML(status_line(engine, indexer), elem_id="aqa-status")
    with gr.Tabs():
        with gr.Tab("Ask"), gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Conversation", show_label=False, height=520, render_markdown=False,
                    sanitize_html=True, allow_tags=False, latex_delimiters=[], feedback_options=None, buttons=[],
                    examples=render.example_questions(indexed_documents(engine)) or None, elem_id="aqa-chat",
                    placeholder="Ask anything about the indexed articles.")
                with gr.Row():
                    box = gr.Textbox(placeholder="Ask a question about the articles…", show_label=False,
                                     scale=5, lines=1, max_lines=6, elem_id="aqa-question", autofocus=True)
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="aqa-send")
                with gr.Row():
                    retry = gr.Button("↻ Retry", size="sm", elem_id="aqa-retry")
                    clear = gr.Button("✕ Clear", size="sm", elem_id="aqa-clear")
                with gr.Accordion("Options", open=False):
                    filter_box = gr.Dropdown(choices=doc_choices(indexed_documents(engine)), multiselect=True, value=[],
                                             label="Only search these articles (empty = all)")
                    top_k = gr.Slider(1, 10, value=min(max(settings.top_k, 1), 10), step=1,
                                      label="Passages to retrieve")
                    mode = gr.Radio(MODES, value="llm" if settings.llm_enabled else "extractive",
                                    label="Answer mode", visible=settings.llm_enabled)
                files, upload_out = _upload_box(settings)
            with gr.Column(scale=2):
                sources = gr.HTML(render.sources_panel(None, 0, {}), elem_id="aqa-sources")
        with gr.Tab("About the corpus"):
            about = gr.HTML(render.corpus_table(indexed_documents(engine), settings.corpus_dir), elem_id="aqa-about")
    timer = gr.Timer(1.0, active=indexer.busy)
    return Page(turns, status, chatbot, box, send, retry, clear, filter_box, top_k, mode, files, upload_out,
                sources, about, timer)


def _upload_box(settings: Settings) -> tuple[gr.File, gr.HTML]:
    with gr.Accordion("Add articles", open=False):
        limit = f"{', '.join(SUPPORTED_SUFFIXES)} up to {settings.max_file_bytes / 1e6:g} MB each"
        files = gr.File(file_count="multiple", file_types=list(SUPPORTED_SUFFIXES),
                        type="filepath", elem_id="aqa-upload", label=limit)
        return files, gr.HTML(elem_id="aqa-upload-result")


def _wire(demo: gr.Blocks, page: Page, engine: RAG, indexer: Indexer) -> None:
    """Connect the events to the ui parts. Only /ask and /documents are public API; the rest is the page's."""
    chat, status = Chat(engine, indexer), Status(engine, indexer)
    upload, api = Upload(engine, indexer), Api(engine, indexer)
    ui_only: dict[str, Any] = {"api_visibility": "private"}
    chat_out = [page.chatbot, page.turns, page.sources, page.box]
    chat_io: dict[str, Any] = dict(inputs=[page.box, page.turns, page.filter_box, page.top_k, page.mode],
                                   outputs=chat_out)
    page.box.submit(chat.respond, **chat_io, **ui_only)
    page.send.click(chat.respond, **chat_io, **ui_only)
    page.chatbot.example_select(pick_example, None, page.box, **ui_only).then(chat.respond, **chat_io, **ui_only)
    page.retry.click(chat.retry, [page.turns, page.filter_box, page.top_k, page.mode], chat_out, **ui_only)
    for clearing in (page.clear.click, page.chatbot.clear):
        clearing(chat.clear, None, chat_out, **ui_only)
    page.chatbot.select(chat.select_turn, [page.turns], page.sources, **ui_only)
    refresh_out = [page.status, page.filter_box, page.about, page.chatbot]
    page.timer.tick(status.poll, None, [*refresh_out, page.timer], concurrency_limit=None, **ui_only)
    demo.load(status.refresh, None, refresh_out, concurrency_limit=None, **ui_only)
    # preprocess=False: the handler gets every uploaded file (gradio's own type check would refuse some
    # before it and leave them in its cache) with the user's file name, and deletes what it does not add.
    page.files.upload(upload.upload, [page.files], [page.upload_out, *refresh_out, page.files], concurrency_limit=1,
                      preprocess=False, **ui_only)
    gr.api(api.ask, api_name="ask")
    gr.api(api.documents, api_name="documents", concurrency_limit=None)


def parse_auth(settings: Settings) -> tuple[str, str] | None:
    if settings.auth is None:
        return None
    user, sep, password = settings.auth.get_secret_value().partition(":")
    if not (sep and user and password):
        raise UserFacingError('RAG_AUTH must look like "user:password"')
    return user, password


class Login:
    """The check behind gradio's login form (RAG_AUTH): constant-time comparison, and after FREE_FAILURES
    wrong attempts in a row (from anywhere) every attempt waits, BASE_DELAY doubling up to MAX_DELAY, before
    it is checked. Attempts are checked one at a time, so parallel guessing is slowed down as much as serial
    guessing; beyond MAX_WAITING queued attempts the rest are refused unchecked. A success resets the count.

    Async so that the wait does not block gradio's event loop (gradio awaits a coroutine-function `auth`).
    """

    FREE_FAILURES = 5
    BASE_DELAY, MAX_DELAY = 0.25, 2.0  # seconds
    MAX_WAITING = 32

    def __init__(self, user: str, password: str,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._user, self._password, self._sleep = user.encode(), password.encode(), sleep
        self.failures, self._waiting = 0, 0
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds the next attempt waits before it is checked."""
        over = self.failures - self.FREE_FAILURES
        return 0.0 if over < 0 else min(self.MAX_DELAY, self.BASE_DELAY * 2**over)

    async def check(self, username: str, password: str) -> bool:
        """True for the configured user and password (gradio's `auth` callable)."""
        if self._waiting >= self.MAX_WAITING:
            return False
        self._waiting += 1
        try:
            async with self._lock:
                delay = self.delay()
                if delay:
                    await self._sleep(delay)
                user_ok = hmac.compare_digest(username.encode(), self._user)
                ok = hmac.compare_digest(password.encode(), self._password) and user_ok
                self.failures = 0 if ok else self.failures + 1
                if self.failures == self.FREE_FAILURES:
                    log.warning("%d failed logins in a row: slowing down further attempts", self.failures)
                return ok
        finally:
            self._waiting -= 1


def login_check(settings: Settings) -> Callable[[str, str], Awaitable[bool]] | None:
    """Gradio's `auth` for RAG_AUTH (a login form with a session cookie, not HTTP Basic), or None."""
    credentials = parse_auth(settings)
    return None if credentials is None else Login(*credentials).check


def is_loopback(host: str) -> bool:
    """Whether `host` is only reachable from this machine: localhost, 127.0.0.0/8, ::1."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_bind_warning(settings: Settings) -> str | None:
    """The warning for serving the app beyond this machine without a login, or None."""
    if settings.auth is not None or is_loopback(settings.host):
        return None
    return (f"RAG_HOST={settings.host} makes the app reachable from other machines and RAG_AUTH is not set: "
            f"anyone who can reach port {settings.port} can ask questions, read the articles and upload files. "
            "Set RAG_AUTH=user:password (and put HTTPS in front), or bind to 127.0.0.1.")


# System fonts only: the page must not fetch anything from the internet (Google Fonts is the themes' default).
THEME = gr.themes.Soft(primary_hue="blue", font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


def launch(demo: gr.Blocks, settings: Settings, **overrides: Any) -> Any:
    """Start the server with the product's host/port/auth/styling; `overrides` go to `Blocks.launch`."""
    options: dict[str, Any] = dict(
        server_name=settings.host, server_port=settings.port, auth=login_check(settings), css=render.CSS,
        theme=THEME, footer_links=["api"], max_file_size=settings.max_file_bytes,
        show_error=False, ssr_mode=False, mcp_server=False, enable_monitoring=False,
    )
    return demo.launch(**{**options, **overrides})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app.py", description="Serve the article Q&A chat.")
    parser.add_argument("--host", help="interface to bind (default RAG_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default RAG_PORT or 7860)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own start-up probes
    try:
        settings = Settings()
        update = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        settings = settings.model_copy(update=update) if update else settings
        parse_auth(settings)
        warning = public_bind_warning(settings)
        if warning:
            log.warning(warning)  # on stderr, like every log line
        engine = RAG(settings)
        indexer = Indexer(engine)
        if indexer.start_if_needed():
            log.info("the index is empty or outdated: ingesting %s in the background", settings.corpus_dir)
        launch(build_app(engine, indexer), settings)
    except UserFacingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
