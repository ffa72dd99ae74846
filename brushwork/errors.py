"""The one exception type users see: a clear, one-line message, never a traceback."""


class BrushworkError(Exception):
    """A user-facing error: the message says what went wrong and what to do."""
