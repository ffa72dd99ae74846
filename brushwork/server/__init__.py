"""The HTTP API and web page (`brushwork serve`): a FastAPI app over the Python API, with bounded work."""
from .app import create_app
from .settings import Settings

__all__ = ["create_app", "Settings"]
