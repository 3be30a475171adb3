"""`fiveornot tutorial`: the tutorial's story, from the failing linear unit to the best five-detector."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fiveornot.cli.options import DataDir, Offline


def tutorial(
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html, its plots and the best model.")] = Path(
        "tutorial-report"),
    quick: Annotated[bool, typer.Option("--quick", help="Fewer epochs and sweeps: about a minute on 2 cores.")] = False,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Parallel runs (default: one per CPU core).",
                                                   show_default=False)] = None,
    data_dir: DataDir = None,
    offline: Offline = False,
):
    """Run the tutorial as real training runs and write one report: linear vs sigmoid, then the three levers."""
    import time

    from fiveornot.cli.console import stdout_console
    from fiveornot.tutorial import run_tutorial

    console = stdout_console()
    started = time.perf_counter()

    def progress(result, done, total):
        accuracy = result.get("test", {}).get("accuracy")
        shown = "-" if accuracy is None else f"{accuracy:.2%}"
        console.print(f"[{done:>2}/{total}] {result['key']}: {shown} ({result.get('status')})")

    path, summary = run_tutorial(out, quick=quick, data_dir=data_dir, offline=offline, workers=workers,
                                 on_result=progress)
    console.print("")
    for line in summary:
        console.print(line)
    console.print(f"report: {path} ({time.perf_counter() - started:.0f} s)")


def register(app: typer.Typer) -> None:
    app.command()(tutorial)
