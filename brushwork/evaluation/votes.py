"""A small local server for a report folder: serves its pages and appends votes cast on rate.html to votes.jsonl.

A page opened from disk (file://) cannot write files, so rate.html posts to this server when served by it.
Standard library only; meant for localhost. What it guards against: files outside the folder (symlinks),
directory listings, other sites posting votes (Origin, Host and JSON content type are checked), votes that do
not name a result of the report, malformed requests (each answered with a JSON `{"detail": ...}`, never a
dropped connection), a damaged votes file (reported, never overwritten) and unbounded growth (a cap; one line
appended per vote, never a rewrite of the whole file).
"""
from __future__ import annotations

import json
import os
import re
import threading
from datetime import datetime
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..errors import BrushworkError
from ..server.origins import OriginRules, Refused

VOTES_FILE = "votes.jsonl"  # JSON Lines: one vote per line, appended
RESULTS_JSON = "results.json"
VOTE_VALUES = ("better", "worse")
FIELDS = ("method", "content", "style", "size", "image", "vote", "rater", "time")
MAX_BODY = 64 * 1024  # a vote is ~250 bytes; a POST carries one vote or a short list (MAX_PER_POST)
MAX_PER_POST = 50
MAX_VOTES = 100_000  # per report (about 20 MB); beyond it the server refuses more
RATER = re.compile(r"[\w .@'-]{1,40}")


class VoteError(ValueError):
    """A request the server refuses, with the HTTP status to answer."""

    def __init__(self, status: HTTPStatus, detail: str):
        super().__init__(detail)
        self.status = status


def read_votes(report_dir) -> list[dict]:
    """All votes recorded in report_dir/votes.jsonl (empty if none yet); a damaged line is a BrushworkError."""
    path = Path(report_dir) / VOTES_FILE
    if not path.exists():
        return []
    votes = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                vote = json.loads(line)
            except ValueError:
                vote = None
            if not isinstance(vote, dict):
                raise BrushworkError(f"{path} line {n} is not a vote (damaged file?); fix or move it away")
            votes.append(vote)
    return votes


def result_index(report_dir) -> dict[tuple, dict]:
    """(method, content, style, size) -> result record, for every result in report_dir/results.json."""
    try:
        data = json.loads((Path(report_dir) / RESULTS_JSON).read_text())
        runs = data["runs"].values()
        return {(r["method"], r["content"], r["style"], int(r["size"])): r for r in runs}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise BrushworkError(f"{report_dir} has no readable {RESULTS_JSON}; run `brushwork evaluate` again") from None


def _check_time(value) -> str | None:
    """An ISO 8601 time stamp as sent by the page (or None)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("'time' must be an ISO 8601 time stamp")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("'time' must be an ISO 8601 time stamp") from None
    return value


def clean_vote(raw, results: dict[tuple, dict]) -> dict:
    """A vote that names a result of the report, reduced to plain fields; ValueError says what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("a vote must be a JSON object")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown[:5]))}; a vote has {', '.join(FIELDS)}")
    if raw.get("vote") not in VOTE_VALUES:
        raise ValueError(f"'vote' must be one of {', '.join(VOTE_VALUES)}")
    for key in ("method", "content", "style"):
        if not isinstance(raw.get(key), str):
            raise ValueError(f"'{key}' must be a string")
    size = raw.get("size")
    if not (isinstance(size, int) and not isinstance(size, bool)):
        raise ValueError("'size' must be a whole number")
    rec = results.get((raw["method"], raw["content"], raw["style"], size))
    if rec is None:
        raise ValueError("the vote names no result of this report")
    if raw.get("image") is not None and raw["image"] != rec.get("image"):
        raise ValueError("'image' is not the picture of that result")
    rater = raw.get("rater")
    if rater is not None and not (isinstance(rater, str) and RATER.fullmatch(rater)):
        raise ValueError("'rater' must be a name of up to 40 letters, digits, spaces or . @ ' - _")
    vote = {"method": rec["method"], "content": rec["content"], "style": rec["style"], "size": int(rec["size"]),
            "image": rec.get("image"), "vote": raw["vote"], "rater": rater, "time": _check_time(raw.get("time"))}
    return {k: v for k, v in vote.items() if v is not None}


class VoteServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its report folder and appends votes to it one line at a time."""

    daemon_threads = True

    def __init__(self, address, report_dir: Path):
        self.root = Path(os.path.realpath(report_dir))
        self.lock = threading.Lock()
        self._count: int | None = None  # votes on disk, known while the file is as we last left it
        self._size = -1
        super().__init__(address, partial(_Handler, directory=str(self.root)))

    @property
    def votes_path(self) -> Path:
        return self.root / VOTES_FILE

    def _on_disk(self) -> int:
        """Number of votes on disk; re-reads (and so re-checks) the file only when someone else changed it."""
        size = self.votes_path.stat().st_size if self.votes_path.exists() else 0
        if self._count is None or size != self._size:
            self._count, self._size = len(read_votes(self.root)), size
        return self._count

    def append(self, votes: list[dict]) -> int:
        """Append votes as JSON lines (fsynced); returns the new total. Refuses a damaged or full file."""
        with self.lock:
            try:
                count = self._on_disk()
            except BrushworkError as exc:
                raise VoteError(HTTPStatus.CONFLICT, str(exc)) from None
            if count + len(votes) > MAX_VOTES:
                raise VoteError(HTTPStatus.INSUFFICIENT_STORAGE,
                                f"{VOTES_FILE} already holds {count} votes, the most one report keeps ({MAX_VOTES})")
            data = "".join(json.dumps(v, ensure_ascii=True) + "\n" for v in votes).encode()
            with open(self.votes_path, "ab") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            self._count, self._size = count + len(votes), self.votes_path.stat().st_size
            return self._count


class _Handler(SimpleHTTPRequestHandler):
    """Static files from inside the report folder (no listings, no dotfiles); GET/POST /votes."""

    server: VoteServer

    def log_message(self, fmt, *args):  # keep the terminal quiet; clients get every error as JSON
        pass

    def _json(self, status: int, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        """Every error as JSON {"detail": ...} (the stock handler answers in HTML)."""
        self.close_connection = True
        try:
            self._json(code, {"detail": message or HTTPStatus(code).phrase})
        except (OSError, ValueError):
            pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def list_directory(self, path):
        self.send_error(HTTPStatus.NOT_FOUND, "not found (directory listings are off)")
        return None

    def send_head(self):
        """Serve only regular files whose real path lies inside the report folder and that are not hidden."""
        path = os.path.realpath(self.translate_path(self.path))
        rel = os.path.relpath(path, self.server.root)
        if rel.startswith(os.pardir) or any(part.startswith(".") and part != "." for part in Path(rel).parts):
            self.send_error(HTTPStatus.NOT_FOUND, "not found")
            return None
        return super().send_head()

    def _route(self) -> str:
        return self.path.split("?")[0].rstrip("/")

    def do_GET(self):
        if self._route() == "/votes":
            try:
                return self._json(HTTPStatus.OK, read_votes(self.server.root))
            except BrushworkError as exc:
                return self._json(HTTPStatus.CONFLICT, {"detail": str(exc)})
        return super().do_GET()

    def _check_origin(self) -> None:
        """Only this page may post: same Host as we listen on, same Origin if the browser sends one, JSON body."""
        host, port = self.server.server_address[:2]
        try:
            OriginRules(host, port, any_host_on_wildcard=False).check(self.headers)
        except Refused as exc:
            raise VoteError(HTTPStatus.FORBIDDEN, f"votes are accepted only from this report's own pages ({exc})") from None
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise VoteError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send votes as Content-Type: application/json")

    def _read_body(self):
        """The request's JSON body, bounded in size and depth."""
        text = self.headers.get("Content-Length")
        if text is None:
            raise VoteError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header")
        if not text.strip().isdigit():
            raise VoteError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {text[:20]!r}")
        length = int(text)
        if length > MAX_BODY:
            raise VoteError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a vote body is at most {MAX_BODY} bytes")
        try:
            return json.loads(self.rfile.read(length))
        except RecursionError:
            raise VoteError(HTTPStatus.BAD_REQUEST, "the JSON is nested too deeply") from None
        except ValueError as exc:
            raise VoteError(HTTPStatus.BAD_REQUEST, f"the body is not JSON ({exc})") from None

    def do_POST(self):
        try:
            if self._route() != "/votes":
                raise VoteError(HTTPStatus.NOT_FOUND, "POST votes to /votes")
            self._check_origin()
            raw = self._read_body()
            raws = raw if isinstance(raw, list) else [raw]
            if not 0 < len(raws) <= MAX_PER_POST:
                raise VoteError(HTTPStatus.BAD_REQUEST, f"send 1 to {MAX_PER_POST} votes at a time")
            try:
                results = result_index(self.server.root)
                new = [clean_vote(v, results) for v in raws]
            except (ValueError, BrushworkError) as exc:
                raise VoteError(HTTPStatus.BAD_REQUEST, str(exc)) from None
            count = self.server.append(new)
        except VoteError as exc:
            self.close_connection = True  # the body may be unread: do not parse it as the next request
            return self._json(exc.status, {"detail": str(exc)})
        except Exception as exc:  # a reply, never a dropped connection
            self.close_connection = True
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"detail": f"server error: {type(exc).__name__}"})
        return self._json(HTTPStatus.CREATED, {"ok": True, "count": count})


def make_server(report_dir, port: int = 8000, host: str = "127.0.0.1") -> VoteServer:
    """A server for report_dir (not yet serving; port 0 picks a free one: see server.server_address)."""
    report_dir = Path(report_dir).expanduser()
    if not (report_dir / "index.html").is_file():
        raise BrushworkError(f"{report_dir} is not an evaluation report (no index.html); "
                             "run `brushwork evaluate` first")
    try:
        return VoteServer((host, port), report_dir)
    except OSError as exc:
        raise BrushworkError(f"cannot listen on {host}:{port} ({exc.strerror}); try another --port") from None
