"""`fiveornot report`: the pictures and a self-contained report.html for a run."""

from __future__ import annotations

import typer

from fiveornot.cli.options import DataDir, Offline, RunsDir, load_data, runs_dir_or_default
from typing import Annotated


def report(run: Annotated[str, typer.Argument(help="A run folder, a run's name, or 'latest'.")],
           runs_dir: RunsDir = None, data_dir: DataDir = None, offline: Offline = False):
    """Draw a run's pictures (curves, weights, mistakes, confusion, ROC/PR, outputs) and write report.html."""
    from fiveornot.errors import RunError
    from fiveornot.run_report import write_run_report
    from fiveornot.runs import resolve

    found, _ = resolve(run, runs_dir_or_default(runs_dir))
    if found is None:
        raise RunError(f"{run} is a model file, not a run folder: reports are made for runs.")
    path = write_run_report(found, load_data(data_dir, offline))
    typer.echo(f"report: {path}")


def register(app: typer.Typer) -> None:
    app.command()(report)
