"""A resumable trainer: bf16 autocast + channels_last on CPU (CUDA when present), Adam with inverse decay,
atomic checkpoints, a JSONL loss log, a loss-curve PNG and sample grids, and an fp16 safetensors export.

Kill it at any point and run the same command again: it continues from the last checkpoint.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import signal
import threading
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import torch
from tqdm import tqdm

from ..core.precision import resolve
from ..errors import BrushworkError


@dataclass
class TrainConfig:
    """Everything that defines a run; saved beside its checkpoints."""
    model: str
    content_dir: str
    style_dir: str
    run_dir: str
    iters: int = 20000
    batch: int = 8
    crop: int = 256
    load_size: int = 512
    lr: float = 1e-4
    lr_decay: float = 5e-5
    save_every: int = 200
    sample_every: int = 500
    log_every: int = 10
    threads: int = 0
    max_seconds: float = 0.0
    seed: int = 0
    device: str = "auto"
    options: dict = field(default_factory=dict)
    ema: float = 0.0  # decay of a moving average of the weights (0 = off); exports take the average, which is
    # steadier than the last step's weights (57 steps moved an attention draft's pictures by 9.4/255)


# What a resumed run may change: where it lives, how often it reports, how it runs and how long it goes on.
# Anything else (data, batch, crops, learning rate, seed, the model's options) would make it another run.
RESUMABLE = ("run_dir", "iters", "save_every", "sample_every", "log_every", "threads", "max_seconds", "device")


def config_changes(saved: dict, cfg: TrainConfig) -> list[str]:
    """'name: saved -> now' for each option that defines the run and differs from the config it was saved with
    (a field the saved config predates counts as its default)."""
    defaults = {f.name: f.default if f.default is not MISSING else f.default_factory() for f in fields(TrainConfig)
                if f.default is not MISSING or f.default_factory is not MISSING}
    now, changes = asdict(cfg), []
    for name in now:
        if name in RESUMABLE or name == "options":
            continue
        before = saved.get(name, defaults.get(name))
        if before != now[name]:
            changes.append(f"{name}: {before!r} -> {now[name]!r}")
    old_opts, new_opts = saved.get("options", {}), now["options"]
    for name in sorted(set(old_opts) | set(new_opts)):
        if old_opts.get(name) != new_opts.get(name):
            changes.append(f"{name}: {old_opts.get(name, 'unset')!r} -> {new_opts.get(name, 'unset')!r}")
    return changes


def check_resume(saved: dict, cfg: TrainConfig, override: bool = False) -> None:
    """Refuse to resume a run with another model, or with other options unless `override` (then the new ones are
    kept and saved): a rerun with a changed flag must not silently continue, or rewrite, someone's run."""
    if saved["model"] != cfg.model:
        raise BrushworkError(f"{cfg.run_dir} holds a {saved['model']} run, not {cfg.model}")
    changes = config_changes(saved, cfg)
    if changes and not override:
        raise BrushworkError(f"{cfg.run_dir} holds a run started with other options ({'; '.join(changes)}); "
                             "run the command it was started with, pass --override to go on with these, or "
                             "use another --run-dir")


def saved_config(run_dir: str | Path) -> dict | None:
    """The config a run dir's checkpoint was saved with (None: no checkpoint); memory-mapped, weights not read."""
    path = Path(run_dir) / "checkpoint.pt"
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False, mmap=True)["config"]


class Task:
    """What a model contributes to training: its trainable modules, its losses and sample images."""
    name = "task"
    step = 0  # the trainer's iteration, set before each batch (for loss schedules)

    def trainable(self) -> torch.nn.Module:
        raise NotImplementedError

    def losses(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms for one batch; must contain 'total'."""
        raise NotImplementedError

    @torch.no_grad()
    def render(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Stylized images for the sample grid."""
        raise NotImplementedError

    def prepare(self, content_data, style_data, gen: torch.Generator) -> None:
        """Data-driven initialisation before the first step of a fresh run (none by default)."""

    def export_state(self) -> dict[str, torch.Tensor]:
        return self.trainable().state_dict()

    def extra_state(self) -> dict:
        """Anything else to checkpoint (e.g. a discriminator and its optimizer)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _process_wide(cfg: TrainConfig):
    """The process-wide torch settings a run uses, put back when it ends. On the main thread (the CLI) it sets
    cfg.threads and seeds the global RNG, as a run's checkpoint restores it; on another thread (a server's
    worker) it changes neither, as other threads share them (the steps draw from the trainer's own generator)."""
    if not _main_thread():
        yield
        return
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        try:
            yield
        finally:
            torch.set_num_threads(threads)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast where bf16 is native (about 2x faster training on AMX CPUs, numerically safe for these
    losses); a no-op where it would be emulated (AVX2-only CPUs: 10x slower)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=resolve("auto", device.type) == "bf16")


