"""The web page's server: a FastAPI app that answers "five or not?" for drawn digits and shows why.

    app = create_app()              # the latest run in ./runs (or $FIVEORNOT_RUNS)
    uvicorn.run(app)                # what `fiveornot serve` does

Routes: the page (GET /, /static/...), and a JSON API described by GET /openapi.json:
POST /api/predict, GET /api/model, GET /api/runs, GET /api/sample.

Safety: request bodies are capped (413), runs are looked up only by name inside the runs directory, every
error is one JSON line ({"detail": ...}) and never a traceback, and the page loads nothing from elsewhere.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from fiveornot import __version__
from fiveornot.errors import DataError, FiveornotError, ImageError, ModelFileError, RunError
from fiveornot import inference
from fiveornot.inference import target_word
from fiveornot.model import Perceptron
from fiveornot.runs import Run, default_runs_dir, find_run, is_plain_name, list_runs, resolve
from fiveornot.web import schemas

log = logging.getLogger("fiveornot.web")

MAX_BODY_BYTES = 2 * 1024 * 1024     # a 28x28 array is ~3 kB, a canvas PNG ~10 kB: room for a picture file
STATIC_DIR = Path(__file__).parent / "static"
LATEST_RECHECK_S = 1.0              # with no model named, how often to look for a newer run
MODEL_RECHECK_S = 1.0               # how often to look whether a loaded model's file has changed
SECURITY_HEADERS = [
    (b"content-security-policy", (b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                  b"script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                                  b"frame-ancestors 'none'")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]

RunQuery = Annotated[str | None, Query(pattern=schemas.RUN_NAME_PATTERN, description=schemas.RUN_NAME_HELP)]


# ---- errors -----------------------------------------------------------------------------------------------


class InputError(Exception):
    """A request the client can fix: answered with `status` and {"detail", "errors": [{"field", "message"}]}."""

    def __init__(self, status: int, field_name: str, message: str):
        super().__init__(message)
        self.status, self.field, self.message = status, field_name, message


class _BodyTooLarge(Exception):
    pass


def json_response(value, status: int = 200) -> Response:
    return Response(encode_json(value), status_code=status, media_type="application/json")


def encode_json(value) -> bytes:
    """JSON with orjson, which writes numpy arrays directly: a predict answer holds two 28x28 grids, which take
    ~60 us as Python lists through other encoders and ~13 us this way. NaN and infinity become null."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def error_response(status: int, detail: str, problems: list[dict] | None = None) -> Response:
    value = {"detail": detail}
    if problems is not None:
        value["errors"] = problems
    return json_response(value, status)


def validation_problems(errors) -> list[dict]:
    """pydantic's error list as [{"field": "image", "message": "..."}], in words a person reads."""
    problems = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
        name = ".".join(location) or "body"
        message = error.get("msg", "is invalid").removeprefix("Value error, ")
        if error.get("type") == "string_pattern_mismatch" and location[-1:] == ["run"]:
            message = "must be a run's folder name (letters, digits, '.', '_' and '-'); see GET /api/runs"
        elif error.get("type") == "json_invalid":
            message = f"is not valid JSON ({message.removeprefix('Invalid JSON: ')}); send {{\"image\": ...}}"
        problems.append({"field": name, "message": message})
    return problems


def _problems_response(problems: list[dict]) -> Response:
    detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return error_response(422, detail, problems)


# Expected failures from the library, by what they mean for an HTTP client.
_STATUS_OF = ((RunError, 404), (ImageError, 422), (DataError, 503), (ModelFileError, 500))


