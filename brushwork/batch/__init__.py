"""Batch work: many photos (and videos) x styles on local worker processes or Ray actors; resumable, with a manifest."""
from .runner import BatchSettings, Summary, run_batch

__all__ = ["BatchSettings", "Summary", "run_batch"]
