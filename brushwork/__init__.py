"""brushwork: paint any photo in the style of any artwork (optimization, AdaIN; Python API, CLI)."""
from .api import Stylizer, stylize
from .errors import BrushworkError

__version__ = "0.1.0"
__all__ = ["Stylizer", "stylize", "BrushworkError", "__version__"]