def _status_of(error: FiveornotError) -> int:
    return next((status for kind, status in _STATUS_OF if isinstance(error, kind)), 400)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        return _problems_response(validation_problems(error.errors()))

    @app.exception_handler(InputError)
    async def invalid_input(request: Request, error: InputError):
        return error_response(error.status, f"{error.field}: {error.message}",
                              [{"field": error.field, "message": error.message}])

    @app.exception_handler(FiveornotError)
    async def expected_failure(request: Request, error: FiveornotError):
        return error_response(_status_of(error), str(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):   # 404 Not Found, 405 Method Not Allowed, ...
        response = error_response(error.status_code, str(error.detail), None)
        response.headers.update(error.headers or {})
        return response


class GuardMiddleware:
    """Caps request bodies (413), adds security headers, and turns any unexpected error into a bare 500.

    Pure ASGI (not BaseHTTPMiddleware) so that it costs microseconds per request. The cap is checked twice:
    on the declared Content-Length, and on the bytes actually received (a chunked body declares none).
    """

    def __init__(self, app, max_body_bytes: int = MAX_BODY_BYTES):
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            return await self._send_error(send, 413, self._too_large_message())
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge()
            return message

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            if not started:
                await self._send_error(send, 413, self._too_large_message())
        except Exception:   # a bug: log it here, tell the client only that it happened
            log.exception("Unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await self._send_error(send, 500, "Internal server error: the server's log has the details.")

    def _too_large_message(self) -> str:
        return (f"The request body is larger than {self.max_body_bytes // (1024 * 1024)} MB: "
                "send a smaller picture (a 28x28 array or a canvas PNG is a few kB).")

    @staticmethod
    async def _send_error(send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   *SECURITY_HEADERS]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ArrayShortcut:
    """Answers the hot path, POST /api/predict with a JSON 28x28 array, without FastAPI's routing, request
    object and dependency machinery: they cost as much as the prediction itself, and under load that sets
    the latency. Anything else, errors included, goes on to the app with its body, so the app's route stays
    the one definition of the API (the tests compare the two paths' answers).
    """

    def __init__(self, app, models):
        self.app, self.models = app, models

    async def __call__(self, scope, receive, send):
        if not (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/api/predict"
                and not scope["query_string"] and _is_json(scope)):
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        answer = self._answer(body)
        if answer is None:
            return await self.app(scope, _replay(body), send)
        content = encode_json(answer)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(content)).encode())]})
        await send({"type": "http.response.body", "body": content})

    def _answer(self, body: bytes) -> dict | None:
        try:
            payload = schemas.PredictRequest.model_validate_json(body)
            if not isinstance(payload.image, np.ndarray):
                return None
            return explain(self.models.pick(payload.run), payload.image)
        except (ValidationError, FiveornotError):
            return None


