"""A bounded worker pool with a bounded queue, and the job records behind /v1/jobs (progress, ETA, TTL).

Admission is a semaphore of workers + queue_size slots, taken before a request's body is read (uploads in
flight count), and a memory budget over the estimates of all admitted work: a request that does not fit is
refused at once (the caller answers 503 + Retry-After) instead of piling work up. A job stops at its time limit.
Finished jobs and their files are deleted after a time-to-live, and past a count and a size on disk, by `sweep`.
"""
from __future__ import annotations

import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
log = logging.getLogger("brushwork.server")
PATH = re.compile(r"(?<![\w.~-])(?:/[^/\s'\"():,]+){2,}/?")  # an absolute path of two parts or more


class Full(Exception):
    """No free slot in the pool (or not enough memory for more work); `retry_after` is a hint in seconds."""

    def __init__(self, retry_after: int, why: str = "the server is busy"):
        super().__init__(why)
        self.retry_after = retry_after


class Cancelled(Exception):
    """Raised inside a running job (through its progress callback) once it is cancelled."""


class TimeLimit(Exception):
    """Raised inside a running job (through its progress callback) once it has run past its time limit."""


class Slot:
    """One of the pool's places (workers + queue), held from before a request's body is read until its job ends."""

    def __init__(self, semaphore: threading.BoundedSemaphore):
        self._semaphore, self._held, self._lock = semaphore, True, threading.Lock()
        self.owner: "Job | None" = None  # the job that now holds it (and gives it back when it ends)

    def release(self) -> None:
        """Give the place back (once; later calls do nothing)."""
        with self._lock:
            held, self._held = self._held, False
        if held:
            self._semaphore.release()


@dataclass
class Job:
    """One unit of work: its state, progress in [0, 1], timing, result file or error, its own temp folder, the
    slot and memory it holds, and the secret that reads or deletes it on a server with a token."""
    id: str
    kind: str
    folder: Path
    slot: Slot | None = None
    memory: float = 0.0  # bytes of memory admitted for it (estimated before any work)
    time_limit: float | None = None
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    state: str = QUEUED
    progress: float = 0.0
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    result: Path | bytes | None = None
    media_type: str = "application/octet-stream"
    bytes: int = 0  # size of its files on disk once finished
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None

    def report(self, fraction: float) -> None:
        """Progress callback for the work: records progress; stops the work if the job was cancelled or has run
        past its time limit."""
        if self.cancel.is_set():
            raise Cancelled()
        if self.time_limit and self.started and time.time() - self.started > self.time_limit:
            raise TimeLimit()
        self.progress = max(self.progress, min(1.0, float(fraction)))

    def eta(self) -> float | None:
        """Seconds left, extrapolated from the progress so far (None until there is some)."""
        if self.state != RUNNING or not self.started or self.progress <= 0.01:
            return None
        spent = time.time() - self.started
        return round(spent * (1 - self.progress) / self.progress, 1)

    def public(self) -> dict:
        """What GET /v1/jobs/{id} answers."""
        return {"id": self.id, "kind": self.kind, "state": self.state, "progress": round(self.progress, 3),
                "eta_s": self.eta(), "error": self.error, "created": self.created, "finished": self.finished}


