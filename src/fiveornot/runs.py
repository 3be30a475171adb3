"""Run directories: every training run gets a new folder that is never overwritten.

    runs/<YYYYmmdd-HHMMSS>-<name>/config.json, history.csv, metrics.json, model.safetensors, plots/, report.html

Files are written to a temporary name and renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from fiveornot.atomic import atomic_write
from fiveornot.errors import RunError

MODEL_FILE, CONFIG_FILE, METRICS_FILE, HISTORY_FILE = "model.safetensors", "config.json", "metrics.json", "history.csv"
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"   # a plain folder name: no '/', no leading '.'
_NAME = re.compile(NAME_PATTERN)


def default_runs_dir() -> Path:
    return Path(os.environ.get("FIVEORNOT_RUNS") or "runs")


def check_name(name: str) -> str:
    if not is_plain_name(name):
        raise RunError(f"Run name {name!r} is not allowed: use letters, digits, '.', '_' and '-' (at most 80).")
    return name


def is_plain_name(name: str) -> bool:
    # fullmatch: with match, "$" would also accept a name ending in a newline.
    return bool(_NAME.fullmatch(name))


def create_run_dir(runs_dir: Path, name: str) -> Path:
    """Make `<runs_dir>/<timestamp>-<name>`, adding -2, -3, ... rather than ever reusing a folder."""
    check_name(name)
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(f"Cannot create the runs directory {runs_dir}: {error.strerror}. Choose another with "
                       "--runs-dir or FIVEORNOT_RUNS.") from None
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
    for attempt in range(1, 1000):
        candidate = runs_dir / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            candidate.mkdir()  # atomic: fails if another process took the name first
            return candidate
        except FileExistsError:
            continue
        except OSError as error:
            raise RunError(f"Cannot create a run folder in {runs_dir}: {error.strerror}.") from None
    raise RunError(f"Too many runs named {stem} in {runs_dir}.")


def write_atomic(path: Path, data: bytes | str) -> Path:
    with atomic_write(path) as file:
        file.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def json_text(value) -> str:
    """Indented JSON of plain values, numpy scalars and arrays, and paths (as the run files and --json hold)."""
    return json.dumps(value, indent=2, default=_plain)


def write_json(path: Path, value) -> Path:
    return write_atomic(path, json_text(value) + "\n")


def write_history(path: Path, rows: list[dict]) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in HISTORY_COLUMNS})
    return write_atomic(path, out.getvalue())


def read_history(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: (float(v) if v not in ("", None) else None) for k, v in row.items()} for row in csv.DictReader(handle)]


def _plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass
class Run:
    """A run folder and what it holds."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def read_json(self, filename: str) -> dict:
        try:
            return json.loads((self.path / filename).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise RunError(f"{self.path / filename} is unreadable ({error}).") from None

    @property
    def config(self) -> dict:
        return self.read_json(CONFIG_FILE)

    @property
    def metrics(self) -> dict:
        return self.read_json(METRICS_FILE)

    @property
    def history(self) -> list[dict]:
        path = self.path / HISTORY_FILE
        return read_history(path) if path.exists() else []


def list_runs(runs_dir: Path) -> list[Run]:
    """Runs that hold a model, oldest first (by the time their model was written, then by name)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    runs = [Run(p) for p in runs_dir.iterdir() if (p / MODEL_FILE).is_file()]
    return sorted(runs, key=lambda run: (run.model_path.stat().st_mtime, run.name))


def resolve(spec: str, runs_dir: Path) -> tuple[Run | None, Path]:
    """Turn RUN_OR_MODEL (a run folder, a run's name, `latest`, or a .safetensors file) into (run, model path)."""
    runs_dir = Path(runs_dir)
    if spec == "latest":
        usable = [run for run in list_runs(runs_dir) if run.metrics.get("status") not in (None, "diverged")]
        if not usable:
            raise RunError(f"No finished runs in {runs_dir} yet: train one with `fiveornot train`.")
        return usable[-1], usable[-1].model_path
    path = Path(spec)
    if path.suffix == ".safetensors" or path.is_file():   # any existing file is meant as a model file
        if not path.is_file():
            raise RunError(f"No model file at {path}.")
        return (Run(path.parent) if path.name == MODEL_FILE else None), path
    if path.is_dir() and (path / MODEL_FILE).is_file():
        return Run(path), path / MODEL_FILE
    return find_run(spec, runs_dir)


def find_run(name: str, runs_dir: Path) -> tuple[Run, Path]:
    """A run by its exact folder name or a unique suffix/prefix of it, looked up only inside runs_dir."""
    runs = list_runs(runs_dir)
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise RunError(f"No run {name!r} in {runs_dir}.")
    exact = [r for r in runs if r.name == name]
    matches = exact or [r for r in runs if r.name.startswith(name) or r.name.endswith(name)]
    if len(matches) == 1:
        return matches[0], matches[0].model_path
    if not matches:
        hint = f" Runs there: {', '.join(r.name for r in runs[-5:])}." if runs else " Train one with `fiveornot train`."
        raise RunError(f"No run {name!r} in {runs_dir}.{hint}")
    raise RunError(f"{name!r} matches {len(matches)} runs in {runs_dir}; give more of the name "
                   f"(e.g. {matches[-1].name}).")
