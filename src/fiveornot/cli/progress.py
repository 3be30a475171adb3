"""Training progress for people: a rich bar on a terminal, plain lines in logs. Kept apart from training."""

from __future__ import annotations

import sys

from fiveornot.train import Callback


def epoch_line(epoch: int, epochs: int, logs: dict) -> str:
    parts = [f"epoch {epoch:>{len(str(epochs))}}/{epochs}", f"loss {logs['loss']:.4f}", f"accuracy {logs['accuracy']:.4f}"]
    if logs.get("val_loss") is not None:
        parts += [f"val_loss {logs['val_loss']:.4f}", f"val_accuracy {logs['val_accuracy']:.4f}"]
    parts.append(f"{logs['seconds']:.2f}s")
    return "  ".join(parts)


class PlainProgress(Callback):
    """One line per epoch, no control characters: for CI and log files."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.epochs = 0

    def on_train_begin(self, logs):
        self.epochs = logs["epochs"]

    def on_epoch_end(self, epoch, logs):
        print(epoch_line(epoch, self.epochs, logs), file=self.stream, flush=True)


class TerminalProgress(Callback):
    """One bar over all epochs with the ETA and the current loss/accuracy, and a line per finished epoch."""

    def __init__(self, console):
        self.console = console
        self.progress = self.task = None
        self.epochs = self.steps_per_epoch = 0
        self.epoch = 1

    def on_train_begin(self, logs):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.epochs, self.steps_per_epoch = logs["epochs"], logs["steps_per_epoch"]
        self.progress = Progress(
            TextColumn("[bold]training[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
            TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
            console=self.console, transient=True, refresh_per_second=10,
        )
        self.task = self.progress.add_task("train", total=self.epochs * self.steps_per_epoch, status="")
        self.progress.start()

    def on_epoch_begin(self, epoch, logs):
        self.epoch = epoch

    def on_train_batch_end(self, step, logs):
        # `step` counts optimizer steps since training began; clamp it to this epoch's share of the bar.
        done = min(step, self.epoch * self.steps_per_epoch)
        self.progress.update(self.task, completed=done,
                             status=f"epoch {self.epoch}/{self.epochs}  loss {logs['loss']:.4f}  "
                                    f"accuracy {logs['accuracy']:.4f}")

    def on_epoch_end(self, epoch, logs):
        self.progress.update(self.task, completed=epoch * self.steps_per_epoch)
        self.progress.console.print(epoch_line(epoch, self.epochs, logs))

    def on_train_end(self, logs):
        if self.progress is not None:
            self.progress.stop()


def training_progress(quiet: bool):
    """The right display for where output goes; none with --quiet."""
    from fiveornot.cli.console import is_terminal, stdout_console

    if quiet:
        return []
    return [TerminalProgress(stdout_console())] if is_terminal() else [PlainProgress()]
