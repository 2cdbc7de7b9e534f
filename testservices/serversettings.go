package testservices

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Tests of usage evidence change server-wide settings: each puts back what it found, and
// `make test` runs one package at a time so that no other package sees them changed.

var plainNumber = regexp.MustCompile(`^[0-9]+$`)

// SetGlobal sets a global variable of the server for the test and puts it back afterwards.
func SetGlobal(t testing.TB, root *sql.DB, name, value string) {
	t.Helper()
	var before sql.NullString
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := root.QueryRowContext(ctx, "SELECT @@global."+name).Scan(&before); err != nil {
		t.Fatalf("read @@global.%s: %v", name, err)
	}
	set := func(ctx context.Context, v string) error {
		lit := "'" + strings.ReplaceAll(v, "'", "''") + "'"
		if plainNumber.MatchString(v) || strings.EqualFold(v, "ON") || strings.EqualFold(v, "OFF") {
			lit = v // booleans and numbers are not strings
		}
		_, err := root.ExecContext(ctx, fmt.Sprintf("SET GLOBAL %s = %s", name, lit))
		return err
	}
	if err := set(ctx, value); err != nil {
		t.Fatalf("SET GLOBAL %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := set(ctx, before.String); err != nil {
			t.Errorf("put %s back to %q: %v", name, before.String, err)
		}
	})
}

// EnsurePlugin installs a plugin the server has in its plugin_dir, unless it is active. It
// is never uninstalled: another test may be using it.
func EnsurePlugin(t testing.TB, root *sql.DB, name, soname string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int
	if err := root.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = ? AND PLUGIN_STATUS = 'ACTIVE'", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		if _, err := root.ExecContext(ctx, fmt.Sprintf("INSTALL PLUGIN IF NOT EXISTS %s SONAME '%s'", name, soname)); err != nil {
			t.Fatalf("install plugin %s: %v", name, err)
		}
	}
}

// AuditLog has MariaDB's server_audit log connections, statements and tables to a file of
// the test's own for the test, and returns its path.
func AuditLog(t testing.TB, root *sql.DB) string {
	t.Helper()
	EnsurePlugin(t, root, "SERVER_AUDIT", "server_audit")
	dir, err := os.MkdirTemp("", "rt_audit")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil { // the server writes it as its own user
		t.Fatal(err)
	}
	path := filepath.Join(dir, "server_audit.log")
	SetGlobal(t, root, "server_audit_file_path", path)
	SetGlobal(t, root, "server_audit_events", "CONNECT,QUERY,TABLE")
	SetGlobal(t, root, "server_audit_logging", "ON")
	return path
}
