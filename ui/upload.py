"""Adding articles from the page: uploaded files are copied into the corpus folder under safe, new names and
only they are ingested.

    result = add_articles(engine, ["/tmp/upload/x.txt"], names=["My article.txt"])
    result.saved, result.text()      # files now indexed; a line per file with its final outcome (✓ / ✗ why)
    Upload(engine, indexer).upload   # the upload widget's event handler

A refused file (unsupported type, too large, empty) is never copied; one that ingestion skips, or a batch
whose ingest fails, is removed again, so a bad upload leaves the corpus folder and the index as they were.
The handler also deletes gradio's cached copy of every file it did not add (gr.Blocks' delete_cache, set in
app.py, ages out the rest).

Not here: loading and indexing themselves (ingest/), the widget's layout (app.py).
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

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
    refused: list[Path] = field(default_factory=list)  # the given files that were not added, for any reason
    messages: list[str] = field(default_factory=list)  # HTML (names escaped): a line per file, one for the index
    summary: IngestSummary | None = None  # of the incremental ingest, if one ran

    def text(self) -> str:
        return "\n".join(self.messages) or "Nothing to add."


@dataclass
class _Staged:
    """A file copied into the corpus folder whose outcome (its line in the messages) waits for the ingest."""

    src: Path
    path: Path
    shown: str
    note: str
    line: int


def add_articles(engine: RAG, files: Sequence[str | Path], names: Sequence[str] | None = None,
                 progress: Callable[..., Any] | None = None) -> UploadResult:
    """Copy uploaded files into the corpus folder under sanitised names, then ingest just them.

    `names` are the names the user gave (default: the files' own names). A file that is refused or that
    ingestion skips leaves nothing behind in the corpus folder or the index, and each file gets one line with
    its final outcome ("✓ … saved as …" only once it is indexed). The given files themselves are left alone;
    `refused` lists those not added, for a caller that owns them (the upload handler deletes them).
    """
    settings, result = engine.settings, UploadResult()
    corpus = Path(settings.corpus_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    taken = {p.stem for p in corpus_files(corpus)} | {d["doc_id"] for d in engine.documents()}
    staged: list[_Staged] = []
    for src, given in zip(files, names or [Path(f).name for f in files], strict=True):
        src, shown = Path(src), render.esc(Path(str(given).replace("\\", "/")).name or "file")
        target = Path(safe_filename(given))
        refused = _refusal(src, target.suffix, settings.max_file_bytes)
        if refused:
            result.refused.append(src)
            result.messages.append(f"✗ {shown}: {refused}")
            continue
        saved, renamed = _save_new(src, corpus, target.stem, target.suffix, taken)
        taken.add(saved.stem)
        note = f" (renamed: {render.esc(renamed)} is already an article)" if renamed else ""
        staged.append(_Staged(src, saved, shown, note, len(result.messages)))
        result.messages.append("")  # filled in by _index
    if staged:
        if progress is not None:
            progress(0.3, desc=f"Indexing {len(staged)} file(s)…")
        _index(engine, staged, result)
    return result


def _refusal(src: Path, suffix: str, max_bytes: int) -> str | None:
    """Why the file cannot be an article (HTML), or None."""
    if suffix not in SUPPORTED_SUFFIXES:
        return f"unsupported type {render.esc(suffix or '(none)')} (allowed: {', '.join(SUPPORTED_SUFFIXES)})"
    if not src.is_file():  # e.g. an identical upload's cached copy, already processed and deleted
        return "the uploaded file is gone; please upload it again"
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


def _index(engine: RAG, staged: list[_Staged], result: UploadResult) -> None:
    """Ingest the staged files and give each its one line: saved, or not added and why (a file ingestion
    skipped, or every file if the ingest failed, is removed from the corpus folder again)."""
    try:
        summary = engine.ingest([s.path for s in staged])
    except Exception as exc:
        if not isinstance(exc, UserFacingError):
            log.exception("ingest of uploaded files failed")
        reason = str(exc) if isinstance(exc, UserFacingError) else "indexing failed (see the server log)"
        skipped = {s.path.resolve(): reason for s in staged}
        summary = None
    else:
        skipped = {Path(p).resolve(): reason for p, reason in summary.skipped}
    for item in staged:
        reason = skipped.get(item.path.resolve())
        if reason is None:
            result.saved.append(item.path)
            result.messages[item.line] = f"✓ {item.shown} saved as {render.esc(item.path.name)}{item.note}"
        else:
            item.path.unlink(missing_ok=True)
            result.refused.append(item.src)
            result.messages[item.line] = f"✗ {item.shown}: not added — {render.esc(reason)}"
    if summary is not None:
        result.summary = summary
        result.messages.append(f"Index: {len(result.saved)} article(s) added; {summary.chunks} passages in total.")


def discard_uploads(paths: Sequence[str | Path]) -> None:
    """Delete gradio's cached copies of uploads (and their per-upload folders once empty), so that a refused
    file does not stay in its cache. Only paths inside gradio's upload folder are touched."""
    folder = Path(get_upload_folder()).resolve()
    for path in map(Path, paths):
        path = path.resolve()
        if folder not in path.parents:
            continue
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: another upload with the same content lives there
            if path.parent != folder:
                path.parent.rmdir()


def _paths_and_names(files: Sequence[Any]) -> tuple[list[str], list[str]]:
    """The cached paths and the user's file names from the upload event's raw payload (FileData dicts,
    app.py wires it with preprocess=False), or plain paths."""
    paths, names = [], []
    for f in files:
        path = str(f["path"]) if isinstance(f, dict) else str(f)
        paths.append(path)
        names.append((f.get("orig_name") if isinstance(f, dict) else None) or Path(path).name)
    return paths, names


class Upload:
    """The upload widget's handler: add the files, then refresh what depends on the index."""

    def __init__(self, engine: RAG, indexer: Indexer):
        self.engine, self.indexer, self.status = engine, indexer, Status(engine, indexer)

    def upload(self, files: list[dict[str, Any] | str] | None,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 - gradio idiom
        """(result HTML, *Status.refresh(), None to empty the file widget). `files`: the event's raw payload
        (no gradio preprocessing, whose type check would refuse a file before it gets here and leave it in
        the cache) or plain paths. Cached copies of files that were not added are deleted."""
        if not files:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), None
        paths, names = _paths_and_names(files)
        if self.indexer.busy:  # one ingest at a time: the start-up one is still running
            discard_uploads(paths)
            return (render.status_message(INDEXING, "busy"), *self.status.refresh(), None)
        progress(0.05, desc="Saving files…")
        try:
            result = add_articles(self.engine, paths, names, progress=progress)
            discard_uploads(result.refused)
            text = "<br>".join(result.messages) or "Nothing to add."
        except Exception:
            log.exception("upload failed")
            discard_uploads(paths)
            text = render.status_message("The upload failed; the error was logged.", "error")
        return (f'<div class="aqa-upload">{text}</div>', *self.status.refresh(), None)
