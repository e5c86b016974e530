# shoal: two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup test unit integration lint fmt demo bench e2e lock clean

setup:
	@bash scripts/setup.sh

test: setup
	$(PY) -m pytest tests

unit: setup
	$(PY) -m pytest tests/unit

integration: setup
	$(PY) -m pytest tests/integration

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

fmt: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: setup
	$(PY) -m shoal demo

bench: setup
	$(PY) -m bench.run_all

e2e: setup
	bash scripts/e2e-tools.sh >/dev/null
	$(PY) -m pytest -m e2e tests/e2e

# The only way versions move: newest releases within pyproject.toml's ranges -> uv.lock ->
# requirements/*.txt, then the suite on the new set. Commit the three together.
lock:
	bash scripts/lock.sh

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
