"""Live mode against the real server on loopback: the /v1/live WebSocket (frames in, painted frames out, errors,
origin and capacity) and the page's Live tab in Chromium with a fake camera playing the shared clip."""
from __future__ import annotations

import io
import json
import socket
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from browser import needs_chromium, open_page
from conftest import SHARED
from serverproc import running_server

CLIP = SHARED / "video" / "bigbuckbunny.mp4"
TOKEN = "live-s3cret"


def clip_frames(n: int, side: int = 320) -> list[np.ndarray]:
    """The first n frames of the shared clip, RGB, long side `side`."""
    out = []
    with av.open(str(CLIP)) as c:
        for frame in c.decode(video=0):
            w, h = frame.width, frame.height
            out.append(frame.to_ndarray(format="rgb24", width=side, height=round(h * side / w / 2) * 2))
            if len(out) == n:
                break
    return out


def jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def receive(ws, timeout: float = 120.0):
    """The next message: a dict for text, bytes for a picture."""
    m = ws.recv(timeout)
    return json.loads(m) if isinstance(m, str) else m


def painted(ws, timeout: float = 120.0) -> tuple[dict, np.ndarray]:
    """The next painted frame: its header and its pixels (errors or other messages in between fail the test)."""
    header = receive(ws, timeout)
    assert isinstance(header, dict) and "frame" in header and "error" not in header, header
    data = receive(ws, timeout)
    assert isinstance(data, bytes) and data[:3] == b"\xff\xd8\xff"
    return header, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32) / 255


def ws_url(base: str, query: str = "style=starry-night&size=320") -> str:
    return base.replace("http://", "ws://") + "/v1/live?" + query