def _is_json(scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


async def _read_body(receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes):
    """A `receive` that hands the app the body already read."""
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


# ---- models and data, loaded once and kept -----------------------------------------------------------------


@dataclass
class LoadedModel:
    name: str
    run: Run | None
    path: Path
    model: Perceptron
    stamp: tuple[int, int]
    weights: list = field(default_factory=list)   # as JSON-ready lists, made once for GET /api/model
    checked_at: float = 0.0                        # when the file was last seen unchanged (time.monotonic)


class ModelStore:
    """Models by run name, loaded once and reloaded when their file changes (mtime or size).

    Runs are found only by name inside `runs_dir` (`runs.find_run`), so a client cannot reach other files.
    With no `spec` the default model is the latest run, looked for again at most once a second: a new run
    shows up without a restart.
    """

    def __init__(self, runs_dir: Path, spec: str | None = None):
        self.runs_dir, self.spec = Path(runs_dir), spec
        self._cache: dict[Path, LoadedModel] = {}
        self._lock = threading.Lock()
        self._latest: tuple[float, tuple[Run | None, Path]] | None = None
        self._default = resolve(spec, self.runs_dir) if spec is not None else None   # fail fast on a bad spec
        if self._default is not None:
            self.load(*self._default)

    def default(self) -> tuple[Run | None, Path]:
        if self._default is not None:
            return self._default
        now = time.monotonic()   # "latest" lists the runs folder: once a second is enough, not every request
        if self._latest is None or now - self._latest[0] > LATEST_RECHECK_S:
            self._latest = (now, resolve("latest", self.runs_dir))
        return self._latest[1]

    def default_name(self) -> str | None:
        try:
            run, path = self.default()
        except RunError:
            return None
        return run.name if run is not None else path.name

    def pick(self, run_name: str | None) -> LoadedModel:
        run, path = find_run(run_name, self.runs_dir) if run_name else self.default()
        return self.load(run, path)

    def load(self, run: Run | None, path: Path) -> LoadedModel:
        cached = self._cache.get(path)
        now = time.monotonic()
        if cached is not None and now - cached.checked_at < MODEL_RECHECK_S:
            return cached   # a stat per request showed up in profiles; a changed file is seen within a second
        try:
            status = path.stat()
        except FileNotFoundError:
            raise RunError(f"The model file {path.name} of {run.name if run else path} has gone: "
                           "choose another run.") from None
        stamp = (status.st_mtime_ns, status.st_size)
        if cached is not None and cached.stamp == stamp:
            cached.checked_at = now
            return cached
        with self._lock:
            model = Perceptron.load(path)
            loaded = LoadedModel(run.name if run else path.name, run, path, model, stamp, _weight_grids(model), now)
            self._cache[path] = loaded
        return loaded


def _weight_grids(model: Perceptron) -> list:
    if model.multiclass:
        return [model.coef_[:, digit].reshape(28, 28).tolist() for digit in range(10)]
    return model.coef_.reshape(28, 28).tolist()


class TestImages:
    """The test split of the data set, loaded on first use (GET /api/sample) and kept."""

    __test__ = False   # not a pytest test class

    def __init__(self, data_dir=None, offline: bool = False):
        self.data_dir, self.offline = data_dir, offline
        self._arrays = None
        self._lock = threading.Lock()
        self._rng = np.random.default_rng()

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._arrays is None:
                from fiveornot.data import load_dataset

                _, (images, labels) = load_dataset(data_dir=self.data_dir, offline=self.offline)
                self._arrays = (images, labels)
        return self._arrays

    def pick(self, digit: int | None, not_digit: int | None) -> dict:
        images, labels = self.arrays()
        allowed = np.ones(len(labels), dtype=bool)
        if digit is not None:
            allowed &= labels == digit
        if not_digit is not None:
            allowed &= labels != not_digit
        candidates = np.flatnonzero(allowed)
        if len(candidates) == 0:
            raise InputError(404, "digit", "no test image matches: ask for a digit (digit=5) or exclude one (not=5)")
        with self._lock:        # a numpy Generator is not safe to share between threads unguarded
            index = int(self._rng.choice(candidates))
        return {"image": images[index].tolist(), "label": int(labels[index]), "index": index}


# ---- what a prediction says -------------------------------------------------------------------------------


def explain(loaded: LoadedModel, image: np.ndarray) -> dict:
    """The answer for one prepared uint8 (28, 28) image, with the per-pixel contributions that make it up.

    For a 10-class model, `raw`, `bias` and `contributions` are those of the predicted digit; `raw_all` and
    `probabilities` hold all ten.
    """
    result = inference.explain(loaded.model, image)
    result["model"] = loaded.name
    result["input"] = image
    # Six decimals are plenty for a colour map and shorten the answer; + 0.0 turns -0.0 into 0.0.
    result["contributions"] = result["contributions"].round(6) + 0.0
    return result


def prepare_and_explain(loaded: LoadedModel, picture, field_name: str) -> dict:
    """Decode a data URL or uploaded bytes, prepare it MNIST-style, and explain it (slow: runs in a thread)."""
    from fiveornot.prepare import image_to_mnist

    try:
        image = image_to_mnist(picture)
    except ImageError as error:
        raise InputError(422, field_name, str(error)) from None
    return explain(loaded, image)


def model_info(loaded: LoadedModel) -> dict:
    model, run = loaded.model, loaded.run
    metrics = run.metrics if run is not None else {}
    config = run.config if run is not None else {}
    word = target_word(model)
    return {
        "name": loaded.name,
        "digit": model.digit,
        "multiclass": model.multiclass,
        "target": word,
        "activation": model.activation_,
        "classes": list(range(10)) if model.multiclass else [f"not {word}", word],
        "scale": model.scale,
        "deskew": bool(model.deskew),
        "threshold": None if model.multiclass else float(model.threshold_),
        "metrics": metrics,
        "weights": loaded.weights,
        "bias": np.atleast_1d(model.intercept_).tolist() if model.multiclass else float(model.intercept_),
        "created": config.get("created"),
    }


def run_summary(run: Run, default_name: str | None) -> dict:
    try:
        config, metrics = run.config, run.metrics
    except RunError:      # a half-written or damaged run still gets listed, without details
        config, metrics = {}, {}
    params, test = config.get("params") or {}, metrics.get("test") or {}
    return {"name": run.name, "created": config.get("created"), "digit": params.get("digit"),
            "activation": (config.get("resolved") or {}).get("activation") or params.get("activation"),
            "accuracy": test.get("accuracy"), "f1": test.get("f1"), "default": run.name == default_name}


# ---- reading POST /api/predict ----------------------------------------------------------------------------

_PREDICT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": schemas.PredictRequest.model_json_schema()},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "A picture file (PNG, JPEG, ...), prepared MNIST-style."},
                "run": {"type": "string", "pattern": schemas.RUN_NAME_PATTERN, "description": schemas.RUN_NAME_HELP},
            },
        }},
    },
}


_RUN_PARAMETER = {"name": "run", "in": "query", "required": False, "description": schemas.RUN_NAME_HELP,
                  "schema": {"type": "string", "pattern": schemas.RUN_NAME_PATTERN}}


def checked_run_name(name: str | None) -> str | None:
    """A run name from a query or form field, refused (422) unless it is a plain folder name: no paths."""
    if name is not None and not is_plain_name(name):
        raise InputError(422, "run", "must be a run's folder name (letters, digits, '.', '_' and '-'); "
                                     "see GET /api/runs")
    return name


