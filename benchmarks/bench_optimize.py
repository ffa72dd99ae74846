"""Time the optimization method and its peak RSS at 512, 1024 and 2048 px, per loss network -> BENCHMARKS.md.

Each configuration runs in a fresh process, at the default precision ("auto"). Targets (2-core machine,
default loss network efficientnet-lite1): 512 px <= 30 s; 2048 px under 6 GiB peak RSS. Run by hand on an
otherwise idle machine:
    python benchmarks/bench_optimize.py [--sizes 512,1024,2048] [--loss-nets efficientnet-lite1,hed-vgg16]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, peak_rss_mib, run_child, write_section  # noqa: E402


def child(size: int, loss_net: str) -> None:
    import torch

    import brushwork
    from brushwork.core import lossnet
    from brushwork.methods.optimize import Options

    st = brushwork.Stylizer("optimize", progress=False)
    lossnet.load(loss_net, "reflect", "avg")  # weights load is not part of the timing (well under a second)
    opts = Options(loss_net=loss_net)
    opts.check()
    t0 = time.perf_counter()
    st.stylize_tensor("sample:tubingen", "starry-night", size=size, loss_net=loss_net)
    seconds = time.perf_counter() - t0
    print(json.dumps({"size": size, "loss_net": loss_net, "precision": opts.precision, "seconds": round(seconds, 1),
                      "threads": torch.get_num_threads(), "peak_rss_mib": round(peak_rss_mib())}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--child", nargs=2)
    ap.add_argument("--sizes", default="512,1024,2048")
    ap.add_argument("--loss-nets", default="efficientnet-lite1")
    args = ap.parse_args()
    if args.child:
        return child(int(args.child[0]), args.child[1])
    store = Path(__file__).with_name("optimize_results.json")
    results = json.loads(store.read_text()) if store.exists() else {}
    for size in [int(s) for s in args.sizes.split(",")]:
        for net in args.loss_nets.split(","):
            r = run_child(Path(__file__), [str(size), net])
            r["machine"] = machine()
            print(r, flush=True)
            results[f"{size}-{net}"] = r
            store.write_text(json.dumps(results, indent=1))
    rows = sorted(results.values(), key=lambda r: (r.get("size", 0), r.get("loss_net", "hed-vgg16"),
                                                   r.get("precision", "")))
    lines = ["### optimize (Gatys, default settings: L-BFGS, multi-scale from 256 px)", "",
             "Content `sample:tubingen`, style `starry-night`, one run each, wall time of "
             "`Stylizer.stylize_tensor` (encoder already loaded). Each row keeps the machine it was measured on "
             "(results accumulate in `benchmarks/optimize_results.json`).", "",
             "Rows without a loss network are from before it was selectable (HED-VGG16).", "",
             "| size | loss network | precision | time (s) | peak RSS (MiB) | machine |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r.get('size')} | {r.get('loss_net', 'hed-vgg16')} | {r.get('precision')} | "
                     f"{r.get('seconds', r.get('error'))} | {r.get('peak_rss_mib', '')} | {r.get('machine', '')} |")
    write_section("optimize", "\n".join(lines))


if __name__ == "__main__":
    main()
