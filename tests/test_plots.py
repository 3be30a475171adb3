"""Every plot writes one non-empty PNG of its documented size; the curve helpers agree with scikit-learn."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from synthetic import make_digits

from fiveornot import plots


def png_size(path) -> tuple[int, int]:
    assert path.exists() and path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def no_leftovers(directory) -> bool:
    """The atomic write leaves no temporary file behind."""
    return not [name for name in os.listdir(directory) if name.endswith(".part")]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def binary_outputs(rng):
    """A plausible five-detector's test outputs: labels, probabilities, raw sums, answers."""
    y_true = rng.random(400) < 0.1
    raw = np.where(y_true, 2.0, -3.0) + rng.normal(0, 1.5, 400)
    probability = 1 / (1 + np.exp(-raw))
    return y_true, probability, raw, probability >= 0.5


def test_importing_plots_does_not_import_matplotlib():
    code = "import sys, fiveornot.plots; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- history ---------------------------------------------------------------------------------------------


def history_rows(epochs, *, with_validation=True):
    rows = []
    for epoch in range(1, epochs + 1):
        row = {"epoch": epoch, "loss": 0.2 / epoch, "accuracy": 0.9 + 0.008 * epoch}
        if with_validation:
            row.update(val_loss=0.21 / epoch, val_accuracy=0.9 + 0.007 * epoch)
        rows.append(row)
    return rows


@pytest.mark.parametrize(
    "rows",
    [
        history_rows(10),
        history_rows(1),
        history_rows(5, with_validation=False),
        [dict(row, val_loss=float("nan"), val_accuracy=None) for row in history_rows(4)],
        # as read from history.csv: strings, empty cells
        [{"epoch": "1", "loss": "0.5", "accuracy": "0.9", "val_loss": "", "val_accuracy": ""},
         {"epoch": "2", "loss": "0.4", "accuracy": "0.92", "val_loss": "", "val_accuracy": ""}],
        # the unscaled linear model: huge, then diverging losses (log scale, infinities dropped)
        [{"epoch": 1, "loss": 1e6, "accuracy": 0.5}, {"epoch": 2, "loss": 3.0, "accuracy": 0.6},
         {"epoch": 3, "loss": float("inf"), "accuracy": 0.6}],
        [],
    ],
    ids=["ten-epochs", "one-epoch", "no-validation", "nan-validation", "csv-strings", "huge-loss", "empty"],
)
def test_plot_history(tmp_path, rows):
    path = plots.plot_history(rows, tmp_path / "curves.png", baseline=0.9108)
    assert path == tmp_path / "curves.png"
    assert png_size(path) == plots.SIZES["history"] == (1000, 450)
    assert no_leftovers(tmp_path)


# --- weights ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(784,), (28, 28)])
def test_plot_weights_one_map(tmp_path, rng, shape):
    path = plots.plot_weights(rng.normal(size=shape), tmp_path / "weights.png")
    assert png_size(path) == plots.SIZES["weights"] == (600, 520)


@pytest.mark.parametrize("shape", [(784, 10), (10, 784), (10, 28, 28)])
def test_plot_weights_ten_maps(tmp_path, rng, shape):
    path = plots.plot_weights(rng.normal(size=shape), tmp_path / "weights.png")
    assert png_size(path) == plots.SIZES["weights_grid"] == (1100, 520)


def test_plot_weights_all_zero_and_custom_titles(tmp_path):
    assert png_size(plots.plot_weights(np.zeros(784), tmp_path / "a.png", titles="untrained")) == (600, 520)
    titles = [f"digit {d}" for d in range(10)]
    assert png_size(plots.plot_weights(np.zeros((10, 784)), tmp_path / "b.png", titles=titles)) == (1100, 520)


def test_plot_weights_rejects_a_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="weights shaped"):
        plots.plot_weights(np.zeros(100), tmp_path / "w.png")
    assert not (tmp_path / "w.png").exists()


# --- mistakes --------------------------------------------------------------------------------------------


def test_plot_misclassified_binary(tmp_path, binary_outputs):
    y_true, probability, _, y_pred = binary_outputs
    images, _ = make_digits(len(y_true), seed=2)
    assert (y_true != y_pred).any()
    path = plots.plot_misclassified(images, y_true, y_pred, probability, tmp_path / "m.png")
    assert png_size(path) == plots.SIZES["misclassified"] == (1200, 560)


