"""One training run end to end: fit on the training images, evaluate on the test images, save the run folder.

The CLI's `train` and `serve` (when there is no model yet) go through `run_experiment`, so a run folder always
holds the same files whoever made it. (The tutorial's many runs keep only their numbers, in its report.)
"""

from __future__ import annotations

import hashlib
import platform
import sys
import time
from importlib import metadata as package_metadata
from pathlib import Path

import numpy as np

from fiveornot import __version__, runs
from fiveornot.errors import TrainingError
from fiveornot.model import Perceptron


def default_run_name(model: Perceptron) -> str:
    target = "all" if model.multiclass else f"digit{model.digit}"
    parts = [target, model.activation_, model.loss_, model.optimizer, f"scale-{model.scale}"]
    if model.deskew:
        parts.append("deskew")
    if model.augment:
        parts.append(f"augment{model.augment}" + ("-elastic" if model.elastic else ""))
    if model.train_size:
        parts.append(f"n{model.train_size}")
    return "-".join(parts)


def run_experiment(model: Perceptron, dataset, *, runs_dir: Path, name: str | None = None, callbacks=(),
                   argv: list[str] | None = None) -> "runs.Run":
    """Train `model` on `dataset` (a data.Dataset), evaluate it on the test split and write a new run folder.

    The run is saved whatever the ending: completed, early_stopped, interrupted (Ctrl-C) or diverged; a
    diverged run is saved and then its TrainingError is raised again.
    """
    (x_train, y_train), (x_test, y_test) = dataset
    model.validate_params()
    model.training_data_digest_ = training_data_digest(dataset)
    failure = None
    try:
        history = model.fit(x_train, y_train, callbacks=callbacks)
    except TrainingError as error:
        if not hasattr(error, "history"):
            raise
        failure, history = error, error.history
    run_dir = runs.create_run_dir(Path(runs_dir), runs.check_name(name or default_run_name(model)))
    run = runs.Run(run_dir)
    test_started = time.perf_counter()
    test_metrics = model.evaluate(x_test, y_test)
    metrics = {
        "test": test_metrics,
        "epochs_run": history.epochs_run,
        "train_seconds": round(history.train_seconds, 4),
        "evaluate_seconds": round(time.perf_counter() - test_started, 4),
        "status": "diverged" if failure else history.status,
        "warnings": history.warnings + ([history.message] if history.message else []),
    }
    model.save(run.model_path)
    runs.write_history(run_dir / runs.HISTORY_FILE, history.rows)
    runs.write_json(run_dir / runs.CONFIG_FILE, run_config(model, dataset, argv))
    runs.write_json(run_dir / runs.METRICS_FILE, metrics)  # last: a run with metrics.json is complete
    if failure:
        failure.run = run
        raise failure
    return run


def run_config(model: Perceptron, dataset, argv=None) -> dict:
    return {
        "params": model.get_params(),
        "resolved": {"loss": model.loss_, "activation": model.activation_, "threshold": model.threshold_},
        "data": {"name": dataset.name, "source": dataset.source, "is_mnist": dataset.is_mnist,
                 "digests": dataset.digests, "train_count": int(len(dataset[0][1])),
                 "test_count": int(len(dataset[1][1]))},
        "versions": versions(),
        "command": argv if argv is not None else sys.argv[1:],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def training_data_digest(dataset) -> str:
    digests = getattr(dataset, "digests", None) or {}
    if digests.get("train_images") and digests.get("train_labels"):
        text = digests["train_images"] + digests["train_labels"]
        return hashlib.sha256(text.encode()).hexdigest()
    x_train, y_train = dataset[0]
    digest = hashlib.sha256(np.ascontiguousarray(x_train).tobytes())
    digest.update(np.ascontiguousarray(y_train).tobytes())
    return digest.hexdigest()


def versions() -> dict:
    found = {"fiveornot": __version__, "python": platform.python_version()}
    for package in ("numpy", "numba", "scipy", "safetensors"):
        try:
            found[package] = package_metadata.version(package)
        except package_metadata.PackageNotFoundError:
            pass
    return found
