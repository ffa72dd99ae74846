"""The worker side, shared by both engines: one model copy that paints job after job and writes each output."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import numpy as np

from ..errors import BrushworkError
from .jobs import Job, identity

NO_VIDEO = "videos need brushwork.video (brushwork.stylize_video), which this install lacks; skipped"


def set_threads(threads: int | None) -> None:
    """Give this worker its share of the cores (intra-op threads), with a single inter-op thread."""
    import torch

    if threads:
        torch.set_num_threads(int(threads))
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set once in this process
            pass


class Painter:
    """Loads the method's networks once (a warm-up on a tiny picture) and stylizes many jobs with them."""

    def __init__(self, request: dict, threads: int | None = None, warm: bool = True):
        from ..api import Stylizer

        set_threads(threads)
        self.request = dict(request)
        self.bits = self.request.pop("bits", 8)
        self.stylizer = Stylizer(self.request.pop("method"), progress=False)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        t0 = time.perf_counter()
        if warm:
            self.warm_up()
        self.load_seconds = time.perf_counter() - t0

    def warm_up(self) -> None:
        """Load the networks and the first style's statistics now, so the first job costs what the others do."""
        styles = self.request.get("styles") or []
        if styles:
            opts = {k: v for k, v in self.request.items() if k not in ("styles", "masks", "style_weights")}
            opts["size"] = 64
            try:
                self.stylizer.stylize_tensor(np.full((64, 64, 3), 0.5, np.float32), styles[:1], **opts)
            except BrushworkError:
                pass  # a bad setting shows up, recorded, on the first real job

    def info(self) -> dict:
        """Where this painter runs and what loading it cost."""
        return {"worker": self.worker, "pid": os.getpid(), "load_seconds": self.load_seconds}

    def run(self, job: Job) -> dict:
        """Paint one job and write its output (temporary name, then rename); a record for the manifest, never raises."""
        t0 = time.perf_counter()
        out = Path(job.output)
        status, error, note = "done", None, None
        try:
            if identity(out) not in (None, job.planned):
                note = "already written by an earlier attempt"  # a killed worker renamed it into place
            elif job.kind == "video":
                self._video(job, out)
            else:
                self._image(job, out)
        except BrushworkError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # a bad item must not stop the batch: record it and go on
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        record = {"input": job.input, "output": job.output, "styles": job.styles, "kind": job.kind,
                  "status": status, "error": error, "seconds": round(time.perf_counter() - t0, 3),
                  "worker": self.worker, "attempt": job.attempt}
        if note:
            record["note"] = note
        return record

    def _image(self, job: Job, out: Path) -> None:
        from ..core import images

        opts = {k: v for k, v in self.request.items() if k != "styles"}
        result = self.stylizer.stylize_tensor(job.input, job.styles, **opts)
        out.parent.mkdir(parents=True, exist_ok=True)
        images.save_image(result, out, overwrite=True, bits=self.bits)

    def _video(self, job: Job, out: Path) -> None:
        """A clip through brushwork.stylize_video (frame rate, sound kept), with this worker's loaded networks."""
        try:
            from ..video import stylize_video
        except ImportError:
            raise BrushworkError(NO_VIDEO) from None
        opts = {k: v for k, v in self.request.items() if k not in ("styles", "allow_huge")}
        if opts.pop("masks", None):
            raise BrushworkError("--mask does not apply to videos")
        out.parent.mkdir(parents=True, exist_ok=True)
        stylize_video(job.input, out, job.styles, overwrite=True, progress=False, stylizer=self.stylizer,
                      method=self.stylizer.method, **opts)