def test_frames_are_decoded_near_the_painting_size_and_huge_ones_refused():
    from brushwork.errors import BrushworkError
    from brushwork.server.live import decode_frame

    big = clip_frames(1, side=1280)[0]
    rgb = decode_frame(jpeg(big), 320, 4096 * 4096)  # the decoder's own downscaling: no full-size decode
    assert rgb.dtype == np.uint8 and rgb.shape[2] == 3 and 320 <= rgb.shape[1] <= 640
    with pytest.raises(BrushworkError, match="1280x720 px, over the 100000 pixels"):
        decode_frame(jpeg(big), 320, 100_000)
    with pytest.raises(BrushworkError, match="must be a JPEG"):
        decode_frame(b"\x89PNG\r\n\x1a\n" + bytes(100), 320, 10**7)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One worker and no queue: one live session fills the server."""
    with running_server("--workers", "1", "--queue-size", "0", tmp=tmp_path_factory.mktemp("live")) as (base, proc):
        yield base, proc


@pytest.mark.slow
def test_frames_are_painted_steady_and_follow_changes(server):
    base, _ = server
    frames = clip_frames(8)
    with connect(ws_url(base), max_size=2**24) as ws:
        ready = receive(ws)
        assert ready == {"ready": True, "style": "starry-night", "size": 320, "strength": 1.0, "draft_size": 128}
        outs = []
        for i, rgb in enumerate(frames[:4]):
            ws.send(jpeg(rgb))
            header, out = painted(ws)
            assert header["frame"] == i + 1 and header["style"] == "starry-night"
            assert out.shape == (180, 320, 3)
            outs.append(out)
        # painted, not the photo; and the stream moves with the clip
        assert np.abs(outs[-1] - frames[3] / 255).mean() > 0.05
        assert np.abs(outs[3] - outs[0]).mean() > 0.005
        # a frame that is not a JPEG: one error naming its number, then the session goes on
        ws.send(b"this is not a picture")
        assert receive(ws, 30) == {"error": "a frame must be a JPEG picture (a binary message starting with FF D8 FF)",
                                   "frame": 5}
        ws.send(b"\xff\xd8\xff\xe0" + b"\0" * 64)  # starts like a JPEG, is not one
        err = receive(ws)
        assert err["frame"] == 6 and "not a readable JPEG" in err["error"]
        # unknown style and bad control messages: an error each, nothing changes
        ws.send(json.dumps({"style": "no-such-style"}))
        err = receive(ws, 30)
        assert "unknown style 'no-such-style'" in err["error"] and "starry-night" in err["error"]
        ws.send(json.dumps({"strength": 3}))
        assert "between 0 and 1" in receive(ws, 30)["error"]
        ws.send("not json")
        assert "JSON" in receive(ws, 30)["error"]
        ws.send(jpeg(frames[4]))
        header, same_style = painted(ws)
        assert header["frame"] == 7 and header["style"] == "starry-night"
        # a style switch: the next frame is in the new style (the scream's oranges, not the starry night's blues)
        ws.send(json.dumps({"style": "the-scream"}))
        assert receive(ws, 30) == {"changed": {"style": "the-scream", "strength": 1.0}}
        ws.send(jpeg(frames[5]))
        header, scream = painted(ws)
        assert header["style"] == "the-scream"
        warmth = lambda im: float((im[..., 0] - im[..., 2]).mean())  # noqa: E731
        assert warmth(scream) > warmth(same_style) + 0.08, (warmth(scream), warmth(same_style))
        # strength 0 gives the photo back (up to JPEG): strength changes apply to the next frame
        ws.send(json.dumps({"strength": 0}))
        assert receive(ws, 30)["changed"]["strength"] == 0.0
        ws.send(jpeg(frames[6]))
        header, photo = painted(ws)
        assert header["strength"] == 0.0
        assert np.abs(photo - frames[6] / 255).mean() < 0.03


def test_live_frames_are_painted_from_the_live_draft_size(server):
    """A session's first frame (nothing to blend with) is painted at the live draft size (128 px, the speed live
    mode needs): over 2x closer to the Python API's picture at that draft size than at 256 (the video loop's
    own steps keep it from equal: ~0.05 apart, ~0.14 from the other), and ?draft_size=256 the other way round.
    Frames keep the draft's own edges and colours (video and live leave `clean_edges` and `clean_colors` off), so
    the API's pictures do too."""
    import brushwork

    base, _ = server
    rgb = clip_frames(1)[0]
    photo = Image.open(io.BytesIO(jpeg(rgb))).convert("RGB")  # what the server decodes
    api = {d: np.asarray(brushwork.stylize(photo, "starry-night", size=320, draft_size=d, clean_edges=0.0,
                                            clean_colors=0.0),
                          dtype=np.float32) / 255
           for d in (128, 256)}
    for query, d in (("style=starry-night&size=320", 128), ("style=starry-night&size=320&draft_size=256", 256)):
        with connect(ws_url(base, query), max_size=2**24) as ws:
            assert receive(ws)["draft_size"] == d
            ws.send(jpeg(rgb))
            out = painted(ws)[1]
        same, other = np.abs(out - api[d]).mean(), np.abs(out - api[{128: 256, 256: 128}[d]]).mean()
        assert other > 2 * same, (d, same, other)


@pytest.mark.slow
def test_frames_are_steadied_along_the_motion(server):
    """Consecutive painted frames differ less than the same frames painted each as a first frame (no blending)."""
    base, _ = server
    frames = clip_frames(5)
    with connect(ws_url(base), max_size=2**24) as ws:
        receive(ws)
        steady = []
        for rgb in frames:
            ws.send(jpeg(rgb))
            steady.append(painted(ws)[1])
    alone = []
    for rgb in frames[-2:]:  # a new session each: nothing to blend with
        with connect(ws_url(base), max_size=2**24) as ws:
            receive(ws)
            ws.send(jpeg(rgb))
            alone.append(painted(ws)[1])
    flicker_steady = np.abs(steady[-1] - steady[-2]).mean()
    flicker_alone = np.abs(alone[1] - alone[0]).mean()
    assert flicker_steady < 0.8 * flicker_alone, (flicker_steady, flicker_alone)


