"""Runs a batch: expand inputs, plan jobs, skip finished outputs, paint the rest on an engine, log the manifest."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BrushworkError
from .inputs import expand
from .jobs import Job, identity, plan
from .manifest import Manifest

ENGINES = ("local", "ray")


@dataclass
class BatchSettings:
    """What to paint and how: the stylize request (method, options, ...) and the batch's own knobs."""
    styles: list[str]
    method: str = "lapstyle"
    options: dict = field(default_factory=dict)
    style_weights: list[float] | None = None
    masks: list[str] | None = None
    preserve_color: str | None = None
    color_from: str | None = None
    allow_huge: bool = False
    bits: int = 8
    styles_grid: bool = False
    image_format: str = "png"
    overwrite: bool = False
    recursive: bool = False
    engine: str = "local"
    ray_address: str | None = None
    workers: int | None = None
    threads: int | None = None

    def request(self) -> dict:
        """The keyword arguments every worker passes to Stylizer.stylize_tensor (plus method, styles, bits)."""
        req = {"method": self.method, "styles": list(self.styles), "style_weights": self.style_weights,
               "masks": self.masks, "preserve_color": self.preserve_color, "color_from": self.color_from,
               "allow_huge": self.allow_huge, "bits": self.bits, **self.options}
        if self.styles_grid:
            req["style_weights"] = req["masks"] = None  # each style alone
        return req

    def recorded(self) -> dict:
        """The settings written into every manifest record."""
        return {k: v for k, v in self.request().items() if k != "styles" and v is not None}


@dataclass
class Summary:
    """Counts of a batch run, and the records of the items that failed."""
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    failures: list = field(default_factory=list)
    manifest: str = ""

    def line(self) -> str:
        state = "interrupted (re-run the same command to resume)" if self.interrupted else "finished"
        return (f"batch {state}: {self.done} done, {self.skipped} skipped, {self.failed} failed of {self.total} "
                f"in {self.seconds:.1f} s; manifest: {self.manifest}")


def tmp_names(output: Path) -> list[Path]:
    """Temporary names images.save_image and the video writer use before renaming (left only by a killed worker)."""
    return [output.with_name(f".{output.name}.part{output.suffix}"),
            output.with_name(f".{output.stem}.part{output.suffix}")]


def check(settings: BatchSettings) -> None:
    """Refuse settings that would make every item fail, before any work starts."""
    if settings.engine not in ENGINES:
        raise BrushworkError(f"unknown engine {settings.engine!r}; choose local or ray")
    if not settings.styles:
        raise BrushworkError("give at least one --style")
    if settings.styles_grid and len(settings.styles) < 2:
        raise BrushworkError("--styles-grid paints each input in each of several styles; give two or more --style")
    if settings.workers is not None and settings.workers < 1 or settings.threads is not None and settings.threads < 1:
        raise BrushworkError("--workers and --threads must be at least 1")
    from ..core.images import SAVE_FORMATS

    if "." + settings.image_format.lstrip(".").lower() not in SAVE_FORMATS:
        raise BrushworkError(f"unknown output format {settings.image_format!r}; use one of "
                             f"{', '.join(s.lstrip('.') for s in SAVE_FORMATS)}")
    from ..api import Stylizer

    Stylizer(settings.method, progress=False).options(settings.method, **settings.options)  # bad values: one line


def run_batch(inputs: list[str], outdir: str | Path, settings: BatchSettings, progress: bool = True,
              on_record=None) -> Summary:
    """Paint every input into `outdir`; a bad item is recorded and skipped; Ctrl-C stops, a re-run resumes."""
    from tqdm import tqdm

    check(settings)
    outdir = Path(outdir).expanduser()
    sources = expand(inputs, settings.recursive)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BrushworkError(f"cannot create output folder {outdir} ({exc})") from None
    jobs = plan(sources, outdir, settings.styles, settings.styles_grid, settings.image_format)
    manifest = Manifest(outdir)
    summary = Summary(total=len(jobs), manifest=str(manifest.path))
    recorded, t0 = settings.recorded(), time.perf_counter()
    todo: list[Job] = []
    for job in jobs:
        out = Path(job.output)
        for tmp in tmp_names(out):
            tmp.unlink(missing_ok=True)  # left by a worker killed mid-write
        if out.exists() and not settings.overwrite:
            summary.skipped += 1
            manifest.append({"input": job.input, "output": job.output, "styles": job.styles, "kind": job.kind,
                             "status": "skipped", "error": None, "seconds": 0.0, "note": "output exists",
                             "settings": recorded, "time": time.time()})
        else:
            job.planned = identity(out)
            todo.append(job)
    bar = tqdm(total=len(jobs), initial=summary.skipped, unit="item", disable=not progress, dynamic_ncols=True,
               desc="batch", smoothing=0.1)

    def emit(record: dict) -> None:
        record.update(settings=recorded, time=time.time())
        manifest.append(record)
        if record["status"] == "done":
            summary.done += 1
        else:
            summary.failed += 1
            summary.failures.append(record)
        bar.update(1)
        bar.set_postfix(failed=summary.failed, refresh=False)
        if on_record is not None:
            on_record(record)

    try:
        if todo:
            if settings.engine == "ray":
                from .ray_engine import run_ray

                run_ray(todo, settings.request(), emit, settings.workers, settings.threads, settings.ray_address)
            else:
                from .local import run_local

                run_local(todo, settings.request(), emit, settings.workers, settings.threads)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
        manifest.close()
        summary.seconds = time.perf_counter() - t0
    return summary
