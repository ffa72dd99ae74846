"""The training pipeline on real images and the real encoder: smoke run, export, resume after a kill."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from brushwork.training.data import CropDataset
from brushwork.training.loop import TrainConfig
from brushwork.training.run import train

from conftest import DRAFT_PARENT, EVAL_CONTENT, EVAL_STYLE


def small_cfg(run_dir, iters):
    return TrainConfig(model="adain", content_dir=str(EVAL_CONTENT), style_dir=str(EVAL_STYLE), run_dir=str(run_dir),
                       iters=iters, batch=2, crop=64, load_size=96, save_every=5, sample_every=10, log_every=1)


def test_crop_dataset_samples_in_range():
    ds = CropDataset(EVAL_STYLE, load_size=96, crop=64)
    b = ds.sample(3, torch.Generator().manual_seed(0))
    assert b.shape == (3, 3, 64, 64) and 0 <= b.min() and b.max() <= 1 and b.std() > 0.05


@pytest.mark.slow
def test_smoke_run_exports_fp16_with_logs_and_pictures(tmp_path):
    path = train(small_cfg(tmp_path, 20))
    state = load_file(str(path))
    assert state and all(v.dtype == torch.float16 for v in state.values())
    log = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in log] == list(range(1, 21))
    assert all(r["content"] > 0 and r["style"] > 0 for r in log)
    assert (tmp_path / "losses.png").stat().st_size > 1000
    assert (tmp_path / "samples_000020.jpg").is_file()


@pytest.mark.slow
def test_resume_continues_where_it_stopped(tmp_path):
    train(small_cfg(tmp_path, 10))
    first = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert first["iter"] == 10
    train(small_cfg(tmp_path, 15))
    log = [json.loads(x)["iter"] for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log == list(range(1, 16))  # no iteration repeated or lost


@pytest.mark.slow
def test_moving_average_is_exported_and_resumed(tmp_path):
    """With `ema` the run keeps a moving average of the weights: the export and `export_checkpoint` are the average
    (not the last step's weights), it is saved in the checkpoint, and a resumed run goes on averaging from it
    rather than starting a new average."""
    from dataclasses import replace

    from brushwork.training.run import export_checkpoint

    cfg = replace(small_cfg(tmp_path, 4), ema=0.5)
    path = train(cfg)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert int(state["ema"]["n_averaged"]) == 4
    average = {k.removeprefix("module."): v for k, v in state["ema"].items() if k.startswith("module.")}
    exported = load_file(str(path))
    assert exported.keys() == state["model"].keys() == average.keys()
    moved = [k for k in exported if not torch.equal(state["model"][k], average[k])]
    assert moved  # the average trails the last step's weights, and the export is the average
    for k in exported:
        assert torch.equal(exported[k], average[k].half()), k
    assert load_file(str(export_checkpoint(tmp_path, tmp_path / "ckpt.safetensors")))[moved[0]].equal(exported[moved[0]])
    train(replace(cfg, iters=6))
    assert int(torch.load(tmp_path / "checkpoint.pt", weights_only=False)["ema"]["n_averaged"]) == 6


def _train_args(run_dir, iters):
    return [sys.executable, "-m", "brushwork.cli", "train", "adain", "--content", str(EVAL_CONTENT),
            "--style", str(EVAL_STYLE), "--run-dir", str(run_dir), "--iters", str(iters), "--batch", "1",
            "--crop", "64", "--load-size", "96", "--save-every", "5", "--log-every", "1", "--sample-every", "1000",
            "--threads", "1"]


def _kill_after_checkpoint(run_dir, iters, sig):
    """Start a run, wait for its first checkpoint and a few more logged iterations, send `sig`."""
    proc = subprocess.Popen(_train_args(run_dir, iters), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt, log = run_dir / "checkpoint.pt", run_dir / "log.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and log.exists() and len(log.read_text().splitlines()) >= 7:
            break
        time.sleep(0.2)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return torch.load(ckpt, weights_only=False)["iter"]


@pytest.mark.slow
def test_killed_run_resumes_from_checkpoint(tmp_path):
    """SIGTERM: the run checkpoints where it stands and the same command continues from there."""
    stopped_at = _kill_after_checkpoint(tmp_path, 400, signal.SIGTERM)
    assert 5 <= stopped_at < 400
    done = subprocess.run(_train_args(tmp_path, stopped_at + 3), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stderr
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["iter"] == stopped_at + 3


@pytest.mark.slow
def test_hard_killed_run_resumes_exactly(tmp_path):
    """SIGKILL (no chance to checkpoint): the resumed run restores weights, optimizer state and both RNGs, so it
    ends bit for bit where an uninterrupted run ends, and log.jsonl has each iteration once."""
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    at = _kill_after_checkpoint(killed, 400, signal.SIGKILL)
    lines = [json.loads(x)["iter"] for x in (killed / "log.jsonl").read_text().splitlines()]
    assert at % 5 == 0 and max(lines) > at  # the kill left log lines past the checkpoint
    total = at + 4
    for run_dir in (killed, straight):
        done = subprocess.run(_train_args(run_dir, total), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    a, b = (torch.load(d / "checkpoint.pt", weights_only=False) for d in (killed, straight))
    assert a["iter"] == b["iter"] == total
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])
    sa, sb = a["opt"]["state"], b["opt"]["state"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[p][k], sb[p][k]) for p in sb for k in sb[p])
    assert torch.equal(a["gen"], b["gen"]) and torch.equal(a["torch_rng"], b["torch_rng"])
    log = [json.loads(x)["iter"] for x in (killed / "log.jsonl").read_text().splitlines()]
    assert log == list(range(1, total + 1))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "brushwork.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_resume_with_other_options_and_export_over_a_file_need_asking(tmp_path):
    """A rerun with changed options does not continue (or rewrite) the run unless --override; --export does not
    replace a file unless --overwrite, and says so before any training."""
    run_dir, mine = tmp_path / "run", tmp_path / "mine.safetensors"
    mine.write_bytes(b"mine")
    refused = _cli(*_train_args(run_dir, 2)[3:], "--export", mine)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        f"brushwork: error: {mine} already exists; pass --overwrite to replace it"]
    assert mine.read_bytes() == b"mine" and not run_dir.exists()  # refused before any training
    done = _cli(*_train_args(run_dir, 2)[3:], "--export", mine, "--overwrite")
    assert done.returncode == 0, done.stderr
    assert load_file(str(mine)).keys() == load_file(str(run_dir / "adain.safetensors")).keys()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary copy left
    config, ckpt = (run_dir / "config.json").read_text(), (run_dir / "checkpoint.pt").read_bytes()
    changed = _cli(*_train_args(run_dir, 4)[3:], "--lr", "0.001", "--batch", "2")
    lines = changed.stderr.strip().splitlines()
    assert changed.returncode == 2 and len(lines) == 1, changed.stderr
    assert "batch: 1 -> 2" in lines[0] and "lr: 0.0001 -> 0.001" in lines[0] and "--override" in lines[0]
    assert (run_dir / "config.json").read_text() == config and (run_dir / "checkpoint.pt").read_bytes() == ckpt
    forced = _cli(*_train_args(run_dir, 4)[3:], "--lr", "0.001", "--override")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((run_dir / "config.json").read_text())["lr"] == 0.001
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["iter"] == 4


def test_resume_compares_the_options_that_define_a_run():
    """Where the run lives, how often it reports and how long it goes on may change; its data, batch, learning
    rate, seed and model options may not; a field a checkpoint predates counts as its default."""
    from dataclasses import asdict

    from brushwork.errors import BrushworkError
    from brushwork.training.loop import check_resume, config_changes

    cfg = small_cfg("a", 10)
    cfg.options = {"style_weight": 2.0}
    saved = asdict(cfg)
    moved = small_cfg("b", 50)
    moved.options, moved.threads, moved.save_every, moved.max_seconds = {"style_weight": 2.0}, 1, 7, 60.0
    assert config_changes(saved, moved) == []
    del saved["max_seconds"], saved["seed"]
    assert config_changes(saved, moved) == []
    other = small_cfg("a", 10)
    other.options, other.seed, other.style_dir = {"style_weight": 3.0, "loss_net": "hed-vgg16"}, 1, "elsewhere"
    assert config_changes(saved, other) == [f"style_dir: {str(EVAL_STYLE)!r} -> 'elsewhere'", "seed: 0 -> 1",
                                            "loss_net: 'unset' -> 'hed-vgg16'", "style_weight: 2.0 -> 3.0"]
    with pytest.raises(BrushworkError, match="--override"):
        check_resume(saved, other)
    check_resume(saved, other, override=True)
    other.model = "lapstyle-draft"
    with pytest.raises(BrushworkError, match="holds a adain run"):
        check_resume(saved, other, override=True)


@pytest.mark.slow
def test_training_in_a_worker_thread(tmp_path):
    """A server runs training off the main thread, where signal handlers cannot be installed, and where process-wide
    settings (thread count, the global RNG) belong to every other thread too: the run leaves them as they were."""
    import threading

    errors = []

    def work(cfg):
        try:
            train(cfg)
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    def fresh_thread_count():
        seen = []
        t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        t.start()
        t.join()
        return seen[0]

    cfg = small_cfg(tmp_path, 2)
    before = fresh_thread_count()
    cfg.threads = before + 1  # a setting of its own, which other threads must not inherit
    torch.manual_seed(1234)
    rng = torch.get_rng_state()
    t = threading.Thread(target=lambda: work(cfg))
    t.start()
    t.join(timeout=300)
    assert not errors and (tmp_path / "adain.safetensors").is_file()
    assert fresh_thread_count() == before  # the server's other threads keep their thread count
    assert torch.equal(torch.get_rng_state(), rng)  # and the global RNG stream where it was


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
    from brushwork.core.encoder import load_encoder
    from brushwork.nets import load_weights
    from brushwork.nets.blocks import Decoder
    from brushwork.nets.lapstyle import DraftNet
    from brushwork.training.adain import AdaINTask

    draft_path = DRAFT_PARENT  # a DraftNet (the shipped draft is its factored form)
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


@pytest.mark.slow
def test_fade_run_exports_the_adain_decoder(tmp_path):
    """A fade run trains the whole draft but ships (and exports mid-run) only the AdaIN decoder."""
    from brushwork.nets.blocks import Decoder
    from brushwork.training.run import export_checkpoint

    cfg = small_cfg(tmp_path, 2)
    cfg.options = {"fade_from": str(DRAFT_PARENT), "fade_iters": 1}
    keys = set(Decoder().state_dict())
    assert set(load_file(str(train(cfg)))) == keys
    assert set(load_file(str(export_checkpoint(tmp_path, tmp_path / "mid.safetensors")))) == keys


def test_mix_weights_interpolates_tensor_by_tensor(tmp_path):
    """share 0 gives the first network, 1 the second, 0.6 the weighted mean; other networks are refused."""
    from safetensors.torch import load_file, save_file

    from brushwork.errors import BrushworkError
    from brushwork.nets.lapstyle import RevisionNet
    from brushwork.training.run import mix_weights

    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        state = {k: v.half() for k, v in RevisionNet().state_dict().items()}
        state["up.0.1.weight"] = torch.randn_like(state["up.0.1.weight"])  # the zero-initialised layer, too
        save_file(state, str(tmp_path / f"{seed}.safetensors"))
        nets.append(state)
    for share in (0.0, 0.6, 1.0):
        mixed = load_file(str(mix_weights(tmp_path / "0.safetensors", tmp_path / "1.safetensors", share,
                                          tmp_path / "m.safetensors")))
        for k, v in mixed.items():
            want = (1 - share) * nets[0][k].float() + share * nets[1][k].float()
            assert v.dtype == torch.float16 and torch.allclose(v.float(), want, atol=2e-3), (share, k)
    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(BrushworkError):
        mix_weights(tmp_path / "0.safetensors", tmp_path / "other.safetensors", 0.5, tmp_path / "bad.safetensors")
    old = (tmp_path / "m.safetensors").read_bytes()  # share 1.0's file, replaced whole by a new mix, not rewritten:
    os.link(tmp_path / "m.safetensors", tmp_path / "seen-by-a-reader")  # a reader holding it keeps reading it
    mix_weights(tmp_path / "0.safetensors", tmp_path / "1.safetensors", 0.0, tmp_path / "m.safetensors")
    assert (tmp_path / "seen-by-a-reader").read_bytes() == old != (tmp_path / "m.safetensors").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.safetensors", "1.safetensors", "m.safetensors",
                                                          "other.safetensors", "seen-by-a-reader"]


@pytest.mark.parametrize("model", ["lapstyle-draft", "lapstyle-revision"])
def test_lapstyle_tasks_train_under_the_encoder_padding_they_paint_with(model):
    """`encoder_padding` is the encoder's option for every model: the draft and revision tasks were refused it (an
    unexpected keyword), though lapstyle paints with replicate padding."""
    from brushwork.methods import lapstyle
    from brushwork.training.loop import TrainConfig
    from brushwork.training.run import build_task

    options = {"encoder_padding": "replicate"}
    if model == "lapstyle-revision":
        options["draft"] = str(lapstyle.WEIGHTS_DIR / "lapstyle_draft.safetensors")
    cfg = TrainConfig(model=model, content_dir=str(EVAL_CONTENT), style_dir=str(EVAL_STYLE), run_dir="unused",
                      device="cpu", options=options)
    task = build_task(cfg, torch.device("cpu"))
    assert {m.padding_mode for m in task.encoder.modules() if isinstance(m, torch.nn.Conv2d)} == {"replicate"}


@pytest.mark.slow
def test_attention_trained_with_replicate_padding_paints_with_it(tmp_path):
    """The encoder padding an attention run trains with goes into its weights' metadata, and inference reads it
    there: replicate padding and no margin around the draft (zero padding would shift the attention). With
    --freeze-attention only the draft learns."""
    import shutil

    from brushwork.methods import attention, lapstyle
    from brushwork.training.run import export_checkpoint

    models = lapstyle.WEIGHTS_DIR
    r = subprocess.run([sys.executable, "-m", "brushwork.cli", "train", "attention", "--content", str(EVAL_CONTENT),
                        "--style", str(EVAL_STYLE), "--run-dir", str(tmp_path / "run"), "--iters", "2", "--batch", "2",
                        "--crop", "64", "--load-size", "96", "--save-every", "1", "--log-every", "1",
                        "--sample-every", "1000", "--threads", "1", "--encoder-padding", "replicate", "--freeze-attention",
                        "--draft-weights", str(models / "lapstyle_draft.safetensors"),
                        "--init-from", str(models / attention.WEIGHTS_FILE)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    weights = tmp_path / "weights"
    weights.mkdir()
    for f in ("lapstyle_draft.safetensors", "lapstyle_rev1.safetensors"):
        shutil.copy(models / f, weights / f)
    export_checkpoint(tmp_path / "run", weights / attention.WEIGHTS_FILE)
    probe = tmp_path / "probe"
    probe.write_bytes(b"")  # exported weights get the mode any new file gets, not safetensors' own 0600
    assert (weights / attention.WEIGHTS_FILE).stat().st_mode & 0o777 == probe.stat().st_mode & 0o777
    before, after = load_file(str(models / attention.WEIGHTS_FILE)), load_file(str(weights / attention.WEIGHTS_FILE))
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("attn."))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("draft."))
    painter = attention.AttentionDrafting(attention.Options(weights_dir=str(weights)), torch.float32)
    assert (painter.encoder_padding, painter.margin) == ("replicate", 0.0)
    bad = subprocess.run([sys.executable, "-m", "brushwork.cli", "train", "attention", "--content", str(EVAL_CONTENT),
                          "--style", str(EVAL_STYLE), "--run-dir", str(tmp_path / "bad"), "--encoder-padding", "mirror"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "zeros or replicate" in bad.stderr and "Traceback" not in bad.stderr
