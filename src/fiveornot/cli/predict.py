"""`fiveornot predict`: ask a saved model about your own digit pictures or MNIST test images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fiveornot.cli.options import (DataDir, Json, Offline, RunOrModel, RunsDir, load_data, parse_indices,
                                   runs_dir_or_default)


def predict(
    run_or_model: RunOrModel,
    images: Annotated[Optional[list[str]], typer.Argument(help="Picture files (PNG, JPEG, BMP, GIF, ...).",
                                                          show_default=False, metavar="[IMAGE]...")] = None,
    index: Annotated[Optional[list[str]], typer.Option(
        "--index", "-i", help="MNIST test image numbers: --index 0 1 2, 0,1,2, or repeat --index.",
        show_default=False,
    )] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Also print the raw weighted sum (before the activation).")] = False,
    save_input: Annotated[Optional[Path], typer.Option(help="Write each prepared 28x28 input as a PNG here.",
                                                       show_default=False)] = None,
    runs_dir: RunsDir = None,
    data_dir: DataDir = None,
    offline: Offline = False,
    json_output: Json = False,
):
    """Predict "five" or "not five" for picture files or MNIST test images.

    Each picture goes through MNIST's own preparation (grey, ink bright on dark, cropped, fitted into 20x20,
    centred by mass in 28x28) before the model's scaling.
    """
    from fiveornot.cli.console import print_json, stdout_console
    from fiveornot.model import Perceptron
    from fiveornot.runs import resolve

    files, indices = _split_arguments(images or [], index or [])
    if not files and not indices:
        raise typer.BadParameter("give one or more IMAGE files or --index N", param_hint="IMAGE")
    _, model_path = resolve(run_or_model, runs_dir_or_default(runs_dir))
    model = Perceptron.load(model_path)
    results = _predict_files(model, files) + _predict_indices(model, indices, data_dir, offline)
    if save_input is not None:
        _save_inputs(results, save_input)
    for result in results:
        result.pop("image", None)
    if json_output:
        print_json(results)
    else:
        _print(stdout_console(), results, raw)
    if any(r["error"] for r in results):
        raise typer.Exit(1)


def _split_arguments(arguments: list[str], indices: list[str]):
    """`--index 3 4 5`: click takes 3 as the option's value; 4 and 5 arrive as arguments and are indices too."""
    files = []
    for argument in arguments:
        if indices and argument.replace(",", "").isdigit() and not Path(argument).exists():
            indices.append(argument)
        else:
            files.append(argument)
    return files, indices


def _predict_files(model, files) -> list[dict]:
    import numpy as np

    from fiveornot.errors import ImageError
    from fiveornot.inference import describe
    from fiveornot.prepare import image_to_mnist

    results = []
    for name in files:
        entry = {"file": name, "index": None}
        try:
            image = image_to_mnist(name)
        except ImageError as error:
            results.append(entry | {"answer": None, "probability": None, "raw": None, "error": str(error)})
            continue
        results.append(entry | describe(model, image[np.newaxis])[0] | {"error": None, "image": image})
    return results


def _predict_indices(model, indices, data_dir, offline) -> list[dict]:
    if not indices:
        return []
    from fiveornot.inference import describe

    _, (x_test, y_test) = load_data(data_dir, offline)
    indices = parse_indices(indices, len(x_test))
    answers = describe(model, x_test[indices])
    return [{"file": None, "index": i, **answer, "label": int(y_test[i]), "error": None, "image": x_test[i]}
            for i, answer in zip(indices, answers)]


def _save_inputs(results, directory: Path) -> None:
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    used = set()
    for result in results:
        if result.get("image") is None:
            continue
        stem = Path(result["file"]).stem if result["file"] else f"mnist-test-{result['index']}"
        path, number = directory / f"{stem}-28x28.png", 1
        while path in used or path.exists():  # two inputs named x.png, or an earlier run's files: keep them all
            number += 1
            path = directory / f"{stem}-{number}-28x28.png"
        used.add(path)
        Image.fromarray(result["image"]).save(path)
        result["input_file"] = str(path)


def _print(console, results, raw: bool) -> None:
    for result in results:
        source = result["file"] if result["file"] is not None else f"test image {result['index']}"
        if result["error"]:
            typer.echo(f"fiveornot: error: {result['error']}", err=True)  # the message names the file
            continue
        parts = [f"{source}: {result['answer']}"]
        if result.get("probability") is not None:
            parts.append(f"probability {result['probability']:.3f}")
        elif result.get("output") is not None:
            parts.append(f"output {result['output']:.3f}")
        if raw:
            value = result["raw"]
            parts.append("raw " + (f"{value:+.3f}" if isinstance(value, float) else
                                   "[" + ", ".join(f"{v:+.2f}" for v in value) + "]"))
        if "label" in result:
            parts.append(f"(true label {result['label']})")
        console.print("  ".join(parts), markup=False)  # file names may hold [brackets]


def register(app: typer.Typer) -> None:
    app.command()(predict)
