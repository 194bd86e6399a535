"""The chat UI and its programmatic API: `python app.py` (or `rag serve`) serves it on RAG_HOST:RAG_PORT.

    demo = build_app(RAG())      # gr.Blocks: chat, sources panel, filters, upload, "About the corpus"
    launch(demo, settings)       # host/port/auth/CSS from the settings; blocks unless prevent_thread_lock

On first start with an empty index (or one an older version wrote), `main` ingests the corpus folder in a
background thread; the page shows the progress (a status line polled by a gr.Timer) and the chat says
"indexing…" until it is done.

For programs: `/ask` (question, doc_ids, top_k, history, mode) → `Answer.to_dict()` or {"error": ...};
follow-ups pass the earlier turns as OpenAI-style `history`. `/documents` lists the indexed articles.

Not here: HTML rendering (ui/render.py), answering (rag/engine.py), indexing (ingest/).
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import argparse  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from ingest.load import SUPPORTED_SUFFIXES, corpus_files  # noqa: E402
from rag import RAG, Answer, Settings, UserFacingError  # noqa: E402
from ui import render as ui  # noqa: E402

log = logging.getLogger("article_qa.app")
GENERIC_ERROR = "Something went wrong while answering. The error was logged; please try again."
INDEXING = "The articles are still being indexed. Please ask again in a moment."
MODES = [("Extractive — quotes from the articles", "extractive"), ("LLM — generated, with citations", "llm")]


# ------------------------------------------------------------------------------------- background ingest


class Indexer:
    """Runs the start-up ingest in a background thread and reports its state to the page."""

    def __init__(self, engine: RAG):
        self.engine, self.state, self.message = engine, "ready", ""
        self.started = 0.0
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self.state == "indexing"

    def start_if_needed(self) -> bool:
        """Index in the background if the index is empty or in an older layout; True if that started."""
        retriever = self.engine.retriever
        if not (retriever.corpus().empty or retriever.outdated()):
            return False
        self.state, self.started = "indexing", time.monotonic()
        self._thread = threading.Thread(target=self._run, name="first-ingest", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        try:
            self.message, self.state = self.engine.ingest().line(), "ready"
            log.info("start-up ingest done: %s", self.message)
        except (UserFacingError, FileNotFoundError) as exc:
            self.message, self.state = str(exc), "error"
        except Exception:
            log.exception("start-up ingest failed")
            self.message, self.state = "indexing failed; see the server log", "error"

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def status_line(engine: RAG, indexer: Indexer) -> str:
    seconds = time.monotonic() - indexer.started if indexer.busy else 0.0
    docs = [] if indexer.busy else engine.documents()
    return ui.status_line(indexer.state, indexer.message, seconds, engine.settings.corpus_dir, docs,
                          engine.settings.llm_enabled)


# ----------------------------------------------------------------------------------------------- uploads

_UNSAFE = re.compile(r"[^\w.-]+")


def safe_filename(name: str) -> str:
    """A plain basename with safe characters only: no folders, no leading dots, no spaces."""
    base = re.split(r"[\\/]", str(name))[-1]
    suffix = Path(base).suffix.lower()
    stem = base[: len(base) - len(suffix)] if suffix else base
    stem = _UNSAFE.sub("-", stem).replace("..", "-").strip("-._")[:80] or "article"
    return stem + (suffix if re.fullmatch(r"\.\w+", suffix) else "")


@dataclass
class UploadResult:
    saved: list[Path] = field(default_factory=list)  # files now in the corpus folder and indexed
    messages: list[str] = field(default_factory=list)
    summary: Any = None  # ingest.IngestSummary of the incremental ingest, if one ran

    def text(self) -> str:
        return "\n".join(self.messages) or "Nothing to add."


def add_articles(engine: RAG, files: Sequence[str | Path], names: Sequence[str] | None = None,
                 progress: Any = None) -> UploadResult:
    """Copy uploaded files into the corpus folder under sanitised names, then ingest just them.

    `names` are the names the user gave (default: the files' own names). A file that is refused or that
    ingestion skips leaves nothing behind.
    """
    settings, result = engine.settings, UploadResult()
    corpus = Path(settings.corpus_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    taken = {p.stem for p in corpus_files(corpus)} | {d["doc_id"] for d in engine.documents()}
    staged: list[tuple[Path, str]] = []
    for src, given in zip(files, names or [Path(f).name for f in files], strict=True):
        src, shown = Path(src), ui.esc(Path(str(given).replace("\\", "/")).name or "file")
        target = safe_filename(given)
        suffix = Path(target).suffix
        if suffix not in SUPPORTED_SUFFIXES:
            result.messages.append(f"✗ {shown}: unsupported type {ui.esc(suffix or '(none)')} "
                                   f"(allowed: {', '.join(SUPPORTED_SUFFIXES)})")
            continue
        size = src.stat().st_size
        if size > settings.max_file_bytes:
            result.messages.append(f"✗ {shown}: too large ({size:,} bytes; the limit is "
                                   f"{settings.max_file_bytes:,})")
            continue
        if size == 0:
            result.messages.append(f"✗ {shown}: empty file")
            continue
        saved, renamed = _save_new(src, corpus, Path(target).stem, suffix, taken)
        taken.add(saved.stem)
        staged.append((saved, shown))
        note = f" (renamed: {ui.esc(renamed)} is already an article)" if renamed else ""
        result.messages.append(f"✓ {shown} saved as {ui.esc(saved.name)}{note}")
    if not staged:
        return result
    if progress is not None:
        progress(0.3, desc=f"Indexing {len(staged)} file(s)…")
    try:
        summary = engine.ingest([p for p, _ in staged])
    except Exception as exc:
        for path, _ in staged:
            path.unlink(missing_ok=True)
        if not isinstance(exc, UserFacingError):
            log.exception("ingest of uploaded files failed")
        reason = str(exc) if isinstance(exc, UserFacingError) else "indexing failed (see the server log)"
        result.messages.append(f"✗ nothing was added: {ui.esc(reason)}")
        return result
    skipped = {Path(p).resolve(): reason for p, reason in summary.skipped}
    for path, shown in staged:
        if path.resolve() in skipped:
            path.unlink(missing_ok=True)
            result.messages.append(f"✗ {shown}: not added — {ui.esc(skipped[path.resolve()])}")
        else:
            result.saved.append(path)
    result.summary = summary
    result.messages.append(f"Index: {len(result.saved)} article(s) added; {summary.chunks} passages in total.")
    return result


def _save_new(src: Path, corpus: Path, stem: str, suffix: str, taken: set[str]) -> tuple[Path, str | None]:
    """Copy `src` to a new file in `corpus`; never overwrites (exclusive create), suffixes -2, -3… instead."""
    for n in range(1, 1000):
        name = stem if n == 1 else f"{stem}-{n}"
        if name in taken:
            continue
        try:
            with open(corpus / f"{name}{suffix}", "xb") as out, open(src, "rb") as inp:
                shutil.copyfileobj(inp, out)
        except FileExistsError:
            continue
        return corpus / f"{name}{suffix}", (f"{stem}{suffix}" if n > 1 else None)
    raise UserFacingError(f"too many articles named {stem}")


# ------------------------------------------------------------------------------------------------ the app


def _doc_choices(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["title"] or d["doc_id"], d["doc_id"]) for d in docs]


def _history(turns: list[dict]) -> list[dict[str, str]]:
    """The conversation so far as OpenAI-style messages (answered turns only)."""
    out: list[dict[str, str]] = []
    for turn in turns:
        if turn.get("answer") is not None:
            out += [{"role": "user", "content": turn["q"]}, {"role": "assistant", "content": turn["answer"]["text"]}]
    return out


def build_app(engine: RAG, indexer: Indexer | None = None) -> gr.Blocks:
    indexer = indexer or Indexer(engine)
    settings = engine.settings

    def documents() -> dict:
        return engine.retriever.corpus().documents

    def panel(turns: list[dict], index: int | None = None) -> str:
        index = len(turns) - 1 if index is None else index
        answer = turns[index].get("answer") if 0 <= index < len(turns) else None
        return ui.sources_panel(answer, index, documents())

    def respond(question: str, turns: list[dict], doc_ids: list[str] | None, top_k: float, mode: str | None):
        turns = [dict(t) for t in turns or []]
        turn: dict[str, Any] = {"q": question or "", "partial": ""}
        turns.append(turn)
        if indexer.busy:
            turn.update(error=INDEXING, kind="busy")
            yield ui.chat_messages(turns), turns, panel(turns), ""
            return
        yield ui.chat_messages(turns), turns, panel(turns), ""
        messages = [*_history(turns[:-1]), {"role": "user", "content": question or ""}]
        mode = mode if settings.llm_enabled and mode else None
        try:
            for event in engine.stream_chat(messages, doc_ids=doc_ids or None, top_k=int(top_k), mode=mode):
                if isinstance(event, Answer):
                    turn["answer"] = event.to_dict()
                else:
                    turn["partial"] += event
                    yield ui.chat_messages(turns), turns, gr.skip(), gr.skip()
        except UserFacingError as exc:
            turn["error"] = f"{exc}" if str(exc)[:1].isupper() else f"Sorry: {exc}."
        except Exception:
            log.exception("answering failed")
            turn["error"] = GENERIC_ERROR
        if turn.get("answer") is None and not turn.get("error"):
            turn["error"] = GENERIC_ERROR
        yield ui.chat_messages(turns), turns, panel(turns), ""

    def retry(turns: list[dict], doc_ids: list[str] | None, top_k: float, mode: str | None):
        if not turns:
            yield [], [], panel([]), gr.skip()
            return
        yield from respond(turns[-1]["q"], turns[:-1], doc_ids, top_k, mode)

    def select_turn(turns: list[dict], evt: gr.SelectData) -> str:
        owners = [i for i, t in enumerate(turns) for _ in range(2 if t["q"].strip() else 1)]
        index = evt.index if isinstance(evt.index, int) else (evt.index or [0])[0]
        return panel(turns, owners[index]) if 0 <= index < len(owners) else gr.skip()

    def pick_example(evt: gr.SelectData) -> str:
        return evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value)

    def refresh():
        docs = engine.documents()
        return (status_line(engine, indexer), gr.update(choices=_doc_choices(docs)),
                ui.corpus_table(docs, settings.corpus_dir), gr.update(examples=ui.example_questions(docs) or None))

    def poll():
        return (*refresh(), gr.Timer(active=indexer.busy))

    def upload(files: list[str] | None, progress: gr.Progress = gr.Progress()):  # noqa: B008 - gradio idiom
        if not files:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), None
        if indexer.busy:
            return (ui.status_message(INDEXING, "busy"), *refresh(), None)
        progress(0.05, desc="Saving files…")
        try:
            result = add_articles(engine, files, progress=progress)
            text = "<br>".join(result.messages) or "Nothing to add."
        except Exception:
            log.exception("upload failed")
            text = ui.status_message("The upload failed; the error was logged.", "error")
        return (f'<div class="aqa-upload">{text}</div>', *refresh(), None)

    def api_ask(question: str, doc_ids: list[str] | str | None = None, top_k: int | None = None,
                history: list[dict[str, str]] | None = None, mode: str | None = None) -> dict[str, Any]:
        """Answer a question from the articles. doc_ids: list or comma-separated ids to search only those;
        history: earlier turns as [{"role": "user"|"assistant", "content": ...}]. Returns Answer.to_dict()
        or {"error": message}."""
        try:
            if indexer.busy:
                return {"error": INDEXING}
            return engine.ask(engine.request(question, doc_ids, top_k, history, mode)).to_dict()
        except UserFacingError as exc:
            return {"error": str(exc)}
        except Exception:
            log.exception("/ask failed")
            return {"error": GENERIC_ERROR}

    def api_documents() -> list[dict[str, Any]]:
        """The indexed articles: doc_id, title, source and chunk count."""
        return engine.documents()

    with gr.Blocks(title="Article QA", fill_width=False) as demo:
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
                        examples=ui.example_questions(engine.documents()) or None, elem_id="aqa-chat",
                        placeholder="Ask anything about the indexed articles.")
                    with gr.Row():
                        box = gr.Textbox(placeholder="Ask a question about the articles…", show_label=False,
                                         scale=5, lines=1, max_lines=6, elem_id="aqa-question", autofocus=True)
                        send = gr.Button("Ask", variant="primary", scale=1, elem_id="aqa-send")
                    with gr.Row():
                        retry_btn = gr.Button("↻ Retry", size="sm", elem_id="aqa-retry")
                        clear_btn = gr.Button("✕ Clear", size="sm", elem_id="aqa-clear")
                    with gr.Accordion("Options", open=False):
                        filter_box = gr.Dropdown(choices=_doc_choices(engine.documents()), multiselect=True, value=[],
                                                 label="Only search these articles (empty = all)")
                        top_k = gr.Slider(1, 10, value=min(max(settings.top_k, 1), 10), step=1,
                                          label="Passages to retrieve")
                        mode = gr.Radio(MODES, value="llm" if settings.llm_enabled else "extractive",
                                        label="Answer mode", visible=settings.llm_enabled)
                    with gr.Accordion("Add articles", open=False):
                        limit = f"{', '.join(SUPPORTED_SUFFIXES)} up to {settings.max_file_bytes / 1e6:g} MB each"
                        files = gr.File(file_count="multiple", file_types=list(SUPPORTED_SUFFIXES),
                                        type="filepath", elem_id="aqa-upload", label=limit)
                        upload_out = gr.HTML(elem_id="aqa-upload-result")
                with gr.Column(scale=2):
                    sources = gr.HTML(ui.sources_panel(None, 0, {}), elem_id="aqa-sources")
            with gr.Tab("About the corpus"):
                about = gr.HTML(ui.corpus_table(engine.documents(), settings.corpus_dir), elem_id="aqa-about")
        timer = gr.Timer(1.0, active=indexer.busy)

        ui_only = {"api_visibility": "private"}
        chat_io = dict(inputs=[box, turns, filter_box, top_k, mode], outputs=[chatbot, turns, sources, box])
        box.submit(respond, **chat_io, **ui_only)
        send.click(respond, **chat_io, **ui_only)
        chatbot.example_select(pick_example, None, box, **ui_only).then(respond, **chat_io, **ui_only)
        retry_btn.click(retry, [turns, filter_box, top_k, mode], [chatbot, turns, sources, box], **ui_only)
        for clearing in (clear_btn.click, chatbot.clear):
            clearing(lambda: ([], [], ui.sources_panel(None, 0, {}), ""), None, [chatbot, turns, sources, box],
                     **ui_only)
        chatbot.select(select_turn, [turns], sources, **ui_only)
        refresh_out = [status, filter_box, about, chatbot]
        timer.tick(poll, None, [*refresh_out, timer], concurrency_limit=None, **ui_only)
        demo.load(refresh, None, refresh_out, concurrency_limit=None, **ui_only)
        files.upload(upload, [files], [upload_out, *refresh_out, files], concurrency_limit=1, **ui_only)
        gr.api(api_ask, api_name="ask")
        gr.api(api_documents, api_name="documents", concurrency_limit=None)
    demo.queue(default_concurrency_limit=4, max_size=256)
    return demo


def parse_auth(settings: Settings) -> tuple[str, str] | None:
    if settings.auth is None:
        return None
    user, sep, password = settings.auth.get_secret_value().partition(":")
    if not (sep and user and password):
        raise UserFacingError('RAG_AUTH must look like "user:password"')
    return user, password


# System fonts only: the page must not fetch anything from the internet (Google Fonts is the themes' default).
THEME = gr.themes.Soft(primary_hue="blue", font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


def launch(demo: gr.Blocks, settings: Settings, **overrides: Any) -> Any:
    """Start the server with the product's host/port/auth/styling; `overrides` go to `Blocks.launch`."""
    options: dict[str, Any] = dict(
        server_name=settings.host, server_port=settings.port, auth=parse_auth(settings), css=ui.CSS,
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
