"""Settings of the HTTP server: bind address, token, pool and queue sizes, limits and time-outs, in one place."""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, fields

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
    max_job_bytes: int = 2048 * MB   # files of finished jobs on disk (past it the oldest go first)
    upload_budget: int = 1024 * MB   # bytes of request bodies being received and spooled at once
    body_timeout: float = 30.0       # seconds a whole body may take to arrive, plus its size / min_upload_rate
    min_upload_rate: float = 1 * MB  # bytes per second a large upload is allowed on top of body_timeout
    job_time_limit: float = 1800.0   # seconds a job may run (then it fails with that reason)
    memory_budget: int | None = None  # bytes all admitted work may need at once (None: memory free at start)
    max_iterations: int = 1000   # optimize's iterations at the first scale
    max_style_scale: float = 4.0  # style_scale in [1 / max_style_scale, max_style_scale]
    max_video_frames: int = 3000
    max_video_seconds: float = 120.0
    max_video_pixels: int = 3840 * 2160  # input resolution of a clip (width x height)
    allow_origins: tuple[str, ...] = ()  # other sites whose pages may use this server (embedding)

    @property
    def image_body(self) -> int:
        """Largest body of POST /v1/stylize: a few pictures (each also held to max_image_bytes) and the fields."""
        return 4 * self.max_image_bytes + MB

    @property
    def job_body(self) -> int:
        """Largest body of POST /v1/jobs: a clip or a photo, plus the styles and masks."""
        return self.max_video_bytes + self.image_body

    def body_deadline(self, length: int | None) -> float:
        """Seconds a body of `length` bytes (None: unknown) may take to arrive in whole."""
        return self.body_timeout + (length or 0) / self.min_upload_rate

    def check(self) -> "Settings":
        """Refuse to serve beyond loopback without a token, and nonsense sizes."""
        if self.workers < 1 or self.queue_size < 0:
            raise BrushworkError("--workers must be at least 1 and --queue-size at least 0")
        if not is_loopback(self.host) and not self.token:
            raise BrushworkError(f"binding to {self.host} (not loopback) needs a token: pass --token or set {TOKEN_ENV}")
        from .origins import normalize_origin

        try:
            self.allow_origins = tuple(normalize_origin(o) for o in self.allow_origins)
        except ValueError as exc:
            raise BrushworkError(f"--allow-origin: {exc}") from None
        numbers = {k: v for k, v in vars(self).items() if isinstance(v, (int, float)) and k not in ("port",)}
        bad = [k for k, v in numbers.items() if v is not None and v < 0]
        if bad or self.max_style_scale < 1 or self.min_upload_rate <= 0:
            raise BrushworkError(f"server limit {(bad or ['max_style_scale/min_upload_rate'])[0]} is out of range")
        return self

    def set_limit(self, text: str) -> None:
        """Apply one `NAME=VALUE` override of a limit (the CLI's --limit), typed as the field is."""
        name, sep, value = text.partition("=")
        name = name.strip().replace("-", "_")
        limits = [f.name for f in fields(self) if f.name not in ("host", "port", "token", "allow_origins")]
        if not sep or name not in limits:
            raise BrushworkError(f"--limit takes NAME=VALUE with NAME one of {', '.join(limits)}; got {text!r}")
        current = getattr(self, name)
        try:
            setattr(self, name, float(value) if isinstance(current, float) else int(float(value)))
        except ValueError:
            raise BrushworkError(f"--limit {name}: {value!r} is not a number") from None


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; any other address is reachable from elsewhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
