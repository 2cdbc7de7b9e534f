package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/testservices"
	"github.com/dataretire/retire/workflows"
)

// readCommands are the commands that only read; each takes -o json.
var readCommands = []string{"status", "list", "record", "ls", "verify"}

func TestEveryReadCommandTakesOutputJSONAndItsHelpSaysSo(t *testing.T) {
	a, _, _ := testApp(t, nil, nil)
	root := a.rootCommand()
	for _, name := range readCommands {
		cmd, _, err := root.Find([]string{name})
		require.NoError(t, err, name)
		f := cmd.Flags().Lookup("output")
		require.NotNil(t, f, "%s has no -o", name)
		assert.Equal(t, "o", f.Shorthand, name)
		assert.Equal(t, "text", f.DefValue, name)
		assert.Contains(t, cmd.Long, "-o json", "%s --help documents the JSON fields", name)
		assert.Contains(t, cmd.Example, "-o json", "%s --help has a JSON example", name)
	}
}

func TestHelpTeachesWatchAndJSON(t *testing.T) {
	a, out, errOut := testApp(t, nil, nil)
	require.Equal(t, 0, a.execute([]string{"status", "--help"}), errOut.String())
	help := out.String()
	assert.Contains(t, help, "  retire status local shop --watch ")
	assert.Contains(t, help, "  retire status local shop --watch -o json")
	assert.Contains(t, help, "  retire status local shop -o json")
	assert.Contains(t, help, "--interval duration")
	assert.Contains(t, help, `"unknown" until two heartbeats`)

	a, out, errOut = testApp(t, nil, nil)
	require.Equal(t, 0, a.execute([]string{"--help"}), errOut.String())
	assert.Contains(t, out.String(), "retire status local shop --watch")
	assert.Contains(t, out.String(), "-o json")
}

func TestRecordJSONIsTheRecord(t *testing.T) {
	rec := sampleStatus()
	rec.Phase, rec.Waiting, rec.Outcome = workflows.PhaseDone, "", "retired"
	fake := &fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, workflows.PhaseDone), result: &rec}
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"record", "local", "shop", "-o", "json"}), errOut.String())
	var got workflows.Record
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	assert.Equal(t, workflows.PhaseDone, got.Phase)
	assert.Equal(t, "retired", got.Outcome)
	assert.Equal(t, []string{"alice", "bob"}, got.Request.Owners)
	require.Len(t, got.Gates, len(rec.Gates))
	assert.Equal(t, workflows.GateSignoff, got.Gates[3].Name)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &raw))
	assert.NotContains(t, raw, "pending_activities", "the record, not the status view")

	a, out, errOut = testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"record", "local", "shop"}), errOut.String())
	assert.Equal(t, workflows.Markdown(rec), out.String(), "text stays the Markdown record")
}

