"""HTTP server targets: the 256 px preview's server time (<= 150 ms) and 512 px over HTTP vs the Python API (<= 1.5x).

Starts `brushwork serve` on a free loopback port, sends the page's preview request (size 256, draft_size 128)
and a 512 px request `--repeats` times each, reads the server's own time from the Server-Timing header and
the round trip; then times `brushwork.Stylizer.stylize` in this process on the same photo and options.
Writes the <!-- bench:server --> section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_section  # noqa: E402

PHOTO, STYLE = "sample:tubingen", "starry-night"


def server_ms(response: httpx.Response) -> float:
    return float(response.headers["server-timing"].split("dur=")[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--port", type=int, default=8791)
    args = ap.parse_args()
    import brushwork
    from brushwork.loaders import gallery

    photo = Image.open(gallery.resolve(PHOTO)).convert("RGB")
    buf = io.BytesIO()
    photo.save(buf, "PNG")
    body = buf.getvalue()
    base = f"http://127.0.0.1:{args.port}"
    proc = subprocess.Popen([sys.executable, "-m", "brushwork.cli", "serve", "--port", str(args.port)],
                            env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = {}
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        cases = {"preview 256 px (draft 128)": {"size": "256", "draft_size": "128"}, "full 512 px": {"size": "512"}}
        for name, data in cases.items():
            server, wall = [], []
            for i in range(args.repeats + 1):
                t0 = time.perf_counter()
                r = httpx.post(base + "/v1/stylize", files={"content": ("p.png", body, "image/png")},
                               data={"style": STYLE, **data}, timeout=300)
                r.raise_for_status()
                if i:  # the first call loads the networks
                    wall.append((time.perf_counter() - t0) * 1000)
                    server.append(server_ms(r))
            rows[name] = (statistics.median(server), statistics.median(wall))
    finally:
        proc.terminate()
        proc.wait(30)
    st = brushwork.Stylizer("lapstyle", progress=False)
    api_ms = {}
    for name, opts in {"preview 256 px (draft 128)": {"size": 256, "draft_size": 128}, "full 512 px": {"size": 512}}.items():
        times = []
        for i in range(args.repeats + 1):
            t0 = time.perf_counter()
            st.stylize(photo, STYLE, **opts)
            if i:
                times.append((time.perf_counter() - t0) * 1000)
        api_ms[name] = statistics.median(times)
    lines = ["### HTTP server (`brushwork serve`)", "",
             f"Machine: {machine()}.  ",
             f"lapstyle, `{PHOTO}` (PNG upload) in `{STYLE}`; median of {args.repeats} warm requests one at a time; "
             "server time from the `Server-Timing` header (upload parsing excluded, decode + stylize + encode "
             "included); Python API = `Stylizer.stylize` on the same PIL image in one process.  ",
             "Command: `python benchmarks/bench_server.py`", "",
             "| request | server time (ms) | round trip (ms) | Python API (ms) | server / API | target |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    targets = {"preview 256 px (draft 128)": "server time <= 150 ms", "full 512 px": "round trip <= 1.5x API"}
    for name, (srv, wall) in rows.items():
        lines.append(f"| {name} | {srv:.0f} | {wall:.0f} | {api_ms[name]:.0f} | {wall / api_ms[name]:.2f}x | "
                     f"{targets[name]} |")
    text = "\n".join(lines)
    print(text)
    write_section("server", text)


if __name__ == "__main__":
    main()
