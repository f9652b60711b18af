#!/usr/bin/env bash
# `make run`: archive the bundled demo publisher THROUGH AIRFLOW (`airflow dags test feedvault_nightly`) into the
# embedded S3 store under .feedvault/. Extra arguments go to `airflow dags test`, e.g. -c '{"feeds":["demo-en"]}'.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/airflow-env.sh"
cd "$FEEDVAULT_REPO"
mkdir -p "$AIRFLOW_HOME"
log="$AIRFLOW_HOME/last-run.log"

echo "Airflow home: $AIRFLOW_HOME (SQLite, LocalExecutor)"
airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/migrate.log"; exit 1; }
airflow pools set feedvault 2 "feedvault crawls" >/dev/null

demo_port="${FEEDVAULT_DEMO_URL##*:}"
python -m feedvault.demo.server feedvault/demo/site --port "$demo_port" >"$AIRFLOW_HOME/demo-site.log" 2>&1 &
demo_pid=$!
cleanup() {
  kill "$demo_pid" 2>/dev/null || true
  python -m feedvault.airflow.connection --stop-embedded "$FEEDVAULT_HOME" >/dev/null || true
}
trap cleanup EXIT
python - "$FEEDVAULT_DEMO_URL" <<'PY'
import sys, time, urllib.request
for _ in range(50):
    try:
        urllib.request.urlopen(sys.argv[1] + "/", timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit(f"the demo publisher did not start on {sys.argv[1]} (port taken? set FEEDVAULT_DEMO_URL)")
PY
echo "demo publisher serving on $FEEDVAULT_DEMO_URL"

echo "running: airflow dags test feedvault_nightly $* (full log: $log)"
status=0
airflow dags test feedvault_nightly "$@" >"$log" 2>&1 || status=$?
# The final task logs the run's table; show it (and any failure) instead of Airflow's whole log.
python -m feedvault.airflow.report --from-log "$log"
echo
COLUMNS="${COLUMNS:-120}" feedvault runs --limit 3 --format table
exit "$status"
