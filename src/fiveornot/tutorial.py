"""The tutorial's story as real training runs, written up as one report.

1. a linear unit on raw pixels fails (accuracy low and erratic, raw outputs large positive and negative);
2. a sigmoid squashes the output into 0..1 and fixes it;
3-5. the three levers: a better algorithm, better data preparation, more training data;
6. the best five-detector found, against the always-"not five" baseline and scikit-learn.

Every experiment is independent, so they run in parallel worker processes, one per CPU core. Each worker
loads the data itself (from the cache it is a memory map) and returns plain numbers; the pictures and the
report are made here.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from fiveornot import plots, report
from fiveornot.errors import TrainingError
from fiveornot.model import Perceptron

RAW_SAMPLES = 12  # test images whose raw outputs step 1 shows


@dataclass
class Experiment:
    key: str
    step: str
    label: str
    params: dict = field(default_factory=dict)
    baseline_model: str | None = None  # "logreg-unit" / "logreg-deskew": scikit-learn instead of a Perceptron


def plan(quick: bool) -> list[Experiment]:
    """The runs of the tutorial; `quick` keeps the story but trims epochs and sweeps to fit in a minute."""
    epochs = 5 if quick else 10
    e = lambda **p: {"epochs": epochs, **p}  # noqa: E731
    runs = [
        Experiment("linear-raw", "1", "linear, raw pixels", e(activation="linear", scale="none")),
        *[Experiment(f"sigmoid-raw-seed{s}", "2", f"sigmoid, raw pixels, seed {s}", e(scale="none", seed=s))
          for s in (0, 1, 2)],
        Experiment("sigmoid-unit", "2", "sigmoid, pixels/255", e()),
        Experiment("loss-bce", "3", "cross-entropy loss", e(loss="bce")),
        Experiment("loss-hinge", "3", "hinge loss", e(loss="hinge")),
        Experiment("opt-sgd", "3", "SGD (lr 0.1)", e(optimizer="sgd", lr=0.1)),
        Experiment("opt-momentum", "3", "momentum (lr 0.01)", e(optimizer="momentum", lr=0.01)),
        # The classic rule updates after every image (batch size 1), from zero weights.
        Experiment("rosenblatt", "3", "Rosenblatt: step + perceptron rule", e(activation="step", loss="perceptron",
                                                                                optimizer="sgd", lr=1.0, init="zeros",
                                                                                batch_size=1)),
        *[Experiment(f"lr-{lr:g}", "3", f"Adam lr {lr:g}", e(lr=lr)) for lr in ((1e-4, 1e-2, 1e-1))],
        Experiment("scale-standard", "4", "standardised pixels", e(scale="standard")),
        Experiment("deskew", "4", "pixels/255 + deskew", e(deskew=True)),
        Experiment("deskew-standard", "4", "standardised + deskew", e(deskew=True, scale="standard")),
        *[Experiment(f"size-{n}", "5", f"{n:,} training images", e(train_size=n))
          for n in ((500, 2000, 10000) if quick else (500, 1000, 2000, 5000, 10000, 20000))],
        Experiment("augment", "5", "deskew + 1 augmented copy per epoch",
                   {**e(deskew=True, augment=1), "epochs": 2 if quick else 10}),
        Experiment("augment-elastic", "5", "deskew + 1 elastically distorted copy per epoch",
                   {**e(deskew=True, augment=1, elastic=True), "epochs": 2 if quick else 10}),
        Experiment("softmax-unit", "3", "10 classes, pixels/255", e(digit="all")),
        Experiment("softmax-deskew", "4", "10 classes, deskew", e(digit="all", deskew=True)),
        Experiment("softmax-augment", "5", "10 classes, deskew + 1 augmented copy per epoch",
                   {**e(digit="all", deskew=True, augment=1), "epochs": 2 if quick else 10}),
        Experiment("logreg-unit", "6", "scikit-learn LogisticRegression, pixels/255", baseline_model="logreg-unit"),
        Experiment("logreg-deskew", "6", "scikit-learn LogisticRegression, deskewed", baseline_model="logreg-deskew"),
    ]
    if quick:  # the scikit-learn fits take longer than all the quick runs together
        runs = [r for r in runs if r.baseline_model is None]
    return runs


def run_experiment_numbers(experiment: Experiment, data_dir=None, offline=False) -> dict:
    """Train and test one experiment (in a worker process); returns plain numbers only."""
    import warnings

    from fiveornot.data import load_dataset

    (x_train, y_train), (x_test, y_test) = load_dataset(data_dir=data_dir, offline=offline)
    started = time.perf_counter()
    if experiment.baseline_model:
        return _logistic_regression(experiment, x_train, y_train, x_test, y_test, started)
    model = Perceptron(**experiment.params)
    result = {"key": experiment.key, "status": "completed"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            history = model.fit(x_train, y_train)
        except TrainingError as error:
            history = error.history
            result["status"] = "diverged"
    result["history"] = history.rows
    result["train_seconds"] = time.perf_counter() - started
    result["val_accuracy"] = history.rows[-1]["val_accuracy"] if history.rows else None
    result["test"] = model.evaluate(x_test, y_test)
    if model.multiclass:   # the ten-digit model as a five-detector: "is your answer 5?"
        held = model.validation_indices_
        result["as_five_detector"] = {
            "test": model.evaluate_detector(x_test, y_test, 5),
            "val_accuracy": None if held is None else float(np.mean((model.predict(x_train[held]) == 5)
                                                                     == (y_train[held] == 5))),
        }
    else:
        result["raw_sample"] = model.decision_function(x_test[:RAW_SAMPLES]).tolist()
        result["raw_all"] = model.decision_function(x_test).astype(np.float32)
    result["model"] = model
    return result


def _logistic_regression(experiment, x_train, y_train, x_test, y_test, started) -> dict:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        return {"key": experiment.key, "status": "skipped", "note": "scikit-learn is not installed"}
    from fiveornot.metrics import binary_metrics
    from fiveornot.prepare import Preparation

    prep = Preparation(scale="unit", deskew=experiment.baseline_model == "logreg-deskew")
    X_train, X_test = prep.fit_transform(x_train), prep.transform(x_test)
    classifier = LogisticRegression(max_iter=200).fit(X_train, y_train == 5)
    probability = classifier.predict_proba(X_test)[:, 1]
    return {"key": experiment.key, "status": "completed", "train_seconds": time.perf_counter() - started,
            "test": binary_metrics(y_test == 5, probability, 0.5), "val_accuracy": None}


def _expected_cost(experiment: Experiment) -> float:
    params = experiment.params
    cost = params.get("epochs", 10) * (1 + 4 * params.get("augment", 0)) * (3 if params.get("digit") == "all" else 1)
    return 60 if experiment.baseline_model else cost


def run_all(experiments, *, data_dir=None, offline=False, workers=None, on_result=None) -> dict[str, dict]:
    """Run experiments in parallel worker processes; `on_result(result, done, total)` reports progress."""
    workers = workers or os.cpu_count() or 1
    results = {}
    # spawn, not fork: a forked child of a process with thread pools (BLAS, numba) can hang
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        # Longest first, so that the last to finish is a short one and no core sits idle at the end.
        by_cost = sorted(experiments, key=_expected_cost, reverse=True)
        futures = [pool.submit(run_experiment_numbers, exp, data_dir, offline) for exp in by_cost]
        for done, future in enumerate(as_completed(futures), start=1):
            result = future.result()
            results[result["key"]] = result
            if on_result:
                on_result(result, done, len(futures))
    return results


# ---- the write-up --------------------------------------------------------------------------------------


def _accuracy(result) -> float | None:
    return (result or {}).get("test", {}).get("accuracy")


def _row(label, result) -> str:
    test = result.get("test", {}) if result else {}
    cells = [label, _pct(test.get("accuracy")), _num(test.get("f1")), _pct(result.get("val_accuracy") if result else None),
             f"{result['train_seconds']:.1f} s" if result and "train_seconds" in result else "-",
             (result or {}).get("status", "not run")]
    return "<tr>" + "".join(f"<td>{report.escape(c)}</td>" for c in cells) + "</tr>"


def _table(rows: list[str]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("run", "test accuracy", "F1 (five)", "val accuracy", "time", "status"))
    return f'<table class="metrics"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _pct(value) -> str:
    return "-" if value is None else f"{value:.2%}"


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _paragraph(text: str) -> str:
    return f"<p>{report.escape(text)}</p>"


def _five_detectors(experiments, results) -> list[tuple[str, dict]]:
    """(label, result) of every finished run that can say "five or not", with its validation accuracy at that."""
    detectors = []
    for experiment in experiments:
        result = results.get(experiment.key)
        if experiment.baseline_model or not result or result.get("status") != "completed":
            continue
        if "as_five_detector" in result:
            detector = result["as_five_detector"]
            if detector["val_accuracy"] is not None:
                detectors.append((f"{experiment.label}, top digit = 5?",
                                  {**result, "test": detector["test"], "val_accuracy": detector["val_accuracy"]}))
        elif result.get("val_accuracy") is not None:
            detectors.append((experiment.label, result))
    return detectors


def write_tutorial(experiments, results, out_dir: Path, y_test, baseline: float) -> tuple[Path, list[str]]:
    """Draw the pictures and write out_dir/report.html; returns its path and a short text summary."""
    out_dir = Path(out_dir)
    pictures = out_dir / "plots"
    pictures.mkdir(parents=True, exist_ok=True)
    by_step = {}
    for experiment in experiments:
        by_step.setdefault(experiment.step, []).append(experiment)
    get = results.get
    sections, summary = [], []

    def bars(name, chosen, title):
        chosen = [e for e in chosen if _accuracy(get(e.key)) is not None]
        path = plots.plot_comparison([e.label for e in chosen], [_accuracy(get(e.key)) for e in chosen],
                                     pictures / f"{name}.png", title=title, baseline=baseline)
        return report.figure_html(path, title, "")

    # 1. the linear unit
    linear = get("linear-raw")
    if linear:
        history_png = plots.plot_history(linear["history"], pictures / "linear-history.png", baseline=baseline)
        histogram_png = plots.plot_output_histogram(np.asarray(linear["raw_all"]), y_test == 5,
                                                    pictures / "linear-raw-outputs.png", threshold=0.5)
        accuracies = [row["val_accuracy"] for row in linear["history"]]
        raw = ", ".join(f"{v:+.1f}" for v in linear["raw_sample"])
        outputs = np.asarray(linear["raw_all"])
        spread = (f"over the test set they run from {outputs.min():+.1f} to {outputs.max():+.1f}, and "
                  f"{np.mean((outputs < 0) | (outputs > 1)):.0%} fall outside 0..1")
        sections.append(("1. A linear unit on raw pixels fails", "".join([
            _paragraph("The tutorial's first model: one weighted sum of the 784 raw pixels (0..255), trained with "
                       "MSE against targets 0/1. Validation accuracy per epoch: "
                       + ", ".join(_pct(a) for a in accuracies) + f"; test accuracy {_pct(_accuracy(linear))}, "
                       f"against {_pct(baseline)} for always answering 'not five'. It does not improve with epochs."),
            _paragraph(f"Its raw outputs for the first {RAW_SAMPLES} test images: {raw}; {spread}. Nothing keeps "
                       "a linear output near the targets 0 and 1, so the squared errors of the far-out images "
                       "dominate every step and the weights swing from epoch to epoch."),
            report.figure_html(history_png, "linear history", "Loss and accuracy per epoch."),
            report.figure_html(histogram_png, "linear raw outputs", "Raw outputs per class: huge, overlapping."),
        ])))
        summary.append(f"1. linear on raw pixels: {_pct(_accuracy(linear))} (baseline {_pct(baseline)}), "
                       f"val accuracy per epoch {min(accuracies):.0%}..{max(accuracies):.0%}; raw outputs like "
                       f"{raw[:30]}...; {spread}")

    # 2. the sigmoid
    raw_seeds = [get(f"sigmoid-raw-seed{s}") for s in (0, 1, 2)]
    unit = get("sigmoid-unit")
    stalled = sum(1 for r in raw_seeds if r and _accuracy(r) is not None and _accuracy(r) <= baseline + 0.001)
    sections.append(("2. A sigmoid squashes the output into 0..1", "".join([
        _paragraph("The same unit with a sigmoid: its output is always between 0 and 1, the range of the targets, "
                   "so the error per image is bounded and the weights settle. On raw pixels the weighted sum starts "
                   f"huge and the sigmoid saturated (flat), so learning depends on luck: {stalled} of 3 seeds sat at "
                   "the baseline. Scaling the pixels to 0..1 removes that."),
        bars("sigmoid", by_step.get("1", []) + by_step.get("2", []), "Linear vs sigmoid (test accuracy)"),
        _table([_row(e.label, get(e.key)) for e in by_step.get("1", []) + by_step.get("2", [])]),
    ])))
    summary.append("2. sigmoid: raw pixels seeds 0-2 " + ", ".join(_pct(_accuracy(r)) for r in raw_seeds)
                   + f"; pixels/255 {_pct(_accuracy(unit))}")

    # 3-5. the levers
    lever_text = {
        "3": ("3. Lever one: a better algorithm", "Loss, optimizer, learning rate and the classic Rosenblatt rule, "
              "all on pixels/255 with everything else at the defaults (sigmoid, MSE, Adam, lr 0.001)."),
        "4": ("4. Lever two: better data preparation", "Raw pixels, pixels/255, z-scores per pixel, and deskewing "
              "(each digit sheared upright by its second moments)."),
        "5": ("5. Lever three: more training data", "The same model trained on more and more images, and with "
              "randomly shifted, rotated and scaled copies added each epoch."),
    }
    for step, (title, text) in lever_text.items():
        chosen = by_step.get(step, [])
        reference = {"3": ("sigmoid-unit",), "4": ("sigmoid-raw-seed0", "sigmoid-unit")}.get(step, ())
        chosen = [e for e in experiments if e.key in reference] + chosen
        binary = [e for e in chosen if e.params.get("digit", 5) != "all"]
        parts = [_paragraph(text), bars(f"lever-{step}", binary, title + " (test accuracy)")]
        if step == "5":
            sizes = [e for e in by_step["5"] if "train_size" in e.params]
            xs = [e.params["train_size"] for e in sizes] + [int(len(y_test) and 54000)]
            ys = [_accuracy(get(e.key)) for e in sizes] + [_accuracy(unit)]
            f1s = [get(e.key)["test"]["f1"] if get(e.key) else None for e in sizes] + [(unit or {}).get("test", {}).get("f1")]
            curve = plots.plot_learning_curve(xs, {"test accuracy": ys, "F1 (five)": f1s}, pictures / "learning-curve.png",
                                              baseline=baseline)
            parts.append(report.figure_html(curve, "learning curve", "Test accuracy and F1 against training-set size."))
            summary.append("5. learning curve: " + ", ".join(f"{x:,}: {_pct(y)}" for x, y in zip(xs, ys))
                           + f"; augmentation {_pct(_accuracy(get('augment')))}")
        parts.append(_table([_row(e.label, get(e.key)) for e in chosen]))
        sections.append((title, "".join(parts)))
        if step != "5":
            best_here = max((e for e in binary if _accuracy(get(e.key)) is not None),
                            key=lambda e: _accuracy(get(e.key)), default=None)
            if best_here:
                summary.append(f"{title.split(':')[0]}: best {best_here.label} {_pct(_accuracy(get(best_here.key)))}")

    # 6. the best five-detector, chosen on validation accuracy (choosing on the test set would flatter it).
    # The ten-digit models compete too, answering "five" when their top digit is 5.
    detectors = _five_detectors(experiments, results)
    best_label, best_result = max(detectors, key=lambda item: item[1]["val_accuracy"])
    best_model = best_result["model"]
    model_path = best_model.save(out_dir / "best-five-detector.safetensors")
    weights_png = plots.plot_weights(best_model.coef_, pictures / "best-weights.png")
    binary_label, binary_result = max(((label, r) for label, r in detectors if not r["model"].multiclass),
                                      key=lambda item: item[1]["val_accuracy"])
    peers = [e for e in experiments if e.step == "6"]
    how = (" It answers a digit: 5 means five. Learning all ten digits teaches it what the other digits look "
           "like, which a five-vs-rest unit never sees, so it rejects them better." if best_model.multiclass else "")
    sections.append(("6. The best five-detector", "".join([
        _paragraph(f"Chosen by validation accuracy: {best_label}. Test accuracy {_pct(_accuracy(best_result))}, "
                   f"F1 {_num(best_result['test'].get('f1'))}, against {_pct(baseline)} for always answering "
                   f"'not five'.{how} Saved as {model_path.name}: try `fiveornot predict {model_path.name} IMAGE` "
                   f"or `fiveornot serve {model_path.name}`."),
        _table([_row(label, r) for label, r in sorted(detectors, key=lambda item: -item[1]["val_accuracy"])[:6]]
               + [_row(e.label, get(e.key)) for e in peers]),
        report.figure_html(weights_png, "best weights", "What the best five-detector learned."),
    ])))
    summary.append(f"6. best five-detector: {best_label}: {_pct(_accuracy(best_result))}, F1 "
                   f"{_num(best_result['test'].get('f1'))}; best one-output unit: {binary_label}: "
                   f"{_pct(_accuracy(binary_result))}, F1 {_num(binary_result['test'].get('f1'))} "
                   f"(baseline {_pct(baseline)})"
                   + "".join(f"; {e.label}: {_pct(_accuracy(get(e.key)))}" for e in peers if _accuracy(get(e.key))))
    ten_class = [f"{e.label} {_pct(_accuracy(get(e.key)))}" for e in experiments
                 if e.params.get("digit") == "all" and get(e.key)]
    if ten_class:
        summary.append("10-class softmax: " + ", ".join(ten_class))

    path = report.write_report(
        out_dir / "report.html", title="fiveornot tutorial: is this digit a five, or not?",
        config={"digit": 5, "runs": len(results), "best": best_label},
        metrics={"test": best_result["test"]}, images={}, sections=sections,
        notes=["Each number is one training run on the real MNIST test set; runs ran in parallel processes."],
    )
    return path, summary


def run_tutorial(out_dir, *, quick=False, data_dir=None, offline=False, workers=None, on_result=None):
    """Run every experiment, write the report into out_dir, and return (report path, summary lines)."""
    from fiveornot.data import load_dataset

    _, (_, y_test) = load_dataset(data_dir=data_dir, offline=offline)  # fetch once, before the workers start
    experiments = plan(quick)
    results = run_all(experiments, data_dir=data_dir, offline=offline, workers=workers, on_result=on_result)
    baseline = float(max(np.mean(y_test == 5), 1 - np.mean(y_test == 5)))
    return write_tutorial(experiments, results, Path(out_dir), np.asarray(y_test), baseline)
