"""Load test of the web page's API: many POST /api/predict requests from concurrent clients against a real
uvicorn server running the app `fiveornot serve` runs, started here on a free port of 127.0.0.1 in its own
process(es).

Each request sends one MNIST test image as a 28x28 JSON array (the page's "random five" path; a drawn canvas
sends a PNG data URL instead: `--payload canvas`). Each client is an asyncio task with its own keep-alive
connection, sending its next request as soon as the last answer is read (a closed loop: with 50 clients,
the median latency is about 50 / the server's requests per second).

The default client speaks HTTP/1.1 over asyncio streams (on uvloop when installed) with pre-encoded requests:
about 0.1 ms of CPU a request against the server's 0.2 ms, on the same cores. `--client httpx` uses
httpx.AsyncClient instead; on a 2-CPU machine it tops out near 250 requests/s, and then measures mostly itself.

Target (issue 5): 10,000 requests from 50 clients with p99 <= 20 ms and 0 errors.

Run: ``.venv/bin/python bench/web_load.py [--requests 10000] [--clients 50] [--workers 1] [--run RUN_OR_MODEL]``.
With no run in ./runs (or --runs-dir) it first trains the default model into a temporary folder (~3 s).
Results also go to bench/results/web_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

P99_TARGET_MS = 20.0
START_TIMEOUT_S = 60
WARMUP_REQUESTS = 200
DISTINCT_IMAGES = 500

# The app factory uvicorn's workers import (written into a scratch folder: workers are separate processes).
FACTORY = """
import os
from fiveornot.web.app import create_app


def app():
    return create_app(os.environ["FIVEORNOT_BENCH_MODEL"], runs_dir=os.environ["FIVEORNOT_BENCH_RUNS"])
"""


def main():
    options = parse_arguments()
    with tempfile.TemporaryDirectory(prefix="fiveornot-web-load-") as scratch:
        spec, runs_dir = model_to_serve(options, Path(scratch))
        bodies = request_bodies(options.payload)
        port = free_port()
        server = start_server(spec, runs_dir, port, options.workers, Path(scratch))
        load = LOADERS[options.client]
        try:
            wait_until_ready(port, server)
            run_client(load(port, bodies, WARMUP_REQUESTS, options.clients, options.max_seconds))
            results = run_client(load(port, bodies, options.requests, options.clients, options.max_seconds))
        finally:
            stop(server)
    results.update(payload=options.payload, clients=options.clients, client=options.client, workers=options.workers,
                   model=spec, cpus=os.cpu_count(), server_http=http_implementation())
    report(results)
    out = Path(__file__).parent / "results" / "web_load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out}")
    sys.exit(0 if results["errors"] == 0 else 1)


def run_client(coroutine):
    """Run the load generator on uvloop when installed (it comes with uvicorn[standard]): the client shares the
    machine's cores with the server, so the less CPU it spends per request, the more the numbers are the server's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--payload", choices=("array", "canvas"), default="array",
                        help="a 28x28 JSON array (default) or a 280x280 canvas PNG as a data URL")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="the load generator: lean HTTP/1.1 over asyncio streams (default), or httpx")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (fiveornot serve: 1)")
    parser.add_argument("--run", default=None, help="RUN_OR_MODEL to serve [default: the latest run]")
    parser.add_argument("--runs-dir", type=Path, default=None)
    parser.add_argument("--max-seconds", type=float, default=300, help="stop sending after this long")
    options = parser.parse_args()
    if not (1 <= options.clients <= 1000 and 1 <= options.requests <= 1_000_000 and 1 <= options.workers <= 64):
        parser.error("--clients must be 1..1000, --requests 1..1000000 and --workers 1..64")
    return options


# ---- what to serve and send --------------------------------------------------------------------------------


def model_to_serve(options, scratch: Path) -> tuple[str, Path]:
    from fiveornot.runs import default_runs_dir, list_runs

    runs_dir = options.runs_dir or default_runs_dir()
    if options.run or list_runs(runs_dir):
        return options.run or "latest", runs_dir
    from fiveornot.data import load_dataset
    from fiveornot.experiment import run_experiment
    from fiveornot.model import Perceptron

    print(f"no run in {runs_dir}: training the default model into a temporary folder ...", flush=True)
    run = run_experiment(Perceptron(), load_dataset(), runs_dir=scratch / "runs", argv=[])
    return str(run.path), scratch / "runs"


def request_bodies(payload: str) -> list[bytes]:
    """JSON request bodies, encoded once: MNIST test images (or canvas-like PNGs made from them)."""
    from fiveornot.data import load_dataset

    _, (images, _) = load_dataset()
    chosen = images[:DISTINCT_IMAGES]
    if payload == "array":
        return [json.dumps({"image": image.tolist()}).encode() for image in chosen]
    return [json.dumps({"image": canvas_data_url(image)}).encode() for image in chosen]


