"""Errors whose message is meant for the person using the product (CLI, UI, API), not a traceback."""


class UserFacingError(Exception):
    """Anything the user can fix or must know: a bad question, an unreachable store, an empty index."""


class QuestionError(UserFacingError, ValueError):
    """The request itself is unusable (empty or too long question, bad article ids, bad history...)."""


class StoreError(UserFacingError):
    """The index cannot be read or written: an unreachable Chroma server, another embedding model, a lock."""
