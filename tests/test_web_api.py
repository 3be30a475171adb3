"""The web API through FastAPI's test client, on models trained once on the small synthetic data set."""

import base64
import io
import re
import shutil
import socket
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw
from synthetic import write_idx_dataset
from typer.testing import CliRunner

with warnings.catch_warnings():   # starlette's test client warns about its httpx backend on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from fiveornot.data import load_dataset
from fiveornot.errors import RunError
from fiveornot.experiment import run_experiment
from fiveornot.model import Perceptron
from fiveornot.web.app import MAX_BODY_BYTES, create_app

STATIC = Path(__file__).parents[1] / "src" / "fiveornot" / "web" / "static"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A digit-5 run and a 10-class run on synthetic data, trained once for the module (the binary one last,
    so it is the latest run and the default)."""
    root = tmp_path_factory.mktemp("web-api")
    data_dir = write_idx_dataset(root / "data")
    runs_dir = root / "runs"
    dataset = load_dataset(data_dir=data_dir)
    ten = run_experiment(Perceptron(digit="all", epochs=3, lr=0.01), dataset, runs_dir=runs_dir, name="all", argv=[])
    five = run_experiment(Perceptron(epochs=3, lr=0.01), dataset, runs_dir=runs_dir, name="five", argv=[])
    return SimpleNamespace(data_dir=data_dir, runs_dir=runs_dir, five=five, ten=ten, dataset=dataset)


@pytest.fixture(scope="module")
def client(trained):
    app = create_app(runs_dir=trained.runs_dir, data_dir=trained.data_dir)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def sample_image(trained, digit=5) -> list[list[int]]:
    (_, _), (x_test, y_test) = trained.dataset
    return x_test[np.flatnonzero(y_test == digit)[0]].tolist()




def drawn_five_png(size=280, background=0, ink=255) -> bytes:
    """A five drawn like the page's pad does: thick round white strokes on black."""
    picture = Image.new("L", (size, size), background)
    pen = ImageDraw.Draw(picture)
    points = [(0.70, 0.20), (0.36, 0.20), (0.33, 0.48), (0.50, 0.43), (0.66, 0.55), (0.66, 0.70), (0.55, 0.80),
              (0.33, 0.78)]
    pen.line([(x * size, y * size) for x, y in points], fill=ink, width=size // 14, joint="curve")
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def assert_explains(result: dict) -> None:
    assert np.array(result["input"]).shape == (28, 28)
    assert np.array(result["contributions"]).shape == (28, 28)
    assert np.sum(result["contributions"]) + result["bias"] == pytest.approx(result["raw"], abs=1e-4)


# ---- POST /api/predict ------------------------------------------------------------------------------------


def test_predict_a_28x28_array_gives_the_answer_and_why(client, trained):
    response = client.post("/api/predict", json={"image": sample_image(trained)})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["answer"] == "five"
    assert 0.5 <= result["probability"] <= 1
    assert result["model"] == trained.five.name
    assert result["input"] == sample_image(trained)          # a 28x28 array is used as it is
    assert "probabilities" not in result
    assert_explains(result)


def test_predict_agrees_with_the_library(client, trained):
    from fiveornot.inference import describe

    image = np.array(sample_image(trained, digit=3), dtype=np.uint8)
    expected = describe(Perceptron.load(trained.five.model_path), image[np.newaxis])[0]
    result = client.post("/api/predict", json={"image": image.tolist()}).json()
    assert result["answer"] == expected["answer"] == "not five"
    assert result["raw"] == pytest.approx(expected["raw"])
    assert result["probability"] == pytest.approx(expected["probability"])


def test_predict_with_a_ten_class_run(client, trained):
    for response in (client.post(f"/api/predict?run={trained.ten.name}", json={"image": sample_image(trained, 7)}),
                     client.post("/api/predict", json={"image": sample_image(trained, 7), "run": trained.ten.name})):
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["answer"] == 7
        assert len(result["probabilities"]) == 10 and sum(result["probabilities"]) == pytest.approx(1)
        assert result["probability"] == pytest.approx(max(result["probabilities"]))
        assert len(result["raw_all"]) == 10 and result["raw"] == pytest.approx(result["raw_all"][7])
        assert result["model"] == trained.ten.name
        assert_explains(result)


def test_a_run_is_found_by_a_unique_part_of_its_name(client, trained):
    result = client.post("/api/predict?run=all", json={"image": sample_image(trained)}).json()
    assert result["model"] == trained.ten.name


def test_predict_a_drawn_png_data_url(client):
    response = client.post("/api/predict", json={"image": data_url(drawn_five_png())})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["answer"] in ("five", "not five")
    assert np.array(result["input"]).max() == 255           # prepared MNIST-style: ink bright, full range
    assert_explains(result)


def test_dark_ink_on_white_is_prepared_the_same_way(client):
    light = client.post("/api/predict", json={"image": data_url(drawn_five_png(background=255, ink=0))}).json()
    dark = client.post("/api/predict", json={"image": data_url(drawn_five_png())}).json()
    assert light["input"] == dark["input"]


def test_predict_a_multipart_upload(client, trained):
    files = {"file": ("five.png", drawn_five_png(), "image/png")}
    response = client.post("/api/predict", files=files)
    assert response.status_code == 200, response.text
    assert_explains(response.json())
    response = client.post("/api/predict", files=files, data={"run": trained.ten.name})
    assert response.status_code == 200 and response.json()["model"] == trained.ten.name


def test_an_upload_needs_the_file_field(client):
    response = client.post("/api/predict", files={"picture": ("five.png", drawn_five_png(), "image/png")})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"


def test_an_upload_that_is_no_image_is_422(client):
    response = client.post("/api/predict", files={"file": ("notes.txt", b"hello", "text/plain")})
    assert response.status_code == 422
    assert "not an image" in response.json()["detail"]


def test_a_blank_canvas_asks_for_a_digit(client):
    blank = io.BytesIO()
    Image.new("RGB", (280, 280), "black").save(blank, format="PNG")
    response = client.post("/api/predict", json={"image": data_url(blank.getvalue())})
    assert response.status_code == 422
    body = response.json()
    assert "no ink" in body["detail"] and "draw" in body["detail"]
    assert body["errors"] == [{"field": "image", "message": body["errors"][0]["message"]}]


@pytest.mark.parametrize("image, words", [
    ([[0] * 28] * 27, "got 27 rows"),
    ([[0] * 28] * 27 + [[0] * 5], "row 27 must hold 28 numbers"),
    ([[256] * 28] * 28, "row 0, column 0 must be a number 0..255"),
    ([[-1] * 28] * 28, "must be a number 0..255"),
    ([[True] * 28] * 28, "must be a number"),
    ([["7"] * 28] * 28, "must be a number"),
    ("hello", "not an image data URL"),
    (12, "got int"),
    ("data:image/png;base64,###", "damaged"),
])
def test_invalid_images_are_422_naming_the_field(client, image, words):
    response = client.post("/api/predict", json={"image": image})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"].startswith("image: ")
    assert words in body["detail"]
    assert body["errors"][0]["field"] == "image"
    assert "Traceback" not in response.text


def test_missing_image_and_bad_json_are_422(client):
    response = client.post("/api/predict", json={"picture": []})
    assert response.status_code == 422 and response.json()["detail"] == "image: Field required"
    response = client.post("/api/predict", content=b'{"image": [[1, 2]', headers={"content-type": "application/json"})
    assert response.status_code == 422 and "not valid JSON" in response.json()["detail"]


def test_other_content_types_are_415(client):
    response = client.post("/api/predict", content=b"image=1", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def test_a_body_over_the_limit_is_413(client):
    big = b'{"image": "data:image/png;base64,' + b"A" * (MAX_BODY_BYTES + 10) + b'"}'
    response = client.post("/api/predict", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than 2 MB" in response.json()["detail"]


def test_a_streamed_body_without_length_is_counted_too(client):
    def chunks():                      # no Content-Length: sent chunked, so only counting the stream catches it
        yield b'{"image": "data:image/png;base64,'
        for _ in range(40):
            yield b"A" * 65536
        yield b'"}'

    response = client.post("/api/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_a_big_upload_is_413(client):
    response = client.post("/api/predict", files={"file": ("big.png", b"\0" * (MAX_BODY_BYTES + 1), "image/png")})
    assert response.status_code == 413


# ---- runs: only by name, only in the runs directory --------------------------------------------------------


@pytest.mark.parametrize("name", ["../etc", "..", "../../etc/passwd", "/etc/passwd", ".hidden", "a/b", "a\\b",
                                  "five\n", "five\x00"])
def test_path_traversal_in_run_is_rejected(client, trained, name):
    for response in (client.get("/api/model", params={"run": name}),
                     client.post("/api/predict", params={"run": name}, json={"image": sample_image(trained)}),
                     client.post("/api/predict", json={"image": sample_image(trained), "run": name})):
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "run"


def test_unknown_run_is_404(client, trained):
    response = client.get("/api/model", params={"run": "nosuchrun"})
    assert response.status_code == 404
    assert "No run 'nosuchrun'" in response.json()["detail"]
    response = client.post("/api/predict", params={"run": "nosuchrun"}, json={"image": sample_image(trained)})
    assert response.status_code == 404


def test_model_describes_the_binary_model(client, trained):
    response = client.get("/api/model")
    assert response.status_code == 200
    info = response.json()
    assert info["name"] == trained.five.name
    assert (info["digit"], info["multiclass"], info["target"]) == (5, False, "five")
    assert info["activation"] == "sigmoid" and info["classes"] == ["not five", "five"]
    assert (info["scale"], info["deskew"], info["threshold"]) == ("unit", False, 0.5)
    assert np.array(info["weights"]).shape == (28, 28)
    assert isinstance(info["bias"], float)
    assert info["metrics"]["test"]["accuracy"] > 0.9
    model = Perceptron.load(trained.five.model_path)
    np.testing.assert_allclose(np.array(info["weights"]).ravel(), model.coef_, rtol=1e-6)


def test_model_describes_a_ten_class_run(client, trained):
    info = client.get("/api/model", params={"run": trained.ten.name}).json()
    assert info["multiclass"] is True and info["classes"] == list(range(10)) and info["threshold"] is None
    assert np.array(info["weights"]).shape == (10, 28, 28)
    assert len(info["bias"]) == 10


def test_runs_lists_newest_first_with_the_default_marked(client, trained):
    runs = client.get("/api/runs").json()
    assert [r["name"] for r in runs] == [trained.five.name, trained.ten.name]
    assert [r["default"] for r in runs] == [True, False]
    assert runs[0]["digit"] == 5 and runs[1]["digit"] == "all"
    assert runs[0]["accuracy"] > 0.9 and runs[0]["f1"] is not None and runs[0]["created"]


def test_a_changed_model_file_is_reloaded(tmp_path, trained, monkeypatch):
    monkeypatch.setattr("fiveornot.web.app.MODEL_RECHECK_S", 0.0)  # in a server it looks once a second
    runs_dir = tmp_path / "runs"
    run_dir = runs_dir / trained.five.name
    shutil.copytree(trained.five.path, run_dir)
    client = TestClient(create_app(runs_dir=runs_dir, data_dir=trained.data_dir))
    assert client.get("/api/model").json()["multiclass"] is False
    shutil.copy(trained.ten.model_path, run_dir / "model.safetensors")   # a different size: seen as changed
    assert client.get("/api/model").json()["multiclass"] is True


def test_no_runs_yet_says_how_to_train(tmp_path):
    client = TestClient(create_app(runs_dir=tmp_path / "empty"))
    assert client.get("/api/runs").json() == []
    response = client.get("/api/model")
    assert response.status_code == 404 and "fiveornot train" in response.json()["detail"]


def test_a_bad_model_spec_fails_when_the_app_is_made(trained):
    with pytest.raises(RunError):
        create_app("nosuchrun", runs_dir=trained.runs_dir)


def test_a_model_file_can_be_the_default(trained):
    client = TestClient(create_app(str(trained.ten.model_path), runs_dir=trained.runs_dir))
    assert client.get("/api/model").json()["name"] == trained.ten.name


# ---- GET /api/sample ---------------------------------------------------------------------------------------


def test_sample_gives_a_test_digit(client, trained):
    (_, _), (x_test, _) = trained.dataset
    for _ in range(5):
        sample = client.get("/api/sample", params={"digit": 5}).json()
        assert sample["label"] == 5
        assert sample["image"] == x_test[sample["index"]].tolist()
        assert client.get("/api/sample", params={"not": 5}).json()["label"] != 5


def test_sample_validates_the_digit(client):
    response = client.get("/api/sample", params={"digit": 10})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "digit"
    response = client.get("/api/sample", params={"digit": "five"})
    assert response.status_code == 422 and response.json()["detail"].startswith("digit: ")
    assert client.get("/api/sample", params={"digit": 5, "not": 5}).status_code == 404


def test_sample_without_data_is_503(tmp_path, trained):
    client = TestClient(create_app(runs_dir=trained.runs_dir, data_dir=tmp_path / "nothing", offline=True))
    response = client.get("/api/sample")
    assert response.status_code == 503
    assert response.json()["detail"]


# ---- errors never leak -------------------------------------------------------------------------------------


def test_an_unexpected_error_is_a_bare_500(client, trained, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("fiveornot.inference.explain", broken)
    response = client.post("/api/predict", json={"image": sample_image(trained)})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error: the server's log has the details."}
    assert "secret" not in response.text and "Traceback" not in response.text
    assert "secret internals" in caplog.text                       # but the server's log has it


def test_unknown_paths_are_json_404(client):
    response = client.get("/api/nothing")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


# ---- the page ----------------------------------------------------------------------------------------------


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="pad"' in page.text and 'aria-live="polite"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    assert client.get("/static/../app.py").status_code == 404


def test_the_page_loads_nothing_from_elsewhere():
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), path.name


def test_the_openapi_schema_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/model", "/api/runs", "/api/sample"} <= set(schema["paths"])
    body = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    assert "already prepared MNIST image" in body["application/json"]["schema"]["properties"]["image"]["description"]
    assert client.get("/docs").status_code == 404            # its page would load scripts from a CDN


# ---- `fiveornot serve` -------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def served(monkeypatch):
    """Record what `serve` would run instead of starting uvicorn."""
    calls = []
    monkeypatch.setattr("fiveornot.cli.serve._run_server", lambda app, host, port: calls.append((app, host, port)))
    return calls


def test_serve_trains_the_default_model_when_there_is_none(synthetic_data_dir, runs_dir, served):
    from fiveornot.cli import app

    result = runner.invoke(app, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert "training the default model first" in result.output
    assert result.output.count("epoch ") == 10                # progress, one line per epoch off a terminal
    assert "http://127.0.0.1:8123/" in result.output
    (web_app, host, port), = served
    assert (host, port) == ("127.0.0.1", 8123)
    assert TestClient(web_app).get("/api/model").json()["name"].endswith("digit5-sigmoid-mse-adam-scale-unit")


def test_serve_a_named_run(trained, served):
    from fiveornot.cli import app

    result = runner.invoke(app, ["serve", "all", "--runs-dir", str(trained.runs_dir), "--port", "8124"])
    assert result.exit_code == 0, result.output
    assert f"Serving {trained.ten.name} at http://127.0.0.1:8124/" in result.output


def test_serve_an_unknown_run_is_one_line(trained, served):
    from fiveornot.cli import app

    result = runner.invoke(app, ["serve", "nosuchrun", "--runs-dir", str(trained.runs_dir)])
    assert result.exit_code == 1
    assert "fiveornot: error: No run 'nosuchrun'" in result.output and not served


def test_serve_a_port_in_use_is_one_line(trained, served):
    from fiveornot.cli import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--runs-dir", str(trained.runs_dir), "--port", str(port)])
    assert result.exit_code == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.output and not served


def test_serve_help():
    from fiveornot.cli import app

    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--runs-dir", "--data-dir", "--offline", "RUN_OR_MODEL"):
        assert option in result.output


def test_the_array_shortcut_answers_exactly_as_the_route(client, trained, monkeypatch):
    """A plain 28x28 array is answered before FastAPI's routing (see ArrayShortcut); a query string sends the
    same request through the route. Both must say the same, headers included."""
    from fiveornot.web.app import ArrayShortcut

    answered = []
    original = ArrayShortcut._answer
    monkeypatch.setattr(ArrayShortcut, "_answer", lambda self, body: answered.append(1) or original(self, body))
    image = sample_image(trained)
    name = client.get("/api/runs").json()[0]["name"]
    shortcut = client.post("/api/predict", json={"image": image, "run": name})
    routed = client.post(f"/api/predict?run={name}", json={"image": image})
    assert len(answered) == 1  # the first took the shortcut, the second the route
    assert shortcut.status_code == routed.status_code == 200
    assert shortcut.json() == routed.json()
    for header in ("content-type", "content-security-policy", "x-content-type-options"):
        assert shortcut.headers[header] == routed.headers[header]
