"""Perceptron: the sklearn-style API, determinism, parameter checks, and model files that cannot lie."""

import json
import re
import warnings

import numpy as np
import pytest

from fiveornot import Perceptron
from fiveornot.errors import ModelFileError
from fiveornot.model import ParameterError


def fit(digits, **params):
    (x, y), _ = digits
    model = Perceptron(**({"epochs": 3, "lr": 0.01} | params))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y)
    return model


def test_learns_a_separable_problem(digits):
    model = fit(digits)
    _, (x_test, y_test) = digits
    assert model.score(x_test, y_test) > 0.97
    assert model.history_.status == "completed" and model.history_.epochs_run == 3


def test_outputs_have_the_documented_shapes(digits):
    model = fit(digits)
    _, (x_test, _) = digits
    assert model.decision_function(x_test).shape == (200,)
    assert model.predict(x_test).dtype == bool
    proba = model.predict_proba(x_test)
    assert proba.shape == (200,) and np.all((proba >= 0) & (proba <= 1))
    # one image, flat or square, works too
    assert model.predict(x_test[0]).shape == (1,)
    assert model.predict(x_test[:3].reshape(3, 784)).shape == (3,)


def test_same_seed_gives_bit_identical_weights(digits):
    a, b = fit(digits, seed=7), fit(digits, seed=7)
    assert np.array_equal(a.coef_, b.coef_) and a.intercept_ == b.intercept_
    assert a.history_.rows[-1]["val_loss"] == b.history_.rows[-1]["val_loss"]
    assert not np.array_equal(a.coef_, fit(digits, seed=8).coef_)


@pytest.mark.parametrize("name,value,allowed", [("lr", -1.0, "(0, inf)"), ("digit", 12, "0..9"),
                                                ("activation", "relu", "one of"), ("validation_split", 1.5, "[0, 1)")])
def test_bad_parameters_are_named_with_their_range(digits, name, value, allowed):
    with pytest.raises(ParameterError, match=rf"The '{name}' parameter of Perceptron must be .*{re.escape(allowed)}.*Got"):
        fit(digits, **{name: value})


def test_ten_class_model(digits):
    model = fit(digits, digit="all")
    _, (x_test, y_test) = digits
    assert model.coef_.shape == (784, 10) and model.intercept_.shape == (10,)
    assert set(np.unique(model.predict(x_test))) <= set(range(10))
    assert model.predict_proba(x_test).sum(axis=1) == pytest.approx(np.ones(200))
    assert model.score(x_test, y_test) > 0.9


@pytest.mark.parametrize("params", [{}, {"scale": "standard"}, {"digit": "all"}, {"digit": 3, "threshold": 0.3}])
def test_save_load_round_trip(digits, tmp_path, params):
    model = fit(digits, **params)
    path = model.save(tmp_path / "model.safetensors")
    loaded = Perceptron.load(path)
    _, (x_test, _) = digits
    np.testing.assert_array_equal(loaded.decision_function(x_test), model.decision_function(x_test))
    np.testing.assert_array_equal(loaded.predict(x_test), model.predict(x_test))
    assert loaded.get_params() == model.get_params() | {"threshold": model.threshold_}
    assert repr(loaded).startswith("Perceptron(")


def test_tampered_truncated_and_foreign_files_are_refused(digits, tmp_path):
    path = fit(digits).save(tmp_path / "model.safetensors")
    data = bytearray(path.read_bytes())

    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated|not a readable"):
        Perceptron.load(tmp_path / "truncated.safetensors")

    tampered = data.copy()
    tampered[-4:] = b"\x00\x00\x80\x7f"  # one weight becomes +inf
    (tmp_path / "tampered.safetensors").write_bytes(bytes(tampered))
    with pytest.raises(ModelFileError, match="modified"):
        Perceptron.load(tmp_path / "tampered.safetensors")

    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(ModelFileError):
        Perceptron.load(tmp_path / "empty.safetensors")

    from safetensors.numpy import save_file
    save_file({"weights": np.zeros(784, np.float32)}, tmp_path / "foreign.safetensors", metadata={"x": "y"})
    with pytest.raises(ModelFileError, match="not a fiveornot model"):
        Perceptron.load(tmp_path / "foreign.safetensors")


def test_unknown_version_and_wrong_shape_are_refused(digits, tmp_path):
    from safetensors.numpy import load_file, save_file
    from safetensors import safe_open

    path = fit(digits).save(tmp_path / "model.safetensors")
    with safe_open(path, "np") as handle:
        metadata = handle.metadata()
    tensors = load_file(path)

    save_file(tensors, tmp_path / "future.safetensors", metadata=metadata | {"format_version": "99"})
    with pytest.raises(ModelFileError, match="version '99'"):
        Perceptron.load(tmp_path / "future.safetensors")

    from fiveornot.model import _tensors_digest
    wrong = tensors | {"weights": np.zeros(100, np.float32)}
    save_file(wrong, tmp_path / "shape.safetensors", metadata=metadata | {"tensors_sha256": _tensors_digest(wrong)})
    with pytest.raises(ModelFileError, match="wrong shape"):
        Perceptron.load(tmp_path / "shape.safetensors")


def test_model_file_holds_no_pickle_and_readable_metadata(digits, tmp_path):
    path = fit(digits, scale="standard").save(tmp_path / "model.safetensors")
    data = path.read_bytes()
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    meta = header["__metadata__"]
    assert meta["format"] == "fiveornot-perceptron" and meta["format_version"] == "1"
    assert json.loads(meta["params"])["scale"] == "standard"
    assert b"\x80\x04" not in data[:16]  # not a pickle stream


def test_unfitted_model_says_what_to_do():
    from fiveornot.errors import FiveornotError

    with pytest.raises(FiveornotError, match="not trained yet"):
        Perceptron().predict(np.zeros((1, 28, 28), np.uint8))


def test_a_ten_class_model_as_a_five_detector(digits):
    model = fit(digits, digit="all")
    _, (x_test, y_test) = digits
    detector = model.evaluate_detector(x_test, y_test, 5)
    says_five = model.predict(x_test) == 5
    assert detector["accuracy"] == pytest.approx(np.mean(says_five == (y_test == 5)))
    assert detector["confusion_matrix"][1][1] == int(np.sum(says_five & (y_test == 5)))
    assert 0.5 <= detector["roc_auc"] <= 1.0
    binary = fit(digits, digit=5)
    assert binary.evaluate_detector(x_test, y_test, 5) == binary.evaluate(x_test, y_test)
    with pytest.raises(Exception, match="detects 5, not 3"):
        binary.evaluate_detector(x_test, y_test, 3)
