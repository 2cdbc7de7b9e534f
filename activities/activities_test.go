package activities

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/testservices"
)

// The activities run for real here, against the machine's MariaDB and a real MinIO, on a
// copy of sakila: archive, verify, drop, verify gone. Only the workflow is left out.
func TestArchiveVerifyDropVerifyGoneOnSakila(t *testing.T) {
	root := testservices.MariaDB(t)
	s3 := testservices.MinIO(t)
	db := uniqueName("rt_sakila_act_")
	testservices.LoadSakila(t, root, db)

	cfg := localConfig(t, s3)
	acts := New(cfg, DevPolicy)
	run, env := activityRunner(t, acts)
	tgt := Target{Connection: "local", Object: db}

	var plan Plan
	run(acts.Plan, PlanInput{Target: tgt, Strategy: engine.StrategyRevoke, SampleWindow: 1e9, ObserveWindow: 1e9}, &plan)
	require.Len(t, plan.Inventory.Tables, 16)
	require.Equal(t, "test", plan.Store, "the only store is the default")

	var snap engine.AccessSnapshot
	run(acts.SnapshotAccess, AccessInput{Target: tgt, Strategy: engine.StrategyRevoke}, &snap)

	path := "local/" + db + "/run-1/"
	var res ArchiveResult
	run(acts.Archive, ArchiveInput{Target: tgt, Store: "test", Path: path, Snapshot: snap}, &res)
	require.Equal(t, 16, res.Tables)
	require.Equal(t, plan.Inventory.TotalRows, res.Rows, "every row of the inventory is in the archive")

	var v Verification
	run(acts.VerifyArchive, VerifyInput{Store: "test", Path: path, ManifestSHA256: res.ManifestSHA256}, &v)
	require.True(t, v.OK, "problems: %v", v.Problems)
	require.EqualValues(t, plan.Inventory.TotalRows, v.Rows)

	store, err := acts.store(t.Context(), "test")
	require.NoError(t, err)
	m, _, err := archive.ReadManifest(t.Context(), store, path)
	require.NoError(t, err)
	perTable := map[string]int64{}
	for _, tr := range m.Tables {
		perTable[tr.Name] = tr.Rows
	}
	for _, tbl := range plan.Inventory.Tables {
		require.Equal(t, tbl.Rows, perTable[tbl.Name], tbl.Name)
	}

	// An independent reader opens the archive where it lies: DuckDB reads every table.
	var paymentSum string
	require.NoError(t, root.QueryRow("SELECT CAST(SUM(amount) AS CHAR) FROM "+db+".payment").Scan(&paymentSum))
	readWithDuckDB(t, store, path, m, paymentSum)

	// The archive restores, under another name, into identical tables (CHECKSUM TABLE) with
	// the same views, routines and triggers.
	ad, err := Connect(cfg, "local")
	require.NoError(t, err)
	loader := ad.(engine.Loader)
	copyName := db + "_r"
	t.Cleanup(func() { _ = loader.DropTarget(context.Background(), copyName) })
	rr, err := archive.Restore(t.Context(), store, path, loader, copyName, archive.RestoreOptions{})
	require.NoError(t, err)
	require.Equal(t, 16, rr.Tables)
	require.Equal(t, plan.Inventory.TotalRows, rr.Rows)
	var names []string
	for _, tbl := range plan.Inventory.Tables {
		names = append(names, tbl.Name)
	}
	want, err := loader.Checksums(t.Context(), db, names)
	require.NoError(t, err)
	got, err := loader.Checksums(t.Context(), copyName, names)
	require.NoError(t, err)
	require.Equal(t, want, got, "restored tables differ from the source")
	restored, err := ad.Inventory(t.Context(), copyName)
	require.NoError(t, err)
	require.Equal(t, plan.Inventory.Views, restored.Views)
	require.Equal(t, plan.Inventory.Routines, restored.Routines)
	require.Equal(t, plan.Inventory.Triggers, restored.Triggers)
	for _, obj := range [][2]string{{"TRIGGER", "ins_film"}, {"VIEW", "film_list"}, {"PROCEDURE", "film_in_stock"}, {"FUNCTION", "inventory_in_stock"}} {
		require.Equal(t, showCreate(t, root, obj[0], db, obj[1]), strings.ReplaceAll(showCreate(t, root, obj[0], copyName, obj[1]), copyName, db), "%s %s", obj[0], obj[1])
	}
	// Restoring into an existing database is refused.
	_, err = archive.Restore(t.Context(), store, path, loader, copyName, archive.RestoreOptions{})
	require.ErrorIs(t, err, engine.ErrRefused)

	// The verify-restore gate: restore into a scratch database, compare, drop the scratch.
	var check RestoreCheck
	run(acts.TestRestore, RestoreTestInput{Target: tgt, Store: "test", Path: path, Snapshot: snap}, &check)
	require.True(t, check.OK, "problems: %v", check.Problems)
	require.Equal(t, 16, check.Tables)
	var scratch int
	require.NoError(t, root.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", check.Scratch).Scan(&scratch))
	require.Zero(t, scratch, "the scratch database was left behind")

	// The drop re-reads the manifest: one that is not the verified one stops it.
	forged := res
	forged.ManifestSHA256 = "0000"
	_, err = env.ExecuteActivity(acts.Drop, DropInput{Target: tgt, Snapshot: snap, Archive: forged})
	require.ErrorContains(t, err, "changed since it was verified")
	var still int
	require.NoError(t, root.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db).Scan(&still))
	require.Equal(t, 1, still, "the database was dropped despite the failed gate")

	run(acts.Drop, DropInput{Target: tgt, Snapshot: snap, Archive: res}, nil)
	var gone engine.GoneReport
	run(acts.VerifyGone, GoneInput{Target: tgt, Snapshot: snap, BytesFreed: plan.Inventory.TotalBytes}, &gone)
	require.True(t, gone.Gone, "remaining: %v", gone.Remaining)
	require.Equal(t, plan.Inventory.TotalBytes, gone.BytesFreed)
	// Dropping again is not an error: already gone counts as done.
	run(acts.Drop, DropInput{Target: tgt, Snapshot: snap, Archive: res}, nil)
}

