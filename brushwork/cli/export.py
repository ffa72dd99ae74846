"""CLI commands `brushwork export` (ONNX graphs of the default pipeline) and `brushwork export-style` (a style
vector for them), registered in `brushwork.cli`."""
from __future__ import annotations

import os
from pathlib import Path

import typer

from ..errors import BrushworkError


def export(
    output: Path = typer.Option(..., "--output", "-o", metavar="DIR", show_default=False,
                                help="Folder to write style_encoder.onnx, painter.onnx and README.md into."),
    format: str = typer.Option("onnx", "--format", metavar="onnx", help="Graph format (onnx)."),
    levels: int = typer.Option(1, metavar="N",
                               help="Pyramid levels of the painter: 1 fits photos of 257-512 px on the long "
                                    "side, each more doubles the range (0: up to 256 px)."),
    int8: bool = typer.Option(False, "--int8", help="Also write painter_int8.onnx (8-bit convolutions)."),
    int8_mode: str = typer.Option("dynamic", metavar="dynamic|static",
                                  help="int8 quantization: dynamic (inputs quantized on the fly) or static "
                                       "(input ranges calibrated on the built-in samples)."),
    strength_input: bool = typer.Option(False, "--strength-input",
                                        help="Give the painter a strength input (0..1); without it, strength 1."),
    finish: float = typer.Option(0.0, metavar="0..1",
                                 help="Bake lapstyle's finish step into the painter: how far the finished "
                                      "picture's colours move onto the painting's palette (0: none)."),
    clean_edges: float = typer.Option(1.0, metavar="0..1",
                                      help="lapstyle's clean_edges step, baked into the painter: how far the "
                                           "draft's finest detail along the photo's strong edges gives way to the "
                                           "photo's (0: none)."),
    overwrite: bool = typer.Option(False, help="Replace the files of an existing, non-empty folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing."),
):
    """Export the default pipeline (draft, palette step, revision) as ONNX graphs that other engines can run."""
    from .. import api

    if int8_mode not in ("dynamic", "static"):
        raise BrushworkError(f"--int8-mode must be dynamic or static, got {int8_mode!r}")
    sizes = api.export(output, format=format, levels=levels, int8=int8 and int8_mode, overwrite=overwrite,
                       strength_input=strength_input, finish=finish, clean_edges=clean_edges)
    if not quiet:
        for name, size in sizes.items():
            typer.echo(f"wrote {output / name} ({size / 2**20:.1f} MiB)" if size > 2**20 else
                       f"wrote {output / name}", err=True)


def export_style(
    painting: str = typer.Argument(..., metavar="PAINTING", show_default=False,
                                   help="Style image or built-in name (`brushwork styles`)."),
    output: Path = typer.Option(..., "--output", "-o", metavar="FILE.npz", show_default=False,
                                help="Where to write the style vector (numpy .npz, key 'style')."),
    overwrite: bool = typer.Option(False, help="Replace the output file if it exists."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing."),
):
    """Compute a painting's style vector for the exported painter, so an app with fixed styles ships only it."""
    import numpy as np
    import torch

    from .. import api
    from ..core.encoder import shared_encoder
    from ..exports.graphs import StyleEncoder
    from ..methods.lapstyle import ENCODER_PADDING

    if output.suffix.lower() != ".npz":
        raise BrushworkError(f"{output}: the style vector is written as .npz")
    if output.exists() and not overwrite:
        raise BrushworkError(f"{output} already exists; pass --overwrite to replace it")
    if not output.parent.expanduser().is_dir():
        raise BrushworkError(f"cannot write {output}: folder {output.parent} does not exist")
    api.check_source(painting, "style")
    tensor, _ = api.Stylizer("lapstyle", progress=False)._style(painting, allow_huge=False)
    with torch.no_grad():
        style = StyleEncoder(shared_encoder("max", ENCODER_PADDING, torch.float32))(tensor).numpy()
    tmp = output.with_name(f".{output.stem}.{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, style=style)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    if not quiet:
        typer.echo(f"wrote {output} (style vector of {style.shape[1]} values)", err=True)

