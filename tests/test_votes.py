"""The vote server (`brushwork evaluate-serve`) against a real report, over real sockets on loopback: what it
serves, what it refuses, and that every refusal is a JSON reply (never a dropped connection)."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from brushwork.evaluation import votes as V
from brushwork.evaluation.runner import evaluate

from conftest import find


@pytest.fixture(scope="module")
def report(tmp_path_factory, eval_content, eval_style):
    """A real 1 x 2 AdaIN report at 48 px."""
    root = tmp_path_factory.mktemp("votes")
    (root / "c").mkdir()
    (root / "s").mkdir()
    shutil.copy(eval_content[0], root / "c")
    for part in ("starry", "wave"):
        shutil.copy(find(eval_style, part), root / "s")
    evaluate("adain", root / "c", root / "s", root / "report", size=48, timing_sizes=(), progress=False)
    return root / "report"


@pytest.fixture
def served(report):
    """The report served on a free loopback port; votes.jsonl emptied before each test."""
    (report / V.VOTES_FILE).unlink(missing_ok=True)
    server = V.make_server(report, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield report, server.server_address[1]
    server.shutdown()
    server.server_close()


def results(report):
    return list(json.loads((report / "results.json").read_text())["runs"].values())


def a_vote(report, **change):
    r = results(report)[0]
    vote = {"method": r["method"], "content": r["content"], "style": r["style"], "size": r["size"],
            "image": r["image"], "vote": "better", "rater": "Ann", "time": "2025-01-02T03:04:05.000Z"}
    return {**vote, **change}


def request(port, method, path, body=None, headers=None):
    """(status, parsed JSON or raw bytes, headers) of one request; Host defaults to the server's own."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    if data is not None and "Content-Length" not in headers:
        headers["Content-Length"] = str(len(data))
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders(data)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(raw), resp.headers
    except ValueError:
        return resp.status, raw, resp.headers


def post(port, body, **headers):
    return request(port, "POST", "/votes", body, {"Content-Type": "application/json", **headers})


