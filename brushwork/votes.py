"""A tiny local server for a report folder: serves its pages and appends POSTed votes to votes.json.

A page opened from disk (file://) cannot write files, so rate.html posts to this server when it is served
by it. Standard library only; meant for localhost, not the open internet.
"""
from __future__ import annotations

import json
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .errors import BrushworkError

VOTES_JSON = "votes.json"
VOTE_VALUES = ("better", "worse")
FIELDS = ("method", "content", "style", "size", "image", "vote", "rater", "time")
MAX_BODY = 256 * 1024


def read_votes(report_dir) -> list[dict]:
    """All votes recorded in report_dir/votes.json (empty if none yet)."""
    path = Path(report_dir) / VOTES_JSON
    if not path.exists():
        return []
    data = json.loads(path.read_text() or "[]")
    return data if isinstance(data, list) else []


def clean_vote(raw) -> dict:
    """A vote reduced to the known fields, or ValueError saying what is wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError("a vote must be a JSON object")
    if raw.get("vote") not in VOTE_VALUES:
        raise ValueError(f"'vote' must be one of {', '.join(VOTE_VALUES)}")
    for key in ("method", "content", "style"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ValueError(f"'{key}' must be a non-empty string")
    return {k: raw.get(k) for k in FIELDS if raw.get(k) is not None}


class _Handler(SimpleHTTPRequestHandler):
    """Static files from the report folder; POST /votes appends one vote (or a list of them)."""

    lock = threading.Lock()

    def log_message(self, fmt, *args):  # keep the terminal quiet; errors still reach the client
        pass

    def _json(self, status: int, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.split("?")[0].rstrip("/") == "/votes":
            return self._json(HTTPStatus.OK, read_votes(self.directory))
        return super().do_GET()

    def do_POST(self):
        if self.path.split("?")[0].rstrip("/") != "/votes":
            return self._json(HTTPStatus.NOT_FOUND, {"error": "POST votes to /votes"})
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "send one vote as a JSON body"})
        try:
            raw = json.loads(self.rfile.read(length))
            new = [clean_vote(v) for v in (raw if isinstance(raw, list) else [raw])]
        except ValueError as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        with self.lock:
            votes = read_votes(self.directory) + new
            path = Path(self.directory) / VOTES_JSON
            tmp = path.with_name(f".{VOTES_JSON}.part")
            tmp.write_text(json.dumps(votes, indent=1))
            tmp.replace(path)
        return self._json(HTTPStatus.CREATED, {"ok": True, "count": len(votes)})


def make_server(report_dir, port: int = 8000, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server for report_dir (not yet serving; port 0 picks a free one: see server.server_address)."""
    report_dir = Path(report_dir).expanduser()
    if not (report_dir / "index.html").is_file():
        raise BrushworkError(f"{report_dir} is not an evaluation report (no index.html); "
                             "run `brushwork evaluate` first")
    try:
        return ThreadingHTTPServer((host, port), partial(_Handler, directory=str(report_dir.resolve())))
    except OSError as exc:
        raise BrushworkError(f"cannot listen on {host}:{port} ({exc.strerror}); try another --port") from None
