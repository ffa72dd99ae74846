"""The Ray engine: actors that load the model once and paint many inputs; a dead actor's jobs go to the others."""
from __future__ import annotations

import logging
from collections import deque

from ..errors import BrushworkError
from .jobs import Job
from .local import cores, failed_record
from .worker import Painter

MAX_ATTEMPTS = 3
DEPTH = 2  # jobs queued per actor, so it starts the next as soon as one is done


class PainterActor:
    """A Ray actor around one Painter (wrapped with ray.remote at run time, so Ray stays an optional extra)."""

    def __init__(self, request: dict, threads: int):
        self.painter = Painter(request, threads)

    def info(self) -> dict:
        return self.painter.info()

    def run(self, job: Job) -> dict:
        return self.painter.run(job)


def import_ray():
    """The ray module, or a clear error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise BrushworkError("--engine ray needs Ray: pip install 'brushwork[ray]'") from None
    return ray


def connect(address: str | None) -> bool:
    """Join the Ray cluster at `address`, or start a local instance (loopback, no dashboard); True if we started it."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        else:
            ray.init(num_cpus=cores(), include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise BrushworkError(f"cannot reach Ray at {address or 'a new local instance'} ({exc})") from None
    return True


def run_ray(jobs: list[Job], request: dict, emit, workers: int | None = None, threads: int | None = None,
            address: str | None = None) -> None:
    """Paint `jobs` on Ray actors (each `threads` CPUs; default: as many 1-CPU actors as the cluster has CPUs).

    Each actor has up to DEPTH jobs queued. When an actor dies its jobs are put back at the head of the queue
    for the other actors, and a replacement actor is started; a job whose actor died MAX_ATTEMPTS times fails.
    The worker never writes an output that an earlier attempt already renamed into place (see Painter.run).
    """
    ray = import_ray()
    started = connect(address)
    threads = threads or 1
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1) // threads))
    remote = ray.remote(num_cpus=threads, max_restarts=0, max_task_retries=0)(PainterActor)
    actors = [remote.remote(request, threads) for _ in range(workers)]
    generation = [0] * workers
    queue = deque(jobs)
    inflight: dict = {}  # ObjectRef -> (job, actor slot, generation)
    load = [0] * workers

    def fill(slot: int) -> None:
        while queue and load[slot] < DEPTH:
            job = queue.popleft()
            inflight[actors[slot].run.remote(job)] = (job, slot, generation[slot])
            load[slot] += 1

    try:
        for slot in range(workers):
            fill(slot)
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                job, slot, gen = inflight.pop(ref)
                if gen == generation[slot]:
                    load[slot] -= 1
                try:
                    emit(ray.get(ref))
                except ray.exceptions.RayActorError:
                    if gen == generation[slot]:  # first news of this actor's death: replace it
                        ray.kill(actors[slot], no_restart=True)
                        actors[slot] = remote.remote(request, threads)
                        generation[slot] += 1
                        load[slot] = 0
                    job.attempt += 1
                    if job.attempt > MAX_ATTEMPTS:
                        emit(failed_record(job, f"Ray worker died {MAX_ATTEMPTS} times while on this input"))
                    else:
                        queue.appendleft(job)
                except ray.exceptions.RayError as exc:
                    emit(failed_record(job, f"{type(exc).__name__}: {exc}"))
            for slot in range(workers):
                fill(slot)
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if started:
            ray.shutdown()