@pytest.mark.slow
def test_stale_frames_are_dropped_not_queued(server):
    """A burst of frames sent at once: the server paints the first and the newest, drops those in between, and
    answers the last one within about two paintings, not after painting the whole burst."""
    base, _ = server
    frames = clip_frames(12)
    with connect(ws_url(base), max_size=2**24) as ws:
        receive(ws)
        ws.send(jpeg(frames[0]))
        painted(ws)  # warm: the style's statistics are cached now
        t0 = time.perf_counter()
        for rgb in frames[1:]:
            ws.send(jpeg(rgb))
        answered = []
        while not answered or answered[-1]["frame"] < len(frames):
            answered.append(painted(ws)[0])
        spent = time.perf_counter() - t0
    assert answered[-1]["frame"] == 12 and answered[-1]["dropped"] >= 5
    assert len(answered) <= 3, [a["frame"] for a in answered]
    per_frame = max(a["paint_ms"] for a in answered) / 1000
    assert spent < 3.5 * per_frame + 1.0, (spent, per_frame)


def test_bad_session_requests_are_refused_with_a_reason(server):
    base, _ = server
    for query, words in [("style=no-such-style", "unknown style 'no-such-style'"), ("size=320", "give a style"),
                         ("style=starry-night&size=5000", "size must be"), ("style=irises&strength=-1", "strength"),
                         ("style=irises&draft_size=8", "draft_size must be"),
                         ("style=irises&size=%C2%B2", "size must be"), ("style=irises&draft_size=%C2%B2", "draft_size")]:
        with connect(ws_url(base, query)) as ws:
            err = receive(ws, 30)
            assert words in err["error"], (query, err)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(30)
            assert closed.value.rcvd.code == 1008


def test_cross_origin_and_foreign_host_are_refused(server):
    base, _ = server
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(base), origin="http://evil.example")
    assert refused.value.response.status_code == 403
    port = int(base.rsplit(":", 1)[1])  # a page of another site whose name now points here (DNS rebinding)
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(f"http://attacker.example:{port}"), sock=socket.create_connection(("127.0.0.1", port)))
    assert refused.value.response.status_code == 403
    with connect(ws_url(base), origin=base) as ws:  # the page's own origin is fine
        assert receive(ws, 30)["ready"]


def test_full_server_refuses_a_new_session_and_frees_its_place(server):
    base, _ = server
    with connect(ws_url(base)) as first:
        assert receive(first, 30)["ready"]
        with connect(ws_url(base)) as second:
            err = receive(second, 30)
            assert "busy" in err["error"] and err["retry_after"] >= 1
            with pytest.raises(ConnectionClosed) as closed:
                second.recv(30)
            assert closed.value.rcvd.code == 1013
        import httpx

        r = httpx.post(base + "/v1/stylize", data={"style": "irises"}, files={"content": ("p.jpg", b"x")}, timeout=30)
        assert r.status_code == 503  # the session holds the one place for pictures too
    deadline = time.time() + 10
    while True:  # the place comes back when the session ends
        with connect(ws_url(base)) as again:
            msg = receive(again, 30)
        if msg.get("ready") or time.time() > deadline:
            break
        time.sleep(0.2)
    assert msg.get("ready"), msg