func TestPlanRefusesShortWindowsOnAProductionWorker(t *testing.T) {
	cfg, err := config.Parse([]byte("connections:\n  local: {engine: mysql, host: 127.0.0.1, user: root}\nstores:\n  s: {endpoint: x, bucket: b}\n"))
	require.NoError(t, err)
	acts := New(cfg, ProductionPolicy)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	_, err = env.ExecuteActivity(acts.Plan, PlanInput{Target: Target{Connection: "local", Object: "shop"}, SampleWindow: 3600e9, ObserveWindow: 14 * 24 * 3600e9})
	require.ErrorContains(t, err, "shorter than this worker allows")
	_, err = env.ExecuteActivity(acts.Plan, PlanInput{Target: Target{Connection: "local", Object: "shop"}, SampleWindow: 3 * 24 * 3600e9, ObserveWindow: 2 * 24 * 3600e9})
	require.ErrorContains(t, err, "outside")
}

// A PDB has no place for the gate's scratch schema: a request for the gate is refused by
// the plan, before anything is touched, not weeks later after the archive. The profile
// points nowhere: the refusal must come before any connection.
func TestPlanRefusesTheRestoreGateForAPDB(t *testing.T) {
	t.Setenv("RT_ACT_ORA_PASSWORD", "x")
	cfg, err := config.Parse([]byte("connections:\n  cdb: {engine: oracle, host: 192.0.2.1, port: 1521, service: CDB1, user: c##retire, password_env: RT_ACT_ORA_PASSWORD}\nstores:\n  s: {endpoint: x, bucket: b}\n"))
	require.NoError(t, err)
	acts := New(cfg, DevPolicy)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	_, err = env.ExecuteActivity(acts.Plan, PlanInput{Target: Target{Connection: "cdb", Object: "pdb:SALESPDB"}, SampleWindow: 1e9, ObserveWindow: 1e9, RestoreGate: true})
	require.ErrorContains(t, err, "pluggable database")
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.True(t, app.NonRetryable(), "a refusal is final")
}

func TestPlanRefusesSystemSchemas(t *testing.T) {
	testservices.MariaDB(t)
	cfg, err := config.Parse([]byte("connections:\n  local: {engine: mysql, host: 127.0.0.1, port: 3306, user: root}\nstores:\n  s: {endpoint: x, bucket: b}\n"))
	require.NoError(t, err)
	acts := New(cfg, DevPolicy)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	for _, db := range []string{"mysql", "information_schema", "performance_schema", "sys", "MySQL"} {
		_, err = env.ExecuteActivity(acts.Plan, PlanInput{Target: Target{Connection: "local", Object: db}, SampleWindow: 1e9, ObserveWindow: 1e9})
		require.ErrorContains(t, err, "system schema", db)
	}
}

