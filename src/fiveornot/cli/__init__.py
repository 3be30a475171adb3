"""The `fiveornot` command line: a thin layer that parses, calls the library and prints.

Each command group lives in its own module; this file joins them and turns expected failures
(`FiveornotError`) into one line on stderr and a non-zero exit. `--debug` shows the traceback instead.
"""

import sys
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from fiveornot import __version__
from fiveornot.errors import FiveornotError


class _Group(TyperGroup):
    """Runs a command and reports the failures a user can fix as one line, not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FiveornotError as error:
            if _debug_requested(ctx):
                raise
            typer.echo(f"fiveornot: error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            if _debug_requested(ctx):
                raise
            typer.echo("fiveornot: interrupted", err=True)
            raise typer.Exit(130) from None
        except OSError as error:  # disk full, permission denied, ...: the system's own words are clear
            if _debug_requested(ctx):
                raise
            typer.echo(f"fiveornot: error: {error}", err=True)
            raise typer.Exit(1) from None


def _debug_requested(ctx) -> bool:
    root = ctx.find_root()
    return bool((root.params or {}).get("debug")) or "--debug" in sys.argv


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    help="Train, understand and use perceptrons on handwritten digits: is this MNIST digit a five, or not?",
)


def _show_version(value: bool):
    if value:
        typer.echo(f"fiveornot {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
):
    """Train, understand and use perceptrons on handwritten digits: is this MNIST digit a five, or not?"""


def _register_commands():
    # Imported here, not at the top, because each module registers itself on the `app` defined above.
    from fiveornot.cli import data, evaluate, predict, report, runs, serve, train, tutorial

    for module in (train, evaluate, predict, report, tutorial, serve, data, runs):
        module.register(app)


_register_commands()
