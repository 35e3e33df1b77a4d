# keypin's developer commands. Each creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKED := app.py chalicelib keypin_admin keypin_client

.PHONY: run test lint bench emulator openapi clean

$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(BIN)/activate

## make run: serve the API on 127.0.0.1:$${PORT:-8000} against a local AWS emulator
run: $(BIN)/activate
	scripts/run-local

## make test: lint, type-check and run the test suite (offline, fake AWS credentials)
test: lint
	$(BIN)/pytest

lint: $(BIN)/activate
	$(BIN)/ruff check $(CHECKED) tests
	$(BIN)/mypy $(CHECKED)

## make bench: run the benchmarks and rewrite docs/benchmarks.md
bench: $(BIN)/activate
	$(BIN)/python -m bench

## make emulator: run moto's server on 127.0.0.1:$${KEYPIN_EMULATOR_PORT:-4566} in the foreground
emulator: $(BIN)/activate
	$(BIN)/moto_server -H 127.0.0.1 -p $${KEYPIN_EMULATOR_PORT:-4566}

## make openapi: regenerate chalicelib/openapi.json, which /openapi.json serves, from docs/openapi.yaml
openapi: $(BIN)/activate
	$(BIN)/python scripts/build-openapi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
