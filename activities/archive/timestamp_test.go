package archive

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// instants whose fractions have every number of trailing zeros, from none to all nine, and
// one outside UTC: time.Time's RFC 3339 encoding would give each a different length.
var instants = func() []time.Time {
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var ts []time.Time
	for _, ns := range []int{123456789, 123456780, 123456700, 123456000, 123450000, 123400000, 123000000, 120000000, 100000000, 0} {
		ts = append(ts, base.Add(time.Duration(ns)))
	}
	return append(ts, base.Add(5*time.Nanosecond).In(time.FixedZone("CEST", 2*3600)))
}()

// A manifest's size must not depend on when it was written: it is counted in the archive's
// byte total, which a resumed archive must reproduce exactly.
func TestManifestSizeDoesNotDependOnCreatedAt(t *testing.T) {
	size := -1
	for _, at := range instants {
		data, err := json.MarshalIndent(Manifest{Format: FormatV1, CreatedAt: NewTimestamp(at), Object: "shop"}, "", "  ")
		require.NoError(t, err)
		if size < 0 {
			size = len(data)
		}
		require.Equal(t, size, len(data), "manifest created at %v:\n%s", at, data)

		var m map[string]any
		require.NoError(t, json.Unmarshal(data, &m))
		s := m["created_at"].(string)
		require.Len(t, s, len("2024-05-01T12:00:00.123456789Z"))
		parsed, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err, "other tools read created_at as RFC 3339")
		require.True(t, parsed.Equal(at), "%s is %v", s, at)

		var back Manifest
		require.NoError(t, json.Unmarshal(data, &back))
		require.True(t, back.CreatedAt.Equal(at))
		require.Equal(t, time.UTC, back.CreatedAt.Location())
	}
}

func TestTimestampJSON(t *testing.T) {
	b, err := json.Marshal(NewTimestamp(time.Date(2024, 5, 1, 14, 0, 0, 120000000, time.FixedZone("CEST", 2*3600))))
	require.NoError(t, err)
	require.Equal(t, `"2024-05-01T12:00:00.120000000Z"`, string(b))

	b, err = json.Marshal(Timestamp{})
	require.NoError(t, err)
	require.Equal(t, `"0001-01-01T00:00:00.000000000Z"`, string(b))

	_, err = json.Marshal(NewTimestamp(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)))
	require.Error(t, err)

	// Manifests written before Timestamp (fraction trimmed, or none) still read.
	for s, want := range map[string]time.Time{
		`"2024-05-01T12:00:00.12Z"`:        time.Date(2024, 5, 1, 12, 0, 0, 120000000, time.UTC),
		`"2024-05-01T12:00:00Z"`:           time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		`"2024-05-01T14:00:00.5+02:00"`:    time.Date(2024, 5, 1, 12, 0, 0, 500000000, time.UTC),
		`"2024-05-01T12:00:00.123456789Z"`: time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC),
	} {
		var ts Timestamp
		require.NoError(t, json.Unmarshal([]byte(s), &ts), s)
		require.True(t, ts.Equal(want), "%s read as %v", s, ts.Time)
	}
	var ts Timestamp
	require.Error(t, json.Unmarshal([]byte(`"yesterday"`), &ts))
}

// The same source exported at instants whose fractions end in different numbers of zeros
// gives archives of the same size, manifest included.
func TestExportSizeDoesNotDependOnTheClock(t *testing.T) {
	s, _ := testStore(t)
	t.Cleanup(func() { now = time.Now })
	var first ExportResult
	for i, at := range instants {
		now = func() time.Time { return at }
		res := export(t, s, testSource(), ExportOptions{})
		m, _, size, err := readManifest(t.Context(), s, testPath)
		require.NoError(t, err)
		require.True(t, m.CreatedAt.Equal(at))
		if i == 0 {
			first = res
		}
		require.Equal(t, first.Bytes, res.Bytes, "archive written at %v", at)
		_, _, _, dataBytes := res.Manifest.Totals()
		_, _, _, firstDataBytes := first.Manifest.Totals()
		require.Equal(t, firstDataBytes, dataBytes)
		require.Equal(t, first.Bytes-firstDataBytes, size, "the manifest is what is left")
	}
}
