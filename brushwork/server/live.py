"""Live mode: the WebSocket at /v1/live that paints a camera stream, one JPEG frame in, one painted JPEG out.

Each frame goes through the video pipeline's frame loop (`brushwork.video.stylize.FrameStepper`: LapStyle at
`size` from a 128 px draft, its draft, lower levels and output blended with the previous frame's, warped along
the optical flow), so the
stream stays steady. While a frame is painted only the newest frame received waits; older ones are dropped, so
a client that sends faster than the server paints sees bounded latency, not a growing queue. A session is one
of the pool's jobs for its whole life (a place among workers + queue, and the memory of painting a frame at
`size`) and paints on the pool's workers; a full server refuses a new session with close code 1013 after an
{"error": ...} message, and a session that sends nothing for the server's read timeout is closed.

Messages (server to client): {"ready": ...} once; before each painted frame {"frame": n, ...} where n counts the
client's binary messages from 1; {"changed": ...} after a style or strength change; {"error": ...} for a bad
frame or request (the session goes on unless it is closed right after).
"""
from __future__ import annotations

import asyncio
import hmac
import io
import json
import logging
import time

import numpy as np
from fastapi import APIRouter, WebSocket
from PIL import Image

from ..loaders import gallery
from ..errors import BrushworkError
from ..video.stylize import FrameStepper
from . import jobs, work
from .middleware import log_request, token_of

router = APIRouter()
log = logging.getLogger("brushwork.server")
METHOD = "lapstyle"
DEFAULT_SIZE = 320
MIN_SIZE, MAX_SIZE = 64, 1024  # long side of the painted frames
# LapStyle's draft size for live frames: half the stills' 256, so one more revision level paints a 320 px frame
# from an 80 px draft: ~1.5x the painted frames/s over loopback (BENCHMARKS.md). Blind on eval stills at
# 320 px two raters preferred the 256 draft 12 to 8 (bigger strokes, a little less of the photo); ?draft_size=256
# asks for it.
LIVE_DRAFT_SIZE = 128
JPEG = b"\xff\xd8\xff"  # how every JPEG file starts
JPEG_QUALITY = 85
MAX_TEXT = 1000  # characters of a control message
BAD_REQUEST, BUSY, IDLE = 1008, 1013, 1000  # close codes: policy violation, try again later, normal


def check_style(name) -> str:
    """A built-in style name (never a path: files on the server are not the client's to read)."""
    if not isinstance(name, str) or not name:
        raise BrushworkError("give a style: /v1/live?style=NAME with NAME from GET /v1/styles")
    if name not in gallery.styles():
        raise BrushworkError(f"unknown style {name[:64]!r}; choose one of {', '.join(gallery.styles())}")
    return name


def check_strength(value) -> float:
    """Strength as a float in [0, 1]."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BrushworkError(f"strength must be a number between 0 and 1, got {str(value)[:32]!r}") from None
    if not 0.0 <= x <= 1.0:
        raise BrushworkError(f"strength must be between 0 and 1, got {x:g}")
    return x


def _pixels(name: str, text: str | None, default: int, lo: int, hi: int) -> int:
    """A query parameter in whole pixels from lo to hi (`default` when not given); plain ASCII digits only."""
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or not lo <= int(text) <= hi:
        raise BrushworkError(f"{name} must be a whole number of pixels from {lo} to {hi}, got {text[:16]!r}")
    return int(text)


def check_size(text: str | None, largest: int) -> int:
    """The long side asked for (DEFAULT_SIZE when not given), within MIN_SIZE and the server's limit."""
    top = min(MAX_SIZE, largest)
    return _pixels("size", text, min(DEFAULT_SIZE, top), MIN_SIZE, top)


def check_draft_size(text: str | None) -> int:
    """The draft size asked for (LIVE_DRAFT_SIZE when not given): 32 to 512 px."""
    return _pixels("draft_size", text, LIVE_DRAFT_SIZE, 32, 512)


def decode_frame(data: bytes, size: int, max_pixels: int) -> np.ndarray:
    """A JPEG frame as HxWx3 uint8 RGB; the decoder scales a large frame down towards `size` as it reads it."""
    if not data.startswith(JPEG):
        raise BrushworkError("a frame must be a JPEG picture (a binary message starting with FF D8 FF)")
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
            if im.width * im.height > max_pixels:
                raise BrushworkError(f"the frame is {im.width}x{im.height} px, over the {max_pixels} pixels "
                                     "this server takes")
            im.draft("RGB", (size, size))
            return np.asarray(im.convert("RGB"))
    except BrushworkError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BrushworkError(f"the frame is not a readable JPEG ({jobs.scrub(str(exc))[:120]})") from None


