package oracle

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

func sqlsOf(f *fakeDB) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.SQL)
	}
	return out
}

func TestSessionsOnTwoInstancesAggregateToDistinctClients(t *testing.T) {
	w := scott(t)
	w.sessions = []wSession{
		{inst: 1, sid: 101, serial: 5001, user: "SCOTT", schema: "SCOTT", machine: "app01", program: "java"},
		{inst: 2, sid: 101, serial: 5001, user: "SCOTT", schema: "SCOTT", machine: "app01", program: "java"}, // same sid, other node
		{inst: 2, sid: 77, serial: 9, user: "APP", schema: "SCOTT", machine: "batch02", program: "sqlplus"},
		{inst: 1, sid: 12, serial: 3, schema: "SCOTT", machine: "job", program: "oracle (J000)"}, // no username
	}
	a := w.adapter(Config{})
	look, err := a.Sessions(bg(), "SCOTT")
	require.NoError(t, err)
	require.Len(t, look, 4)
	ids := map[int64]bool{}
	for _, s := range look {
		ids[s.ID] = true
	}
	require.Len(t, ids, 4, "(inst_id, sid, serial#) make distinct ids")

	acc := engine.NewSampler(nil)
	acc.Add(look)
	again, err := a.Sessions(bg(), "SCOTT")
	require.NoError(t, err)
	acc.Add(again) // the same connections seen twice count once
	res := acc.Result()
	require.Len(t, res, 3)
	byKey := map[string]engine.Session{}
	for _, s := range res {
		byKey[s.Key()] = s
	}
	require.Equal(t, 2, byKey["SCOTT@app01/java"].Count)
	require.Equal(t, 1, byKey["APP@batch02/sqlplus"].Count)
	require.Equal(t, 1, byKey["SCOTT@job/oracle (J000)"].Count)

	// Without the Diagnostics Pack, ASH is never read; without unified auditing, no audit trail.
	for _, q := range sqlsOf(w.f) {
		require.NotEqual(t, qASH, q)
		require.NotEqual(t, qAuditLogons, q)
	}
	noCallWithoutDeadline(t, w.f)
}

func TestASHOnlyWithTheDiagnosticsPack(t *testing.T) {
	w := scott(t)
	w.sessions = nil
	var windows []any
	w.f.onFunc(qASH, func(a []any) ([][]any, error) {
		windows = append(windows, a[0])
		require.Equal(t, []any{"SCOTT", "SCOTT"}, a[1:])
		return rowsOf(
			[]any{"1", "300", "77", "APP", "etl01", "python", "600", "540"},
			[]any{"2", "300", "78", "APP", "etl01", "python", "120", "120"},
		), nil
	})
	a := w.adapter(Config{DiagnosticsPack: true})
	look, err := a.Sessions(bg(), "SCOTT")
	require.NoError(t, err)
	require.Len(t, look, 2)
	require.Equal(t, "APP@etl01/python", look[0].Key())
	require.WithinDuration(t, time.Now().Add(-600*time.Second), look[0].FirstSeen, 5*time.Second)
	require.WithinDuration(t, time.Now().Add(-540*time.Second), look[0].LastSeen, 5*time.Second)

	_, err = a.Sessions(bg(), "SCOTT")
	require.NoError(t, err)
	require.Len(t, windows, 2)
	require.EqualValues(t, 3601, windows[0], "the first look reads the last hour")
	require.Less(t, windows[1].(int64), int64(10), "later looks read since the previous one")
}

func TestAuditTrailOnlyWithUnifiedAuditing(t *testing.T) {
	w := scott(t)
	w.sessions = nil
	w.f.onFunc(qAuditLogons, func(a []any) ([][]any, error) {
		require.Equal(t, "SCOTT", a[0])
		return rowsOf([]any{"880001", "SCOTT", "laptop7", "DBeaver", "30"}), nil
	})
	look, err := w.adapter(Config{}).Sessions(bg(), "SCOTT")
	require.NoError(t, err)
	require.Empty(t, look)

	w.audit = true
	a := w.adapter(Config{})
	look, err = a.Sessions(bg(), "SCOTT")
	require.NoError(t, err)
	require.Len(t, look, 1)
	require.Equal(t, "SCOTT@laptop7/DBeaver", look[0].Key())
	require.Less(t, look[0].ID, int64(0), "audit ids live apart from gv$session ids")

	// v$option is read once per adapter.
	_, err = a.Sessions(bg(), "SCOTT")
	require.NoError(t, err)
	n := 0
	for _, q := range sqlsOf(w.f) {
		if q == qUnifiedAuditing {
			n++
		}
	}
	require.Equal(t, 2, n, "once for each of the two adapters")
}

func TestPDBSessionsAreThoseOfItsContainer(t *testing.T) {
	w := pdbWorld(t)
	w.sessions = append(w.sessions, wSession{inst: 1, sid: 9, serial: 9, user: "OTHER", conID: 4, machine: "x", program: "y"})
	look, err := w.adapter(Config{}).Sessions(bg(), "pdb:SALESPDB")
	require.NoError(t, err)
	require.Len(t, look, 1)
	require.Equal(t, "APP@web1/node", look[0].Key())
}
