#!/usr/bin/env bash
# make bench-fleet: retire a fleet of N small MariaDB databases end to end, on one worker and
# one Temporal dev server, and print what it cost: wall time per phase, the worker's peak
# memory, events per history, statements per second against MariaDB.
#
#   make bench-fleet                 # N=100
#   make bench-fleet N=1000          # on request: about 1000 x 3 tables, and a long run
#   N=6 KEEP=1 scripts/bench-fleet.sh   # keep the services and whatever is left, to look at
#   scripts/bench-fleet.sh down      # then stop them and drop the fleetbench_ databases
#
# It makes databases fleetbench_0001..N on the local MariaDB (127.0.0.1:3306 as root; the
# demo's MYSQL_HOST, MYSQL_PORT, MYSQL_ROOT_USER, MYSQL_ROOT_PASSWORD) and touches no other;
# it starts its own Temporal dev server, MinIO and retire-worker --dev the way
# scripts/services.sh does, on ports of its own and with its state in .data/benchfleet, so a
# running demo is left alone. The DBA of its owners directory signs the fleet's start and each
# wave's go with an SSH key, as the demo signs its decisions; the bench acknowledges nothing a
# retirement waits for: a child waiting for a person stops it, with what the child said.
#
# Knobs (environment): SAMPLE, OBSERVE (windows, default 1s: the least --dev allows), LOOK
# (the profiles' poll_interval, default 500ms as in production), GROUP and GROUP_N (the waves
# after the beta wave, default n of 100), PER_CONNECTION (default 1), POLL (how often the bench
# reads, default 2s), TIMEOUT and STALL (seconds), KEEP=1, and the ports BENCH_TEMPORAL_PORT
# (7333; UI on +1000), BENCH_MINIO_PORT (9300; console +1), BENCH_WORKER_LISTEN
# (127.0.0.1:9390: the worker's /readyz and /metrics).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100}
KEEP=${KEEP:-}
SAMPLE=${SAMPLE:-1s} OBSERVE=${OBSERVE:-1s} LOOK=${LOOK:-500ms}
GROUP=${GROUP:-n} GROUP_N=${GROUP_N:-100} PER_CONNECTION=${PER_CONNECTION:-1}
POLL=${POLL:-2s}
# Archive and drop go at most PER_CONNECTION at a time per profile, so the run grows with N.
TIMEOUT=${TIMEOUT:-$((600 + 10 * N))} STALL=${STALL:-240}
TPORT=${BENCH_TEMPORAL_PORT:-7333} MPORT=${BENCH_MINIO_PORT:-9300} LISTEN=${BENCH_WORKER_LISTEN:-127.0.0.1:9390}
export MYSQL_HOST=${MYSQL_HOST:-127.0.0.1} MYSQL_PORT=${MYSQL_PORT:-3306} MYSQL_ROOT_USER=${MYSQL_ROOT_USER:-root}
export MYSQL_ROOT_PASSWORD=${MYSQL_ROOT_PASSWORD:-}
export TEMPORAL_ADDRESS=127.0.0.1:$TPORT TEMPORAL_NAMESPACE=default
export RETIRE_BENCH_S3_ACCESS=retire-bench RETIRE_BENCH_S3_SECRET=retire-bench-secret
export RETIRE_BENCH_DB_PASSWORD=$MYSQL_ROOT_PASSWORD
WORK=.data/benchfleet
BIN=bin
mkdir -p "$WORK"

[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 2 ] && [ "$N" -le 1000 ] || { echo "bench-fleet: N=$N: between 2 and 1000 (a fleet holds at most 1000 objects)" >&2; exit 2; }
for t in ssh-keygen curl; do
  command -v "$t" >/dev/null || { echo "bench-fleet: $t is missing" >&2; exit 1; }
done
for b in retire retire-worker temporal minio; do
  [ -x "$BIN/$b" ] || { echo "bench-fleet: $BIN/$b is missing: make tools build" >&2; exit 1; }
done

DATA=$WORK
. scripts/processes.sh
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
userstat() { "$WORK/benchfleet" userstat 2>/dev/null || echo "?"; }

# What a KEEP=1 run left running is the bench's own: stop it (letting the setting keepers
# finish, see cleanup below), and start from clean state.
if running worker && running temporal && [ -x "$WORK/benchfleet" ]; then "$WORK/benchfleet" drain -timeout 2m || true; fi
stop worker; stop minio; stop temporal
if [ "${1:-}" = down ]; then
  if [ -x "$WORK/benchfleet" ]; then "$WORK/benchfleet" cleanup; fi
  exit 0
