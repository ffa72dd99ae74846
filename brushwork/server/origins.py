"""Same-origin rules shared by the local servers (the HTTP API and the vote server): which Host and Origin a
request may carry, so that another web site can neither post to a server on this machine nor read it through
DNS rebinding. Standard library only; works on plain header mappings, so HTTP routes and WebSockets share it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "::", "")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Refused(Exception):
    """A request from somewhere it may not come from: `status` is 421 (foreign Host) or 403 (foreign Origin)."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def normalize_origin(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-case, no path or trailing slash: how browsers write Origin."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an origin like http://example.org:8080")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _name(host: str) -> str:
    """A bind address as it appears in a Host header (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass(frozen=True)
class OriginRules:
    """Allowed: Host naming this server (a loopback name or the bound host, with its port), Origin of that same
    host or one of `allow_origins`. A server bound to every interface (0.0.0.0) cannot know its names and, when
    `any_host_on_wildcard`, accepts any Host (it needs a token then, which a rebinding page does not have)."""
    bind_host: str
    port: int
    allow_origins: frozenset = field(default_factory=frozenset)
    any_host_on_wildcard: bool = True

    def hosts(self) -> set[str]:
        """The Host header values this server answers to."""
        names = {*LOOPBACK_NAMES, _name(self.bind_host).lower()}
        out = {f"{n}:{self.port}" for n in names}
        if self.port == 80:
            out |= names
        return out

    def check_host(self, headers) -> str:
        """The request's Host if it names this server; Refused(421) otherwise."""
        host = (headers.get("host") or "").strip().lower()
        if self.any_host_on_wildcard and self.bind_host in WILDCARDS:
            return host
        if host not in self.hosts():
            raise Refused(421, f"this server does not answer to Host {host[:80]!r}; "
                               f"open it as http://127.0.0.1:{self.port}/")
        return host

    def check_origin(self, headers, host: str) -> None:
        """Refused(403) unless Origin (if any) is this server's own or allowed, and Sec-Fetch-Site agrees."""
        origin = headers.get("origin")
        if origin is not None:
            try:
                origin = normalize_origin(origin)
            except ValueError:
                origin = origin.strip().lower()
            if origin in self.allow_origins:
                return
            if origin not in (f"http://{host}", f"https://{host}"):
                raise Refused(403, f"requests from {origin[:80]!r} are not accepted here "
                                   "(start the server with --allow-origin to embed it in another site)")
        if headers.get("sec-fetch-site", "same-origin").lower() not in ("same-origin", "none"):
            raise Refused(403, "requests from other sites are not accepted here")

    def check(self, headers, state_changing: bool = True) -> None:
        """Host on every request; Origin too on one that changes state (POST, DELETE, a WebSocket)."""
        host = self.check_host(headers)
        if state_changing:
            self.check_origin(headers, host)


def scope_headers(scope) -> dict[str, str]:
    """The headers of an ASGI scope (HTTP or WebSocket) as a dict of lower-case names to text."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}


def check_scope(rules: OriginRules, scope) -> None:
    """Apply `rules` to an ASGI HTTP or WebSocket scope; raises Refused. A WebSocket always counts as changing
    state (browsers let any page open one to any address)."""
    changing = scope["type"] == "websocket" or scope.get("method", "GET").upper() not in SAFE_METHODS
    rules.check(scope_headers(scope), changing)
