"""Errors whose message is meant for the person using the product (CLI, UI, API), not a traceback."""


class UserFacingError(Exception):
    """Anything the user can fix or must know: a bad question, an unreachable store, an empty index."""


class QuestionError(UserFacingError, ValueError):
    """The request itself is unusable (empty or too long question, bad article ids, bad history...)."""


class StoreError(UserFacingError):
    """The index cannot be read or written: an unreachable Chroma server, another embedding model, a lock."""


class IndexDamaged(StoreError):
    """A file of the index under RAG_DATA_DIR is damaged or missing (store/integrity.py): `rag ingest` rebuilds it
    from what is intact or from the articles. `part` is the file or folder, relative to the data dir."""

    def __init__(self, part: str, problem: str):
        self.part, self.problem = part, problem
        super().__init__(f"The index is damaged: {part} {problem}. Run `rag ingest` to repair it.")
