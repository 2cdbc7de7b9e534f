package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/testservices"
	"github.com/dataretire/retire/workflows"
)

// The archive phase of these tests exports one table in many small chunks, one at a time,
// so that there is a middle of the export to break.
const (
	chunkedRows = 300_000
	chunkRows   = 1_000
)

// TestArchiveResumesAfterWorkerKill kills -9 the worker in the middle of a multi-chunk
// export and starts another. The retirement must finish with a verified archive that holds
// the source exactly (no chunk missing, none twice), and the new worker must say that it
// resumed from the checkpoint rather than starting over.
func TestArchiveResumesAfterWorkerKill(t *testing.T) {
	h := newChunkedHarness(t)
	db, source := h.chunkedDatabase()
	first := h.startWorker("worker-1.log")
	h.startChunkedRetirement(db)

	done := h.waitChunks(db, 3)
	require.NoError(t, first.Process.Kill()) // SIGKILL: no goodbye heartbeat, no cleanup
	_, _ = first.Process.Wait()
	t.Logf("killed the worker after %d chunks were checkpointed", done)

	second := h.startWorker("worker-2.log")
	h.waitPhase(db, "done", 5*time.Minute)
	_ = second

	resumed := regexp.MustCompile(`Resuming the archive from the last heartbeat.*"chunks_done": (\d+)`).FindStringSubmatch(h.log("worker-2.log"))
	require.NotNil(t, resumed, "the second worker did not resume the archive:\n%s", h.log("worker-2.log"))
	n, _ := strconv.Atoi(resumed[1])
	require.GreaterOrEqual(t, n, done, "resumed from fewer chunks than were checkpointed before the kill")
	h.requireArchiveHolds(db, source)
}

// TestArchiveSurvivesStoreOutage stops MinIO in the middle of the upload for longer than
// the heartbeat timeout. While it is down nothing may claim an archive; once it is back
// the retry resumes from the checkpoint and the retirement finishes with a verified
// archive that holds the source exactly.
func TestArchiveSurvivesStoreOutage(t *testing.T) {
	h := newChunkedHarness(t)
	db, source := h.chunkedDatabase()
	h.startWorker("worker.log")
	h.startChunkedRetirement(db)

	h.waitChunks(db, 3)
	h.s3.Stop()
	time.Sleep(15 * time.Second)
	st := h.status(db)
	require.Equal(t, "archive", st.Phase, "the retirement moved on while the store was down")
	require.Nil(t, st.Archive, "an archive was reported written while the store was down")
	require.Nil(t, st.Verification, "an archive was reported verified while the store was down")
	// The workflow knows how far the export got (the activity reports it by signal), and the
	// Temporal UI's current details show it.
	require.NotNil(t, st.Archiving, "the workflow never heard of the export's progress")
	require.GreaterOrEqual(t, st.Archiving.ChunksDone, 3)
	require.Greater(t, st.Archiving.ChunksTotal, st.Archiving.ChunksDone)
	require.Regexp(t, fmt.Sprintf(`\| chunks \| \d+ of %d \|`, st.Archiving.ChunksTotal), h.currentDetails(db))
	for _, p := range st.PendingActivities {
		t.Logf("during the outage: %s attempt %d, last failure %q", p.Type, p.Attempt, p.LastFailure)
	}
	h.s3.Start()

	h.waitPhase(db, "done", 5*time.Minute)
	h.requireArchiveHolds(db, source)
	require.Contains(t, h.log("worker.log"), "Resuming the archive from the last heartbeat", "the export started over instead of resuming")
	// Its history, with the progress signals among the retried attempts, replays.
	history := h.history(workflows.WorkflowID("local", db))
	require.Contains(t, string(history), activities.SignalArchiveProgress)
	h.requireReplays(history)
	if dest := os.Getenv("RETIRE_SAVE_OUTAGE_HISTORY"); dest != "" {
		require.NoError(t, os.WriteFile(dest, history, 0o644))
	}
}

