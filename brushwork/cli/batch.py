"""CLI command `brushwork batch`: many inputs x styles on local worker processes or Ray (over brushwork.batch).

Its stylize options are `brushwork stylize`'s own parameters, taken from that command's signature, so both
commands accept (and check) the same options the same way.
"""
from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import BrushworkError
from . import stylize as stylize_cmd

NOT_SHARED = {"content", "output", "preview", "preview_every"}  # one-picture options of `stylize`


def batch_command(
    inputs: List[str] = typer.Argument(..., metavar="INPUTS...", show_default=False,
                                       help="Images, videos, folders or glob patterns (quote them) to paint."),
    outdir: Path = typer.Option(..., "--output-dir", "-o", metavar="DIR", show_default=False,
                                help="Folder for the outputs and manifest.jsonl (-o is a folder here, not a "
                                     "file as in `stylize`)."),
    engine: str = typer.Option("local", metavar="local|ray", help="local (worker processes on this machine) or ray."),
    ray_address: Optional[str] = typer.Option(None, metavar="ADDRESS", show_default="start a local Ray",
                                              help="\\[ray] Cluster address."),
    workers: Optional[int] = typer.Option(None, metavar="N", show_default=False,
                                          help="Worker processes / Ray actors (default: local, one per 2 cores; "
                                               "ray, one per cluster CPU / --threads)."),
    threads: Optional[int] = typer.Option(None, metavar="N", show_default=False,
                                          help="Threads per worker (default: local, cores / workers; ray, 1)."),
    styles_grid: bool = typer.Option(False, metavar="", help="Paint each input in each --style separately "
                                                             "(not a blend)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", metavar="",
                                   help="Also look in sub-folders (and ** in globs)."),
    format: str = typer.Option("png", "--format", metavar="png|jpg|tif|webp", help="Image output format."),
    **shared,
):
    """Paint many INPUTS (files, folders, globs) with --style into the --output-dir folder; re-runs skip finished
    outputs (and refuse outputs painted with other settings unless --overwrite)."""
    from ..batch import BatchSettings, run_batch

    style, mask = shared["style"], shared["mask"]
    weights = stylize_cmd.check_styles(style, shared["style_weights"], mask)
    if shared["bits"] not in (8, 16):
        raise BrushworkError("--bits must be 8 or 16")
    values = {k: shared[k] for k in ("size", "strength", "style_scale", "seed", "precision", "iterations",
                                     "optimizer", "style_loss", "init", "content_layer", "tv_weight", "loss_net",
                                     "draft_size")}
    method, options = stylize_cmd.method_options(shared["method"], shared["quality"], **values)
    settings = BatchSettings(styles=list(style), method=method, options=options, style_weights=weights, masks=mask,
                             preserve_color=shared["preserve_color"], color_from=shared["color_from"],
                             allow_huge=shared["allow_huge"], bits=shared["bits"], styles_grid=styles_grid,
                             image_format=format, overwrite=shared["overwrite"], recursive=recursive, engine=engine,
                             ray_address=ray_address, workers=workers, threads=threads)
    summary = run_batch(inputs, outdir, settings, progress=not shared["quiet"])
    for rec in summary.failures[:10]:
        typer.echo(f"failed: {rec['input']}: {rec['error']}", err=True)
    if summary.failed > 10:
        typer.echo(f"... and {summary.failed - 10} more failures (see the manifest)", err=True)
    typer.echo(summary.line(), err=True)
    if summary.interrupted:
        raise typer.Exit(130)
    if summary.failed:
        raise typer.Exit(1)


def _with_stylize_options(func):
    """Give `func` (which takes **shared) the options of `brushwork stylize`, minus the one-picture ones."""
    own = inspect.signature(func)
    hints = typing.get_type_hints(stylize_cmd.stylize)
    shared = [p.replace(annotation=hints[name], kind=inspect.Parameter.KEYWORD_ONLY)
              for name, p in inspect.signature(stylize_cmd.stylize).parameters.items() if name not in NOT_SHARED]
    params = [p.replace(annotation=typing.get_type_hints(func)[p.name]) for p in own.parameters.values()
              if p.kind is not inspect.Parameter.VAR_KEYWORD]
    func.__signature__ = own.replace(parameters=params + shared)
    func.__annotations__ = {p.name: p.annotation for p in params + shared}
    return func


batch_command = _with_stylize_options(batch_command)
