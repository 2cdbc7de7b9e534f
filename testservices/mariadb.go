package testservices

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the driver the adapter uses
)

// MariaDBDSN is the local server every machine of this project runs; RETIRE_TEST_MYSQL_DSN
// points the tests elsewhere (e.g. a MySQL 8).
func MariaDBDSN() string {
	if dsn := os.Getenv("RETIRE_TEST_MYSQL_DSN"); dsn != "" {
		return dsn
	}
	return "root@tcp(127.0.0.1:3306)/?timeout=5s&multiStatements=false"
}

// MariaDB connects as an administrator to the local server, or fails the test with the fix.
func MariaDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", MariaDBDSN())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("MariaDB at 127.0.0.1:3306 (root, empty password) is not reachable: %v; start it with `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`, or set RETIRE_TEST_MYSQL_DSN", err)
	}
	db.SetConnMaxIdleTime(10 * time.Second)
	t.Cleanup(func() { db.Close() })
	return db
}
