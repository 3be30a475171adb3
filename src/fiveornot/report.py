"""One self-contained HTML page per run: config, metrics, the baseline in words, and every picture.

The page makes no request at all once opened: pictures are embedded as base64 ``data:`` URLs, the CSS is
inline, and a Content-Security-Policy forbids anything else. It reads on a phone (narrow column, images that
shrink) and prints cleanly. All text from the run (config values, metric names, notes, captions) is escaped;
only the HTML of extra ``sections`` is inserted as given, so it must come from this program, not from users.

The renderer is forgiving: any metric may be missing, and a missing picture file is named, not fatal.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from fiveornot.inference import DIGIT_WORDS


# Pictures the report knows: section id -> (heading, caption telling a learner how to read it).
KNOWN_PICTURES: dict[str, tuple[str, str]] = {
    "curves": (
        "Training curves",
        ("Loss and accuracy after each epoch, on the training images and on the held-out validation images. "
         "If validation stops improving while training keeps getting better, the model is starting to memorise."),
    ),
    "weights": (
        "What the model learned",
        ("One weight per pixel. Ink on a red pixel pushes the answer toward the class, ink on a blue pixel "
         "pushes it away; white pixels hardly matter."),
    ),
    "misclassified": (
        "Mistakes",
        ("Test images the model answered wrongly, the most confident mistakes first, with the model's output "
         "under each. Some are genuinely ambiguous; others show what the model has not learned."),
    ),
    "confusion": (
        "Confusion matrix",
        "Rows are the true class, columns the model's answer; the diagonal holds the right answers.",
    ),
    "roc-pr": (
        "ROC and precision-recall curves",
        ("Every threshold gives a different trade-off; the dot marks the threshold the model uses. With a rare "
         "positive class the precision-recall curve is the more honest of the two."),
    ),
    "output-histogram": (
        "Raw outputs",
        ("The weighted sum w·x + b before the activation, for each class. Overlap between the two humps is "
         "where the mistakes come from; a linear model on raw pixels gives huge positive and negative values."),
    ),
}

# Other names callers may use for the known pictures (keys are normalised: lower case, '-' for '_').
_PICTURE_ALIASES = {
    "history": "curves",
    "training-curves": "curves",
    "roc": "roc-pr",
    "roc-curve": "roc-pr",
    "histogram": "output-histogram",
    "outputs": "output-histogram",
    "raw-output": "output-histogram",
    "confusion-matrix": "confusion",
    "mistakes": "misclassified",
}

# Metric rows in display order: key -> (label, kind, what it means).
_METRICS: dict[str, tuple[str, str, str]] = {
    "accuracy": ("Accuracy", "percent", "share of test images answered right"),
    "baseline_accuracy": ("Baseline accuracy", "percent", "always giving the most common answer"),
    "balanced_accuracy": ("Balanced accuracy", "percent", "the mean of each class's recall; 50% is guessing"),
    "precision": ("Precision", "ratio", "of the images it called {positive}, the share that are"),
    "recall": ("Recall", "ratio", "of the {positive} images, the share it found"),
    "f1": ("F1", "ratio", "one number for precision and recall together (their harmonic mean)"),
    "roc_auc": ("ROC-AUC", "ratio", "the chance a random {positive} scores above a random other image"),
    "threshold": ("Threshold", "number", "the output at and above which the answer is {positive}"),
}
_SPLITS = ("train", "validation", "val", "test")
_RESERVED_IDS = {"baseline", "contents", "metrics", "run", "config", "notes", *KNOWN_PICTURES}

_CSS = """
:root { color-scheme: light; --ink: #1b1b1b; --muted: #5a5a5a; --line: #d8d8d8; --accent: #0072B2; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #fff; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 1rem; line-height: 1.25; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.6rem; padding-top: 0.4rem; border-top: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
p.baseline { font-size: 1.1rem; padding: 0.75rem 1rem; border-left: 4px solid var(--accent); background: #f2f7fb; }
p.warning { padding: 0.75rem 1rem; border-left: 4px solid #D55E00; background: #fdf3ec; }
nav ul { padding-left: 1.2rem; columns: 2 12rem; margin: 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.4rem 0 1rem; font-size: 0.95rem; }
th, td { border: 1px solid var(--line); padding: 0.3rem 0.55rem; text-align: left; vertical-align: top; }
td { overflow-wrap: anywhere; }
th { background: #f5f5f5; font-weight: 600; }
td.value, td.count { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.hint { color: var(--muted); font-size: 0.88rem; }
td.right-answer { background: #e3f0f8; font-weight: 600; }
figure { margin: 0.5rem 0 1rem; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.92rem; margin-top: 0.35rem; }
p.missing { color: #D55E00; }
footer { color: var(--muted); font-size: 0.85rem; margin: 2rem 0 1rem; border-top: 1px solid var(--line);
         padding-top: 0.5rem; }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-after: avoid; }
  figure, table { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""

# Nothing may load from anywhere: pictures only as data: URLs, styles only inline.
_CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def escape(value) -> str:
    """Escape any value for HTML text or attribute content."""
    return html.escape(str(value), quote=True)


# --------------------------------------------------------------------------------------------------------
# Numbers and words
# --------------------------------------------------------------------------------------------------------


def _as_number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _format_metric(value, kind: str) -> str:
    """97.80% for shares, 0.9123 for ratios, 0.5 for plain numbers, '—' when missing or not a number."""
    number = _as_number(value)
    if number is None:
        return "—" if value is None or isinstance(value, float) else str(value)
    if kind == "percent":
        return f"{number:.2%}"
    if kind == "ratio":
        return f"{number:.4f}"
    return f"{number:g}"


def _class_names(config: Mapping, size: int) -> list[str]:
    """Row/column names of a confusion matrix: 'not five'/'five' for a binary model, digits otherwise."""
    if size != 2:
        return [str(i) for i in range(size)]
    positive = _positive_label(config)
    return [f"not {positive}", positive]


def _positive_label(config: Mapping) -> str:
    """The binary model's class name from config["digit"] (5 -> 'five'); 'positive' when unknown."""
    digit = config.get("digit", 5) if isinstance(config, Mapping) else 5
    try:
        return DIGIT_WORDS[int(digit)]
    except (TypeError, ValueError, IndexError):
        return "positive"


def _confusion(split: Mapping) -> list[list[float]] | None:
    """The split's confusion matrix as a square list of lists of numbers, or None if absent or malformed."""
    matrix = split.get("confusion_matrix")
    try:
        rows = [[float(cell) for cell in row] for row in matrix]
    except (TypeError, ValueError):
        return None
    if len(rows) < 2 or any(len(row) != len(rows) for row in rows):
        return None
    return rows


def _majority_phrase(config: Mapping, matrix: list[list[float]] | None) -> str:
    """How to say 'always give the most common answer' for this model, e.g. "answering 'not five'"."""
    if matrix is None:
        return "giving the most common answer"
    totals = [sum(row) for row in matrix]
    majority = max(range(len(totals)), key=totals.__getitem__)
    names = _class_names(config, len(matrix))
    return f"answering '{names[majority]}'" if len(matrix) == 2 else f"answering {names[majority]}"


def baseline_sentence(config: Mapping, split: Mapping) -> str:
    """One or two sentences comparing the test accuracy with always giving the majority answer, in words."""
    accuracy = _as_number(split.get("accuracy"))
    baseline = _as_number(split.get("baseline_accuracy"))
    if accuracy is None:
        return "No test accuracy was recorded for this run."
    said = f"The model answers {accuracy:.2%} of the test images right."
    if baseline is None:
        return said + " No baseline was recorded to compare it with."
    always = _majority_phrase(config, _confusion(split))
    said += f" Always {always} would score {baseline:.2%}"
    points = (accuracy - baseline) * 100
    if abs(points) < 0.005:
        return said + ": the model is no better than that, so it has not learned anything useful yet."
    if points < 0:
        return said + f": the model is {-points:.2f} percentage points worse, so it has not learned to do better yet."
    fewer = (1 - (1 - accuracy) / (1 - baseline)) if baseline < 1 else 0.0
    return said + f": the model is {points:.2f} percentage points better and makes {fewer:.0%} fewer mistakes."


# --------------------------------------------------------------------------------------------------------
# HTML pieces
# --------------------------------------------------------------------------------------------------------


def _splits(metrics: Mapping) -> dict[str, Mapping]:
    """The per-split metric dicts; a flat metrics dict counts as the test split."""
    found = {name: metrics[name] for name in _SPLITS if isinstance(metrics.get(name), Mapping)}
    if not found and any(key in metrics for key in _METRICS):
        found["test"] = metrics
    return found


def _metrics_table(splits: dict[str, Mapping], positive: str) -> str:
    """One row per metric present in any split, one value column per split, and a plain-words hint."""
    keys = [key for key in _METRICS if any(key in split for split in splits.values())]
    extra = sorted(
        {key for split in splits.values() for key, value in split.items()
         if key not in _METRICS and key != "confusion_matrix" and not isinstance(value, (Mapping, list, tuple))}
    )
    if not keys and not extra:
        return "<p>No metrics were recorded for this run.</p>"
    head = "".join(f"<th>{escape(name)} set</th>" for name in splits)
    lines = [
        '<div class="table-wrap"><table class="metrics">',
        f"<thead><tr><th>metric</th>{head}<th>meaning</th></tr></thead><tbody>",
    ]
    for key in keys + extra:
        label, kind, hint = _METRICS.get(key, (key.replace("_", " "), "number", ""))
        values = (_format_metric(split.get(key), kind) for split in splits.values())
        cells = "".join(f'<td class="value">{escape(value)}</td>' for value in values)
        hint = hint.replace("{positive}", f"'{positive}'")
        lines.append(f'<tr><th scope="row">{escape(label)}</th>{cells}<td class="hint">{escape(hint)}</td></tr>')
    lines.append("</tbody></table></div>")
    return "\n".join(lines)


def _confusion_table(matrix: list[list[float]], names: list[str]) -> str:
    header = "".join(f'<th scope="col">{escape(name)}</th>' for name in names)
    lines = [
        '<div class="table-wrap"><table class="confusion">',
        f'<thead><tr><th>true class ↓ / answer →</th>{header}</tr></thead><tbody>',
    ]
    for row_index, (name, row) in enumerate(zip(names, matrix)):
        cells = "".join(
            f'<td class="count{" right-answer" if col == row_index else ""}">{round(count):,}</td>'
            for col, count in enumerate(row)
        )
        lines.append(f'<tr><th scope="row">{escape(name)}</th>{cells}</tr>')
    lines.append("</tbody></table></div>")
    return "\n".join(lines)


def _key_value_table(rows: Iterable[tuple[str, object]], css_class: str) -> str:
    body = "".join(f'<tr><th scope="row">{escape(key)}</th><td>{escape(value)}</td></tr>' for key, value in rows)
    return f'<div class="table-wrap"><table class="{css_class}"><tbody>{body}</tbody></table></div>'


def _flatten(config: Mapping, prefix: str = "") -> list[tuple[str, str]]:
    """Nested config as dotted keys ('data.digests.test_images'); lists as JSON."""
    rows = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(_flatten(value, name + "."))
        elif isinstance(value, (list, tuple, Mapping)):
            rows.append((name, json.dumps(value, default=str)))
        else:
            rows.append((name, "—" if value is None else str(value)))
    return rows


def _run_rows(metrics: Mapping) -> list[tuple[str, str]]:
    """Facts about the run itself (epochs, time, status), the metrics' top-level scalars."""
    rows = []
    if "epochs_run" in metrics:
        rows.append(("epochs run", str(metrics["epochs_run"])))
    seconds = _as_number(metrics.get("train_seconds"))
    if seconds is not None:
        rows.append(("training time", f"{seconds:.1f} s" if seconds >= 1 else f"{seconds:.2f} s"))
    if "status" in metrics:
        rows.append(("status", str(metrics["status"])))
    for key, value in metrics.items():
        if key not in {"epochs_run", "train_seconds", "status", *_SPLITS} and not isinstance(value, (Mapping, list)):
            rows.append((key.replace("_", " "), "—" if value is None else str(value)))
    return rows


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "section"


def _unique_id(base: str, used: set[str]) -> str:
    candidate, number = base, 2
    while candidate in used:
        candidate, number = f"{base}-{number}", number + 1
    used.add(candidate)
    return candidate


def _picture_id(key: str) -> str | None:
    """The known section id for an images key ('roc_pr' -> 'roc-pr'), or None for an unknown key."""
    normal = str(key).lower().replace("_", "-").strip()
    normal = _PICTURE_ALIASES.get(normal, normal)
    return normal if normal in KNOWN_PICTURES else None


_MIME_BY_SUFFIX = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                   ".svg": "image/svg+xml", ".webp": "image/webp"}


def _data_url(path: Path) -> str:
    mime = _MIME_BY_SUFFIX.get(path.suffix.lower(), "image/png")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def figure_html(path, heading: str, caption: str) -> str:
    path = Path(path)
    try:
        source = _data_url(path)
    except OSError:
        return f'<p class="missing">Picture not found: {escape(path.name)} (draw the plots again to see it).</p>'
    text = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{source}" alt="{escape(heading)}" loading="lazy">{text}</figure>'


def _ordered_pictures(images: Mapping) -> list[tuple[str | None, str, Path]]:
    """(known id or None, key, path): the known pictures in the report's order, then the others as given."""
    known = {}
    others = []
    for key, path in images.items():
        section = _picture_id(key)
        if section is not None and section not in known:
            known[section] = (section, str(key), path)
        else:
            others.append((None, str(key), path))
    return [known[section] for section in KNOWN_PICTURES if section in known] + others


# --------------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------------


def render_report(
    *,
    title: str,
    config: dict,
    metrics: dict,
    images: dict[str, Path],
    notes: list[str] = (),
    sections: list[tuple[str, str]] = (),
) -> str:
    """Render a run's report as one self-contained HTML page.

    Parameters
    ----------
    title : str
        The page's heading.
    config : dict
        The run's config.json; shown as a table (nested keys dotted). ``config["digit"]`` names the classes.
    metrics : dict
        The run's metrics.json: ``{"test": {"accuracy", "baseline_accuracy", "balanced_accuracy",
        "precision", "recall", "f1", "roc_auc", "threshold", "confusion_matrix"}, "epochs_run",
        "train_seconds", "status"}``. Every key is optional; other splits ("train", "validation") get a column.
    images : dict of str -> Path
        Pictures to embed. Known keys ("curves", "weights", "misclassified", "confusion", "roc-pr",
        "output-histogram"; '_' works for '-') get their section id, heading and caption, in that order; other
        keys follow with an id made from the key.
    notes : list of str
        Plain-text notes, listed at the end under id "notes".
    sections : list of (heading, html)
        Extra sections after the pictures; the html is inserted as is (trusted), the heading is escaped.

    Returns
    -------
    str
        The page. Section ids: "baseline", "metrics", "run", "config", the picture ids, extra sections'
        slugs, "notes".
    """
    config = config if isinstance(config, Mapping) else {}
    metrics = metrics if isinstance(metrics, Mapping) else {}
    splits = _splits(metrics)
    test = splits.get("test") or (next(iter(splits.values())) if splits else {})
    used_ids = set(_RESERVED_IDS)
    body: list[str] = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="baseline" id="baseline">{escape(baseline_sentence(config, test))}</p>',
    ]
    if str(metrics.get("status", "")).lower() == "interrupted":
        body.append('<p class="warning">Training was interrupted: these numbers are from the last finished epoch.</p>')
    contents = [("metrics", "Metrics")]

    body.append('<h2 id="metrics">Metrics</h2>')
    body.append(_metrics_table(splits, _positive_label(config)))
    matrix = _confusion(test)
    if matrix is not None:
        body.append("<h3>Confusion matrix (test set)</h3>")
        body.append(_confusion_table(matrix, _class_names(config, len(matrix))))

    run_rows = _run_rows(metrics)
    if run_rows:
        body.append('<h2 id="run">The run</h2>')
        body.append(_key_value_table(run_rows, "run"))
        contents.append(("run", "The run"))

    body.append('<h2 id="config">Configuration</h2>')
    config_rows = _flatten(config)
    body.append(_key_value_table(config_rows, "config") if config_rows else "<p>No configuration was recorded.</p>")
    contents.append(("config", "Configuration"))

    for section, key, path in _ordered_pictures(images or {}):
        if section is None:
            section_id = _unique_id(_slug(key), used_ids)
            heading, caption = key.replace("_", " ").replace("-", " ").capitalize(), ""
        else:
            section_id = section
            heading, caption = KNOWN_PICTURES[section]
        body.append(f'<h2 id="{escape(section_id)}">{escape(heading)}</h2>')
        body.append(figure_html(path, heading, caption))
        contents.append((section_id, heading))

    for heading, fragment in sections or ():
        section_id = _unique_id(_slug(heading), used_ids)
        body.append(f'<h2 id="{escape(section_id)}">{escape(heading)}</h2>')
        body.append(str(fragment))
        contents.append((section_id, heading))

    if notes:
        body.append('<h2 id="notes">Notes</h2>')
        body.append("<ul>" + "".join(f"<li>{escape(note)}</li>" for note in notes) + "</ul>")
        contents.append(("notes", "Notes"))

    nav = '<nav id="contents" aria-label="Contents"><ul>' + "".join(
        f'<li><a href="#{escape(section_id)}">{escape(heading)}</a></li>' for section_id, heading in contents
    ) + "</ul></nav>"
    body.insert(2, nav)
    return _page(title, body)


def _page(title: str, body: list[str]) -> str:
    from fiveornot import __version__

    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CONTENT_SECURITY_POLICY}">',
            f"<title>{escape(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            *body,
            f"<footer>Made by fiveornot {escape(__version__)}. This page is self-contained: it loads nothing.</footer>",
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def write_report(path, **kwargs) -> Path:
    """Render the report (``render_report(**kwargs)``) and write it to ``path`` atomically (UTF-8).

    Returns
    -------
    Path
        ``path``.
    """
    from fiveornot.atomic import atomic_write

    path = Path(path)
    page = render_report(**kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as file:
        file.write(page.encode("utf-8"))
    return path
