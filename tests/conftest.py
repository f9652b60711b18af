"""Shared test set-up. Fixtures live in tests/support/* plugins; nothing here may reach beyond loopback."""

import os

# Defence in depth: whatever a registry says, the SSRF guard refuses any non-loopback address in tests.
os.environ["FEEDVAULT_LOOPBACK_ONLY"] = "1"

pytest_plugins = [
    "tests.support.s3",
    "tests.support.sites",
    "tests.support.archive",
    "tests.support.airflow",
    "tests.support.services",
    "tests.support.catalogs",
]
