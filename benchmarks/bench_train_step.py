"""Training step time of the LapStyle and attention networks on this CPU (targets: a draft step, batch 8, 128 px
crops, <= 0.6 s on 2 threads; an attention step <= 1.0 s) -> BENCHMARKS.md section "train".

    python benchmarks/bench_train_step.py                 # draft and revision, 2 threads, 5 timed steps each
    python benchmarks/bench_train_step.py --threads 1 --steps 3

Real data (the eval photos and paintings), the real encoder and loss network, the trainer's own step
(autocast where bf16 is native, the backward pass and the Adam update); three warm-up steps (the first,
and two that fill the crop replay).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, write_section  # noqa: E402

EVAL = ROOT.parent / "shared" / "data" / "eval"


def time_steps(model: str, batch: int, crop: int, steps: int, options: dict) -> float:
    """Median seconds of `steps` trainer steps (after three warm-up steps) for `model`."""
    from brushwork.training.data import CropDataset
    from brushwork.training.loop import TrainConfig, Trainer
    from brushwork.training.run import build_task

    cfg = TrainConfig(model=model, content_dir=str(EVAL / "content"), style_dir=str(EVAL / "style"),
                      run_dir="/tmp/brushwork-bench-train", batch=batch, crop=crop, load_size=max(256, crop + 64),
                      device="cpu", options=dict(options))
    task = build_task(cfg, torch.device("cpu"))
    data = [CropDataset(EVAL / sub, cfg.load_size, crop, desc=sub) for sub in ("content", "style")]
    trainer = Trainer(cfg, task, *data)
    trainer.model.to(memory_format=torch.channels_last).train()
    times = []
    for i in range(steps + 3):  # warm-up: the first step, and the crop replay filling (two steps)
        t0 = time.perf_counter()
        trainer._step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--models", default="lapstyle-draft,lapstyle-revision,attention",
                    help="comma-separated: which networks' rows to time")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from safetensors.torch import load_file

    from brushwork.nets.lapstyle import draft_design

    models = ROOT / "brushwork" / "assets" / "models"
    design = draft_design(load_file(str(models / "lapstyle_draft.safetensors")))  # the shipped draft's design
    rows = [("lapstyle-draft", 8, 128, {"identity_weight": 10.0, "design": design},
             f"{design} design (the shipped draft's), full losses, crop replay 7 of 8 (default); target <= 0.6 s"),
            ("lapstyle-draft", 8, 128, {"identity_weight": 10.0, "design": design, "replay": 0},
             f"{design} design, all crops fresh (`--replay 0`)"),
            *([("lapstyle-draft", 8, 128, {"identity_weight": 10.0, "design": "full"}, "full design, for comparison")]
              if design != "full" else []),
            ("lapstyle-revision", 4, 256, {"draft": str(models / "lapstyle_draft.safetensors"), "levels": 1},
             "draft at 128 px + revision at 256 px, patch discriminator, all crops fresh (default)"),
            ("lapstyle-revision", 4, 256, {"draft": str(models / "lapstyle_draft.safetensors"), "levels": 1,
                                           "replay": 0.875}, "the same with crop replay, 3 of 4 (`--replay 0.875`, not the default)"),
            ("attention", 8, 128, {"draft": str(models / "lapstyle_draft.safetensors"), "identity_weight": 10.0,
                                   "local_weight": 2.0},
             "attention + factored draft, Lite1 and local feature losses, crop replay 7 of 8 (default); target <= 1.0 s"),
            ("attention", 8, 128, {"draft": str(models / "lapstyle_draft.safetensors"), "identity_weight": 10.0,
                                   "local_weight": 2.0, "encoder_padding": "replicate", "freeze_attention": True},
             "the same with `--encoder-padding replicate --freeze-attention` (the shipped weights' fine-tune)")]
    rows = [r for r in rows if r[0] in args.models.split(",")]
    lines = [f"### Training step time (`benchmarks/bench_train_step.py`, {time.strftime('%Y-%m-%d')})", "",
             f"Machine: {machine()}; {args.threads} thread(s), median of {args.steps} steps after 3 warm-up steps; "
             "EfficientNet-Lite1 losses (fp32), VGG feature passes in bf16 where native.", "",
             "| network | batch | crop (px) | s / step | note |", "| --- | ---: | ---: | ---: | --- |"]
    for model, batch, crop, options, note in rows:
        sec = time_steps(model, batch, crop, args.steps, options)
        print(f"{model}: {sec:.2f} s/step", flush=True)
        lines.append(f"| {model} | {batch} | {crop} | {sec:.2f} | {note} |")
    write_section("train", "\n".join(lines))


if __name__ == "__main__":
    main()
