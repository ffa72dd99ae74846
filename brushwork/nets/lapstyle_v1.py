"""RevisionNetV1, the session-3 LapStyle revision network (full-resolution convs at both ends).

Not what lapstyle_rev1.safetensors holds: that file's "1" numbers the pyramid level, and it holds the current
sub-pixel `RevisionNet`. `nets.lapstyle.load_revision` picks the class from a file's keys."""
from __future__ import annotations

from torch import nn

from .lapstyle import RevisionNet, conv


class RevisionNetV1(RevisionNet):
    """The session-3 revision network (full-resolution convs at both ends); kept to read weights and .brush
    files made with it, and as the teacher its sub-pixel successor was distilled from. Same forward."""

    def __init__(self, width: int = 64):
        super().__init__(width)
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        self.down = nn.Sequential(conv(6, width), relu(), conv(width, width, stride=2), relu())
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv(width, width), relu(),
                                conv(width, 3))
        nn.init.zeros_(self.up[-1][-1].weight)
        nn.init.zeros_(self.up[-1][-1].bias)
