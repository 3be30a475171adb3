"""The shapes the web API reads and writes, as pydantic models: they validate requests and describe the API
in its OpenAPI schema (GET /openapi.json).

Responses are built as plain dicts and serialised directly (see app.py), for speed; the response models here
document them.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, Field, PlainValidator, WithJsonSchema

from fiveornot import runs

SIDE = 28
RUN_NAME_PATTERN = runs.NAME_PATTERN   # the names a run folder may have
DATA_URL_PATTERN = r"^data:image/"

RUN_NAME_HELP = ("A saved run's folder name (see GET /api/runs), or a unique prefix/suffix of it; looked up only "
                 "inside the server's runs directory. Default: the model the server was started with.")

IMAGE_HELP = (
    "Either a 28x28 array (28 rows of 28 numbers 0..255) taken as an already prepared MNIST image: ink bright "
    "(255) on a dark (0) background, used as it is, with no cropping or centring; or a data URL "
    "('data:image/png;base64,...', PNG, JPEG, ... of any size, such as a canvas drawing), which goes through "
    "the same MNIST-style preparation as `fiveornot predict` (grey, ink made bright, cropped, fitted into "
    "20x20, centred by mass in 28x28)."
)

_PIXEL_ARRAY_SCHEMA = {
    "type": "array", "minItems": SIDE, "maxItems": SIDE, "title": "28x28 pixels",
    "items": {"type": "array", "minItems": SIDE, "maxItems": SIDE,
              "items": {"type": "number", "minimum": 0, "maximum": 255}},
}
_DATA_URL_SCHEMA = {"type": "string", "pattern": DATA_URL_PATTERN, "title": "data URL",
                    "examples": ["data:image/png;base64,iVBORw0KGgo..."]}
_IMAGE_SCHEMA = {"anyOf": [_PIXEL_ARRAY_SCHEMA, _DATA_URL_SCHEMA], "description": IMAGE_HELP}

_IMAGE_SHAPE = "a 28x28 array (28 rows of 28 numbers 0..255) or a data URL 'data:image/png;base64,...'"


def pixel_array(rows: Any) -> np.ndarray:
    """A JSON 28x28 array of numbers 0..255 as uint8 (28, 28); ValueError naming what is wrong otherwise."""
    try:    # the usual, valid case in one numpy call (~20 us); anything odd takes the slow path that explains
        array = np.array(rows)
    except (ValueError, TypeError, OverflowError):
        array = None
    if (array is not None and array.shape == (SIDE, SIDE) and array.dtype.kind in "iuf"
            and array.min() >= 0 and array.max() <= 255):           # NaN fails both comparisons
        return np.rint(array).astype(np.uint8)
    return _checked_pixel_array(rows)


def _checked_pixel_array(rows: Any) -> np.ndarray:
    """`pixel_array`, value by value: slow, but says exactly which row or value is wrong."""
    if not isinstance(rows, list) or len(rows) != SIDE:
        count = _count(len(rows), "row") if isinstance(rows, list) else type(rows).__name__
        raise ValueError(f"must be {_IMAGE_SHAPE}; got {count}")
    for number, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != SIDE:
            got = _count(len(row), "value") if isinstance(row, list) else f"a {type(row).__name__}"
            raise ValueError(f"row {number} must hold 28 numbers 0..255; got {got}")
        for column, value in enumerate(row):
            # bool is an int in Python, and numpy would turn "12" into 12.0: refuse both here.
            is_number = type(value) in (int, float) and not (type(value) is float and math.isnan(value))
            if not is_number or not 0 <= value <= 255:
                raise ValueError(f"row {number}, column {column} must be a number 0..255; got {value!r}")
    return np.rint(np.array(rows, dtype=np.float64)).astype(np.uint8)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def image_value(value: Any) -> np.ndarray | str:
    """The `image` field: a prepared 28x28 uint8 array, or a data URL still to be decoded and prepared."""
    if isinstance(value, str):
        if not value.startswith("data:image/"):
            raise ValueError(f"must be {_IMAGE_SHAPE}; got a string that is not an image data URL")
        return value
    if isinstance(value, list):
        return pixel_array(value)
    raise ValueError(f"must be {_IMAGE_SHAPE}; got {type(value).__name__}")


ImageInput = Annotated[Any, PlainValidator(image_value), WithJsonSchema(_IMAGE_SCHEMA)]
RunName = Annotated[str, Field(pattern=RUN_NAME_PATTERN, description=RUN_NAME_HELP)]
Grid = list[list[float]]


class PredictRequest(BaseModel):
    """What POST /api/predict reads as JSON (a multipart upload sends the picture as the field `file`)."""

    image: ImageInput
    run: RunName | None = None


class PredictResponse(BaseModel):
    """What the model says about one image, and why."""

    answer: str | int = Field(description="'five' / 'not five' (for a digit-5 model), or the digit 0..9 "
                                                "for a 10-class model: as `fiveornot predict --json` gives it.")
    probability: float | None = Field(description="One output: the sigmoid's output, the probability that "
                                                     "the image is the target digit (a five), whatever the answer; "
                                                     "null for a linear or step unit, whose output is no "
                                                     "probability. Ten outputs: the answer's softmax probability.")
    output: float | None = Field(None, description="One-output models: the unit's output after its activation.")
    raw: float = Field(description="The raw weighted sum w.x + b (for a 10-class model: of the predicted digit).")
    bias: float = Field(description="The bias b (for a 10-class model: of the predicted digit).")
    input: list[list[int]] = Field(description="The prepared 28x28 input as the model sees it, 0..255.")
    contributions: Grid = Field(description="28x28 weight x prepared input for each pixel; their sum plus `bias` "
                                            "is `raw`. For a 10-class model: for the predicted digit.")
    probabilities: list[float] | None = Field(None, description="10-class models: all ten probabilities.")
    raw_all: list[float] | None = Field(None, description="10-class models: all ten raw sums.")
    model: str = Field(description="The run (or model file) that answered.")


class ModelInfo(BaseModel):
    """A model's settings, test metrics and weights."""

    name: str
    digit: int | str = Field(description="The detected digit, or 'all' for a 10-class model.")
    multiclass: bool
    target: str = Field(description="What a 'yes' means: 'five' for a digit-5 model, 'digit' for 10 classes.")
    activation: str
    classes: list[str | int]
    scale: str
    deskew: bool
    threshold: float | None = Field(description="Decision threshold on the output; null for 10 classes.")
    metrics: dict[str, Any] = Field(description="The run's metrics.json ({} for a bare model file).")
    weights: Grid | list[Grid] = Field(description="28x28 weights, or ten 28x28 grids for 10 classes.")
    bias: float | list[float]
    created: str | None = None


class RunSummary(BaseModel):
    """One saved run, as the page's model picker lists it."""

    name: str
    created: str | None = None
    digit: int | str | None = None
    activation: str | None = None
    accuracy: float | None = None
    f1: float | None = None
    default: bool = Field(description="Whether this is the model used when no run is named.")


class Sample(BaseModel):
    """One MNIST test image."""

    image: list[list[int]] = Field(description="28x28 pixels 0..255, ink bright.")
    label: int
    index: int = Field(description="Its position in the test set (`fiveornot predict latest --index N`).")


class FieldProblem(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    """Every error: one readable line, and for invalid input the fields at fault."""

    detail: str
    errors: list[FieldProblem] | None = None