def bf16_copy(net: torch.nn.Module) -> torch.nn.Module:
    """A bf16 copy of a frozen net for no-grad passes: ~2x faster than fp32 weights under autocast on CPU.
    Elsewhere (CUDA) the net itself, run under autocast."""
    if next(net.parameters()).device.type != "cpu" or resolve("auto") != "bf16":
        return net
    return copy.deepcopy(net).to(torch.bfloat16).to(memory_format=torch.channels_last)


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def plot_losses(log: list[dict], path: Path) -> None:
    """Loss curves (one panel per term, log scale, smoothed) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in dict.fromkeys(k for r in log for k in r) if k not in ("iter", "time", "lr")]
    if not keys:  # nothing logged yet (samples asked for before the first log line)
        return
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    for ax, k in zip(axes[0], keys):  # a term may come and go when a run resumes with other loss weights
        its, vals = zip(*[(r["iter"], r[k]) for r in log if k in r])
        ax.plot(its, vals, alpha=0.3, color="tab:blue")
        w = max(1, len(vals) // 50)
        smooth = [sum(vals[max(0, i - w):i + 1]) / len(vals[max(0, i - w):i + 1]) for i in range(len(vals))]
        ax.plot(its, smooth, color="tab:blue")
        ax.set_title(k)
        ax.set_xlabel("iteration")
        if min(vals) > 0:
            ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


class Trainer:
    """Runs a Task under a TrainConfig with checkpoint/resume, logs, plots and export."""

    def __init__(self, cfg: TrainConfig, task: Task, content_data, style_data, eval_pairs=None,
                 override: bool = False):
        self.cfg, self.task = cfg, task
        self.override = override  # resume even if the checkpoint was saved with other options
        self.content_data, self.style_data = content_data, style_data
        self.eval_pairs = eval_pairs
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.device = pick_device(cfg.device)
        self.model = task.trainable()
        self.opt = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=cfg.lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.iter = 0
        self.log: list[dict] = []
        self.elapsed = 0.0
        self._stop = False
        self.average = None  # the weights' moving average (cfg.ema), made in _run once the model is on its device

    @property
    def ckpt_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "log.jsonl"

    def resume(self) -> bool:
        """Load the last checkpoint if there is one; returns whether it did."""
        if not self.ckpt_path.is_file():
            return False
        state = torch.load(self.ckpt_path, map_location="cpu", weights_only=False)
        check_resume(state["config"], self.cfg, self.override)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
        if "torch_rng" in state and _main_thread():
            torch.set_rng_state(state["torch_rng"])
        self.iter, self.log, self.elapsed = state["iter"], state["log"], state["elapsed"]
        if self.average is not None and state.get("ema"):
            self.average.load_state_dict(state["ema"])
        if state.get("extra"):
            self.task.load_extra_state(state["extra"])
        self._truncate_log()
        return True

    def _truncate_log(self) -> None:
        """Make log.jsonl end at the checkpoint: a hard kill after it leaves lines the resumed run repeats."""
        tmp = self.log_path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(rec) + "\n" for rec in self.log))
        os.replace(tmp, self.log_path)

    def save(self) -> None:
        save_atomic({"config": asdict(self.cfg), "model": self.model.state_dict(), "opt": self.opt.state_dict(),
                     "gen": self.gen.get_state(), "torch_rng": torch.get_rng_state(), "iter": self.iter,
                     "log": self.log, "elapsed": self.elapsed,
                     "extra": self.task.extra_state(),
                     "ema": self.average.state_dict() if self.average is not None else None},
                    self.ckpt_path)
        tmp = self.run_dir / "config.json.tmp"
        tmp.write_text(json.dumps(asdict(self.cfg), indent=2))
        os.replace(tmp, self.run_dir / "config.json")

    def lr_at(self, it: int) -> float:
        return self.cfg.lr / (1.0 + self.cfg.lr_decay * it)

    def write_samples(self) -> None:
        from .grid import save_rows

        if self.eval_pairs is None:
            return
        content, style = self.eval_pairs
        self.model.eval()
        with autocast(self.device):
            out = self.task.render(content.to(self.device), style.to(self.device)).float().cpu()
        self.model.train()
        save_rows([content, style, out.clamp(0, 1)], self.run_dir / f"samples_{self.iter:06d}.jpg")
        save_rows([content, style, out.clamp(0, 1)], self.run_dir / "samples_latest.jpg")

    def _handle_signal(self, *_):
        self._stop = True

    @contextlib.contextmanager
    def _stop_on_sigterm(self):
        """SIGTERM finishes the current iteration and checkpoints. Signal handlers can only be installed from
        the main thread, so elsewhere (a server's worker thread) this does nothing and the caller stops us."""
        if not _main_thread():
            yield
            return
        old = signal.signal(signal.SIGTERM, self._handle_signal)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, old)

    def _step(self) -> dict[str, torch.Tensor]:
        """One optimisation step on a fresh batch; returns its loss terms."""
        cfg = self.cfg
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.iter)
        content = self.content_data.sample(cfg.batch, self.gen).to(self.device, memory_format=torch.channels_last)
        style = self.style_data.sample(cfg.batch, self.gen).to(self.device, memory_format=torch.channels_last)
        self.task.step = self.iter
        with autocast(self.device):
            losses = self.task.losses(content, style)
        total = losses["total"]
        if not math.isfinite(total.item()):
            raise BrushworkError(f"training diverged at iteration {self.iter} (loss {float(total)})")
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        if self.average is not None:
            self.average.update_parameters(self.model)
        self.iter += 1
        return losses

    def _log(self, losses: dict[str, torch.Tensor]) -> dict:
        """Append this iteration's numbers to the in-memory log and to log.jsonl."""
        rec = {"iter": self.iter, "time": round(self.elapsed, 1), "lr": self.lr_at(self.iter)}
        rec.update({k: round(v.item(), 5) for k, v in losses.items()})
        self.log.append(rec)
        with open(self.log_path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        return rec

    def _periodic(self, losses: dict[str, torch.Tensor], bar) -> None:
        """Logging, checkpoints and samples at their intervals."""
        cfg = self.cfg
        if self.iter % cfg.log_every == 0 or self.iter == cfg.iters:
            self._log(losses)
            bar.set_postfix({k: f"{v.item():.3g}" for k, v in losses.items()})
        if self.iter % cfg.save_every == 0:
            self.save()
        if self.iter % cfg.sample_every == 0:
            self.write_samples()
            plot_losses(self.log, self.run_dir / "losses.png")

    def _progress_bar(self, resumed: bool):
        """Iterations towards cfg.iters; with a time budget (learn-style) seconds towards it instead, as the
        budget, not the iteration cap, is what ends such a run."""
        cfg = self.cfg
        desc = f"train {cfg.model}" + (" (resumed)" if resumed else "")
        if cfg.max_seconds:
            return tqdm(total=cfg.max_seconds, desc=desc, dynamic_ncols=True,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}"
                                   "{postfix}]")
        return tqdm(total=cfg.iters, initial=self.iter, desc=desc, dynamic_ncols=True)

    def _advance(self, bar, start_elapsed: float, start_iter: int) -> None:
        """One step on the bar: an iteration, or (time budget) the share of the budget or of the iterations
        left, whichever ends the run first, in seconds."""
        cfg = self.cfg
        if not cfg.max_seconds:
            bar.update(1)
            return
        spent = (self.elapsed - start_elapsed) / cfg.max_seconds
        done = (self.iter - start_iter) / max(1, cfg.iters - start_iter)
        bar.update(min(1.0, max(spent, done)) * cfg.max_seconds - bar.n)

    def run(self) -> Path:
        """Train until cfg.iters (resuming if possible) and export fp16 weights; returns the export path.
        The one place cfg.threads takes effect (train and learn-style both come through here)."""
        with _process_wide(self.cfg):
            return self._run()

    def _run(self) -> Path:
        cfg = self.cfg
        # on its device first: loading the optimizer's state then puts that state beside the parameters
        self.model.to(self.device).to(memory_format=torch.channels_last).train()
        if cfg.ema:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.average = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema))
        resumed = self.resume()
        bar = self._progress_bar(resumed)
        with self._stop_on_sigterm():
            try:
                start_elapsed, start_iter = self.elapsed, self.iter
                while self.iter < cfg.iters and not self._stop:
                    if cfg.max_seconds and self.elapsed - start_elapsed >= cfg.max_seconds:
                        break
                    t0 = time.perf_counter()
                    losses = self._step()
                    self.elapsed += time.perf_counter() - t0
                    self._periodic(losses, bar)
                    self._advance(bar, start_elapsed, start_iter)
            except KeyboardInterrupt:
                self._stop = True
            finally:
                bar.close()
                self.save()
        if self.log:
            plot_losses(self.log, self.run_dir / "losses.png")
        self.write_samples()
        return self.export()

    def export(self) -> Path:
        """fp16 safetensors of the trainable weights (their moving average with cfg.ema), with the run's numbers as
        metadata."""
        from .run import save_replacing  # run.py imports this module

        with self._averaged():
            state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in self.task.export_state().items()}
        meta = weights_metadata(self.cfg.model, self.iter, self.elapsed, self.cfg.options,
                                self.log[-1] if self.log else None, self.cfg.ema)
        return save_replacing(state, self.run_dir / f"{self.cfg.model}.safetensors", meta)

    @contextlib.contextmanager
    def _averaged(self):
        """Inside the block the model holds the averaged weights, after it its own again (without an average: its own
        throughout)."""
        if self.average is None:
            yield
            return
        own = {k: v.clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.average.module.state_dict())
        try:
            yield
        finally:
            self.model.load_state_dict(own)


def weights_metadata(model: str, iterations: int, seconds: float, options: dict, last: dict | None = None,
                     ema: float = 0.0) -> dict:
    """A trained network's safetensors metadata: what it is, how long it trained, its last logged losses, the
    decay of the weights' moving average it is (if any) and the encoder padding it was trained with (inference must
    match it)."""
    meta = {"model": model, "iterations": str(iterations), "train_seconds": f"{seconds:.0f}"}
    if ema:
        meta["ema"] = f"{ema:g}"
    if last:
        meta["final_losses"] = json.dumps({k: v for k, v in last.items() if k not in ("iter", "time", "lr")})
    if "encoder_padding" in options:
        meta["encoder_padding"] = options["encoder_padding"]
    return meta
