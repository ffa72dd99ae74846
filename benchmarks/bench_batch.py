"""Batch throughput at 512 px: images per minute for the local engine (1 and 2 workers) and Ray (2 actors).

Also measures the per-task overheads that decide how throughput grows on a cluster: worker start + model
load, image I/O, and scheduling (wall time per item beyond the painting itself). Writes BENCHMARKS.md "batch".
Run: OMP_NUM_THREADS=1 python benchmarks/bench_batch.py  (once; it takes a few minutes)
"""
from __future__ import annotations

import datetime
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, write_section  # noqa: E402

CONTENT = ROOT.parent / "shared" / "data" / "eval" / "content"
STYLES = ["starry-night", "the-scream"]
SIZE = 512
CONFIGS = [("local", 1, 2), ("local", 2, 1), ("ray", 2, 1)]  # engine, workers, threads each


def io_seconds(files: list[Path]) -> float:
    """Mean time to read a photo, resize it to 512 px and write it as PNG (the I/O each task does)."""
    from brushwork.core.images import load_image, save_image

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(files):
            save_image(load_image(f, size=SIZE), Path(tmp) / f"{i}.png")
    return (time.perf_counter() - t0) / len(files)


def run(engine: str, workers: int, threads: int) -> dict:
    """One batch of 10 photos x 2 styles into a fresh folder; timings from the driver's side."""
    from brushwork.batch import BatchSettings, run_batch

    stamps: list[float] = []
    seconds: list[float] = []

    def on_record(rec):
        stamps.append(time.perf_counter())
        seconds.append(rec["seconds"] or 0.0)

    extra = {}
    if engine == "ray":
        import ray

        t = time.perf_counter()
        ray.init(num_cpus=workers * threads, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
        extra["ray_init_s"] = time.perf_counter() - t
    s = BatchSettings(styles=STYLES, options={"size": SIZE}, styles_grid=True, engine=engine, workers=workers,
                      threads=threads)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        summary = run_batch([str(CONTENT)], out, s, progress=False, on_record=on_record)
        wall = time.perf_counter() - t0
    if engine == "ray":
        ray.shutdown()
    n = summary.done
    steady = (n - 1) / (stamps[-1] - stamps[0]) * 60 if n > 1 else float("nan")
    per_item = sum(seconds) / len(seconds)
    return {"engine": engine, "workers": workers, "threads": threads, "items": n, "failed": summary.failed,
            "wall_s": wall, "per_min": n / wall * 60, "steady_per_min": steady, "item_s": per_item,
            "first_s": stamps[0] - t0, "startup_s": stamps[0] - t0 - seconds[0],
            "sched_s": 60 / steady * workers - per_item, **extra}


def main() -> None:
    import os

    files = sorted(CONTENT.iterdir())
    io = io_seconds(files)
    rows = [run(*c) for c in CONFIGS]
    load = os.getloadavg()[0]
    lines = [f"### Batch throughput at {SIZE} px ({datetime.date.today()}, `benchmarks/bench_batch.py`)", "",
             f"Machine: {machine()}; load average at the end {load:.1f} (other jobs shared the 2 cores).",
             "10 eval photos x 2 styles (`--styles-grid`), lapstyle defaults, fp32.", "",
             "| engine | workers x threads | images/min (all) | images/min (steady) | s per image in worker "
             "| start + model load | scheduling per image |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['engine']} | {r['workers']} x {r['threads']} | {r['per_min']:.1f} | "
                     f"{r['steady_per_min']:.1f} | {r['item_s']:.2f} | {r['startup_s']:.1f} s | "
                     f"{r['sched_s']:+.2f} s |")
    ray_row = rows[-1]
    lines += ["", f"Image I/O (read a photo, resize, write a 512 px PNG): {io * 1000:.0f} ms per image. "
              f"`ray.init` of a local instance: {ray_row.get('ray_init_s', float('nan')):.1f} s.",
              "'steady' counts from the first finished image to the last; 'all' includes starting the workers and "
              "loading the model; 'scheduling' is wall time per image per worker beyond the worker's own time "
              "(negative = noise)."]
    md = "\n".join(lines)
    print(md)
    write_section("batch", md)


if __name__ == "__main__":
    main()
