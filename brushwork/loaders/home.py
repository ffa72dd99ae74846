"""Where brushwork keeps its cache (converted encoder weights): $BRUSHWORK_HOME or ~/.cache/brushwork."""
import os
from pathlib import Path


def home() -> Path:
    """The cache folder, created on first use."""
    path = Path(os.environ.get("BRUSHWORK_HOME") or Path.home() / ".cache" / "brushwork").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
