"""ASGI guards in front of the routes: the API token, 503 before reading a body when the pool is full, and a
read time-out (408) for clients that stall while sending. Answers are JSON with a `detail` field."""
from __future__ import annotations

import asyncio
import hmac
import json

from starlette.exceptions import HTTPException

BUSY_PATHS = {("POST", "/v1/stylize"), ("POST", "/v1/jobs")}


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
    """Token check on /v1, 413 for a body announced over its route's limit (before reading it), early 503 +
    Retry-After when no worker slot is free, 408 on a stalled upload."""

    def __init__(self, app, token: str | None, pool, read_timeout: float, body_limits: dict, default_limit: int):
        self.app, self.token, self.pool, self.read_timeout = app, token, pool, read_timeout
        self.body_limits, self.default_limit = body_limits, default_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if self.token and path.startswith("/v1/"):
            given = token_of(scope)
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return await send_json(send, 401, "this server needs a token: send 'Authorization: Bearer TOKEN'",
                                       {"WWW-Authenticate": "Bearer"})
        limit = self.body_limits.get(path.rstrip("/"), self.default_limit)
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if length.isdigit() and int(length) > limit:
            return await send_json(send, 413, f"the request body is {int(length) / 2**20:.1f} MB, over the "
                                              f"{limit / 2**20:.0f} MB this address accepts")
        if (scope["method"], path.rstrip("/")) in BUSY_PATHS and self.pool.busy():
            return await send_json(send, 503, "the server is busy; try again shortly",
                                   {"Retry-After": self.pool.retry_after()})
        body_done, received = False, 0

        async def timed_receive():
            nonlocal body_done, received
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout)
            except asyncio.TimeoutError:
                raise RequestTimeout(self.read_timeout) from None
            received += len(message.get("body", b""))
            if received > limit:  # a body without Content-Length (chunked) that runs over
                raise HTTPException(413, f"the request body is over the {limit / 2**20:.0f} MB this address accepts")
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        started = False

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except RequestTimeout:
            if not started:
                await send_json(send, 408, f"the upload stalled for over {self.read_timeout:g} s")


class RequestTimeout(HTTPException):
    """The client stopped sending its body (an HTTPException, so the form parser passes it on as a 408)."""

    def __init__(self, seconds: float):
        super().__init__(408, f"the upload stalled for over {seconds:g} s")