// showCreate is the definition of a view, routine or trigger as the server prints it, with
// the definer and the schema name (which differ by design) left out.
func showCreate(t *testing.T, root *sql.DB, kind, db, name string) string {
	t.Helper()
	rows, err := root.Query(fmt.Sprintf("SHOW CREATE %s `%s`.`%s`", kind, db, name))
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	require.True(t, rows.Next(), "%s %s.%s", kind, db, name)
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	require.NoError(t, rows.Scan(ptrs...))
	for i, c := range cols {
		if strings.HasPrefix(c, "Create ") || c == "SQL Original Statement" {
			return definer.ReplaceAllString(vals[i].String, "DEFINER=...")
		}
	}
	t.Fatalf("no definition column in %v", cols)
	return ""
}

var definer = regexp.MustCompile("DEFINER=`[^`]*`@`[^`]*`")

// localConfig names the machine's MariaDB as connection "local" (root) and the test's MinIO
// as the only store "test", with the keys in env vars as a worker would have them.
// uniqueName is a database name of its own for a test, so that runs never collide.
// activityRunner runs activities of acts in a test activity environment and fails the
// test on an error; out, when not nil, receives the result. The environment is returned
// too, for the activities whose errors the test looks at.
func activityRunner(t *testing.T, acts *Activities) (run func(activity, in, out any), env *testsuite.TestActivityEnvironment) {
	var ts testsuite.WorkflowTestSuite
	env = ts.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return func(activity, in, out any) {
		t.Helper()
		v, err := env.ExecuteActivity(activity, in)
		require.NoError(t, err)
		if out != nil {
			require.NoError(t, v.Get(out))
		}
	}, env
}

func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func localConfig(t *testing.T, s3 testservices.MinIOServer) *config.Config {
	t.Helper()
	t.Setenv("RT_ACT_S3_ACCESS", s3.AccessKey)
	t.Setenv("RT_ACT_S3_SECRET", s3.SecretKey)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`connections:
  local: {engine: mysql, host: 127.0.0.1, port: 3306, user: root}
stores:
  test: {endpoint: %q, bucket: retire-act, prefix: archive, access_key_env: RT_ACT_S3_ACCESS, secret_key_env: RT_ACT_S3_SECRET}
`, s3.Endpoint)))
	require.NoError(t, err)
	return cfg
}

// readWithDuckDB downloads the archive's Parquet files and has DuckDB (tools/duckdb, from
// npm) count every table and read a few known sakila values.
func readWithDuckDB(t *testing.T, store *archive.Store, path string, m archive.Manifest, paymentSum string) {
	t.Helper()
	script := filepath.Join(testservices.ModuleRoot(t), "tools", "duckdb", "query.mjs")
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules")); err != nil {
		t.Fatalf("DuckDB reader not installed: run `make tools` (npm install in tools/duckdb)")
	}
	dir := t.TempDir()
	query := func(sql string) []map[string]any {
		t.Helper()
		out, err := exec.Command("node", script, dir, sql).CombinedOutput()
		require.NoError(t, err, "%s: %s", sql, out)
		var rows []map[string]any
		require.NoError(t, json.Unmarshal(out, &rows), "%s", out)
		return rows
	}
	for _, tbl := range m.Tables {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, tbl.Name), 0o755))
		for _, f := range tbl.Files {
			rc, err := store.Get(t.Context(), path+f.Key)
			require.NoError(t, err)
			dst, err := os.Create(filepath.Join(dir, tbl.Name, filepath.Base(f.Key)))
			require.NoError(t, err)
			_, err = io.Copy(dst, rc)
			rc.Close()
			dst.Close()
			require.NoError(t, err)
		}
		rows := query(fmt.Sprintf("SELECT count(*)::BIGINT::VARCHAR AS n FROM read_parquet('$DIR/%s/*.parquet')", tbl.Name))
		require.Equal(t, fmt.Sprint(tbl.Rows), rows[0]["n"], "DuckDB row count of %s", tbl.Name)
	}
	require.Equal(t, "PENELOPE GUINESS", query("SELECT first_name || ' ' || last_name AS n FROM read_parquet('$DIR/actor/*.parquet') WHERE actor_id = 1")[0]["n"])
	require.Equal(t, "ACADEMY DINOSAUR", query("SELECT title AS n FROM read_parquet('$DIR/film/*.parquet') WHERE film_id = 1")[0]["n"])
	require.Equal(t, paymentSum, query("SELECT sum(CAST(amount AS DECIMAL(10,2)))::VARCHAR AS n FROM read_parquet('$DIR/payment/*.parquet')")[0]["n"])
}
