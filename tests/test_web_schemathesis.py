"""Property-based checks of the web API against its own OpenAPI schema: whatever a client sends that the
schema allows (or nearly allows), the server answers with a documented status and shape, and never a 5xx."""

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from synthetic import write_idx_dataset

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import schemathesis
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

from fiveornot.data import load_dataset
from fiveornot.experiment import run_experiment
from fiveornot.model import Perceptron
from fiveornot.web.app import create_app

# Not `positive_data_acceptance`: a data URL can match the schema and still hold no picture, which is a 422.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    root = tmp_path_factory.mktemp("web-schemathesis")
    data_dir = write_idx_dataset(root / "data")
    runs_dir = root / "runs"
    dataset = load_dataset(data_dir=data_dir)
    run_experiment(Perceptron(digit="all", epochs=1, lr=0.01), dataset, runs_dir=runs_dir, name="all", argv=[])
    run_experiment(Perceptron(epochs=1, lr=0.01), dataset, runs_dir=runs_dir, name="five", argv=[])
    app = create_app(runs_dir=runs_dir, data_dir=data_dir)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


OPERATIONS = [("/api/predict", "POST"), ("/api/model", "GET"), ("/api/runs", "GET"), ("/api/sample", "GET")]
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# Negative cases break the schema on purpose; GET /api/runs takes no input, so it has none.
CASES = [(path, method, POSITIVE) for path, method in OPERATIONS] + \
        [(path, method, NEGATIVE) for path, method in OPERATIONS if path != "/api/runs"]


# schemathesis' own pytest plugin (`parametrize`, `from_fixture`) relies on a pytest internal that pytest 9
# removed, so each operation's strategy is driven by hypothesis directly.
@pytest.mark.parametrize("path, method, mode", CASES, ids=[f"{m} {p} {g.value}" for p, m, g in CASES])
def test_the_api_answers_as_documented_and_never_5xx(api_schema, path, method, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate(checks=CHECKS)

    check()


def test_every_operation_is_checked(api_schema):
    documented = {(result.ok().path, result.ok().method.upper()) for result in api_schema.get_all_operations()}
    assert documented == set(OPERATIONS)
