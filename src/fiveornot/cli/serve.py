"""`fiveornot serve`: the web page where you draw a digit and watch the perceptron decide."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from fiveornot.cli.options import DataDir, Offline, RunsDir, load_data, runs_dir_or_default


def serve(
    run_or_model: Annotated[Optional[str], typer.Argument(
        help="A run folder, a run's name, 'latest', or a .safetensors model file (default: the latest run; "
             "with no run yet, the default model is trained first).",
        metavar="[RUN_OR_MODEL]", show_default=False)] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 makes the page reachable from "
                                           "other machines.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    runs_dir: RunsDir = None,
    data_dir: DataDir = None,
    offline: Offline = False,
):
    """Start the web page: draw a digit and see whether the perceptron calls it a five, and why."""
    from fiveornot.errors import RunError
    from fiveornot.runs import resolve

    runs_dir = runs_dir_or_default(runs_dir)
    _check_port_free(host, port)   # first: a taken port should not cost a training run
    if run_or_model is None:
        try:
            resolve("latest", runs_dir)
        except RunError:   # no finished run yet (none at all, or only diverged ones)
            _train_default_model(runs_dir, data_dir, offline)

    from fiveornot.web.app import create_app

    app = create_app(run_or_model, runs_dir=runs_dir, data_dir=data_dir, offline=offline)
    model_name = app.state.models.default_name()
    url = f"http://{_url_host(host)}:{port}/"
    typer.echo(f"Serving {model_name} at {url}  (Ctrl-C to stop)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"Listening on {host}: other machines on the network can reach this page.")
    _run_server(app, host, port)


def _train_default_model(runs_dir, data_dir, offline) -> None:
    """No run yet: train `fiveornot train`'s default model, with progress, so the page has something to show."""
    from fiveornot.cli.progress import training_progress
    from fiveornot.experiment import run_experiment
    from fiveornot.model import Perceptron

    typer.echo(f"No runs in {runs_dir} yet: training the default model first (five or not, sigmoid, 10 epochs).")
    dataset = load_data(data_dir, offline)
    run = run_experiment(Perceptron(), dataset, runs_dir=runs_dir, callbacks=training_progress(quiet=False))
    accuracy = run.metrics.get("test", {}).get("accuracy")
    typer.echo(f"run saved in {run.path}" + (f" (test accuracy {accuracy:.2%})" if accuracy is not None else ""))


def _check_port_free(host: str, port: int) -> None:
    """Say clearly that the port is taken, before uvicorn logs a bind error and exits."""
    import socket

    from fiveornot.errors import FiveornotError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise typer.BadParameter(f"cannot listen on {host!r} ({error.strerror})", param_hint="--host") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as uvicorn does
        try:
            probe.bind(address)
        except OSError as error:
            raise FiveornotError(f"Cannot listen on {host}:{port} ({error.strerror}): choose another port with "
                                 "--port, or stop what uses it.") from None


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _run_server(app, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def register(app: typer.Typer) -> None:
    app.command()(serve)
