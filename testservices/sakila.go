package testservices

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SakilaDir is the fidelity fixture, in ../shared beside the repository (or $RETIRE_SAKILA_DIR).
func SakilaDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("RETIRE_SAKILA_DIR")
	if dir == "" {
		dir = filepath.Join(ModuleRoot(t), "..", "shared", "testdata", "sakila")
	}
	if _, err := os.Stat(filepath.Join(dir, "sakila-schema.sql")); err != nil {
		t.Fatalf("the sakila fixture is not at %s (../shared/testdata/sakila beside the repository, or set RETIRE_SAKILA_DIR): %v", dir, err)
	}
	return dir
}

// LoadSakila loads the Sakila fixture as database `name` with the mariadb client (the files
// use DELIMITER, which only the client understands), and drops it when the test ends.
func LoadSakila(t testing.TB, root *sql.DB, name string) {
	t.Helper()
	dir := SakilaDir(t)
	schema, err := os.ReadFile(filepath.Join(dir, "sakila-schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "sakila-data.sql"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("sakila;", name+";", "sakila.", name+".").Replace(string(schema))
	d := strings.Replace(string(data), "USE sakila;", "USE "+name+";", 1)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = root.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
	})
	RunClient(t, s+"\n"+d)
}

// RunClient pipes SQL to the mariadb (or mysql) command-line client as root on 127.0.0.1:3306.
func RunClient(t testing.TB, script string) {
	t.Helper()
	client, err := exec.LookPath("mariadb")
	if err != nil {
		if client, err = exec.LookPath("mysql"); err != nil {
			t.Fatal("no mariadb or mysql client on PATH: apt-get install mariadb-client")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, client, "-uroot", "-h127.0.0.1", "-P3306", "--batch", "--default-character-set=utf8mb4")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", client, err, out)
	}
}