fi
for p in "$TPORT" $((TPORT + 1000)) "$MPORT" $((MPORT + 1)) "${LISTEN##*:}"; do
  port_free "$p" || { echo "bench-fleet: port $p is taken; set BENCH_TEMPORAL_PORT, BENCH_MINIO_PORT or BENCH_WORKER_LISTEN" >&2; exit 1; }
done
rm -rf "$WORK/temporal.db" "$WORK/temporal.db-"* "$WORK/minio" "$WORK/result.json"

echo "== building the bench's measuring tool (scripts/benchfleet)"
go build -o "$WORK/benchfleet" ./scripts/benchfleet

cleanup() {
  local rc=$?
  if [ -n "$KEEP" ]; then
    echo
    echo "KEEP=1: left running: Temporal $TEMPORAL_ADDRESS (UI http://127.0.0.1:$((TPORT + 1000))), MinIO 127.0.0.1:$MPORT, worker (pid $(cat "$WORK/worker.pid" 2>/dev/null || echo -)); state in $WORK"
    echo "  TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS bin/retire fleet status $FLEET"
    echo "  stop it and drop the databases with: scripts/bench-fleet.sh down"
    exit $rc
  fi
  echo
  echo "== cleaning up (KEEP=1 keeps everything)"
  # Let the object locks and the setting keepers end first: a keeper stopped while it holds
  # userstat would leave it on for everybody else.
  if running worker && running temporal; then "$WORK/benchfleet" drain -timeout 2m || true; fi
  stop worker; stop minio; stop temporal
  "$WORK/benchfleet" cleanup || true
  local after; after=$(userstat)
  if [ "$after" != "$USERSTAT_BEFORE" ]; then
    echo "note: @@userstat was $USERSTAT_BEFORE before the bench and is $after now (the retirements switch it on for their windows and put it back; a neighbour may have changed it too)"
  fi
  exit $rc
}
FLEET=fleetbench-$N-$(date +%H%M%S)
USERSTAT_BEFORE=$(userstat)
trap cleanup EXIT

echo "== 1. $N databases fleetbench_0001..$(printf %04d "$N") on $MYSQL_HOST:$MYSQL_PORT"
"$WORK/benchfleet" prepare -n "$N"

echo "== 2. the DBA's key, the owners directory and the worker's config ($WORK)"
mkdir -p "$WORK/keys" && chmod 700 "$WORK/keys"
[ -f "$WORK/keys/dba" ] || ssh-keygen -q -t ed25519 -N '' -C "dba@retire-bench-fleet" -f "$WORK/keys/dba"
profile() { # name: a profile of the same server; two of them make two servers for the fleet's pacing
  cat <<YAML
  $1:
    engine: mysql
    host: $MYSQL_HOST
    port: $MYSQL_PORT
    user: $MYSQL_ROOT_USER
    password_env: RETIRE_BENCH_DB_PASSWORD
    query_timeout: 30s
    poll_interval: $LOOK
    sampling:
      enable: [table-counters]   # userstat on for the windows, put back afterwards (as the demo)
YAML
}
{
  echo "# bench-fleet's worker config (made by scripts/bench-fleet.sh): two profiles of one MariaDB."
  echo "connections:"
  profile bench-a
  profile bench-b
  cat <<YAML
stores:
  bench:
    endpoint: 127.0.0.1:$MPORT
    bucket: retire-bench-fleet
    prefix: archive
    access_key_env: RETIRE_BENCH_S3_ACCESS
    secret_key_env: RETIRE_BENCH_S3_SECRET
default_store: bench
owners:
  people:
    - id: dba
      name: The DBA on duty (bench-fleet)
      ssh_keys: ["$(cat "$WORK/keys/dba.pub")"]
      dba: true
# Every decision must carry proof, even on this --dev worker: the start and each go are signed.
signoff:
  require_proof: true
YAML
} >"$WORK/config.yaml"

