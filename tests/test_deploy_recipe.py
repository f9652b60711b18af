"""The two deployment recipes of infra/cluster/ stay in step: the compose file (many machines) and the process
recipe the tests and `make cluster` run (one machine) have the same services and the same setting names, and
neither holds a secret: every secret comes from the environment."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from feedvault.deploy.databases import alive, process_tree
from feedvault.deploy.topology import PLACEHOLDER, RECIPE, Recipe
from tests.support.terminal import sigint_as_in_a_terminal

COMPOSE = RECIPE.parent / "compose.yaml"
AIRFLOW_SERVICES = ("airflow-init", "api-server", "scheduler", "dag-processor", "triggerer", "worker")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_CONN")


@pytest.fixture(scope="module")
def recipe() -> Recipe:
    return Recipe.load()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def recipe_service_names(recipe: Recipe) -> set[str]:
    """The recipe's services as compose names them (a builtin may stand for several compose services)."""
    names: set[str] = set()
    for name, spec in recipe.services.items():
        names |= set(spec.get("compose", [name]))
    return names


def test_compose_and_the_process_recipe_run_the_same_services(recipe: Recipe, compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == recipe_service_names(recipe)
    # Both list the services the topology names, with workers scaled out.
    for name in ("api-server", "scheduler", "dag-processor", "triggerer", "worker", "postgres", "redis", "browse"):
        assert name in compose["services"]
    assert "replicas" in recipe.services["worker"] and "replicas" in compose["services"]["worker"]["deploy"]
    assert any(name.startswith("seaweedfs-volume") for name in compose["services"])


def test_every_airflow_process_gets_the_same_setting_names_in_both(recipe: Recipe, compose: dict[str, Any]) -> None:
    shared = compose["x-airflow-settings"]
    assert set(shared) == set(recipe.settings)
    for name in AIRFLOW_SERVICES:
        assert compose["services"][name]["environment"] == shared, name
    # A setting that is no placeholder in the recipe is the same value in compose (the executor, the pool, ...).
    fixed = {k: v for k, v in recipe.settings.items() if not PLACEHOLDER.search(v)}
    assert fixed and {k: str(shared[k]) for k in fixed} == fixed
    assert recipe.settings["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_the_browse_app_reads_the_archive_with_the_same_settings(recipe: Recipe, compose: dict[str, Any]) -> None:
    own = set(recipe.services["browse"]["settings"])
    environment = set(compose["services"]["browse"]["environment"])
    assert own <= environment and environment <= own | set(recipe.settings)


def test_secrets_come_from_the_environment_only(recipe: Recipe, compose: dict[str, Any]) -> None:
    secrets = {k: v for k, v in recipe.settings.items() if SECRET_NAME.search(k)}
    assert {"AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_CONN_FEEDVAULT_S3"} <= set(secrets)
    for name, value in secrets.items():
        assert PLACEHOLDER.search(value), f"{name}: a literal secret in {RECIPE.name}"
    # Every password inside a URL is a placeholder too (metadata DB, broker, result backend, catalog).
    for name, value in recipe.settings.items():
        for password in re.findall(r"://[^:/@]+:([^@]+)@", value):
            assert PLACEHOLDER.fullmatch(password), f"{name}: a literal password in {RECIPE.name}"
    # compose refuses to start without a secret (${NAME:?}) instead of running with an empty one.
    text = COMPOSE.read_text()
    for secret in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "FERNET_KEY", "JWT_SECRET", "API_SECRET_KEY", "BROWSE_TOKEN"):
        uses = re.findall(r"\$\{" + secret + r"(:[?-][^}]*)?\}", text)
        assert uses and all(use == ":?" for use in uses), (secret, uses)


def test_the_readme_links_the_multi_machine_recipe() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "infra/cluster/README.md" in readme and "make cluster" in readme


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_make_cluster_runs_the_recipe_prints_where_to_look_and_stops_every_process(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "feedvault.deploy.topology", "--home", str(tmp_path / "c"), "--workers", "1"]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=sigint_as_in_a_terminal
    )
    lines: list[str] = []
    try:
        for line in proc.stdout or ():
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        printed = "".join(lines)
        ui = re.search(r"Airflow UI:\s+(\S+)", printed)
        browser = re.search(r"Archive browser:\s+(\S+)", printed)
        assert ui and browser, printed
        with urllib.request.urlopen(ui.group(1) + "/api/v2/monitor/health", timeout=30) as health:  # loopback
            assert json.load(health)["metadatabase"]["status"] == "healthy"
        with urllib.request.urlopen(browser.group(1), timeout=30) as page:
            assert page.status == 200
        tree = process_tree(proc.pid)
        started = {log.stem for log in (tmp_path / "c" / "logs").glob("*.log")}
        for service in ("api-server", "scheduler", "dag-processor", "triggerer", "worker-1", "browse"):
            assert service in started, started
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in tree if alive(pid)]
        for server in (b"postgres", b"redis-server", b"weed"):
            assert any(server in c for c in commands), server
        assert sum(b"airflow" in c for c in commands) >= 6  # api-server, scheduler, dag-processor, triggerer, worker
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
    assert proc.returncode == 0
    assert not [pid for pid in tree if alive(pid)]
