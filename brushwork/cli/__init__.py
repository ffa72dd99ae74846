"""The `brushwork` command line: a thin layer over the Python API. Errors are one line on stderr, exit 2."""
from __future__ import annotations

import sys
import warnings

import typer

from ..errors import BrushworkError
from . import batch, evaluate, export, explain, serve, stylize, train, video, weights

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Paint any photo in the style of any artwork.")
app.add_typer(weights.weights_app, name="weights")
app.command()(stylize.stylize)
app.command()(stylize.styles)
app.command()(train.train)
app.command("evaluate")(evaluate.evaluate_command)
app.command("evaluate-serve")(evaluate.serve_command)
app.command("learn-style")(train.learn_style)
app.command("video")(video.video)
app.command("evaluate-video")(video.evaluate_video)
app.command()(serve.serve)
app.command("batch")(batch.batch_command)
app.command("export")(export.export)
app.command("export-style")(export.export_style)
app.command("explain")(explain.explain)


def _usage_error(exc: Exception) -> tuple[str, int] | None:
    """(one-line message, exit code) of a command-line usage error (typer's bundled click or click); else None."""
    message, code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
    if not callable(message) or not isinstance(code, int):
        return None
    text = " ".join(str(message()).split())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and type(exc).__name__ != "NoArgsIsHelpError":
        text += f" (see '{ctx.command_path} --help')"
    return text, code


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the CLI shows it: "brushwork: warning: ..." on one line, without Python's source line."""
    return f"brushwork: warning: {message}\n"


def main(argv: list[str] | None = None) -> None:
    """Console entry point: usage mistakes and BrushworkError -> one line on stderr, exit 2; Ctrl-C -> exit 130."""
    warnings.formatwarning = _one_line_warning
    try:
        rc = app(args=argv, prog_name="brushwork", standalone_mode=False)
    except BrushworkError as exc:
        typer.echo(f"brushwork: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("brushwork: interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("brushwork: aborted", err=True)
        sys.exit(1)
    except Exception as exc:
        usage = _usage_error(exc)
        if usage is None:
            raise
        text, code = usage
        if type(exc).__name__ == "NoArgsIsHelpError":  # `brushwork` alone: the help, as click prints it
            typer.echo(text if "\n" in str(exc.format_message()) else exc.format_message())
        else:
            typer.echo(f"brushwork: error: {text}", err=True)
        sys.exit(code)
    # standalone_mode=False returns (rather than raises) the exit code of typer.Exit, e.g. 0 after --help
    sys.exit(rc if isinstance(rc, int) else 0)
