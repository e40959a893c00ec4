# The two commands of the README: `make run` starts the service on the embedded default
# (SQLite + local files in ./artifact-store-data), `make test` runs the whole test suite.
# Both bootstrap uv (python3 -m pip install uv) and the locked environment when missing.

PYTHON ?= python3
UV := $(PYTHON) -m uv
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: setup run test check lint bench

setup:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --locked --quiet --compile-bytecode

run: setup
	$(UV) run artifact-store serve --host $(HOST) --port $(PORT)

test: setup
	$(UV) run pytest

check: setup
	$(UV) run ruff format --check src tests bench
	$(UV) run ruff check src tests bench
	$(UV) run mypy
	$(UV) run lint-imports

bench: setup
	$(UV) run python bench/run_all.py