async def read_prediction_request(request: Request) -> tuple[np.ndarray | str | bytes, str | None, str]:
    """(the picture, the run name or None, the field it came in) from a JSON or multipart body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            payload = schemas.PredictRequest.model_validate_json(await request.body())
        except ValidationError as error:
            raise RequestValidationError(error.errors()) from None
        return payload.image, payload.run, "image"
    if content_type == "multipart/form-data":
        return await _read_upload(request)
    raise InputError(415, "body", "send JSON {\"image\": ...} (Content-Type: application/json) or a "
                                  "multipart/form-data upload with the picture in the field 'file'")


async def _read_upload(request: Request) -> tuple[bytes, str | None, str]:
    try:
        async with request.form(max_files=1, max_fields=8) as form:
            upload, run = form.get("file"), form.get("run")
            if upload is None or isinstance(upload, str):
                raise InputError(422, "file", "upload the picture as a file in the multipart field 'file'")
            data = await upload.read()
    except HTTPException as error:    # python-multipart could not parse the body
        raise InputError(422, "file", f"the multipart body is malformed ({error.detail})") from None
    if run is not None and not isinstance(run, str):
        raise InputError(422, "run", "must be a run's name, not a file")
    return data, checked_run_name(run) or None, "file"


# ---- the app ----------------------------------------------------------------------------------------------


def create_app(model_spec: str | None = None, runs_dir: Path | None = None, data_dir=None,
               offline: bool = False) -> FastAPI:
    """The web app: the drawing page and its JSON API.

    Parameters
    ----------
    model_spec : str, optional
        The default model: a run folder, a run's name, ``latest`` or a ``.safetensors`` file (resolved and
        loaded now, so a bad one fails here). None: the latest run in `runs_dir`, looked up per request.
    runs_dir : Path, optional
        Where saved runs are (default ``./runs`` or ``$FIVEORNOT_RUNS``); ``?run=NAME`` looks only here.
    data_dir, offline
        Where GET /api/sample finds the test images (as `fiveornot.data.load_dataset`), loaded on first use.
    """
    models = ModelStore(Path(runs_dir) if runs_dir is not None else default_runs_dir(), model_spec)
    test_images = TestImages(data_dir, offline)
    app = FastAPI(
        title="fiveornot", version=__version__,
        description="Draw a digit; a single-layer perceptron says whether it is a five, and shows which pixels "
                    "pushed it which way.",
        docs_url=None, redoc_url=None,   # their pages load scripts from a CDN; the schema stays at /openapi.json
    )
    app.state.models, app.state.test_images = models, test_images
    _install_error_handlers(app)
    app.add_middleware(ArrayShortcut, models=models)
    app.add_middleware(GuardMiddleware)   # added last, so outermost: its body cap and headers cover the shortcut
    errors = {status: {"model": schemas.ErrorResponse, "description": text} for status, text in (
        (404, "Unknown run, or no run yet"), (413, "Request body too large"), (415, "Unsupported content type"),
        (422, "Invalid input; `errors` names the fields"), (500, "The model file is damaged"),
        (503, "The data set is not available"))}

    @app.post("/api/predict", response_model=None,
              openapi_extra={"requestBody": _PREDICT_BODY, "parameters": [_RUN_PARAMETER]},
              responses={200: {"model": schemas.PredictResponse},
                         **{s: errors[s] for s in (404, 413, 415, 422, 500)}},
              summary="Say whether an image is a five, and show why")
    async def predict(request: Request):
        """The model's answer for a 28x28 array, a data URL (a canvas) or an uploaded picture.

        `run` (in the body or the query) picks a saved run; the default is the server's model.
        """
        # `run` is read by hand (and documented in _RUN_PARAMETER): FastAPI's parameter machinery costs more
        # than the prediction itself on this, the hot path.
        query_run = checked_run_name(request.query_params.get("run"))
        picture, body_run, field_name = await read_prediction_request(request)
        loaded = models.pick(body_run or query_run)
        if isinstance(picture, np.ndarray):        # already 28x28: microseconds, no thread needed
            return json_response(explain(loaded, picture))
        return json_response(await run_in_threadpool(prepare_and_explain, loaded, picture, field_name))

    @app.get("/api/model", response_model=None,
             responses={200: {"model": schemas.ModelInfo}, **{s: errors[s] for s in (404, 422, 500)}},
             summary="The model's settings, metrics and weights")
    def model(run: RunQuery = None):
        return json_response(model_info(models.pick(run)))

    @app.get("/api/runs", response_model=None, responses={200: {"model": list[schemas.RunSummary]}},
             summary="Saved runs, newest first")
    def runs():
        default_name = models.default_name()
        return json_response([run_summary(run, default_name) for run in reversed(list_runs(models.runs_dir))])

    @app.get("/api/sample", response_model=None,
             responses={200: {"model": schemas.Sample}, **{s: errors[s] for s in (404, 422, 503)}},
             summary="A random MNIST test digit")
    def sample(
        digit: Annotated[int | None, Query(ge=0, le=9, description="Only this digit.")] = None,
        not_digit: Annotated[int | None, Query(alias="not", ge=0, le=9,
                                                  description="Any digit but this one.")] = None,
    ):
        return json_response(test_images.pick(digit, not_digit))

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app

