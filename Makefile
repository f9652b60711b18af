# feedvault: every command a person or CI needs. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
UV := $(PYTHON) -m uv

.PHONY: run airflow cluster test venv lint lock bench clean-data pywb pywb-lock

# Archive the bundled demo publisher into the embedded S3 store (.feedvault/), through Airflow
# (`airflow dags test feedvault_nightly`); params as JSON, e.g. make run CONF='{"feeds": ["demo-en"], "dry_run": true}'.
run: venv
	infra/run-demo.sh $(if $(CONF),-c '$(CONF)')

# Airflow's scheduler and UI locally (http://127.0.0.1:8080), running feedvault_nightly on the demo registry.
airflow: venv
	infra/airflow-standalone.sh

# The CeleryExecutor deployment on this machine (infra/cluster/processes.yaml): PostgreSQL, Redis, SeaweedFS, the
# Airflow api-server, scheduler, dag-processor, triggerer, two Celery workers and the browse app; prints where to look.
cluster: venv
	$(BIN)/python -m feedvault.deploy.topology

# The whole test suite (starts its own SeaweedFS, fixture sites and Airflow as needed).
test: venv pywb
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

# pywb (replay of the archive's WARCs + CDXJ) and py-wacz (the WACZ validator) in their own venv: their pins
# conflict with Airflow's.
PYWB := .feedvault/tools/pywb
pywb: $(PYWB)/.installed

$(PYWB)/.installed: requirements-pywb.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --require-hashes -r requirements-bootstrap.txt
	$(UV) venv --quiet --allow-existing --python "$$(command -v $(PYTHON))" $(PYWB)
	$(UV) pip sync --quiet --python $(PYWB)/bin/python --require-hashes requirements-pywb.lock
	@touch $@

pywb-lock:
	printf 'pywb==2.10.0\nwacz==0.6.0\n' | $(UV) pip compile - --generate-hashes --python-version 3.11.7 --custom-compile-command "make pywb-lock" -o requirements-pywb.lock

# Every bench runs and prints its numbers; the target fails (exit 1) if any bench missed its target.
bench: venv
	@status=0; for bench in extraction_quality cleaning_speed catalog_latency throughput health entry_cap cli_latency; do \
	  echo "== bench/$$bench.py"; $(BIN)/python bench/$$bench.py || status=1; done; exit $$status

clean-data:
	rm -rf .feedvault
