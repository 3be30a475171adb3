"""`fiveornot runs`: list the saved runs, or show one."""

from __future__ import annotations

from typing import Annotated

import typer

from fiveornot.cli.options import Json, RunsDir, runs_dir_or_default

app = typer.Typer(help="List saved runs (default) or show one.", no_args_is_help=False, invoke_without_command=True)


def _summary(run) -> dict:
    config, metrics = run.config, run.metrics
    params, test = config.get("params", {}), metrics.get("test", {})
    return {
        "name": run.name,
        "created": config.get("created", ""),
        "digit": params.get("digit"),
        "activation": config.get("resolved", {}).get("activation", params.get("activation")),
        "loss": config.get("resolved", {}).get("loss", params.get("loss")),
        "optimizer": params.get("optimizer"),
        "scale": params.get("scale"),
        "deskew": params.get("deskew"),
        "epochs_run": metrics.get("epochs_run"),
        "status": metrics.get("status", "unknown"),
        "accuracy": test.get("accuracy"),
        "f1": test.get("f1"),
        "path": str(run.path),
    }


@app.callback()
def runs(ctx: typer.Context, runs_dir: RunsDir = None, json_output: Json = False):
    """List saved runs (name, date, key settings, accuracy, F1), newest last."""
    # `runs --json show X` and `runs show X --json` mean the same: the group's options reach the subcommands.
    ctx.obj = {"runs_dir": runs_dir, "json_output": json_output}
    if ctx.invoked_subcommand is None:
        list_runs(ctx, runs_dir=runs_dir, json_output=json_output)


def _group_option(ctx: typer.Context, name: str, value):
    return value or (ctx.obj or {}).get(name)


@app.command("list")
def list_runs(ctx: typer.Context, runs_dir: RunsDir = None, json_output: Json = False):
    """List saved runs (name, date, key settings, accuracy, F1), newest last."""
    from fiveornot.cli.console import print_json, stdout_console

    runs_dir = _group_option(ctx, "runs_dir", runs_dir)
    json_output = _group_option(ctx, "json_output", json_output)
    from fiveornot.runs import list_runs as find_runs

    directory = runs_dir_or_default(runs_dir)
    summaries = [_summary(run) for run in find_runs(directory)]
    if json_output:
        print_json(summaries)
        return
    console = stdout_console()
    if not summaries:
        console.print(f"No runs in {directory} yet: train one with `fiveornot train`.")
        return
    from rich import box
    from rich.table import Table

    # The run name carries the date and the key settings (digit, activation, loss, optimizer, scaling, ...).
    table = Table(box=box.SIMPLE, title=f"runs in {directory}", title_justify="left")
    table.add_column("run (date-time-settings)", overflow="fold")
    for column in ("epochs", "status", "accuracy", "F1"):
        table.add_column(column, justify="right", no_wrap=True)
    for s in summaries:
        table.add_row(s["name"], str(s["epochs_run"]), s["status"],
                      "-" if s["accuracy"] is None else f"{s['accuracy']:.2%}",
                      "-" if s["f1"] is None else f"{s['f1']:.3f}")
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, run: Annotated[str, typer.Argument(help="A run folder, a run's name, or 'latest'.")],
         runs_dir: RunsDir = None, json_output: Json = False):
    """Show one run: its settings, history and test metrics."""
    runs_dir = _group_option(ctx, "runs_dir", runs_dir)
    json_output = _group_option(ctx, "json_output", json_output)
    from fiveornot.cli.console import print_json, stdout_console
    from fiveornot.cli.progress import epoch_line
    from fiveornot.cli.tables import print_metrics
    from fiveornot.errors import RunError
    from fiveornot.runs import resolve

    found, _ = resolve(run, runs_dir_or_default(runs_dir))
    if found is None:
        raise RunError(f"{run} is a model file, not a run folder; use `fiveornot evaluate {run}`.")
    config, metrics, history = found.config, found.metrics, found.history
    if json_output:
        print_json({"name": found.name, "path": str(found.path), "config": config, "metrics": metrics,
                    "history": history})
        return
    console = stdout_console()
    console.print(f"[bold]{found.name}[/]  ({found.path})")
    params = config.get("params", {})
    console.print("settings: " + ", ".join(f"{k}={v}" for k, v in params.items()))
    console.print(f"data: {config.get('data', {}).get('source', '?')}")
    console.print(f"status: {metrics.get('status', '?')}, {metrics.get('epochs_run', '?')} epochs in "
                  f"{metrics.get('train_seconds', 0):.2f}s")
    for row in history:
        console.print(epoch_line(int(row["epoch"]), len(history), row))
    print_metrics(console, metrics, params.get("digit"))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="runs")
