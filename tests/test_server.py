"""The HTTP API against the real server on a loopback port: results, every bad input, jobs, limits, load."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import psutil
import pytest
from PIL import Image

from conftest import EVAL_CONTENT, EVAL_STYLE, find
from serverproc import running_server

TOKEN = "s3cret-token"


def png(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    im = Image.open(sorted(EVAL_CONTENT.iterdir())[0]).convert("RGB")
    im.thumbnail((192, 192))
    return im


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server("--workers", "2", "--queue-size", "6", tmp=tmp_path_factory.mktemp("srv")) as (base, proc):
        yield base, proc


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    """One worker, no queue, short time-outs and TTL, and a token."""
    tmp = tmp_path_factory.mktemp("tight")
    with running_server("--workers", "1", "--queue-size", "0", "--timeout", "4", "--job-ttl", "1",
                        "--read-timeout", "1", "--token", TOKEN, tmp=tmp) as (base, proc):
        yield base, tmp


def stylize(base, files, data=None, headers=None, timeout=120):
    return httpx.post(base + "/v1/stylize", files=files, data=data or {}, headers=headers, timeout=timeout)


def assert_json_error(r, status, words=""):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "Traceback" not in r.text and 'File "' not in r.text
    assert words.lower() in detail.lower(), detail


def decode(r) -> Image.Image:
    assert r.status_code == 200, r.text
    return Image.open(io.BytesIO(r.content))


def test_health_styles_and_docs(server):
    base, _ = server
    assert httpx.get(base + "/healthz").json()["status"] == "ok"
    styles = httpx.get(base + "/v1/styles").json()
    assert {"starry-night", "the-scream"} <= {s["name"] for s in styles}
    import base64

    thumb = Image.open(io.BytesIO(base64.b64decode(styles[0]["thumbnail"].split(",", 1)[1])))
    assert thumb.format == "JPEG" and max(thumb.size) <= 160
    schema = httpx.get(base + "/openapi.json").json()
    assert {"/v1/stylize", "/v1/styles", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result"} <= set(schema["paths"])
    assert httpx.get(base + "/").text.count("app.js") == 1


def test_stylize_png_jpeg_webp_and_options(server, photo):
    base, _ = server
    content = ("photo.png", png(photo), "image/png")
    out = decode(stylize(base, {"content": content}, {"style": "starry-night", "size": "160"}))
    assert out.format == "PNG" and max(out.size) == 160
    assert abs(out.size[0] / out.size[1] - photo.size[0] / photo.size[1]) < 0.03
    styled = np.asarray(out, np.float32)
    plain = np.asarray(photo.resize(out.size), np.float32)
    assert np.abs(styled - plain).mean() > 10  # it painted something
    for fmt, name in (("jpeg", "JPEG"), ("webp", "WEBP")):
        r = stylize(base, {"content": content}, {"style": "starry-night", "size": "96", "format": fmt})
        assert decode(r).format == name and r.headers["content-type"] == f"image/{fmt}"
    zero = decode(stylize(base, {"content": content}, {"style": "starry-night", "size": "160", "strength": "0"}))
    assert np.abs(np.asarray(zero, np.float32) - plain).mean() < 0.5 * np.abs(styled - plain).mean()


@pytest.mark.slow
def test_uploaded_style_blend_masks_and_keep(server, photo):
    base, _ = server
    content = ("photo.png", png(photo), "image/png")
    painting = find(sorted(EVAL_STYLE.iterdir()), "impression").read_bytes()
    own = decode(stylize(base, {"content": content, "style_image": ("p.jpg", painting, "image/jpeg")}, {"size": "128"}))
    builtin = decode(stylize(base, {"content": content}, {"style": "starry-night", "size": "128"}))
    assert np.abs(np.asarray(own, np.float32) - np.asarray(builtin, np.float32)).mean() > 5
    blend = {"style": ["starry-night", "the-scream"]}
    a = decode(stylize(base, {"content": content}, {**blend, "size": "128", "style_weights": "1,0"}))
    b = decode(stylize(base, {"content": content}, {**blend, "size": "128", "style_weights": "0.5,0.5"}))
    assert np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean() > 2
    w, h = photo.size
    left = Image.new("L", (w, h), 0)
    left.paste(255, (0, 0, w // 2, h))
    right = Image.eval(left, lambda v: 255 - v)
    files = [("content", content), ("mask", ("m1.png", png(left), "image/png")),
             ("mask", ("m2.png", png(right), "image/png"))]
    masked = decode(httpx.post(base + "/v1/stylize", files=files, data={**blend, "size": "128"}, timeout=120))
    assert masked.size == a.size
    keep = Image.new("L", (w, h), 0)
    keep.paste(255, (w // 2, 0, w, h))  # keep the right half as the photo
    kept = decode(stylize(base, {"content": content, "keep_mask": ("k.png", png(keep), "image/png")},
                          {"style": "starry-night", "size": "128"}))
    arr, ref = np.asarray(kept, np.float32), np.asarray(photo.resize(kept.size), np.float32)
    half = kept.size[0] // 2
    right_err, left_err = np.abs(arr[:, half + 4:] - ref[:, half + 4:]).mean(), np.abs(arr[:, :half - 4] - ref[:, :half - 4]).mean()
    assert right_err < 6 and left_err > 3 * right_err


def test_content_is_sniffed_not_named(server, photo, tmp_path):
    base, _ = server
    r = stylize(base, {"content": ("notes.txt", png(photo), "text/plain")}, {"style": "starry-night", "size": "64"})
    assert r.status_code == 200
    assert_json_error(stylize(base, {"content": ("photo.png", b"hello, not a picture" * 50, "image/png")},
                              {"style": "starry-night"}), 415, "not an image")
    jpeg = png(photo, "JPEG")
    assert_json_error(stylize(base, {"content": ("cut.jpg", jpeg[: len(jpeg) // 2], "image/jpeg")},
                              {"style": "starry-night"}), 400, "truncated")
    pdf = b"%PDF-1.4\n" + b"0" * 2000
    assert_json_error(stylize(base, {"content": ("a.png", pdf, "image/png")}, {"style": "starry-night"}), 415)


def test_size_limits_and_decompression_bombs(server):
    base, _ = server
    big = os.urandom(26 * 1024 * 1024)
    assert_json_error(stylize(base, {"content": ("big.png", big, "image/png")}, {"style": "starry-night"}), 413, "25 MB")
    bomb = png(Image.new("1", (9500, 9000)))  # 85 MP: over our 80 MP guard, small file
    assert len(bomb) < 1_000_000
    assert_json_error(stylize(base, {"content": ("bomb.png", bomb, "image/png")}, {"style": "starry-night"}), 413, "pixels")
    huge = png(Image.new("1", (14000, 14000)))  # 196 MP: Pillow's own decompression-bomb guard
    assert_json_error(stylize(base, {"content": ("huge.png", huge, "image/png")}, {"style": "starry-night"}), 413)
    # a body announced as larger than the route allows is refused before it is read
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(f"POST /v1/stylize HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: multipart/form-data; "
                  "boundary=b\r\nContent-Length: 700000000\r\n\r\n--b\r\n".encode())
        head = s.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413"), head
    assert '"detail"' in head or "application/json" in head


def test_bad_fields_are_clear_400s(server, photo):
    base, _ = server
    content = {"content": ("p.png", png(photo), "image/png")}
    cases = [
        ({}, 400, "give a style"),
        ({"style": "no-such-style"}, 400, "unknown style"),
        ({"style": "/etc/passwd"}, 400, "unknown style"),  # never a path from a client
        ({"style": "../assets/data/styles/starry-night.jpg"}, 400, "unknown style"),
        ({"style": "starry-night", "method": "magic"}, 400, "unknown method"),
        ({"style": "starry-night", "strength": "1.5"}, 400, "strength"),
        ({"style": "starry-night", "size": "99999"}, 400, "size"),
        ({"style": "starry-night", "size": "big"}, 422, "size"),
        ({"style": "starry-night", "format": "gif"}, 400, "format"),
        ({"style": "starry-night", "style_weights": "1,2"}, 400, "style_weights"),
        ({"style": "starry-night", "style_weights": "a"}, 400, "numbers"),
        ({"style": "starry-night", "preserve_color": "sepia"}, 400, "colour"),
        ({"style": "starry-night", "method": "adain", "draft_size": "128"}, 400, "lapstyle"),
    ]
    for data, status, words in cases:
        assert_json_error(stylize(base, content, data), status, words)
    assert_json_error(stylize(base, {"mask": ("m.png", png(photo), "image/png")}, {"style": "starry-night"}), 400, "content")
    two_masks = [("content", content["content"]), ("mask", ("m.png", png(photo), "image/png")),
                 ("mask", ("n.png", png(photo), "image/png"))]
    assert_json_error(httpx.post(base + "/v1/stylize", files=two_masks, data={"style": "starry-night"}), 400, "mask")
    assert_json_error(httpx.get(base + "/v1/jobs/nope"), 404, "no job")
    assert_json_error(httpx.get(base + "/no/such/page"), 404)
    assert_json_error(httpx.post(base + "/v1/styles"), 405)


@pytest.mark.slow
def test_jobs_progress_result_and_cancel(server, photo):
    base, _ = server
    files = {"content": ("p.png", png(photo), "image/png")}
    data = {"style": "starry-night", "method": "optimize", "size": "128", "iterations": "12"}
    r = httpx.post(base + "/v1/jobs", files=files, data=data, timeout=60)
    assert r.status_code == 202 and r.headers["location"].endswith(r.json()["id"])
    job = r.json()["id"]
    early = httpx.get(f"{base}/v1/jobs/{job}/result")
    seen, deadline = [], time.time() + 120
    while time.time() < deadline:
        s = httpx.get(f"{base}/v1/jobs/{job}").json()
        seen.append(s["progress"])
        if s["state"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert s["state"] == "done", s
    if early.status_code != 200:
        assert_json_error(early, 409, "wait")
    assert seen == sorted(seen) and any(0 < p < 1 for p in seen), seen
    out = Image.open(io.BytesIO(httpx.get(f"{base}/v1/jobs/{job}/result").content))
    assert max(out.size) == 128
    assert httpx.delete(f"{base}/v1/jobs/{job}").json()["state"] == "deleted"
    assert_json_error(httpx.get(f"{base}/v1/jobs/{job}"), 404)
    # a long job cancelled while it runs stops and disappears
    slow = httpx.post(base + "/v1/jobs", files=files, data={**data, "size": "256", "iterations": "400"}).json()["id"]
    while httpx.get(f"{base}/v1/jobs/{slow}").json()["state"] != "running":
        time.sleep(0.1)
    assert httpx.delete(f"{base}/v1/jobs/{slow}").json()["state"] == "cancelled"
    deadline = time.time() + 30
    while httpx.get(f"{base}/v1/jobs/{slow}").status_code != 404:
        assert time.time() < deadline
        time.sleep(0.2)
    # and the worker is free again
    assert stylize(base, files, {"style": "starry-night", "size": "64"}).status_code == 200


@pytest.mark.slow
def test_token_busy_timeout_and_ttl(tight, photo):
    base, tmp = tight
    auth = {"Authorization": f"Bearer {TOKEN}"}
    files = {"content": ("p.png", png(photo), "image/png")}
    assert_json_error(httpx.get(base + "/v1/styles"), 401, "token")
    assert_json_error(httpx.get(base + "/v1/styles", headers={"Authorization": "Bearer wrong"}), 401)
    assert httpx.get(base + "/v1/styles", headers=auth).status_code == 200
    assert httpx.get(base + "/healthz").status_code == 200 and "app.js" in httpx.get(base + "/").text
    # one worker, no queue: while a job holds the worker, requests are answered 503 + Retry-After at once
    slow = {"style": "starry-night", "method": "optimize", "size": "256", "iterations": "400"}
    r = httpx.post(base + "/v1/jobs", files=files, data=slow, headers=auth, timeout=60)
    assert r.status_code == 202, r.text
    busy, owner = r.json()["id"], {**auth, "X-Job-Secret": r.json()["secret"]}
    assert_json_error(httpx.delete(f"{base}/v1/jobs/{busy}", headers=auth), 403, "secret")  # the token alone: no
    r = stylize(base, files, {"style": "starry-night", "size": "64"}, auth)
    assert_json_error(r, 503, "busy")
    assert int(r.headers["retry-after"]) >= 1
    assert_json_error(httpx.post(base + "/v1/jobs", files=files, data=slow, headers=auth), 503, "busy")

    def wait_free():
        deadline = time.time() + 30
        while stylize(base, files, {"style": "starry-night", "size": "64"}, auth).status_code != 200:
            assert time.time() < deadline
            time.sleep(0.3)

    assert httpx.delete(f"{base}/v1/jobs/{busy}", headers=owner).json()["state"] == "cancelled"
    wait_free()
    # a synchronous request that runs past the 4 s time-out: 504, and the work stops (the worker frees up)
    t0 = time.time()
    assert_json_error(stylize(base, files, slow, auth), 504, "jobs")
    assert time.time() - t0 < 10
    wait_free()
    # finished jobs and their files go after the TTL (1 s)
    made = httpx.post(base + "/v1/jobs", files=files, data={"style": "starry-night", "size": "64"}, headers=auth).json()
    job, deadline = made["id"], time.time() + 30
    while httpx.get(f"{base}/v1/jobs/{job}?secret={made['secret']}", headers=auth).json()["state"] != "done":
        assert time.time() < deadline
        time.sleep(0.1)
    roots = list(tmp.glob("brushwork-server-*"))
    assert len(roots) == 1 and any(roots[0].iterdir())
    time.sleep(2.5)
    assert_json_error(httpx.get(f"{base}/v1/jobs/{job}?secret={made['secret']}", headers=auth), 404)
    assert not any(roots[0].iterdir())
    # a client that stalls mid-upload gets 408
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(f"POST /v1/stylize HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
                  "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000\r\n\r\n--b\r\n".encode())
        head = s.recv(4096).decode()
    assert head.startswith("HTTP/1.1 408"), head


@pytest.mark.slow
def test_non_loopback_needs_a_token():
    r = subprocess.run([sys.executable, "-m", "brushwork.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "BRUSHWORK_TOKEN": ""})
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and r.stderr.startswith("brushwork: error:")
    assert "token" in r.stderr


@pytest.mark.slow
def test_load_200_requests_16_in_flight(server, photo):
    """Every answer is 200 or 503 (no other 5xx), and the server's memory stays bounded."""
    base, proc = server
    small = photo.copy()
    small.thumbnail((96, 96))
    body = png(small)
    styles = ["starry-night", "the-scream", "great-wave"]

    def one(i):
        with httpx.Client(timeout=120) as c:
            r = c.post(base + "/v1/stylize", files={"content": ("p.png", body, "image/png")},
                       data={"style": styles[i % 3], "size": "64", "seed": str(i)})
            return r.status_code

    with ThreadPoolExecutor(16) as ex:  # warm-up
        list(ex.map(one, range(32)))
    rss0 = psutil.Process(proc.pid).memory_info().rss
    with ThreadPoolExecutor(16) as ex:
        codes = list(ex.map(one, range(200)))
    rss1 = psutil.Process(proc.pid).memory_info().rss
    assert set(codes) <= {200, 503}, sorted(set(codes))
    assert codes.count(200) >= 20
    assert rss1 - rss0 < 300 * 2**20, (rss0 / 2**20, rss1 / 2**20)
    print(f"load: {codes.count(200)} x 200, {codes.count(503)} x 503; RSS {rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MB")


