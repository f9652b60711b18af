"""Pytest plugin: a real SeaweedFS on 127.0.0.1 for the whole session, and a fresh bucket per test.

Register with ``pytest_plugins = ["tests.support.s3"]``. Fixtures:

- ``seaweed``: the session's :class:`EmbeddedS3` (``.endpoint_url``, ``.credentials``, ``.env()`` for
  subprocesses).
- ``s3_storage``: ``(StorageSettings, Credentials)`` for ``s3://<fresh bucket>/archive``, bucket created.
- ``s3_store``: an :class:`S3Store` opened on that bucket.
- ``any_store``: parametrized over an ``S3Store`` and a ``FileStore`` (contract tests).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedvault.config import StorageSettings
from feedvault.store.backends import FileStore, S3Store, Store, open_store
from feedvault.store.s3_client import Credentials
from feedvault.store.seaweed import EmbeddedS3

# SeaweedFS gives every bucket (collection) its own volume, and by default offers one volume slot per GiB of
# free disk: a suite of fresh buckets then fails with "no free volumes left" on a host with little free disk.
# Empty volumes are sparse files of a few KiB, so the session server is given slots for every bucket it will see.
SESSION_VOLUME_SLOTS = 5000


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedS3]:
    # dies_with_parent: a killed test run (say by `timeout`) must not leave its server running for days
    with EmbeddedS3(
        tmp_path_factory.mktemp("seaweed"), max_volumes=SESSION_VOLUME_SLOTS, dies_with_parent=True
    ) as server:
        yield server


def fresh_bucket() -> str:
    return f"test-{uuid.uuid4().hex[:24]}"


def fresh_archive(seaweed: EmbeddedS3, data_dir: Path | None = None) -> tuple[StorageSettings, S3Store]:
    """Settings and an opened store for a new, empty bucket on the session's SeaweedFS."""
    extra = {"data_dir": str(data_dir)} if data_dir is not None else {}
    settings = StorageSettings(
        uri=f"s3://{fresh_bucket()}/archive", endpoint_url=seaweed.endpoint_url, max_attempts=2, **extra
    )
    store = open_store(settings, seaweed.credentials)
    assert isinstance(store, S3Store)
    store.ensure_bucket()
    return settings, store


@pytest.fixture
def s3_storage(seaweed: EmbeddedS3) -> tuple[StorageSettings, Credentials]:
    settings, _store = fresh_archive(seaweed)
    return settings, seaweed.credentials


@pytest.fixture
def s3_store(s3_storage: tuple[StorageSettings, Credentials]) -> S3Store:
    store = open_store(*s3_storage)
    assert isinstance(store, S3Store)
    return store


@pytest.fixture(params=["s3", "file"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """Each store implementation in turn, for contract tests."""
    if request.param == "s3":
        return request.getfixturevalue("s3_store")
    return FileStore(tmp_path / "store")
