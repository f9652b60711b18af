#!/usr/bin/env bash
# `make airflow`: the Airflow 3 scheduler, DAG processor, triggerer and UI (http://127.0.0.1:8080) on the local
# recipe, with the demo publisher served and the archive browser mounted at /feedvault (token generated once).
# Quiet: Airflow's own log goes to $AIRFLOW_HOME/standalone.log. Ctrl-C stops everything (Airflow's process
# group, the demo publisher, the embedded S3 store) and exits 0.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/airflow-env.sh"
cd "$FEEDVAULT_REPO"
mkdir -p "$AIRFLOW_HOME"
# The UI's login: every user is admin on this local, loopback-only instance.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS:-True}"
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
# The archive browser inside Airflow keeps its own access control: a token, generated once and kept private.
token_file="$FEEDVAULT_HOME/browse-token"
if [[ -z "${FEEDVAULT_BROWSE_TOKEN:-}" ]]; then
  [[ -s "$token_file" ]] || (umask 077 && python -c 'import secrets; print(secrets.token_urlsafe(24))' >"$token_file")
  FEEDVAULT_BROWSE_TOKEN="$(cat "$token_file")"
fi
export FEEDVAULT_BROWSE_TOKEN
airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/migrate.log"; exit 1; }
airflow pools set feedvault 2 "feedvault crawls" >/dev/null

python -m feedvault.demo.server feedvault/demo/site --port "${FEEDVAULT_DEMO_URL##*:}" >"$AIRFLOW_HOME/demo-site.log" 2>&1 &
demo_pid=$!
log="$AIRFLOW_HOME/standalone.log"
setsid airflow standalone >"$log" 2>&1 &
airflow_pid=$!
stopped=0
cleanup() {
  [[ $stopped == 1 ]] && return
  stopped=1
  echo "stopping Airflow, the demo publisher and the embedded S3 store..."
  kill -TERM -- "-$airflow_pid" 2>/dev/null || true
  kill "$demo_pid" 2>/dev/null || true
  wait "$airflow_pid" 2>/dev/null || true
  python -m feedvault.airflow.connection --stop-embedded "$FEEDVAULT_HOME" >/dev/null || true
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM
ui="http://127.0.0.1:$AIRFLOW__API__PORT"
echo "Airflow is starting (its log: $log)"
for _ in $(seq 120); do
  python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$ui/api/v2/monitor/health" \
    >/dev/null 2>&1 && break
  kill -0 "$airflow_pid" 2>/dev/null || { tail -30 "$log"; exit 1; }
  sleep 1
done
cat <<MSG
Airflow UI:       $ui   (feedvault_nightly is unpaused; it runs nightly at the registry's schedule)
Run it now:       the DAG's Trigger button, or  airflow dags trigger feedvault_nightly  (after: source infra/airflow-env.sh)
Archive browser:  $ui/feedvault/?token=$FEEDVAULT_BROWSE_TOKEN   (also under "Archive (feedvault)" in the menu)
Demo publisher:   $FEEDVAULT_DEMO_URL
Ctrl-C stops everything.
MSG
wait "$airflow_pid"