def test_video_job(server, tmp_path):
    """A short clip (cut from the shared video) becomes a job with progress; the result is an MP4 of as many frames."""
    import av

    from conftest import SHARED

    base, _ = server
    clip = tmp_path / "clip.mp4"
    with av.open(str(SHARED / "video" / "bigbuckbunny.mp4")) as src, av.open(str(clip), "w") as dst:
        stream = dst.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 160, 90, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == 6:
                break
            for packet in stream.encode(frame.reformat(160, 90, "yuv420p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    assert_json_error(httpx.post(base + "/v1/jobs", files={"video": ("v.mp4", b"not a video" * 100, "video/mp4")},
                                 data={"style": "starry-night"}), 415, "video")
    r = httpx.post(base + "/v1/jobs", files={"video": ("clip.bin", clip.read_bytes(), "application/octet-stream")},
                   data={"style": "starry-night", "size": "64"}, timeout=60)
    assert r.status_code == 202, r.text
    job, deadline = r.json()["id"], time.time() + 120
    while (s := httpx.get(f"{base}/v1/jobs/{job}").json())["state"] not in ("done", "failed"):
        assert time.time() < deadline
        time.sleep(0.3)
    assert s["state"] == "done", s
    out = tmp_path / "out.mp4"
    out.write_bytes(httpx.get(f"{base}/v1/jobs/{job}/result").content)
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 6 and max(frames[0].width, frames[0].height) == 64
