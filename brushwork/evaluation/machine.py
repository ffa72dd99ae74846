"""What a measurement ran on (CPU, cores, RAM, torch, date): printed next to every timing we publish."""
from __future__ import annotations

import datetime as _dt
import os
import platform


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else whatever `platform` knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_info() -> dict:
    """A flat, JSON-friendly description of this machine and software, stamped with the local time."""
    import psutil
    import torch

    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {
        "cpu": cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load_1min": load,
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def describe(info: dict) -> str:
    """One line for Markdown or a caption: CPU, cores, RAM, torch, date."""
    return (f"{info['cpu']}, {info['cores_logical']} logical cores ({info['torch_threads']} torch threads), "
            f"{info['ram_gb']} GB RAM, torch {info['torch']}, Python {info['python']}, {info['os']}, "
            f"load {info['load_1min']}, {info['date']}")