@pytest.mark.slow
def test_token_server_needs_the_token_and_idle_sessions_end(tmp_path):
    with running_server("--token", TOKEN, "--read-timeout", "1", tmp=tmp_path) as (base, _):
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(base))
        assert refused.value.response.status_code == 403
        with connect(ws_url(base, f"style=irises&token={TOKEN}")) as ws:
            assert receive(ws, 30)["ready"]
        with connect(ws_url(base), additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            assert receive(ws, 30)["ready"]
            t0 = time.perf_counter()
            assert "nothing received for 1 s" in receive(ws, 30)["error"]  # a silent client does not keep its place
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(30)
            assert closed.value.rcvd.code == 1000 and time.perf_counter() - t0 < 5


def make_y4m(path: Path, seconds: float = 3.0, side: int = 320) -> Path:
    """A few seconds of the shared clip as raw 4:2:0 Y4M, the format Chromium's fake camera plays (looped)."""
    with av.open(str(CLIP)) as src, av.open(str(path), "w", format="yuv4mpegpipe") as dst:
        rate = src.streams.video[0].average_rate
        w, h = src.streams.video[0].width, src.streams.video[0].height
        stream = dst.add_stream("wrapped_avframe", rate=rate)
        stream.width, stream.height, stream.pix_fmt = side, round(h * side / w / 2) * 2, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i >= seconds * rate:
                break
            f = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
            f.pts = i
            for packet in stream.encode(f):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    assert path.read_bytes().startswith(b"YUV4MPEG2 W320 H180") and b" C420" in path.read_bytes()[:80]
    return path


@pytest.mark.slow
@needs_chromium
def test_live_tab_paints_the_camera(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    import os

    clip = make_y4m(tmp_path / "clip.y4m")
    shots = Path(__file__).resolve().parents[1] / "docs" if os.environ.get("BRUSHWORK_PAGE_SHOTS") else tmp_path
    camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              f"--use-file-for-fake-video-capture={clip}"]
    with running_server(tmp=tmp_path) as (base, _), sync_api.sync_playwright() as p, \
            open_page(p, {"width": 1200, "height": 760}, camera) as (page, errors):
        page.goto(base + "/")
        page.click("#tab-live")
        assert page.locator("main").is_hidden() and page.locator("#live").is_visible()
        page.wait_for_selector("#live-style option[value='starry-night']", state="attached")
        page.select_option("#live-style", "starry-night")
        page.click("#live-start")
        result = page.locator("#live-result")

        def wait_frames(n: int, style: str, timeout: float = 120_000):
            js = ("() => { const r = document.querySelector('#live-result');"
                  " return +r.dataset.frames >= %d && r.dataset.style === '%s' && r.complete; }") % (n, style)
            try:
                page.wait_for_function(js, timeout=timeout)
            except sync_api.TimeoutError:
                raise AssertionError(f"fewer than {n} {style} frames: {result.get_attribute('data-frames')} "
                                     f"{page.locator('#live-status').text_content()!r}") from None

        def pixels():
            """The painted frame now shown, as 32x18 RGB in [0, 1]."""
            data = page.evaluate("""() => { const img = document.querySelector('#live-result');
                const c = document.createElement('canvas'); c.width = 32; c.height = 18;
                const g = c.getContext('2d'); g.drawImage(img, 0, 0, 32, 18);
                return Array.from(g.getImageData(0, 0, 32, 18).data); }""")
            return np.array(data, np.float32).reshape(18, 32, 4)[..., :3] / 255

        wait_frames(2, "starry-night")
        first, n0 = pixels(), int(result.get_attribute("data-frames"))
        wait_frames(n0 + 4, "starry-night")
        later = pixels()
        assert np.abs(later - first).mean() > 0.005  # the painted stream moves with the camera
        assert page.locator("#live-fps").text_content().endswith("frames/s")
        assert page.locator("#live-latency").text_content().endswith(" ms")
        page.screenshot(path=str(shots / "page_live.jpg"), quality=80)
        page.select_option("#live-style", "the-scream")
        n1 = int(result.get_attribute("data-frames"))
        wait_frames(n1 + 2, "the-scream")
        scream = pixels()
        warmth = lambda im: float((im[..., 0] - im[..., 2]).mean())  # noqa: E731
        assert warmth(scream) > warmth(later) + 0.08, (warmth(scream), warmth(later))
        page.click("#live-stop")
        assert page.locator("#live-start").is_enabled()
        page.click("#tab-picture")
        assert page.locator("main").is_visible() and page.locator("#live").is_hidden()
        assert not errors, errors


@pytest.mark.slow
def test_session_memory_counts_with_the_servers_work(tmp_path):
    """A session needs the memory of painting a frame at its size; a server with less refuses it in one line."""
    with running_server("--limit", "memory_budget=1000000", tmp=tmp_path) as (base, _):
        with connect(ws_url(base)) as ws:
            err = receive(ws, 30)
            assert "memory" in err["error"] and "smaller size" in err["error"], err
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(30)
            assert closed.value.rcvd.code == 1008
