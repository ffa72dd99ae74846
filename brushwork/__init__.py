"""brushwork: paint any photo in the style of any artwork, from Python or the `brushwork` command line.

Methods: "lapstyle" (default; Laplacian-pyramid networks, fast at any size), "optimize" (Gatys et al.,
optimizing the pixels: slow, most faithful texture) and "adain" (fast feed-forward AdaIN). Start with
`brushwork.stylize(photo, style)`; `help(brushwork.stylize)` lists the options.
"""
from .api import Stylizer, stylize
from .errors import BrushworkError
from .video import stylize_video

__version__ = "0.1.0"
__all__ = ["Stylizer", "stylize", "stylize_video", "BrushworkError", "__version__"]
