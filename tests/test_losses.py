"""Every activation/loss pair: the analytic gradient agrees with finite differences of the loss itself."""

import numpy as np
import pytest

from fiveornot import activations, losses

# z values away from the kinks of hinge/perceptron (at t*z = 1 and 0) and from step's jump at 0.
Z = np.array([-3.1, -1.7, -0.4, 0.3, 0.45, 1.9, 2.6])
Y = np.array([0, 1, 0, 1, 1, 0, 1], dtype=float)


def finite_difference(loss, activation, z, y, h=1e-6):
    plus = losses.loss_and_gradient(loss, activation, z + h, y)[0]
    minus = losses.loss_and_gradient(loss, activation, z - h, y)[0]
    return (plus - minus) / (2 * h)


@pytest.mark.parametrize("loss", losses.LOSSES)
@pytest.mark.parametrize("activation", ["linear", "sigmoid"])
def test_gradient_matches_finite_differences(loss, activation):
    z = Z
    if loss == "bce" and activation == "linear":  # a linear output must stay inside (0, 1) for cross-entropy
        z = np.array([0.1, 0.2, 0.35, 0.6, 0.8, 0.9, 0.7])
    _, gradient = losses.loss_and_gradient(loss, activation, z, Y)
    np.testing.assert_allclose(gradient, finite_difference(loss, activation, z, Y), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss", losses.LOSSES)
def test_step_uses_straight_through_gradient(loss):
    """step's true derivative is 0; training uses the derivative of the same loss on a linear output instead."""
    z = np.array([-2.0, -0.5, 0.5, 2.0])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    _, gradient = losses.loss_and_gradient(loss, "step", z, y)
    a = activations.activate("step", z)
    if loss == "mse":
        np.testing.assert_allclose(gradient, 2 * (a - y))  # (output - target) * x: the perceptron rule
    elif loss in losses.MARGIN_LOSSES:  # margin losses look at z, so step changes nothing
        np.testing.assert_allclose(gradient, finite_difference(loss, "linear", z, y))
    else:  # bce on a 0/1 output is clipped: no gradient flows, as in Keras
        assert np.all(gradient == 0)


def test_perceptron_loss_is_the_classic_rule():
    z = np.array([-1.0, 2.0, 0.5, -0.2])
    y = np.array([1.0, 1.0, 0.0, 0.0])
    value, gradient = losses.loss_and_gradient("perceptron", "step", z, y)
    np.testing.assert_allclose(value, [1.0, 0.0, 0.5, 0.0])
    np.testing.assert_allclose(gradient, [-1.0, 0.0, 1.0, 0.0])  # update -lr*g*x: add misclassified fives


def test_bce_with_sigmoid_is_stable_for_huge_outputs():
    value, gradient = losses.loss_and_gradient("bce", "sigmoid", np.array([-800.0, 800.0]), np.array([1.0, 0.0]))
    assert np.all(np.isfinite(value)) and np.allclose(value, 800.0)
    np.testing.assert_allclose(gradient, [-1.0, 1.0])


@pytest.mark.parametrize("function", [losses.softmax_cross_entropy, losses.softmax_mse])
def test_softmax_gradients_match_finite_differences(function):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 10))
    labels = rng.integers(0, 10, 5)
    _, gradient = function(z, labels)
    numeric = np.zeros_like(z)
    for k in range(10):
        step = np.zeros_like(z)
        step[:, k] = 1e-6
        numeric[:, k] = (function(z + step, labels)[0] - function(z - step, labels)[0]) / 2e-6
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-8)
