# feedvault: every command a person or CI needs. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
UV := $(PYTHON) -m uv

.PHONY: run test venv lint lock bench clean-data

# Archive the bundled demo publisher into the embedded S3 store (.feedvault/).
run: venv
	$(BIN)/feedvault run --demo

# The whole test suite (starts its own SeaweedFS, fixture sites and Airflow as needed).
test: venv
	$(BIN)/pytest

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml requirements-bootstrap.txt
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --require-hashes -r requirements-bootstrap.txt
	$(UV) venv --quiet --allow-existing --python "$$(command -v $(PYTHON))" $(VENV)
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes --compile-bytecode requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	@touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Re-resolve pins after editing pyproject.toml dependencies (give the patch version: see ../shared/FACTS.md).
lock:
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11.7 --generate-hashes -o requirements.lock

bench: venv
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/extraction_quality.py

clean-data:
	rm -rf .feedvault