echo "== 3. services: Temporal dev server ($TEMPORAL_ADDRESS), MinIO (127.0.0.1:$MPORT), retire-worker --dev"
# The dev server keeps its state in memory, as in the tests: a file of its own is a SQLite
# database in rollback-journal mode, and its fsyncs, not retire, were the limit at N=1000
# (every event is a write; a production Temporal has a database made for it). DB_FILE=1
# keeps it on disk.
TEMPORAL_DB=()
[ -n "${DB_FILE:-}" ] && TEMPORAL_DB=(--db-filename "$WORK/temporal.db")
start temporal "$BIN/temporal" server start-dev --ip 127.0.0.1 --port "$TPORT" --ui-port $((TPORT + 1000)) \
  "${TEMPORAL_DB[@]}" --log-level warn \
  --search-attribute RetirePhase=Keyword --search-attribute RetireConnection=Keyword \
  --search-attribute RetireObject=Keyword --search-attribute RetireReason=Keyword \
  --search-attribute RetireRequester=Keyword --search-attribute RetireOwners=KeywordList --search-attribute RetireFleet=Keyword
MINIO_ROOT_USER=$RETIRE_BENCH_S3_ACCESS MINIO_ROOT_PASSWORD=$RETIRE_BENCH_S3_SECRET \
  start minio "$BIN/minio" server "$WORK/minio" --address 127.0.0.1:"$MPORT" --console-address 127.0.0.1:$((MPORT + 1)) --quiet
wait_for "Temporal" 60 "$BIN/temporal" operator cluster health --address "$TEMPORAL_ADDRESS"
# Healthy is not yet ready: on a fresh SQLite file the server still creates its task queues.
wait_for "Temporal visibility" 60 "$BIN/temporal" workflow count --address "$TEMPORAL_ADDRESS"
wait_for "MinIO" 60 curl -sf "http://127.0.0.1:$MPORT/minio/health/live"
# --pprof: the bench counts the worker's goroutines and keeps the heap profile of its peak.
start worker "$BIN/retire-worker" --dev --config "$WORK/config.yaml" --listen "$LISTEN" --pprof
wait_for "the worker" 60 curl -sf "http://$LISTEN/readyz" || { tail -20 "$WORK/worker.log" >&2; exit 1; }
WORKER_PID=$(cat "$WORK/worker.pid")
echo "worker pid $WORKER_PID"

echo "== 4. the fleet file ($WORK/fleet.yaml)"
{
  cat <<YAML
# bench-fleet: $N databases over two profiles of one MariaDB, odd ones on bench-a, even on bench-b.
name: $FLEET
# migration: the data lives on elsewhere, so no owner sign-off is needed; the bench measures the
# machinery, and a sign-off is a person's to give, not the bench's.
reason: migration
ticket: BENCH-FLEET
requester: dba
sample: $SAMPLE
observe: $OBSERVE
objects:
YAML
  for i in $(seq "$N"); do
    if ((i % 2)); then c=bench-a; else c=bench-b; fi
    printf '  - {connection: %s, object: fleetbench_%04d}\n' "$c" "$i"
  done
  cat <<YAML
waves:
  # beta: left out, so the default: the first object of each profile (fleetbench_0001 on
  # bench-a, fleetbench_0002 on bench-b).
  # Then groups of $GROUP_N: one wave (and one signed go) for N <= $((GROUP_N + 2)), ten for
  # N=1000. A group of 100 is what a DBA would let loose at once after a good beta, and it
  # keeps at most 100 retirements in flight on this one 2-core worker: with group all, a
  # fleet of 1000 would measure 998 sampling windows opened at the same second rather than
  # the fleet. The objects alternate between the profiles, so every wave keeps both
  # profiles' archive-and-drop slots busy and per_connection shows.
  group: $GROUP
YAML
  [ "$GROUP" = n ] && echo "  n: $GROUP_N"
  cat <<YAML
  done_when: dropped
  per_connection: $PER_CONNECTION   # at most this many of a profile's children archive and drop at once
  failure_budget: 1
YAML
} >"$WORK/fleet.yaml"
"$BIN/retire" fleet start "$WORK/fleet.yaml" --check | sed -n "1,8s/^/  /p"

echo "== 5. the fleet, measured (polled every $POLL; timeout ${TIMEOUT}s, stall ${STALL}s)"
"$WORK/benchfleet" run -name "$FLEET" -file "$WORK/fleet.yaml" -key "$WORK/keys/dba" -retire "$BIN/retire" \
  -n "$N" -worker-pid "$WORKER_PID" -poll "$POLL" -timeout "${TIMEOUT}s" -stall "${STALL}s" \
  -profiles "$LISTEN" -worker-log "$WORK/worker.log" ${KEEP:+-keep} -out "$WORK/result.json"
echo "(measurements, every poll: $WORK/result.json; the worker's heap at its peak: go tool pprof -top $WORK/heap-peak.pb.gz; worker log: $WORK/worker.log)"
