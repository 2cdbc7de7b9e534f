#!/usr/bin/env bash
# make bench: retire's archive, verify and restore against its peers, on the same data, in the
# same run. Data: sysbench oltp tables, 4 x 1,000,000 rows, then 1 x 4,000,000 rows to show that
# memory stays flat. Peers: mariadb-dump --single-transaction --quick | zstd -3, and mydumper -t 2;
# for restore: zstd -dc | mariadb, and myloader -t 2. Wall seconds are the median of RUNS runs.
#
#   make bench                       # RUNS=3 TABLES=4 ROWS=1000000 BIG_ROWS=4000000
#   RUNS=1 ROWS=200000 BIG_ROWS=0 make bench   # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3} TABLES=${TABLES:-4} ROWS=${ROWS:-1000000} BIG_ROWS=${BIG_ROWS:-4000000}
DB=retire_bench BIGDB=retire_bench_big
WORK=.data/bench
OUT=$WORK/results.tsv
mkdir -p "$WORK"

for t in sysbench mydumper myloader mariadb-dump zstd /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "bench: $t is missing: apt-get install sysbench mydumper mariadb-client zstd time" >&2; exit 1; }
done
sql() { mariadb -h127.0.0.1 -uroot --batch --skip-column-names "$@"; }
sql -e 'SELECT 1' >/dev/null || { echo "bench: no MariaDB at 127.0.0.1:3306 as root" >&2; exit 1; }

# A MinIO of the bench's own, on its own port and directory.
export RETIRE_BENCH_S3_ACCESS=retire-bench RETIRE_BENCH_S3_SECRET=retire-bench-secret
rm -rf "$WORK/minio"
MINIO_ROOT_USER=$RETIRE_BENCH_S3_ACCESS MINIO_ROOT_PASSWORD=$RETIRE_BENCH_S3_SECRET \
  bin/minio server "$WORK/minio" --address 127.0.0.1:9100 --console-address 127.0.0.1:9101 --quiet >"$WORK/minio.log" 2>&1 &
MINIO_PID=$!
trap 'kill $MINIO_PID 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -sf http://127.0.0.1:9100/minio/health/cluster >/dev/null && break; sleep 1; done
cat >"$WORK/config.yaml" <<EOF
connections:
  local: {engine: mysql, host: 127.0.0.1, port: 3306, user: root}
stores:
  bench: {endpoint: "127.0.0.1:9100", bucket: retire-bench, access_key_env: RETIRE_BENCH_S3_ACCESS, secret_key_env: RETIRE_BENCH_S3_SECRET}
EOF
export RETIRE_CONFIG=$WORK/config.yaml

prepare() { # db tables rows
  local have
  have=$(sql -e "SELECT COALESCE(SUM(table_rows),0) FROM information_schema.tables WHERE table_schema='$1'" 2>/dev/null || echo 0)
  local count=0
  if [ "$have" -gt 0 ]; then
    for i in $(seq "$2"); do count=$((count + $(sql -e "SELECT COUNT(*) FROM $1.sbtest$i" 2>/dev/null || echo 0))); done
  fi
  if [ "$count" -ne $(($2 * $3)) ]; then
    echo "preparing $1: $2 x $3 rows (sysbench)"
    sql -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1"
    sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-user=root --mysql-db="$1" \
      --tables="$2" --table-size="$3" --threads=2 prepare >/dev/null
  fi
}

# timed name cmd...: appends "name<TAB>seconds<TAB>peak RSS KiB" to $OUT
timed() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" bash -c "$*" >"$WORK/$name.log" 2>&1 || { cat "$WORK/$name.log" >&2; exit 1; }
  read -r secs rss <"$WORK/time.txt"
  printf '%s\t%s\t%s\n' "$name" "$secs" "$rss" >>"$OUT"
  printf '  %-16s %8.2f s  %8d KiB peak RSS\n' "$name" "$secs" "$rss"
}

run_set() { # db label
  local db=$1 label=$2
  : >"$OUT.$label"
  OUT_SAVE=$OUT; OUT=$OUT.$label
  local bytes
  bytes=$(sql -e "SELECT SUM(data_length+index_length) FROM information_schema.tables WHERE table_schema='$db'")
  echo "$label: $db, $(sql -e "SELECT SUM(table_rows) FROM information_schema.tables WHERE table_schema='$db'") rows (estimate), $((bytes / 1048576)) MiB in InnoDB"
  for run in $(seq "$RUNS"); do
    echo " run $run/$RUNS"
    sql -e "DROP DATABASE IF EXISTS ${db}_r1; DROP DATABASE IF EXISTS ${db}_r2; DROP DATABASE IF EXISTS ${db}_r3"
    rm -rf "$WORK/dump" "$WORK/dump.sql.zst"
    timed retire-archive bin/retire archive --store bench local "$db" --path "$label/run-$run/" --no-verify
    timed retire-verify bin/retire verify --store bench "$label/run-$run/"
    timed dump-zstd "mariadb-dump -h127.0.0.1 -uroot --single-transaction --quick $db | zstd -3 -q -o $WORK/dump.sql.zst"
    timed mydumper "mydumper -h 127.0.0.1 -u root -t 2 -B $db -o $WORK/dump"
    timed retire-restore bin/retire restore --store bench "$label/run-$run/" --connection local --into "${db}_r1"
    timed zstd-mariadb "sql -e 'CREATE DATABASE ${db}_r2' && zstd -dc $WORK/dump.sql.zst | mariadb -h127.0.0.1 -uroot ${db}_r2"
    timed myloader "myloader -h 127.0.0.1 -u root -t 2 -d $WORK/dump -B ${db}_r3"
    printf 'archive-bytes\t%s\t0\n' "$(sed -n 's/.*(\([0-9]*\) bytes).*/\1/p' "$WORK/retire-archive.log" | head -1)" >>"$OUT"
    printf 'dump-bytes\t%s\t0\n' "$(stat -c %s "$WORK/dump.sql.zst")" >>"$OUT"
    printf 'mydumper-bytes\t%s\t0\n' "$(du -sb "$WORK/dump" | cut -f1)" >>"$OUT"
    sql -e "DROP DATABASE IF EXISTS ${db}_r1; DROP DATABASE IF EXISTS ${db}_r2; DROP DATABASE IF EXISTS ${db}_r3"
  done
  OUT=$OUT_SAVE
  go run ./scripts/benchreport "$OUT.$label" "$bytes" "$label"
}

export -f sql
: >"$OUT"
prepare "$DB" "$TABLES" "$ROWS"
run_set "$DB" "${TABLES}x${ROWS}"
if [ "$BIG_ROWS" -gt 0 ]; then
  prepare "$BIGDB" 1 "$BIG_ROWS"
  RUNS=1 run_set "$BIGDB" "1x${BIG_ROWS}"
fi