// newChunkedHarness starts the services and writes a config whose archive is cut into
// small chunks exported one at a time. The worker connects as root (these tests are about
// the archive, not privileges).
func newChunkedHarness(t *testing.T) *harness {
	h := &harness{t: t, bin: buildBinaries(t), dir: t.TempDir()}
	h.temporal = testservices.Temporal(t)
	h.s3 = testservices.MinIO(t)
	h.db = testservices.MariaDB(t)
	h.cfg = filepath.Join(h.dir, "config.yaml")
	require.NoError(t, os.WriteFile(h.cfg, []byte(fmt.Sprintf(`connections:
  local:
    engine: mysql
    host: 127.0.0.1
    port: 3306
    user: root
    password_env: RT_E2E_DB_PASSWORD
    poll_interval: 100ms
    sampling: {enable: [table-counters]}
stores:
  e2e:
    endpoint: %s
    bucket: retire-e2e
    prefix: archive
    access_key_env: RT_E2E_S3_ACCESS
    secret_key_env: RT_E2E_S3_SECRET
archive:
  chunk_rows: %d
  parallel: 1
`, h.s3.Endpoint, chunkRows)), 0o600))
	h.env = append(os.Environ(), "TEMPORAL_ADDRESS="+h.temporal.Address, "TEMPORAL_NAMESPACE=default",
		"RT_E2E_DB_PASSWORD=", "RT_E2E_S3_ACCESS="+h.s3.AccessKey, "RT_E2E_S3_SECRET="+h.s3.SecretKey)
	return h
}

// chunkedDatabase makes a database whose one table splits into chunkedRows/chunkRows
// chunks, and returns its name and the table's CHECKSUM TABLE.
func (h *harness) chunkedDatabase() (string, string) {
	db := "rt_e2e_chunked_" + randomHex(4)
	h.exec("CREATE DATABASE " + db)
	h.t.Cleanup(func() { h.exec("DROP DATABASE IF EXISTS " + db) })
	h.exec(fmt.Sprintf("CREATE TABLE %s.events (id BIGINT UNSIGNED PRIMARY KEY, kind VARCHAR(16), body VARCHAR(200), at DATETIME(6), amount DECIMAL(12,2))", db))
	h.exec(fmt.Sprintf(`INSERT INTO %s.events SELECT seq, ELT(1 + seq %% 4, 'open', 'pay', 'ship', 'close'),
		IF(seq %% 11 = 0, NULL, CONCAT(SHA2(seq, 256), ' ', MD5(seq))), TIMESTAMP('2021-03-01') + INTERVAL seq * 7 SECOND + INTERVAL seq %% 1000 MICROSECOND,
		(seq %% 100000) / 100 FROM %s.seq_1_to_%d`, db, db, chunkedRows))
	return db, h.checksum(db, "events")
}

func (h *harness) checksum(db, table string) string {
	var name string
	var sum *string
	require.NoError(h.t, h.db.QueryRow(fmt.Sprintf("CHECKSUM TABLE %s.%s", db, table)).Scan(&name, &sum))
	require.NotNil(h.t, sum, "CHECKSUM TABLE %s.%s: table missing", db, table)
	return *sum
}

func (h *harness) startChunkedRetirement(db string) {
	h.retire("start", "local", db, "--reason", "decommission", "--owner", "alice",
		"--requester", "dba", "--sample", "1s", "--observe", "2s")
	h.waitPhase(db, "observe", 2*time.Minute)
	h.retire("approve", "local", db, "--as", "alice")
}

// waitChunks waits until the archive activity has checkpointed at least n chunks, as the
// server has them in its last heartbeat, and returns how many it has.
func (h *harness) waitChunks(db string, n int) int {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		st := h.status(db)
		for _, p := range st.PendingActivities {
			var hb struct {
				ChunksDone int               `json:"chunks_done"`
				DoneChunks []json.RawMessage `json:"done_chunks"`
			}
			if p.Type == "Archive" && json.Unmarshal(p.Heartbeat, &hb) == nil && len(hb.DoneChunks) >= n {
				return len(hb.DoneChunks)
			}
		}
		require.NotEqual(h.t, "done", st.Phase, "the archive finished before %d chunks were seen: make the table bigger", n)
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("the archive never checkpointed %d chunks", n)
	return 0
}

