#!/usr/bin/env bash
# `make airflow`: the Airflow 3 scheduler, DAG processor, triggerer and UI (http://127.0.0.1:8080) on the local
# recipe, with the demo publisher served. Unpause `feedvault_nightly` in the UI, or trigger it with its form.
# Ctrl-C stops everything (Airflow's process group, the demo publisher, the embedded S3 store).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/airflow-env.sh"
cd "$FEEDVAULT_REPO"
mkdir -p "$AIRFLOW_HOME"
# The UI's login: every user is admin on this local, loopback-only instance.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS:-True}"
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/migrate.log"; exit 1; }
airflow pools set feedvault 2 "feedvault crawls" >/dev/null

python -m feedvault.demo.server feedvault/demo/site --port "${FEEDVAULT_DEMO_URL##*:}" >"$AIRFLOW_HOME/demo-site.log" 2>&1 &
demo_pid=$!
setsid airflow standalone &
airflow_pid=$!
cleanup() {
  kill -TERM -- "-$airflow_pid" 2>/dev/null || true
  kill "$demo_pid" 2>/dev/null || true
  wait "$airflow_pid" 2>/dev/null || true
  python -m feedvault.airflow.storage --stop-embedded "$FEEDVAULT_HOME" >/dev/null || true
}
trap cleanup EXIT INT TERM
echo "Airflow UI: http://127.0.0.1:$AIRFLOW__API__PORT  (demo publisher: $FEEDVAULT_DEMO_URL; Ctrl-C stops)"
wait "$airflow_pid"