class Pool:
    """Runs work on `workers` threads with at most `queue_size` more waiting; keeps job records for a TTL, at most
    `max_jobs` of them and `max_bytes` of their files; admits work while its memory estimates fit `memory`."""

    def __init__(self, workers: int, queue_size: int, ttl: float, max_jobs: int = 64, max_bytes: float = float("inf"),
                 memory: float = float("inf"), time_limit: float | None = None):
        self.workers, self.ttl, self.max_jobs, self.max_bytes = workers, ttl, max_jobs, max_bytes
        self.memory, self.time_limit = memory, time_limit
        self.slots = threading.BoundedSemaphore(workers + queue_size)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="brushwork-worker")
        self.root = Path(tempfile.mkdtemp(prefix="brushwork-server-"))
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.admitted = 0.0  # bytes of memory the queued and running jobs are expected to need
        self.recent: list[float] = []  # durations of the last runs, for Retry-After

    def retry_after(self) -> int:
        """A Retry-After hint: the typical run time times the number of waves ahead, at least 1 s."""
        typical = sorted(self.recent)[len(self.recent) // 2] if self.recent else 1.0
        return max(1, round(typical * 2))

    def reserve(self) -> Slot:
        """A place in the pool, taken now (before the request's body is read); raises Full if none is free."""
        if not self.slots.acquire(blocking=False):
            raise Full(self.retry_after())
        return Slot(self.slots)

    def new_job(self, kind: str, slot: Slot | None = None) -> Job:
        """A job record with its own temp folder, holding `slot` (or a new one: Full if none is free) until done."""
        slot = slot or self.reserve()
        job = Job(id=uuid.uuid4().hex, kind=kind, folder=Path(tempfile.mkdtemp(dir=self.root)), slot=slot,
                  time_limit=self.time_limit)
        slot.owner = job
        with self.lock:
            self.jobs[job.id] = job
        return job

    def admit(self, job: Job, need: float) -> None:
        """Count `need` bytes of memory for the job alongside the work already admitted; Full if they do not fit
        now (they will once some work ends), a ValueError if they never could."""
        if need > self.memory:
            raise ValueError(f"this work needs about {need / 2**30:.1f} GiB of memory, more than the "
                             f"{self.memory / 2**30:.1f} GiB this server gives all its work; ask for a smaller size")
        with self.lock:
            if self.admitted + need > self.memory:
                raise Full(self.retry_after(), "the server's memory is taken by the work it is running")
            self.admitted += need
            job.memory = need

    def _free(self, job: Job) -> None:
        """Give back what a job held: its memory share and its slot."""
        with self.lock:
            self.admitted, job.memory = max(0.0, self.admitted - job.memory), 0.0
        if job.slot is not None:
            job.slot.release()

    def start(self, job: Job, work) -> Future:
        """Run work(job) on a worker; work returns (result bytes or file, media_type). The slot is freed when it ends.
        A failure is logged here with its traceback; the job keeps a one-line reason for the client."""
        def run():
            t0 = time.time()
            try:
                if job.cancel.is_set():
                    raise Cancelled()
                job.state, job.started = RUNNING, t0
                job.result, job.media_type = work(job)
                job.state, job.progress = DONE, 1.0
                return job.result, job.media_type
            except Cancelled:
                job.state = CANCELLED
                raise
            except TimeLimit:
                job.state, job.error = FAILED, f"the job ran past this server's time limit of {self.time_limit:g} s"
                log.warning("job %s (%s) stopped: over its time limit of %g s", job.id, job.kind, self.time_limit)
                raise
            except BaseException as exc:
                job.state, job.error = FAILED, reason(exc)
                if _is_user_error(exc):
                    log.info("job %s (%s) refused: %s", job.id, job.kind, exc)
                else:
                    log.error("job %s (%s) failed", job.id, job.kind, exc_info=exc)
                raise
            finally:
                job.finished = time.time()
                job.bytes = _disk_bytes(job.folder)
                self.recent = (self.recent + [job.finished - t0])[-20:]
                self._free(job)
                if job.cancel.is_set():
                    self.drop(job.id)
                self.sweep()  # the caps on count and bytes hold as soon as a job adds its files

        job.future = self.executor.submit(run)
        return job.future

    def abandon(self, job: Job) -> None:
        """Give back the slot of a job that was never started (its request failed its checks)."""
        self._free(job)
        self.drop(job.id)

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Ask a job to stop; a finished or queued one is deleted now, a running one when it next reports."""
        job = self.get(job_id)
        if job is None:
            return None
        job.cancel.set()
        if job.state in (DONE, FAILED, CANCELLED) or (job.future is not None and job.future.cancel()):
            if job.state == QUEUED:  # never started: the slot is still held
                job.state = CANCELLED
                self._free(job)
            self.drop(job_id)
        return job

    def drop(self, job_id: str) -> None:
        """Forget a job and delete its files."""
        with self.lock:
            job = self.jobs.pop(job_id, None)
        if job is not None:
            shutil.rmtree(job.folder, ignore_errors=True)

    def sweep(self, now: float | None = None) -> int:
        """Delete finished jobs older than the TTL, then the oldest while more than max_jobs are kept or their
        files take more than max_bytes (the newest stays); returns how many went."""
        now = now or time.time()
        with self.lock:
            finished = sorted((j for j in self.jobs.values() if j.finished), key=lambda j: j.finished)
            count = len(self.jobs)
        gone = []
        kept_bytes = sum(j.bytes for j in finished)
        for i, j in enumerate(finished):
            newest = i == len(finished) - 1  # kept past max_bytes (its owner has yet to fetch it) until its TTL
            if (now - j.finished > self.ttl or count - len(gone) > self.max_jobs
                    or (kept_bytes > self.max_bytes and not newest)):
                gone.append(j)
                kept_bytes -= j.bytes
        for j in gone:
            self.drop(j.id)
        return len(gone)

    def close(self) -> None:
        """Stop the workers (running work is asked to stop) and delete every temp file."""
        for job in list(self.jobs.values()):
            job.cancel.set()
        self.executor.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)


def reason(exc: BaseException) -> str:
    """The one line a client is told about a failure: the message of a user error (server paths reduced to file
    names), the kind of an unexpected one (its traceback is in the server's log)."""
    if not _is_user_error(exc):
        return f"internal error ({type(exc).__name__}); the traceback is in the server's log"
    return scrub(str(exc))


def scrub(text: str) -> str:
    """`text` on one line with any file-system path reduced to its last part."""
    first = (text.strip().splitlines() or [""])[0]
    return PATH.sub(lambda m: Path(m.group(0).rstrip("/")).name or "file", first)


def _disk_bytes(folder: Path) -> int:
    """Bytes of the files under folder."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def _is_user_error(exc: BaseException) -> bool:
    from ..errors import BrushworkError

    return isinstance(exc, BrushworkError)
