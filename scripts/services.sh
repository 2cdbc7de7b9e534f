#!/usr/bin/env bash
# Starts (up) or stops (down) the local services of the demo: a Temporal dev server with the
# retire search attributes, MinIO, and a retire-worker in dev mode. State lives in ./.data.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=.data
BIN=bin
mkdir -p "$DATA"

export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-127.0.0.1:7233}
export RETIRE_DEMO_S3_ACCESS_KEY=${RETIRE_DEMO_S3_ACCESS_KEY:-retire-demo}
export RETIRE_DEMO_S3_SECRET_KEY=${RETIRE_DEMO_S3_SECRET_KEY:-retire-demo-secret}
export RETIRE_DEMO_DB_PASSWORD=${RETIRE_DEMO_DB_PASSWORD:-retire-demo-db-pw}

running() { [ -f "$DATA/$1.pid" ] && kill -0 "$(cat "$DATA/$1.pid")" 2>/dev/null; }

start() { # name, command...
  local name=$1; shift
  if running "$name"; then echo "$name already running (pid $(cat "$DATA/$name.pid"))"; return; fi
  nohup "$@" >"$DATA/$name.log" 2>&1 &
  echo $! >"$DATA/$name.pid"
  echo "started $name (pid $!, log $DATA/$name.log)"
}

wait_for() { # what, seconds, test command...
  local what=$1 secs=$2; shift 2
  for _ in $(seq "$secs"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "$what did not become ready in ${secs}s; see $DATA/*.log" >&2
  return 1
}

# stop waits for the process to exit: a dev server still closing its SQLite file while a new
# one opens it corrupts the file.
stop() {
  if running "$1"; then
    local pid; pid=$(cat "$DATA/$1.pid")
    kill "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    echo "stopped $1"
  fi
  rm -f "$DATA/$1.pid"
}

case "${1:-}" in
up)
  start temporal "$BIN/temporal" server start-dev --ip 127.0.0.1 --port 7233 --ui-port 8233 \
    --db-filename "$DATA/temporal.db" --log-level warn \
    --search-attribute RetirePhase=Keyword --search-attribute RetireConnection=Keyword \
    --search-attribute RetireObject=Keyword --search-attribute RetireReason=Keyword \
    --search-attribute RetireRequester=Keyword --search-attribute RetireOwners=KeywordList
  MINIO_ROOT_USER=$RETIRE_DEMO_S3_ACCESS_KEY MINIO_ROOT_PASSWORD=$RETIRE_DEMO_S3_SECRET_KEY \
    start minio "$BIN/minio" server "$DATA/minio" --address 127.0.0.1:9000 --console-address 127.0.0.1:9001
  wait_for "Temporal" 60 "$BIN/temporal" operator cluster health --address "$TEMPORAL_ADDRESS"
  # Healthy is not yet ready: on a fresh SQLite file the server still creates its task queues.
  wait_for "Temporal visibility" 60 "$BIN/temporal" workflow count --address "$TEMPORAL_ADDRESS"
  wait_for "MinIO" 60 curl -sf http://127.0.0.1:9000/minio/health/live
  start worker "$BIN/retire-worker" --dev --config deployments/config.demo.yaml
  sleep 1
  running worker || { echo "the worker did not start:" >&2; cat "$DATA/worker.log" >&2; exit 1; }
  echo "Temporal UI: http://127.0.0.1:8233   MinIO console: http://127.0.0.1:9001"
  ;;
down)
  stop worker; stop minio; stop temporal
  ;;
*)
  echo "usage: $0 up|down" >&2; exit 2 ;;
esac
