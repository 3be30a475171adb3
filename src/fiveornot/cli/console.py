"""Output helpers shared by the commands: one place decides about terminals, colour and JSON."""

import sys

import typer


def is_terminal() -> bool:
    return sys.stdout.isatty()


def print_json(value) -> None:
    from fiveornot.runs import json_text

    typer.echo(json_text(value))


def stdout_console():
    from rich.console import Console

    # Off a terminal (logs, pipes, CI) there is no width to respect: never squeeze a run name into "...".
    return Console(highlight=False, soft_wrap=True, width=None if is_terminal() else 160)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)
