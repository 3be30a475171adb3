"""Accuracy on the real MNIST (fetched once into the cache): the tutorial's story and the issue's targets.

One seed each here; bench/train_speed.py reports the medians over seeds 0, 1, 2.
"""

import warnings

import numpy as np
import pytest

from fiveornot import Perceptron

pytestmark = pytest.mark.mnist


def fit_and_score(mnist, **params):
    (x_train, y_train), (x_test, y_test) = mnist
    model = Perceptron(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(x_train, y_train)
    return model, history, model.evaluate(x_test, y_test)


def test_data_is_real_mnist(mnist):
    assert mnist.is_mnist
    (_, y_train), (_, y_test) = mnist
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_default_model_beats_the_target(mnist):
    _, _, test = fit_and_score(mnist)
    assert test["accuracy"] >= 0.975
    assert test["baseline_accuracy"] == pytest.approx(0.9108)
    assert test["f1"] > 0.85


def test_tutorial_linear_model_fails_as_in_the_tutorial(mnist):
    _, history, linear = fit_and_score(mnist, activation="linear", scale="none")
    _, _, sigmoid = fit_and_score(mnist, scale="none")
    val = np.array(history["val_accuracy"])
    assert linear["accuracy"] < sigmoid["accuracy"] - 0.1   # far below the sigmoid's
    assert linear["accuracy"] < linear["baseline_accuracy"]  # worse than always answering "not five"
    assert val.max() - val.min() > 0.1                       # erratic between epochs
    assert sigmoid["accuracy"] > 0.94                        # the sigmoid fix (seed 0) learns


def test_deskew_improves_the_five_detector(mnist):
    _, _, test = fit_and_score(mnist, deskew=True)
    assert test["accuracy"] >= 0.983 and test["f1"] >= 0.9


def test_ten_class_softmax_perceptron(mnist):
    _, _, test = fit_and_score(mnist, digit="all")
    assert test["accuracy"] >= 0.92
    assert np.array(test["confusion_matrix"]).shape == (10, 10)
