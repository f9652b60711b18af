"""The catalog on every backend: fixtures that run one test against the SQLite file and a real PostgreSQL.

Registered as a pytest plugin in tests/conftest.py:

- ``empty_catalog`` (per test, parametrised ``sqlite`` / ``postgresql``): an empty catalog, a file in the test's
  temp dir or a fresh database on the session's PostgreSQL server (``postgres_service``, started only when a
  PostgreSQL test runs);
- ``demo_catalog`` (per session and backend): the demo archive (``archived_demo``) indexed; read-only.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedvault.catalog import Catalog, MaintainedCatalog

BACKENDS = ["sqlite", "postgresql"]
_databases = itertools.count(1)


def new_database(request: pytest.FixtureRequest) -> str:
    """The URI of a fresh, empty database on the session's PostgreSQL server."""
    server = request.getfixturevalue("postgres_service")
    return server.create_database(f"catalog_{next(_databases)}")


def open_backend(backend: str, request: pytest.FixtureRequest, directory: Path) -> MaintainedCatalog:
    if backend == "sqlite":
        return Catalog(directory / "catalog.sqlite")
    from feedvault.catalog.postgres_catalog import PostgresCatalog

    return PostgresCatalog(new_database(request))


@pytest.fixture(params=BACKENDS)
def empty_catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MaintainedCatalog]:
    with open_backend(request.param, request, tmp_path) as catalog:
        yield catalog


@pytest.fixture(scope="session", params=BACKENDS)
def demo_catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MaintainedCatalog]:
    demo = request.getfixturevalue("archived_demo")
    if request.param == "sqlite":
        yield demo.catalog  # synced from the catalog the runs published
        return
    with open_backend(request.param, request, tmp_path_factory.mktemp("pg-catalog")) as catalog:
        catalog.reindex(demo.store)
        yield catalog
