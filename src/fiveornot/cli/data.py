"""`fiveornot data fetch|info|verify|show`: get MNIST, describe it, check it, look at it.

Thin on purpose: the work happens in `fiveornot.data`; here we parse options, show progress and print.
"""

import contextlib
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from fiveornot.cli.console import is_terminal, print_json, stderr_console, stdout_console
from fiveornot.cli.options import DataDir, Json, Offline, parse_indices

group = typer.Typer(
    help="Get MNIST, describe it, check it and look at it.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="data")


class Split(str, Enum):
    train = "train"
    test = "test"


DEFAULT_SHOW_COUNT = 16


@group.command()
def fetch(data_dir: DataDir = None, offline: Offline = False):
    """Get MNIST from the first source that has it, check every byte against the known digests, cache it."""
    from fiveornot.data.mnist import fetch as fetch_mnist

    with fetch_progress() as progress:
        dataset = fetch_mnist(data_dir, offline=offline, progress=progress)
    (x_train, _), (x_test, _) = dataset
    console = stdout_console()
    console.print(f"MNIST is ready: {len(x_train):,} training and {len(x_test):,} test images, digests verified.")
    console.print(f"  source  {dataset.source}")
    console.print(f"  path    {dataset.path}")


@group.command()
def info(data_dir: DataDir = None, offline: Offline = False, json: Json = False):
    """Where the data came from, its shapes, how many of each digit, and the always-"not five" baseline."""
    from fiveornot.data.mnist import describe, load_dataset

    with fetch_progress() as progress:
        dataset = load_dataset(data_dir, offline=offline, progress=progress)
    facts = describe(dataset, data_dir=data_dir)
    if json:
        print_json(facts)
        return
    _print_info(facts)


@group.command()
def verify(data_dir: DataDir = None, offline: Offline = False, json: Json = False):
    """Recompute the SHA-256 of every local copy of MNIST; exit 1 if any differs. Never downloads."""
    from fiveornot.data.mnist import verify as verify_mnist

    report = verify_mnist(data_dir)
    if json:
        print_json(report)
    else:
        _print_verify(report)
    if not report["ok"]:
        raise typer.Exit(1)


@group.command()
def show(
    more_indices: Annotated[
        list[str] | None,
        typer.Argument(metavar="N", help="More image indices (so that --index 0 1 2 works).", show_default=False),
    ] = None,
    index: Annotated[
        list[str] | None,
        typer.Option(
            "--index",
            "-i",
            help=f"Image index: repeat it, or give several (0 1 2 or 0,1,2) (default: 0 to {DEFAULT_SHOW_COUNT - 1}).",
            show_default=False,
        ),
    ] = None,
    split: Annotated[Split, typer.Option("--split", help="Which images to show.")] = Split.test,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write a PNG grid to this file instead of drawing in the terminal.", dir_okay=False),
    ] = None,
    data_dir: DataDir = None,
    offline: Offline = False,
):
    """Show sample digits with their labels: text art in the terminal, or a PNG grid with --out."""
    from fiveornot.data.mnist import load_dataset

    with fetch_progress() as progress:
        dataset = load_dataset(data_dir, offline=offline, progress=progress)
    (x_train, y_train), (x_test, y_test) = dataset
    images, labels = (x_train, y_train) if split is Split.train else (x_test, y_test)
    values = [*(index or []), *(more_indices or [])]
    chosen = parse_indices(values, len(images), split.value) if values else list(range(min(DEFAULT_SHOW_COUNT,
                                                                                             len(images))))
    captions = [f"#{i}: {int(labels[i])}" for i in chosen]
    pictures = [images[i] for i in chosen]
    if out is not None:
        _write_png(out, pictures, captions)
        stdout_console().print(f"wrote {len(chosen)} {split.value} digits to {out}")
    else:
        _print_text_art(pictures, captions)


# ----------------------------------------------------------------------------------------- progress


@contextlib.contextmanager
def fetch_progress():
    """A progress display for fetching: live bars with size and time left on a terminal, plain lines elsewhere."""
    display = _RichFetchProgress(stderr_console(), interactive=sys.stderr.isatty())
    try:
        yield display
    finally:
        display.stop_bars()


class _RichFetchProgress:
    """Draws the data layer's progress hooks (see `fiveornot.data.sources.FetchProgress`) with rich, on stderr,
    so stdout stays clean for --json. Not a subclass, so that importing the CLI does not import numpy."""

    def __init__(self, console, interactive: bool):
        self.console = console
        self.interactive = interactive
        self._bars = None

    def step(self, text):
        self.stop_bars()  # a new step may run pip, which draws on the terminal itself
        self.console.print(
            f"[dim]{text}[/dim]" if self.interactive else text, markup=self.interactive, highlight=False, soft_wrap=True
        )

    def notice(self, text):
        style = "yellow" if self.interactive else None
        self.console.print(f"note: {text}", markup=False, highlight=False, style=style, soft_wrap=True)

    def source_failed(self, source, reason):
        self.stop_bars()
        style = "dim" if self.interactive else None
        self.console.print(f"  failed: {reason}", markup=False, highlight=False, style=style, soft_wrap=True)

    def download(self, name):
        return _PoochBar(self, name)

    def add_bar(self, name, total):
        """Start showing one download; returns (progress, task) or None off a terminal."""
        if not self.interactive:
            size = f" ({total / 1e6:.1f} MB)" if total else ""
            self.console.print(f"downloading {name}{size}", highlight=False, soft_wrap=True)
            return None
        if self._bars is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._bars.start()
        return self._bars, self._bars.add_task(name, total=total or None)

    def stop_bars(self):
        if self._bars is not None:
            self._bars.stop()
            self._bars = None


