"""CLI commands `brushwork train` and `brushwork learn-style` (registered in `brushwork.cli`)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import BrushworkError
from .stylize import _check_input


def train(
    model: str = typer.Argument(..., help="Model to train: adain, lapstyle-draft, lapstyle-revision or attention."),
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
    loss_net: Optional[str] = typer.Option(None, help="[lapstyle-*] Loss network: efficientnet-lite1 (default), "
                                                      "efficientnet-lite2 or hed-vgg16."),
    remd_weight: Optional[float] = typer.Option(None, help="[lapstyle-*] Relaxed-EMD loss weight."),
    selfsim_weight: Optional[float] = typer.Option(None, help="[lapstyle-*] Self-similarity loss weight."),
    color_weight: Optional[float] = typer.Option(None, help="[lapstyle-*] Pixel palette loss weight (Lite loss nets)."),
    hed_gram_weight: Optional[float] = typer.Option(None, help="[lapstyle-*] Gram loss weight on the HED VGG's "
                                                               "relu1_1/relu2_1 (fine texture; Lite loss nets)."),
    log_every: int = typer.Option(10, help="Iterations between loss log lines."),
    draft_weights: Optional[Path] = typer.Option(None, help="[lapstyle-revision] Trained draft weights; [attention] "
                                                             "the factored draft to start from."),
    local_weight: Optional[float] = typer.Option(None, help="[attention] AdaAttN local feature loss weight."),
    encoder_padding: Optional[str] = typer.Option(None, help="[all] Padding of the frozen VGG encoder's convs: "
                                                             "zeros (default; the shipped drafts were trained so) or "
                                                             "replicate (as lapstyle and attention paint)."),
    freeze_attention: bool = typer.Option(False, "--freeze-attention", help="[attention] Train only the draft; the "
                                                                            "attention modules keep their weights."),
    lower_revision: Optional[List[Path]] = typer.Option(None, help="[lapstyle-revision] Frozen lower levels."),
    levels: Optional[int] = typer.Option(None, help="[lapstyle-revision] Apply the trained network this many "
                                                     "times in a row (shared weights), as inference reuses it."),
    teacher: Optional[Path] = typer.Option(None, help="[lapstyle-*] Distil this trained network (its pictures, in "
                                                        "pixels and shallow features) instead of the full losses; a "
                                                        "lapstyle-draft teacher is distilled into the factored draft design."),
    design: Optional[str] = typer.Option(None, help="[lapstyle-draft] Network design: full (the VGG mirror with skips) "
                                                     "or factored (under half its cost); default: that of --init-from, "
                                                     "else factored with --teacher, else full."),
    replay: Optional[float] = typer.Option(None, help="[lapstyle-*] Share of each batch's content and style crops "
                                                       "re-drawn from recent crops whose frozen-network features are "
                                                       "kept (fewer feature passes per step); 0 = all fresh; default 0.875 for lapstyle-draft (at least one fresh crop a step), 0 for lapstyle-revision."),
    fade_from: Optional[Path] = typer.Option(None, help="[adain] Start from this LapStyle draft and fade its skips "
                                                          "out (the CPU-budget curriculum, see training/adain.py)."),
    fade_iters: Optional[int] = typer.Option(None, help="[adain] Steps over which the draft's skips fade to zero."),
    ema: float = typer.Option(0.0, help="Keep a moving average of the weights with this decay (e.g. 0.999) and "
                                        "export it instead of the last step's (0 = off)."),
    save_every: int = typer.Option(100), sample_every: int = typer.Option(250),
    threads: int = typer.Option(0, help="CPU threads (0 = all); use 1 for a background run."),
    device: str = typer.Option("auto"),
    eval_content: Optional[Path] = typer.Option(None, help="Content folder for sample grids."),
    eval_style: Optional[Path] = typer.Option(None, help="Style folder for sample grids."),
    init_from: Optional[Path] = typer.Option(None, help="Start from these fp16 weights (when no checkpoint)."),
    export: Optional[Path] = typer.Option(None, help="Copy the final fp16 weights here."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the --export file if it exists."),
    override: bool = typer.Option(False, "--override", help="Resume a run dir although these options differ from "
                                                            "those it was started with (the new ones are kept)."),
):
    """Train (or resume) a feed-forward model; exports fp16 safetensors when done."""
    from ..training.loop import TrainConfig
    from ..training.run import train as run_train

    options = {k: v for k, v in {"content_weight": content_weight, "style_weight": style_weight, "identity_weight": identity_weight,
                                 "loss_net": loss_net, "remd_weight": remd_weight, "selfsim_weight": selfsim_weight,
                                 "color_weight": color_weight, "hed_gram_weight": hed_gram_weight,
                                 "draft": str(draft_weights) if draft_weights else None,
                                 "lower": [str(p) for p in lower_revision] if lower_revision else None,
                                 "levels": levels, "fade_from": str(fade_from) if fade_from else None,
                                 "fade_iters": fade_iters, "teacher": str(teacher) if teacher else None,
                                 "design": design, "replay": replay, "local_weight": local_weight,
                                 "encoder_padding": encoder_padding,
                                 "freeze_attention": freeze_attention or None}.items()
               if v is not None}
    if replay is not None and not 0 <= replay < 1:
        raise BrushworkError(f"--replay must be at least 0 and below 1, got {replay}")
    if encoder_padding not in (None, "zeros", "replicate"):
        raise BrushworkError(f"--encoder-padding must be zeros or replicate, got {encoder_padding!r}")
    if not 0 <= ema < 1:
        raise BrushworkError(f"--ema must be at least 0 and below 1, got {ema}")
    if levels is not None and levels < 1:
        raise BrushworkError(f"--levels must be at least 1, got {levels}")
    if model == "lapstyle-revision" and "draft" not in options:
        raise BrushworkError("training a revision network needs --draft-weights (a trained lapstyle-draft)")
    if export is not None:
        _check_export(export, overwrite)  # before hours of training, not after
    cfg = TrainConfig(model=model, content_dir=str(content_dir), style_dir=str(style_dir), run_dir=str(run_dir),
                      iters=iters, batch=batch, crop=crop, load_size=load_size, lr=lr, lr_decay=lr_decay,
                      save_every=save_every, sample_every=sample_every, log_every=log_every, threads=threads, device=device,
                      options=options, ema=ema)
    evald = (str(eval_content), str(eval_style)) if eval_content and eval_style else None
    path = run_train(cfg, init_from=str(init_from) if init_from else None, eval_dir=evald, override=override)
    if export:
        if export.exists() and not overwrite:
            raise BrushworkError(f"{export} appeared while training; the weights are in {path}")
        path = _copy_replacing(path, export)
    typer.echo(f"exported {path}")


def _check_export(export: Path, overwrite: bool) -> None:
    """Refuse an --export path that would replace a file unasked, or that cannot be written."""
    if export.is_dir():
        raise BrushworkError(f"--export {export} is a folder; give a file name")
    if export.exists() and not overwrite:
        raise BrushworkError(f"{export} already exists; pass --overwrite to replace it")
    if not export.parent.is_dir():
        raise BrushworkError(f"--export {export}: folder {export.parent} does not exist")


def _copy_replacing(src: Path, dst: Path) -> Path:
    """Copy under a temporary name beside `dst`, then rename over it (never a half-written file at `dst`)."""
    import os
    import shutil
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dst


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
    from ..loaders.brush import SUFFIX
    from ..training.learn_style import learn_style as run

    if output.suffix != SUFFIX:
        raise BrushworkError(f"{output}: a learned style file must end in {SUFFIX}")
    if output.exists() and not overwrite:
        raise BrushworkError(f"{output} already exists; pass --overwrite to replace it")
    for p in paintings:
        _check_input(str(p), "painting")
    path = run([str(p) for p in paintings], output, minutes=minutes, content_dir=content_dir, tune_draft=draft,
               threads=threads)
    typer.echo(f"wrote {path}")
