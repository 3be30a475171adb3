"""A run's pictures and its report.html: what the model learned, where it errs, and how it compares.

Reads the run folder (model, history, metrics, config) and the test images, draws every picture into
`<run>/plots/` and writes `<run>/report.html` with the pictures embedded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fiveornot import metrics, plots, report
from fiveornot.inference import target_word
from fiveornot.model import Perceptron
from fiveornot.errors import RunError
from fiveornot.runs import Run

REPORT_FILE = "report.html"


def draw_run_plots(run: Run, model: Perceptron, x_test: np.ndarray, y_test: np.ndarray) -> dict[str, Path]:
    """Every picture of a run, keyed by its report section id."""
    folder = run.path / "plots"
    folder.mkdir(exist_ok=True)
    raw = model.decision_function(x_test)
    baseline = run.metrics.get("test", {}).get("baseline_accuracy")
    images = {"curves": plots.plot_history(run.history, folder / "curves.png", baseline=baseline)}
    if model.multiclass:
        predicted = raw.argmax(axis=1)
        confidence = model.output_from_raw(raw).max(axis=1)
        images["weights"] = plots.plot_weights(model.coef_, folder / "weights.png")
        images["misclassified"] = plots.plot_misclassified(x_test, y_test, predicted, confidence,
                                                           folder / "misclassified.png")
        matrix = metrics.multiclass_metrics(y_test, predicted)["confusion_matrix"]
        images["confusion"] = plots.plot_confusion(matrix, folder / "confusion.png", labels=[str(d) for d in range(10)])
        return images

    word = target_word(model)
    truth = model.targets(y_test)
    outputs = model.output_from_raw(raw)
    predicted = outputs >= model.threshold_
    images["weights"] = plots.plot_weights(model.coef_, folder / "weights.png", positive_label=word)
    images["misclassified"] = plots.plot_misclassified(x_test, truth, predicted, outputs, folder / "misclassified.png",
                                                       positive_label=word)
    matrix = metrics.multiclass_metrics(truth, predicted, n_classes=2)["confusion_matrix"]
    images["confusion"] = plots.plot_confusion(matrix, folder / "confusion.png", labels=(f"not {word}", word))
    # Ranked by the raw sums (a step unit's output is only 0 or 1), the threshold marked where it falls on them.
    threshold = raw_threshold(model)
    images["roc-pr"] = plots.plot_roc_pr(truth, raw, folder / "roc-pr.png",
                                         threshold=0.0 if threshold is None else threshold)
    images["output-histogram"] = plots.plot_output_histogram(raw, truth, folder / "output-histogram.png",
                                                             positive_label=word, threshold=threshold)
    return images


def raw_threshold(model: Perceptron) -> float | None:
    """The decision threshold expressed on the raw weighted sum, where the histogram is drawn."""
    t = model.threshold_
    if model.activation == "sigmoid":
        return float(np.log(t / (1 - t))) if 0 < t < 1 else None
    if model.activation == "step":
        return 0.0
    return t


def write_run_report(run: Run, dataset=None) -> Path:
    """Draw the run's pictures and write its report.html; returns the report's path."""
    if dataset is None:
        from fiveornot.data import load_dataset

        dataset = load_dataset()
    _, (x_test, y_test) = dataset
    if run.metrics.get("status") == "diverged":
        raise RunError(f"Run {run.name} diverged (its weights are not finite numbers): there is nothing to draw. "
                       "Retrain with a smaller --lr or --scale unit.")
    model = Perceptron.load(run.model_path)
    images = draw_run_plots(run, model, x_test, y_test)
    config = run.config
    notes = list(run.metrics.get("warnings", []))
    return report.write_report(
        run.path / REPORT_FILE,
        title=f"fiveornot run {run.name}",
        config={"digit": config.get("params", {}).get("digit", model.digit), **config},
        metrics=run.metrics,
        images=images,
        notes=notes,
    )
