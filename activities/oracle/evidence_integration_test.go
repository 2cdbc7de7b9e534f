//go:build oracle

package oracle

import (
	"database/sql"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// TestOracleEvidence checks the evidence sources against a real server: what they say is
// available, that the look sees a session of another account holding the schema's table,
// and that a read of it shows in the counters. Neither has run yet (see README).
func TestOracleEvidence(t *testing.T) {
	f := newFixture(t)
	a := f.adapter(t)
	ctx := itCtx(t)

	srcs, err := a.EvidenceSources(ctx, f.owner)
	require.NoError(t, err)
	require.Len(t, srcs, 5)
	by := map[string]engine.EvidenceSource{}
	for _, s := range srcs {
		t.Logf("%-14s %-13s %s | %s", s.Name, s.State, s.Sees, s.Detail)
		by[s.Name] = s
	}
	require.True(t, by[engine.SourceSessions].Available())
	require.True(t, by[engine.SourceLocks].Available(), "the DSN's account (SYSTEM) reads gv$access")

	// The grantee holds a row of the schema's table locked: the look sees it through
	// gv$locked_object, whatever its own schema.
	u, err := url.Parse(oracleDSN(t))
	require.NoError(t, err)
	u.User = url.UserPassword(f.app, f.password)
	app, err := sql.Open("oracle", u.String())
	require.NoError(t, err)
	defer app.Close()
	tx, err := app.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `UPDATE "`+f.owner+`"."EVERYTHING" SET "NAME" = "NAME" WHERE "ID" = 1`)
	require.NoError(t, err)

	before, err := a.Counters(ctx, f.owner, nil)
	require.NoError(t, err)
	require.True(t, before.On)
	require.NotEmpty(t, before.Epoch)

	look, err := a.LookServer(ctx)
	require.NoError(t, err)
	reach := a.Reaching(look, f.owner)
	var seen bool
	for _, s := range reach {
		if s.User == f.app {
			seen = true
			require.Contains(t, s.Via, engine.ViaLock)
			require.Equal(t, []string{"EVERYTHING"}, s.Tables)
		}
	}
	require.True(t, seen, "the grantee's session holding the table: %+v", reach)

	// Reads as the grantee: several full reads, since Oracle may sample logical reads.
	for range 50 {
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+f.owner+`"."EVERYTHING"`).Scan(&n))
	}
	after, err := a.Counters(ctx, f.owner, nil)
	require.NoError(t, err)
	access, ok := engine.AccessBetween(before, after)
	require.True(t, ok, "same epoch: %q, %q", before.Epoch, after.Epoch)
	require.NotEmpty(t, access, "the reads show in gv$segment_statistics")
	require.Equal(t, "EVERYTHING", access[0].Table)
}
