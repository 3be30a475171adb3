"""Options several commands share, declared once."""

from pathlib import Path
from typing import Annotated, Optional

import typer

DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", help="Directory holding MNIST (four IDX files or mnist.npz); env FIVEORNOT_DATA.",
                 show_default=False),
]
Offline = Annotated[bool, typer.Option("--offline", help="Never touch the network: use local copies only.")]
RunsDir = Annotated[
    Optional[Path],
    typer.Option("--runs-dir", help="Where runs are kept (default: ./runs, or env FIVEORNOT_RUNS).", show_default=False),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]
RunOrModel = Annotated[
    str, typer.Argument(help="A run folder, a run's name, 'latest', or a .safetensors model file.", metavar="RUN_OR_MODEL")
]


def runs_dir_or_default(runs_dir: Optional[Path]) -> Path:
    from fiveornot.runs import default_runs_dir

    return runs_dir if runs_dir is not None else default_runs_dir()


def load_data(data_dir, offline):
    """The data set commands train and test on, showing progress (on stderr) when it must be fetched first."""
    from fiveornot.cli.data import fetch_progress
    from fiveornot.data import load_dataset

    with fetch_progress() as progress:
        return load_dataset(data_dir=data_dir, offline=offline, progress=progress)
