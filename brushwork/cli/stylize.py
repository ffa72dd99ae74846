"""CLI commands `brushwork stylize` and `brushwork styles` (registered in `brushwork.cli`)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import BrushworkError


def _parse_weights(text: Optional[str]) -> Optional[list[float]]:
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise BrushworkError(f"--style-weights must be numbers separated by commas, got {text!r}") from None


def _check_input(ref: str, what: str) -> None:
    """A file or built-in name that does not exist is a one-line error with the closest built-in names."""
    from .. import api

    api.check_source(ref, what)


METHOD_ONLY = {"optimize": ("iterations", "optimizer", "style_loss", "init", "content_layer", "tv_weight",
                            "loss_net", "clean_colors"),
               "lapstyle": ("draft_size", "palette", "subject", "finish", "clean_edges", "clean_colors"),
               "attention": ("draft_size", "palette", "subject", "finish", "clean_edges", "clean_colors"),
               "adain": ("palette",)}


def check_styles(style: list[str], style_weights: Optional[str], mask: Optional[list[str]]) -> Optional[list[float]]:
    """Check the --style/--mask files exist and counts match (the API's checks, up front); the parsed
    --style-weights (shared with `batch`)."""
    from .. import api

    for s in style:
        _check_input(s, "style")
    for m in mask or []:
        _check_input(m, "mask")
    return api.check_blend(len(style), _parse_weights(style_weights), mask or None)


def method_options(method: Optional[str], quality: Optional[str] = None, **values) -> tuple[str, dict]:
    """The method and its options from CLI values (None = default, or the --quality preset's); another method's
    option is an error; the preset's options fill in what was not given."""
    from .. import api

    method = api.apply_quality(quality, method, {})[0]
    options = {}
    def owners(name: str) -> list[str]:
        return [m for m, only in METHOD_ONLY.items() if name in only] or [method]

    for name, value in values.items():
        if method in owners(name):
            options[name] = value
        elif value is not None:
            given = ", ".join("--" + k.replace("_", "-") for k, v in values.items()
                              if v is not None and owners(k) == owners(name))
            verb = "applies" if "," not in given else "apply"
            raise BrushworkError(f"{given} only {verb} to --method {' or '.join(owners(name))} "
                                 f"(this run uses {method})")
    return api.apply_quality(quality, method, {k: v for k, v in options.items() if v is not None})


def _default_output(content: str, styles: list[str]) -> Path:
    """CONTENT-STYLE.png in the current folder, from the names' stems (no 'sample:' prefix, no odd characters)."""
    def stem(ref: str) -> str:
        return re.sub(r"[^\w.-]+", "-", Path(ref.removeprefix("sample:")).stem).strip("-.") or "image"

    return Path(f"{stem(content)}-{stem(styles[0])}.png")


OPTIMIZE = "Only with --method optimize"  # help panels that group each method's own options
LAPSTYLE = "Only with --method lapstyle"


def _preview_callback(preview: Optional[Path], preview_every: Optional[int], method: str):
    """The Progress callback that writes --preview pictures (optimize: every Nth iteration), or None."""
    from ..core import images

    if preview_every is not None and method != "optimize":
        raise BrushworkError(f"--preview-every only applies to --method optimize (this run uses {method})")
    preview_every = 25 if preview_every is None else preview_every
    if preview is None:
        return None
    if preview_every < 1:
        raise BrushworkError(f"--preview-every must be at least 1, got {preview_every}")

    def callback(p):  # a methods.common.Progress; optimize's iterations are thinned to every Nth, and each scale's
        # last is always shown (later scales have fewer iterations than N)
        if p.image is not None and (p.stage != "optimize" or p.step % preview_every == 0 or p.step == p.total):
            images.save_image(p.image, preview, overwrite=True)

    return callback


def stylize(
    content: str = typer.Argument(..., metavar="CONTENT", show_default=False,
                                  help="Photo to paint: a file, or sample:NAME for a built-in sample."),
    style: List[str] = typer.Option(..., "--style", "-s", metavar="FILE|NAME", show_default=False,
                                    help="Style image or built-in name (`brushwork styles`); repeat to blend."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE",
                                          show_default="CONTENT-STYLE.png in the current folder",
                                          help="Output picture (.png, .jpg, .tif or .webp)."),
    style_weights: Optional[str] = typer.Option(None, metavar="W1,W2,...", show_default="equal",
                                                help="Blend weights, one per --style, e.g. 0.7,0.3."),
    mask: Optional[List[str]] = typer.Option(None, "--mask", metavar="FILE", show_default=False,
                                             help="Region mask per --style (white = that style), same aspect ratio "
                                                  "as the photo."),
    method: Optional[str] = typer.Option(None, metavar="lapstyle|attention|optimize|adain", show_default="lapstyle",
                                         help="lapstyle: fast, any size; attention: lapstyle whose draft takes each "
                                              "region's style from the matching region of the painting; optimize: "
                                              "slow (Gatys); adain: one pass at full resolution, finer strokes."),
    quality: Optional[str] = typer.Option(None, metavar="fast|balanced|best", show_default=False,
                                          help="A preset instead of --method (times: 512 px, 2-core CPU): fast = "
                                               "lapstyle with a 128 px draft (~0.1 s); balanced = lapstyle (~0.16 s); "
                                               "best = optimize (~15 s). --method and other options override it."),
    size: int = typer.Option(512, metavar="PX", help="Long side of the output in pixels."),
    strength: Optional[float] = typer.Option(None, metavar="0..1", show_default="1.0",
                                             help="Style strength from 0 (the photo) to 1 (all style)."),
    preserve_color: Optional[str] = typer.Option(None, metavar="luminance|meancov", show_default="off",
                                                 help="Keep the photo's colours: luminance, or meancov "
                                                      "(style recoloured to the photo's mean/covariance)."),
    color_from: Optional[str] = typer.Option(None, metavar="FILE|NAME", show_default=False,
                                             help="Take the colours of this picture (e.g. another painting)."),
    style_scale: Optional[float] = typer.Option(None, metavar="X", show_default="1.0",
                                                help="Scale of the style's brush strokes (2 = twice as big)."),
    seed: int = typer.Option(0, metavar="N", help="Random seed: same seed, same picture."),
    iterations: Optional[int] = typer.Option(None, metavar="N", show_default="50 (lbfgs), 120 (adam)",
                                             rich_help_panel=OPTIMIZE,
                                             help="\\[optimize only] Iterations at the first (256 px) scale."),
    optimizer: Optional[str] = typer.Option(None, metavar="lbfgs|adam", show_default="lbfgs",
                                            rich_help_panel=OPTIMIZE, help="\\[optimize only] The optimizer."),
    style_loss: Optional[str] = typer.Option(None, metavar="gram|meanstd|wasserstein", show_default="gram",
                                             rich_help_panel=OPTIMIZE, help="\\[optimize only] The style loss."),
    init: Optional[str] = typer.Option(None, metavar="lapstyle|matched|meancov|content|noise|style-stats",
                                       show_default="lapstyle", rich_help_panel=OPTIMIZE,
                                       help="\\[optimize only] Starting picture (lapstyle: its painting, refined; "
                                            "matched: the photo in the painting's colours)."),
    loss_net: Optional[str] = typer.Option(None, metavar="NAME", show_default="efficientnet-lite1",
                                           rich_help_panel=OPTIMIZE,
                                           help="\\[optimize only] Network whose features the losses compare: "
                                                "efficientnet-lite1, efficientnet-lite2 or hed-vgg16."),
    content_layer: Optional[str] = typer.Option(None, metavar="LAYER", show_default="the loss network's",
                                                rich_help_panel=OPTIMIZE,
                                                help="\\[optimize only] Loss-network layer of the content loss."),
    tv_weight: Optional[float] = typer.Option(None, metavar="X", show_default="5 (efficientnet), 2 (hed-vgg16)",
                                              rich_help_panel=OPTIMIZE,
                                              help="\\[optimize only] Total-variation weight (smoothness)."),
    preview_every: Optional[int] = typer.Option(None, metavar="N", show_default="25", rich_help_panel=OPTIMIZE,
                                                help="\\[optimize only] Iterations between --preview pictures."),
    draft_size: Optional[int] = typer.Option(None, metavar="PX", show_default="256", rich_help_panel=LAPSTYLE,
                                             help="\\[lapstyle, attention] Resolution of the Drafting network: 128 is "
                                                  "about 2x faster at 512 px, with less style."),
    palette: Optional[float] = typer.Option(None, metavar="0..1", show_default="0.65 lapstyle and attention, 0.6 adain", rich_help_panel=LAPSTYLE,
                                            help="\\[lapstyle, attention, adain] How far the colours move onto the painting's "
                                                 "whole palette (0: the network's own colours)."),
    subject: Optional[float] = typer.Option(None, metavar="0..1", show_default="0", rich_help_panel=LAPSTYLE,
                                            help="\\[lapstyle, attention] How much the main object (found by the loss "
                                                 "network's class-activation map; see `brushwork explain`) is spared."),
    finish: Optional[float] = typer.Option(None, metavar="0..1", show_default="0", rich_help_panel=LAPSTYLE,
                                           help="\\[lapstyle, attention] How far the finished picture's colours, fine "
                                                "detail included, move onto the painting's palette (slower; off by default)."),
    clean_edges: Optional[float] = typer.Option(None, metavar="0..1", show_default="1.0",
                                                rich_help_panel=LAPSTYLE,
                                                help="\\[lapstyle, attention] How far the draft's finest detail along the "
                                                     "photo's strong edges gives way to the photo's (against halos)."),
    clean_colors: Optional[float] = typer.Option(None, metavar="0..1", show_default="1.0",
                                                 rich_help_panel=LAPSTYLE,
                                                 help="\\[lapstyle, attention, optimize] How far colours the painting has "
                                                      "nothing like (tints, the photo's own) are pulled in to its nearest."),
    precision: Optional[str] = typer.Option(None, metavar="auto|bf16|fp32", show_default="auto",
                                            help="auto: bf16 where the CPU computes it natively, else fp32."),
    preview: Optional[Path] = typer.Option(None, metavar="FILE", show_default=False,
                                           help="Write intermediate results to this file (optimize: every "
                                                "--preview-every iterations; lapstyle: each level; adain: "
                                                "the result)."),
    bits: int = typer.Option(8, metavar="8|16", help="Bits per channel (16: .png or .tif)."),
    overwrite: bool = typer.Option(False, metavar="", help="Replace the output file if it exists."),
    allow_huge: bool = typer.Option(False, metavar="", help="Accept images over 80 megapixels."),
    quiet: bool = typer.Option(False, "--quiet", "-q", metavar="", help="No progress bar."),
    backend: str = typer.Option("torch", metavar="torch|onnxruntime",
                                help="onnxruntime: the exported graphs (lapstyle, one style; "
                                     "pip install 'brushwork[onnx]')."),
):
    """Paint CONTENT in the style of one or more --style images."""
    from .. import api
    from ..core import images

    if bits not in (8, 16):
        raise BrushworkError("--bits must be 8 or 16")
    _check_input(content, "content")
    weights = check_styles(style, style_weights, mask)
    out = images.check_writable(output or _default_output(content, style), overwrite)
    if preview is not None:
        images.check_writable(preview, overwrite=True)
    method, options = method_options(method, quality, size=size, strength=strength, style_scale=style_scale,
                                     seed=seed, precision=precision, iterations=iterations, optimizer=optimizer,
                                     style_loss=style_loss, init=init, content_layer=content_layer,
                                     tv_weight=tv_weight, loss_net=loss_net, draft_size=draft_size,
                                     palette=palette, subject=subject, finish=finish, clean_edges=clean_edges,
                                     clean_colors=clean_colors)
    callback = _preview_callback(preview, preview_every, method)
    st = api.Stylizer(method, progress=not quiet)
    result = st.stylize_tensor(content, list(style), style_weights=weights, masks=mask, preserve_color=preserve_color,
                               color_from=color_from, allow_huge=allow_huge, callback=callback,
                               backend=backend, **options)
    images.save_image(result, out, overwrite=overwrite, bits=bits)
    if not quiet:
        typer.echo(f"wrote {out} ({result.shape[-1]}x{result.shape[-2]})", err=True)


def styles(sheet: Optional[Path] = typer.Option(None, help="Also write a thumbnail sheet of the styles here.")):
    """List the built-in styles (usable by name with --style) and sample photos."""
    from ..loaders import gallery
    from ..core import images

    for name, row in gallery.styles().items():
        typer.echo(f"{name:20s} {row['title']}")
    typer.echo("samples: " + ", ".join(f"sample:{n}" for n in gallery.samples()))
    if sheet:
        images.check_writable(sheet)
        gallery.contact_sheet(sheet)
        typer.echo(f"wrote {sheet}", err=True)
