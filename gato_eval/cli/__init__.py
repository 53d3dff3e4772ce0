"""The `gato-eval` command line: Typer sub-apps only, each command calls one library function.

Heavy modules (torch, simulators, Ray) are imported inside command bodies so that
`gato-eval --help` starts fast and imports no simulator.

PLAIN_HELP: every Typer app here sets `rich_markup_mode=None`. Typer's rich help reads help
text as rich markup (`pip install "gato-eval[ray]"` lost its `[ray]`) and shows a `<bool>`
value placeholder after flags (so users typed `--resume true`); the plain help prints the text
as written and flags as flags. tests/cli/test_help.py renders every page to keep it so.
"""

from __future__ import annotations

import os
import sys

import typer

from gato_eval import __version__
from gato_eval.cli.data import data_app
from gato_eval.cli.finetune import finetune_ablation
from gato_eval.cli.ls import ls_app
from gato_eval.cli.plot import plot_app
from gato_eval.cli.report import report
from gato_eval.cli.run import run_app
from gato_eval.cli.train import train
from gato_eval.core.errors import GatoEvalError

app = typer.Typer(
    name="gato-eval",
    help="Evaluate Gato-style generalist agents on Atari, DeepMind Control, Meta-World and BabyAI, "
    "scored and plotted the way the paper did.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # see PLAIN_HELP
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"gato-eval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_print_version,
        is_eager=True,
    ),
) -> None:
    """Evaluate Gato-style generalist agents the way the paper did."""


app.add_typer(run_app, name="run")
app.add_typer(plot_app, name="plot")
app.add_typer(data_app, name="data")
app.add_typer(ls_app, name="ls")
app.command("train")(train)
app.command("finetune-ablation")(finetune_ablation)
app.command("report")(report)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: every error a user can cause is one line and a non-zero exit.

    Usage errors (unknown command, bad option) exit with 2, `GatoEvalError` with its own code
    (1 by default). Other exceptions are bugs and keep their traceback.
    """
    from typer._click import exceptions as click  # Typer vendors click

    # dm_control and metaworld pick their OpenGL backend at import time; headless EGL unless the
    # user chose another (osmesa where EGL is missing).
    os.environ.setdefault("MUJOCO_GL", "egl")
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="gato-eval", standalone_mode=False)
    except click.NoArgsIsHelpError as err:
        typer.echo(err.format_message())  # plain help (PLAIN_HELP) travels in the exception
        sys.exit(0)  # a bare group prints its help: that is what it is for
    except click.UsageError as err:
        where = err.ctx.command_path if err.ctx is not None else "gato-eval"
        _fail(f"{err.format_message()} (see '{where} --help')", 2)
    except click.ClickException as err:
        _fail(err.format_message(), err.exit_code)
    except typer.Abort:  # typer 0.29 vendors click without Abort; typer has its own
        _fail("aborted", 130)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except GatoEvalError as err:
        _fail(str(err), err.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    # One line on stderr, however the message was built.
    typer.echo("error: " + " ".join(str(message).split()), err=True)
    sys.exit(code)
