"""Honest metrics: accuracy always next to the always-majority baseline, and the numbers that accuracy hides.

Only numpy; scikit-learn is the oracle these are tested against, not a dependency.
"""

import numpy as np


def binary_metrics(y_true, scores, threshold: float = 0.5, ranking=None) -> dict:
    """Metrics for "is it the digit?" from true bools and the model's outputs (answer: score >= threshold).

    ROC-AUC ranks `ranking` when given (the raw sums), else the scores.
    """
    y_true = np.asarray(y_true, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    y_pred = scores >= threshold
    tp = int(np.sum(y_pred & y_true))
    fp = int(np.sum(y_pred & ~y_true))
    fn = int(np.sum(~y_pred & y_true))
    tn = int(np.sum(~y_pred & ~y_true))
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    positives = y_true.mean() if y_true.size else 0.0
    return {
        "accuracy": _ratio(tp + tn, y_true.size),
        "baseline_accuracy": float(max(positives, 1 - positives)),
        "balanced_accuracy": (recall + specificity) / 2,
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "roc_auc": roc_auc(y_true, scores if ranking is None else ranking),
        "threshold": float(threshold),
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }


def multiclass_metrics(y_true, y_pred, n_classes: int = 10) -> dict:
    """Accuracy, the majority-class baseline, balanced accuracy and the confusion matrix (rows: true)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    matrix = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    support = matrix.sum(axis=1)
    present = support > 0
    per_class_recall = np.diag(matrix)[present] / support[present]
    return {
        "accuracy": _ratio(np.trace(matrix), y_true.size),
        "baseline_accuracy": _ratio(support.max(), y_true.size),
        "balanced_accuracy": float(per_class_recall.mean()) if present.any() else 0.0,
        "confusion_matrix": matrix.tolist(),
    }


def roc_auc(y_true, scores) -> float | None:
    """Area under the ROC curve: the chance a random positive scores above a random negative (ties count half).

    None when only one class is present (the area is undefined) or a score is not finite (a diverged model).
    """
    y_true = np.asarray(y_true, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(y_true.sum())
    n_neg = y_true.size - n_pos
    if n_pos == 0 or n_neg == 0 or not np.all(np.isfinite(scores)):
        return None
    ranks = average_ranks(scores)
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks (as scipy.stats.rankdata's default)."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], values.size]
    mean_rank = (starts + ends + 1) / 2  # mean of the 1-based ranks starts+1 .. ends
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def _ratio(numerator, denominator) -> float:
    return float(numerator / denominator) if denominator else 0.0
