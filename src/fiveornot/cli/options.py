"""Options several commands share, declared once."""

from pathlib import Path
from typing import Annotated, Optional

import typer

DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", file_okay=False, show_default=False,
                 help="Directory holding the four IDX files (gz or raw) or mnist.npz; the cache goes there too "
                      "(default: $FIVEORNOT_DATA, else the user cache folder)."),
]
Offline = Annotated[bool, typer.Option("--offline", help="Never touch the network (no HTTP, no pip).")]
RunsDir = Annotated[
    Optional[Path],
    typer.Option("--runs-dir", help="Where runs are kept (default: ./runs, or env FIVEORNOT_RUNS).", show_default=False),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of text.")]
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


def parse_indices(values: list, count: int, split: str = "test") -> list[int]:
    """Image numbers from `--index` values (`-i 0 -i 1`, `--index 0 1`, or `0,1,2`), each checked against `count`."""
    chosen = []
    for value in values:
        for part in str(value).replace(",", " ").split():
            try:
                number = int(part)
            except ValueError:
                raise typer.BadParameter(f"{part!r} is not a whole number", param_hint="--index") from None
            if not 0 <= number < count:
                raise typer.BadParameter(
                    f"{number} is out of range: the {split} set has {count:,} images (0 to {count - 1})",
                    param_hint="--index",
                )
            chosen.append(number)
    return chosen
