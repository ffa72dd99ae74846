"""The training pipeline on real images and the real encoder: smoke run, export, resume after a kill."""
import json
import signal
import subprocess
import sys
import time

import torch
from safetensors.torch import load_file

from brushwork.training.data import CropDataset
from brushwork.training.loop import TrainConfig
from brushwork.training.run import train

from conftest import EVAL_CONTENT, EVAL_STYLE


def small_cfg(run_dir, iters):
    return TrainConfig(model="adain", content_dir=str(EVAL_CONTENT), style_dir=str(EVAL_STYLE), run_dir=str(run_dir),
                       iters=iters, batch=2, crop=64, load_size=96, save_every=5, sample_every=10, log_every=1)


def test_crop_dataset_samples_in_range():
    ds = CropDataset(EVAL_STYLE, load_size=96, crop=64)
    b = ds.sample(3, torch.Generator().manual_seed(0))
    assert b.shape == (3, 3, 64, 64) and 0 <= b.min() and b.max() <= 1 and b.std() > 0.05


def test_smoke_run_exports_fp16_with_logs_and_pictures(tmp_path):
    path = train(small_cfg(tmp_path, 20))
    state = load_file(str(path))
    assert state and all(v.dtype == torch.float16 for v in state.values())
    log = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in log] == list(range(1, 21))
    assert all(r["content"] > 0 and r["style"] > 0 for r in log)
    assert (tmp_path / "losses.png").stat().st_size > 1000
    assert (tmp_path / "samples_000020.jpg").is_file()


def test_resume_continues_where_it_stopped(tmp_path):
    train(small_cfg(tmp_path, 10))
    first = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert first["iter"] == 10
    train(small_cfg(tmp_path, 15))
    log = [json.loads(x)["iter"] for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log == list(range(1, 16))  # no iteration repeated or lost


def test_killed_run_resumes_from_checkpoint(tmp_path):
    args = [sys.executable, "-m", "brushwork.cli", "train", "adain", "--content", str(EVAL_CONTENT),
            "--style", str(EVAL_STYLE), "--run-dir", str(tmp_path), "--iters", "400", "--batch", "1",
            "--crop", "64", "--load-size", "96", "--save-every", "5", "--sample-every", "1000", "--threads", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "checkpoint.pt"
    deadline = time.time() + 300
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    stopped_at = torch.load(ckpt, weights_only=False)["iter"]
    assert 5 <= stopped_at < 400
    args[args.index("400")] = str(stopped_at + 3)
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stderr
    assert torch.load(ckpt, weights_only=False)["iter"] == stopped_at + 3


def test_loss_plot_survives_terms_that_come_and_go(tmp_path):
    """A run resumed with other loss weights logs other terms; the curve PNG still renders every term."""
    from PIL import Image

    from brushwork.training.loop import plot_losses

    log = [{"iter": i, "time": i, "lr": 1e-4, "total": 3.0 / i, "identity": 0.1} for i in range(1, 6)]
    log += [{"iter": i, "time": i, "lr": 1e-4, "total": 3.0 / i} for i in range(6, 9)]
    plot_losses(log, tmp_path / "l.png")
    assert Image.open(tmp_path / "l.png").size[0] > 400  # two panels


def test_adain_fade_starts_as_the_draft_and_ends_as_the_plain_decoder():
    """fade_from: step 0 paints exactly as the LapStyle draft; after fade_iters the skips are gone (the exported
    AdaIN decoder alone paints it) and only decoder weights are exported."""
    from brushwork.encoder import load_encoder
    from brushwork.nets import load_weights
    from brushwork.nets.adain import Decoder
    from brushwork.nets.lapstyle import DraftNet
    from brushwork.training.adain import AdaINTask
    from brushwork.methods.lapstyle import MODELS

    draft_path = MODELS / "lapstyle_draft.safetensors"
    task = AdaINTask(load_encoder(), fade_from=str(draft_path), fade_iters=10, style_weight=3.0)
    content = CropDataset(EVAL_CONTENT, load_size=96, crop=64).sample(2, torch.Generator().manual_seed(0))
    style = CropDataset(EVAL_STYLE, load_size=96, crop=64).sample(2, torch.Generator().manual_seed(1))
    _, t, _ = task._targets(content, style)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # as the trainer runs it
        task.step = 0
        assert torch.allclose(task.render(content, style), load_weights(DraftNet(), draft_path)(t), atol=1e-3)
        task.step = 5
        half = task.render(content, style)
        task.step = 10
        plain = Decoder()
        plain.load_state_dict(task.export_state())
        assert torch.allclose(task.render(content, style), plain(t["relu4_1"]), atol=1e-4)
        assert not torch.allclose(half, plain(t["relu4_1"]), atol=1e-2)  # half-way the skips still paint
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = task.losses(content, style)
    assert {"content", "style", "teacher"} <= set(terms) and terms["teacher"] > 0
    assert set(task.export_state()) == set(Decoder().state_dict())


def test_fade_run_exports_the_adain_decoder(tmp_path):
    """A fade run trains the whole draft but ships (and exports mid-run) only the AdaIN decoder."""
    from brushwork.methods.lapstyle import MODELS
    from brushwork.nets.adain import Decoder
    from brushwork.training.run import export_checkpoint

    cfg = small_cfg(tmp_path, 2)
    cfg.options = {"fade_from": str(MODELS / "lapstyle_draft.safetensors"), "fade_iters": 1}
    keys = set(Decoder().state_dict())
    assert set(load_file(str(train(cfg)))) == keys
    assert set(load_file(str(export_checkpoint(tmp_path, tmp_path / "mid.safetensors")))) == keys
