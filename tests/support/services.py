"""Pytest plugin: real PostgreSQL and Redis servers on 127.0.0.1 (feedvault.deploy.databases), stopped by PID.

Register with ``pytest_plugins = ["tests.support.services"]``. Helpers (context managers, any test module):
:func:`postgres_server` ``(base_dir)`` yields a server with ``.dsn(dbname)``, ``.create_database(name)``,
``.sql(query)``; :func:`redis_server` ``(base_dir)`` yields one with ``.url``, ``.url_for(db)``, ``.ping()``.
Fixtures: ``postgres_service`` and ``redis_service``, one of each for the session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from feedvault.deploy.databases import (
    HOST,
    PostgresServer,
    RedisServer,
    ServiceError,
    alive,
    postgres_server,
    process_tree,
    redis_server,
)

__all__ = [
    "HOST",
    "PostgresServer",
    "RedisServer",
    "ServiceError",
    "alive",
    "postgres_server",
    "process_tree",
    "redis_server",
]


@pytest.fixture(scope="session")
def postgres_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session: create a database per test (``create_database``)."""
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Redis server for the session (a database number per test: ``url_for(db)``)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server
