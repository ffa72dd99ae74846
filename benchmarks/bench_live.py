"""Live mode target: one client over loopback at 320 px, painted frames/s round trip (>= 15) and p95 latency
(<= 150 ms).

Starts `brushwork serve` on a free loopback port (or uses --url), opens /v1/live, and sends the shared clip's
frames (JPEG, long side --size, encoded before the run so the client's encoding is not timed) the way the
page does: a new frame whenever fewer than --in-flight frames await an answer. The server paints the newest
frame and drops older ones; frames/s counts painted frames received per second after --warmup, latency is a
painted frame's receipt minus its sending. Writes the <!-- bench:live --> section of --out (BENCHMARKS.md).

    python benchmarks/bench_live.py                                  # 300 frames, writes BENCHMARKS.md
    python benchmarks/bench_live.py --frames 5 --out /tmp/live.md    # a check that it runs
"""
from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import av
import httpx
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, write_section  # noqa: E402

CLIP = ROOT.parent / "shared" / "data" / "video" / "bigbuckbunny.mp4"
FPS_TARGET, P95_TARGET = 15.0, 150.0


def clip_jpegs(clip: Path, side: int, count: int = 120) -> list[bytes]:
    """Up to `count` frames of the clip as JPEG with the long side at `side` (the camera's side of the socket)."""
    out = []
    with av.open(str(clip)) as c:
        for frame in c.decode(video=0):
            im = frame.to_image()
            im.thumbnail((side, side))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
            out.append(buf.getvalue())
            if len(out) == count:
                break
    return out


def start_server(workers: int) -> tuple[str, subprocess.Popen]:
    """`brushwork serve` on a free loopback port, once it answers /healthz."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "brushwork.cli", "serve", "--port", str(port),
                             "--workers", str(workers)], env={**os.environ},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return base, proc
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit("the server did not start in 3 minutes")


def measure(base: str, frames: list[bytes], style: str, size: int, count: int, warmup: int, in_flight: int) -> dict:
    """Stream until `count` painted frames have arrived after `warmup` ones; frames/s, latency and drops."""
    url = base.replace("http://", "ws://").replace("https://", "wss://") + f"/v1/live?style={style}&size={size}"
    sent: dict[int, float] = {}
    latencies, next_frame, answered, painted = [], 1, 0, 0
    header, dropped_before = None, 0
    with connect(url, max_size=2**24) as ws:
        ready = json.loads(ws.recv(300))
        if not ready.get("ready"):
            raise SystemExit(f"the server refused the session: {ready}")
        t_start = time.perf_counter() if warmup == 0 else None
        while painted < warmup + count:
            while next_frame - 1 - answered < in_flight:
                sent[next_frame] = time.perf_counter()
                ws.send(frames[(next_frame - 1) % len(frames)])
                next_frame += 1
            message = ws.recv(300)
            if isinstance(message, str):
                msg = json.loads(message)
                if "error" in msg:
                    raise SystemExit(f"the server answered an error: {msg['error']}")
                header = msg if "frame" in msg else header
                continue
            now = time.perf_counter()
            answered = header["frame"]
            painted += 1
            if painted == warmup:
                t_start, dropped_before = now, header["dropped"]
            elif painted > warmup:
                latencies.append((now - sent[answered]) * 1000)
            for n in [n for n in sent if n <= answered]:
                del sent[n]
    seconds = now - t_start
    latencies.sort()
    return {"frames": len(latencies), "seconds": seconds, "fps": len(latencies) / seconds if seconds > 0 else 0.0,
            "p50": statistics.median(latencies), "p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
            "dropped": header["dropped"] - dropped_before, "sent": next_frame - 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300, help="painted frames to time (after the warm-up)")
    ap.add_argument("--warmup", type=int, default=10, help="painted frames before timing starts")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--style", default="starry-night")
    ap.add_argument("--in-flight", type=int, default=2, help="frames awaiting an answer at once (the page: 2)")
    ap.add_argument("--workers", type=int, default=2, help="the server's --workers")
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--url", help="an already running server (default: start one on loopback)")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = ap.parse_args()
    frames = clip_jpegs(args.clip, args.size)
    base, proc = (args.url.rstrip("/"), None) if args.url else start_server(args.workers)
    try:
        r = measure(base, frames, args.style, args.size, args.frames, args.warmup, args.in_flight)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    ok = lambda good: "met" if good else "NOT met"  # noqa: E731
    lines = ["### Live mode (`/v1/live`)", "",
             f"Machine: {machine()}.  ",
             f"One client over loopback, `{args.clip.name}` frames as JPEG at {args.size} px in `{args.style}`, "
             f"{args.in_flight} frames in flight (as the page sends), server `--workers {args.workers}`; "
             f"{r['frames']} painted frames timed after {args.warmup} warm-up ones; latency = painted frame "
             "received - frame sent.  ",
             f"Command: `python benchmarks/bench_live.py --frames {args.frames}`", "",
             "| painted frames/s | p50 latency (ms) | p95 latency (ms) | frames sent | dropped by the server "
             "| target |",
             "| ---: | ---: | ---: | ---: | ---: | --- |",
             f"| {r['fps']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} | {r['sent']} | {r['dropped']} | "
             f">= {FPS_TARGET:g} frames/s: {ok(r['fps'] >= FPS_TARGET)}; p95 <= {P95_TARGET:g} ms: "
             f"{ok(r['p95'] <= P95_TARGET)} |"]
    text = "\n".join(lines)
    print(text)
    write_section("live", text, args.out)


if __name__ == "__main__":
    main()
