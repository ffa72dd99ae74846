"""The local engine: a pool of worker processes, each with one model copy and its share of the cores."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .jobs import Job
from .worker import Painter

MAX_ATTEMPTS = 3
_PAINTER: Painter | None = None


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def split_cores(workers: int | None, threads: int | None) -> tuple[int, int]:
    """(workers, threads per worker) that together use the cores without oversubscribing them.

    Default: one worker per two cores (two threads each; measured faster per image than one thread each, and
    half the model copies in memory), at least one worker.
    """
    n = cores()
    if workers is None:
        workers = max(1, n // (threads or 2))
    return workers, threads or max(1, n // workers)


def _init(request: dict, threads: int) -> None:
    """Worker start: leave Ctrl-C to the parent, load the model once."""
    global _PAINTER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _PAINTER = Painter(request, threads)


def _run(job: Job) -> dict:
    return _PAINTER.run(job)


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop this pool's worker processes now (they are ours; outputs are renamed into place, so none is half-written)."""
    procs = list(getattr(pool, "_processes", {}).values())
    for proc in procs:
        if proc.is_alive():
            proc.kill()
    for proc in procs:
        proc.join(10)  # reaped: no zombie left behind
    pool.shutdown(wait=False, cancel_futures=True)


def failed_record(job: Job, error: str) -> dict:
    """The manifest record of a job that failed outside the painter (its worker died, or its result was lost)."""
    return {"input": job.input, "output": job.output, "styles": job.styles, "kind": job.kind, "status": "failed",
            "error": error, "seconds": None, "worker": None, "attempt": job.attempt}


def run_local(jobs: list[Job], request: dict, emit, workers: int | None = None, threads: int | None = None) -> None:
    """Paint `jobs` on worker processes, calling emit(record) as each finishes.

    At most `workers` jobs are in flight; when a worker process dies (killed, out of memory) the pool is
    rebuilt and its in-flight jobs are retried, up to MAX_ATTEMPTS each. Ctrl-C kills the workers and re-raises.
    """
    workers, threads = split_cores(workers, threads)
    queue = list(reversed(jobs))
    ctx = mp.get_context("spawn")  # no fork of a threaded torch parent
    while queue:
        pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(request, threads))
        inflight: dict = {}
        try:
            while queue or inflight:
                while queue and len(inflight) < workers:
                    job = queue.pop()
                    inflight[pool.submit(_run, job)] = job
                finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
                if any(isinstance(f.exception(), BrokenProcessPool) for f in finished):
                    wait(inflight)  # a worker died: every in-flight future settles, the pool is gone
                    finished = list(inflight)
                for fut in finished:
                    job = inflight.pop(fut)
                    exc = fut.exception()
                    if exc is None:
                        emit(fut.result())
                        continue
                    if not isinstance(exc, BrokenProcessPool):
                        emit(failed_record(job, f"{type(exc).__name__}: {exc}"))
                        continue
                    job.attempt += 1  # (a job in flight beside the one that killed its worker counts too)
                    if job.attempt > MAX_ATTEMPTS:
                        emit(failed_record(job, f"worker process died {MAX_ATTEMPTS} times while on this input"))
                    else:
                        queue.append(job)
                if not inflight and any(isinstance(f.exception(), BrokenProcessPool) for f in finished):
                    break
        except KeyboardInterrupt:
            _kill(pool)
            raise
        pool.shutdown(wait=True)
