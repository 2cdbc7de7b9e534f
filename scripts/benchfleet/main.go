// Command benchfleet is the measuring half of `make bench-fleet` (scripts/bench-fleet.sh
// starts the services and writes the fleet file): it makes the fleet's small databases, drives
// the fleet through the real CLI as a DBA would (start, signed; a signed go after each wave),
// polls the fleet, the worker and MariaDB every few seconds, and prints what it measured.
//
//	benchfleet prepare -n 100             drop leftover fleetbench_% databases, make fleetbench_0001..0100
//	benchfleet run -name F -file F.yaml   run the fleet to its end and print the table
//	benchfleet cleanup                    drop the fleetbench_% databases
//	benchfleet userstat                   print @@userstat (the retirements switch it on and back)
//	benchfleet drain                      wait until no workflow of the bench's dev server runs
//
// It never acknowledges anything a retirement waits for: a child that waits for a person
// stops the bench with what it waits for (a bench that hides a stuck gate lies).
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Prefix names every database the bench makes or drops; nothing else is touched.
const Prefix = "fleetbench_"

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "prepare":
		fs := flag.NewFlagSet("prepare", flag.ExitOnError)
		n := fs.Int("n", 100, "how many databases")
		_ = fs.Parse(os.Args[2:])
		err = prepare(*n)
	case "cleanup":
		err = cleanup()
	case "userstat":
		err = printUserstat()
	case "drain":
		fs := flag.NewFlagSet("drain", flag.ExitOnError)
		limit := fs.Duration("timeout", 2*time.Minute, "how long to wait")
		_ = fs.Parse(os.Args[2:])
		err = drain(*limit)
	case "run":
		err = runCommand(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-fleet:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchfleet prepare -n N | run -name NAME -file FLEET.yaml ... | cleanup")
	os.Exit(2)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// openDB reaches the MariaDB the demo uses (MYSQL_HOST, MYSQL_PORT, MYSQL_ROOT_USER,
// MYSQL_ROOT_PASSWORD), on one connection: the bench's own statements stay countable.
func openDB(multi bool) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = envOr("MYSQL_HOST", "127.0.0.1") + ":" + envOr("MYSQL_PORT", "3306")
	cfg.User = envOr("MYSQL_ROOT_USER", "root")
	cfg.Passwd = os.Getenv("MYSQL_ROOT_PASSWORD")
	cfg.MultiStatements = multi
	cfg.Timeout = 10 * time.Second
	cfg.ReadTimeout = time.Minute
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("no MariaDB at %s as %s: %w", cfg.Addr, cfg.User, err)
	}
	return db, nil
}

// ours lists the databases named fleetbench_%, and only those.
func ours(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'fleetbench\_%' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		if strings.HasPrefix(s, Prefix) { // LIKE is case-insensitive; be exact
			names = append(names, s)
		}
	}
	return names, rows.Err()
}

func dropOurs(ctx context.Context, db *sql.DB) (int, error) {
	names, err := ours(ctx, db)
	if err != nil {
		return 0, err
	}
	for _, s := range names {
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+s+"`"); err != nil {
			return 0, fmt.Errorf("drop %s: %w", s, err)
		}
	}
	return len(names), nil
}

// DBName is the i-th database of the fleet, from 1.
func DBName(i int) string { return fmt.Sprintf("%s%04d", Prefix, i) }

// prepare drops what a previous run left and makes n small databases: three tables of a
// few rows each, of varied types, each database in one batch of statements.
func prepare(n int) error {
	if n < 1 || n > 9999 {
		return fmt.Errorf("-n %d: between 1 and 9999", n)
	}
	db, err := openDB(true)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	began := time.Now()
	dropped, err := dropOurs(ctx, db)
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		d := "`" + DBName(i) + "`"
		batch := fmt.Sprintf(`CREATE DATABASE %[1]s CHARACTER SET utf8mb4;
CREATE TABLE %[1]s.customers (id INT UNSIGNED PRIMARY KEY, name VARCHAR(100) NOT NULL, country CHAR(2), created DATETIME(3) NOT NULL);
CREATE TABLE %[1]s.orders (id BIGINT UNSIGNED PRIMARY KEY, customer_id INT UNSIGNED NOT NULL, total DECIMAL(12,2) NOT NULL,
  status ENUM('new','paid','shipped') NOT NULL, placed DATE NOT NULL, meta JSON, KEY (customer_id));
CREATE TABLE %[1]s.notes (id INT PRIMARY KEY, body TEXT, blob_part VARBINARY(64));
INSERT INTO %[1]s.customers VALUES (1,'Ada','GB','2019-01-01 10:00:00.125'),(2,'Grace','US','2019-02-01 11:00:00'),(3,'Linus','FI','2019-03-01 12:00:00'),(4,'Émilie','FR','2019-04-01 13:00:00'),(%[2]d,'db %[2]d',NULL,'2020-01-01');
INSERT INTO %[1]s.orders VALUES (1,1,10.50,'new','2019-05-01',NULL),(2,1,99.99,'paid','2019-05-02','{"gift": true}'),(3,2,5.00,'shipped','2019-05-03',NULL),(4,3,0.01,'paid','2019-05-04','{"n": %[2]d}'),(5,4,1234.56,'new','2019-05-05',NULL);
INSERT INTO %[1]s.notes VALUES (1,'first',NULL),(2,REPEAT('x',200),UNHEX('00FF00FF')),(3,NULL,'');`, d, 100+i)
		if _, err := db.ExecContext(ctx, batch); err != nil {
			return fmt.Errorf("create %s: %w", DBName(i), err)
		}
	}
	fmt.Printf("made %d databases %s..%s (3 tables, 13 rows each) in %.1f s; dropped %d left over\n",
		n, DBName(1), DBName(n), time.Since(began).Seconds(), dropped)
	return nil
}

func cleanup() error {
	db, err := openDB(false)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := dropOurs(context.Background(), db)
	if err != nil {
		return err
	}
	fmt.Printf("dropped %d fleetbench_ database(s) left\n", n)
	return nil
}

func printUserstat() error {
	db, err := openDB(false)
	if err != nil {
		return err
	}
	defer db.Close()
	var v string
	if err := db.QueryRow("SELECT @@GLOBAL.userstat").Scan(&v); err != nil {
		return err
	}
	fmt.Println(v)
	return nil
}
