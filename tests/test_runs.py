"""Run folders and RUN_OR_MODEL: names, `latest`, diverged runs, and the `runs` command's options."""

import json
import time

import pytest
from typer.testing import CliRunner

from fiveornot.cli import app
from fiveornot.errors import RunError
from fiveornot.runs import create_run_dir, resolve

runner = CliRunner()


def train(*args):
    result = runner.invoke(app, ["train", "--epochs", "2", "--lr", "0.01", "--json", *args])
    return result


def test_run_folders_are_never_reused(tmp_path):
    first, second = create_run_dir(tmp_path, "same"), create_run_dir(tmp_path, "same")
    assert first != second and first.is_dir() and second.is_dir()
    with pytest.raises(RunError, match="not allowed"):
        create_run_dir(tmp_path, "../escape")


def test_latest_skips_a_diverged_run(synthetic_data_dir, runs_dir):
    good = json.loads(train("--name", "good").stdout)["run_dir"]
    time.sleep(0.01)
    diverged = train("--activation", "linear", "--scale", "none", "--optimizer", "sgd", "--lr", "10", "--name", "bad")
    assert diverged.exit_code == 1 and "diverged" in diverged.output and "Traceback" not in diverged.output
    run, _ = resolve("latest", runs_dir)
    assert str(run.path) == good
    bad = next(p for p in runs_dir.iterdir() if p.name.endswith("-bad"))
    assert json.loads((bad / "metrics.json").read_text())["status"] == "diverged"
    report = runner.invoke(app, ["report", bad.name])
    assert report.exit_code == 1 and "diverged" in report.output and "Traceback" not in report.output
    predicted = runner.invoke(app, ["predict", bad.name, "--index", "0"])
    assert predicted.exit_code == 1 and "not finite" in predicted.output


def test_runs_group_options_reach_the_subcommands(synthetic_data_dir, runs_dir, tmp_path, monkeypatch):
    train("--name", "listed")
    monkeypatch.delenv("FIVEORNOT_RUNS")
    monkeypatch.chdir(tmp_path)  # no ./runs here: only --runs-dir can find the run
    shown = runner.invoke(app, ["runs", "--runs-dir", str(runs_dir), "--json", "show", "latest"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["name"].endswith("-listed")
    listed = runner.invoke(app, ["runs", "--runs-dir", str(runs_dir), "list"])
    assert listed.exit_code == 0 and "-listed" in listed.output


@pytest.mark.parametrize("args,message", [
    (["--validation-split", "0", "--patience", "2"], "validation_split"),
    (["--train-size", "10", "--validation-split", "0.99"], "No training images are left"),
    (["--elastic"], "augment"),
    (["--digit", "all", "--activation", "step"], "softmax"),
])
def test_settings_that_cannot_work_are_refused_before_training(synthetic_data_dir, runs_dir, args, message):
    result = train(*args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not any(runs_dir.glob("*/metrics.json"))


def test_a_huge_batch_is_one_batch(synthetic_data_dir, runs_dir):
    result = train("--batch-size", "10000000")
    assert result.exit_code == 0, result.output


def test_a_run_name_ending_in_a_newline_is_refused(tmp_path):
    with pytest.raises(RunError, match="not allowed"):
        create_run_dir(tmp_path, "name\n")