class _PoochBar:
    """pooch's progress-bar protocol (total, update(n), reset(), close()) on top of a rich task.

    The task appears only once pooch sets `total`, i.e. once the server has answered, so a mirror that
    cannot be reached leaves no empty bar behind.
    """

    def __init__(self, display, name):
        self._display, self._name, self._total, self._task = display, name, 0, None

    @property
    def total(self):
        return self._total

    @total.setter
    def total(self, value):
        self._total = value or 0
        self._task = self._display.add_bar(self._name, self._total)

    def update(self, count):
        if self._task:
            bars, task = self._task
            bars.advance(task, count)

    def reset(self):
        if self._task:
            bars, task = self._task
            bars.update(task, completed=0)

    def close(self):
        if self._task:
            bars, task = self._task
            bars.update(task, completed=self._total or None)


# ------------------------------------------------------------------------------------------- output


def _print_info(facts: dict) -> None:
    from rich.table import Table

    console = stdout_console()
    if facts["is_mnist"]:
        console.print("[bold]MNIST[/bold]  (matches the known digests)")
    else:
        console.print(f"[bold]{facts['name']}[/bold]  (not MNIST: only the IDX format was checked)", highlight=False)
    console.print(f"source  {facts['source']}", markup=False)
    console.print(f"cache   {facts['cache']}", markup=False)
    shapes = facts["shapes"]
    for split in ("train", "test"):
        images, labels = shapes[f"{split}_images"], shapes[f"{split}_labels"]
        size = "x".join(str(n) for n in images[1:])
        console.print(f"{split:<7} {images[0]:,} images of {size} pixels, {labels[0]:,} labels")
    table = Table(box=None, pad_edge=False, header_style="bold")
    for heading in ("digit", "train", "share", "test", "share"):
        table.add_column(heading, justify="right")
    counts, shares = facts["digit_counts"], facts["digit_share"]
    for digit in range(len(counts["train"])):
        row = [str(digit)]
        for split in ("train", "test"):
            row += [f"{counts[split][digit]:,}", f"{shares[split][digit]:.2%}"]
        table.add_row(*row, style="bold" if digit == facts["baseline_digit"] else None)
    console.print()
    console.print(table)
    console.print()
    digit = facts["baseline_digit"]
    console.print(
        f'Baseline: always answering "not {_digit_word(digit)}" scores {facts["baseline_accuracy"]:.2%} '
        "test accuracy, so look at precision and recall, not accuracy alone."
    )


def _print_verify(report: dict) -> None:
    console = stdout_console()
    for copy in report["copies"]:
        verdict = "[green]ok[/green]" if copy["ok"] else "[red]MISMATCH[/red]"
        console.print(f"{verdict}  {copy['source']}", highlight=False)
        for key, entry in copy["arrays"].items():
            mark = "ok" if entry["ok"] else "differs"
            actual = entry["sha256"] or "(unreadable)"
            console.print(f"    {key:<13} {actual[:16]}...  {mark}", markup=False)
        if copy["problem"]:
            console.print(f"    problem: {copy['problem']}", markup=False)
    if not report["ok"]:
        stderr_console().print(
            "fiveornot: a copy of MNIST failed verification: run `fiveornot data fetch` to set a damaged cache "
            "aside and fetch a good copy, or replace the damaged files",
            markup=False,
        )


def _print_text_art(pictures: list, captions: list) -> None:
    console = stdout_console()
    colour = is_terminal()
    tile_width, gap = 28, 2
    per_row = max(1, (console.width + gap) // (tile_width + gap))
    for start in range(0, len(pictures), per_row):
        row, names = pictures[start : start + per_row], captions[start : start + per_row]
        console.print((" " * gap).join(name.center(tile_width) for name in names), markup=False)
        for line in range(14):  # two pixel rows per text line
            if colour:
                console.print(_half_block_line(row, line, gap))
            else:
                console.print((" " * gap).join(_ascii_line(picture, line) for picture in row), markup=False)


_ASCII_RAMP = " .:-=+*#%@"


def _ascii_line(picture, line: int) -> str:
    pair = picture[2 * line : 2 * line + 2].astype(int).mean(axis=0)
    return "".join(_ASCII_RAMP[int(value) * len(_ASCII_RAMP) // 256] for value in pair)


def _half_block_line(row: list, line: int, gap: int):
    from rich.text import Text

    text = Text()
    for number, picture in enumerate(row):
        if number:
            text.append(" " * gap)
        for top, bottom in zip(picture[2 * line], picture[2 * line + 1]):
            text.append("▀", style=f"rgb({top},{top},{top}) on rgb({bottom},{bottom},{bottom})")
    return text


def _write_png(path: Path, pictures: list, captions: list) -> None:
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    scale, caption_height, margin = 4, 16, 6
    columns = min(len(pictures), 8)
    rows = -(-len(pictures) // columns)
    cell_w, cell_h = 28 * scale + margin, 28 * scale + caption_height + margin
    sheet = Image.new("L", (columns * cell_w + margin, rows * cell_h + margin), color=48)
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default(size=caption_height - 2)
    for number, (picture, caption) in enumerate(zip(pictures, captions)):
        x = margin + (number % columns) * cell_w
        y = margin + (number // columns) * cell_h
        digit = Image.fromarray(np.ascontiguousarray(picture)).resize((28 * scale, 28 * scale), Image.NEAREST)
        sheet.paste(digit, (x, y))
        draw.text((x, y + 28 * scale + 1), caption, fill=255, font=font)
    try:
        sheet.save(path)
    except ValueError:  # Pillow cannot tell the format from the name
        raise typer.BadParameter(
            f"cannot tell the image type from {path.name!r}: use a .png name", param_hint="--out"
        ) from None


def _digit_word(digit: int) -> str:
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    return words[digit] if 0 <= digit < len(words) else str(digit)
