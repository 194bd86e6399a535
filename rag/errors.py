"""Errors whose message is meant for the person using the product (CLI, UI, API), not a traceback."""


class UserFacingError(Exception):
    """Anything the user can fix or must know: a bad question, an unreachable store, an empty index."""


class QuestionError(UserFacingError, ValueError):
    """The question itself is unusable (empty, too long, control characters)."""