def encode_frame(rgb: np.ndarray) -> bytes:
    """JPEG bytes of an HxWx3 uint8 frame."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def paint(stepper: FrameStepper, data: bytes, max_pixels: int) -> bytes:
    """Decode, paint (steadied along the motion from the previous frame) and encode one frame: a worker's task."""
    return encode_frame(stepper(decode_frame(data, stepper.size, max_pixels)))


def _token_ok(ws: WebSocket, token: str) -> bool:
    """Whether the handshake carries the server's token (a header, or ?token= since browsers cannot set headers
    on a WebSocket)."""
    given = token_of(ws.scope) or ws.query_params.get("token") or ""
    return hmac.compare_digest(given.encode(), token.encode())


class Session:
    """One live connection: the frame waiting to be painted (the newest only), pending changes, counts."""

    def __init__(self, ws: WebSocket, pool: jobs.Pool, stepper: FrameStepper, strength: float, max_pixels: int):
        self.ws, self.pool, self.stepper, self.max_pixels = ws, pool, stepper, max_pixels
        self.style, self.strength = stepper.styles[0], strength
        self.waiting: tuple[int, bytes] | None = None  # (frame number, JPEG) of the newest frame not yet painted
        self.wake = asyncio.Event()
        self.send_lock = asyncio.Lock()  # a frame's header and its picture go out together
        self.received = self.painted = self.dropped = 0
        self.painting = None  # the concurrent Future of the frame on a worker now

    async def send(self, *messages) -> None:
        """Send text (dicts, as JSON) and binary messages in one go."""
        async with self.send_lock:
            for m in messages:
                if isinstance(m, bytes):
                    await self.ws.send_bytes(m)
                else:
                    await self.ws.send_text(json.dumps(m))

    def on_frame(self, data: bytes) -> str | None:
        """Keep a new frame as the one to paint next (dropping an older one still waiting); the reason it is
        refused at once, if it is."""
        self.received += 1
        if len(data) > self.max_pixels * 3:  # more bytes than an uncompressed frame of the largest size
            return "the frame is too large"
        if not data.startswith(JPEG):
            return "a frame must be a JPEG picture (a binary message starting with FF D8 FF)"
        if self.waiting is not None:
            self.dropped += 1
        self.waiting = (self.received, data)
        self.wake.set()
        return None

    def on_text(self, text: str) -> dict:
        """Apply a control message ({"style": NAME} and/or {"strength": x}); the answer to send back."""
        try:
            msg = json.loads(text) if len(text) <= MAX_TEXT else None
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or not msg or set(msg) - {"style", "strength"}:
            return {"error": 'a text message must be JSON like {"style": "starry-night"} or {"strength": 0.7}'}
        try:
            style = check_style(msg["style"]) if "style" in msg else self.style
            strength = check_strength(msg["strength"]) if "strength" in msg else self.strength
        except BrushworkError as exc:
            return {"error": str(exc)}
        self.style, self.strength = style, strength  # the painter takes them up between frames
        return {"changed": {"style": style, "strength": strength}}

    async def painter(self) -> None:
        """Paint the newest waiting frame on a worker, send it, repeat; changes apply between frames."""
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            if self.waiting is None:
                continue
            (n, data), self.waiting = self.waiting, None
            if (self.style, self.strength) != (self.stepper.styles[0], self.stepper.options["strength"]):
                self.stepper.restart(self.style)  # a change shows at once rather than fading in over frames
                self.stepper.options["strength"] = self.strength
            style, strength, t0 = self.style, self.strength, time.perf_counter()
            try:
                self.painting = self.pool.executor.submit(paint, self.stepper, data, self.max_pixels)
            except RuntimeError:  # the pool is shutting down with the server
                return
            try:
                out = await asyncio.wrap_future(self.painting, loop=loop)
            except BrushworkError as exc:
                await self.send({"error": str(exc), "frame": n})
                continue
            except Exception as exc:
                log.error("live frame failed", exc_info=exc)
                await self.send({"error": jobs.reason(exc), "frame": n})
                continue
            self.painted += 1
            await self.send({"frame": n, "style": style, "strength": strength, "dropped": self.dropped,
                             "paint_ms": round((time.perf_counter() - t0) * 1000, 1)}, out)

    async def receiver(self, idle: float) -> None:
        """Take the client's frames and control messages until it leaves (or stays silent for `idle` s)."""
        while True:
            try:
                message = await asyncio.wait_for(self.ws.receive(), idle)
            except asyncio.TimeoutError:
                if self.painting is not None and not self.painting.done():
                    continue
                await self.send({"error": f"nothing received for {idle:g} s; the session is closed"})
                await self.ws.close(IDLE, "idle")
                return
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                refused = self.on_frame(message["bytes"])
                if refused:
                    await self.send({"error": refused, "frame": self.received})
            elif message.get("text") is not None:
                await self.send(self.on_text(message["text"]))


