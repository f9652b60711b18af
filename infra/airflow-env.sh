# Source me: the Airflow 3 configuration of feedvault's local recipe (SQLite, LocalExecutor, low parallelism).
#   source infra/airflow-env.sh      # then: airflow dags test feedvault_nightly / airflow standalone
# Everything lives under .feedvault/ of the repository; override FEEDVAULT_HOME or AIRFLOW_HOME to move it.
FEEDVAULT_REPO="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export FEEDVAULT_REPO
export FEEDVAULT_HOME="${FEEDVAULT_HOME:-$FEEDVAULT_REPO/.feedvault}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$FEEDVAULT_HOME/airflow}"
# SQLite allows one writer: the scheduler, DAG processor, API server and tasks wait up to 60 s for the lock
# (the driver's default is 5 s, after which a busy 2-core machine turns a REST trigger into a 500).
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db?timeout=60"
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# The local recipe ships feedvault_nightly unpaused, so a trigger (UI form, REST, `airflow dags trigger`) runs at
# once instead of queueing behind a pause nobody sees. Deployments decide for themselves.
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
export AIRFLOW__CORE__DAGS_FOLDER="$FEEDVAULT_REPO/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$FEEDVAULT_REPO/infra/plugins"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
# The venv's bin must be on PATH: `airflow standalone` starts its components as `airflow ...` processes.
export PATH="$FEEDVAULT_REPO/.venv/bin:$PATH"
# The bundled demo registry (override with your own); the demo publisher's fixed address.
export FEEDVAULT_REGISTRY="${FEEDVAULT_REGISTRY:-$FEEDVAULT_REPO/feedvault/demo/feeds.yaml}"
export FEEDVAULT_DEMO_URL="${FEEDVAULT_DEMO_URL:-http://127.0.0.1:8765}"
