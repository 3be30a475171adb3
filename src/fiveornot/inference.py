"""What a trained model says about 28x28 digits, in the words the CLI and the web page both show.

One place builds the answer for an image ("five" / "not five", or a digit for a 10-class model), its
probability, the raw weighted sum (the tutorial's debugging step) and, for the web page, the per-pixel
contributions that add up, with the bias, to that raw sum.
"""

from __future__ import annotations

import numpy as np

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def target_word(model) -> str:
    return "digit" if model.multiclass else DIGIT_WORDS[model.digit]


def describe(model, images: np.ndarray) -> list[dict]:
    """For uint8 images (N, 28, 28): one dict per image with answer, probability and raw output.

    One output: answer "five"/"not five" (for digit 5), probability = the sigmoid's output (None for a linear or
    step unit, whose output is no probability), raw = the weighted sum. Ten outputs: answer the digit (an int),
    probability of that digit, probabilities of all ten, raw = the ten weighted sums.
    """
    return describe_raw(model, model.decision_function(images))


def describe_raw(model, raw: np.ndarray) -> list[dict]:
    """`describe` from the raw weighted sums, (N,) or (N, 10)."""
    if model.multiclass:
        probabilities = model.output_from_raw(raw)
        answers = probabilities.argmax(axis=1)
        return [{"answer": int(a), "probability": float(p[a]), "probabilities": [float(v) for v in p],
                 "raw": [float(v) for v in z]} for a, p, z in zip(answers, probabilities, raw)]
    outputs = model.output_from_raw(raw)
    yes = outputs >= model.threshold_
    word = target_word(model)
    is_probability = model.activation == "sigmoid"
    return [{"answer": word if is_yes else f"not {word}",
             "probability": float(out) if is_probability else None,
             "output": float(out),
             "raw": float(z)} for is_yes, out, z in zip(yes, outputs, raw)]


def explain(model, image: np.ndarray) -> dict:
    """`describe` for one uint8 (28, 28) image, plus why: the bias and the 28x28 `contributions`
    (weight x prepared input), which sum with the bias to the raw output. The input is prepared once.

    For a 10-class model `raw`, `bias` and `contributions` are the predicted digit's; `raw_all` holds all ten.
    """
    prepared = model.preparation_.transform(image)[0]
    raw = prepared @ model.coef_ + model.intercept_
    said = describe_raw(model, raw[np.newaxis])[0]
    if model.multiclass:
        digit = said["answer"]
        weights, bias = model.coef_[:, digit], float(model.intercept_[digit])
        said.update(raw=said["raw"][digit], raw_all=said["raw"], output=None)
    else:
        weights, bias = model.coef_, float(model.intercept_)
    said["bias"] = bias
    said["contributions"] = (weights.astype(np.float64) * prepared).reshape(28, 28)
    return said
