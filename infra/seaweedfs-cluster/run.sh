#!/usr/bin/env bash
# The replicated object store on one machine: SeaweedFS as separate servers (master, two volume servers, filer,
# S3 gateway) on 127.0.0.1, every object on both volume servers (-defaultReplication=001), telemetry off.
# Runs in the foreground and prints the S3 endpoint, the ports, the PIDs and the credentials file; Ctrl-C (or
# SIGTERM) stops every server by its PID. Arguments go to `python -m feedvault.store.seaweed_cluster`
# (--data-dir, default .feedvault/seaweedfs-cluster; --volume-servers; --replication; --port).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
exec "$repo/.venv/bin/python" -m feedvault.store.seaweed_cluster "$@"
