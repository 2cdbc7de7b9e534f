package activities_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/activities/notify"
	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/testservices"
	"github.com/dataretire/retire/workflows"
)

// s3Location is an s3://bucket/key URL as records and notices print it.
var s3Location = regexp.MustCompile(`s3://[^\s|)"` + "`" + `]+`)

// An auditor follows the record: every location that record.md, record.json and the owners'
// notices print resolves with a plain S3 GET, by a client that knows nothing of retire's
// store profiles, against a store whose profile has a prefix. The bytes freed are the
// files measured after the export, and the record says so.
func TestEveryPrintedLocationResolvesWithAPlainGET(t *testing.T) {
	root := testservices.MariaDB(t)
	s3 := testservices.MinIO(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	db := "rt_loc_" + hex.EncodeToString(b)
	t.Cleanup(func() { _, _ = root.Exec("DROP DATABASE IF EXISTS " + db) })
	for _, stmt := range []string{
		"CREATE DATABASE " + db,
		"CREATE TABLE " + db + ".orders (id INT PRIMARY KEY, note VARCHAR(200)) ENGINE=InnoDB",
		"INSERT INTO " + db + ".orders SELECT seq, REPEAT('o', 150) FROM " + db + ".seq_1_to_20000",
		"CREATE TABLE " + db + ".customers (id INT PRIMARY KEY, name VARCHAR(50)) ENGINE=InnoDB",
		"INSERT INTO " + db + ".customers VALUES (1, 'ada'), (2, 'grace')",
	} {
		_, err := root.Exec(stmt)
		require.NoError(t, err, stmt)
	}

	t.Setenv("RT_LOC_S3_ACCESS", s3.AccessKey)
	t.Setenv("RT_LOC_S3_SECRET", s3.SecretKey)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`connections:
  local: {engine: mysql, host: 127.0.0.1, port: 3306, user: root}
stores:
  test: {endpoint: %q, bucket: retire-loc, prefix: /retire/archive/, access_key_env: RT_LOC_S3_ACCESS, secret_key_env: RT_LOC_S3_SECRET}
`, s3.Endpoint)))
	require.NoError(t, err)
	acts := activities.New(cfg, activities.DevPolicy)
	run, _ := activities.ActivityRunner(t, acts)
	tgt := activities.Target{Connection: "local", Object: db}
	var plan activities.Plan
	run(acts.Plan, activities.PlanInput{Target: tgt, Strategy: engine.StrategyRevoke, SampleWindow: time.Second, ObserveWindow: time.Second}, &plan)
	var snap engine.AccessSnapshot
	run(acts.SnapshotAccess, activities.AccessInput{Target: tgt, Strategy: engine.StrategyRevoke}, &snap)
	path := "local/" + db + "/run-1/"
	var res activities.ArchiveResult
	run(acts.Archive, activities.ArchiveInput{Target: tgt, Store: "test", Path: path, Snapshot: snap}, &res)
	require.Equal(t, "s3://retire-loc/retire/archive/"+path, res.URL)
	require.Equal(t, "s3://retire-loc/retire/archive/"+path+"manifest.json", res.ManifestURL)
	require.Equal(t, "retire/archive/"+path+"manifest.json", res.ManifestKey, "the key in the bucket")
	require.Equal(t, path, res.Path, "what `retire restore` takes stays the path in the store")
	require.Contains(t, res.OnDiskMethod, "file sizes of 2 InnoDB tablespaces")
	require.Equal(t, plan.Inventory.TotalBytes, res.OnDiskBytes, "nothing changed between the plan and the export")
	require.Greater(t, res.OnDiskBytes, int64(2<<20), "20,000 rows of 150 bytes are in the files")

	var v activities.Verification
	run(acts.VerifyArchive, activities.VerifyInput{Store: "test", Path: path, ManifestSHA256: res.ManifestSHA256}, &v)
	require.True(t, v.OK, "problems: %v", v.Problems)
	run(acts.Drop, activities.DropInput{Target: tgt, Snapshot: snap, Archive: res}, nil)
	var gone engine.GoneReport
	run(acts.VerifyGone, activities.GoneInput{Target: tgt, Snapshot: snap, BytesFreed: plan.Inventory.TotalBytes, Archive: &res}, &gone)
	require.True(t, gone.Gone)
	require.Equal(t, res.OnDiskBytes, gone.BytesFreed)
	require.Equal(t, res.OnDiskMethod+", measured when the archive was written, with access cut", gone.BytesFreedMethod)
	var planOnly engine.GoneReport
	run(acts.VerifyGone, activities.GoneInput{Target: tgt, Snapshot: snap, BytesFreed: 12345}, &planOnly)
	require.Equal(t, int64(12345), planOnly.BytesFreed, "without the archive's measurement the plan's count stands")
	require.Contains(t, planOnly.BytesFreedMethod, "the plan's inventory")

	// The record, as the workflow renders and writes it.
	st := workflows.Status{WorkflowID: "retire:local:" + db, RunID: "run-1", Phase: workflows.PhaseDone, Outcome: "retired",
		Request: workflows.Request{Connection: "local", Object: db, Reason: workflows.ReasonMigration, Requester: "dba", Owners: []string{"alice"}},
		Plan:    &plan, Archive: &res, Verification: &v, Gone: &gone}
	md := workflows.Markdown(st)
	require.Contains(t, md, "| Location | "+res.URL+" (store test) |")
	require.Contains(t, md, fmt.Sprintf("(%d bytes), counted from file sizes of 2 InnoDB tablespaces", gone.BytesFreed))
	recJSON, err := json.Marshal(st)
	require.NoError(t, err)
	var loc activities.RecordLocation
	run(acts.WriteRecord, activities.RecordInput{Store: "test", Path: path, JSON: recJSON, Markdown: md}, &loc)
	require.Equal(t, activities.RecordLocation{
		JSONKey: "retire/archive/" + path + "record.json", MarkdownKey: "retire/archive/" + path + "record.md",
		JSONURL: res.URL + "record.json", MarkdownURL: res.URL + "record.md",
	}, loc)

	// The owners' notices: dropped, and a failure once the drop had begun.
	ev := notify.Event{WorkflowID: st.WorkflowID, RunID: st.RunID, Connection: "local", Object: db, Reason: "migration",
		Requester: "dba", Owners: []string{"alice"}, At: time.Now(), ArchivePath: res.Path, ArchiveURL: res.URL, BytesFreed: gone.BytesFreed}
	var notices []string
	for _, e := range []notify.Event{
		func() notify.Event { e := ev; e.Kind = notify.Dropped; return e }(),
		func() notify.Event {
			e := ev
			e.Kind, e.DropStarted, e.Outcome = notify.Aborted, true, "failed: gone check"
			return e
		}(),
	} {
		m, err := notify.Render(e, "")
		require.NoError(t, err)
		require.Contains(t, m.Text, res.URL, e.Kind)
		require.Contains(t, m.Text, "retire restore "+res.Path, "restore takes the path in the store")
		notices = append(notices, m.Subject+"\n"+m.Text)
	}

	// Follow every location printed, with a client that knows only the bucket and the key.
	plain, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	require.NoError(t, err)
	getURL := func(u string) []byte {
		t.Helper()
		bucket, key, err := archive.ParseURL(u)
		require.NoError(t, err, u)
		return plainGet(t, plain, bucket, key)
	}
	printed := map[string][]string{"record.md": s3Location.FindAllString(md, -1)}
	for i, n := range notices {
		printed[fmt.Sprintf("notice %d", i)] = s3Location.FindAllString(n, -1)
	}
	var record map[string]any
	require.NoError(t, json.Unmarshal(recJSON, &record))
	printed["record.json"] = s3Location.FindAllString(string(recJSON), -1)
	printed["record location"] = []string{loc.JSONURL, loc.MarkdownURL}
	for where, urls := range printed {
		require.NotEmpty(t, urls, "%s prints no location", where)
		for _, u := range urls {
			if strings.HasSuffix(u, "/") {
				// A folder: the manifest and the record are in it.
				sum := sha256.Sum256(getURL(u + archive.ManifestName))
				require.Equal(t, res.ManifestSHA256, hex.EncodeToString(sum[:]), "%s: %s", where, u)
				require.Equal(t, recJSON, getURL(u+archive.RecordJSONName), "%s: %s", where, u)
				require.Equal(t, md, string(getURL(u+archive.RecordMarkdownName)), "%s: %s", where, u)
				continue
			}
			require.NotEmpty(t, getURL(u), "%s: %s", where, u)
		}
	}
	sum := sha256.Sum256(getURL(res.ManifestURL))
	require.Equal(t, res.ManifestSHA256, hex.EncodeToString(sum[:]))
	// The keys the record prints are keys in the bucket it names.
	for _, k := range []string{res.ManifestKey, loc.JSONKey, loc.MarkdownKey} {
		require.NotEmpty(t, plainGet(t, plain, res.Bucket, k), k)
	}
}

func plainGet(t *testing.T, c *minio.Client, bucket, key string) []byte {
	t.Helper()
	obj, err := c.GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err, "s3://%s/%s", bucket, key)
	defer obj.Close()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, obj)
	require.NoError(t, err, "GET s3://%s/%s", bucket, key)
	return buf.Bytes()
}
