"""CLI command `brushwork explain`: where a point of the photo takes its style from (attention method)."""
from __future__ import annotations

from pathlib import Path

import typer

from ..errors import BrushworkError


def parse_point(text: str) -> tuple[float, float]:
    """"X,Y" in pixels -> (x, y); a one-line error otherwise."""
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise BrushworkError(f"--at wants X,Y in the photo's pixels, e.g. 120,80; got {text!r}") from None
    return x, y


def explain(
    photo: str = typer.Argument(..., metavar="PHOTO", help="Photo file or built-in sample name."),
    style: str = typer.Option(..., "--style", "-s", metavar="FILE|NAME", help="Painting file or built-in style."),
    at: str = typer.Option(..., "--at", metavar="X,Y", help="The point of the photo, in its pixels."),
    output: Path = typer.Option(..., "--output", "-o", metavar="FILE", help="The picture to write (.png, .jpg)."),
    overwrite: bool = typer.Option(False, help="Replace the output file if it exists."),
):
    """Write a picture: the photo with the point marked | the painting under a heat map of where that point
    takes its style from | the main object the `subject` control spares."""
    from ..explain import explain as run

    run(photo, style, parse_point(at), output=output, overwrite=overwrite)
    typer.echo(f"wrote {output}")
