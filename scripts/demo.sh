#!/usr/bin/env bash
# make demo: retire a demo database of our own making end to end, on local defaults.
# MariaDB/MySQL at 127.0.0.1:3306 as root with an empty password (override with MYSQL_HOST,
# MYSQL_PORT, MYSQL_ROOT_USER, MYSQL_ROOT_PASSWORD); Temporal, MinIO and the worker are
# started from ./bin by scripts/services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-127.0.0.1:7233}
# The same defaults as scripts/services.sh: the demo's worker and `retire ls` read them.
export RETIRE_DEMO_DB_PASSWORD=${RETIRE_DEMO_DB_PASSWORD:-retire-demo-db-pw}
export RETIRE_DEMO_S3_ACCESS_KEY=${RETIRE_DEMO_S3_ACCESS_KEY:-retire-demo}
export RETIRE_DEMO_S3_SECRET_KEY=${RETIRE_DEMO_S3_SECRET_KEY:-retire-demo-secret}
DB=retire_demo_shop
MYSQL_HOST=${MYSQL_HOST:-127.0.0.1} MYSQL_PORT=${MYSQL_PORT:-3306}
CLIENT=$(command -v mariadb || command -v mysql || true)
[ -n "$CLIENT" ] || { echo "demo: no mariadb/mysql client found: apt-get install mariadb-client" >&2; exit 1; }
sql() { MYSQL_PWD=${MYSQL_ROOT_PASSWORD:-} "$CLIENT" -h"$MYSQL_HOST" -P"$MYSQL_PORT" -u"${MYSQL_ROOT_USER:-root}" --default-character-set=utf8mb4 --batch "$@"; }
if ! sql -e 'SELECT 1' >/dev/null 2>&1; then
  echo "demo: no MySQL/MariaDB server at $MYSQL_HOST:$MYSQL_PORT as ${MYSQL_ROOT_USER:-root}: start one (start-stop-daemon --start --background --exec /usr/sbin/mariadbd, or apt-get install mariadb-server) or set MYSQL_HOST/MYSQL_PORT/MYSQL_ROOT_USER/MYSQL_ROOT_PASSWORD" >&2
  exit 1
fi
retire() { bin/retire "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. A demo database: $DB (several tables, varied types, 100k+ rows) and an application account"
sql <<SQL
DROP DATABASE IF EXISTS $DB;
CREATE DATABASE $DB CHARACTER SET utf8mb4;
USE $DB;
CREATE TABLE customers (id INT UNSIGNED PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(200),
  country CHAR(2), vip BIT(1) NOT NULL DEFAULT b'0', created DATETIME(6) NOT NULL, note TEXT);
CREATE TABLE orders (id BIGINT UNSIGNED PRIMARY KEY, customer_id INT UNSIGNED NOT NULL, total DECIMAL(12,2) NOT NULL,
  status ENUM('new','paid','shipped','returned') NOT NULL, tags SET('gift','express','fragile'), placed DATE NOT NULL,
  weight DOUBLE, meta JSON, KEY (customer_id));
CREATE TABLE invoices (order_id BIGINT UNSIGNED PRIMARY KEY, pdf MEDIUMBLOB, issued TIMESTAMP(3) NULL, due TIME);
CREATE TABLE digits (d TINYINT PRIMARY KEY);
INSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9);
INSERT INTO customers SELECT a.d*1000+b.d*100+c.d*10+e.d+1, CONCAT('customer ', a.d,b.d,c.d,e.d, IF(e.d=7,' 😀','')),
  IF(e.d=3, NULL, CONCAT('c',a.d,b.d,c.d,e.d,'@example.com')), ELT(e.d+1,'CN','DE','FR','US','JP','BR','IN','GB','IT','ES'),
  e.d=1, TIMESTAMP('2019-01-01') + INTERVAL (a.d*1000+b.d*100+c.d*10+e.d) MINUTE, IF(c.d=0, REPEAT('note ', 20), NULL)
  FROM digits a, digits b, digits c, digits e;
INSERT INTO orders SELECT n, n % 10000 + 1, ROUND(n * 1.37 % 5000, 2), ELT(n % 4 + 1,'new','paid','shipped','returned'),
  IF(n % 5 = 0, 'gift,express', NULL), DATE('2019-01-01') + INTERVAL n % 1500 DAY, IF(n % 7 = 0, NULL, n / 3.0),
  IF(n % 3 = 0, JSON_OBJECT('channel', 'web', 'n', n), NULL)
  FROM (SELECT a.d*10000+b.d*1000+c.d*100+e.d*10+f.d + 1 AS n FROM digits a, digits b, digits c, digits e, digits f) s;
INSERT INTO invoices SELECT id, IF(id % 100 = 0, UNHEX(REPEAT('00FF', 64)), NULL), TIMESTAMP('2020-01-01') + INTERVAL id SECOND,
  SEC_TO_TIME(id % 86400) FROM orders WHERE id % 4 = 0;
CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 4000;
DROP USER IF EXISTS 'shop_app'@'127.0.0.1';
CREATE USER 'shop_app'@'127.0.0.1' IDENTIFIED BY 'shop-app-pw';
GRANT SELECT, INSERT, UPDATE ON $DB.* TO 'shop_app'@'127.0.0.1';
DROP USER IF EXISTS 'retire_demo'@'127.0.0.1';
CREATE USER 'retire_demo'@'127.0.0.1' IDENTIFIED BY '$RETIRE_DEMO_DB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'retire_demo'@'127.0.0.1' WITH GRANT OPTION;
SQL
sql -e "SELECT table_name, table_rows FROM information_schema.tables WHERE table_schema='$DB' AND table_type='BASE TABLE' ORDER BY 1"

step "2. Services: Temporal dev server (UI :8233), MinIO (:9000), retire-worker --dev"
scripts/services.sh up

step "3. Start the retirement, signed with the DBA's SSH key (short windows: this worker runs with --dev)"
# Owners come from the owners directory (.data/owners.yaml, made by scripts/services.sh): alice
# and bob own $DB. Every decision carries proof of who makes it: here SSH signatures by the
# keys in .data/keys, which the plan pins from the directory.
KEYS=.data/keys
retire start local $DB --reason decommission --requester dba --sign-with $KEYS/dba \
  --ticket DEMO-1 --sample 20s --observe 30s

step "4. The forgotten client: shop_app still reads now and then, without a default database"
# It names the tables as $DB.orders, so its sessions' default database is not $DB: one
# statement runs long enough to be seen holding the table, the others are over in
# milliseconds and only the server's per-table counters see them.
for _ in 1 2 3; do
  MYSQL_PWD=shop-app-pw "$CLIENT" -h"$MYSQL_HOST" -P"$MYSQL_PORT" -ushop_app -e "SELECT COUNT(*), SLEEP(1) FROM $DB.orders WHERE id = 1" >/dev/null
  MYSQL_PWD=shop-app-pw "$CLIENT" -h"$MYSQL_HOST" -P"$MYSQL_PORT" -ushop_app -e "SELECT COUNT(*) FROM $DB.customers" >/dev/null
  sleep 3
done
until retire status local $DB | grep -q '^waiting: acknowledgement'; do sleep 2; done
retire status local $DB | sed -n '/^clients/,/^$/p'
retire status local $DB | sed -n '/^evidence/,/^$/p'
retire acknowledge-clients local $DB --as dba --sign-with $KEYS/dba --note "shop_app belongs to the old shop, switched off on DEMO-1; its reads of customers too"

step "5. Access is cut; the owner signs off during the observation window"
until retire status local $DB | grep -q '^phase: observe'; do sleep 1; done
MYSQL_PWD=shop-app-pw "$CLIENT" -h"$MYSQL_HOST" -P"$MYSQL_PORT" -ushop_app $DB -e 'SELECT 1' 2>&1 | sed 's/^/shop_app now gets: /' || true
echo "The owners' page shows it to alice: $(bin/retire-portal link --config deployments/config.portal.demo.yaml --person alice --workflow retire:local:$DB)"
echo "(a personal link, as the owners' notices carry; with a company login, owners sign in at http://127.0.0.1:8088)"
retire approve local $DB --as alice --sign-with $KEYS/alice --comment "old shop is gone for good"

step "6. Archive, verify, drop, verify gone, record"
last=""
while :; do
  status=$(retire status local $DB)
  phase=$(sed -n 's/^phase: //p' <<<"$status" | head -1)
  if grep -q '^waiting: acknowledgement of the access attempts' <<<"$status"; then
    # The cut locked shop_app; without the server's audit log nobody can count its logins.
    sed -n 's/^waiting: /waiting for: /p' <<<"$status"
    retire acknowledge-attempts local $DB --as dba --sign-with $KEYS/dba --note "the old shop's servers are off (DEMO-1)"
  fi
  [ "$phase" != "$last" ] && echo "phase: $phase" && last=$phase
  # A final phase counts once Temporal closed the run ("winding up" until then).
  case "$phase" in done|dry-run|aborted|cancelled|failed) grep -q ', Running)$' <<<"$status" || break ;; esac
  sleep 1
done

step "7. The retirement record"
retire record local $DB

step "8. Who decided, proven offline from the record (and by ssh-keygen)"
location=$(retire status local $DB -o json | sed -n 's/.*"url": *"\(s3:[^"]*\)".*/\1/p' | head -1)
rm -rf .data/proofs
retire record verify --config deployments/config.demo.yaml "$location" --export-ssh .data/proofs
echo "and alice's sign-off, checked by OpenSSH alone:"
(cd .data/proofs && ssh-keygen -Y verify -f allowed_signers -I alice -n retire-decision@dataretire -s ./*-approve.sig < ./*-approve.json)

step "9. The archive in MinIO"
retire ls --config deployments/config.demo.yaml --store demo "$(retire status local $DB -o json | sed -n 's/.*"path": *"\([^"]*\)".*/\1/p' | head -1)"

step "10. The database is gone"
sql -e "SELECT COUNT(*) AS schemas_named_$DB FROM information_schema.schemata WHERE schema_name='$DB'"
echo
echo "Temporal UI: http://127.0.0.1:8233/namespaces/default/workflows/retire:local:$DB"
echo "Stop everything with: make demo-down"
[ "$phase" = done ]
