"""ingest/progress.py, and the progress an ingest reports (the CLI's bar, the app's status line)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, make_settings

from ingest import Progress, ingest


def test_progress_counts_articles_by_the_text_embedded() -> None:
    seen: list[float] = []
    progress = Progress.start(articles=4, chars=1000, report=lambda p: seen.append(p.articles_done))
    assert progress.line() == "indexing 0 of 4 articles" and progress.seconds_left is None
    progress.started -= 10  # ten seconds in
    progress.advance(250)
    assert progress.articles_done == 1 and abs(progress.rate - 0.1) < 1e-3
    assert abs((progress.seconds_left or 0) - 30) < 0.1
    assert progress.line() == "indexing 1 of 4 articles · 0.1 articles/s · about 30 s left"
    progress.advance(10_000)  # never past the end
    assert progress.fraction == 1.0
    progress.finish()
    assert seen == [0.0, 1.0, 4.0, 4.0]
    assert Progress.start(articles=0, chars=0).fraction == 1.0  # nothing to embed is done


def test_ingest_reports_progress_up_to_every_changed_article(tmp_path: Path, small_corpus: Path) -> None:
    settings = make_settings(tmp_path, small_corpus)
    seen: list[tuple[float, int]] = []
    ingest(settings, progress=lambda p: seen.append((p.articles_done, p.articles)))
    assert seen[0] == (0.0, 3) and seen[-1] == (3.0, 3)
    assert len(seen) > 2 and [done for done, _ in seen] == sorted(done for done, _ in seen)
    (small_corpus / "harbour-bridge.txt").write_text("Bridge closed\n\nThe harbour bridge closed for repairs.")
    seen.clear()
    ingest(settings, progress=lambda p: seen.append((p.articles_done, p.articles)))
    assert seen[0] == (0.0, 1) and seen[-1] == (1.0, 1)  # only the changed article is embedded


def test_rag_ingest_draws_a_bar_unless_quiet(tmp_path: Path, small_corpus: Path) -> None:
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_CORPUS_DIR": str(small_corpus)}
    rag = str(Path(sys.executable).parent / "rag")
    out = subprocess.run([rag, "ingest"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "3/3 articles" in out.stderr and "articles/s" in out.stderr and "added 3" in out.stdout
    (small_corpus / "harbour-bridge.txt").write_text("Bridge closed\n\nThe harbour bridge closed for repairs.")
    quiet = subprocess.run([rag, "ingest", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and "updated 1" in quiet.stdout and "articles" not in quiet.stderr
