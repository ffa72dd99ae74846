"""A bounded worker pool with a bounded queue, and the job records behind /v1/jobs (progress, ETA, TTL).

Admission is a semaphore of workers + queue_size slots: a request that finds no free slot is refused at once
(the caller answers 503 + Retry-After) instead of piling work up in memory. Finished jobs and their files are
deleted after a time-to-live by `sweep`, which the app runs periodically.
"""
from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


class Full(Exception):
    """No free slot in the pool; `retry_after` is a hint in seconds."""

    def __init__(self, retry_after: int):
        super().__init__("the server is busy")
        self.retry_after = retry_after


class Cancelled(Exception):
    """Raised inside a running job (through its progress callback) once it is cancelled or timed out."""


@dataclass
class Job:
    """One unit of work: its state, progress in [0, 1], timing, result file or error, and its own temp folder."""
    id: str
    kind: str
    folder: Path
    state: str = QUEUED
    progress: float = 0.0
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    result: Path | bytes | None = None
    media_type: str = "application/octet-stream"
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None

    def report(self, fraction: float) -> None:
        """Progress callback for the work: records progress, and stops the work if the job was cancelled."""
        if self.cancel.is_set():
            raise Cancelled()
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
    """Runs work on `workers` threads with at most `queue_size` more waiting; keeps job records for a TTL."""

    def __init__(self, workers: int, queue_size: int, ttl: float, max_jobs: int = 64):
        self.workers, self.ttl, self.max_jobs = workers, ttl, max_jobs
        self.slots = threading.BoundedSemaphore(workers + queue_size)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="brushwork-worker")
        self.root = Path(tempfile.mkdtemp(prefix="brushwork-server-"))
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.recent: list[float] = []  # durations of the last runs, for Retry-After

    def retry_after(self) -> int:
        """A Retry-After hint: the typical run time times the number of waves ahead, at least 1 s."""
        typical = sorted(self.recent)[len(self.recent) // 2] if self.recent else 1.0
        return max(1, round(typical * 2))

    def busy(self) -> bool:
        """True when no slot is free right now (a cheap pre-check before reading a request body)."""
        if self.slots.acquire(blocking=False):
            self.slots.release()
            return False
        return True

    def new_job(self, kind: str) -> Job:
        """A job record with its own temp folder; raises Full if no slot is free (the slot is held until done)."""
        if not self.slots.acquire(blocking=False):
            raise Full(self.retry_after())
        job = Job(id=uuid.uuid4().hex, kind=kind, folder=Path(tempfile.mkdtemp(dir=self.root)))
        with self.lock:
            self.jobs[job.id] = job
        return job

    def start(self, job: Job, work) -> Future:
        """Run work(job) on a worker; work returns (result bytes or file, media_type). The slot is freed when it ends."""
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
            except BaseException as exc:  # recorded for the client; routes decide what to show
                job.state, job.error = FAILED, str(exc) if _is_user_error(exc) else "internal error"
                raise
            finally:
                job.finished = time.time()
                self.recent = (self.recent + [job.finished - t0])[-20:]
                self.slots.release()
                if job.cancel.is_set():
                    self.drop(job.id)

        job.future = self.executor.submit(run)
        return job.future

    def abandon(self, job: Job) -> None:
        """Give back the slot of a job that was never started (its request failed its checks)."""
        self.slots.release()
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
                self.slots.release()
            self.drop(job_id)
        return job

    def drop(self, job_id: str) -> None:
        """Forget a job and delete its files."""
        with self.lock:
            job = self.jobs.pop(job_id, None)
        if job is not None:
            shutil.rmtree(job.folder, ignore_errors=True)

    def sweep(self, now: float | None = None) -> int:
        """Delete finished jobs older than the TTL (and the oldest beyond max_jobs); returns how many went."""
        now = now or time.time()
        with self.lock:
            finished = sorted((j for j in self.jobs.values() if j.finished), key=lambda j: j.finished)
        old = [j for j in finished if now - j.finished > self.ttl]
        extra = max(0, len(self.jobs) - len(old) - self.max_jobs)
        old += [j for j in finished if j not in old][:extra]
        for j in old:
            self.drop(j.id)
        return len(old)

    def close(self) -> None:
        """Stop the workers (running work is asked to stop) and delete every temp file."""
        for job in list(self.jobs.values()):
            job.cancel.set()
        self.executor.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _is_user_error(exc: BaseException) -> bool:
    from ..errors import BrushworkError

    return isinstance(exc, BrushworkError)
