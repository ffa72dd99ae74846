"""CLI commands `brushwork evaluate` and `brushwork evaluate-serve` (registered in `brushwork.cli`)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import BrushworkError


def parse_sets(items: list[str] | None) -> dict[str, dict]:
    """["optimize.iterations=20", ...] -> {"optimize": {"iterations": 20}}; values read as JSON if they parse."""
    from ..evaluation.runner import parse_value

    out: dict[str, dict] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        method, dot, option = key.strip().partition(".")
        if not (sep and dot and method and option):
            raise BrushworkError(f"--set takes METHOD.OPTION=VALUE, e.g. optimize.iterations=20; got {item!r}")
        out.setdefault(method, {})[option.replace("-", "_")] = parse_value(value)
    return out


def parse_sizes(text: str) -> list[int]:
    """"128,256,512" -> [128, 256, 512]; "" or "none" -> []."""
    if text.strip().lower() in ("", "none", "0"):
        return []
    try:
        sizes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BrushworkError(f"sizes must be whole numbers separated by commas, got {text!r}") from None
    if any(s < 16 for s in sizes):
        raise BrushworkError(f"sizes must be at least 16 px, got {text!r}")
    return sizes


def parse_strengths(text: str) -> list[float]:
    """"0,0.25,0.5" -> [0.0, 0.25, 0.5]."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BrushworkError(f"--strength-sweep takes numbers separated by commas, got {text!r}") from None


def evaluate_command(
    methods: str = typer.Option("lapstyle,adain,optimize", help="Methods to compare, separated by commas ('none': only score --outputs); a variant "
                                                       "takes options after @, e.g. adain@strength=0.5."),
    content: Optional[Path] = typer.Option(None, "--content", help="Folder of photos (default: built-in samples)."),
    style: Optional[Path] = typer.Option(None, "--style", help="Folder of style images (default: 3 built-in styles)."),
    output: Path = typer.Option(..., "--output", "-o", help="Report folder (created; reused when it exists)."),
    size: int = typer.Option(256, help="Long side of every result in pixels."),
    force: bool = typer.Option(False, help="Recompute results that are already in the report."),
    timing_sizes: str = typer.Option("128,256,512", help="Also time each method on one pair at these sizes "
                                                         "(for the time-vs-resolution chart); 'none' to skip."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Method option, e.g. optimize.iterations=20."),
    outputs: Optional[List[str]] = typer.Option(None, "--outputs", help="LABEL=DIR of another tool's results, named "
                                                "<photo stem>__<style stem>.<ext>, scored beside the methods."),
    strength_sweep: Optional[str] = typer.Option(None, "--strength-sweep", help="Strengths, e.g. 0,0.25,0.5,0.75,1: "
                                                 "run every method at each and chart content loss vs strength."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Run METHODS on every photo x style pair and write an HTML report with metrics and charts."""
    from ..evaluation.runner import evaluate

    result = evaluate(methods, content, style, output, size=size, force=force, options=parse_sets(set_),
                      timing_sizes=parse_sizes(timing_sizes), progress=not quiet, outputs=outputs,
                      strength_sweep=parse_strengths(strength_sweep) if strength_sweep else None)
    for note in result["notes"]:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"{result['ran']} run(s), {result['skipped']} reused; report: {result['report']}", err=True)


def serve_command(
    report_dir: Path = typer.Argument(..., metavar="REPORT_DIR", show_default=False,
                                      help="A folder written by `brushwork evaluate`."),
    port: int = typer.Option(8000, metavar="PORT", help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", metavar="ADDRESS", help="Address to listen on."),
):
    """Serve a report and save the votes cast on its rate page into REPORT_DIR/votes.jsonl (one vote a line)."""
    from ..evaluation.votes import make_server

    server = make_server(report_dir, port, host)
    h, p = server.server_address[:2]
    typer.echo(f"serving {report_dir} at http://{h}:{p}/  (rate: http://{h}:{p}/rate.html); Ctrl-C stops", err=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
