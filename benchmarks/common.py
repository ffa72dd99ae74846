"""Helpers shared by the benchmark scripts: per-config subprocesses, machine description, BENCHMARKS.md sections."""
from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    """One line describing this machine and software (see brushwork.evaluation.machine)."""
    from brushwork.evaluation.machine import describe, machine_info

    return describe(machine_info())


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(script: Path, args: list[str], timeout: int = 3600) -> dict:
    """Run `script --child ARGS` in a fresh process (so peak RSS is per configuration); parse its JSON line."""
    proc = subprocess.run([sys.executable, str(script), "--child", *args], capture_output=True, text=True,
                          timeout=timeout)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}


def write_section(name: str, markdown: str, path: Path = ROOT / "BENCHMARKS.md") -> None:
    """Replace (or append) the section between <!-- bench:NAME --> markers in BENCHMARKS.md."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
