"""Feed-forward networks (plain torch.nn.Modules) trained by brushwork on its VGG16 encoder."""

from pathlib import Path

import torch


def load_weights(net: torch.nn.Module, source) -> torch.nn.Module:
    """Load a safetensors file (or an already loaded state dict) into `net`, as fp32."""
    from safetensors.torch import load_file

    from ..errors import BrushworkError

    if not isinstance(source, dict):
        if not Path(source).is_file():
            raise BrushworkError(f"weights missing: {source}")
        source = load_file(str(source))
    net.load_state_dict({k: v.float() for k, v in source.items()})
    return net


def for_inference(net: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """`net` in `dtype`, channels_last, eval mode, frozen: the fast CPU inference layout."""
    return net.to(dtype).to(memory_format=torch.channels_last).eval().requires_grad_(False)