def test_plot_misclassified_without_errors_or_scores(tmp_path):
    images, _ = make_digits(30, seed=3)
    y = np.arange(30) % 3 == 0
    path = plots.plot_misclassified(images, y, y, None, tmp_path / "m.png")
    assert png_size(path) == (1200, 560)
    only_false_positives = y | (np.arange(30) == 1)
    path = plots.plot_misclassified(images, y, only_false_positives, None, tmp_path / "fp.png", limit=3)
    assert png_size(path) == (1200, 560)


def test_plot_misclassified_ten_classes(tmp_path, rng):
    images, labels = make_digits(100, seed=4)
    predicted = np.where(rng.random(100) < 0.2, rng.integers(0, 10, 100), labels)
    path = plots.plot_misclassified(images, labels, predicted, rng.random(100), tmp_path / "m.png")
    assert png_size(path) == (1200, 560)
    path = plots.plot_misclassified(images.reshape(100, 784), labels, labels, None, tmp_path / "none.png")
    assert png_size(path) == (1200, 560)


# --- confusion, ROC/PR, raw outputs ----------------------------------------------------------------------


def test_plot_confusion_binary_and_ten_classes(tmp_path, rng):
    assert png_size(plots.plot_confusion([[9000, 108], [150, 742]], tmp_path / "c2.png")) == (520, 460)
    assert plots.SIZES["confusion"] == (520, 460)
    matrix = rng.integers(0, 30, (10, 10)) + np.diag(rng.integers(900, 1100, 10))
    assert png_size(plots.plot_confusion(matrix, tmp_path / "c10.png")) == (760, 680)
    assert plots.SIZES["confusion_multiclass"] == (760, 680)
    assert png_size(plots.plot_confusion(np.zeros((2, 2)), tmp_path / "empty.png")) == (520, 460)


def test_plot_roc_pr(tmp_path, binary_outputs):
    y_true, probability, _, _ = binary_outputs
    assert png_size(plots.plot_roc_pr(y_true, probability, tmp_path / "r.png")) == plots.SIZES["roc_pr"] == (1000, 450)


def test_plot_roc_pr_edge_cases(tmp_path, binary_outputs):
    y_true, _, _, _ = binary_outputs
    assert png_size(plots.plot_roc_pr(y_true, np.full(y_true.size, 0.5), tmp_path / "equal.png")) == (1000, 450)
    assert png_size(plots.plot_roc_pr(np.zeros(50, bool), np.linspace(0, 1, 50), tmp_path / "one.png")) == (1000, 450)
    with pytest.raises(ValueError, match="binary labels"):
        plots.plot_roc_pr(np.arange(10), np.linspace(0, 1, 10), tmp_path / "digits.png")


@pytest.mark.parametrize("threshold", [None, 0.0])
def test_plot_output_histogram(tmp_path, binary_outputs, threshold):
    y_true, _, raw, _ = binary_outputs
    path = plots.plot_output_histogram(raw * 1000, y_true, tmp_path / "o.png", threshold=threshold)
    assert png_size(path) == plots.SIZES["output_histogram"] == (800, 500)


def test_plot_output_histogram_all_equal_and_one_class(tmp_path):
    y = np.arange(20) % 2 == 0
    assert png_size(plots.plot_output_histogram(np.zeros(20), y, tmp_path / "a.png", threshold=0)) == (800, 500)
    assert png_size(plots.plot_output_histogram(np.arange(20.0), np.zeros(20, bool), tmp_path / "b.png")) == (800, 500)


# --- tutorial figures ------------------------------------------------------------------------------------


def test_plot_learning_curve(tmp_path):
    sizes = [500, 1000, 5000, 20000, 60000]
    scores = {"accuracy": [0.95, 0.96, 0.975, 0.98, 0.982], "f1": [0.7, 0.78, 0.85, float("nan"), 0.9]}
    path = plots.plot_learning_curve(sizes, scores, tmp_path / "l.png", baseline=0.9108)
    assert png_size(path) == plots.SIZES["learning_curve"] == (800, 500)
    assert png_size(plots.plot_learning_curve([1000], {"accuracy": [0.9]}, tmp_path / "one.png")) == (800, 500)


