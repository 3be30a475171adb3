"""Pictures of what a perceptron learned, as PNG files.

Every function takes plain numpy arrays, lists and dicts (never a model object), draws one figure and writes
it as one PNG file, atomically (a temporary file in the same folder, then ``os.replace``), and returns its
``Path``. Sizes are fixed in pixels (see ``SIZES`` and each docstring) so pages that embed them stay tidy.

matplotlib is imported only inside the drawing functions, never at module level: ``import fiveornot.plots``
stays cheap, and commands that never draw never pay for matplotlib. Figures are built with
``matplotlib.figure.Figure`` directly (not pyplot), so no global figure state and no GUI backend is involved;
PNGs are rendered by Agg.

Colours are colour-blind safe: Okabe-Ito for lines and bars, a diverging map centred on zero for weights
('RdBu_r': red pushes toward the class, blue away), a sequential one ('cividis') for counts.

The small curve helpers (``roc_curve_points``, ``roc_auc``, ``pr_curve_points``, ``average_precision``) are
numpy only and agree with scikit-learn, which is a development dependency only.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np

from fiveornot import metrics
from fiveornot.inference import DIGIT_WORDS

DPI = 100
"""Dots per inch of every PNG: a figure of ``(w / DPI, h / DPI)`` inches is ``w x h`` pixels."""

SIZES: dict[str, tuple[int, int]] = {
    "history": (1000, 450),
    "weights": (600, 520),  # one 28x28 map
    "weights_grid": (1100, 520),  # ten maps (one per digit) in 2 rows of 5
    "misclassified": (1200, 560),
    "confusion": (520, 460),  # 2x2
    "confusion_multiclass": (760, 680),  # 10x10
    "roc_pr": (1000, 450),
    "output_histogram": (800, 500),
    "learning_curve": (800, 500),
}
"""Pixel size (width, height) of each fixed-size figure. ``plot_comparison`` and ``plot_digits`` grow with
their content: see ``comparison_size`` and ``digits_size``."""

# Okabe-Ito: eight colours that stay distinct for the common kinds of colour blindness.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
LINE_COLOURS = [OKABE_ITO[name] for name in ("blue", "vermillion", "green", "orange", "purple", "sky_blue")]
TRAIN_COLOUR = OKABE_ITO["blue"]
VALIDATION_COLOUR = OKABE_ITO["vermillion"]
BASELINE_COLOUR = "#666666"
WEIGHTS_CMAP = "RdBu_r"  # diverging: red = positive weight, blue = negative, white = zero
COUNTS_CMAP = "cividis"  # sequential and readable in grey-scale print

_STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "figure.titlesize": 13,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
}



# --------------------------------------------------------------------------------------------------------
# Sizes that depend on the content
# --------------------------------------------------------------------------------------------------------


def comparison_size(bar_count: int) -> tuple[int, int]:
    """Pixel size of ``plot_comparison`` for ``bar_count`` bars: 800 wide, 140 + 45 per bar high (>= 320)."""
    return 800, max(320, 140 + 45 * max(bar_count, 1))


DIGIT_CELL = (100, 120)
"""Pixels given to one digit (and its caption) in ``plot_digits``."""


def digits_size(image_count: int, columns: int = 10) -> tuple[int, int]:
    """Pixel size of ``plot_digits``: ``columns`` cells of 100x120 px per row (fewer if fewer images),
    one row per ``columns`` images, plus 40 px for the title. An empty grid is drawn as one 600x160 notice."""
    if image_count <= 0:
        return 600, 160
    columns = max(1, min(columns, image_count))
    rows = math.ceil(image_count / columns)
    return DIGIT_CELL[0] * columns, DIGIT_CELL[1] * rows + 40


# --------------------------------------------------------------------------------------------------------
# Curve helpers (numpy only)
# --------------------------------------------------------------------------------------------------------


def _binary_labels(y_true) -> np.ndarray:
    """``y_true`` as a bool array; refuses digits 0..9 so a 10-class array is never read as binary."""
    y = np.asarray(y_true).ravel()
    if y.dtype == bool:
        return y
    values = np.unique(y)
    if not np.all(np.isin(values, (0, 1))):
        raise ValueError(f"expected binary labels (bool or 0/1), got values {values[:10].tolist()}")
    return y.astype(bool)


def _counts_at_thresholds(y_true, scores):
    """False and true positive counts when the threshold is each distinct score, highest first.

    Predicting "positive" when ``score >= threshold``, thresholds walk down the sorted distinct scores;
    returns ``(fps, tps, thresholds)``, each one entry per distinct score.
    """
    y = _binary_labels(y_true)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but scores has {s.size}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinite values")
    order = np.argsort(s, kind="mergesort")[::-1]
    s, y = s[order], y[order]
    # The last index of each run of equal scores: the counts there include every tie.
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), s.size - 1] if s.size else np.array([], dtype=int)
    tps = np.cumsum(y)[last_of_run].astype(np.float64)
    fps = (last_of_run + 1) - tps
    return fps, tps, s[last_of_run]


def roc_curve_points(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve: false positive rate and true positive rate at every distinct threshold.

    Parameters
    ----------
    y_true : array of bool or 0/1
        The true answers (True = positive class).
    scores : array of float
        The model's output; higher means "more likely positive". Positive is predicted when
        ``score >= threshold``.

    Returns
    -------
    fpr, tpr, thresholds : arrays
        From the point (0, 0) at threshold +inf to (1, 1) at the lowest score; the same points as
        ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``. Rates are NaN when a class is absent.
    """
    fps, tps, thresholds = _counts_at_thresholds(y_true, scores)
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    thresholds = np.r_[np.inf, thresholds]
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = fps / fps[-1] if fps[-1] > 0 else np.full_like(fps, np.nan)
        tpr = tps / tps[-1] if tps[-1] > 0 else np.full_like(tps, np.nan)
    return fpr, tpr, thresholds


