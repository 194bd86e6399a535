"""Synthetic article corpora of a given chunk count, for the scale benchmarks (bench/scale.py).

`make_corpus(target_chunks, out_dir)` writes .txt articles into `out_dir`. Each has a size drawn from the
real articles' range and is made of paragraphs recombined from the real articles' sentences (drawn at
random, seeded), with ~10% of the words swapped for other corpus words and a few invented names per article,
so that chunk and sentence texts are not verbatim duplicates and the vocabulary grows with the corpus.
Chunk counts are exact: the product's own cleaner and chunker count them.

Not here: anything that measures (bench/scale.py).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import ARTICLES

_SYLLABLES = ("ka", "ra", "zhan", "bek", "nur", "ter", "ol", "mar", "sul", "ta", "dos", "gul", "ay", "em", "sal", "yer")
_SUFFIXES = ("ov", "ev", "bek", "uly", "in", "kyzy", "an", "")


def _pool(articles_dir: Path) -> tuple[list[str], list[int], list[str]]:
    """Sentences of the real articles (titles excluded), their cleaned sizes, and their longer words."""
    from ingest.clean import clean_text
    from ingest.load import corpus_files, load_files
    from store.sentences import split_sentences

    sources, _ = load_files(corpus_files(articles_dir), 5_000_000)
    sentences, sizes, vocab = [], [], set()
    for source in sources:
        cleaned = clean_text(source.text)
        body = cleaned.text[len(cleaned.title) :]
        sizes.append(len(cleaned.text))
        sentences += [body[s.start : s.end] for s in split_sentences(body)]
        vocab.update(re.findall(r"\b[a-z]{4,}\b", body))
    if not sentences:
        raise ValueError(f"no sentences in {articles_dir}")
    return sentences, sizes, sorted(vocab)


def _name(rng: random.Random) -> str:
    return ("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))) + rng.choice(_SUFFIXES)).capitalize()


def _mutate(sentence: str, rng: random.Random, vocab: Sequence[str], names: Sequence[str]) -> str:
    words = sentence.split(" ")
    for i, word in enumerate(words):
        if i and word.isalpha() and word[:1].isupper() and rng.random() < 0.3:
            words[i] = rng.choice(names)
        elif vocab and len(word) >= 4 and word.isalpha() and word.islower() and rng.random() < 0.1:
            words[i] = rng.choice(vocab)
    return " ".join(words)


def make_corpus(
    target_chunks: int, out_dir: Path, articles_dir: Path = ARTICLES, seed: int = 0, articles: int | None = None
) -> dict[str, Any]:
    """Write synthetic articles into `out_dir` until they hold at least `target_chunks` chunks (as the ingest
    chunker will cut them), or, given `articles`, exactly that many. Deterministic for a given seed and source
    folder."""
    from ingest.chunk import chunk_document
    from ingest.clean import clean_text

    started = time.perf_counter()
    rng = random.Random(seed)
    sentences, sizes, vocab = _pool(articles_dir)
    low, high = int(min(sizes) * 0.8), int(max(sizes) * 1.2)
    out_dir.mkdir(parents=True, exist_ok=True)
    chunks = chars = files = 0
    while (files < articles) if articles is not None else (chunks < target_chunks):
        names = [_name(rng) for _ in range(3)]
        target = rng.randint(low, high)
        title_words = _mutate(rng.choice(sentences), rng, vocab, names).rstrip(".").split()
        lines = [" ".join(title_words[: rng.randint(6, 12)])]
        length = len(lines[0])
        while length < target:
            paragraph = " ".join(_mutate(rng.choice(sentences), rng, vocab, names) for _ in range(rng.randint(2, 5)))
            lines.append(paragraph)
            length += len(paragraph) + 1
        text = "\n".join(lines) + "\n"
        doc_id = f"synth-{files:06d}"
        n = len(chunk_document(doc_id, "", clean_text(text).text))
        if articles is None and chunks + n > target_chunks and chunks and target_chunks - chunks < n // 2:
            break  # closer to the target without this article
        (out_dir / f"{doc_id}.txt").write_text(text, encoding="utf-8")
        chunks, chars, files = chunks + n, chars + len(text), files + 1
    return {
        "target_chunks": target_chunks,
        "files": files,
        "chunks": chunks,
        "chars": chars,
        "mean_article_chars": round(chars / max(files, 1)),
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 2),
    }
