"""`fiveornot evaluate`: test metrics of a saved model on the test images."""

from __future__ import annotations

import typer

from fiveornot.cli.options import DataDir, Json, Offline, RunOrModel, RunsDir, load_data, runs_dir_or_default


def evaluate(run_or_model: RunOrModel, runs_dir: RunsDir = None, data_dir: DataDir = None, offline: Offline = False,
             json_output: Json = False):
    """Evaluate a saved model on the test images and print its metrics."""
    from fiveornot.cli.console import print_json, stdout_console
    from fiveornot.cli.tables import print_metrics
    from fiveornot.model import Perceptron
    from fiveornot.runs import resolve

    run, model_path = resolve(run_or_model, runs_dir_or_default(runs_dir))
    model = Perceptron.load(model_path)
    _, (x_test, y_test) = load_data(data_dir, offline)
    test = model.evaluate(x_test, y_test)
    if json_output:
        print_json({"test": test, "model": str(model_path)})
        return
    console = stdout_console()
    console.print(f"model: {model!r} ({model_path})")
    print_metrics(console, {"test": test}, "all" if model.multiclass else str(model.digit))


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
