"""Start the real `brushwork serve` in a subprocess on a free loopback port, for the server and page tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(*args: str, tmp=None, token: str | None = None, startup: float = 180.0):
    """Yield (base_url, Popen) of a live server; stops it (by its own pid) afterwards."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    log = open(os.path.join(str(tmp) if tmp else "/tmp", f"server-{port}.log"), "w")
    proc = subprocess.Popen([sys.executable, "-m", "brushwork.cli", "serve", "--port", str(port), *args],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log_path = log.name  # what the server printed: its request lines and job failures
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + startup
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}; see {log.name}")
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline:
                raise RuntimeError("server did not start in time")
            time.sleep(0.3)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
