"""Output helpers shared by the commands: one place decides about terminals, colour and JSON."""

import json
import sys

import typer


def is_terminal() -> bool:
    return sys.stdout.isatty()


def print_json(value) -> None:
    typer.echo(json.dumps(value, indent=2, default=_json_default))


def _json_default(value):
    # numpy scalars and arrays reach us from metrics; convert without importing numpy here.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def stdout_console():
    from rich.console import Console

    # Off a terminal (logs, pipes, CI) there is no width to respect: never squeeze a run name into "...".
    return Console(highlight=False, soft_wrap=True, width=None if is_terminal() else 160)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)
