"""Peak memory of each method against brushwork.core.budget's estimate, one fresh process per configuration.

The estimate decides which sizes the API refuses up front; this script checks that it is not below the
measured peak (it should be above: it is a guard, not a prediction). Usage:
    OMP_NUM_THREADS=1 python benchmarks/bench_memory.py [--configs lapstyle:1024,adain:2048,...]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, peak_rss_mib, run_child, write_section  # noqa: E402

DEFAULT = ("lapstyle:1024,lapstyle:2048,lapstyle:2896,adain:1024,adain:2048,adain:2896,"
           "optimize:384,optimize:512,optimize:724")


def _growth_estimate(method: str, opts, h: int, w: int) -> float:
    """The estimate's parts that a warm run grows by, MiB (the models and the cached style are already there)."""
    from brushwork.core import budget

    parts = budget.parts(method, opts, h, w)
    return sum(v for k, v in parts.items() if not k.startswith("style")) / 2 ** 20


def child(method: str, size: int) -> None:
    """Warm up at 64 px (models loaded), then run at `size`; print the peak RSS growth and the estimate."""
    import torch

    import brushwork

    torch.set_num_threads(1)
    extra = {"iterations": 2} if method == "optimize" else {}
    st = brushwork.Stylizer(method, progress=False)
    st.stylize_tensor("sample:tubingen", "starry-night", size=64, **extra)
    base = peak_rss_mib()
    t = time.perf_counter()
    out = st.stylize_tensor("sample:tubingen", "starry-night", size=size, **extra)
    h, w = out.shape[-2:]
    opts = st.options(method, size=size, **extra)
    est = _growth_estimate(method, opts, h, w)
    print(json.dumps({"method": method, "size": size, "output": f"{w}x{h}", "seconds": time.perf_counter() - t,
                      "measured_mib": peak_rss_mib() - base, "estimate_mib": est}))


def _rescore(row: dict) -> dict:
    """A saved measurement with the estimate of the current coefficients (no need to measure again)."""
    import brushwork

    w, h = map(int, row["output"].split("x"))
    extra = {"iterations": 2} if row["method"] == "optimize" else {}
    opts = brushwork.Stylizer(row["method"], progress=False).options(row["method"], size=row["size"], **extra)
    return {**row, "estimate_mib": _growth_estimate(row["method"], opts, h, w)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2)
    ap.add_argument("--configs", default=DEFAULT)
    ap.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    ap.add_argument("--rescore", type=Path, help="re-estimate the measured rows saved in this JSON-lines file")
    a = ap.parse_args()
    if a.child:
        return child(a.child[0], int(a.child[1]))
    if a.rescore:
        rows = [_rescore(json.loads(ln)) for ln in a.rescore.read_text().splitlines() if ln.startswith("{")]
    else:
        rows = []
        for cfg in a.configs.split(","):
            method, size = cfg.split(":")
            r = run_child(Path(__file__), [method, size])
            print(json.dumps(r), flush=True)
            rows.append(r)
    table = ["| method | size | output | measured peak growth (MiB) | estimate (MiB) |", "| --- | ---: | --- | ---: | ---: |"]
    table += [f"| {r.get('method')} | {r.get('size')} | {r.get('output')} | {r.get('measured_mib', 0):.0f} | "
              f"{r.get('estimate_mib', 0):.0f} |" for r in rows]
    text = ("### Memory estimate (refusing sizes that cannot fit)\n\n"
            f"Machine: {machine()}.  \n`brushwork.core.budget` (its parts that grow once the models are loaded and the style cached) against the peak RSS growth of a run "
            "after a 64 px warm-up (models already loaded), `sample:tubingen`, `starry-night`, 1 thread, optimize "
            "with 2 iterations. Command: `python benchmarks/bench_memory.py --write`\n\n" + "\n".join(table))
    print(text)
    if a.write:
        write_section("memory", text)


if __name__ == "__main__":
    main()