def canvas_data_url(image) -> str:
    """The digit as the page's 280x280 pad would send it: scaled up 10x, PNG, base64 data URL."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(image).resize((280, 280), Image.Resampling.BILINEAR).convert("RGBA").save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


# ---- the server --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(spec: str, runs_dir: Path, port: int, workers: int, scratch: Path) -> subprocess.Popen:
    (scratch / "fiveornot_bench_app.py").write_text(FACTORY)
    environment = dict(os.environ, FIVEORNOT_BENCH_MODEL=spec, FIVEORNOT_BENCH_RUNS=str(runs_dir.resolve()))
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "fiveornot_bench_app:app", "--app-dir", str(scratch),
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
         "--no-access-log"],
        env=environment,
    )


def http_implementation() -> str:
    """What uvicorn parses HTTP with here: httptools (C) when installed, else h11 (pure Python, slower)."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def wait_until_ready(port: int, server: subprocess.Popen) -> None:
    import urllib.request

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/model", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server did not answer within {START_TIMEOUT_S} s")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# ---- the load ----------------------------------------------------------------------------------------------


class Tally:
    """Latencies of the answered requests and counts of the failed ones, shared by the client tasks."""

    def __init__(self, total: int, max_seconds: float):
        self.total, self.sent = total, 0
        self.deadline = time.perf_counter() + max_seconds
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}

    def next_index(self) -> int | None:
        if self.sent >= self.total or time.perf_counter() > self.deadline:
            return None
        self.sent += 1
        return self.sent - 1

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def load_raw(port: int, bodies: list[bytes], total: int, clients: int, max_seconds: float) -> dict:
    """`total` requests from `clients` tasks, each on its own keep-alive HTTP/1.1 connection."""
    requests = [b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body) for body in bodies]
    tally = Tally(total, max_seconds)

    async def one_client():
        reader = writer = None
        while (index := tally.next_index()) is not None:
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(requests[index % len(requests)])
                async with asyncio.timeout(30):   # unlike wait_for, no extra task per request
                    status, keep_alive = await read_response(reader)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as error:
                tally.error(type(error).__name__)
                writer = close(writer)
                continue
            if status != 200:
                tally.error(f"HTTP {status}")
            else:
                tally.latencies.append(time.perf_counter() - started)
            if not keep_alive:
                writer = close(writer)
        close(writer)

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    return summary(tally, time.perf_counter() - started)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response with a Content-Length body; (status, whether the connection stays open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = dict(line.lower().split(":", 1) for line in lines[1:] if ":" in line)
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection", "").strip() != "close"


def close(writer):
    if writer is not None:
        writer.close()


async def load_httpx(port: int, bodies: list[bytes], total: int, clients: int, max_seconds: float) -> dict:
    """The same load through one httpx.AsyncClient pool of `clients` connections."""
    import httpx

    tally = Tally(total, max_seconds)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client:
        async def one_client():
            while (index := tally.next_index()) is not None:
                started = time.perf_counter()
                try:
                    response = await client.post("/api/predict", content=bodies[index % len(bodies)], headers=headers)
                except httpx.HTTPError as error:
                    tally.error(type(error).__name__)
                    continue
                if response.status_code != 200:
                    tally.error(f"HTTP {response.status_code}")
                else:
                    tally.latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        return summary(tally, time.perf_counter() - started)


LOADERS = {"raw": load_raw, "httpx": load_httpx}


def summary(tally: Tally, seconds: float) -> dict:
    ms = sorted(1000 * value for value in tally.latencies)
    errors = sum(tally.errors.values())

    def percentile(p: float) -> float | None:
        return round(ms[min(len(ms) - 1, int(p / 100 * len(ms)))], 2) if ms else None

    return {"requests": len(ms) + errors, "ok": len(ms), "errors": errors, "error_kinds": tally.errors,
            "seconds": round(seconds, 3), "requests_per_second": round((len(ms) + errors) / seconds, 1),
            "p50_ms": percentile(50), "p90_ms": percentile(90), "p99_ms": percentile(99),
            "max_ms": round(ms[-1], 2) if ms else None, "mean_ms": round(statistics.fmean(ms), 2) if ms else None}


def report(results: dict) -> None:
    print(f"{results['requests']} POST /api/predict ({results['payload']}) from {results['clients']} clients "
          f"({results['client']}) in {results['seconds']:.1f} s; server: {results['workers']} uvicorn worker(s), "
          f"{results['server_http']}, {results['cpus']} CPUs")
    print(f"  requests/s   {results['requests_per_second']:.0f}")
    for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
        print(f"  {key[:-3]:<12} {results[key]} ms")
    print(f"  errors       {results['errors']} {results['error_kinds'] or ''}")
    met = results["p99_ms"] is not None and results["p99_ms"] <= P99_TARGET_MS and results["errors"] == 0
    print(f"target p99 <= {P99_TARGET_MS:.0f} ms with 0 errors: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