def roc_auc(y_true, scores) -> float:
    """`metrics.roc_auc`, the number metrics.json holds (ties count half), as a float: NaN where undefined."""
    area = metrics.roc_auc(_binary_labels(y_true), scores)
    return float("nan") if area is None else area


def pr_curve_points(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The precision-recall curve at every distinct threshold, highest threshold first.

    Returns
    -------
    precision, recall, thresholds : arrays
        ``precision`` and ``recall`` start with the conventional point (recall 0, precision 1) at threshold
        +inf, then one point per distinct score from the highest down (recall rising). This is
        ``sklearn.metrics.precision_recall_curve(..., drop_intermediate=False)`` in reverse order.
        Recall is NaN when there are no positives.
    """
    fps, tps, thresholds = _counts_at_thresholds(y_true, scores)
    predicted = tps + fps
    precision = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted > 0)
    recall = tps / tps[-1] if tps.size and tps[-1] > 0 else np.full_like(tps, np.nan)
    return np.r_[1.0, precision], np.r_[0.0, recall], np.r_[np.inf, thresholds]


def average_precision(y_true, scores) -> float:
    """Average precision: the precision at each threshold weighted by the recall it adds (as scikit-learn)."""
    precision, recall, _ = pr_curve_points(y_true, scores)
    if np.isnan(recall).any():
        return float("nan")
    return float(np.sum(np.diff(recall) * precision[1:]))


def _operating_point(y_true, scores, threshold: float) -> dict[str, float]:
    """Rates when answering positive for ``score >= threshold``."""
    y = _binary_labels(y_true)
    predicted = np.asarray(scores, dtype=np.float64).ravel() >= threshold
    tp = float(np.sum(predicted & y))
    fp = float(np.sum(predicted & ~y))
    positives, negatives = float(y.sum()), float((~y).sum())
    nan = float("nan")
    return {
        "fpr": fp / negatives if negatives else nan,
        "tpr": tp / positives if positives else nan,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
    }


# --------------------------------------------------------------------------------------------------------
# Figure plumbing
# --------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _figure(size: tuple[int, int], path):
    """Yield a new constrained-layout figure of ``size`` pixels; on success save it atomically to ``path``."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI, layout="constrained")
        yield fig
        _save_atomically(fig, Path(path))


def _save_atomically(fig, path: Path) -> None:
    """Write ``fig`` as PNG beside ``path`` and rename it into place: a reader never sees half a picture."""
    from fiveornot.atomic import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as stream:
        # No bbox_inches="tight": it would change the documented pixel size.
        fig.savefig(stream, format="png", dpi=DPI, metadata={"Software": None})


def _notice(ax, text: str) -> None:
    """Replace an axes' content with a centred sentence (for empty data)."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="#333333", transform=ax.transAxes, wrap=True)


def _as_float(value) -> float:
    """A history cell as float: numbers, numeric strings (from history.csv); None or '' become NaN."""
    if value is None or value == "":
        return float("nan")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return number if math.isfinite(number) else float("nan")


def _as_images(images) -> np.ndarray:
    """Images as an (N, 28, 28) array, accepting (N, 784) rows too."""
    array = np.asarray(images)
    if array.ndim == 2 and array.shape[1] == 784:
        array = array.reshape(-1, 28, 28)
    if array.ndim == 2 and array.shape == (28, 28):
        array = array[None]
    if array.ndim != 3:
        raise ValueError(f"expected images shaped (N, 28, 28) or (N, 784), got {array.shape}")
    return array


def _draw_digit(ax, image, caption: str | None = None, *, caption_colour: str = "black") -> None:
    """One digit in dark ink on white (prints well), with its caption underneath."""
    image = np.asarray(image)
    vmin, vmax = (0, 255) if image.dtype == np.uint8 else (float(np.min(image)), float(np.max(image)) or 1.0)
    ax.imshow(image, cmap="gray_r", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("#BBBBBB")
    if caption:
        ax.set_xlabel(caption, fontsize=8.5, color=caption_colour, labelpad=2)


def _label_for(positive_label: str) -> str:
    return f"'{positive_label}'"


def _percent_axis(ax, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))


# --------------------------------------------------------------------------------------------------------
# Training curves
# --------------------------------------------------------------------------------------------------------


def plot_history(history: list[dict], path, *, baseline: float | None = None) -> Path:
    """Loss and accuracy per epoch, training vs validation, in two panels side by side.

    Parameters
    ----------
    history : list of dict
        One row per epoch with keys ``epoch``, ``loss``, ``accuracy`` and optionally ``val_loss``,
        ``val_accuracy``. Values may be numbers or strings (rows read from history.csv); missing, None,
        '' or NaN values leave a gap. ``epoch`` defaults to the row number, counting from 1.
    path : str or Path
        Where the PNG goes.
    baseline : float, optional
        The always-majority accuracy, drawn as a dashed line in the accuracy panel.

    Returns
    -------
    Path
        ``path``, a 1000x450 px PNG (``SIZES["history"]``).
    """
    rows = list(history or [])
    epochs = np.array([_as_float(row.get("epoch", i + 1)) for i, row in enumerate(rows)])
    epochs = np.where(np.isnan(epochs), np.arange(1, len(rows) + 1), epochs)

    def column(key):
        return np.array([_as_float(row.get(key)) for row in rows])

    with _figure(SIZES["history"], path) as fig:
        loss_ax, accuracy_ax = fig.subplots(1, 2)
        fig.suptitle("Training curves: is the model still learning?")
        if not rows:
            _notice(loss_ax, "no epochs recorded")
            _notice(accuracy_ax, "no epochs recorded")
            return Path(path)
        for ax, key, title in (
            (loss_ax, "loss", "Loss (lower is better)"),
            (accuracy_ax, "accuracy", "Accuracy (higher is better)"),
        ):
            _draw_train_and_validation(ax, epochs, column(key), column(f"val_{key}"))
            ax.set_title(title)
            ax.set_xlabel("epoch (one pass over the training images)")
            ax.grid(True, alpha=0.3)
            ax.xaxis.get_major_locator().set_params(integer=True)
        loss_ax.set_ylabel("loss")
        _use_log_scale_if_wide(loss_ax, np.r_[column("loss"), column("val_loss")])
        accuracy_ax.set_ylabel("share of images answered right")
        _percent_axis(accuracy_ax)
        if baseline is not None and math.isfinite(baseline):
            accuracy_ax.axhline(
                baseline, color=BASELINE_COLOUR, linestyle="--", linewidth=1.2, label="always-majority baseline"
            )
        for ax in (loss_ax, accuracy_ax):
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="best")
    return Path(path)


def _draw_train_and_validation(ax, epochs, train, validation) -> None:
    """Two lines with markers (so a single epoch still shows as a dot); a line only if it has a value."""
    if np.isfinite(train).any():
        ax.plot(epochs, train, color=TRAIN_COLOUR, marker="o", markersize=4, label="training")
    if np.isfinite(validation).any():
        ax.plot(
            epochs, validation, color=VALIDATION_COLOUR, linestyle="--", marker="s", markersize=4, label="validation"
        )
    if not (np.isfinite(train).any() or np.isfinite(validation).any()):
        ax.text(0.5, 0.5, "no values recorded", ha="center", va="center", transform=ax.transAxes, color="#333333")


def _use_log_scale_if_wide(ax, values) -> None:
    """A log axis when the loss spans more than 100x (the unscaled linear model's first epochs are huge)."""
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
        ax.set_yscale("log")
        ax.set_ylabel("loss (log scale)")


# --------------------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------------------


def _weight_maps(weights) -> np.ndarray:
    """Weights as (k, 28, 28): k = 1 for a binary model, 10 (or 2..10) for a multi-class one."""
    w = np.asarray(weights, dtype=np.float64)
    if w.size == 784:
        return w.reshape(1, 28, 28)
    if w.ndim == 2 and w.shape[0] == 784:
        w = w.T
    if w.ndim == 2 and w.shape[1] == 784:
        w = w.reshape(-1, 28, 28)
    if w.ndim == 3 and w.shape[1:] == (28, 28) and 1 <= w.shape[0] <= 10:
        return w
    raise ValueError(
        f"expected weights shaped (784,), (28, 28), (784, k), (k, 784) or (k, 28, 28) with k <= 10, got {w.shape}"
    )


def _symmetric_limit(values: np.ndarray) -> float:
    """The colour scale's half-width, so that zero sits exactly in the middle (white)."""
    finite = np.abs(values[np.isfinite(values)])
    limit = float(finite.max()) if finite.size else 0.0
    return limit if limit > 0 else 1.0


def plot_weights(weights: np.ndarray, path, *, titles=None, positive_label: str = "five") -> Path:
    """The weights as 28x28 pictures: red pixels push toward the class, blue ones away, white do nothing.

    Parameters
    ----------
    weights : array
        (784,) or (28, 28) for a one-output model -> one map; (784, 10), (10, 784) or (10, 28, 28) for the
        10-class model -> ten maps in 2 rows of 5 sharing one colour scale (so they compare).
    path : str or Path
        Where the PNG goes.
    titles : str or list of str, optional
        For one map, the figure title; for ten, one title per map (default "0".."9").
    positive_label : str
        The class name used in the one-map title ("five").

    Returns
    -------
    Path
        ``path``: 600x520 px for one map (``SIZES["weights"]``), 1100x520 px for ten
        (``SIZES["weights_grid"]``).
    """
    maps = _weight_maps(weights)
    limit = _symmetric_limit(maps)
    if maps.shape[0] == 1:
        title = titles if isinstance(titles, str) else (titles[0] if titles else None)
        with _figure(SIZES["weights"], path) as fig:
            ax = fig.subplots()
            image = ax.imshow(maps[0], cmap=WEIGHTS_CMAP, vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            # Two short lines: a wrapped title is clipped by constrained layout.
            ax.set_title(title or f"What the model learned\nred pixels push toward {_label_for(positive_label)}, "
                                  "blue away")
            bar = fig.colorbar(image, ax=ax, shrink=0.9)
            bar.set_label("weight (ink here adds weight x ink to the output)")
        return Path(path)

    names = list(titles) if titles is not None and not isinstance(titles, str) else [str(i) for i in range(len(maps))]
    with _figure(SIZES["weights_grid"], path) as fig:
        axes = fig.subplots(2, 5)
        fig.suptitle(
            titles
            if isinstance(titles, str)
            else "What each output learned: red pixels vote for its digit, blue against"
        )
        image = None
        for index, ax in enumerate(axes.flat):
            ax.set_xticks([])
            ax.set_yticks([])
            if index >= len(maps):
                ax.set_axis_off()
                continue
            image = ax.imshow(maps[index], cmap=WEIGHTS_CMAP, vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_title(names[index] if index < len(names) else str(index))
        bar = fig.colorbar(image, ax=axes, shrink=0.85)
        bar.set_label("weight")
    return Path(path)


# --------------------------------------------------------------------------------------------------------
# Mistakes
# --------------------------------------------------------------------------------------------------------


def _is_binary(y_true, y_pred) -> bool:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.dtype == bool or y_pred.dtype == bool:
        return True
    values = np.union1d(np.unique(y_true), np.unique(y_pred))
    return bool(np.all(np.isin(values, (0, 1))))


def _format_score(score: float) -> str:
    """Probabilities with two decimals; raw outputs (any size) with three significant digits."""
    if not math.isfinite(score):
        return "n/a"
    if not 0.0 <= score <= 1.0:
        return f"{score:.3g}"
    if 0.01 <= score <= 0.99:
        return f"{score:.2f}"
    if score < 0.001:
        return "<0.001"
    return ">0.999" if score > 0.999 else f"{score:.3f}"  # 0.00 and 1.00 would hide how sure it was


def plot_misclassified(
    images, y_true, y_pred, scores, path, *, positive_label: str = "five", limit: int = 12, binary: bool | None = None
) -> Path:
    """A gallery of test images the model got wrong, most confident mistakes first.

    Parameters
    ----------
    images : array (N, 28, 28) or (N, 784)
        The test images (uint8 0..255 is drawn as ink on paper).
    y_true, y_pred : arrays (N,)
        bool (or 0/1) answers of a binary model, or digits 0..9 of a 10-class model.
    scores : array (N,) or None
        The model's output for each image (binary: the probability of ``positive_label``; 10-class: the
        probability of the predicted digit). Used to order mistakes and written under each image.
    path : str or Path
        Where the PNG goes.
    positive_label : str
        The binary model's positive class name ("five").
    limit : int
        Binary: at most ``limit`` false positives and ``limit`` false negatives; 10-class: at most ``limit``
        mistakes in total (2 rows).
    binary : bool, optional
        Force the binary or the 10-class layout; guessed from the labels by default (bool or only 0/1 = binary).

    Returns
    -------
    Path
        ``path``, a 1200x560 px PNG (``SIZES["misclassified"]``). Rows without mistakes say so in words.
    """
    pictures = _as_images(images)
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if not (len(pictures) == y_true.size == y_pred.size):
        raise ValueError(f"images, y_true and y_pred disagree in length: {len(pictures)}, {y_true.size}, {y_pred.size}")
    output = np.full(y_true.size, np.nan) if scores is None else np.asarray(scores, dtype=np.float64).ravel()
    limit = max(1, int(limit))
    if binary is None:
        binary = _is_binary(y_true, y_pred)
    with _figure(SIZES["misclassified"], path) as fig:
        if binary:
            truth, answers = y_true.astype(bool), y_pred.astype(bool)
            _draw_binary_mistakes(fig, pictures, truth, answers, output, positive_label, limit)
        else:
            _draw_multiclass_mistakes(fig, pictures, y_true, y_pred, output, limit)
    return Path(path)


def _most_confident(indices: np.ndarray, output: np.ndarray, *, descending: bool, limit: int) -> np.ndarray:
    """The first ``limit`` indices ordered by output (NaN outputs keep their order at the end)."""
    if np.isnan(output[indices]).all():
        return indices[:limit]
    key = -output[indices] if descending else output[indices]
    return indices[np.argsort(np.nan_to_num(key, nan=np.inf), kind="stable")][:limit]


def _draw_binary_mistakes(fig, pictures, y_true, y_pred, output, positive_label, limit) -> None:
    label = _label_for(positive_label)
    false_positives = np.flatnonzero(y_pred & ~y_true)
    false_negatives = np.flatnonzero(~y_pred & y_true)
    rows = (
        (
            false_positives,
            True,
            f"False positives: answered {label} but it is not ({len(false_positives)} in all; highest output first)",
            "no false positives",
        ),
        (
            false_negatives,
            False,
            f"False negatives: it is a {label} the model missed ({len(false_negatives)} in all; lowest output first)",
            "no false negatives",
        ),
    )
    fig.suptitle(f"Test images the model got wrong (number under each: the model's output for {label})")
    for subfigure, (indices, descending, title, empty_text) in zip(fig.subfigures(2, 1), rows):
        subfigure.suptitle(title, fontsize=11, x=0.01, ha="left")
        if indices.size == 0:
            _notice(subfigure.subplots(), empty_text)
            continue
        shown = _most_confident(indices, output, descending=descending, limit=limit)
        for slot, ax in enumerate(subfigure.subplots(1, limit, squeeze=False)[0]):
            if slot >= len(shown):
                ax.set_axis_off()
                continue
            index = shown[slot]
            _draw_digit(ax, pictures[index], _format_score(output[index]), caption_colour=VALIDATION_COLOUR)


def _draw_multiclass_mistakes(fig, pictures, y_true, y_pred, output, limit) -> None:
    mistakes = np.flatnonzero(y_true != y_pred)
    fig.suptitle(
        f"Test images the model got wrong: {len(mistakes)} in all, most confident first "
        "(true digit -> answer (its probability))"
    )
    if mistakes.size == 0:
        _notice(fig.subplots(), "no mistakes: every test image was answered right")
        return
    shown = _most_confident(mistakes, output, descending=True, limit=limit)
    columns = math.ceil(limit / 2)
    for ax, slot in zip(fig.subplots(2, columns).flat, range(2 * columns)):
        if slot >= len(shown):
            ax.set_axis_off()
            continue
        index = shown[slot]
        caption = f"true {y_true[index]} -> {y_pred[index]}"
        if math.isfinite(output[index]):
            caption += f" ({_format_score(output[index])})"
        _draw_digit(ax, pictures[index], caption, caption_colour=VALIDATION_COLOUR)


# --------------------------------------------------------------------------------------------------------
# Confusion matrix, ROC / PR, raw outputs
# --------------------------------------------------------------------------------------------------------


def plot_confusion(matrix, path, *, labels=("not five", "five")) -> Path:
    """The confusion matrix with the count written in every cell.

    Rows are the true class, columns the answer. Cells are coloured by the share of their row (so a rare
    class's mistakes show as clearly as a common one's) on a stretched scale (a power norm) so that the
    few-percent confusions stand out from the zeros; the text is the count.

    Parameters
    ----------
    matrix : array (2, 2) or (10, 10)
        Counts, ``matrix[true][predicted]`` (for binary: ``[[tn, fp], [fn, tp]]``).
    labels : sequence of str
        Class names; a 10x10 matrix with two labels (the default) uses "0".."9".

    Returns
    -------
    Path
        ``path``: 520x460 px for 2x2 (``SIZES["confusion"]``), 760x680 px otherwise
        (``SIZES["confusion_multiclass"]``).
    """
    counts = np.asarray(matrix, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] < 2:
        raise ValueError(f"expected a square confusion matrix, got shape {counts.shape}")
    size = counts.shape[0]
    names = [str(label) for label in labels] if len(labels) == size else [str(i) for i in range(size)]
    row_totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, row_totals, out=np.zeros_like(counts), where=row_totals > 0)
    from matplotlib.colors import PowerNorm

    norm = PowerNorm(gamma=0.4, vmin=0.0, vmax=1.0)
    with _figure(SIZES["confusion"] if size == 2 else SIZES["confusion_multiclass"], path) as fig:
        ax = fig.subplots()
        image = ax.imshow(shares, cmap=COUNTS_CMAP, norm=norm)
        ax.set_xticks(range(size), names)
        ax.set_yticks(range(size), names)
        ax.set_xlabel("the model's answer")
        ax.set_ylabel("the true class")
        ax.set_title(f"Confusion matrix: {int(counts.sum()):,} test images\n(right answers on the diagonal)")
        for spine in ax.spines.values():
            spine.set_visible(False)
        fontsize = 13 if size == 2 else 8
        for row in range(size):
            for col in range(size):
                # Dark text on the light end of cividis, white on the dark end.
                colour = "black" if norm(shares[row, col]) > 0.6 else "white"
                text = f"{int(counts[row, col]):,}"
                ax.text(col, row, text, ha="center", va="center", color=colour, fontsize=fontsize)
        bar = fig.colorbar(image, ax=ax, shrink=0.85)
        bar.set_label("share of the true class (stretched scale)")
    return Path(path)


def plot_roc_pr(y_true, scores, path, *, threshold: float = 0.5) -> Path:
    """ROC and precision-recall curves side by side, with the operating point at ``threshold`` marked.

    Parameters
    ----------
    y_true : array of bool or 0/1
        The true answers (True = positive class).
    scores : array of float
        The model's output (probability of the positive class, or any score where higher = more positive).
    threshold : float
        The threshold the model answers with (positive when ``score >= threshold``).

    Returns
    -------
    Path
        ``path``, a 1000x450 px PNG (``SIZES["roc_pr"]``). With only one class present the panels say why
        there is no curve.
    """
    y = _binary_labels(y_true)
    with _figure(SIZES["roc_pr"], path) as fig:
        roc_ax, pr_ax = fig.subplots(1, 2)
        fig.suptitle("How the answers trade off as the threshold moves")
        if y.all() or not y.any():
            message = "needs both classes in the test set (only one is present)"
            _notice(roc_ax, f"ROC curve: {message}")
            _notice(pr_ax, f"precision-recall curve: {message}")
            return Path(path)
        point = _operating_point(y, scores, threshold)
        fpr, tpr, _ = roc_curve_points(y, scores)
        roc_ax.plot(fpr, tpr, color=TRAIN_COLOUR, linewidth=2, label=f"model (AUC = {roc_auc(y, scores):.4f})")
        roc_ax.plot([0, 1], [0, 1], color=BASELINE_COLOUR, linestyle="--", linewidth=1, label="guessing (AUC = 0.5)")
        roc_ax.plot(
            point["fpr"], point["tpr"], "o", color=VALIDATION_COLOUR, markersize=8, label=f"threshold {threshold:g}"
        )
        roc_ax.set(
            title="ROC curve",
            xlabel="false positive rate (share of negatives called positive)",
            ylabel="true positive rate (recall)",
            xlim=(-0.01, 1.01),
            ylim=(-0.01, 1.01),
        )
        precision, recall, _ = pr_curve_points(y, scores)
        pr_ax.step(
            recall, precision, where="post", color=TRAIN_COLOUR, linewidth=2,
            label=f"model (average precision = {average_precision(y, scores):.4f})",
        )
        share = float(y.mean())
        pr_ax.axhline(
            share, color=BASELINE_COLOUR, linestyle="--", linewidth=1, label=f"guessing ({share:.1%} positive)"
        )
        pr_ax.plot(
            point["tpr"], point["precision"], "o",
            color=VALIDATION_COLOUR, markersize=8, label=f"threshold {threshold:g}",
        )
        pr_ax.set(
            title="Precision-recall curve",
            xlabel="recall (share of positives found)",
            ylabel="precision (share of 'positive' answers that are right)",
            xlim=(-0.01, 1.01),
            ylim=(-0.01, 1.01),
        )
        for ax in (roc_ax, pr_ax):
            ax.grid(True, alpha=0.3)
            ax.set_aspect("equal")
        roc_ax.legend(loc="lower right")
        pr_ax.legend(loc="best")
    return Path(path)


def plot_output_histogram(raw, y_true, path, *, positive_label: str = "five", threshold: float | None = None) -> Path:
    """Histograms of the raw output (the weighted sum w.x + b, before any activation), one per class, overlaid.

    Each class is drawn as the share of its own images (so the rare positive class is as visible as the common
    one). With the linear model on unscaled pixels this shows the huge positive and negative outputs.

    Parameters
    ----------
    raw : array (N,)
        The decision function of each test image.
    y_true : array of bool or 0/1
        The true answers.
    positive_label : str
        The positive class's name ("five").
    threshold : float, optional
        The threshold in raw units (0 for a sigmoid at 0.5), drawn as a dashed vertical line.

    Returns
    -------
    Path
        ``path``, an 800x500 px PNG (``SIZES["output_histogram"]``).
    """
    values = np.asarray(raw, dtype=np.float64).ravel()
    y = _binary_labels(y_true)
    if values.shape != y.shape:
        raise ValueError(f"raw has {values.size} values but y_true has {y.size}")
    finite = np.isfinite(values)
    values, y = values[finite], y[finite]
    label = _label_for(positive_label)
    with _figure(SIZES["output_histogram"], path) as fig:
        ax = fig.subplots()
        ax.set_title(f"The model's raw output (before the activation) for {label} and for the rest")
        if values.size == 0:
            _notice(ax, "no outputs to show")
            return Path(path)
        low, high = float(values.min()), float(values.max())
        if threshold is not None and math.isfinite(threshold):
            low, high = min(low, threshold), max(high, threshold)
        if high - low < 1e-12:  # all equal: give the single bar some width
            low, high = low - 0.5, high + 0.5
        bins = np.linspace(low, high, 61)
        classes = ((~y, f"not {positive_label}", OKABE_ITO["sky_blue"]), (y, positive_label, OKABE_ITO["vermillion"]))
        for mask, name, colour in classes:
            if mask.any():
                count = int(mask.sum())
                weights = np.full(count, 1.0 / count)  # each class sums to 1: the rare class stays visible
                label_text = f"{name} ({count:,} images)"
                ax.hist(values[mask], bins=bins, weights=weights, color=colour, alpha=0.55, label=label_text)
                ax.hist(values[mask], bins=bins, weights=weights, histtype="step", color=colour, linewidth=1.5)
        if threshold is not None and math.isfinite(threshold):
            ax.axvline(threshold, color="black", linestyle="--", linewidth=1.3, label=f"threshold ({threshold:g})")
        ax.set_xlabel("raw output w·x + b (right of the threshold: answered " + label + ")")
        ax.set_ylabel("share of the class's test images")
        _percent_axis(ax)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(loc="best")
    return Path(path)


# --------------------------------------------------------------------------------------------------------
# Tutorial figures
# --------------------------------------------------------------------------------------------------------


def plot_learning_curve(
    sizes, scores: dict[str, list[float]], path, *, baseline: float | None = None,
    baseline_label: str = "always-'not five' baseline",
) -> Path:
    """Test scores against the number of training images (log scale): does more data help?

    Parameters
    ----------
    sizes : sequence of int
        Training-set sizes (x axis, log scale).
    scores : dict of str -> list of float
        One line per metric (e.g. "accuracy", "f1"), one value per size; NaN leaves a gap.
    baseline : float, optional
        A reference score drawn as a dashed horizontal line (e.g. the always-majority accuracy).
    baseline_label : str
        Its legend entry.

    Returns
    -------
    Path
        ``path``, an 800x500 px PNG (``SIZES["learning_curve"]``).
    """
    x = np.asarray(sizes, dtype=np.float64).ravel()
    with _figure(SIZES["learning_curve"], path) as fig:
        ax = fig.subplots()
        ax.set_title("More training data: test scores by training-set size")
        if x.size == 0 or not scores:
            _notice(ax, "no learning-curve points")
            return Path(path)
        for (name, values), colour in zip(scores.items(), _cycle(LINE_COLOURS)):
            y = np.array([_as_float(v) for v in values])
            if y.size != x.size:
                raise ValueError(f"scores[{name!r}] has {y.size} values for {x.size} sizes")
            ax.plot(x, y, marker="o", color=colour, linewidth=2, label=name)
        if baseline is not None and math.isfinite(baseline):
            ax.axhline(baseline, color=BASELINE_COLOUR, linestyle="--", linewidth=1.2, label=baseline_label)
        if (x > 0).all():
            ax.set_xscale("log")
        ax.set_xlabel("training images (log scale)")
        ax.set_ylabel("score on the test set (1 = perfect)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right")
    return Path(path)


def _cycle(items):
    while True:
        yield from items


def plot_comparison(
    labels: list[str], values: list[float], path, *, title: str, xlabel: str = "test accuracy",
    baseline: float | None = None, baseline_label: str = "always-majority baseline", value_format: str | None = None,
) -> Path:
    """A horizontal bar chart comparing runs (one bar per label), value written at the end of each bar.

    The best bar is dark blue, the others light blue; NaN values (a failed run) show as "n/a". When every
    value sits far from zero the axis is zoomed in (and the x label says so), otherwise 97% vs 98% would
    look identical.

    Parameters
    ----------
    labels, values : lists
        Bar names (top to bottom) and their values.
    title, xlabel : str
        Figure title and axis label.
    baseline : float, optional
        A reference value drawn as a dashed vertical line.
    value_format : str, optional
        Format of the written values; default "{:.2%}" when ``xlabel`` mentions accuracy, else "{:.4f}".

    Returns
    -------
    Path
        ``path``, 800 px wide and ``comparison_size(len(labels))[1]`` px high (140 + 45 per bar, >= 320).
    """
    names = [str(label) for label in labels]
    numbers = np.array([_as_float(v) for v in values])
    if len(names) != numbers.size:
        raise ValueError(f"{len(names)} labels but {numbers.size} values")
    if value_format is None:
        value_format = "{:.2%}" if "accuracy" in xlabel.lower() else "{:.4f}"
    with _figure(comparison_size(len(names)), path) as fig:
        ax = fig.subplots()
        ax.set_title(title, wrap=True)
        finite = numbers[np.isfinite(numbers)]
        if finite.size == 0:
            _notice(ax, "no values to compare")
            return Path(path)
        positions = np.arange(len(names))[::-1]  # first label on top
        best = float(finite.max())
        colours = [OKABE_ITO["blue"] if v == best else OKABE_ITO["sky_blue"] for v in numbers]
        ax.barh(positions, np.nan_to_num(numbers, nan=0.0), color=colours, height=0.65)
        ax.set_yticks(positions, names)
        left, right, zoomed = _comparison_limits(finite, baseline)
        ax.set_xlim(left, right)
        for y, value in zip(positions, numbers):
            text = value_format.format(value) if math.isfinite(value) else "n/a"
            ax.text((value if math.isfinite(value) else left), y, " " + text, va="center", ha="left", fontsize=9)
        if baseline is not None and math.isfinite(baseline):
            ax.axvline(baseline, color=BASELINE_COLOUR, linestyle="--", linewidth=1.3, label=baseline_label)
            fig.legend(loc="outside lower right", frameon=False)  # outside the axes: never over a bar
        ax.set_xlabel(xlabel + (" (axis zoomed: it does not start at 0)" if zoomed else ""))
        ax.grid(True, axis="x", alpha=0.3)
    return Path(path)


def _comparison_limits(finite: np.ndarray, baseline) -> tuple[float, float, bool]:
    """x limits that show the differences, leaving room on the right for the written values."""
    points = list(finite) + ([baseline] if baseline is not None and math.isfinite(baseline) else [])
    low, high = min(points), max(points)
    span = high - low or abs(high) or 1.0
    left = low - 0.3 * span
    zoomed = low > 0 and left > 0
    if not zoomed:
        left = min(0.0, left) if low < 0 else 0.0
    return left, high + 0.25 * (high - left), zoomed


def plot_digits(images, path, *, captions=None, columns: int = 10, title: str | None = None) -> Path:
    """A grid of 28x28 digits with an optional caption under each.

    Parameters
    ----------
    images : array (N, 28, 28) or (N, 784)
        uint8 images are drawn on the 0..255 scale; floats from their own minimum to maximum.
    captions : list of str, optional
        One per image.
    columns : int
        Digits per row.
    title : str, optional
        A title over the grid.

    Returns
    -------
    Path
        ``path``, of ``digits_size(N, columns)`` pixels: 100 px wide and 120 px high per cell, plus 40 px.
    """
    pictures = _as_images(images) if len(np.asarray(images)) else np.zeros((0, 28, 28), np.uint8)
    if captions is not None and len(captions) != len(pictures):
        raise ValueError(f"{len(captions)} captions for {len(pictures)} images")
    columns = max(1, int(columns))
    with _figure(digits_size(len(pictures), columns), path) as fig:
        if len(pictures) == 0:
            _notice(fig.subplots(), "no images to show")
            return Path(path)
        if title:
            fig.suptitle(title)
        columns = min(columns, len(pictures))
        rows = math.ceil(len(pictures) / columns)
        for slot, ax in enumerate(fig.subplots(rows, columns, squeeze=False).flat):
            if slot >= len(pictures):
                ax.set_axis_off()
                continue
            _draw_digit(ax, pictures[slot], None if captions is None else str(captions[slot]))
    return Path(path)


def digit_name(digit: int) -> str:
    """'five' for 5: how the report and titles name a digit class."""
    return DIGIT_WORDS[int(digit)] if 0 <= int(digit) <= 9 else str(digit)
