"""Runs a batch: expand inputs, plan jobs, skip outputs finished with these settings, paint the rest on an engine,
log the manifest (each output's styles and settings, which a re-run compares)."""
from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BrushworkError
from .inputs import expand
from .jobs import Job, identity, plan
from .manifest import Manifest, read

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


def made_with(records: list[dict]) -> dict[Path, dict]:
    """Per output (resolved path), the styles and settings of the last run that painted it (its last "done" record)."""
    made = {}
    for r in records:
        if r.get("status") == "done" and "settings" in r:
            made[Path(r["output"]).resolve()] = {"styles": r.get("styles"), **r["settings"]}
    return made


def setting_changes(before: dict, now: dict) -> list[str]:
    """'name: before -> now' for each setting that differs (compared as the manifest stores them, in JSON)."""
    now = json.loads(json.dumps(now))
    return [f"{k}: {before.get(k, 'unset')!r} -> {now.get(k, 'unset')!r}"
            for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]


@contextlib.contextmanager
def claim(path: Path, tidy):
    """Held for a whole run, on OUTDIR's manifest. Only a run that finds no other batch run working in OUTDIR calls
    tidy() (removing temporary files: then they can only be leftovers of killed workers); beside another run they
    may be that run's files being written, and stay. Where file locks are not available nothing is removed."""
    try:
        import fcntl
    except ImportError:  # (not POSIX)
        yield
        return
    try:
        fh = open(path, "a", encoding="utf-8")
    except OSError as exc:
        raise BrushworkError(f"cannot write the manifest {path} ({exc.strerror})") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            tidy()
        except BlockingIOError:
            pass
        fcntl.flock(fh, fcntl.LOCK_SH)  # working here: a run started beside this one leaves temporary files alone
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
    """Paint every input into `outdir`; a bad item is recorded and skipped; Ctrl-C stops, a re-run resumes.
    A re-run skips the outputs painted with the same styles and settings, and refuses (unless overwrite) when
    some were painted with others."""
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
    if not settings.overwrite:
        refuse_other_settings(jobs, made_with(read(manifest.path)), recorded, outdir)

    def tidy() -> None:
        for job in jobs:
            for tmp in tmp_names(Path(job.output)):
                tmp.unlink(missing_ok=True)  # left by a worker killed mid-write

    with claim(manifest.path, tidy):
        return _run(jobs, settings, manifest, summary, recorded, t0, progress, on_record)


def refuse_other_settings(jobs: list[Job], made: dict[Path, dict], recorded: dict, outdir: Path) -> None:
    """Refuse, before any work, a re-run whose existing outputs were painted with other styles or settings: they
    would be skipped as done although they are not what is asked (nor repainted: a file is never replaced unasked)."""
    clashes = []
    for job in jobs:
        out = Path(job.output)
        before = made.get(out.resolve())
        if before is not None and out.exists():
            changes = setting_changes(before, {"styles": job.styles, **recorded})
            if changes:
                clashes.append((out, changes))
    if clashes:
        out, changes = clashes[0]
        others = f" and {len(clashes) - 1} more" if len(clashes) > 1 else ""
        raise BrushworkError(f"{out.name}{others} in {outdir} were painted with other settings ({'; '.join(changes)}); "
                             "pass --overwrite to paint them again, or choose another --output-dir")


def _run(jobs: list[Job], settings: BatchSettings, manifest: Manifest, summary: Summary, recorded: dict,
         t0: float, progress: bool, on_record) -> Summary:
    """Skip the outputs already painted with these settings (or not painted by a batch), paint the rest."""
    from tqdm import tqdm

    todo: list[Job] = []
    for job in jobs:
        out = Path(job.output)
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
