"""Which precision is fast here: bf16 only where it is computed natively (AVX-512 BF16 or AMX CPUs, CUDA).

Elsewhere (an AVX2-only CPU) PyTorch emulates bf16 and a conv runs 10-100x slower than in fp32, so the
methods' and the trainer's default, "auto", picks fp32 there.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch

PRECISIONS = ("auto", "bf16", "fp32")


BF16_ISAS = ("BF16", "AMX", "FP16", "AVX10", "ALL")  # oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) that keep bf16 native


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this machine's CPU has bf16 instructions (avx512_bf16 or amx_bf16 in /proc/cpuinfo) that oneDNN may
    use: a cap below them (ONEDNN_MAX_CPU_ISA=AVX2, as on an AVX2-only CPU) makes bf16 convs emulated, 100x slower."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if cap and not any(isa in cap for isa in BF16_ISAS):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve(precision: str = "auto", device: str = "cpu") -> str:
    """"bf16" or "fp32": auto means bf16 where it is native (or on CUDA), fp32 elsewhere."""
    if precision != "auto":
        return precision
    return "bf16" if device == "cuda" or native_bf16() else "fp32"


def dtype(precision: str = "auto", device: str = "cpu") -> torch.dtype:
    """The torch dtype of a (resolved) precision."""
    return torch.bfloat16 if resolve(precision, device) == "bf16" else torch.float32