type statusJSON struct {
	Phase        string          `json:"phase"`
	Archive      json.RawMessage `json:"archive"`
	Verification json.RawMessage `json:"verification"`
	Archiving    *struct {
		ChunksDone  int `json:"chunks_done"`
		ChunksTotal int `json:"chunks_total"`
	} `json:"archiving"`
	PendingActivities []struct {
		Type        string          `json:"type"`
		Attempt     int             `json:"attempt"`
		LastFailure string          `json:"last_failure"`
		Heartbeat   json.RawMessage `json:"heartbeat"`
	} `json:"pending_activities"`
}

func (h *harness) status(db string) statusJSON {
	var st statusJSON
	out, err := h.retireErr("status", "local", db, "-o", "json")
	if err == nil {
		require.NoError(h.t, json.Unmarshal([]byte(out), &st), out)
	}
	return st
}

// currentDetails is the markdown the Temporal UI shows at the top of the run.
func (h *harness) currentDetails(db string) string {
	c, err := client.Dial(client.Options{HostPort: h.temporal.Address})
	require.NoError(h.t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(ctx, workflows.WorkflowID("local", db), "", "__temporal_workflow_metadata")
	require.NoError(h.t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(h.t, v.Get(&md))
	return md.GetCurrentDetails()
}

// requireArchiveHolds checks the finished retirement's archive: it verifies, the store
// holds exactly the files of the manifest (nothing left over from the broken attempt), and
// a restore of it has the source's rows and CHECKSUM TABLE.
func (h *harness) requireArchiveHolds(db, sourceChecksum string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var st struct {
		Archive struct {
			Path string `json:"path"`
		} `json:"archive"`
	}
	require.NoError(h.t, json.Unmarshal([]byte(h.retire("status", "local", db, "-o", "json")), &st))
	require.NotEmpty(h.t, st.Archive.Path)
	store, err := archive.NewStore(ctx, archive.StoreConfig{Endpoint: h.s3.Endpoint, AccessKey: h.s3.AccessKey, SecretKey: h.s3.SecretKey, Bucket: "retire-e2e", Prefix: "archive"})
	require.NoError(h.t, err)
	v, err := archive.Verify(ctx, store, st.Archive.Path)
	require.NoError(h.t, err)
	require.True(h.t, v.OK, "archive problems: %v", v.Problems)
	require.EqualValues(h.t, chunkedRows, v.Rows)
	objects, err := store.List(ctx, st.Archive.Path)
	require.NoError(h.t, err)
	var archived []string
	for _, o := range objects {
		if base := path.Base(o.Key); base != "record.json" && base != "record.md" { // the retirement record sits beside the archive
			archived = append(archived, o.Key)
		}
	}
	require.Len(h.t, archived, int(v.Files), "the store holds objects the manifest does not list: %v", archived)

	restored := db + "_back"
	h.t.Cleanup(func() { h.exec("DROP DATABASE IF EXISTS " + restored) })
	h.retire("restore", "--config", h.cfg, "--store", "e2e", st.Archive.Path, "--connection", "local", "--into", restored)
	var rows int64
	require.NoError(h.t, h.db.QueryRow("SELECT COUNT(*) FROM "+restored+".events").Scan(&rows))
	require.EqualValues(h.t, chunkedRows, rows)
	require.Equal(h.t, sourceChecksum, h.checksum(restored, "events"), "the restored table differs from the source")
}

func (h *harness) startWorker(logName string) *exec.Cmd {
	logFile, err := os.Create(filepath.Join(h.dir, logName))
	require.NoError(h.t, err)
	w := exec.Command(filepath.Join(h.bin, "retire-worker"), "--dev", "--config", h.cfg, "--listen", "127.0.0.1:0")
	w.Env, w.Stdout, w.Stderr = h.env, logFile, logFile
	require.NoError(h.t, w.Start())
	h.t.Cleanup(func() { _ = w.Process.Kill(); _, _ = w.Process.Wait(); logFile.Close() })
	return w
}

func (h *harness) log(name string) string {
	b, err := os.ReadFile(filepath.Join(h.dir, name))
	require.NoError(h.t, err)
	return string(b)
}
