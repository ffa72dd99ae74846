"""The HTTP API and web page (`brushwork serve`): a FastAPI app over the Python API, with bounded work."""
from __future__ import annotations

__all__ = ["create_app", "Settings"]


def __getattr__(name: str):
    """create_app and Settings, imported on first use (the vote server imports `origins` without FastAPI)."""
    if name == "create_app":
        from .app import create_app
        return create_app
    if name == "Settings":
        from .settings import Settings
        return Settings
    raise AttributeError(name)
