"""`fiveornot tutorial --quick` and `fiveornot report` end to end on the small synthetic data set."""

import json
import re

from PIL import Image
from typer.testing import CliRunner

from fiveornot.cli import app

runner = CliRunner()


def test_quick_tutorial_writes_the_whole_story(synthetic_data_dir, tmp_path):
    out = tmp_path / "tutorial"
    result = runner.invoke(app, ["tutorial", "--quick", "--out", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    for step in ("1. linear on raw pixels", "2. sigmoid", "5. learning curve", "6. best five-detector"):
        assert step in result.output
    page = (out / "report.html").read_text()
    for heading in ("A linear unit on raw pixels fails", "A sigmoid squashes", "Lever one", "Lever two",
                    "Lever three", "The best five-detector"):
        assert heading in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) >= 8
    assert "http://" not in page and "https://" not in page
    assert (out / "best-five-detector.safetensors").is_file()
    predicted = runner.invoke(app, ["predict", str(out / "best-five-detector.safetensors"), "--index", "0", "--json"])
    assert predicted.exit_code == 0 and json.loads(predicted.stdout)[0]["answer"] in ("five", "not five")


def test_train_report_draws_every_picture(synthetic_data_dir, runs_dir):
    result = runner.invoke(app, ["train", "--epochs", "2", "--lr", "0.01", "--report", "--json"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["run_dir"]
    from pathlib import Path

    plots = {p.stem: p for p in (Path(run) / "plots").glob("*.png")}
    assert set(plots) == {"curves", "weights", "misclassified", "confusion", "roc-pr", "output-histogram"}
    assert all(Image.open(p).size[0] >= 500 for p in plots.values())
    page = (Path(run) / "report.html").read_text()
    for section in ('id="curves"', 'id="weights"', 'id="misclassified"', 'id="confusion"', 'id="roc-pr"',
                    'id="output-histogram"', 'id="metrics"', 'id="baseline"'):
        assert section in page


def test_report_command_on_a_ten_class_run(synthetic_data_dir, runs_dir):
    assert runner.invoke(app, ["train", "--epochs", "2", "--lr", "0.01", "--digit", "all"]).exit_code == 0
    result = runner.invoke(app, ["report", "latest"])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
