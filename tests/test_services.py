"""The real PostgreSQL and Redis servers the distributed tests run on: they start, answer and stop, leaving no process."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from tests.support.services import HOST, ServiceError, alive, postgres_server, process_tree, redis_server


def test_postgres_starts_answers_over_loopback_and_stops_without_leaving_a_process(tmp_path: Path) -> None:
    with postgres_server(tmp_path) as pg:
        dsn = pg.create_database("airflow_meta")
        assert dsn == f"postgresql://feedvault:{pg.password}@{HOST}:{pg.port}/airflow_meta"
        assert pg.sql("SELECT current_database(), inet_server_addr()", "airflow_meta") == f"airflow_meta|{HOST}"
        assert pg.sql("SHOW listen_addresses") == HOST
        assert pg.sql("SHOW unix_socket_directories") == str(pg.socket_dir)
        assert (pg.socket_dir / f".s.PGSQL.{pg.port}").is_socket()
        owner = pwd.getpwuid(Path(f"/proc/{pg.pid}").stat().st_uid).pw_name
        assert owner != "root" if os.geteuid() == 0 else owner == pwd.getpwuid(os.geteuid()).pw_name
        tree = process_tree(pg.pid)
        assert len(tree) > 1  # the postmaster and its helpers (checkpointer, writer, ...)
        root = pg.root
    assert not [pid for pid in tree if alive(pid)]
    assert not root.exists()


def test_postgres_refuses_a_wrong_password(tmp_path: Path) -> None:
    with postgres_server(tmp_path) as pg:
        pg.password, right = "wrong", pg.password
        with pytest.raises(ServiceError, match="password authentication failed"):
            pg.sql("SELECT 1")
        pg.password = right
        assert pg.sql("SELECT 1") == "1"


def test_redis_starts_answers_with_its_password_and_stops_without_leaving_a_process(tmp_path: Path) -> None:
    with redis_server(tmp_path) as redis:
        assert redis.url == f"redis://:{redis.password}@{HOST}:{redis.port}/0"
        assert redis.command("SET", "feedvault", "ok") == b"+OK\r\n"
        assert redis.command("GET", "feedvault") == b"$2\r\nok\r\n"
        assert redis.command("CONFIG", "GET", "bind").endswith(f"${len(HOST)}\r\n{HOST}\r\n".encode())
        redis.password, right = "wrong", redis.password
        assert not redis.ping()
        redis.password = right
        tree = process_tree(redis.pid)
    assert tree and not [pid for pid in tree if alive(pid)]
