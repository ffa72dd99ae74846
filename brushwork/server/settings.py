"""Settings of the HTTP server: bind address, token, pool and queue sizes, limits and time-outs, in one place."""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from ..errors import BrushworkError

TOKEN_ENV = "BRUSHWORK_TOKEN"
MB = 1024 * 1024


@dataclass
class Settings:
    """Everything `create_app` needs; the CLI fills it from its options."""
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = field(default_factory=lambda: os.environ.get(TOKEN_ENV) or None)
    workers: int = 2            # stylizations running at once
    queue_size: int = 8         # accepted and waiting; beyond workers + queue_size: 503 + Retry-After
    timeout: float = 120.0      # seconds a synchronous request may take (queue wait included): then 504
    read_timeout: float = 30.0  # seconds a client may stall while sending its body: then 408
    job_ttl: float = 3600.0     # seconds a finished job (and its files) is kept
    max_image_bytes: int = 25 * MB
    max_video_bytes: int = 500 * MB
    max_size: int = 2048        # long side allowed for a synchronous request
    max_job_size: int = 4096    # long side allowed for a job
    max_styles: int = 4
    max_jobs: int = 64          # jobs remembered at once (finished ones past it are dropped, oldest first)

    def check(self) -> "Settings":
        """Refuse to serve beyond loopback without a token, and nonsense sizes."""
        if self.workers < 1 or self.queue_size < 0:
            raise BrushworkError("--workers must be at least 1 and --queue-size at least 0")
        if not is_loopback(self.host) and not self.token:
            raise BrushworkError(f"binding to {self.host} (not loopback) needs a token: pass --token or set {TOKEN_ENV}")
        return self


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; any other address is reachable from elsewhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
