# Everything the project needs goes into its own .venv; `make run` and `make test` set it up first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fiveornot needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[web,dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/fiveornot train

test: $(STAMP)
	$(PY) -m pytest

# Keras's side of bench/train_speed.py needs the bench extra: $(PY) -m pip install -e '.[bench]'
bench: $(STAMP)
	$(PY) bench/load_speed.py
	$(PY) bench/prepare_speed.py
	$(PY) bench/train_speed.py
	$(PY) bench/web_load.py

lint: $(STAMP)
	$(PY) -m pip install --quiet ruff
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
