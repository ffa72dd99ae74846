"""ASGI guards in front of the routes, in order: Host and Origin (other sites may not use this server), the API
token, 413 for a body announced over its route's limit, a pool slot and an upload-disk share reserved before the
body is read (503 + Retry-After when there is none), and time limits on the body: per chunk (a stall) and for
the whole body (a slow drip). Then one log line per request. Answers are JSON with a `detail` field."""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time

from starlette.exceptions import HTTPException

from . import jobs
from .origins import OriginRules, Refused, check_scope
from .uploads import UploadBudget

BUSY_PATHS = {("POST", "/v1/stylize"), ("POST", "/v1/jobs"), ("POST", "/v1/explain")}
requests_log = logging.getLogger("brushwork.server.requests")


async def send_json(send, status: int, detail: str, headers: dict | None = None) -> None:
    """Send a complete JSON error response {"detail": ...}."""
    body = json.dumps({"detail": detail}).encode()
    extra = [(k.lower().encode(), str(v).encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *extra]})
    await send({"type": "http.response.body", "body": body})


def token_of(scope) -> str | None:
    """The token a request carries: `Authorization: Bearer T` or `X-Brushwork-Token: T`."""
    headers = dict(scope.get("headers") or [])
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get(b"x-brushwork-token", b"").decode("latin-1") or None


class Guard:
    """Everything a request must pass before a route runs (see the module's docstring), and its log line."""

    def __init__(self, app, settings, pool: jobs.Pool, rules: OriginRules, uploads: UploadBudget):
        self.app, self.settings, self.pool, self.rules, self.uploads = app, settings, pool, rules, uploads
        self.body_limits = {"/v1/stylize": settings.image_body, "/v1/jobs": settings.job_body,
                            "/v1/explain": settings.image_body}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        try:
            check_scope(self.rules, scope)
        except Refused as exc:
            if scope["type"] == "websocket":  # closing before accepting answers the handshake with 403
                return await send({"type": "websocket.close", "code": 1008, "reason": exc.detail[:120]})
            return await self._logged(scope, send, exc.status, exc.detail)
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = [0]

        async def logged_send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._http(scope, receive, logged_send)
        finally:
            log_request(scope, status[0] or 499, time.perf_counter() - t0)

    async def _logged(self, scope, send, status: int, detail: str, headers: dict | None = None) -> None:
        log_request(scope, status, 0.0)
        await send_json(send, status, detail, headers)

    async def _http(self, scope, receive, send):
        path, s = scope["path"].rstrip("/") or "/", self.settings
        if s.token and path.startswith("/v1/"):
            given = token_of(scope)
            if not given or not hmac.compare_digest(given.encode(), s.token.encode()):
                return await send_json(send, 401, "this server needs a token: send 'Authorization: Bearer TOKEN'",
                                       {"WWW-Authenticate": "Bearer"})
        limit = self.body_limits.get(path, 1024 * 1024)
        text = dict(scope.get("headers") or []).get(b"content-length", b"")
        length = int(text) if text.isdigit() else None
        if length is not None and length > limit:
            return await send_json(send, 413, f"the request body is {length / 2**20:.1f} MB, over the "
                                              f"{limit / 2**20:.0f} MB this address accepts")
        slot = None
        if (scope["method"], path) in BUSY_PATHS:
            try:
                slot = self.pool.reserve()  # held while the body arrives; a job takes it over
            except jobs.Full as exc:
                return await send_json(send, 503, "the server is busy; try again shortly",
                                       {"Retry-After": exc.retry_after})
            scope.setdefault("state", {})["slot"] = slot
        taken = 0
        try:
            if length and not self.uploads.take(length):
                return await send_json(send, 503, "too many uploads are arriving at once; try again shortly",
                                       {"Retry-After": self.pool.retry_after()})
            taken = length or 0
            deadline = time.monotonic() + s.body_deadline(length)
            body_done, received = False, 0

            async def timed_receive():
                nonlocal body_done, received, taken
                if body_done:
                    return await receive()
                left = deadline - time.monotonic()
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, min(s.read_timeout, left)))
                except asyncio.TimeoutError:
                    raise RequestTimeout(s.read_timeout if left > s.read_timeout else None) from None
                chunk = len(message.get("body", b""))
                received += chunk
                if received > limit:  # a body without Content-Length (chunked) that runs over
                    raise HTTPException(413, f"the request body is over the {limit / 2**20:.0f} MB this address accepts")
                if received > taken:  # more than announced (or nothing announced): take its share as it comes
                    if not self.uploads.take(received - taken):
                        raise HTTPException(503, "too many uploads are arriving at once; try again shortly")
                    taken = received
                body_done = message["type"] != "http.request" or not message.get("more_body", False)
                return message

            started = False

            async def tracked_send(message):
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            try:
                await self.app(scope, timed_receive, tracked_send)
            except RequestTimeout as exc:
                if not started:
                    await send_json(send, 408, exc.detail)
        finally:
            self.uploads.give(taken)
            if slot is not None and slot.owner is None:  # no job took it (refused, failed, or timed out)
                slot.release()


class RequestTimeout(HTTPException):
    """The client stalled, or sent its body too slowly (an HTTPException, so the form parser passes it on as a
    408); `stalled` is the per-chunk limit that ran out, None when the whole-body deadline did."""

    def __init__(self, stalled: float | None):
        super().__init__(408, f"the upload stalled for over {stalled:g} s" if stalled is not None
                         else "the upload arrived too slowly (over this server's time for the whole body)")


def log_request(scope, status: int, seconds: float) -> None:
    """One line per request for the terminal running `serve`: method, path, what was asked, status, time."""
    what = (scope.get("state") or {}).get("summary", "")
    requests_log.info("%s %s%s %d %.2f s", scope.get("method", "WS"), scope.get("path", ""),
                      f" {what}" if what else "", status, seconds)
