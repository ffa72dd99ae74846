"""Train on a lent GPU machine (the `device` tool) from the packs of tools/device/pack.py, with `brushwork train`'s
own trainer: the machine has PyTorch but not our pinned wheels, so the encoder loads the packed fp16 VGG layers.

    python3 tools/device/train.py MODEL SECONDS [INIT|-] [NAME] [option=value ...]  # MODEL: lapstyle-draft | lapstyle-revision | attention

SECONDS of training steps (the trainer's clock), then the fp16 weights, the loss log and the last samples go to
$OUT/NAME/ (default NAME: MODEL); options (e.g. hed_gram_weight=15) go to the task. Two runs with different
NAMEs can share the GPU at once (small batches leave it mostly idle). The parent of the shipped LapStyle draft
was trained this way: batch 16, 128 px crops, ~17 steps/s on one H200.
A revision run also needs DRAFT (the frozen draft's weights, default: the shipped one). Most of the shipped
revision network's steps were trained this way: 8,791 steps at batch 8, two runs sharing the GPU at ~14 steps/s each.
The shipped attention draft's last 12,860 steps too (its attention frozen, the draft fine-tuned with replicate
padding): ~17-21 steps/s at batch 8 on one H200.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ["BRUSHWORK_HOME"] = os.path.abspath(".gpu/home")
sys.path.insert(0, os.getcwd())

import torch  # noqa: E402

import brushwork.core.encoder as encoder  # noqa: E402
from brushwork.training.loop import TrainConfig  # noqa: E402
from brushwork.training.run import train  # noqa: E402

DATA = ".gpu/data"
MODELS = "brushwork/assets/models"
RUNS = {  # model: (batch, crop, load size, options, default init)
    "lapstyle-draft": (16, 128, 256, {"identity_weight": 10.0}, f"{MODELS}/lapstyle_draft.safetensors"),
    "lapstyle-revision": (8, 256, 256, {"levels": 1, "draft": os.environ.get("DRAFT", f"{MODELS}/lapstyle_draft.safetensors"),
                                        "content_weight": 12.0, "hed_gram_weight": 15.0},
                          f"{MODELS}/lapstyle_rev1.safetensors"),
    "attention": (8, 128, 256, {"draft": f"{MODELS}/lapstyle_draft.safetensors", "local_weight": 2.0,
                                "encoder_padding": "replicate", "freeze_attention": True},
                  f"{MODELS}/attention_draft.safetensors"),
}


def packed_encoder(pool="max", padding_mode="zeros", auto_fetch=True):
    """The VGG16 encoder with the packed layers (to relu4_1); the rest NaN, so any use of them shows."""
    from safetensors.torch import load_file

    enc = encoder.VGG16Encoder(pool=pool, padding_mode=padding_mode)
    missing, unexpected = enc.load_state_dict(load_file(".gpu/home/vgg16_hed.safetensors"), strict=False)
    assert not unexpected and all(k.startswith(("conv4_2", "conv4_3", "conv5")) for k in missing), missing
    params = dict(enc.named_parameters())
    for k in missing:
        params[k].data.fill_(float("nan"))
    return enc


def option_value(text: str):
    """An option's value: a number where it reads as one (weights), else the text (encoder_padding=replicate)."""
    try:
        return float(text)
    except ValueError:
        return text


def main() -> None:
    model, seconds = sys.argv[1], float(sys.argv[2])
    batch, crop, load, options, init = RUNS[model]
    init = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else init
    name = sys.argv[4] if len(sys.argv) > 4 else model
    options = {**options, **{k: option_value(v) for k, v in (a.split("=", 1) for a in sys.argv[5:])}}
    encoder.load_encoder = packed_encoder
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    cfg = TrainConfig(model=model, content_dir=f"{DATA}/train/content", style_dir=f"{DATA}/train/style",
                      run_dir=f"/tmp/run_{name}", iters=10**6, batch=batch, crop=crop, load_size=load, lr=1e-4,
                      lr_decay=5e-5, log_every=10, save_every=1000, sample_every=1000, max_seconds=seconds,
                      device=os.environ.get("DEVICE", "cuda"), threads=4, seed=1, options=options)
    t0 = time.time()
    path = train(cfg, init_from=init, eval_dir=(f"{DATA}/eval/content", f"{DATA}/eval/style"))
    out = Path(os.environ.get("OUT", "/tmp/out")) / name
    out.mkdir(parents=True, exist_ok=True)
    for f in (path, f"{cfg.run_dir}/log.jsonl", f"{cfg.run_dir}/samples_latest.jpg"):
        if Path(f).is_file():
            shutil.copy(f, out)
    summary = json.loads(Path(cfg.run_dir, "summary.json").read_text())
    print(name, options, "done in", round(time.time() - t0), "s:", summary, flush=True)


if __name__ == "__main__":
    main()
