"""The metrics table printed after training, by `evaluate` and by `runs show`."""

from __future__ import annotations


def _percent(value):
    return "-" if value is None else f"{value:.2%}"


def _number(value):
    return "-" if value is None else f"{value:.4f}"


def metrics_rows(test: dict, digit) -> list[tuple[str, str]]:
    """(label, value) rows, in the order a reader should see them: accuracy next to its baseline first."""
    target = "five" if str(digit) == "5" else f"digit {digit}"
    if digit == "all":
        rows = [("Test accuracy", _percent(test.get("accuracy"))),
                ("Always-majority baseline", _percent(test.get("baseline_accuracy"))),
                ("Balanced accuracy", _percent(test.get("balanced_accuracy")))]
        return rows
    rows = [
        ("Test accuracy", _percent(test.get("accuracy"))),
        (f'Always-"not {target}" baseline', _percent(test.get("baseline_accuracy"))),
        ("Balanced accuracy", _percent(test.get("balanced_accuracy"))),
        (f"Precision ({target})", _number(test.get("precision"))),
        (f"Recall ({target})", _number(test.get("recall"))),
        (f"F1 ({target})", _number(test.get("f1"))),
        ("ROC-AUC", _number(test.get("roc_auc"))),
        ("Threshold", _number(test.get("threshold"))),
    ]
    matrix = test.get("confusion_matrix")
    if matrix:
        (tn, fp), (fn, tp) = matrix
        rows.append(("Confusion (true \\ predicted)", f"TN {tn}  FP {fp}  FN {fn}  TP {tp}"))
    return rows


def print_metrics(console, metrics: dict, digit, title: str = "Test metrics") -> None:
    from rich import box
    from rich.table import Table

    test = metrics.get("test", metrics)
    table = Table(title=title, box=box.SIMPLE, show_header=False, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value in metrics_rows(test, digit):
        table.add_row(label, value)
    console.print(table)
    if digit == "all" and test.get("confusion_matrix"):
        print_confusion_10(console, test["confusion_matrix"])
    accuracy, baseline = test.get("accuracy"), test.get("baseline_accuracy")
    if accuracy is not None and baseline is not None:
        gain = accuracy - baseline
        verdict = "better than" if gain > 0.0005 else "NO better than"
        console.print(f"{accuracy:.2%} is {verdict} the {baseline:.2%} of always answering the majority class "
                      f"({gain * 100:+.2f} points).")
    for warning in metrics.get("warnings", []):
        console.print(f"warning: {warning}")


def print_confusion_10(console, matrix) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title="Confusion matrix (rows: true digit, columns: predicted)", box=box.SIMPLE,
                  title_justify="left")
    table.add_column("")
    for digit in range(10):
        table.add_column(str(digit), justify="right")
    for digit, row in enumerate(matrix):
        table.add_row(str(digit), *(str(v) for v in row))
    console.print(table)
