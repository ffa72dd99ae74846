"""Entry point for `brushwork train MODEL`: build data, task and trainer from a TrainConfig and run it."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..errors import BrushworkError
from ..nets import load_weights
from ..core.images import list_images
from .data import CropDataset
from .loop import TrainConfig, Trainer, check_resume, pick_device, saved_config, weights_metadata

TRAINABLE = ("adain", "lapstyle-draft", "lapstyle-revision", "attention")  # model names `brushwork train` accepts


def eval_pairs(content_dir: str, style_dir: str, n: int = 4, size: int = 256):
    """A fixed set of n content/style pairs (first files of each folder, centre-cropped) for sample grids."""
    from ..core.images import load_image

    def batch(folder):
        files = list_images(folder)[:n]
        ims = []
        for f in files:
            t = load_image(f)
            h, w = t.shape[-2:]
            s = min(h, w)
            t = t[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
            ims.append(torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", antialias=True))
        return torch.cat(ims)

    return batch(content_dir), batch(style_dir)


def build_task(cfg: TrainConfig, device):
    from ..core.encoder import load_encoder

    padding = cfg.options.get("encoder_padding", "zeros")
    encoder = load_encoder("max", padding).to(device).to(memory_format=torch.channels_last)
    opts = {k: v for k, v in cfg.options.items() if k != "encoder_padding"}  # the encoder's, not the task's
    if cfg.model == "adain":
        from .adain import AdaINTask

        return AdaINTask(encoder, **opts)
    if cfg.model == "lapstyle-draft":
        from ..nets.lapstyle import load_draft
        from .lapstyle import DraftTask

        teacher = load_draft(opts.pop("teacher")) if opts.get("teacher") else None
        return DraftTask(encoder, teacher=teacher, **opts)
    if cfg.model == "lapstyle-revision":
        from ..nets.lapstyle import load_draft, load_revision
        from .lapstyle import RevisionTask

        draft = load_draft(opts.pop("draft"))
        lower = [load_revision(p) for p in opts.pop("lower", [])]
        teacher = load_revision(opts.pop("teacher")) if opts.get("teacher") else None
        return RevisionTask(encoder, draft, lower, teacher=teacher, **opts)
    if cfg.model == "attention":
        from ..nets.attention import AttentionDraftNet
        from ..nets.lapstyle import load_draft
        from .attention import AttentionTask

        draft = load_draft(opts.pop("draft")) if opts.get("draft") else None
        return AttentionTask(encoder, AttentionDraftNet(draft), **opts)
    raise BrushworkError(f"unknown model {cfg.model!r}; choose from {', '.join(TRAINABLE)}")


def init_weights(net: torch.nn.Module, path: str) -> torch.nn.Module:
    """Start `net` from fp16 weights; a LapStyle draft may start from the AdaIN decoder (skips start at zero)."""
    from safetensors.torch import load_file

    from ..nets.lapstyle import DraftNet

    state = load_file(path)
    if isinstance(net, DraftNet) and all(k.startswith("net.") for k in state):
        state = {**net.state_dict(), **{"decoder." + k: v for k, v in state.items()}}
    return load_weights(net, state)


def train(cfg: TrainConfig, init_from: str | None = None, eval_dir: tuple[str, str] | None = None,
          override: bool = False) -> Path:
    """Train (or resume) the model described by cfg; returns the fp16 export path (Trainer.run sets cfg.threads).
    A run dir whose checkpoint was saved with other options is refused unless `override` (see check_resume)."""
    device = pick_device(cfg.device)
    if init_from and cfg.model == "lapstyle-draft" and "design" not in cfg.options:
        from safetensors.torch import load_file

        from ..nets.lapstyle import draft_design, factored_ranks

        state = load_file(init_from)  # a draft goes on as the design (and ranks) it was saved as
        cfg.options["design"] = draft_design(state)
        if cfg.options["design"] == "factored":
            cfg.options["ranks"] = factored_ranks(state)
    saved = saved_config(cfg.run_dir)
    if saved is not None:
        check_resume(saved, cfg, override)  # before the data is loaded
    with torch.random.fork_rng(devices=[]):  # (the caller's global RNG state is put back afterwards)
        torch.manual_seed(cfg.seed)  # the networks' initial weights: same seed, same run
        task = build_task(cfg, device)
    if init_from and not (Path(cfg.run_dir) / "checkpoint.pt").is_file():
        init_weights(task.trainable(), init_from)
    content = CropDataset(cfg.content_dir, cfg.load_size, cfg.crop, desc="content")
    style = CropDataset(cfg.style_dir, cfg.load_size, cfg.crop, desc="styles")
    pairs = eval_pairs(*(eval_dir or (cfg.content_dir, cfg.style_dir)))
    trainer = Trainer(cfg, task, content, style, pairs, override=override)
    if not init_from and not trainer.ckpt_path.is_file():
        task.prepare(content, style, trainer.gen)
    path = trainer.run()
    (Path(cfg.run_dir) / "summary.json").write_text(json.dumps(
        {"iterations": trainer.iter, "train_seconds": round(trainer.elapsed), "last": trainer.log[-1] if trainer.log else {}},
        indent=2))
    return path


def export_checkpoint(run_dir: str | Path, out: str | Path) -> Path:
    """fp16 safetensors of a run's latest checkpoint (while it keeps training; the weights' moving average if the run
    keeps one), with its numbers as metadata."""
    state = torch.load(Path(run_dir) / "checkpoint.pt", map_location="cpu", weights_only=False)
    model = state["model"]
    if state.get("ema"):  # AveragedModel's state: the averaged module under "module.", and its step count
        model = {k.removeprefix("module."): v for k, v in state["ema"].items() if k.startswith("module.")}
    if state["config"]["model"] == "adain" and any(k.startswith("decoder.") for k in model):
        # a fade run checkpoints the whole draft; the AdaIN model is its decoder (AdaINTask.export_state)
        model = {k.removeprefix("decoder."): v for k, v in model.items() if k.startswith("decoder.")}
    tensors = {k: v.to(torch.float16).contiguous() for k, v in model.items()}
    cfg = state["config"]
    return save_replacing(tensors, out, weights_metadata(cfg["model"], state["iter"], state["elapsed"],
                                                         cfg.get("options", {}), ema=cfg.get("ema", 0.0)))



def mix_weights(a: str | Path, b: str | Path, share: float, out: str | Path) -> Path:
    """fp16 safetensors of (1 - share) x a + share x b, tensor by tensor (two runs of one lineage: a fine-tuned
    network and its parent), with both sources in the metadata. How the shipped revision network takes part of a
    fine-tune's HED Gram gain while keeping most of its parent's photo (its model card gives the recipe)."""
    from safetensors.torch import load_file

    if not 0.0 <= share <= 1.0:
        raise BrushworkError(f"share must be between 0 and 1, got {share}")
    wa, wb = load_file(str(a)), load_file(str(b))
    if wa.keys() != wb.keys() or any(wa[k].shape != wb[k].shape for k in wa):
        raise BrushworkError(f"{a} and {b} hold different networks")
    mixed = {k: ((1 - share) * wa[k].float() + share * wb[k].float()).to(torch.float16).contiguous() for k in wa}
    return save_replacing(mixed, out, {"mix": f"{1 - share:g} x {Path(a).name} + {share:g} x {Path(b).name}"})


def save_replacing(tensors: dict[str, torch.Tensor], out: str | Path, metadata: dict[str, str]) -> Path:
    """safetensors written beside `out` under a temporary name, then renamed over it: a reader (or a crash) never
    sees a half-written file, and the file at `out` is replaced whole, not rewritten in place. Written with an
    ordinary open(), so it gets the mode the umask gives (safetensors' own writer makes its files 0600)."""
    from safetensors.torch import save

    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        tmp.write_bytes(save(tensors, metadata=metadata))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
