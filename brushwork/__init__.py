"""brushwork: paint any photo in the style of any artwork, from Python or the `brushwork` command line.

Methods: "lapstyle" (default; Laplacian-pyramid networks, fast at any size), "attention" (lapstyle whose draft
takes each region's style from the matching region of the painting), "optimize" (Gatys et al., optimizing the
pixels: slow) and "adain" (fast feed-forward AdaIN). Start with
`brushwork.stylize(photo, style)`; `help(brushwork.stylize)` lists the options.
"""
from .api import Stylizer, export, stylize
from .errors import BrushworkError

__version__ = "0.1.0"
__all__ = ["Stylizer", "stylize", "export", "stylize_video", "explain", "BrushworkError", "__version__"]


def __getattr__(name: str):
    """`brushwork.stylize_video` on first use: importing brushwork need not load PyAV and OpenCV."""
    if name == "stylize_video":
        from .video import stylize_video

        return stylize_video
    if name == "explain":
        from .explain import explain

        return explain
    raise AttributeError(f"module 'brushwork' has no attribute {name!r}")
