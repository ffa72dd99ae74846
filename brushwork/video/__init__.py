"""Video style transfer: stream a clip through the Python API with temporal consistency, keeping its sound."""
from .stylize import DEFAULT_CONSISTENCY, VideoResult, stylize_video

__all__ = ["stylize_video", "VideoResult", "DEFAULT_CONSISTENCY"]
