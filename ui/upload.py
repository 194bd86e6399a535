"""Adding articles from the page: uploaded files are copied into the corpus folder under safe, new names and
only they are ingested.

    result = add_articles(engine, ["/tmp/upload/x.txt"], names=["My article.txt"])
    result.saved, result.text()      # files now indexed; one line per file (✓ saved as… / ✗ why not)
    Upload(engine, indexer).upload   # the upload widget's event handler

A refused file (unsupported type, too large, empty) is never copied; one that ingestion skips, or a batch
whose ingest fails, is removed again, so a bad upload leaves the corpus folder and the index as they were.

Not here: loading and indexing themselves (ingest/), the widget's layout (app.py).
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from ingest import IngestSummary
from ingest.load import SUPPORTED_SUFFIXES, corpus_files
from rag import RAG, UserFacingError
from ui import render
from ui.status import INDEXING, Indexer, Status

log = logging.getLogger("article_qa.ui")
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
    messages: list[str] = field(default_factory=list)  # HTML (names escaped): a line per file, one for the index
    summary: IngestSummary | None = None  # of the incremental ingest, if one ran

    def text(self) -> str:
        return "\n".join(self.messages) or "Nothing to add."


def add_articles(engine: RAG, files: Sequence[str | Path], names: Sequence[str] | None = None,
                 progress: Callable[..., Any] | None = None) -> UploadResult:
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
        src, shown = Path(src), render.esc(Path(str(given).replace("\\", "/")).name or "file")
        target = Path(safe_filename(given))
        refused = _refusal(src, target.suffix, settings.max_file_bytes)
        if refused:
            result.messages.append(f"✗ {shown}: {refused}")
            continue
        saved, renamed = _save_new(src, corpus, target.stem, target.suffix, taken)
        taken.add(saved.stem)
        staged.append((saved, shown))
        note = f" (renamed: {render.esc(renamed)} is already an article)" if renamed else ""
        result.messages.append(f"✓ {shown} saved as {render.esc(saved.name)}{note}")
    if staged:
        if progress is not None:
            progress(0.3, desc=f"Indexing {len(staged)} file(s)…")
        _index(engine, staged, result)
    return result


def _refusal(src: Path, suffix: str, max_bytes: int) -> str | None:
    """Why the file cannot be an article (HTML), or None."""
    if suffix not in SUPPORTED_SUFFIXES:
        return f"unsupported type {render.esc(suffix or '(none)')} (allowed: {', '.join(SUPPORTED_SUFFIXES)})"
    size = src.stat().st_size
    if size > max_bytes:
        return f"too large ({size:,} bytes; the limit is {max_bytes:,})"
    return "empty file" if size == 0 else None


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


def _index(engine: RAG, staged: list[tuple[Path, str]], result: UploadResult) -> None:
    """Ingest the staged files; remove those it skipped (or all of them if it failed) and say why."""
    try:
        summary = engine.ingest([p for p, _ in staged])
    except Exception as exc:
        for path, _ in staged:
            path.unlink(missing_ok=True)
        if not isinstance(exc, UserFacingError):
            log.exception("ingest of uploaded files failed")
        reason = str(exc) if isinstance(exc, UserFacingError) else "indexing failed (see the server log)"
        result.messages.append(f"✗ nothing was added: {render.esc(reason)}")
        return
    skipped = {Path(p).resolve(): reason for p, reason in summary.skipped}
    for path, shown in staged:
        if path.resolve() in skipped:
            path.unlink(missing_ok=True)
            result.messages.append(f"✗ {shown}: not added — {render.esc(skipped[path.resolve()])}")
        else:
            result.saved.append(path)
    result.summary = summary
    result.messages.append(f"Index: {len(result.saved)} article(s) added; {summary.chunks} passages in total.")


class Upload:
    """The upload widget's handler: add the files, then refresh what depends on the index."""

    def __init__(self, engine: RAG, indexer: Indexer):
        self.engine, self.indexer, self.status = engine, indexer, Status(engine, indexer)

    def upload(self, files: list[str] | None,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 - gradio idiom
        """(result HTML, *Status.refresh(), None to empty the file widget)."""
        if not files:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), None
        if self.indexer.busy:  # one ingest at a time: the start-up one is still running
            return (render.status_message(INDEXING, "busy"), *self.status.refresh(), None)
        progress(0.05, desc="Saving files…")
        try:
            result = add_articles(self.engine, files, progress=progress)
            text = "<br>".join(result.messages) or "Nothing to add."
        except Exception:
            log.exception("upload failed")
            text = render.status_message("The upload failed; the error was logged.", "error")
        return (f'<div class="aqa-upload">{text}</div>', *self.status.refresh(), None)
