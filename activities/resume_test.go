package activities

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/uber-go/tally/v4"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.temporal.io/sdk/testsuite"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/metrics"
	"github.com/dataretire/retire/testservices"
)

// A retried Archive that resumes from a checkpoint keeps the finished table and writes the
// rest; retire_archived_rows and retire_archived_bytes count what this attempt wrote, so
// that a worker's counters summed over attempts do not count a table twice.
func TestArchiveResumedFromACheckpointCountsOnlyWhatItWrote(t *testing.T) {
	root := testservices.MariaDB(t)
	s3 := testservices.MinIO(t)
	db := uniqueName("rt_resume_act_")
	for _, q := range []string{
		"CREATE DATABASE " + db,
		fmt.Sprintf("CREATE TABLE %s.kept (id INT PRIMARY KEY, note VARCHAR(20))", db),
		fmt.Sprintf("INSERT INTO %s.kept SELECT seq, CONCAT('kept ', seq) FROM %s.seq_1_to_1000", db, db),
		fmt.Sprintf("CREATE TABLE %s.rewritten (id INT PRIMARY KEY, note VARCHAR(20))", db),
		fmt.Sprintf("INSERT INTO %s.rewritten SELECT seq, CONCAT('again ', seq) FROM %s.seq_1_to_300", db, db),
	} {
		_, err := root.Exec(q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() { _, _ = root.Exec("DROP DATABASE IF EXISTS " + db) })

	acts := New(localConfig(t, s3), DevPolicy)
	tgt := Target{Connection: "local", Object: db}
	path := "local/" + db + "/run-1/"
	archiveOnce := func(checkpoint *ArchiveProgress) (ArchiveResult, tally.Snapshot) {
		t.Helper()
		scope := tally.NewTestScope("", nil)
		var ts testsuite.WorkflowTestSuite
		ts.SetMetricsHandler(sdktally.NewMetricsHandler(scope))
		env := ts.NewTestActivityEnvironment()
		env.RegisterActivity(acts)
		if checkpoint != nil {
			env.SetHeartbeatDetails(*checkpoint)
		}
		var snap engine.AccessSnapshot
		v, err := env.ExecuteActivity(acts.SnapshotAccess, AccessInput{Target: tgt, Strategy: engine.StrategyRevoke})
		require.NoError(t, err)
		require.NoError(t, v.Get(&snap))
		v, err = env.ExecuteActivity(acts.Archive, ArchiveInput{Target: tgt, Store: "test", Path: path, Snapshot: snap})
		require.NoError(t, err)
		var res ArchiveResult
		require.NoError(t, v.Get(&res))
		return res, scope.Snapshot()
	}
	counter := func(s tally.Snapshot, name string) int64 {
		var sum int64
		for _, c := range s.Counters() {
			if c.Name() == name {
				sum += c.Value()
			}
		}
		return sum
	}

	first, s := archiveOnce(nil)
	require.EqualValues(t, 1300, first.Rows)
	require.EqualValues(t, 1300, counter(s, metrics.ArchivedRows))
	require.Equal(t, first.Bytes, counter(s, metrics.ArchivedBytes))

	// The checkpoint an attempt that died after finishing `kept` would have left behind.
	store, err := acts.store(t.Context(), "test")
	require.NoError(t, err)
	m, _, err := archive.ReadManifest(t.Context(), store, path)
	require.NoError(t, err)
	var kept archive.TableResult
	for _, tr := range m.Tables {
		if tr.Name == "kept" {
			kept = tr
		}
	}
	require.EqualValues(t, 1000, kept.Rows)
	keptBytes := kept.DDL.Bytes
	for _, f := range kept.Files {
		keptBytes += f.Bytes
	}

	second, s := archiveOnce(&ArchiveProgress{ArchiveCounts: ArchiveCounts{TablesDone: 1, TablesTotal: 2, Rows: kept.Rows}, Done: []archive.TableResult{kept}})
	require.EqualValues(t, 1300, second.Rows, "the resumed archive holds every row")
	again, _, err := archive.ReadManifest(t.Context(), store, path)
	require.NoError(t, err)
	require.Equal(t, m.Tables, again.Tables, "the same tables: every data file and DDL, with its size and SHA-256")
	require.Equal(t, m.Files, again.Files, "the same object DDL files")
	// created_at differs, but is written at a fixed width: the totals, manifest included,
	// are the same too.
	require.Equal(t, first.Bytes, second.Bytes, "the same archive, byte for byte in size")
	require.EqualValues(t, 300, counter(s, metrics.ArchivedRows), "rows written by the resumed attempt only")
	require.Equal(t, first.Bytes-keptBytes, counter(s, metrics.ArchivedBytes), "bytes written by the resumed attempt only")

	var v Verification
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	got, err := env.ExecuteActivity(acts.VerifyArchive, VerifyInput{Store: "test", Path: path, ManifestSHA256: second.ManifestSHA256})
	require.NoError(t, err)
	require.NoError(t, got.Get(&v))
	require.True(t, v.OK, "problems: %v", v.Problems)
	require.EqualValues(t, 1300, v.Rows)
}