@pytest.mark.parametrize("count", [1, 4, 12])
def test_plot_comparison(tmp_path, count):
    labels = [f"run {i}" for i in range(count)]
    values = list(np.linspace(0.95, 0.985, count))
    if count > 1:
        values[1] = float("nan")  # a failed run
    path = plots.plot_comparison(labels, values, tmp_path / "c.png", title="Learning rate", baseline=0.9108)
    assert png_size(path) == plots.comparison_size(count)
    assert plots.comparison_size(count) == (800, max(320, 140 + 45 * count))


def test_plot_comparison_with_equal_and_negative_values(tmp_path):
    path = plots.plot_comparison(["a", "b"], [0.5, 0.5], tmp_path / "eq.png", title="tie", xlabel="F1")
    assert png_size(path) == (800, 320)
    path = plots.plot_comparison(["a", "b"], [-1.0, 2.0], tmp_path / "neg.png", title="signed", xlabel="change")
    assert png_size(path) == (800, 320)


@pytest.mark.parametrize("count, columns", [(1, 10), (10, 10), (23, 10), (7, 3)])
def test_plot_digits(tmp_path, count, columns):
    images, labels = make_digits(count, seed=5)
    path = plots.plot_digits(images, tmp_path / "d.png", captions=[f"label {v}" for v in labels], columns=columns)
    width, height = plots.digits_size(count, columns)
    assert png_size(path) == (width, height)
    assert width == 100 * min(count, columns)
    assert height == 120 * math.ceil(count / columns) + 40


def test_plot_digits_floats_and_empty(tmp_path, rng):
    assert png_size(plots.plot_digits(rng.random((5, 784)), tmp_path / "f.png")) == plots.digits_size(5)
    assert png_size(plots.plot_digits(np.zeros((0, 28, 28), np.uint8), tmp_path / "e.png")) == (600, 160)


def test_a_failed_drawing_leaves_nothing_behind(tmp_path):
    with pytest.raises(ValueError):
        plots.plot_comparison(["a"], [1.0, 2.0], tmp_path / "c.png", title="mismatch")
    assert os.listdir(tmp_path) == []


# --- curve helpers against scikit-learn ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_roc_matches_scikit_learn(seed):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y = rng.random(300) < 0.2
    scores = np.round(rng.random(300) + y * 0.3, 2)  # rounded: plenty of ties
    fpr, tpr, thresholds = plots.roc_curve_points(y, scores)
    expected = metrics.roc_curve(y, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, expected[0])
    np.testing.assert_allclose(tpr, expected[1])
    np.testing.assert_allclose(thresholds[1:], expected[2][1:])
    assert plots.roc_auc(y, scores) == pytest.approx(metrics.roc_auc_score(y, scores), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_precision_recall_matches_scikit_learn(seed):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y = (rng.random(300) < 0.1).astype(int)
    scores = np.round(rng.normal(size=300) + y, 1)
    precision, recall, thresholds = plots.pr_curve_points(y, scores)
    expected_precision, expected_recall, expected_thresholds = metrics.precision_recall_curve(
        y, scores, drop_intermediate=False
    )
    np.testing.assert_allclose(precision, expected_precision[::-1])
    np.testing.assert_allclose(recall, expected_recall[::-1])
    np.testing.assert_allclose(thresholds[1:], expected_thresholds[::-1])
    assert plots.average_precision(y, scores) == pytest.approx(metrics.average_precision_score(y, scores), abs=1e-12)


def test_curve_helpers_on_all_equal_scores_and_one_class():
    y = np.array([True, False, True, False])
    fpr, tpr, _ = plots.roc_curve_points(y, np.ones(4))
    assert fpr.tolist() == [0, 1] and tpr.tolist() == [0, 1]
    assert plots.roc_auc(y, np.ones(4)) == 0.5
    assert math.isnan(plots.roc_auc(np.ones(4, bool), np.arange(4.0)))
    assert math.isnan(plots.average_precision(np.zeros(4, bool), np.arange(4.0)))
    with pytest.raises(ValueError, match="NaN"):
        plots.roc_curve_points(y, [0.1, float("nan"), 0.2, 0.3])
