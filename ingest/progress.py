"""How far a long ingest is, in words a person reads: articles done of all, articles per second, time left.

    progress = Progress.start(articles=1000, chars=7_600_000, report=print_it)
    progress.advance(chars=12_000)   # the embedding step calls this after each model batch
    progress.line()                  # "indexing 412 of 1000 articles · 2.1 articles/s · about 4 min left"

Only the articles that need embedding count (an unchanged one costs nothing), and the embedding model is where
the time goes, so progress is measured in the characters it has embedded: articles done = that share of the
articles (the embedding step takes a batch's sentences by length, not article by article, so "done" is the
share of the text embedded, not a count of finished files).

Not here: drawing it (cli.py draws a bar, the app's status line shows `line()`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Progress:
    articles: int  # articles to embed in this run
    chars: int  # their characters
    done_chars: int = 0
    started: float = field(default_factory=time.monotonic)
    report: Callable[[Progress], None] | None = None

    @classmethod
    def start(cls, articles: int, chars: int, report: Callable[[Progress], None] | None = None) -> Progress:
        progress = cls(articles, chars, report=report)
        progress._report()
        return progress

    def advance(self, chars: int) -> None:
        self.done_chars = min(self.chars, self.done_chars + chars)
        self._report()

    def finish(self) -> None:
        """All embedded (the embedding step's characters leave out the whitespace between sentences)."""
        self.done_chars = self.chars
        self._report()

    @property
    def fraction(self) -> float:
        return self.done_chars / self.chars if self.chars else 1.0

    @property
    def articles_done(self) -> float:
        return self.fraction * self.articles

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Articles per second so far (0 before anything is done)."""
        return self.articles_done / self.seconds if self.articles_done and self.seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        return (self.articles - self.articles_done) / self.rate if self.rate else None

    def line(self) -> str:
        text = f"indexing {self.articles_done:.0f} of {self.articles} articles"
        if self.rate:
            text += f" · {self.rate:.2g} articles/s · about {_duration(self.seconds_left or 0.0)} left"
        return text

    def _report(self) -> None:
        if self.report is not None:
            self.report(self)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
