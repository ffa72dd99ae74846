"""brushwork: paint any photo in the style of any artwork, from Python or the `brushwork` command line.

Methods: "lapstyle" (default; Laplacian-pyramid networks, fast at any size), "optimize" (Gatys et al.,
optimizing the pixels: slow, most faithful texture) and "adain" (fast feed-forward AdaIN). Start with
`brushwork.stylize(photo, style)`; `help(brushwork.stylize)` lists the options.
"""
from .api import Stylizer, export, stylize
from .errors import BrushworkError

__version__ = "0.1.0"
__all__ = ["Stylizer", "stylize", "export", "stylize_video", "BrushworkError", "__version__"]


def __getattr__(name: str):
    """`brushwork.stylize_video` on first use: importing brushwork need not load PyAV and OpenCV."""
    if name == "stylize_video":
        from .video import stylize_video

        return stylize_video
    raise AttributeError(f"module 'brushwork' has no attribute {name!r}")
