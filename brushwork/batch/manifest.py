"""The batch manifest: OUTDIR/manifest.jsonl, one JSON line per finished, skipped or failed item (append-only)."""
from __future__ import annotations

import json
import os
from pathlib import Path

NAME = "manifest.jsonl"


class Manifest:
    """Append-only JSONL log; each line is flushed and fsynced so a crash or Ctrl-C loses no finished item."""

    def __init__(self, outdir: Path):
        self.path = Path(outdir) / NAME
        self._f = None

    def append(self, record: dict) -> None:
        if self._f is None:
            self._f = open(self.path, "a", encoding="utf-8")
        self._f.write(json.dumps(record, sort_keys=True) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def latest(self) -> dict[str, dict]:
        """The last record per output path (what a re-run knows about earlier runs)."""
        return {r["output"]: r for r in read(self.path)}


def read(path: Path) -> list[dict]:
    """All records of a manifest file (a torn last line from a killed run is ignored)."""
    path = Path(path)
    if path.is_dir():
        path = path / NAME
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
