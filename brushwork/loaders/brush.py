"""`.brush` files: a learned style — its paintings plus LapStyle networks fine-tuned on them — in one file.

A .brush is a safetensors file: `style.N` (uint8 CHW paintings, <= 512 px), `draft.*` (optional) and
`rev1.*`, `rev2.*` ... network weights (fp16), with JSON metadata. Any method can use its paintings as the
style; LapStyle also uses its networks.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import BrushworkError

FORMAT = "brushwork-brush"
SUFFIX = ".brush"


@dataclass
class Brush:
    name: str
    paintings: list[torch.Tensor]  # (1, 3, H, W) float in [0, 1]
    draft: dict | None = None
    revisions: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def is_brush(ref) -> bool:
    return isinstance(ref, (str, Path)) and str(ref).lower().endswith(SUFFIX)


def save_brush(brush: Brush, path: str | Path) -> Path:
    """Write a .brush file (atomically), with the mode an image gets (0644 under the usual umask: safetensors'
    own writer makes its files 0600)."""
    from safetensors.torch import save

    path = Path(path)
    tensors = {f"style.{i}": (p[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8).contiguous()
               for i, p in enumerate(brush.paintings)}
    if brush.draft:
        tensors.update({f"draft.{k}": v.half().contiguous() for k, v in brush.draft.items()})
    for i, rev in enumerate(brush.revisions, 1):
        tensors.update({f"rev{i}.{k}": v.half().contiguous() for k, v in rev.items()})
    meta = {"format": FORMAT, "version": "1", "name": brush.name, "paintings": str(len(brush.paintings)),
            "revisions": str(len(brush.revisions)), "draft": str(bool(brush.draft)), "info": json.dumps(brush.meta)}
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(save(tensors, metadata=meta))  # a few MB; an ordinary open() honours the umask
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_brush(path: str | Path) -> Brush:
    """Read a .brush file; a clear error if it is not one."""
    from safetensors import safe_open

    path = Path(path).expanduser()
    if not path.is_file():
        raise BrushworkError(f"no such file: {path}")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise BrushworkError(f"{path} is not a brushwork .brush file")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except BrushworkError:
        raise
    except Exception as exc:  # safetensors raises several kinds for damaged files
        raise BrushworkError(f"{path} could not be read as a .brush file ({exc})") from None
    paintings = [tensors[f"style.{i}"].float()[None] / 255 for i in range(int(meta["paintings"]))]
    draft = {k[6:]: v.float() for k, v in tensors.items() if k.startswith("draft.")} or None
    revisions = [{k[len(f"rev{i}."):]: v.float() for k, v in tensors.items() if k.startswith(f"rev{i}.")}
                 for i in range(1, int(meta["revisions"]) + 1)]
    return Brush(meta["name"], paintings, draft, revisions, json.loads(meta.get("info", "{}")))
