"""Pytest plugin: a private Airflow 3 home for the session (SQLite, LocalExecutor, examples off, dags/ of this repo).

Register with ``pytest_plugins = ["tests.support.airflow"]``. The environment is set when this plugin is imported,
before any test imports Airflow (Airflow reads its configuration once, at import). Fixtures:

- ``airflow_db``: the session's metadata DB, migrated once, with the ``feedvault`` pool.
- ``airflow_env(registry, credentials)``: point the DAG at a registry file and the session SeaweedFS through the
  ``feedvault_s3`` connection (as an ``AIRFLOW_CONN_*`` variable), for the current test.
- :func:`load_dag`: the nightly DAG parsed from ``dags/`` with a :class:`DagBag`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from feedvault.airflow.settings import DAG_ID, DEFAULT_POOL
from feedvault.store.s3_client import Credentials

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
VENV_BIN = Path(sys.executable).parent
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="feedvault-airflow-"))
SQLITE_BUSY_SECONDS = 60  # how long a metadata DB write waits for SQLite's lock (infra/airflow-env.sh sets the same)


def airflow_config_env(home: Path, parallelism: int = 4) -> dict[str, str]:
    """The local recipe's configuration (see infra/airflow-env.sh) for an Airflow home ``home``."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db?timeout={SQLITE_BUSY_SECONDS}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "infra" / "plugins"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "FEEDVAULT_RETRY_DELAY_SECONDS": "1",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


os.environ.update(airflow_config_env(AIRFLOW_HOME))


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


def connection_env(credentials: Credentials, endpoint_url: str, conn_id: str = "feedvault_s3") -> dict[str, str]:
    conn = {
        "conn_type": "aws",
        "login": credentials.access_key_id,
        "password": credentials.secret_access_key,
        "extra": {"endpoint_url": endpoint_url},
    }
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)}


def airflow_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    proc = subprocess.run(
        [str(VENV_BIN / "airflow"), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"airflow {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def prepare_airflow_home(env: dict[str, str] | None = None, pool_slots: int = 2) -> None:
    """Migrate the metadata DB and create the feedvault pool (what infra/run-demo.sh does)."""
    airflow_cli("db", "migrate", env=env)
    airflow_cli("pools", "set", DEFAULT_POOL, str(pool_slots), "feedvault crawls", env=env)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    prepare_airflow_home()
    return AIRFLOW_HOME


@pytest.fixture
def airflow_env(airflow_db: Path, seaweed: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], dict[str, str]]:
    """``airflow_env(registry)`` points the DAG at ``registry`` and the session SeaweedFS; returns the env set."""

    def apply(registry: Path, **extra: str) -> dict[str, str]:
        env = {
            "FEEDVAULT_REGISTRY": str(registry),
            "FEEDVAULT_LOOPBACK_ONLY": "1",
            **connection_env(seaweed.credentials, seaweed.endpoint_url),
            **extra,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return env

    return apply


def load_dag(dag_id: str = DAG_ID) -> Any:
    """Parse ``dags/`` as the DAG processor does; fail on any import error."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)
