"""precision="auto": bf16 only where oneDNN computes it natively."""
import os
import subprocess
import sys

import pytest

from brushwork.core.precision import native_bf16

PROBE = """
import time, torch
from brushwork.core.precision import resolve
torch.set_num_threads(1)
conv, x = torch.nn.Conv2d(32, 32, 3, padding=1), torch.rand(1, 32, 96, 96)
times = {}
for dt in (torch.float32, torch.bfloat16):
    c, xx = conv.to(dt), x.to(dt)
    with torch.no_grad():
        c(xx)
        t = time.perf_counter()
        c(xx)
    times[dt] = time.perf_counter() - t
print(resolve("auto"), times[torch.bfloat16] / times[torch.float32])
"""


def probe(**env) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    return out[0], float(out[1])


def test_a_cap_below_bf16_makes_auto_fp32():
    """Capped at AVX2 (as an AVX2-only CPU is), oneDNN emulates bf16 (convs several times slower than fp32) and
    auto picks fp32."""
    choice, ratio = probe(ONEDNN_MAX_CPU_ISA="AVX2")
    assert choice == "fp32"
    assert ratio > 3


@pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bf16")
def test_native_bf16_is_chosen_and_fast():
    choice, ratio = probe()
    assert choice == "bf16"
    assert ratio < 1.5
