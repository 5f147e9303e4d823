#!/usr/bin/env bash
# Serve web + Celery worker + Celery beat in the foreground; Ctrl-C stops all three.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
PORT="${PORT:-8000}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings.local}"
export WARDEN_PUBLIC_PORT="$PORT"
export WARDEN_WORKER_METRICS_PORT="${WARDEN_WORKER_METRICS_PORT:-9808}"

FAKE_SERVICENOW_PORT="${FAKE_SERVICENOW_PORT:-8899}"
export FAKE_SERVICENOW_PORT
FAKE_LLM_PORT="${FAKE_LLM_PORT:-8898}"
export FAKE_LLM_PORT

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo; echo "stopping web, worker, beat, the fake ServiceNow and the fake language model"
  kill "${pids[@]}" 2>/dev/null
  wait 2>/dev/null
  echo "PostgreSQL and Redis keep running: 'make stop' stops them."
}
trap stop_all INT TERM EXIT

# Acme's "Demo ServiceNow" (apps/demo/seed.py): 20 incidents now, a new one every 45 s.
$PY -m fakes.servicenow --port "$FAKE_SERVICENOW_PORT" --token demo-servicenow-token --seed 20 --trickle 45 >/dev/null &
pids+=($!)
# Acme's language model for tickets no triage rule matches: a fake OpenAI-compatible provider.
$PY -m fakes.llm --port "$FAKE_LLM_PORT" >/dev/null &
pids+=($!)
$PY -m celery -A config worker -l warning --concurrency 2 -n "warden@%h" &
pids+=($!)
$PY -m celery -A config beat -l warning &
pids+=($!)
$PY manage.py runserver "127.0.0.1:$PORT" --noreload &
pids+=($!)
sleep 2
$PY manage.py demo_banner --port "$PORT"
wait -n "${pids[@]}"
