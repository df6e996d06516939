# The project's entry points: `make serve`, `make test`, `make check`, `make bench`.
# Each creates the virtual environment (.venv) from pyproject.toml when it is missing or stale.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# pytest-xdist workers for `make test` (auto: one per CPU core; 0 runs in one process). `pytest tests/x.py` by hand
# runs without workers.
PYTEST_WORKERS ?= auto

.PHONY: serve test check bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

serve: $(BIN)/.installed  ## run the hub on its embedded default (SQLite, embedded broker)
	$(BIN)/hub serve

test: $(BIN)/.installed  ## run the test suite (PostgreSQL/broker when HUB_TEST_DATABASE_URL/HUB_TEST_BROKER_URL are set)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

check: $(BIN)/.installed  ## lint, format, types, architecture
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(BIN)/.installed  ## benchmarks (print figures)
	$(BIN)/python bench/convert.py
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
