"""The run report: every section, the numbers, the baseline in words, embedded pictures, escaped text."""

import base64
import os
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from fiveornot import plots
from fiveornot.report import (
    KNOWN_PICTURES,
    baseline_sentence,
    render_report,
    write_report,
)

BINARY_METRICS = {
    "test": {
        "accuracy": 0.978,
        "baseline_accuracy": 0.9108,
        "balanced_accuracy": 0.9312,
        "precision": 0.8811,
        "recall": 0.8744,
        "f1": 0.8777,
        "roc_auc": 0.9871,
        "threshold": 0.5,
        "confusion_matrix": [[9002, 106], [112, 780]],
    },
    "epochs_run": 10,
    "train_seconds": 0.3,
    "status": "completed",
}
CONFIG = {"digit": 5, "activation": "sigmoid", "loss": "mse", "lr": 0.001, "name": "<script>alert(1)</script>",
          "data": {"digests": {"test_images": "6d87418d"}}, "versions": ["numpy 2.4"]}


class Page(HTMLParser):
    """Collects ids, attribute URLs and text of a page, and checks it parses."""

    def __init__(self, text):
        super().__init__()
        self.ids, self.urls, self.text, self.tags = [], [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id":
                self.ids.append(value)
            if name in ("src", "href", "action", "srcset"):
                self.urls.append(value)

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Real PNGs for every known section, drawn by fiveornot.plots."""
    directory = tmp_path_factory.mktemp("plots")
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.1
    probability = np.clip(y * 0.6 + rng.random(200) * 0.5, 0, 1)
    images = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
    return {
        "curves": plots.plot_history([{"epoch": 1, "loss": 0.1, "accuracy": 0.95}], directory / "curves.png"),
        "weights": plots.plot_weights(rng.normal(size=784), directory / "weights.png"),
        "misclassified": plots.plot_misclassified(images, y, probability >= 0.5, probability, directory / "mis.png"),
        "confusion": plots.plot_confusion(BINARY_METRICS["test"]["confusion_matrix"], directory / "confusion.png"),
        "roc-pr": plots.plot_roc_pr(y, probability, directory / "roc.png"),
        "output-histogram": plots.plot_output_histogram(probability * 8 - 4, y, directory / "raw.png", threshold=0),
    }


@pytest.fixture(scope="module")
def page(pictures):
    return render_report(
        title="five or not: sigmoid <b>run</b>",
        config=CONFIG,
        metrics=BINARY_METRICS,
        images={**pictures, "learning curve": pictures["curves"]},
        notes=["deskew made it better & faster"],
        sections=[("Compared with scikit-learn", "<p class='extra'>LogisticRegression: 98.46%</p>")],
    )


def test_every_section_is_there(page):
    ids = Page(page).ids
    for section in ["baseline", "metrics", "run", "config", *KNOWN_PICTURES, "learning-curve",
                    "compared-with-scikit-learn", "notes"]:
        assert section in ids, section
    assert len(ids) == len(set(ids)), "ids must be unique"
    assert set(KNOWN_PICTURES) == {"curves", "weights", "misclassified", "confusion", "roc-pr", "output-histogram"}


def test_known_pictures_come_in_the_report_order(page):
    ids = Page(page).ids
    positions = [ids.index(section) for section in KNOWN_PICTURES]
    assert positions == sorted(positions)


def test_metric_values_and_confusion_matrix_are_shown(page):
    for text in ["97.80%", "91.08%", "93.12%", "0.8811", "0.8744", "0.8777", "0.9871", "9,002", "780",
                 "Balanced accuracy", "ROC-AUC", "Threshold", "not five", "10", "0.30 s", "completed"]:
        assert text in page, text
    assert page.count('class="count right-answer"') == 2


def test_the_baseline_is_said_in_words(page):
    sentence = ("The model answers 97.80% of the test images right. Always answering &#x27;not five&#x27; would "
                "score 91.08%: the model is 6.72 percentage points better and makes 75% fewer mistakes.")
    assert sentence in page


def test_pictures_are_embedded_and_nothing_is_fetched(page, pictures):
    parsed = Page(page)
    sources = [url for url in parsed.urls if url.startswith("data:")]
    assert len(sources) == len(KNOWN_PICTURES) + 1
    assert all(url.startswith("data:image/png;base64,") for url in sources)
    embedded = base64.b64decode(sources[0].split(",", 1)[1])
    assert embedded == pictures["curves"].read_bytes()
    assert not re.search(r"https?://", page)
    assert 'src="/' not in page and "src='/" not in page and "url(" not in page and "@import" not in page
    assert all(url.startswith(("data:", "#")) for url in parsed.urls)
    assert "<script" not in page.lower().replace("&lt;script", "")


def test_text_is_escaped_but_extra_sections_are_html(page):
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert "five or not: sigmoid &lt;b&gt;run&lt;/b&gt;" in page
    assert "deskew made it better &amp; faster" in page
    assert "<p class='extra'>LogisticRegression: 98.46%</p>" in page
    assert "data.digests.test_images" in page and "6d87418d" in page


def test_page_reads_on_a_phone_and_prints(page):
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "max-width: 100%" in page and "@media print" in page
    assert "Content-Security-Policy" in page


def test_ten_class_metrics(pictures):
    matrix = (np.eye(10, dtype=int) * 950 + 5).tolist()
    metrics = {"test": {"accuracy": 0.926, "baseline_accuracy": 0.1135, "confusion_matrix": matrix}}
    html = render_report(title="all ten digits", config={"digit": "all"}, metrics=metrics,
                         images={"weights": pictures["weights"]})
    assert "92.60%" in html and "11.35%" in html
    assert "Always answering 0 would score 11.35%" in html  # the most common row of this made-up matrix
    assert html.count('class="count right-answer"') == 10
    assert "not five" not in html


@pytest.mark.parametrize(
    "metrics",
    [{}, {"test": {}}, {"status": "interrupted"}, {"test": {"accuracy": None, "confusion_matrix": "garbage"}},
     {"accuracy": 0.95, "baseline_accuracy": 0.95}, {"test": {"accuracy": float("nan"), "f1": "n/a"}}, None],
)
def test_missing_or_odd_metrics_do_not_crash(metrics):
    html = render_report(title="t", config={}, metrics=metrics, images={})
    assert 'id="baseline"' in html and 'id="metrics"' in html
    Page(html)


def test_words_for_worse_equal_and_unrecorded():
    config = {"digit": 5}
    worse = baseline_sentence(config, {"accuracy": 0.5, "baseline_accuracy": 0.9108})
    assert "41.08 percentage points worse" in worse
    same = baseline_sentence(config, {"accuracy": 0.9108, "baseline_accuracy": 0.9108})
    assert "no better than that" in same
    assert "No baseline" in baseline_sentence(config, {"accuracy": 0.9})
    assert "No test accuracy" in baseline_sentence(config, {})


def test_interrupted_runs_are_flagged():
    html = render_report(title="t", config={}, metrics={"status": "interrupted"}, images={})
    assert "Training was interrupted" in html


def test_a_missing_picture_is_named_not_fatal(tmp_path):
    html = render_report(title="t", config={}, metrics={}, images={"roc_pr": tmp_path / "gone.png"})
    assert 'id="roc-pr"' in html and "Picture not found: gone.png" in html


def test_write_report_is_atomic_and_utf8(tmp_path, pictures):
    path = write_report(tmp_path / "run" / "report.html", title="Fünf — oder nicht", config=CONFIG,
                        metrics=BINARY_METRICS, images=pictures)
    assert path == tmp_path / "run" / "report.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "Fünf — oder nicht" in text
    assert os.listdir(path.parent) == ["report.html"]
