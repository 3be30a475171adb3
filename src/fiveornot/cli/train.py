"""`fiveornot train`: train a perceptron on MNIST, evaluate it, and keep the run."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from fiveornot.cli.options import DataDir, Json, Offline, RunsDir, load_data, runs_dir_or_default


def _digit(value: str) -> str:
    if value == "all" or (value.isdigit() and 0 <= int(value) <= 9):
        return value
    raise typer.BadParameter(f"must be a digit 0-9 or 'all', got {value!r}")


def train(
    digit: Annotated[str, typer.Option(help="Digit to detect (this digit vs the rest), or 'all' for ten classes.",
                                       callback=_digit)] = "5",
    activation: Annotated[Literal["linear", "sigmoid", "step"], typer.Option(
        help="Output unit; 'linear' is the tutorial's failing model.")] = "sigmoid",
    loss: Annotated[Optional[Literal["mse", "bce", "hinge", "perceptron", "ce"]], typer.Option(
        help="Loss (default: mse; ce for --digit all).",
                                                show_default=False)] = None,
    optimizer: Annotated[Literal["sgd", "momentum", "adam"], typer.Option()] = "adam",
    lr: Annotated[float, typer.Option(help="Learning rate (above 0).")] = 0.001,
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    validation_split: Annotated[float, typer.Option(min=0.0, max=0.99,
                                                    help="Share of training images held out for validation.")] = 0.1,
    scale: Annotated[Literal["none", "unit", "standard"], typer.Option(
        help="Input scaling: raw 0..255, /255, or z-scores.")] = "unit",
    deskew: Annotated[bool, typer.Option("--deskew", help="Straighten each digit before scaling.")] = False,
    augment: Annotated[int, typer.Option(min=0, help="Extra shifted/rotated copies of each image per epoch.")] = 0,
    elastic: Annotated[bool, typer.Option("--elastic", help="Also distort the --augment copies elastically.")] = False,
    train_size: Annotated[Optional[int], typer.Option(min=10, help="Train on this many images (stratified).",
                                                      show_default=False)] = None,
    patience: Annotated[Optional[int], typer.Option(min=1, help="Early stopping: epochs without a better val_loss.",
                                                    show_default=False)] = None,
    threshold: Annotated[Optional[float], typer.Option(help="Decision threshold on the output (default: 0.5; 0 for a linear unit with a margin loss).",
                                                       show_default=False)] = None,
    init: Annotated[Literal["glorot", "zeros"], typer.Option(help="Weight initialisation.")] = "glorot",
    seed: Annotated[int, typer.Option(min=0, help="One seed for everything random.")] = 0,
    runs_dir: RunsDir = None,
    name: Annotated[Optional[str], typer.Option(help="Run name (default: made from the settings).",
                                                show_default=False)] = None,
    report: Annotated[bool, typer.Option("--report", help="Write plots and report.html into the run.")] = False,
    data_dir: DataDir = None,
    offline: Offline = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the final summary.")] = False,
    json_output: Json = False,
):
    """Train a perceptron on MNIST, print its test metrics, and keep the run in a new folder."""
    import warnings

    from fiveornot.cli.console import print_json, stdout_console
    from fiveornot.cli.progress import training_progress
    from fiveornot.cli.tables import print_metrics
    from fiveornot.errors import TrainingError
    from fiveornot.experiment import run_experiment
    from fiveornot.model import Perceptron

    model = Perceptron(
        digit="all" if digit == "all" else int(digit), activation=activation, loss=loss, optimizer=optimizer,
        lr=lr, epochs=epochs, batch_size=batch_size, validation_split=validation_split, scale=scale,
        deskew=deskew, augment=augment, elastic=elastic, train_size=train_size, patience=patience, threshold=threshold,
        init=init, seed=seed,
    )
    model.validate_params()
    dataset = load_data(data_dir, offline)
    console = stdout_console()
    if not (quiet or json_output):
        console.print(f"data: {dataset.source}"
                      + ("" if dataset.is_mnist else f" (not MNIST: the IDX data set {dataset.name!r})"))
        console.print(f"model: {model!r}")
    callbacks = [] if json_output else training_progress(quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the same warnings are printed with the metrics
        try:
            run = run_experiment(model, dataset, runs_dir=runs_dir_or_default(runs_dir), name=name,
                                 callbacks=callbacks)
        except TrainingError as error:
            if getattr(error, "run", None) is not None:
                typer.echo(f"saved the diverged run in {error.run.path}", err=True)
            raise
    metrics = run.metrics
    if report:
        from fiveornot.run_report import write_run_report

        report_path = write_run_report(run, dataset)
    if json_output:
        print_json({**metrics, "run_dir": str(run.path)})
    else:
        print_metrics(console, metrics, digit)
        console.print(f"run saved in {run.path}" + (f"; report: {report_path}" if report else ""))
    if metrics["status"] == "interrupted":
        typer.echo("training interrupted: the run holds the model and history so far", err=True)
        raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    app.command()(train)