async def _refuse(ws: WebSocket, code: int, detail: str, **extra) -> None:
    """Tell an accepted client why it cannot go on ({"error": ...}), then close with `code`."""
    await ws.send_text(json.dumps({"error": detail, **extra}))
    await ws.close(code, detail[:120])


@router.websocket("/v1/live")
async def live(ws: WebSocket):
    """Paint a live stream: send JPEG frames (binary), get painted JPEG frames back; {"style": NAME} and
    {"strength": x} as text change them. Query: style (a built-in name), size (long side, default 320),
    strength, draft_size (default 128); token on a server with one."""
    s, pool = ws.app.state.settings, ws.app.state.pool
    if s.token and not _token_ok(ws, s.token):
        return await ws.close(BAD_REQUEST, "this server needs a token: add ?token=TOKEN")  # handshake refused
    t0 = time.perf_counter()
    await ws.accept()
    q = ws.query_params
    try:
        style, size = check_style(q.get("style")), check_size(q.get("size"), s.max_size)
        strength, draft_size = check_strength(q.get("strength", 1.0)), check_draft_size(q.get("draft_size"))
    except BrushworkError as exc:
        return await _refuse(ws, BAD_REQUEST, str(exc))
    try:  # a place in the pool and the memory of a frame at `size`, both held until the session ends
        job = pool.new_job("live")
    except jobs.Full as exc:
        return await _refuse(ws, BUSY, f"the server is busy; try again in {exc.retry_after} s",
                             retry_after=exc.retry_after)
    try:
        pool.admit(job, work.estimate_for(METHOD, {"size": size, "draft_size": draft_size}, size, size))
    except (jobs.Full, ValueError) as exc:
        pool.abandon(job)
        busy = isinstance(exc, jobs.Full)
        return await _refuse(ws, BUSY if busy else BAD_REQUEST, str(exc),
                             **({"retry_after": exc.retry_after} if busy else {}))
    stepper = FrameStepper(style, size=size, method=METHOD, stylizer=work.stylizer(METHOD), strength=strength,
                           draft_size=draft_size)
    session = Session(ws, pool, stepper, strength, min(s.max_video_pixels, 4096 * 4096))
    ws.scope.setdefault("state", {})["summary"] = f"live {style} {size}px"
    tasks = []
    try:
        await session.send({"ready": True, "style": style, "size": size, "strength": strength,
                            "draft_size": draft_size})
        tasks = [asyncio.create_task(session.receiver(max(1.0, s.read_timeout))),
                 asyncio.create_task(session.painter())]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t.exception() is not None and not _closed(t.exception()):
                log.error("live session failed", exc_info=t.exception())
    finally:
        for t in tasks:
            t.cancel()
        busy = session.painting
        if busy is not None and not busy.done():  # the place is given back once the worker is done with it
            busy.add_done_callback(lambda f: pool.abandon(job))
        else:
            pool.abandon(job)
        ws.scope["state"]["summary"] += f" {session.painted} painted {session.dropped} dropped"
        log_request(ws.scope, 101, time.perf_counter() - t0)


def _closed(exc: BaseException) -> bool:
    """Whether an error only says the connection went away (the client left while a frame was sent)."""
    from starlette.websockets import WebSocketDisconnect

    return isinstance(exc, (WebSocketDisconnect, ConnectionError, RuntimeError)) or "closed" in str(exc).lower()