func TestLsAndVerifyJSON(t *testing.T) {
	srv := testservices.MinIO(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	cfg := write("config.yaml", fmt.Sprintf(`connections:
  local: {engine: mysql, host: 127.0.0.1, user: root}
stores:
  test:
    endpoint: %s
    bucket: retire-starter
    prefix: team-a
    access_key_file: %s
    secret_key_file: %s
`, srv.Endpoint, write("access", srv.AccessKey), write("secret", srv.SecretKey)))

	ctx := t.Context()
	store, err := archive.NewStore(ctx, archive.StoreConfig{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: "retire-starter", Prefix: "team-a"})
	require.NoError(t, err)
	require.NoError(t, store.EnsureBucket(ctx))
	const path = "local/shop/run-1/"
	_, err = archive.Export(ctx, tinySource{}, store, path, "shop", archive.ExportOptions{})
	require.NoError(t, err)

	a, out, errOut := testApp(t, nil, nil)
	require.Equal(t, 0, a.execute([]string{"ls", "--config", cfg, path, "-o", "json"}), errOut.String())
	var ls lsReport
	require.NoError(t, json.Unmarshal(out.Bytes(), &ls), out.String())
	assert.Equal(t, "retire-starter", ls.Bucket)
	assert.Equal(t, path, ls.Path)
	require.NotEmpty(t, ls.Objects)
	var sum int64
	for _, o := range ls.Objects {
		assert.True(t, strings.HasPrefix(o.Key, "team-a/"+path), o.Key)
		assert.Equal(t, "s3://retire-starter/"+o.Key, o.URL)
		sum += o.Size
	}
	assert.Equal(t, sum, ls.TotalBytes)
	require.NotNil(t, ls.Manifest)
	assert.Equal(t, archive.FormatV1, ls.Manifest.Format)
	assert.Equal(t, 1, ls.Manifest.Tables)
	assert.Equal(t, int64(3), ls.Manifest.Rows)
	assert.Len(t, ls.Manifest.SHA256, 64)
	assert.Empty(t, ls.ManifestError)

	a, out, errOut = testApp(t, nil, nil)
	require.Equal(t, 0, a.execute([]string{"verify", "--config", cfg, path, "-o", "json"}), errOut.String())
	var v verifyReport
	require.NoError(t, json.Unmarshal(out.Bytes(), &v), out.String())
	assert.True(t, v.OK)
	assert.Equal(t, "s3://retire-starter/team-a/"+path, v.URL)
	assert.Equal(t, int64(1), v.Tables)
	assert.Equal(t, int64(3), v.Rows)
	assert.Equal(t, ls.Manifest.SHA256, v.ManifestSHA256)
	assert.Equal(t, []string{}, v.Problems)

	// Without its manifest the archive fails both, and both still print their JSON.
	require.NoError(t, store.Remove(ctx, path+archive.ManifestName))
	a, out, errOut = testApp(t, nil, nil)
	assert.Equal(t, 1, a.execute([]string{"verify", "--config", cfg, path, "-o", "json"}))
	assert.Contains(t, errOut.String(), "did not verify")
	v = verifyReport{}
	require.NoError(t, json.Unmarshal(out.Bytes(), &v), out.String())
	assert.False(t, v.OK)
	require.Len(t, v.Problems, 1)

	a, out, errOut = testApp(t, nil, nil)
	assert.Equal(t, 1, a.execute([]string{"ls", "--config", cfg, path, "-o", "json"}))
	assert.Contains(t, errOut.String(), "the manifest cannot be read")
	var raw map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &raw), out.String())
	assert.Contains(t, raw, "manifest")
	assert.Nil(t, raw["manifest"])
	assert.Contains(t, raw["manifest_error"], "the manifest cannot be read")
}

// tinySource is a database of one table with three rows.
type tinySource struct{}

var tinyColumns = []engine.Column{
	{Name: "id", Type: "int(11)", Kind: engine.KindInt64},
	{Name: "name", Type: "varchar(20)", Kind: engine.KindText, Nullable: true},
}

func (tinySource) Info() engine.SourceInfo {
	return engine.SourceInfo{Engine: "MariaDB", Version: "10.11.6", Charset: "utf8mb4"}
}
func (tinySource) Tables() []string { return []string{"film"} }
func (tinySource) TableDDL(context.Context, string) (string, error) {
	return "CREATE TABLE `film` (`id` int(11) NOT NULL, `name` varchar(20), PRIMARY KEY (`id`))", nil
}
func (tinySource) ObjectDDL(context.Context) (map[string]string, error) { return nil, nil }
func (tinySource) Scan(context.Context, string) (engine.Rows, error)    { return &tinyRows{}, nil }
func (tinySource) Close() error                                         { return nil }

type tinyRows struct{ i int }

func (r *tinyRows) Columns() []engine.Column { return tinyColumns }
func (r *tinyRows) Next(dst [][]byte) bool {
	if r.i == 3 {
		return false
	}
	r.i++
	dst[0], dst[1] = []byte(strconv.Itoa(r.i)), []byte([]string{"ACADEMY", "ACE", "ADAPTATION"}[r.i-1])
	return true
}
func (r *tinyRows) Err() error   { return nil }
func (r *tinyRows) Close() error { return nil }
