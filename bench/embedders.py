"""Stand-in embedding models for the scale benchmarks: fast enough that the store, BM25 and fusion are what
gets measured, not a transformer.

`WordLlamaEmbedding` (wordllama's bundled 256-d model, loaded strictly offline) is preferred;
`HashingEmbedding` (feature hashing, no model at all) is the fallback; `stand_in_embedding` picks one and says
which. Their vectors are not e5's: nothing here is fit for judging retrieval *quality*. The product's real
embedder lives in `store.embeddings`; these only reuse its `CountingEmbedding` so that the time inside the
embedder is counted the same way.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import PrivateAttr

from store.embeddings import CountingEmbedding


class HashingEmbedding(CountingEmbedding):
    """Deterministic bag-of-words hashing vectors (signed feature hashing, L2-normalised). No model at all:
    the fallback stand-in when wordllama cannot be loaded offline."""

    model_name: str = "hashing-256"
    dim: int = 256

    def _vector(self, text: str) -> list[float]:
        vec = np.zeros(self.dim, dtype=np.float32)
        for token in re.findall(r"\w+", text.lower()):
            h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
            vec[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norm = float(np.linalg.norm(vec)) or 1.0
        return (vec / norm).tolist()

    def _embed(self, texts: list[str], is_query: bool) -> list[list[float]]:
        return [self._vector(t) for t in texts]


def load_wordllama() -> Any:
    """WordLlama's bundled l2_supercat 256-d model, strictly offline.

    The wheel ships both the weights (`wordllama/weights/`) and the tokenizer (`wordllama/tokenizers/`), but
    `WordLlama.load()` looks for the tokenizer in `wordllama/tokenizer/` and would then try to download it;
    pointing `cache_dir` at the package folder finds it, and `disable_download` makes a miss an error.
    """
    import wordllama
    from wordllama import WordLlama

    return WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)


class WordLlamaEmbedding(CountingEmbedding):
    """wordllama (static token embeddings, mean-pooled; well under 1 ms per text): a fast stand-in for e5 so
    that scale benchmarks measure the store, BM25 and fusion rather than the transformer."""

    model_name: str = "wordllama-l2_supercat-256"
    embed_batch_size: int = 256
    _model: Any = PrivateAttr(default=None)

    def _embed(self, texts: list[str], is_query: bool) -> list[list[float]]:
        if self._model is None:
            self._model = load_wordllama()
        return np.asarray(self._model.embed(texts, norm=True), dtype=np.float32).tolist()


def stand_in_embedding(kind: str = "auto") -> tuple[CountingEmbedding, str]:
    """The scale benchmarks' embedder and a note on it. `auto`: wordllama if it loads offline, else hashing."""
    if kind in ("auto", "wordllama"):
        try:
            model = WordLlamaEmbedding()
            model.get_query_embedding("warm-up")  # loads the bundled weights now, not inside a timed region
            return model, "wordllama l2_supercat 256-d, bundled weights, loaded offline"
        except Exception as exc:  # ImportError (not installed) or FileNotFoundError (weights not bundled)
            if kind == "wordllama":
                raise
            reason = f"wordllama unavailable ({type(exc).__name__}: {exc}); "
    else:
        reason = ""
    return HashingEmbedding(embed_batch_size=256), reason + "deterministic feature-hashing embedder (no model)"
