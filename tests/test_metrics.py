"""Our metrics against scikit-learn's, on random and edge-case data."""

import numpy as np
import pytest
from sklearn import metrics as sk

from fiveornot.metrics import average_ranks, binary_metrics, multiclass_metrics


@pytest.mark.parametrize("seed", range(5))
def test_binary_metrics_agree_with_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.random(500) < 0.1
    scores = np.clip(y_true * 0.3 + rng.random(500) * 0.8, 0, 1).round(2)  # rounding makes ties
    threshold = 0.5
    y_pred = scores >= threshold
    ours = binary_metrics(y_true, scores, threshold)
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert ours["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y_true, y_pred))
    assert ours["precision"] == pytest.approx(sk.precision_score(y_true, y_pred, zero_division=0))
    assert ours["recall"] == pytest.approx(sk.recall_score(y_true, y_pred))
    assert ours["f1"] == pytest.approx(sk.f1_score(y_true, y_pred))
    assert ours["roc_auc"] == pytest.approx(sk.roc_auc_score(y_true, scores))
    assert ours["confusion_matrix"] == sk.confusion_matrix(y_true, y_pred).tolist()
    assert ours["baseline_accuracy"] == pytest.approx(max(y_true.mean(), 1 - y_true.mean()))


def test_always_no_model_scores_the_baseline_and_zero_f1():
    y_true = np.array([True] * 9 + [False] * 91)
    ours = binary_metrics(y_true, np.zeros(100), 0.5)
    assert ours["accuracy"] == ours["baseline_accuracy"] == 0.91
    assert ours["precision"] == ours["recall"] == ours["f1"] == 0.0
    assert ours["balanced_accuracy"] == 0.5


def test_roc_auc_is_undefined_for_one_class():
    assert binary_metrics(np.zeros(10, bool), np.arange(10) / 10)["roc_auc"] is None


def test_multiclass_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 10, 1000)
    y_pred = np.where(rng.random(1000) < 0.7, y_true, rng.integers(0, 10, 1000))
    ours = multiclass_metrics(y_true, y_pred)
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert ours["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y_true, y_pred))
    assert ours["confusion_matrix"] == sk.confusion_matrix(y_true, y_pred, labels=range(10)).tolist()
    assert ours["baseline_accuracy"] == pytest.approx(np.bincount(y_true).max() / 1000)


def test_average_ranks_match_scipy():
    from scipy.stats import rankdata

    values = np.array([3.0, 1.0, 3.0, 2.0, 1.0, 5.0])
    np.testing.assert_allclose(average_ranks(values), rankdata(values))


def test_roc_auc_of_a_diverged_model_is_undefined():
    assert binary_metrics(np.array([True, False]), np.array([np.nan, np.nan]))["roc_auc"] is None


def test_roc_auc_ranks_the_raw_sums_when_given():
    y_true = np.array([True, False, True, False])
    step_outputs = np.array([1.0, 1.0, 0.0, 0.0])  # a step unit: ties everywhere
    raw = np.array([3.0, 0.5, -0.2, -4.0])
    assert binary_metrics(y_true, step_outputs, 0.5)["roc_auc"] == 0.5
    assert binary_metrics(y_true, step_outputs, 0.5, ranking=raw)["roc_auc"] == 0.75