def raw_exchange(port, data: bytes) -> bytes:
    """Send raw bytes, return everything the server answers before closing (b'' = dropped without a reply)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def on_disk(report):
    path = report / V.VOTES_FILE
    return path.read_bytes() if path.exists() else b""


def test_a_vote_from_the_page_is_appended_as_given_fields_only(served):
    report, port = served
    status, body, _ = post(port, a_vote(report), Origin=f"http://127.0.0.1:{port}", **{"Sec-Fetch-Site": "same-origin"})
    assert (status, body) == (201, {"ok": True, "count": 1})
    status, body, _ = post(port, [a_vote(report, vote="worse", rater=None), a_vote(report, time=None)])
    assert status == 201 and body["count"] == 3
    saved = V.read_votes(report)
    assert saved[0] == a_vote(report)
    assert saved[1] == {k: v for k, v in a_vote(report, vote="worse").items() if k != "rater"}
    status, listed, _ = request(port, "GET", "/votes")
    assert status == 200 and listed == saved


def test_files_outside_the_folder_are_not_served_through_symlinks(served, tmp_path):
    report, port = served
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (report / "leak.txt").symlink_to(secret)
    (report / "leakdir").symlink_to(tmp_path, target_is_directory=True)
    try:
        for path in ("/leak.txt", "/leakdir/secret.txt", "/../secret.txt", "/images/../../secret.txt"):
            status, body, _ = request(port, "GET", path)
            assert status == 404 and b"top secret" not in json.dumps(body).encode(), path
            assert "not found" in body["detail"].lower()
        status, body, _ = request(port, "GET", "/index.html")
        assert status == 200 and b"Style transfer evaluation" in body
    finally:
        (report / "leak.txt").unlink()
        (report / "leakdir").unlink()


def test_no_directory_listings_and_no_hidden_files(served):
    report, port = served
    (report / ".hidden").write_text("private")
    try:
        for path in ("/images/", "/inputs/", "/images", "/.hidden"):
            status, body, _ = request(port, "GET", path)
            assert status in (301, 404), path
            if status == 404:
                assert body["detail"].startswith("not found") and "results.json" not in json.dumps(body)
        status, body, _ = request(port, "GET", "/")  # the folder itself shows its index.html, not a listing
        assert status == 200 and b"Style transfer evaluation" in body
    finally:
        (report / ".hidden").unlink()


def test_other_sites_cannot_post_votes(served):
    report, port = served
    vote = a_vote(report)
    # the classic cross-site "simple request": text/plain, no preflight, Origin of the attacking page
    status, body, _ = request(port, "POST", "/votes", vote, {"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert status == 403 and "detail" in body
    status, _, _ = post(port, vote, Origin="http://evil.example")
    assert status == 403
    status, _, _ = post(port, vote, **{"Sec-Fetch-Site": "cross-site"})
    assert status == 403
    status, _, _ = post(port, vote, Host=f"evil.example:{port}")  # DNS rebinding: a foreign name for our address
    assert status == 403
    status, body, _ = request(port, "POST", "/votes", vote, {"Content-Type": "text/plain"})  # no Origin at all
    assert status == 415 and "application/json" in body["detail"]
    assert on_disk(report) == b""


@pytest.mark.parametrize("change, why", [
    ({"method": "<script>alert(1)</script>"}, "names no result"),
    ({"content": {"nested": ["json"]}}, "must be a string"),
    ({"size": "48"}, "whole number"),
    ({"size": True}, "whole number"),
    ({"vote": "<b>meh</b>"}, "'vote' must be one of"),
    ({"rater": "<script>x</script>"}, "'rater'"),
    ({"rater": "a" * 41}, "'rater'"),
    ({"time": "<script>"}, "ISO 8601"),
    ({"image": "../../etc/passwd"}, "not the picture"),
    ({"extra": "<script>"}, "unknown field"),
])
def test_votes_must_name_a_result_and_hold_plain_values(served, change, why):
    report, port = served
    status, body, _ = post(port, a_vote(report, **change))
    assert status == 400 and why in body["detail"]
    assert on_disk(report) == b""


def test_malformed_requests_get_a_json_reply_not_a_dropped_connection(served):
    report, port = served
    head = f"POST /votes HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    for length in ("abc", "-5", "1e3", ""):
        reply = raw_exchange(port, (head + f"Content-Length: {length}\r\nConnection: close\r\n\r\n{{}}").encode())
        assert reply.startswith(b"HTTP/1.0 400") and b'"detail"' in reply, (length, reply)
    reply = raw_exchange(port, (head + "Connection: close\r\n\r\n").encode())
    assert reply.startswith(b"HTTP/1.0 411") and b'"detail"' in reply
    status, body, _ = post(port, b"[" * 5000 + b"]" * 5000)  # deeper than Python's JSON parser recurses
    assert status == 400 and "nested too deeply" in body["detail"]
    status, body, _ = post(port, b"x" * (V.MAX_BODY + 1))
    assert status == 413 and "detail" in body
    status, body, _ = post(port, b"{not json")
    assert status == 400 and "not JSON" in body["detail"]
    status, body, _ = post(port, [a_vote(report)] * (V.MAX_PER_POST + 1))
    assert status == 400
    status, body, _ = request(port, "PUT", "/votes", {})
    assert status == 501 and "detail" in body
    assert on_disk(report) == b""
    assert post(port, a_vote(report))[0] == 201  # and the server still works


@pytest.mark.parametrize("damage", [b'{"vote": "better"}\n{broken', b"[1, 2, 3]\n", b'"a string"\n'])
def test_a_damaged_votes_file_is_reported_and_never_overwritten(served, damage):
    report, port = served
    (report / V.VOTES_FILE).write_bytes(damage)
    status, body, _ = post(port, a_vote(report))
    assert status == 409 and V.VOTES_FILE in body["detail"] and "damaged" in body["detail"]
    status, body, _ = request(port, "GET", "/votes")
    assert status == 409 and "damaged" in body["detail"]
    assert on_disk(report) == damage


def test_a_votes_json_of_the_old_format_is_left_alone(served):
    report, port = served
    legacy = report / "votes.json"
    legacy.write_text('{"not": "a list"}')
    try:
        assert post(port, a_vote(report))[0] == 201
        assert legacy.read_text() == '{"not": "a list"}'
    finally:
        legacy.unlink()


def test_votes_are_appended_not_rewritten_and_bounded(served, monkeypatch):
    report, port = served
    assert post(port, a_vote(report))[0] == 201
    path = report / V.VOTES_FILE
    first, inode = path.read_bytes(), path.stat().st_ino
    assert post(port, a_vote(report, vote="worse"))[0] == 201
    second = path.read_bytes()
    assert second.startswith(first) and len(second.splitlines()) == 2 and path.stat().st_ino == inode
    monkeypatch.setattr(V, "MAX_VOTES", 3)
    status, body, _ = post(port, [a_vote(report)] * 2)
    assert status == 507 and "holds 2 votes" in body["detail"]
    assert path.read_bytes() == second
    assert post(port, a_vote(report))[1]["count"] == 3
    assert post(port, a_vote(report))[0] == 507
    # someone edits the file by hand while the server runs: the count follows the file
    path.write_bytes(first)
    assert post(port, a_vote(report))[1]["count"] == 2


def test_evaluate_serve_command_end_to_end(report):
    """`brushwork evaluate-serve` as a user starts it: serves the pages, records a vote, stops on Ctrl-C."""
    (report / V.VOTES_FILE).unlink(missing_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "brushwork.cli", "evaluate-serve", str(report), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"},  # Ctrl-C as from a terminal (a shell's
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # background job ignores it)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/rate.html", timeout=5) as r:
                    assert b"Rate the results" in r.read()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() else "no start"
                time.sleep(0.3)
        assert post(port, a_vote(report))[0] == 201
        assert V.read_votes(report) == [a_vote(report)]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in err and "Traceback" not in err
    busy = subprocess.run([sys.executable, "-m", "brushwork.cli", "evaluate-serve", str(report.parent)],
                          capture_output=True, text=True, timeout=60)
    assert busy.returncode == 2 and busy.stderr.startswith("brushwork: error: ") and "not an evaluation report" in busy.stderr
