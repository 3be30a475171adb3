"""The training commands as a user runs them, on a small synthetic data set (FIVEORNOT_DATA)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from fiveornot.cli import app

runner = CliRunner()
FAST = ["--epochs", "3", "--lr", "0.01"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def trained(synthetic_data_dir, runs_dir):
    result = invoke("train", *FAST, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_train_prints_epochs_and_metrics_without_control_characters(synthetic_data_dir, runs_dir):
    result = invoke("train", *FAST)
    assert result.exit_code == 0, result.output
    assert result.output.count("epoch ") == 3
    for word in ("Test accuracy", 'Always-"not five" baseline', "Precision (five)", "F1 (five)", "ROC-AUC"):
        assert word in result.output
    assert "\x1b" not in result.output and "\r" not in result.output


def test_train_writes_a_complete_run_that_is_never_overwritten(synthetic_data_dir, runs_dir):
    first = json.loads(invoke("train", *FAST, "--json", "--name", "same").stdout)
    second = json.loads(invoke("train", *FAST, "--json", "--name", "same").stdout)
    assert first["run_dir"] != second["run_dir"]
    run = Path(first["run_dir"])
    assert {p.name for p in run.iterdir()} >= {"config.json", "history.csv", "metrics.json", "model.safetensors"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"accuracy", "baseline_accuracy", "precision", "recall", "f1", "roc_auc",
                                    "confusion_matrix"}
    assert metrics["status"] == "completed" and metrics["epochs_run"] == 3
    assert (run / "history.csv").read_text().splitlines()[0] == "epoch,loss,accuracy,val_loss,val_accuracy,seconds"
    config = json.loads((run / "config.json").read_text())
    assert config["params"]["seed"] == 0 and config["data"]["digests"]["train_images"]


def test_quiet_prints_only_the_summary(synthetic_data_dir, runs_dir):
    result = invoke("train", *FAST, "--quiet")
    assert result.exit_code == 0 and "epoch " not in result.output and "Test accuracy" in result.output


def test_same_seed_gives_the_same_metrics(synthetic_data_dir, runs_dir):
    a = json.loads(invoke("train", *FAST, "--json").stdout)
    b = json.loads(invoke("train", *FAST, "--json").stdout)
    assert a["test"] == b["test"]


def test_ten_class_training(synthetic_data_dir, runs_dir):
    result = invoke("train", *FAST, "--digit", "all")
    assert result.exit_code == 0, result.output
    assert "Confusion matrix" in result.output


def test_runs_evaluate_and_show(trained):
    listing = invoke("runs")
    assert listing.exit_code == 0 and Path(trained["run_dir"]).name in listing.output
    listed = json.loads(invoke("runs", "list", "--json").stdout)
    assert listed[0]["accuracy"] == trained["test"]["accuracy"]
    shown = invoke("runs", "show", "latest")
    assert shown.exit_code == 0 and "epoch 3/3" in shown.output
    evaluated = json.loads(invoke("evaluate", "latest", "--json").stdout)
    assert evaluated["test"] == trained["test"]
    by_file = invoke("evaluate", Path(trained["run_dir"]) / "model.safetensors")
    assert by_file.exit_code == 0 and "Test accuracy" in by_file.output


def test_bad_values_get_one_line_and_no_traceback(synthetic_data_dir, runs_dir):
    for args in (["train", "--lr", "-1"], ["train", "--digit", "12"], ["train", "--activation", "relu"],
                 ["evaluate", "no-such-run"], ["predict", "latest", "--index", "0"]):
        result = invoke(*args)
        assert result.exit_code != 0
        assert "Traceback" not in result.output


def draw_five(size=200, ink=0, paper=255, mode="L", offset=(0, 0)):
    image = Image.new(mode, (size, size), paper)
    pen = ImageDraw.Draw(image)
    x, y = offset
    pen.line([(x + 120, y + 40), (x + 70, y + 40), (x + 65, y + 95), (x + 115, y + 100), (x + 120, y + 150),
              (x + 65, y + 160)], fill=ink, width=14)
    return image


def test_predict_images_and_indices(trained, tmp_path):
    files = []
    for name, image in {
        "dark-on-light.png": draw_five(),
        "light-on-dark.jpg": draw_five(ink=255, paper=0),
        "off-centre.bmp": draw_five(size=400, offset=(200, 180)),
        "rgba.png": draw_five(mode="RGBA", ink=(0, 0, 0, 255), paper=(0, 0, 0, 0)),
    }.items():
        image.save(tmp_path / name)
        files.append(tmp_path / name)
    (tmp_path / "not-an-image.png").write_text("hello")
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    files += [tmp_path / "not-an-image.png", tmp_path / "blank.png"]

    result = invoke("predict", "latest", *files, "--json", "--save-input", tmp_path / "inputs")
    assert result.exit_code == 1  # two files failed, the others were still predicted
    answers = json.loads(result.stdout)
    assert len(answers) == 6
    for answer in answers[:4]:
        assert answer["error"] is None and answer["answer"] in ("five", "not five")
        assert 0 <= answer["probability"] <= 1 and isinstance(answer["raw"], float)
    assert "not an image" in answers[4]["error"] and "no ink" in answers[5]["error"]
    assert answers[4]["answer"] is None
    saved = sorted((tmp_path / "inputs").iterdir())
    assert len(saved) == 4 and Image.open(saved[0]).size == (28, 28)

    by_index = invoke("predict", "latest", "--index", "0", "1", "2", "--raw")
    assert by_index.exit_code == 0, by_index.output
    assert by_index.output.count("test image") == 3 and "raw " in by_index.output
    as_json = json.loads(invoke("predict", "latest", "--index", "4", "--json").stdout)
    assert as_json[0]["index"] == 4 and as_json[0]["file"] is None


@pytest.mark.parametrize("command", [[], ["data"], ["train"], ["evaluate"], ["predict"], ["runs"], ["runs", "show"],
                                     ["report"], ["tutorial"], ["serve"]])
def test_every_command_has_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_ctrl_c_saves_an_interrupted_run_and_exits_130(synthetic_data_dir, runs_dir):
    process = subprocess.Popen(
        [sys.executable, "-m", "fiveornot", "train", "--epochs", "100000", "--lr", "0.01"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    for line in process.stdout:  # wait until training is under way
        if line.startswith("epoch"):
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    [run] = list(runs_dir.iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and 1 <= metrics["epochs_run"] < 100000
    assert (run / "model.safetensors").is_file()
    assert len((run / "history.csv").read_text().splitlines()) == metrics["epochs_run"] + 1


def test_save_input_keeps_inputs_that_share_a_name(trained, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        draw_five().save(tmp_path / folder / "x.png")
    result = invoke("predict", "latest", tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", "--save-input",
                    tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x-2-28x28.png", "x-28x28.png"]


def test_file_names_with_brackets_are_printed_as_they_are(trained, tmp_path):
    draw_five().save(tmp_path / "scan[red].png")
    result = invoke("predict", "latest", tmp_path / "scan[red].png")
    assert result.exit_code == 0 and "scan[red].png" in result.output
