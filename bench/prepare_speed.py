"""How fast input preparation runs: scaling, deskewing and augmenting 60,000 images, and one photo -> 28x28.

    python bench/prepare_speed.py [--repeat 5] [--synthetic]

Uses the real MNIST training images when they are already in the cache (never downloads here), else
60,000 synthetic digits from tests/synthetic.py. Prints the median of `--repeat` runs of each step.
Targets (design): deskew of 60,000 well under 1.5 s, one augmented copy of 60,000 under about 3 s, so both
can run every epoch.
"""

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from fiveornot.prepare import SCALES, Preparation, augment, deskew, image_to_mnist


def training_images(synthetic: bool) -> tuple[np.ndarray, str]:
    if not synthetic:
        from fiveornot import load_mnist
        from fiveornot.errors import FiveornotError

        try:
            (x_train, _), _ = load_mnist(offline=True)
            return np.asarray(x_train), "MNIST training images"
        except (OSError, FiveornotError) as error:  # no cached copy: fall back, and say why
            print(f"(real MNIST not available offline: {error}; using synthetic digits)")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from synthetic import make_digits

    return make_digits(60_000, seed=0)[0], "synthetic digits"


def photo_bytes(side: int = 1000) -> bytes:
    """A JPEG 'photo' of a pen-drawn 5 on grey, slightly noisy paper, side x side pixels."""
    from PIL import Image, ImageDraw

    page = Image.new("L", (side, side), 215)
    draw = ImageDraw.Draw(page)
    s = side / 1000
    draw.line([(640 * s, 220 * s), (400 * s, 220 * s), (380 * s, 480 * s)], fill=40, width=int(14 * s))
    draw.arc([360 * s, 400 * s, 660 * s, 800 * s], start=200, end=160, fill=40, width=int(14 * s))
    noisy = np.asarray(page, dtype=float) + np.random.default_rng(0).normal(0, 5, (side, side))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def median_seconds(step, repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of `repeat` runs (CPU time is steadier on a busy machine)."""
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per step; the median is shown")
    parser.add_argument("--synthetic", action="store_true", help="use synthetic digits even if MNIST is cached")
    args = parser.parse_args()

    images, where = training_images(args.synthetic)
    count = len(images)
    photo = photo_bytes()
    rng = np.random.default_rng(0)
    steps = []
    for scale in SCALES:
        preparation = Preparation(scale).fit(images)
        steps.append((f"transform, scale={scale}", count, lambda p=preparation: p.transform(images)))
    steps += [
        ("transform, scale=unit, deskew", count, lambda: Preparation("unit", deskew=True).transform(images)),
        ("deskew", count, lambda: deskew(images)),
        ("augment, 1 copy", count, lambda: augment(images, 1, rng)),
        ("augment, 1 copy, elastic", count, lambda: augment(images, 1, rng, elastic=True)),
        ("image_to_mnist, 1000x1000 JPEG", 1, lambda: image_to_mnist(photo)),
    ]

    print(f"fiveornot input preparation on {count:,} {where}, median of {args.repeat} runs")
    print(f"{'step':<34} {'images':>8} {'seconds':>9} {'cpu s':>7} {'per image':>11}")
    for name, n, step in steps:
        seconds, cpu = median_seconds(step, args.repeat)
        print(f"{name:<34} {n:>8,} {seconds:>9.3f} {cpu:>7.3f} {seconds / n * 1e6:>9.1f} us")


if __name__ == "__main__":
    main()
