"""The host name a task instance records: ``[core] hostname_callable`` of the CeleryExecutor recipe.

On separate machines the FQDN already tells workers apart; several workers on one machine (the one-machine
process recipe, the tests) each set ``FEEDVAULT_WORKER_HOSTNAME``, so the metadata DB says which worker ran what.
"""

from __future__ import annotations

import os
import socket

WORKER_HOSTNAME_ENV = "FEEDVAULT_WORKER_HOSTNAME"


def worker_hostname() -> str:
    """``$FEEDVAULT_WORKER_HOSTNAME`` if set, else this machine's FQDN (Airflow's default)."""
    return os.environ.get(WORKER_HOSTNAME_ENV, "").strip() or socket.getfqdn()
