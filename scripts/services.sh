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

. scripts/processes.sh

# identities makes the demo's people: SSH keys for the owner alice and the DBA dba, the owners
# directory naming them, the owners' page's signing key and the secret of the personal links.
# Made once; kept in ./.data like the rest of the demo's state.
identities() {
  local keys=$DATA/keys
  mkdir -p "$keys" && chmod 700 "$keys"
  for p in alice dba; do
    [ -f "$keys/$p" ] || ssh-keygen -q -t ed25519 -N '' -C "$p@retire-demo" -f "$keys/$p"
  done
  [ -f "$DATA/portal.key" ] || "$BIN/retire-portal" keygen "$DATA/portal.key" 2>/dev/null >"$DATA/portal.pub"
  [ -s "$DATA/portal.pub" ] || "$BIN/retire-portal" pubkey "$DATA/portal.key" >"$DATA/portal.pub"
  for secret in link-secret cookie-secret; do
    [ -f "$DATA/$secret" ] || (umask 077; head -c 48 /dev/urandom | base64 -w0 >"$DATA/$secret")
  done
  cat >"$DATA/owners.yaml" <<YAML
# The demo's owners directory (made by scripts/services.sh): who owns what, and their keys.
people:
  - id: alice
    name: Alice, owner of the old shop
    email: alice@example.com
    ssh_keys: ["$(cat "$keys/alice.pub")"]
    owns: [{connection: local, objects: [retire_demo_*]}]
  - id: bob
    name: Bob, finance
    email: bob@example.com
    owns: [{connection: local, objects: [retire_demo_shop]}]
  - id: dba
    name: The DBA on duty
    ssh_keys: ["$(cat "$keys/dba.pub")"]
    dba: true
YAML
}

case "${1:-}" in
up)
  identities
  start temporal "$BIN/temporal" server start-dev --ip 127.0.0.1 --port 7233 --ui-port 8233 \
    --db-filename "$DATA/temporal.db" --log-level warn \
    --search-attribute RetirePhase=Keyword --search-attribute RetireConnection=Keyword \
    --search-attribute RetireObject=Keyword --search-attribute RetireReason=Keyword \
    --search-attribute RetireRequester=Keyword --search-attribute RetireOwners=KeywordList --search-attribute RetireFleet=Keyword
  MINIO_ROOT_USER=$RETIRE_DEMO_S3_ACCESS_KEY MINIO_ROOT_PASSWORD=$RETIRE_DEMO_S3_SECRET_KEY \
    start minio "$BIN/minio" server "$DATA/minio" --address 127.0.0.1:9000 --console-address 127.0.0.1:9001
  wait_for "Temporal" 60 "$BIN/temporal" operator cluster health --address "$TEMPORAL_ADDRESS"
  # Healthy is not yet ready: on a fresh SQLite file the server still creates its task queues.
  wait_for "Temporal visibility" 60 "$BIN/temporal" workflow count --address "$TEMPORAL_ADDRESS"
  wait_for "MinIO" 60 curl -sf http://127.0.0.1:9000/minio/health/live
  start worker "$BIN/retire-worker" --dev --config deployments/config.demo.yaml
  start portal "$BIN/retire-portal" --config deployments/config.portal.demo.yaml
  sleep 1
  running worker || { echo "the worker did not start:" >&2; cat "$DATA/worker.log" >&2; exit 1; }
  running portal || { echo "the owners' page did not start:" >&2; cat "$DATA/portal.log" >&2; exit 1; }
  echo "Temporal UI: http://127.0.0.1:8233   MinIO console: http://127.0.0.1:9001   owners' page: http://127.0.0.1:8088"
  ;;
down)
  stop portal; stop worker; stop minio; stop temporal
  ;;
*)
  echo "usage: $0 up|down" >&2; exit 2 ;;
esac
